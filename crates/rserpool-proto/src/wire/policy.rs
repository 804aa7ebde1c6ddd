//! Pool member selection policies (RFC 5356) and RSPLIB's extensions.
//!
//! A [`Policy`] is what a PE announces in its Pool Member Selection Policy
//! parameter: the policy type and that PE's values for it. Loads and
//! degradations are fractions of `u32::MAX` (0 = 0 %, `u32::MAX` = 100 %).

/// The 32-bit policy type code on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u32)]
pub enum PolicyType {
    /// Round Robin (RFC 5356).
    RoundRobin = 0x0000_0001,
    /// Weighted Round Robin (RFC 5356).
    WeightedRoundRobin = 0x0000_0002,
    /// Random (RFC 5356).
    Random = 0x0000_0003,
    /// Weighted Random (RFC 5356).
    WeightedRandom = 0x0000_0004,
    /// Priority (RFC 5356).
    Priority = 0x0000_0005,
    /// Least Used (RFC 5356).
    LeastUsed = 0x4000_0001,
    /// Least Used with Degradation (RFC 5356).
    LeastUsedDegradation = 0x4000_0002,
    /// Priority Least Used (RFC 5356).
    PriorityLeastUsed = 0x4000_0003,
    /// Randomized Least Used (RFC 5356).
    RandomizedLeastUsed = 0x4000_0004,
    /// Randomized Priority Least Used (RSPLIB).
    RandomizedPriorityLeastUsed = 0xb000_1001,
    /// Randomized Least Used with Degradation (RSPLIB).
    RandomizedLeastUsedDegradation = 0xb000_1002,
    /// Priority Least Used with Degradation (RSPLIB).
    PriorityLeastUsedDegradation = 0xb000_1003,
    /// Randomized Priority Least Used with Degradation (RSPLIB).
    RandomizedPriorityLeastUsedDegradation = 0xb000_1004,
    /// Weighted Random with Distance Penalty Factor (RSPLIB).
    WeightedRandomDpf = 0xb000_2001,
    /// Least Used with Distance Penalty Factor (RSPLIB).
    LeastUsedDpf = 0xb000_2002,
    /// Least Used with Degradation and Distance Penalty Factor (RSPLIB).
    LeastUsedDegradationDpf = 0xb000_2003,
}

impl PolicyType {
    /// Every policy type, in code order.
    pub const ALL: [PolicyType; 16] = [
        PolicyType::RoundRobin,
        PolicyType::WeightedRoundRobin,
        PolicyType::Random,
        PolicyType::WeightedRandom,
        PolicyType::Priority,
        PolicyType::LeastUsed,
        PolicyType::LeastUsedDegradation,
        PolicyType::PriorityLeastUsed,
        PolicyType::RandomizedLeastUsed,
        PolicyType::RandomizedPriorityLeastUsed,
        PolicyType::RandomizedLeastUsedDegradation,
        PolicyType::PriorityLeastUsedDegradation,
        PolicyType::RandomizedPriorityLeastUsedDegradation,
        PolicyType::WeightedRandomDpf,
        PolicyType::LeastUsedDpf,
        PolicyType::LeastUsedDegradationDpf,
    ];

    /// The policy type with this wire code.
    pub fn from_code(code: u32) -> Option<PolicyType> {
        PolicyType::ALL.into_iter().find(|p| *p as u32 == code)
    }

    /// The code on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Adaptive policies select by load, which PEs update by re-registering.
    pub fn is_adaptive(self) -> bool {
        use PolicyType::*;
        !matches!(
            self,
            RoundRobin
                | WeightedRoundRobin
                | Random
                | WeightedRandom
                | Priority
                | WeightedRandomDpf
        )
    }

    /// The name used on command lines and in benchmark output, e.g. `LeastUsed`.
    pub fn name(self) -> &'static str {
        use PolicyType::*;
        match self {
            RoundRobin => "RoundRobin",
            WeightedRoundRobin => "WeightedRoundRobin",
            Random => "Random",
            WeightedRandom => "WeightedRandom",
            Priority => "Priority",
            LeastUsed => "LeastUsed",
            LeastUsedDegradation => "LeastUsedDegradation",
            PriorityLeastUsed => "PriorityLeastUsed",
            RandomizedLeastUsed => "RandomizedLeastUsed",
            RandomizedPriorityLeastUsed => "RandomizedPriorityLeastUsed",
            RandomizedLeastUsedDegradation => "RandomizedLeastUsedDegradation",
            PriorityLeastUsedDegradation => "PriorityLeastUsedDegradation",
            RandomizedPriorityLeastUsedDegradation => "RandomizedPriorityLeastUsedDegradation",
            WeightedRandomDpf => "WeightedRandomDPF",
            LeastUsedDpf => "LeastUsedDPF",
            LeastUsedDegradationDpf => "LeastUsedDegradationDPF",
        }
    }

    /// Parses [`PolicyType::name`], case-insensitively, ignoring `-` and `_`
    /// (so `least-used` and `LeastUsed` both work).
    pub fn from_name(s: &str) -> Option<PolicyType> {
        let norm = |x: &str| {
            x.chars()
                .filter(|c| *c != '-' && *c != '_')
                .flat_map(char::to_lowercase)
                .collect::<String>()
        };
        let want = norm(s);
        PolicyType::ALL.into_iter().find(|p| norm(p.name()) == want)
    }
}

/// A PE's policy with its values, exactly the fields the wire carries for
/// that policy type (CONSTANTS.md section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Policy {
    /// Round Robin (RFC 5356).
    RoundRobin,
    /// Weighted Round Robin (RFC 5356).
    WeightedRoundRobin {
        /// Relative capacity: the PE's share of the selections.
        weight: u32,
    },
    /// Random (RFC 5356).
    Random,
    /// Weighted Random (RFC 5356).
    WeightedRandom {
        /// Relative capacity: the PE's share of the selections.
        weight: u32,
    },
    /// Priority (RFC 5356).
    Priority {
        /// Priority: a higher value is chosen first.
        priority: u32,
    },
    /// Least Used (RFC 5356).
    LeastUsed {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
    },
    /// Least Used with Degradation (RFC 5356).
    LeastUsedDegradation {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
    },
    /// Priority Least Used (RFC 5356).
    PriorityLeastUsed {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load degradation: a static penalty added to the load.
        degradation: u32,
    },
    /// Randomized Least Used (RFC 5356).
    RandomizedLeastUsed {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
    },
    /// Randomized Priority Least Used (RSPLIB).
    RandomizedPriorityLeastUsed {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load degradation: a static penalty added to the load.
        degradation: u32,
    },
    /// Randomized Least Used with Degradation (RSPLIB).
    RandomizedLeastUsedDegradation {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
    },
    /// Priority Least Used with Degradation (RSPLIB).
    PriorityLeastUsedDegradation {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load degradation: a static penalty added to the load.
        degradation: u32,
    },
    /// Randomized Priority Least Used with Degradation (RSPLIB).
    RandomizedPriorityLeastUsedDegradation {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load degradation: a static penalty added to the load.
        degradation: u32,
    },
    /// Weighted Random with Distance Penalty Factor (RSPLIB).
    WeightedRandomDpf {
        /// Relative capacity: the PE's share of the selections.
        weight: u32,
        /// Weight lost per distance unit (a fraction of `u32::MAX`).
        weight_dpf: u32,
        /// Distance to the PE, set by the registrar that hands it out.
        distance: u32,
    },
    /// Least Used with Distance Penalty Factor (RSPLIB).
    LeastUsedDpf {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load added per distance unit (a fraction of `u32::MAX`).
        load_dpf: u32,
        /// Distance to the PE, set by the registrar that hands it out.
        distance: u32,
    },
    /// Least Used with Degradation and Distance Penalty Factor (RSPLIB).
    LeastUsedDegradationDpf {
        /// Current load: 0 is idle, `u32::MAX` is full.
        load: u32,
        /// Load added per selection until the next re-registration.
        degradation: u32,
        /// Load added per distance unit (a fraction of `u32::MAX`).
        load_dpf: u32,
        /// Distance to the PE, set by the registrar that hands it out.
        distance: u32,
    },
}

impl Policy {
    /// The policy type (without values).
    pub fn policy_type(&self) -> PolicyType {
        use Policy as P;
        use PolicyType as T;
        match self {
            P::RoundRobin => T::RoundRobin,
            P::WeightedRoundRobin { .. } => T::WeightedRoundRobin,
            P::Random => T::Random,
            P::WeightedRandom { .. } => T::WeightedRandom,
            P::Priority { .. } => T::Priority,
            P::LeastUsed { .. } => T::LeastUsed,
            P::LeastUsedDegradation { .. } => T::LeastUsedDegradation,
            P::PriorityLeastUsed { .. } => T::PriorityLeastUsed,
            P::RandomizedLeastUsed { .. } => T::RandomizedLeastUsed,
            P::RandomizedPriorityLeastUsed { .. } => T::RandomizedPriorityLeastUsed,
            P::RandomizedLeastUsedDegradation { .. } => T::RandomizedLeastUsedDegradation,
            P::PriorityLeastUsedDegradation { .. } => T::PriorityLeastUsedDegradation,
            P::RandomizedPriorityLeastUsedDegradation { .. } => {
                T::RandomizedPriorityLeastUsedDegradation
            }
            P::WeightedRandomDpf { .. } => T::WeightedRandomDpf,
            P::LeastUsedDpf { .. } => T::LeastUsedDpf,
            P::LeastUsedDegradationDpf { .. } => T::LeastUsedDegradationDpf,
        }
    }

    /// The value fields after the policy type, in wire order.
    pub fn values(&self) -> ([u32; 4], usize) {
        use Policy as P;
        match *self {
            P::RoundRobin | P::Random => ([0; 4], 0),
            P::WeightedRoundRobin { weight } | P::WeightedRandom { weight } => {
                ([weight, 0, 0, 0], 1)
            }
            P::Priority { priority } => ([priority, 0, 0, 0], 1),
            P::LeastUsed { load } | P::RandomizedLeastUsed { load } => ([load, 0, 0, 0], 1),
            P::LeastUsedDegradation { load, degradation }
            | P::PriorityLeastUsed { load, degradation }
            | P::RandomizedPriorityLeastUsed { load, degradation }
            | P::RandomizedLeastUsedDegradation { load, degradation }
            | P::PriorityLeastUsedDegradation { load, degradation }
            | P::RandomizedPriorityLeastUsedDegradation { load, degradation } => {
                ([load, degradation, 0, 0], 2)
            }
            P::WeightedRandomDpf {
                weight,
                weight_dpf,
                distance,
            } => ([weight, weight_dpf, distance, 0], 3),
            P::LeastUsedDpf {
                load,
                load_dpf,
                distance,
            } => ([load, load_dpf, distance, 0], 3),
            P::LeastUsedDegradationDpf {
                load,
                degradation,
                load_dpf,
                distance,
            } => ([load, degradation, load_dpf, distance], 4),
        }
    }

    /// Number of u32 value fields the wire carries for `t`.
    pub fn value_count(t: PolicyType) -> usize {
        Policy::from_array(t, [0; 4]).values().1
    }

    /// Builds a policy from its type and wire values; `None` if `values`
    /// has fewer fields than the type needs. Extra fields are ignored.
    pub fn from_values(t: PolicyType, v: &[u32]) -> Option<Policy> {
        let mut all = [0; 4];
        let n = v.len().min(4);
        all[..n].copy_from_slice(&v[..n]);
        let p = Policy::from_array(t, all);
        (v.len() >= p.values().1).then_some(p)
    }

    /// Builds a policy from its type and four values in wire order; the
    /// values past what the type carries are ignored.
    pub fn from_array(t: PolicyType, v: [u32; 4]) -> Policy {
        use Policy as P;
        use PolicyType as T;
        match t {
            T::RoundRobin => P::RoundRobin,
            T::Random => P::Random,
            T::WeightedRoundRobin => P::WeightedRoundRobin { weight: v[0] },
            T::WeightedRandom => P::WeightedRandom { weight: v[0] },
            T::Priority => P::Priority { priority: v[0] },
            T::LeastUsed => P::LeastUsed { load: v[0] },
            T::RandomizedLeastUsed => P::RandomizedLeastUsed { load: v[0] },
            T::LeastUsedDegradation => P::LeastUsedDegradation {
                load: v[0],
                degradation: v[1],
            },
            T::PriorityLeastUsed => P::PriorityLeastUsed {
                load: v[0],
                degradation: v[1],
            },
            T::RandomizedPriorityLeastUsed => P::RandomizedPriorityLeastUsed {
                load: v[0],
                degradation: v[1],
            },
            T::RandomizedLeastUsedDegradation => P::RandomizedLeastUsedDegradation {
                load: v[0],
                degradation: v[1],
            },
            T::PriorityLeastUsedDegradation => P::PriorityLeastUsedDegradation {
                load: v[0],
                degradation: v[1],
            },
            T::RandomizedPriorityLeastUsedDegradation => {
                P::RandomizedPriorityLeastUsedDegradation {
                    load: v[0],
                    degradation: v[1],
                }
            }
            T::WeightedRandomDpf => P::WeightedRandomDpf {
                weight: v[0],
                weight_dpf: v[1],
                distance: v[2],
            },
            T::LeastUsedDpf => P::LeastUsedDpf {
                load: v[0],
                load_dpf: v[1],
                distance: v[2],
            },
            T::LeastUsedDegradationDpf => P::LeastUsedDegradationDpf {
                load: v[0],
                degradation: v[1],
                load_dpf: v[2],
                distance: v[3],
            },
        }
    }

    /// The load value of adaptive policies (0 for the others).
    pub fn load(&self) -> u32 {
        use Policy as P;
        match self {
            P::LeastUsed { load }
            | P::LeastUsedDegradation { load, .. }
            | P::PriorityLeastUsed { load, .. }
            | P::RandomizedLeastUsed { load }
            | P::RandomizedPriorityLeastUsed { load, .. }
            | P::RandomizedLeastUsedDegradation { load, .. }
            | P::PriorityLeastUsedDegradation { load, .. }
            | P::RandomizedPriorityLeastUsedDegradation { load, .. }
            | P::LeastUsedDpf { load, .. }
            | P::LeastUsedDegradationDpf { load, .. } => *load,
            P::RoundRobin
            | P::WeightedRoundRobin { .. }
            | P::Random
            | P::WeightedRandom { .. }
            | P::Priority { .. }
            | P::WeightedRandomDpf { .. } => 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn load_is_the_first_value_of_adaptive_policies() {
        for t in PolicyType::ALL {
            let p = Policy::from_values(t, &[7, 2, 3, 4]).unwrap();
            assert_eq!(p.load(), if t.is_adaptive() { 7 } else { 0 }, "{t:?}");
        }
    }

    #[test]
    fn codes_and_names_round_trip() {
        for t in PolicyType::ALL {
            assert_eq!(PolicyType::from_code(t.code()), Some(t));
            assert_eq!(PolicyType::from_name(t.name()), Some(t));
            let p = Policy::from_values(t, &[1, 2, 3, 4]).unwrap();
            assert_eq!(p.policy_type(), t);
            let (v, n) = p.values();
            assert_eq!(Policy::from_values(t, &v[..n]), Some(p));
        }
        assert_eq!(
            PolicyType::from_name("least-used"),
            Some(PolicyType::LeastUsed)
        );
        assert_eq!(PolicyType::from_code(0x4000_0005), None);
        assert_eq!(
            Policy::from_values(PolicyType::LeastUsedDegradation, &[1]),
            None
        );
    }
}
