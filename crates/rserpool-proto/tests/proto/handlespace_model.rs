//! Model-based tests: arbitrary operation sequences run against the
//! handlespace and against a plain reference model (vectors, linear scans,
//! checksums from scratch); both must agree after every step.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rserpool_proto::handlespace::set::{BTreeFamily, RbTreeFamily, SetFamily, TreapFamily};
use rserpool_proto::handlespace::{
    Config, DueTimer, EntryRef, Handlespace, HsError, Registration, Resource, SyncCursor,
    TimerKind, Unreachable,
};
use rserpool_proto::wire::{
    PeId, Policy, PolicyType, PoolHandle, ServerId, TransportParam, TransportUse,
};
use rserpool_proto::{Time, Xoshiro256};

const MAX: u64 = u32::MAX as u64;
const HANDLES: [&[u8]; 3] = [b"alpha", b"b", b"\x00\xffodd"];
const CONFIG: Config = Config {
    max_pools: 2,
    max_pes_per_pool: 6,
    max_pes_total: 10,
    max_bad_pe_reports: 2,
    ordered_window: None,
};

#[derive(Clone, Debug)]
enum Op {
    Register {
        pool: usize,
        pe: u32,
        home: u32,
        /// Index into the case's policy list; 3 picks a wrong policy.
        policy: usize,
        values: [u32; 4],
        tcp: Option<bool>,
        assoc: Option<u64>,
        lifetime: u32,
    },
    Deregister {
        pool: usize,
        pe: u32,
    },
    Resolve {
        pool: usize,
        h: usize,
    },
    Schedule {
        pool: usize,
        pe: u32,
        kind: u8,
        delta: i64,
    },
    Cancel {
        pool: usize,
        pe: u32,
    },
    TakeDue {
        advance: u64,
        buf: usize,
    },
    Report {
        pool: usize,
        pe: u32,
    },
    SetHome {
        pool: usize,
        pe: u32,
        home: u32,
    },
    TakeOver {
        from: u32,
        to: u32,
    },
    RemoveAssoc {
        assoc: u64,
    },
    SyncStart {
        owner: Option<u32>,
    },
    SyncBlock {
        size: usize,
    },
}

fn value() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..4,
        Just(1000),
        Just(u32::MAX / 3),
        Just(u32::MAX / 2),
        Just(u32::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let pool = 0usize..3;
    let pe = 0u32..8;
    prop_oneof![
        6 => (pool.clone(), pe.clone(), 0u32..3, prop_oneof![4 => 0usize..1, 1 => Just(3usize)],
              (value(), value(), 0u32..3, 0u32..4).prop_map(|(a, b, c, d)| [a, b, c, d]), prop::option::of(any::<bool>()),
              prop::option::of(0u64..3), 0u32..100_000)
            .prop_map(|(pool, pe, home, policy, values, tcp, assoc, lifetime)| Op::Register {
                pool, pe, home, policy, values, tcp, assoc, lifetime,
            }),
        2 => (pool.clone(), pe.clone()).prop_map(|(pool, pe)| Op::Deregister { pool, pe }),
        5 => (pool.clone(), 1usize..5).prop_map(|(pool, h)| Op::Resolve { pool, h }),
        3 => (pool.clone(), pe.clone(), 0u8..3, -2000i64..20_000)
            .prop_map(|(pool, pe, kind, delta)| Op::Schedule { pool, pe, kind, delta }),
        1 => (pool.clone(), pe.clone()).prop_map(|(pool, pe)| Op::Cancel { pool, pe }),
        3 => (prop_oneof![0u64..100, 0u64..30_000, Just(1u64 << 40)], 1usize..6)
            .prop_map(|(advance, buf)| Op::TakeDue { advance, buf }),
        1 => (pool.clone(), pe.clone()).prop_map(|(pool, pe)| Op::Report { pool, pe }),
        1 => (pool.clone(), pe.clone(), 0u32..3)
            .prop_map(|(pool, pe, home)| Op::SetHome { pool, pe, home }),
        1 => (0u32..3, 0u32..3).prop_map(|(from, to)| Op::TakeOver { from, to }),
        1 => (0u64..3).prop_map(|assoc| Op::RemoveAssoc { assoc }),
        1 => prop::option::of(0u32..3).prop_map(|owner| Op::SyncStart { owner }),
        3 => (1usize..4).prop_map(|size| Op::SyncBlock { size }),
    ]
}

// ----- the reference model ---------------------------------------------------

#[derive(Clone, Debug)]
struct MEntry {
    pe: u32,
    home: u32,
    lifetime: u32,
    policy: Policy,
    transport: TransportParam,
    assoc: Option<u64>,
    timer: Option<(TimerKind, u64)>,
    bad: u32,
    degradation: u32,
    seq: u64,
    credit: u32,
    round: u32,
}

#[derive(Clone, Debug)]
struct MPool {
    policy: PolicyType,
    transport: TransportParam,
    entries: Vec<MEntry>,
    next_seq: u64,
    /// Round robin order (PE IDs).
    ring: Vec<u32>,
}

#[derive(Default)]
struct Model {
    pools: [Option<MPool>; 3],
}

fn sat(v: u64) -> u64 {
    v.min(MAX)
}

fn is_ordered(t: PolicyType) -> bool {
    use PolicyType as T;
    matches!(
        t,
        T::WeightedRoundRobin
            | T::Priority
            | T::LeastUsed
            | T::LeastUsedDegradation
            | T::PriorityLeastUsed
            | T::PriorityLeastUsedDegradation
            | T::LeastUsedDpf
            | T::LeastUsedDegradationDpf
    )
}

fn model_value(e: &MEntry) -> u64 {
    let d = u64::from(e.degradation);
    match e.policy {
        Policy::WeightedRoundRobin { .. } => u64::from(e.round),
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
        } => sat(u64::from(load) + sat(u64::from(load_dpf) * u64::from(distance))),
        Policy::LeastUsedDegradationDpf {
            load,
            load_dpf,
            distance,
            ..
        } => sat(u64::from(load) + d + sat(u64::from(load_dpf) * u64::from(distance))),
        _ => 0,
    }
}

fn model_weight(e: &MEntry) -> u64 {
    let d = u64::from(e.degradation);
    let inv = |x: u64| MAX.saturating_sub(x).max(1);
    match e.policy {
        Policy::WeightedRandom { weight } => u64::from(weight),
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

fn degradation_step(p: &Policy) -> Option<u32> {
    match *p {
        Policy::LeastUsedDegradation { degradation, .. }
        | Policy::PriorityLeastUsedDegradation { degradation, .. }
        | Policy::RandomizedLeastUsedDegradation { degradation, .. }
        | Policy::RandomizedPriorityLeastUsedDegradation { degradation, .. }
        | Policy::LeastUsedDegradationDpf { degradation, .. } => Some(degradation),
        _ => None,
    }
}

fn wrr_weight(p: &Policy) -> u32 {
    match *p {
        Policy::WeightedRoundRobin { weight } => weight.max(1),
        _ => 1,
    }
}

/// RFC 1071 from scratch: 16-bit big-endian words of the handle (odd byte
/// padded), then of the PE ID, one's-complement sum, complemented.
fn scratch_checksum(items: &[(&[u8], u32)]) -> u16 {
    let mut sum: u64 = 0;
    for (h, pe) in items {
        let mut bytes = h.to_vec();
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        for w in bytes.chunks(2) {
            sum += u64::from(w[0]) << 8 | u64::from(w[1]);
        }
        sum += u64::from(pe >> 16) + u64::from(pe & 0xffff);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl Model {
    fn len(&self) -> usize {
        self.pools.iter().flatten().map(|p| p.entries.len()).sum()
    }

    fn find(&self, pool: usize, pe: u32) -> Option<&MEntry> {
        self.pools[pool]
            .as_ref()?
            .entries
            .iter()
            .find(|e| e.pe == pe)
    }

    fn find_mut(&mut self, pool: usize, pe: u32) -> Option<&mut MEntry> {
        self.pools[pool]
            .as_mut()?
            .entries
            .iter_mut()
            .find(|e| e.pe == pe)
    }

    fn register(&mut self, pool: usize, reg: &Registration) -> Result<bool, HsError> {
        let t = reg.policy.policy_type();
        let pools_in_use = self.pools.iter().flatten().count();
        let total = self.len();
        let Some(p) = self.pools[pool].as_mut() else {
            if pools_in_use >= CONFIG.max_pools {
                return Err(HsError::LackOfResources(Resource::Pools));
            }
            if total >= CONFIG.max_pes_total {
                return Err(HsError::LackOfResources(Resource::PesTotal));
            }
            self.pools[pool] = Some(MPool {
                policy: t,
                transport: reg.transport.clone(),
                entries: Vec::new(),
                next_seq: 0,
                ring: Vec::new(),
            });
            self.insert(pool, reg);
            return Ok(false);
        };
        if let Some(e) = p.entries.iter().find(|e| e.pe == reg.pe_id.0) {
            if e.home != reg.home.0 {
                return Err(HsError::NonUniquePeId {
                    existing_home: ServerId(e.home),
                });
            }
        }
        if p.policy != t {
            return Err(HsError::InconsistentPoolingPolicy {
                pool: p.policy,
                requested: t,
            });
        }
        if p.transport.kind() != reg.transport.kind() {
            return Err(HsError::InconsistentTransportType {
                pool: p.transport.kind(),
                requested: reg.transport.kind(),
            });
        }
        if p.transport.transport_use() != reg.transport.transport_use() {
            return Err(HsError::InconsistentDataControlConfiguration {
                pool: p.transport.transport_use(),
                requested: reg.transport.transport_use(),
            });
        }
        let ordered = is_ordered(p.policy);
        if let Some(e) = p.entries.iter_mut().find(|e| e.pe == reg.pe_id.0) {
            let old_value = model_value(e);
            e.lifetime = reg.lifetime_ms;
            e.transport = reg.transport.clone();
            e.policy = reg.policy;
            e.assoc = reg.association;
            e.degradation = 0;
            e.credit = wrr_weight(&e.policy);
            if ordered && model_value(e) != old_value {
                e.seq = p.next_seq;
                p.next_seq += 1;
            }
            return Ok(true);
        }
        if p.entries.len() >= CONFIG.max_pes_per_pool {
            return Err(HsError::LackOfResources(Resource::PesInPool));
        }
        if total >= CONFIG.max_pes_total {
            return Err(HsError::LackOfResources(Resource::PesTotal));
        }
        self.insert(pool, reg);
        Ok(false)
    }

    fn insert(&mut self, pool: usize, reg: &Registration) {
        let p = self.pools[pool].as_mut().unwrap();
        // A new weighted-round-robin PE joins the current (lowest) round.
        let round = p
            .entries
            .iter()
            .filter(|_| p.policy == PolicyType::WeightedRoundRobin)
            .map(|e| e.round)
            .min()
            .unwrap_or(0);
        p.entries.push(MEntry {
            pe: reg.pe_id.0,
            home: reg.home.0,
            lifetime: reg.lifetime_ms,
            policy: reg.policy,
            transport: reg.transport.clone(),
            assoc: reg.association,
            timer: None,
            bad: 0,
            degradation: 0,
            seq: p.next_seq,
            credit: wrr_weight(&reg.policy),
            round,
        });
        p.next_seq += 1;
        p.ring.push(reg.pe_id.0);
    }

    fn remove(&mut self, pool: usize, pe: u32) -> bool {
        let Some(p) = self.pools[pool].as_mut() else {
            return false;
        };
        let Some(i) = p.entries.iter().position(|e| e.pe == pe) else {
            return false;
        };
        p.entries.remove(i);
        p.ring.retain(|x| *x != pe);
        if p.entries.is_empty() {
            self.pools[pool] = None;
        }
        true
    }

    /// The deterministic choice (round robin and ordered policies), with
    /// the first choice charged; `None` for randomized policies.
    fn resolve_deterministic(&mut self, pool: usize, h: usize) -> Option<Vec<u32>> {
        let p = self.pools[pool].as_mut()?;
        if p.policy == PolicyType::RoundRobin {
            let chosen: Vec<u32> = p.ring.iter().take(h).copied().collect();
            if let Some(&first) = chosen.first() {
                p.ring.remove(0);
                p.ring.push(first);
                let seq = p.next_seq;
                p.next_seq += 1;
                p.entries.iter_mut().find(|e| e.pe == first).unwrap().seq = seq;
            }
            return Some(chosen);
        }
        if !is_ordered(p.policy) {
            return None;
        }
        let mut order: Vec<&MEntry> = p.entries.iter().collect();
        order.sort_by_key(|e| (model_value(e), e.seq));
        let chosen: Vec<u32> = order.iter().take(h).map(|e| e.pe).collect();
        if let Some(&first) = chosen.first() {
            let seq = p.next_seq;
            p.next_seq += 1;
            let policy = p.policy;
            let e = p.entries.iter_mut().find(|e| e.pe == first).unwrap();
            charge(e, policy, seq);
        }
        Some(chosen)
    }

    fn charge_random(&mut self, pool: usize, first: u32) {
        let p = self.pools[pool].as_mut().unwrap();
        let seq = p.next_seq;
        p.next_seq += 1;
        let policy = p.policy;
        let e = p.entries.iter_mut().find(|e| e.pe == first).unwrap();
        charge(e, policy, seq);
    }
}

fn charge(e: &mut MEntry, policy: PolicyType, seq: u64) {
    e.seq = seq;
    if policy == PolicyType::WeightedRoundRobin {
        if e.credit > 1 {
            e.credit -= 1;
        } else {
            e.round += 1;
            e.credit = wrr_weight(&e.policy);
        }
    }
    if let Some(step) = degradation_step(&e.policy) {
        e.degradation = e.degradation.saturating_add(step);
    }
}

// ----- the run ---------------------------------------------------------------

struct Traversal {
    owner: Option<u32>,
    cursor: Option<SyncCursor>,
    /// (pool, PE) present at the start and not removed since.
    throughout: BTreeSet<(usize, u32)>,
    seen: Vec<(usize, u32)>,
}

fn handle(pool: usize) -> PoolHandle {
    PoolHandle::new(HANDLES[pool])
}

fn pool_of(hs_handle: &PoolHandle) -> usize {
    HANDLES
        .iter()
        .position(|h| *h == hs_handle.as_bytes())
        .unwrap()
}

fn transport(tcp: Option<bool>) -> TransportParam {
    let address = [192, 0, 2, 1].into();
    match tcp {
        None => TransportParam::Udp { port: 1, address },
        Some(ctl) => TransportParam::Tcp {
            port: 2,
            transport_use: if ctl {
                TransportUse::DataPlusControl
            } else {
                TransportUse::DataOnly
            },
            address,
        },
    }
}

fn run<F: SetFamily>(policies: [PolicyType; 3], ops: &[Op], window: Option<usize>) {
    let mut hs: Handlespace<F> = Handlespace::new(Config {
        ordered_window: window,
        ..CONFIG
    });
    let mut m = Model::default();
    let mut rng = Xoshiro256::seed_from_u64(5);
    let mut now = 0u64;
    let mut trav: Option<Traversal> = None;

    for op in ops {
        match op {
            Op::Register {
                pool,
                pe,
                home,
                policy,
                values,
                tcp,
                assoc,
                lifetime,
            } => {
                let t = if *policy == 3 {
                    policies[(*pool + 1) % 3]
                } else {
                    policies[*pool]
                };
                let reg = Registration {
                    pe_id: PeId(*pe),
                    home: ServerId(*home),
                    lifetime_ms: *lifetime,
                    transport: transport(*tcp),
                    policy: Policy::from_values(t, values).unwrap(),
                    asap_transport: None,
                    association: *assoc,
                };
                let want = m.register(*pool, &reg);
                let got = hs.register(&handle(*pool), reg).map(|r| r.updated);
                assert_eq!(got, want, "{op:?}");
            }
            Op::Deregister { pool, pe } => {
                let want = if m.pools[*pool].is_none() {
                    Err(HsError::UnknownPoolHandle)
                } else if m.remove(*pool, *pe) {
                    Ok(())
                } else {
                    Err(HsError::UnknownPoolElement)
                };
                assert_eq!(hs.deregister(&handle(*pool), PeId(*pe)), want);
                if let Some(t) = trav.as_mut() {
                    t.throughout.remove(&(*pool, *pe));
                }
            }
            Op::Resolve { pool, h } => {
                let mut out = [EntryRef::NONE; 4];
                let got = hs.resolve(&handle(*pool), &mut rng, &mut out[..*h]);
                let Some(p) = m.pools[*pool].as_ref() else {
                    assert_eq!(got, Err(HsError::UnknownPoolHandle));
                    continue;
                };
                let n = got.unwrap();
                let ids: Vec<u32> = out[..n]
                    .iter()
                    .map(|r| hs.entry(*r).unwrap().pe_id().0)
                    .collect();
                let policy = p.policy;
                let selectable = p.entries.iter().filter(|e| model_weight(e) > 0).count();
                match m.resolve_deterministic(*pool, *h) {
                    Some(want) => assert_eq!(ids, want, "{policy:?}"),
                    None => {
                        assert_eq!(n, (*h).min(selectable), "{policy:?}");
                        let distinct: BTreeSet<u32> = ids.iter().copied().collect();
                        assert_eq!(distinct.len(), n);
                        for id in &ids {
                            assert!(model_weight(m.find(*pool, *id).unwrap()) > 0);
                        }
                        if let Some(first) = ids.first() {
                            m.charge_random(*pool, *first);
                        }
                    }
                }
            }
            Op::Schedule {
                pool,
                pe,
                kind,
                delta,
            } => {
                let kind = [
                    TimerKind::KeepAliveTransmission,
                    TimerKind::KeepAliveTimeout,
                    TimerKind::LifetimeExpiry,
                ][*kind as usize];
                let deadline = now.saturating_add_signed(*delta);
                let r = hs.find(&handle(*pool), PeId(*pe));
                match m.find_mut(*pool, *pe) {
                    Some(e) => {
                        e.timer = Some((kind, deadline));
                        assert!(hs.schedule_timer(r.unwrap(), kind, Time(deadline)));
                    }
                    None => assert!(r.is_none()),
                }
            }
            Op::Cancel { pool, pe } => {
                if let Some(e) = m.find_mut(*pool, *pe) {
                    let had = e.timer.take().is_some();
                    let r = hs.find(&handle(*pool), PeId(*pe)).unwrap();
                    assert_eq!(hs.cancel_timer(r), had);
                }
            }
            Op::TakeDue { advance, buf } => {
                now += advance;
                let mut out = [DueTimer::NONE; 5];
                let n = hs.take_due(Time(now), &mut out[..*buf]);
                let mut due: Vec<(u64, usize, u32)> = Vec::new();
                for (i, p) in m.pools.iter().enumerate() {
                    for e in p.iter().flat_map(|p| &p.entries) {
                        if let Some((_, d)) = e.timer {
                            if d <= now {
                                due.push((d, i, e.pe));
                            }
                        }
                    }
                }
                due.sort();
                assert_eq!(n, due.len().min(*buf));
                let taken = &out[..n];
                assert!(taken.windows(2).all(|w| w[0].deadline <= w[1].deadline));
                let want_deadlines: Vec<u64> = due.iter().take(n).map(|d| d.0).collect();
                let got_deadlines: Vec<u64> = taken.iter().map(|d| d.deadline.0).collect();
                assert_eq!(got_deadlines, want_deadlines);
                for d in taken {
                    let pool = pool_of(hs.pool_handle_of(d.entry).unwrap());
                    let pe = hs.entry(d.entry).unwrap().pe_id().0;
                    let e = m.find_mut(pool, pe).unwrap();
                    assert_eq!(e.timer, Some((d.kind, d.deadline.0)));
                    e.timer = None;
                }
            }
            Op::Report { pool, pe } => {
                let r = hs.find(&handle(*pool), PeId(*pe));
                match m.find_mut(*pool, *pe) {
                    None => assert!(r.is_none()),
                    Some(e) => {
                        e.bad += 1;
                        let bad = e.bad;
                        let got = hs.report_unreachable(r.unwrap()).unwrap();
                        if bad >= CONFIG.max_bad_pe_reports {
                            assert_eq!(got, Unreachable::ThresholdReached(bad));
                            assert!(hs.remove(r.unwrap()));
                            assert!(!hs.remove(r.unwrap()));
                            m.remove(*pool, *pe);
                            if let Some(t) = trav.as_mut() {
                                t.throughout.remove(&(*pool, *pe));
                            }
                        } else {
                            assert_eq!(got, Unreachable::Counted(bad));
                        }
                    }
                }
            }
            Op::SetHome { pool, pe, home } => {
                let r = hs.find(&handle(*pool), PeId(*pe));
                match m.find_mut(*pool, *pe) {
                    None => assert!(r.is_none()),
                    Some(e) => {
                        e.home = *home;
                        assert!(hs.set_home(r.unwrap(), ServerId(*home)));
                    }
                }
            }
            Op::TakeOver { from, to } => {
                let mut n = 0;
                if from != to {
                    for e in m.pools.iter_mut().flatten().flat_map(|p| &mut p.entries) {
                        if e.home == *from {
                            e.home = *to;
                            n += 1;
                        }
                    }
                }
                assert_eq!(hs.take_over(ServerId(*from), ServerId(*to)), n);
            }
            Op::RemoveAssoc { assoc } => {
                let mut want: Vec<(usize, u32)> = Vec::new();
                for (i, p) in m.pools.iter().enumerate() {
                    for e in p.iter().flat_map(|p| &p.entries) {
                        if e.assoc == Some(*assoc) {
                            want.push((i, e.pe));
                        }
                    }
                }
                let mut got = Vec::new();
                let n = hs.remove_association(*assoc, |h, e| got.push((pool_of(h), e.pe_id().0)));
                got.sort();
                want.sort();
                assert_eq!(got, want);
                assert_eq!(n, want.len());
                for (pool, pe) in want {
                    m.remove(pool, pe);
                    if let Some(t) = trav.as_mut() {
                        t.throughout.remove(&(pool, pe));
                    }
                }
            }
            Op::SyncStart { owner } => {
                let mut throughout = BTreeSet::new();
                for (i, p) in m.pools.iter().enumerate() {
                    for e in p.iter().flat_map(|p| &p.entries) {
                        if owner.is_none_or(|o| o == e.home) {
                            throughout.insert((i, e.pe));
                        }
                    }
                }
                trav = Some(Traversal {
                    owner: *owner,
                    cursor: Some(SyncCursor::START),
                    throughout,
                    seen: Vec::new(),
                });
            }
            Op::SyncBlock { size } => {
                let Some(t) = trav.as_mut() else { continue };
                let Some(c) = t.cursor else { continue };
                let mut block = Vec::new();
                let step = hs.sync_block(c, t.owner.map(ServerId), *size, |_, e| {
                    block.push(e.pe_id().0)
                });
                // Re-read through the slice API too: same entries.
                let mut refs = [EntryRef::NONE; 4];
                let step2 = hs.sync_block_into(c, t.owner.map(ServerId), &mut refs[..*size]);
                assert_eq!(step, step2);
                assert_eq!(step.count, block.len());
                assert!(step.count <= *size);
                for r in &refs[..step2.count] {
                    let e = hs.entry(*r).unwrap();
                    if let Some(o) = t.owner {
                        assert_eq!(e.home(), ServerId(o));
                    }
                    let pool = pool_of(hs.pool_handle_of(*r).unwrap());
                    t.seen.push((pool, e.pe_id().0));
                }
                t.cursor = step.next;
                if t.cursor.is_none() {
                    // Owner changes end "present throughout" for the filter;
                    // only check entries still matching it.
                    for key in &t.throughout {
                        let still = m
                            .find(key.0, key.1)
                            .is_some_and(|e| t.owner.is_none_or(|o| o == e.home));
                        if still {
                            let times = t.seen.iter().filter(|s| *s == key).count();
                            assert_eq!(times, 1, "entry {key:?} seen {times} times");
                        }
                    }
                    trav = None;
                }
            }
        }
        if let Op::SetHome { .. } | Op::TakeOver { .. } = op {
            // The filter of an ongoing owner traversal no longer describes
            // "present throughout" for moved entries: keep only unmoved.
            if let Some(t) = trav.as_mut() {
                if let Some(o) = t.owner {
                    t.throughout
                        .retain(|(p, pe)| m.find(*p, *pe).is_some_and(|e| e.home == o));
                }
            }
        }
        check(&hs, &m, now);
    }
}

fn check<F: SetFamily>(hs: &Handlespace<F>, m: &Model, now: u64) {
    assert_eq!(hs.len(), m.len());
    assert_eq!(hs.pool_count(), m.pools.iter().flatten().count());
    let mut by_owner: BTreeMap<u32, Vec<(&[u8], u32)>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut next_deadline: Option<u64> = None;
    let mut timers = 0;
    for (i, p) in m.pools.iter().enumerate() {
        let h = handle(i);
        let Some(p) = p else {
            assert_eq!(hs.pool_len(&h), 0);
            assert_eq!(hs.pool_policy(&h), None);
            continue;
        };
        assert_eq!(hs.pool_len(&h), p.entries.len());
        assert_eq!(hs.pool_policy(&h), Some(p.policy));
        let mut members: Vec<u32> = hs
            .pool_entries(&h)
            .map(|r| hs.entry(r).unwrap().pe_id().0)
            .collect();
        members.sort();
        let mut want: Vec<u32> = p.entries.iter().map(|e| e.pe).collect();
        want.sort();
        assert_eq!(members, want);
        for e in &p.entries {
            let r = hs.find(&h, PeId(e.pe)).unwrap();
            let got = hs.entry(r).unwrap();
            assert_eq!(got.home(), ServerId(e.home));
            assert_eq!(got.lifetime_ms(), e.lifetime);
            assert_eq!(got.policy(), e.policy);
            assert_eq!(got.policy_type(), e.policy.policy_type());
            assert_eq!(got.load(), e.policy.load());
            assert_eq!(got.transport(), e.transport);
            assert_eq!(got.association(), e.assoc);
            assert_eq!(hs.timer(r), e.timer.map(|(k, d)| (k, Time(d))));
            assert_eq!(hs.unreachable_reports(r), Some(e.bad));
            assert_eq!(hs.degradation(r), Some(e.degradation), "{:?}", e.policy);
            assert_eq!(hs.sequence(r), Some(e.seq));
            by_owner.entry(e.home).or_default().push((HANDLES[i], e.pe));
            all.push((HANDLES[i], e.pe));
            if let Some((_, d)) = e.timer {
                timers += 1;
                next_deadline = Some(next_deadline.map_or(d, |n| n.min(d)));
            }
        }
    }
    assert_eq!(hs.checksum().0, scratch_checksum(&all));
    for o in 0..3u32 {
        let items = by_owner.get(&o).cloned().unwrap_or_default();
        assert_eq!(hs.owner_checksum(ServerId(o)).0, scratch_checksum(&items));
        assert_eq!(hs.owner_len(ServerId(o)), items.len());
        let mut got: Vec<(Vec<u8>, u32)> = hs
            .owner_entries(ServerId(o))
            .map(|r| {
                (
                    hs.pool_handle_of(r).unwrap().as_bytes().to_vec(),
                    hs.entry(r).unwrap().pe_id().0,
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(Vec<u8>, u32)> = items.iter().map(|(h, p)| (h.to_vec(), *p)).collect();
        want.sort();
        assert_eq!(got, want);
    }
    for a in 0..3u64 {
        let mut got: Vec<u32> = hs
            .association_entries(a)
            .map(|r| hs.entry(r).unwrap().pe_id().0)
            .collect();
        got.sort();
        let mut want: Vec<u32> = m
            .pools
            .iter()
            .flatten()
            .flat_map(|p| &p.entries)
            .filter(|e| e.assoc == Some(a))
            .map(|e| e.pe)
            .collect();
        want.sort();
        assert_eq!(got, want);
    }
    assert_eq!(hs.timer_count(), timers);
    assert_eq!(hs.next_deadline(), next_deadline.map(Time));
    // The O(1) wake-up time is never later than the deadline, or, for a
    // deadline already past, than the time timers were last taken.
    match (hs.next_wakeup(), hs.next_deadline()) {
        (Some(w), Some(d)) => assert!(
            w <= d.max(Time(now)),
            "wake-up {w:?} after deadline {d:?} (now {now})"
        ),
        (None, None) => {}
        other => panic!("wake-up and deadline disagree: {other:?}"),
    }
}

fn policies() -> impl Strategy<Value = [PolicyType; 3]> {
    let t = || prop::sample::select(PolicyType::ALL.to_vec());
    [t(), t(), t()]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// The model tests for one ordered-set family: every family of
/// `handlespace::set` gets a line below.
macro_rules! model_tests {
    ($module:ident, $family:ty) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(cases()))]

                #[test]
                fn model(policies in policies(), ops in prop::collection::vec(op(), 1..120)) {
                    run::<$family>(policies, &ops, None);
                }

                /// A window of 1 keeps at most two keys in the ordered set:
                /// every refill and shrink path runs constantly.
                #[test]
                fn model_windowed(
                    policies in policies(),
                    ops in prop::collection::vec(op(), 1..120),
                ) {
                    run::<$family>(policies, &ops, Some(1));
                }
            }
        }
    };
}

model_tests!(btree, BTreeFamily);
model_tests!(rbtree, RbTreeFamily);
model_tests!(treap, TreapFamily);
