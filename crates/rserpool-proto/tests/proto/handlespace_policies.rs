//! Selection policy behaviour, registration checks and the smaller
//! handlespace features, each on a hand-built pool.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use rserpool_proto::handlespace::{
    Config, DueTimer, EntryRef, Handlespace, HsError, Registration, Resource, SyncCursor,
    TimerKind, Unreachable,
};
use rserpool_proto::wire::{
    PeId, Policy, PolicyType, PoolHandle, ServerId, TransportKind, TransportParam, TransportUse,
};
use rserpool_proto::{Time, Xoshiro256};

fn udp() -> TransportParam {
    TransportParam::Udp {
        port: 7,
        address: [192, 0, 2, 7].into(),
    }
}

fn reg(id: u32, policy: Policy) -> Registration {
    Registration {
        pe_id: PeId(id),
        home: ServerId(1),
        lifetime_ms: 30_000,
        transport: udp(),
        policy,
        asap_transport: None,
        association: None,
    }
}

fn pool_of(policies: &[(u32, Policy)]) -> (Handlespace, PoolHandle) {
    let mut hs: Handlespace = Handlespace::default();
    let pool = PoolHandle::from("pool");
    for (id, p) in policies {
        hs.register(&pool, reg(*id, *p)).unwrap();
    }
    (hs, pool)
}

fn pick(hs: &mut Handlespace, pool: &PoolHandle, rng: &mut Xoshiro256, h: usize) -> Vec<u32> {
    let mut out = [EntryRef::NONE; 8];
    let n = hs.resolve(pool, rng, &mut out[..h]).unwrap();
    out[..n]
        .iter()
        .map(|r| hs.entry(*r).unwrap().pe_id().0)
        .collect()
}

#[test]
fn round_robin_rotates_exactly_and_appends_newcomers() {
    let (mut hs, pool) = pool_of(&[
        (1, Policy::RoundRobin),
        (2, Policy::RoundRobin),
        (3, Policy::RoundRobin),
    ]);
    let mut rng = Xoshiro256::seed_from_u64(1);
    let firsts: Vec<u32> = (0..7)
        .map(|_| pick(&mut hs, &pool, &mut rng, 1)[0])
        .collect();
    assert_eq!(firsts, [1, 2, 3, 1, 2, 3, 1]);
    // h = 3: a window of distinct PEs that moves on by one.
    assert_eq!(pick(&mut hs, &pool, &mut rng, 3), [2, 3, 1]);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 3), [3, 1, 2]);
    // A newcomer joins at the end of the rotation; removing the next one
    // moves the rotation on.
    hs.register(&pool, reg(4, Policy::RoundRobin)).unwrap();
    assert_eq!(pick(&mut hs, &pool, &mut rng, 8), [1, 2, 3, 4]);
    hs.deregister(&pool, PeId(2)).unwrap();
    assert_eq!(pick(&mut hs, &pool, &mut rng, 1), [3]);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 3), [4, 1, 3]);
}

#[test]
fn weighted_round_robin_counts_per_round() {
    let p = |w| Policy::WeightedRoundRobin { weight: w };
    let (mut hs, pool) = pool_of(&[(1, p(1)), (2, p(2)), (3, p(3))]);
    let mut rng = Xoshiro256::seed_from_u64(1);
    for _round in 0..4 {
        let mut counts = BTreeMap::new();
        for _ in 0..6 {
            *counts
                .entry(pick(&mut hs, &pool, &mut rng, 1)[0])
                .or_insert(0) += 1;
        }
        assert_eq!(counts, BTreeMap::from([(1, 1), (2, 2), (3, 3)]));
    }
}

#[test]
fn least_used_takes_least_load_with_round_robin_among_ties() {
    let lu = |load| Policy::LeastUsed { load };
    let (mut hs, pool) = pool_of(&[(1, lu(50)), (2, lu(30)), (3, lu(30)), (4, lu(90))]);
    let mut rng = Xoshiro256::seed_from_u64(1);
    let firsts: Vec<u32> = (0..4)
        .map(|_| pick(&mut hs, &pool, &mut rng, 1)[0])
        .collect();
    assert_eq!(firsts, [2, 3, 2, 3]);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 4), [2, 3, 1, 4]);
    // A re-registration with a new load moves the PE.
    hs.register(&pool, reg(4, lu(10))).unwrap();
    assert_eq!(pick(&mut hs, &pool, &mut rng, 2), [4, 3]);
    // A distinct least-loaded PE is chosen every time.
    assert_eq!(pick(&mut hs, &pool, &mut rng, 1), [4]);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 1), [4]);
}

#[test]
fn degradation_grows_with_selection_and_resets_on_reregistration() {
    let p = |load| Policy::LeastUsedDegradation {
        load,
        degradation: 10,
    };
    let (mut hs, pool) = pool_of(&[(1, p(100)), (2, p(125))]);
    let mut rng = Xoshiro256::seed_from_u64(1);
    // 1 is chosen (100, 110, 120) until its degraded load passes 125.
    let firsts: Vec<u32> = (0..5)
        .map(|_| pick(&mut hs, &pool, &mut rng, 1)[0])
        .collect();
    assert_eq!(firsts, [1, 1, 1, 2, 1]);
    assert_eq!(
        hs.degradation(hs.find(&pool, PeId(1)).unwrap()).unwrap(),
        40
    );
    assert_eq!(
        hs.degradation(hs.find(&pool, PeId(2)).unwrap()).unwrap(),
        10
    );
    hs.register(&pool, reg(1, p(100))).unwrap();
    assert_eq!(hs.degradation(hs.find(&pool, PeId(1)).unwrap()).unwrap(), 0);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 1), [1]);
}

#[test]
fn priority_orders_by_priority_then_round_robin() {
    let p = |priority| Policy::Priority { priority };
    let (mut hs, pool) = pool_of(&[(1, p(1)), (2, p(9)), (3, p(5)), (4, p(9))]);
    let mut rng = Xoshiro256::seed_from_u64(1);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 4), [2, 4, 3, 1]);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 4), [4, 2, 3, 1]);
}

#[test]
fn priority_least_used_adds_its_static_penalty() {
    let p = |load, degradation| Policy::PriorityLeastUsed { load, degradation };
    let (mut hs, pool) = pool_of(&[(1, p(10, 100)), (2, p(50, 0))]);
    let mut rng = Xoshiro256::seed_from_u64(1);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 2), [2, 1]);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 2), [2, 1]);
}

#[test]
fn distance_penalty_makes_far_pes_look_loaded() {
    let p = |load, distance| Policy::LeastUsedDpf {
        load,
        load_dpf: 1000,
        distance,
    };
    // Far PE: 100 + 50 * 1000 = 50100 > near PE: 20000 + 0.
    let (mut hs, pool) = pool_of(&[(1, p(100, 50)), (2, p(20_000, 0))]);
    let mut rng = Xoshiro256::seed_from_u64(1);
    assert_eq!(pick(&mut hs, &pool, &mut rng, 2), [2, 1]);
}

fn proportions(hs: &mut Handlespace, pool: &PoolHandle, draws: u32) -> BTreeMap<u32, f64> {
    let mut rng = Xoshiro256::seed_from_u64(99);
    let mut counts: BTreeMap<u32, u32> = BTreeMap::new();
    for _ in 0..draws {
        *counts.entry(pick(hs, pool, &mut rng, 1)[0]).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(k, v)| (k, f64::from(v) / f64::from(draws)))
        .collect()
}

#[test]
fn weighted_random_proportions() {
    let w = |weight| Policy::WeightedRandom { weight };
    let (mut hs, pool) = pool_of(&[(1, w(1)), (2, w(2)), (3, w(7)), (4, w(0))]);
    let share = proportions(&mut hs, &pool, 100_000);
    // Binomial standard deviation at p=0.1 and n=1e5 is ~0.001; allow 5σ.
    assert!((share[&1] - 0.1).abs() < 0.005, "{share:?}");
    assert!((share[&2] - 0.2).abs() < 0.007, "{share:?}");
    assert!((share[&3] - 0.7).abs() < 0.007, "{share:?}");
    assert!(!share.contains_key(&4), "weight 0 is never chosen");
}

#[test]
fn random_is_uniform_and_randomized_least_used_favours_idle_pes() {
    let (mut hs, pool) = pool_of(&[
        (1, Policy::Random),
        (2, Policy::Random),
        (3, Policy::Random),
        (4, Policy::Random),
    ]);
    let share = proportions(&mut hs, &pool, 100_000);
    for v in share.values() {
        assert!((v - 0.25).abs() < 0.007, "{share:?}");
    }
    let q = u32::MAX / 4;
    let r = |load| Policy::RandomizedLeastUsed { load };
    // Free capacities 3q and q: shares 3/4 and 1/4.
    let (mut hs, pool) = pool_of(&[(1, r(q)), (2, r(3 * q))]);
    let share = proportions(&mut hs, &pool, 100_000);
    assert!((share[&1] - 0.75).abs() < 0.007, "{share:?}");
}

#[test]
fn randomized_degradation_shifts_draws_away() {
    let p = Policy::RandomizedLeastUsedDegradation {
        load: 0,
        degradation: u32::MAX / 100,
    };
    let (mut hs, pool) = pool_of(&[(1, p), (2, p)]);
    let mut rng = Xoshiro256::seed_from_u64(3);
    for _ in 0..60 {
        pick(&mut hs, &pool, &mut rng, 1);
    }
    let d1 = hs.degradation(hs.find(&pool, PeId(1)).unwrap()).unwrap();
    let d2 = hs.degradation(hs.find(&pool, PeId(2)).unwrap()).unwrap();
    assert_eq!(
        u64::from(d1) + u64::from(d2),
        60 * u64::from(u32::MAX / 100)
    );
    // The draw corrects itself: neither PE took nearly all selections.
    assert!(d1.abs_diff(d2) < 30 * (u32::MAX / 100), "{d1} {d2}");
}

#[test]
fn every_policy_returns_h_distinct_pes() {
    let mut rng = Xoshiro256::seed_from_u64(4);
    for t in PolicyType::ALL {
        let mut hs: Handlespace = Handlespace::default();
        let pool = PoolHandle::from(t.name());
        for id in 0..5u32 {
            let p = Policy::from_values(t, &[id + 1, id, 3, id]).unwrap();
            hs.register(&pool, reg(id, p)).unwrap();
        }
        for h in [1, 2, 3, 5, 8] {
            for _ in 0..20 {
                let got = pick(&mut hs, &pool, &mut rng, h);
                assert_eq!(got.len(), h.min(5), "{t:?} h={h}");
                let distinct: BTreeSet<u32> = got.iter().copied().collect();
                assert_eq!(distinct.len(), got.len(), "{t:?} h={h}");
            }
        }
    }
}

#[test]
fn registration_checks_map_to_rfc5354_causes() {
    let cfg = Config {
        max_pools: 2,
        max_pes_per_pool: 2,
        max_pes_total: 3,
        max_bad_pe_reports: 3,
        ..Config::default()
    };
    let mut hs: Handlespace = Handlespace::new(cfg);
    let a = PoolHandle::from("a");
    hs.register(&a, reg(1, Policy::RoundRobin)).unwrap();
    let e = hs.register(&a, reg(2, Policy::Random)).unwrap_err();
    assert_eq!(
        e,
        HsError::InconsistentPoolingPolicy {
            pool: PolicyType::RoundRobin,
            requested: PolicyType::Random
        }
    );
    assert_eq!(e.cause_code(), Some(0x5));
    let mut tcp = reg(2, Policy::RoundRobin);
    tcp.transport = TransportParam::Tcp {
        port: 1,
        transport_use: TransportUse::DataOnly,
        address: [192, 0, 2, 1].into(),
    };
    let e = hs.register(&a, tcp).unwrap_err();
    assert_eq!(
        e,
        HsError::InconsistentTransportType {
            pool: TransportKind::Udp,
            requested: TransportKind::Tcp
        }
    );
    assert_eq!(e.cause_code(), Some(0x7));
    let mut other_home = reg(1, Policy::RoundRobin);
    other_home.home = ServerId(2);
    let e = hs.register(&a, other_home).unwrap_err();
    assert_eq!(
        e,
        HsError::NonUniquePeId {
            existing_home: ServerId(1)
        }
    );
    assert_eq!(e.cause_code(), Some(0x4));
    hs.register(&a, reg(2, Policy::RoundRobin)).unwrap();
    let e = hs.register(&a, reg(3, Policy::RoundRobin)).unwrap_err();
    assert_eq!(e, HsError::LackOfResources(Resource::PesInPool));
    assert_eq!(e.cause_code(), Some(0x6));
    hs.register(&PoolHandle::from("b"), reg(3, Policy::RoundRobin))
        .unwrap();
    assert_eq!(
        hs.register(&PoolHandle::from("c"), reg(4, Policy::RoundRobin)),
        Err(HsError::LackOfResources(Resource::Pools))
    );
    assert_eq!(
        hs.register(&PoolHandle::from("b"), reg(4, Policy::RoundRobin)),
        Err(HsError::LackOfResources(Resource::PesTotal))
    );
    let e = hs.deregister(&PoolHandle::from("zz"), PeId(1)).unwrap_err();
    assert_eq!(e.cause_code(), Some(0x9));
    assert_eq!(
        hs.deregister(&a, PeId(77)),
        Err(HsError::UnknownPoolElement)
    );
    // Data/control configuration of a TCP pool.
    let mut hs: Handlespace = Handlespace::default();
    let mut r = reg(1, Policy::RoundRobin);
    r.transport = TransportParam::Tcp {
        port: 1,
        transport_use: TransportUse::DataPlusControl,
        address: [192, 0, 2, 1].into(),
    };
    hs.register(&a, r.clone()).unwrap();
    r.pe_id = PeId(2);
    r.transport = TransportParam::Tcp {
        port: 1,
        transport_use: TransportUse::DataOnly,
        address: [192, 0, 2, 1].into(),
    };
    assert_eq!(hs.register(&a, r).unwrap_err().cause_code(), Some(0x8));
}

#[test]
fn timers_expire_in_order_and_one_per_pe() {
    let (mut hs, pool) = pool_of(&[
        (1, Policy::RoundRobin),
        (2, Policy::RoundRobin),
        (3, Policy::RoundRobin),
    ]);
    let r = |hs: &Handlespace, id| hs.find(&pool, PeId(id)).unwrap();
    let (r1, r2, r3) = (r(&hs, 1), r(&hs, 2), r(&hs, 3));
    assert!(hs.schedule_timer(r1, TimerKind::KeepAliveTransmission, Time::from_millis(5)));
    assert!(hs.schedule_timer(r2, TimerKind::LifetimeExpiry, Time::from_millis(3)));
    assert!(hs.schedule_timer(r3, TimerKind::KeepAliveTransmission, Time::from_millis(9)));
    // Rescheduling replaces the PE's timer.
    assert!(hs.schedule_timer(r1, TimerKind::KeepAliveTimeout, Time::from_millis(4)));
    assert_eq!(hs.timer_count(), 3);
    assert_eq!(hs.next_deadline(), Some(Time::from_millis(3)));
    let mut out = [DueTimer::NONE; 4];
    assert_eq!(hs.take_due(Time::from_millis(2), &mut out), 0);
    let n = hs.take_due(Time::from_millis(6), &mut out);
    assert_eq!(n, 2);
    assert_eq!((out[0].entry, out[0].kind), (r2, TimerKind::LifetimeExpiry));
    assert_eq!(
        (out[1].entry, out[1].kind),
        (r1, TimerKind::KeepAliveTimeout)
    );
    assert!(hs.entry(r1).is_some());
    assert_eq!(hs.timer(r1), None);
    assert!(hs.cancel_timer(r3));
    assert_eq!(hs.next_deadline(), None);
    hs.deregister(&pool, PeId(1)).unwrap();
    assert!(!hs.schedule_timer(r1, TimerKind::KeepAliveTimeout, Time(1)));
}

#[test]
fn ownership_checksums_takeover_and_unreachable_reports() {
    let mut hs: Handlespace = Handlespace::default();
    let pool = PoolHandle::from("own");
    for id in 0..10u32 {
        let mut r = reg(id, Policy::Random);
        r.home = ServerId(id % 2);
        hs.register(&pool, r).unwrap();
    }
    let c0 = hs.owner_checksum(ServerId(0));
    let c1 = hs.owner_checksum(ServerId(1));
    let all = hs.checksum();
    assert_ne!(c0, c1);
    assert_eq!(hs.take_over(ServerId(1), ServerId(0)), 5);
    assert_eq!(hs.owner_len(ServerId(0)), 10);
    assert_eq!(hs.owner_checksum(ServerId(0)), all);
    assert_eq!(hs.owner_checksum(ServerId(1)).0, 0xffff);
    let r = hs.find(&pool, PeId(3)).unwrap();
    assert!(hs.set_home(r, ServerId(1)));
    assert_eq!(hs.owner_entries(ServerId(1)).collect::<Vec<_>>(), [r]);
    assert_eq!(hs.report_unreachable(r), Some(Unreachable::Counted(1)));
    assert_eq!(hs.report_unreachable(r), Some(Unreachable::Counted(2)));
    assert_eq!(
        hs.report_unreachable(r),
        Some(Unreachable::ThresholdReached(3))
    );
    assert!(hs.remove(r));
    assert_eq!(hs.report_unreachable(r), None);
    assert_eq!(hs.checksum(), hs.owner_checksum(ServerId(0)));
    assert_ne!(hs.checksum(), c0);
}

#[test]
fn sync_traversal_survives_churn_between_blocks() {
    let mut hs: Handlespace = Handlespace::default();
    let pools = [PoolHandle::from("x"), PoolHandle::from("y")];
    for id in 0..200u32 {
        hs.register(&pools[(id % 2) as usize], reg(id, Policy::RoundRobin))
            .unwrap();
    }
    let mut seen: BTreeMap<u32, u32> = BTreeMap::new();
    let mut cursor = Some(SyncCursor::START);
    let mut next_id = 1000;
    let mut blocks = 0;
    while let Some(c) = cursor {
        let step = hs.sync_block(c, None, 16, |_, e| {
            *seen.entry(e.pe_id().0).or_default() += 1;
        });
        cursor = step.next;
        blocks += 1;
        // Churn: drop two of the untouchable-free range, add two.
        for victim in [blocks * 7 % 100 + 100, blocks * 13 % 100 + 100] {
            let _ = hs.deregister(&pools[(victim % 2) as usize], PeId(victim));
        }
        for _ in 0..2 {
            hs.register(
                &pools[(next_id % 2) as usize],
                reg(next_id, Policy::RoundRobin),
            )
            .unwrap();
            next_id += 1;
        }
    }
    // PEs 0..100 were present throughout: each seen exactly once.
    for id in 0..100 {
        assert_eq!(seen.get(&id), Some(&1), "PE {id}");
    }
    assert!(seen.values().all(|n| *n == 1));
    assert!(blocks >= 200 / 16);
}

#[test]
fn lost_association_drops_its_pes() {
    let mut hs: Handlespace = Handlespace::default();
    let pool = PoolHandle::from("assoc");
    for id in 0..6u32 {
        let mut r = reg(id, Policy::RoundRobin);
        r.association = Some(u64::from(id % 3));
        hs.register(&pool, r).unwrap();
    }
    assert_eq!(hs.association_entries(1).count(), 2);
    let mut gone = Vec::new();
    assert_eq!(
        hs.remove_association(1, |h, e| gone.push((h.clone(), e.pe_id()))),
        2
    );
    gone.sort();
    assert_eq!(gone, [(pool.clone(), PeId(1)), (pool.clone(), PeId(4))]);
    assert_eq!(hs.len(), 4);
    assert_eq!(hs.association_entries(1).count(), 0);
}

/// A generator stuck on one value must not hang a selection.
#[test]
fn degenerate_generator_still_yields_distinct_pes() {
    struct Stuck;
    impl rserpool_proto::Rng for Stuck {
        fn next_u64(&mut self) -> u64 {
            7
        }
    }
    for policy in [Policy::Random, Policy::WeightedRandom { weight: 3 }] {
        let (mut hs, pool) = pool_of(&[(1, policy), (2, policy), (3, policy), (4, policy)]);
        let mut out = [EntryRef::NONE; 3];
        assert_eq!(hs.resolve(&pool, &mut Stuck, &mut out).unwrap(), 3);
        let ids: BTreeSet<u32> = out
            .iter()
            .map(|r| hs.entry(*r).unwrap().pe_id().0)
            .collect();
        assert_eq!(ids.len(), 3, "{policy:?}");
    }
}
