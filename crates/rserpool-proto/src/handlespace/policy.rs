//! How each pool policy orders or weighs its PEs (RFC 5356 and RSPLIB's
//! extensions).
//!
//! Every policy is one of three kinds of selection:
//! - [`Kind::Ring`] (round robin): PEs in a ring, the first choice moves
//!   the ring on by one.
//! - [`Kind::Ordered`]: PEs sorted by (value, sequence number); the first
//!   PEs are chosen; the first choice is charged: it gets a new sequence
//!   number (moving to the end of its tie group), its degradation grows and
//!   its weighted-round-robin credit shrinks.
//! - [`Kind::Weighted`]: a draw proportional to a weight, without
//!   replacement for several PEs; the first choice is charged likewise.
//!
//! Values (all clamped to `0..=u32::MAX`, loads being fractions of it):
//! - Least Used: load; with Degradation: load + degradation;
//!   Priority LU: load + load_degradation (a static penalty);
//!   Priority LU with Degradation: load + load_degradation + degradation.
//! - Distance penalty factor (DPF, `load_dpf` and `weight_dpf` being
//!   fractions of `u32::MAX` per distance unit, the distance set by the PR):
//!   LU-DPF: load + distance * load_dpf; LU-Deg-DPF adds degradation too;
//!   WR-DPF weight: weight * (1 - distance * weight_dpf / u32::MAX), at
//!   least 1.
//! - Priority: higher priority first; Weighted Round Robin: current round,
//!   a PE staying `weight` selections (at least 1) in each round.
//! - Randomized LU variants draw with weight `u32::MAX - value` (at least
//!   1), the value as for the corresponding LU variant.

use super::entry::StoredPolicy;
use crate::wire::PolicyType;

const MAX: u64 = u32::MAX as u64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ring,
    Ordered,
    Weighted,
}

#[inline]
pub fn kind(t: PolicyType) -> Kind {
    use PolicyType as T;
    match t {
        T::RoundRobin => Kind::Ring,
        T::WeightedRoundRobin
        | T::Priority
        | T::LeastUsed
        | T::LeastUsedDegradation
        | T::PriorityLeastUsed
        | T::PriorityLeastUsedDegradation
        | T::LeastUsedDpf
        | T::LeastUsedDegradationDpf => Kind::Ordered,
        T::Random
        | T::WeightedRandom
        | T::RandomizedLeastUsed
        | T::RandomizedPriorityLeastUsed
        | T::RandomizedLeastUsedDegradation
        | T::RandomizedPriorityLeastUsedDegradation
        | T::WeightedRandomDpf => Kind::Weighted,
    }
}

/// Whether a selection adds the load degradation step to the PE's
/// degradation.
#[inline]
pub fn degrades(t: PolicyType) -> bool {
    use PolicyType as T;
    matches!(
        t,
        T::LeastUsedDegradation
            | T::PriorityLeastUsedDegradation
            | T::RandomizedLeastUsedDegradation
            | T::RandomizedPriorityLeastUsedDegradation
            | T::LeastUsedDegradationDpf
    )
}

/// The per-selection degradation step announced by the PE: the value
/// after the load in every degrading policy.
#[inline]
pub fn degradation_step(p: &StoredPolicy) -> u32 {
    if degrades(p.ty) { p.rest[0] } else { 0 }
}

/// Weighted round robin's selections per round (0 counts as 1).
#[inline]
pub fn wrr_weight(p: &StoredPolicy) -> u32 {
    if p.ty == PolicyType::WeightedRoundRobin {
        p.rest[0].max(1)
    } else {
        1
    }
}

fn sat(v: u64) -> u64 {
    v.min(MAX)
}

fn penalty(distance: u32, dpf: u32) -> u64 {
    sat(u64::from(distance) * u64::from(dpf))
}

/// The ordering value of an ordered policy (lower is chosen first); for
/// weighted round robin the caller passes the PE's round. Field places as
/// in [`StoredPolicy`]: `load`, then the rest in wire order.
#[inline]
pub fn ordered_value(p: &StoredPolicy, degradation: u32, wrr_round: u32) -> u32 {
    use PolicyType as T;
    let d = u64::from(degradation);
    let load = u64::from(p.load);
    let [a, b, c] = p.rest;
    let v = match p.ty {
        T::WeightedRoundRobin => u64::from(wrr_round),
        // priority
        T::Priority => MAX - u64::from(a),
        T::LeastUsed => load,
        T::LeastUsedDegradation => sat(load + d),
        // load degradation as a static penalty
        T::PriorityLeastUsed => sat(load + u64::from(a)),
        T::PriorityLeastUsedDegradation => sat(load + u64::from(a) + d),
        // load_dpf, distance
        T::LeastUsedDpf => sat(load + penalty(b, a)),
        // degradation step, load_dpf, distance
        T::LeastUsedDegradationDpf => sat(load + d + penalty(c, b)),
        _ => 0,
    };
    v.min(MAX) as u32
}

/// The draw weight of a weighted policy; field places as in
/// [`StoredPolicy`].
#[inline]
pub fn weight(p: &StoredPolicy, degradation: u32) -> u64 {
    use PolicyType as T;
    let d = u64::from(degradation);
    let load = u64::from(p.load);
    let [a, b, c] = p.rest;
    let inv = |used: u64| MAX.saturating_sub(used).max(1);
    match p.ty {
        T::Random => 1,
        T::WeightedRandom => u64::from(a),
        // weight, weight_dpf, distance
        T::WeightedRandomDpf => {
            let w = u64::from(a);
            let cut = (u128::from(w) * u128::from(penalty(c, b)) / u128::from(MAX)) as u64;
            w.saturating_sub(cut).max(1)
        }
        T::RandomizedLeastUsed => inv(load),
        T::RandomizedLeastUsedDegradation => inv(load + d),
        T::RandomizedPriorityLeastUsed => inv(load + u64::from(a)),
        T::RandomizedPriorityLeastUsedDegradation => inv(load + u64::from(a) + d),
        _ => 1,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::Policy;

    fn stored(p: &Policy) -> StoredPolicy {
        StoredPolicy::new(p)
    }

    #[test]
    fn every_policy_has_a_kind_and_values_clamp() {
        for t in PolicyType::ALL {
            let p = stored(&Policy::from_values(t, &[u32::MAX; 4]).unwrap());
            let k = kind(t);
            if k == Kind::Ordered
                && t != PolicyType::WeightedRoundRobin
                && t != PolicyType::Priority
            {
                // Saturated loads clamp to the maximum instead of wrapping.
                assert_eq!(ordered_value(&p, u32::MAX, 0), u32::MAX, "{t:?}");
            }
            if k == Kind::Weighted {
                assert!(weight(&p, u32::MAX) >= 1 || t == PolicyType::WeightedRandom);
            }
        }
        let p = stored(&Policy::LeastUsedDpf {
            load: 100,
            load_dpf: 10,
            distance: 7,
        });
        assert_eq!(ordered_value(&p, 0, 0), 170);
        let p = stored(&Policy::LeastUsedDegradationDpf {
            load: 100,
            degradation: 5,
            load_dpf: 10,
            distance: 7,
        });
        assert_eq!(ordered_value(&p, 3, 0), 173);
        assert_eq!(degradation_step(&p), 5);
        let p = stored(&Policy::WeightedRandomDpf {
            weight: 1000,
            weight_dpf: u32::MAX / 10,
            distance: 5,
        });
        // 1000 * 5 * (MAX / 10) / MAX = 499.99..., cut rounds down.
        assert_eq!(weight(&p, 0), 501);
        assert!(
            ordered_value(&stored(&Policy::Priority { priority: 9 }), 0, 0)
                < ordered_value(&stored(&Policy::Priority { priority: 3 }), 0, 0)
        );
        assert_eq!(
            wrr_weight(&stored(&Policy::WeightedRoundRobin { weight: 4 })),
            4
        );
        assert_eq!(
            wrr_weight(&stored(&Policy::WeightedRoundRobin { weight: 0 })),
            1
        );
    }

    /// Each policy's value read by variant, as the wire decodes it: the
    /// stored form must give the same orders and weights.
    mod by_variant {
        use super::super::MAX;
        use crate::wire::Policy;

        pub fn sat(v: u64) -> u64 {
            v.min(MAX)
        }

        pub fn penalty(distance: u32, dpf: u32) -> u64 {
            sat(u64::from(distance) * u64::from(dpf))
        }

        /// The per-selection degradation step announced by the PE.
        pub fn degradation_step(p: &Policy) -> u32 {
            match *p {
                Policy::LeastUsedDegradation { degradation, .. }
                | Policy::PriorityLeastUsedDegradation { degradation, .. }
                | Policy::RandomizedLeastUsedDegradation { degradation, .. }
                | Policy::RandomizedPriorityLeastUsedDegradation { degradation, .. }
                | Policy::LeastUsedDegradationDpf { degradation, .. } => degradation,
                _ => 0,
            }
        }

        /// Weighted round robin's selections per round (0 counts as 1).
        pub fn wrr_weight(p: &Policy) -> u32 {
            match *p {
                Policy::WeightedRoundRobin { weight } => weight.max(1),
                _ => 1,
            }
        }

        /// The ordering value of an ordered policy (lower is chosen first); for
        /// weighted round robin the caller passes the PE's round.
        pub fn ordered_value(p: &Policy, degradation: u32, wrr_round: u32) -> u32 {
            let d = u64::from(degradation);
            let v = match *p {
                Policy::WeightedRoundRobin { .. } => u64::from(wrr_round),
                Policy::Priority { priority } => MAX - u64::from(priority),
                Policy::LeastUsed { load } => u64::from(load),
                Policy::LeastUsedDegradation { load, .. } => sat(u64::from(load) + d),
                Policy::PriorityLeastUsed { load, degradation } => {
                    sat(u64::from(load) + u64::from(degradation))
                }
                Policy::PriorityLeastUsedDegradation { load, degradation } => {
                    sat(u64::from(load) + u64::from(degradation) + d)
                }
                Policy::LeastUsedDpf {
                    load,
                    load_dpf,
                    distance,
                } => sat(u64::from(load) + penalty(distance, load_dpf)),
                Policy::LeastUsedDegradationDpf {
                    load,
                    load_dpf,
                    distance,
                    ..
                } => sat(u64::from(load) + d + penalty(distance, load_dpf)),
                _ => 0,
            };
            v.min(MAX) as u32
        }

        /// The draw weight of a weighted policy.
        pub fn weight(p: &Policy, degradation: u32) -> u64 {
            let d = u64::from(degradation);
            let inv = |used: u64| MAX.saturating_sub(used).max(1);
            match *p {
                Policy::Random => 1,
                Policy::WeightedRandom { weight } => u64::from(weight),
                Policy::WeightedRandomDpf {
                    weight,
                    weight_dpf,
                    distance,
                } => {
                    let w = u64::from(weight);
                    let cut = (u128::from(w) * u128::from(penalty(distance, weight_dpf))
                        / u128::from(MAX)) as u64;
                    w.saturating_sub(cut).max(1)
                }
                Policy::RandomizedLeastUsed { load } => inv(u64::from(load)),
                Policy::RandomizedLeastUsedDegradation { load, .. } => inv(u64::from(load) + d),
                Policy::RandomizedPriorityLeastUsed { load, degradation } => {
                    inv(u64::from(load) + u64::from(degradation))
                }
                Policy::RandomizedPriorityLeastUsedDegradation { load, degradation } => {
                    inv(u64::from(load) + u64::from(degradation) + d)
                }
                _ => 1,
            }
        }
    }

    #[test]
    fn stored_policies_order_and_weigh_as_their_variants() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Small values as often as large ones, and the extremes.
            match x % 4 {
                0 => 0,
                1 => u32::MAX,
                2 => (x >> 40) as u32 % 1000,
                _ => (x >> 32) as u32,
            }
        };
        for _ in 0..2000 {
            for t in PolicyType::ALL {
                let p = Policy::from_array(t, [next(), next(), next(), next()]);
                let s = StoredPolicy::new(&p);
                let (d, round) = (next(), next());
                assert_eq!(
                    ordered_value(&s, d, round),
                    by_variant::ordered_value(&p, d, round),
                    "{p:?}"
                );
                assert_eq!(weight(&s, d), by_variant::weight(&p, d), "{p:?}");
                assert_eq!(
                    degradation_step(&s),
                    by_variant::degradation_step(&p),
                    "{p:?}"
                );
                assert_eq!(wrr_weight(&s), by_variant::wrr_weight(&p), "{p:?}");
            }
        }
    }
}
