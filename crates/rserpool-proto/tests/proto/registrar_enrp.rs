//! Registrar ENRP behaviour: peering, synchronisation, audits, takeover;
//! several registrars on the in-memory network.

use crate::registrar_net as net;

use net::*;
use std::time::Duration;

use rserpool_proto::Time;
use rserpool_proto::handlespace::TimerKind;
use rserpool_proto::registrar::{Config, Event, PeerDownReason, Registrar, Transmit};
use rserpool_proto::wire::asap::AsapMessage;
use rserpool_proto::wire::enrp::{self, EnrpMessage, UpdateAction};
use rserpool_proto::wire::{ErrorCauseCode, PeId, Policy, PoolHandle, ServerId};

/// `n` PRs; PR i has PR i-1 as its static peer (a chain: the others are
/// learnt through List Responses).
fn chain(n: usize) -> Net {
    let mut net = Net::new();
    for i in 0..n {
        let peers: Vec<usize> = if i == 0 { vec![] } else { vec![i - 1] };
        net.add_pr(pr_config(i, &peers));
    }
    net
}

/// `n` PRs, each with every other as static peer (duplicate associations).
fn mesh(n: usize) -> Net {
    let mut net = Net::new();
    for i in 0..n {
        let peers: Vec<usize> = (0..n).filter(|j| *j != i).collect();
        net.add_pr(pr_config(i, &peers));
    }
    net
}

/// Registers `count` PEs from one endpoint at PR `i` (pool chosen by ID).
fn populate(net: &mut Net, i: usize, octet: u8, first_id: u32, count: u32) -> (usize, u64) {
    let k = net.add_endpoint(octet);
    let a = net.connect(k, i);
    let ip = net.ip(k);
    for id in first_id..first_id + count {
        let pool = format!("pool-{}", id % 3);
        let r = net.register(k, i, a, &pool, pe_param(id, ip, Policy::RoundRobin));
        assert!(!r.reject, "{r:?}");
    }
    (k, a)
}

fn assert_converged(net: &Net, prs: &[usize]) {
    let v0 = net.view(prs[0]);
    for &i in &prs[1..] {
        assert_eq!(net.view(i), v0, "PR {i} differs from PR {}", prs[0]);
    }
    for &i in prs {
        for &j in prs {
            let hs_i = net.pr(i).handlespace();
            let hs_j = net.pr(j).handlespace();
            assert_eq!(hs_i.owner_checksum(pr_id(j)), hs_j.owner_checksum(pr_id(j)));
        }
    }
}

#[test]
fn three_registrars_converge() {
    let mut net = chain(3);
    net.advance(secs(1));
    for i in 0..3 {
        assert_eq!(net.pr(i).peers().count(), 2, "PR {i} knows both others");
    }
    assert_eq!(net.enrp_link_count(), 3);
    populate(&mut net, 0, 1, 100, 10);
    populate(&mut net, 1, 2, 200, 7);
    populate(&mut net, 2, 3, 300, 5);
    net.advance(secs(1));
    assert_eq!(net.view(0).len(), 22);
    assert_converged(&net, &[0, 1, 2]);
    // Homes are right.
    let hs = net.pr(2).handlespace();
    assert_eq!(hs.owner_len(pr_id(0)), 10);
    assert_eq!(hs.owner_len(pr_id(1)), 7);
    assert_eq!(hs.owner_len(pr_id(2)), 5);
    // A deregistration reaches everyone.
    let k = net.endpoints.len() - 1;
    let a = net.endpoints[k].links[0].1;
    net.send(
        k,
        2,
        a,
        rserpool_proto::wire::asap::Deregistration {
            pool_handle: PoolHandle::from("pool-0"),
            pe_id: PeId(300),
        },
    );
    assert_eq!(net.view(0).len(), 21);
    assert_converged(&net, &[0, 1, 2]);
    // Learnt entries stay while their home keeps them (lifetime refreshed
    // by audits and updates is not needed: keep-alives keep them at home,
    // and the peers keep them until the lifetime). Over a minute with
    // heartbeats nothing diverges.
    net.advance(secs(20));
    assert_converged(&net, &[0, 1, 2]);
}

#[test]
fn duplicate_associations_are_resolved() {
    let mut net = mesh(3);
    net.advance(secs(5));
    for i in 0..3 {
        assert_eq!(net.pr(i).peers().count(), 2);
    }
    // Exactly one association per pair survives.
    assert_eq!(net.enrp_link_count(), 3);
    // Static peers already connected are not redialled in a loop.
    let before = net.enrp_log.len();
    net.advance(secs(60));
    assert_eq!(net.enrp_link_count(), 3);
    let presences = net.enrp_log[before..]
        .iter()
        .filter(|(_, _, m)| matches!(m, EnrpMessage::Presence(_)))
        .count();
    // Heartbeats every 30 s to 2 peers from 3 PRs: 2 rounds.
    assert_eq!(presences, 12, "only heartbeats");
    populate(&mut net, 1, 1, 1, 4);
    assert_converged(&net, &[0, 1, 2]);
}

#[test]
fn restarted_registrar_resynchronises_from_a_mentor() {
    let mut net = chain(2);
    net.advance(secs(1));
    populate(&mut net, 0, 1, 1, 20);
    let (k1, _) = populate(&mut net, 1, 2, 100, 5);
    net.endpoints[k1].alive = false;
    assert_converged(&net, &[0, 1]);
    // PR 1 restarts before PR 0 gives it up (MAX-TIME-NO-RESPONSE 5 s).
    net.kill(1);
    net.advance(secs(2));
    net.restart(1);
    net.advance(secs(1));
    let ev = net.take_events(1);
    assert!(
        ev.contains(&Event::SyncStarted { peer: pr_id(0) }),
        "{ev:?}"
    );
    assert!(
        ev.contains(&Event::SyncCompleted {
            peer: pr_id(0),
            entries: 20
        }),
        "{ev:?}"
    );
    assert!(net.pr(1).is_synchronised());
    // The old incarnation's PEs are gone at PR 0 (checksum audit against
    // the restarted PR's empty announce), and nobody took them over.
    assert_eq!(net.pr(0).handlespace().owner_len(pr_id(1)), 0);
    assert!(
        !net.events[0]
            .iter()
            .any(|e| matches!(e, Event::TakeoverStarted { .. }))
    );
    assert_converged(&net, &[0, 1]);
    assert_eq!(net.view(1).len(), 20);
}

#[test]
fn checksum_mismatch_is_repaired_by_an_audit() {
    let mut net = chain(2);
    net.advance(secs(1));
    populate(&mut net, 1, 1, 1, 6);
    assert_converged(&net, &[0, 1]);
    // Lose PR 1's updates to PR 0 for a while: one PE added, one removed.
    net.enrp_filter = Some(Box::new(|from, _, m| {
        from == 1 && matches!(m, EnrpMessage::HandleUpdate(_))
    }));
    let k = net.endpoints.len() - 1;
    let a = net.endpoints[k].links[0].1;
    let ip = net.ip(k);
    assert!(
        !net.register(k, 1, a, "pool-0", pe_param(99, ip, Policy::RoundRobin))
            .reject
    );
    net.send(
        k,
        1,
        a,
        rserpool_proto::wire::asap::Deregistration {
            pool_handle: PoolHandle::from("pool-1"),
            pe_id: PeId(1),
        },
    );
    net.enrp_filter = None;
    assert_ne!(net.view(0), net.view(1));
    // The next heartbeat carries PR 1's checksum; PR 0 notices and asks
    // for PR 1's own PEs.
    net.advance(secs(31));
    let ev = net.take_events(0);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::ChecksumMismatch { peer, .. } if *peer == pr_id(1))),
        "{ev:?}"
    );
    let audits = net
        .enrp_log
        .iter()
        .filter(|(f, _, m)| {
            *f == 0 && matches!(m, EnrpMessage::HandleTableRequest(r) if r.own_children_only)
        })
        .count();
    assert_eq!(audits, 1);
    assert_converged(&net, &[0, 1]);
    assert!(
        net.pr(0)
            .handlespace()
            .get(&PoolHandle::from("pool-0"), PeId(99))
            .is_some()
    );
    assert!(
        net.pr(0)
            .handlespace()
            .get(&PoolHandle::from("pool-1"), PeId(1))
            .is_none()
    );
}

/// A new PR syncing from its mentor in blocks learns another peer (from
/// the mentor's list) mid-way: that peer's checksum cannot match yet, but
/// its PEs are already coming from the mentor, so it is not audited until
/// the synchronisation ends (and then its checksum matches).
#[test]
fn a_peer_met_during_the_mentor_sync_is_not_pulled_twice() {
    let mut net = Net::new();
    net.add_pr(pr_config(0, &[]));
    populate(&mut net, 0, 1, 1, 300);
    let mut mentor = pr_config(1, &[0]);
    mentor.max_elements_per_htr = 10;
    net.add_pr(mentor);
    net.advance(secs(1));
    assert_converged(&net, &[0, 1]);
    net.add_pr(pr_config(2, &[1]));
    net.advance(secs(1));
    let ev = net.take_events(2);
    assert!(
        ev.contains(&Event::SyncCompleted {
            peer: pr_id(1),
            entries: 300
        }),
        "{ev:?}"
    );
    assert!(ev.contains(&Event::PeerUp {
        peer: pr_id(0),
        conn: net.pr(2).peers().find(|(p, _)| *p == pr_id(0)).unwrap().1
    }));
    let requests = |to: usize| {
        net.enrp_log
            .iter()
            .filter(|(f, t, m)| {
                *f == 2 && *t == to && matches!(m, EnrpMessage::HandleTableRequest(_))
            })
            .count()
    };
    assert_eq!(requests(1), 30, "300 PEs in blocks of 10");
    assert_eq!(requests(0), 0, "PR 0's PEs came from the mentor");
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::ChecksumMismatch { .. })),
        "{ev:?}"
    );
    assert_converged(&net, &[0, 1, 2]);
}

#[test]
fn handle_table_sync_in_blocks_misses_and_repeats_nothing() {
    let mut net = Net::new();
    net.add_pr(pr_config(0, &[]));
    populate(&mut net, 0, 1, 1, 300);
    // Deregister a few so that slots have holes.
    let k = 0;
    let a = net.endpoints[k].links[0].1;
    for id in [5u32, 77, 130, 256] {
        net.send(
            k,
            0,
            a,
            rserpool_proto::wire::asap::Deregistration {
                pool_handle: PoolHandle::from(format!("pool-{}", id % 3).as_str()),
                pe_id: PeId(id),
            },
        );
    }
    net.add_pr(pr_config(1, &[0]));
    net.advance(secs(1));
    let responses: Vec<&enrp::HandleTableResponse> = net
        .enrp_log
        .iter()
        .filter_map(|(f, _, m)| match m {
            EnrpMessage::HandleTableResponse(r) if *f == 0 => Some(r),
            _ => None,
        })
        .collect();
    assert!(responses.len() >= 3, "{} blocks", responses.len());
    let mut seen: Vec<(PoolHandle, PeId)> = Vec::new();
    for r in &responses {
        let n: usize = r.pools.iter().map(|p| p.pool_elements.len()).sum();
        assert!(n <= 128);
        for p in &r.pools {
            for pe in &p.pool_elements {
                seen.push((p.pool_handle.clone(), pe.pe_id));
            }
        }
    }
    let (last, rest) = responses.split_last().unwrap();
    assert!(!last.more_to_send);
    assert!(rest.iter().all(|r| r.more_to_send));
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no entry sent twice");
    assert_eq!(total, 296);
    assert!(net.events[1].contains(&Event::SyncCompleted {
        peer: pr_id(0),
        entries: 296
    }));
    assert_converged(&net, &[0, 1]);
}

/// PR 0, whose takeovers reach at most `window` PEs awaiting an answer,
/// and PR 1 peered with it, both up for a second.
fn pair_with_window(window: usize) -> Net {
    let mut net = Net::new();
    let mut c = pr_config(0, &[]);
    c.takeover_reach_window = window;
    net.add_pr(c);
    net.add_pr(pr_config(1, &[0]));
    net.advance(secs(1));
    net
}

/// Advances in 10 ms steps until PR 0 completed its takeover of PR 1
/// (so the test sees the state at most one step after it).
fn advance_until_pr0_took_over_pr1(net: &mut Net) {
    let step = Duration::from_millis(10);
    let mut waited = Duration::ZERO;
    while !net.events[0]
        .iter()
        .any(|e| matches!(e, Event::TakeoverCompleted { target, .. } if *target == pr_id(1)))
    {
        assert!(waited < secs(10), "no takeover");
        net.advance(step);
        waited += step;
    }
}

fn h_keep_alives(net: &Net, k: usize, from_pr: usize) -> usize {
    net.endpoints[k]
        .inbox
        .iter()
        .filter(|(i, _, m)| {
            *i == from_pr && matches!(m, AsapMessage::EndpointKeepAlive(ka) if ka.home && ka.server_id == pr_id(from_pr))
        })
        .count()
}

#[test]
fn takeover_with_two_registrars_completes_at_once() {
    let mut net = chain(2);
    net.advance(secs(1));
    let (k, _) = populate(&mut net, 1, 1, 1, 4);
    let (k2, _) = populate(&mut net, 1, 2, 10, 2);
    populate(&mut net, 0, 3, 50, 3);
    assert_eq!(net.pr(0).handlespace().owner_len(pr_id(1)), 6);
    net.kill(1);
    assert!(net.events[0].contains(&Event::PeerDown {
        peer: pr_id(1),
        reason: PeerDownReason::AssociationLost
    }));
    net.advance(secs(4));
    assert_eq!(
        net.pr(0).handlespace().owner_len(pr_id(1)),
        6,
        "not before MAX-TIME-NO-RESPONSE"
    );
    net.advance(secs(2));
    let ev = &net.events[0];
    assert!(ev.contains(&Event::TakeoverStarted { target: pr_id(1) }));
    assert!(ev.contains(&Event::TakeoverCompleted {
        target: pr_id(1),
        pes: 6
    }));
    let hs = net.pr(0).handlespace();
    assert_eq!(hs.owner_len(pr_id(1)), 0);
    assert_eq!(hs.owner_len(pr_id(0)), 9);
    // One new association per PE endpoint, a Keep-Alive with H per PE.
    assert_eq!(h_keep_alives(&net, k, 0), 4);
    assert_eq!(h_keep_alives(&net, k2, 0), 2);
    assert_eq!(net.endpoints[k].links.len(), 1);
    assert_eq!(net.endpoints[k2].links.len(), 1);
    // The PEs answered and re-registered: they stay, kept alive by PR 0.
    net.advance(secs(30));
    let hs = net.pr(0).handlespace();
    assert_eq!(hs.owner_len(pr_id(0)), 9);
    let e = hs.get(&PoolHandle::from("pool-1"), PeId(1)).unwrap();
    assert_eq!(e.association(), Some(net.endpoints[k].links[0].1));
    assert_eq!(net.pr(0).stats().takeovers, 1);
}

/// A takeover of more PEs than may await an answer at once (the window,
/// 4,096 here): the rest are reached as earlier ones answer or time out,
/// each with its full time to answer counted from its own Keep-Alive.
#[test]
fn a_large_takeover_reaches_its_pes_a_window_at_a_time() {
    let mut net = pair_with_window(4096);
    // At most 4,096 PEs per association: two endpoints.
    let (k, _) = populate(&mut net, 1, 1, 1, 2500);
    let (k2, _) = populate(&mut net, 1, 2, 2501, 2500);
    net.kill(1);
    // The endpoints are up but answer nothing.
    net.endpoints[k].auto_ack = false;
    net.endpoints[k2].auto_ack = false;
    let sent = |net: &Net| h_keep_alives(net, k, 0) + h_keep_alives(net, k2, 0);
    net.advance(secs(6));
    assert!(net.events[0].contains(&Event::TakeoverCompleted {
        target: pr_id(1),
        pes: 5000
    }));
    assert_eq!(sent(&net), 4096);
    assert_eq!(net.pr(0).handlespace().len(), 5000);
    // The first 4,096 time out (takeover expiry plus keep-alive timeout):
    // the other 904 go then, and stay until their own time is up.
    net.advance(secs(10));
    assert_eq!(sent(&net), 5000);
    assert_eq!(net.pr(0).handlespace().len(), 904);
    net.advance(secs(11));
    assert_eq!(net.pr(0).handlespace().len(), 0);
}

/// With answering PEs, a takeover larger than the window reaches every
/// PE at once (each answer lets the next go).
#[test]
fn a_large_takeover_of_answering_pes_reaches_them_all() {
    let mut net = pair_with_window(100);
    let (k, _) = populate(&mut net, 1, 1, 1, 2500);
    let (k2, _) = populate(&mut net, 1, 2, 2501, 2500);
    net.endpoints[k].follow_home = false;
    net.endpoints[k2].follow_home = false;
    net.kill(1);
    net.advance(secs(6));
    assert_eq!(h_keep_alives(&net, k, 0) + h_keep_alives(&net, k2, 0), 5000);
    net.advance(secs(30));
    assert_eq!(net.pr(0).handlespace().owner_len(pr_id(0)), 5000);
}

/// The scope benchmark's case: more taken-over PEs than the window, many
/// PEs behind each endpoint, and the answers coming back as a runtime
/// delivers them (each association connects after its Keep-Alives are
/// queued; the Acks arrive in a later wake-up, at the same instant). Each
/// Ack lets the next Keep-Alive go: all of them leave at the takeover's
/// instant, none waits for a PE's timer.
#[test]
fn a_takeover_beyond_the_window_reaches_every_pe_on_acks_alone() {
    let mut net = pair_with_window(250);
    // 8 endpoints of 130 PEs (the window ends inside an endpoint's PEs).
    let per_endpoint = 130u32;
    let mut endpoints = Vec::new();
    for e in 0..8u32 {
        let (k, _) = populate(
            &mut net,
            1,
            10 + e as u8,
            1 + e * per_endpoint,
            per_endpoint,
        );
        // They answer but do not re-register, like the benchmark's feeder.
        net.endpoints[k].follow_home = false;
        endpoints.push(k);
    }
    let total = 8 * per_endpoint as usize;
    net.deferred = true;
    net.kill(1);
    advance_until_pr0_took_over_pr1(&mut net);
    // At most one step after the takeover: far before any PE timer (the
    // answered PEs' next Keep-Alive in 5 s, the others' timeout in 10 s).
    let sent: usize = endpoints.iter().map(|k| h_keep_alives(&net, *k, 0)).sum();
    assert_eq!(sent, total, "every Keep-Alive out at the takeover");
    let hs = net.pr(0).handlespace();
    assert_eq!(hs.owner_len(pr_id(0)), total);
    for pool in hs.pools() {
        for r in hs.pool_entries(pool) {
            assert!(
                matches!(hs.timer(r), Some((TimerKind::KeepAliveTransmission, _))),
                "{:?} is still waiting for its answer",
                hs.entry(r).map(|e| e.pe_id())
            );
        }
    }
    // Answered PEs stay, kept alive from now on.
    net.advance(secs(30));
    assert_eq!(net.pr(0).handlespace().owner_len(pr_id(0)), total);
}

/// PEs that answer the takeover's Keep-Alive by re-registering, without
/// an Ack: each registration lets the next Keep-Alive go at once, as an
/// Ack would (not only when a timer finds the window full of answered PEs).
#[test]
fn a_takeover_beyond_the_window_counts_re_registrations_as_answers() {
    let mut net = pair_with_window(50);
    let mut endpoints = Vec::new();
    for e in 0..3u32 {
        let (k, _) = populate(&mut net, 1, 20 + e as u8, 1 + e * 60, 60);
        net.endpoints[k].ack = false;
        endpoints.push(k);
    }
    net.deferred = true;
    net.kill(1);
    advance_until_pr0_took_over_pr1(&mut net);
    let sent: usize = endpoints.iter().map(|k| h_keep_alives(&net, *k, 0)).sum();
    assert_eq!(sent, 180, "every Keep-Alive out at the takeover");
    let reregistered = net.events[0]
        .iter()
        .filter(|e| matches!(e, Event::PeReregistered { .. }))
        .count();
    assert_eq!(reregistered, 180);
}

/// PEs that leave a full window without answering (here: their
/// endpoint is gone, so their associations fail) free their places at the
/// next pass over the window, which is a timer of its own: the PEs still
/// queued are reached a pass interval later, not at the next PE timeout
/// seconds away (whichever order the takeover queues the two endpoints'
/// PEs in, 70 do not fit a window of 40 without a pass).
#[test]
fn a_full_takeover_window_frees_the_places_of_pes_gone_without_an_answer() {
    let mut net = pair_with_window(40);
    let (gone, _) = populate(&mut net, 1, 30, 1, 40);
    let (silent, _) = populate(&mut net, 1, 31, 41, 30);
    net.endpoints[gone].alive = false;
    // Up, but answering nothing: only the pass frees places.
    net.endpoints[silent].auto_ack = false;
    net.kill(1);
    advance_until_pr0_took_over_pr1(&mut net);
    net.advance(Duration::from_millis(300));
    assert_eq!(h_keep_alives(&net, silent, 0), 30);
    // Every PE of the unreachable endpoint was tried and is gone; the
    // silent ones wait for their answers.
    assert_eq!(net.pr(0).handlespace().len(), 30);
}

#[test]
fn taken_over_pes_that_do_not_answer_are_removed() {
    let mut net = chain(2);
    net.advance(secs(1));
    let (k, _) = populate(&mut net, 1, 1, 1, 3);
    net.endpoints[k].alive = false;
    net.kill(1);
    net.advance(secs(6));
    assert!(net.events[0].contains(&Event::TakeoverCompleted {
        target: pr_id(1),
        pes: 3
    }));
    // The PE endpoint is unreachable: the associations fail and the PEs go.
    assert_eq!(net.pr(0).handlespace().len(), 0);
}

#[test]
fn takeover_with_three_registrars_has_one_winner() {
    let mut net = chain(3);
    net.advance(secs(1));
    let (k, _) = populate(&mut net, 2, 1, 1, 5);
    populate(&mut net, 0, 2, 100, 2);
    assert_converged(&net, &[0, 1, 2]);
    net.kill(2);
    net.advance(secs(6));
    // Both survivors noticed; the higher ID backed off, the lower won
    // (RSPLIB's rule).
    let started = |i: usize| net.events[i].contains(&Event::TakeoverStarted { target: pr_id(2) });
    let completed = |i: usize| {
        net.events[i].iter().any(
            |e| matches!(e, Event::TakeoverCompleted { target, pes: 5 } if *target == pr_id(2)),
        )
    };
    assert!(started(0) && started(1));
    assert!(completed(0), "{:?}", net.events[0]);
    assert!(!completed(1), "{:?}", net.events[1]);
    assert!(net.events[1].contains(&Event::TakeoverAbandoned { target: pr_id(2) }));
    let acks = net
        .enrp_log
        .iter()
        .filter(|(f, t, m)| *f == 1 && *t == 0 && matches!(m, EnrpMessage::InitTakeoverAck(_)))
        .count();
    assert_eq!(acks, 1);
    assert!(
        !net.enrp_log
            .iter()
            .any(|(f, _, m)| *f == 0 && matches!(m, EnrpMessage::InitTakeoverAck(_)))
    );
    assert_eq!(h_keep_alives(&net, k, 0), 5);
    assert_eq!(h_keep_alives(&net, k, 1), 0);
    net.advance(secs(2));
    assert_converged(&net, &[0, 1]);
    assert_eq!(
        net.pr(1).handlespace().owner_len(pr_id(0)),
        7,
        "5 taken over plus its own 2"
    );
    assert_eq!(net.pr(1).handlespace().owner_len(pr_id(2)), 0);
}

/// Three survivors notice the target's death at once: every one starts a
/// takeover, and PR 2 acknowledges PR 0 and then PR 1 (and PR 1, having
/// given up, acknowledges PR 2). The lowest ID, PR 0, wins; the others
/// must accept its TAKEOVER_SERVER even though another initiator was
/// acknowledged after it, and nobody takes the PEs over a second time.
#[test]
fn takeover_with_three_survivors_converges_on_the_lowest_initiator() {
    let mut net = chain(4);
    net.advance(secs(1));
    let (k, _) = populate(&mut net, 3, 1, 1, 5);
    // The PEs answer PR 0's Keep-Alives but do not re-register (like the
    // scope benchmark's PEs): only TAKEOVER_SERVER moves them at the others.
    net.endpoints[k].follow_home = false;
    populate(&mut net, 0, 2, 100, 2);
    assert_converged(&net, &[0, 1, 2, 3]);
    net.kill(3);
    net.advance(secs(6));
    for i in 0..3 {
        assert!(
            net.events[i].contains(&Event::TakeoverStarted { target: pr_id(3) }),
            "PR {i}: {:?}",
            net.events[i]
        );
    }
    // PR 2 acknowledged two initiators: the situation of the bug.
    let acked_by_2: Vec<usize> = net
        .enrp_log
        .iter()
        .filter(|(f, _, m)| *f == 2 && matches!(m, EnrpMessage::InitTakeoverAck(_)))
        .map(|(_, t, _)| *t)
        .collect();
    assert_eq!(acked_by_2, vec![0, 1]);
    assert!(net.events[0].contains(&Event::TakeoverCompleted {
        target: pr_id(3),
        pes: 5
    }));
    // No survivor refused the winner's TAKEOVER_SERVER.
    for i in 1..3 {
        assert!(
            !net.events[i]
                .iter()
                .any(|e| matches!(e, Event::ProtocolError { .. })),
            "PR {i}: {:?}",
            net.events[i]
        );
    }
    for i in 1..3 {
        assert_eq!(net.pr(i).handlespace().owner_len(pr_id(3)), 0, "PR {i}");
        assert_eq!(net.pr(i).handlespace().owner_len(pr_id(0)), 7, "PR {i}");
    }
    assert_converged(&net, &[0, 1, 2]);
    // Long after every expiry, still nobody else takes the PEs over.
    net.advance(secs(30));
    for i in 1..3 {
        assert!(
            !net.events[i]
                .iter()
                .any(|e| matches!(e, Event::TakeoverCompleted { .. })),
            "PR {i}: {:?}",
            net.events[i]
        );
    }
    assert_converged(&net, &[0, 1, 2]);
    assert_eq!(net.pr(2).handlespace().owner_len(pr_id(0)), 7);
}

#[test]
fn takeover_is_abandoned_without_acknowledgements_and_retried() {
    let mut net = chain(3);
    net.advance(secs(1));
    populate(&mut net, 2, 1, 1, 2);
    // PR 1's acknowledgements are lost.
    net.enrp_filter = Some(Box::new(|from, _, m| {
        from == 1 && matches!(m, EnrpMessage::InitTakeoverAck(_))
    }));
    net.kill(2);
    net.advance(secs(12));
    for i in 0..2 {
        assert!(net.events[i].contains(&Event::TakeoverAbandoned { target: pr_id(2) }));
        assert!(
            !net.events[i]
                .iter()
                .any(|e| matches!(e, Event::TakeoverCompleted { .. }))
        );
    }
    assert_eq!(net.pr(0).handlespace().owner_len(pr_id(2)), 2);
    // PR 1 agreed to PR 0's takeover, which did not happen: after twice
    // the takeover expiry it tries itself, and PR 0 agrees.
    net.advance(secs(10));
    assert!(net.events[1].contains(&Event::TakeoverCompleted {
        target: pr_id(2),
        pes: 2
    }));
    assert_eq!(net.pr(0).handlespace().owner_len(pr_id(1)), 2);
    assert_converged(&net, &[0, 1]);
}

#[test]
fn unresponsive_peer_is_probed_then_declared_dead() {
    let mut net = chain(2);
    net.advance(secs(1));
    populate(&mut net, 1, 1, 1, 2);
    // PR 1 goes silent without its association breaking.
    net.enrp_filter = Some(Box::new(|from, _, _| from == 1));
    net.advance(secs(60));
    assert!(net.pr(0).peers().any(|(p, _)| p == pr_id(1)));
    net.advance(secs(10));
    assert!(net.events[0].contains(&Event::PeerDown {
        peer: pr_id(1),
        reason: PeerDownReason::Timeout
    }));
    assert!(net.events[0].contains(&Event::TakeoverCompleted {
        target: pr_id(1),
        pes: 2
    }));
    // The probe was a PRESENCE with R.
    assert!(
        net.enrp_log
            .iter()
            .any(|(f, _, m)| *f == 0 && matches!(m, EnrpMessage::Presence(p) if p.reply_required))
    );
}

#[test]
fn peers_are_discovered_by_multicast_presence() {
    let mut net = Net::new();
    net.multicast = true;
    for i in 0..3 {
        let mut c = pr_config(i, &[]);
        c.announce = true;
        c.peer_heartbeat_cycle = secs(2);
        net.add_pr(c);
    }
    net.advance(secs(3));
    for i in 0..3 {
        assert_eq!(net.pr(i).peers().count(), 2, "PR {i}");
    }
    assert_eq!(net.enrp_link_count(), 3);
}

fn lone(config: Config) -> Registrar {
    Registrar::new(config, Time::from_millis(0), 1)
}

fn drain(r: &mut Registrar) -> Vec<Transmit> {
    std::iter::from_fn(|| r.poll_transmit()).collect()
}

#[test]
fn enrp_bad_input_is_answered_with_an_error() {
    let mut r = lone(pr_config(0, &[]));
    let now = Time::from_millis(1);
    let c = r.enrp_accepted(now, enrp_addr(5));
    // Unknown ENRP message type.
    let unknown = [0x55, 0, 0, 12, 0, 0, 0, 9, 0, 0, 0, 0];
    r.enrp_received(now, c, &unknown);
    let out = drain(&mut r);
    let Some(Transmit::Enrp { bytes, .. }) = out.first() else {
        panic!("{out:?}")
    };
    let m = EnrpMessage::decode(bytes, &Default::default())
        .unwrap()
        .message;
    let EnrpMessage::Error(e) = m else {
        panic!("{m:?}")
    };
    assert_eq!(e.error.causes[0].code, ErrorCauseCode::UnrecognizedMessage);
    assert_eq!(e.sender, pr_id(0));
    // A Handle Update before any PRESENCE is ignored (reported as event).
    let u = EnrpMessage::from(enrp::HandleUpdate {
        takeover_suggested: false,
        sender: ServerId(9),
        receiver: pr_id(0),
        action: UpdateAction::AddPe,
        pool_handle: PoolHandle::from("x"),
        pool_element: pe_param(1, "10.1.1.1".parse().unwrap(), Policy::RoundRobin),
    });
    r.enrp_received(now, c, &u.to_bytes().expect("encodes"));
    assert!(r.handlespace().is_empty());
    // Broken framing: the association is closed.
    r.enrp_received(now, c, &[1, 0, 0, 200, 0]);
    let out = drain(&mut r);
    assert!(out.contains(&Transmit::CloseEnrp { conn: c }), "{out:?}");
    let ev: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    let closed = ev
        .iter()
        .filter(|e| matches!(e, Event::ProtocolError { closed: true, .. }))
        .count();
    assert_eq!(closed, 1);
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::ProtocolError { .. }))
            .count(),
        3
    );
}

#[test]
fn presence_from_a_new_peer_is_answered_and_audited() {
    let mut r = lone(pr_config(0, &[]));
    let now = Time::from_millis(1);
    let c = r.enrp_accepted(now, enrp_addr(5));
    let p = EnrpMessage::from(enrp::Presence {
        reply_required: true,
        sender: ServerId(77),
        receiver: ServerId(0),
        checksum: Some(0x1234),
        server_info: rserpool_proto::wire::ServerInformation {
            server_id: ServerId(77),
            transport: tcp(enrp_addr(5).ip(), 9901),
        },
    });
    r.enrp_received(now, c, &p.to_bytes().expect("encodes"));
    assert_eq!(r.peers().collect::<Vec<_>>(), vec![(ServerId(77), c)]);
    let msgs: Vec<EnrpMessage> = drain(&mut r)
        .into_iter()
        .filter_map(|t| match t {
            Transmit::Enrp { bytes, .. } => Some(
                EnrpMessage::decode(&bytes, &Default::default())
                    .unwrap()
                    .message,
            ),
            _ => None,
        })
        .collect();
    // Mentor sync request, list request, the Presence reply.
    assert!(
        msgs.iter()
            .any(|m| matches!(m, EnrpMessage::HandleTableRequest(h) if !h.own_children_only))
    );
    assert!(
        msgs.iter()
            .any(|m| matches!(m, EnrpMessage::ListRequest(_)))
    );
    assert!(msgs.iter().any(
        |m| matches!(m, EnrpMessage::Presence(p) if !p.reply_required && p.receiver == ServerId(77))
    ));
}

#[test]
fn handle_table_blocks_stay_below_the_message_size_limit() {
    let mut c = pr_config(0, &[]);
    c.max_elements_per_htr = 100_000;
    let mut net = Net::new();
    net.add_pr(c);
    populate(&mut net, 0, 1, 1, 2000);
    net.add_pr(pr_config(1, &[0]));
    net.advance(secs(1));
    let sizes: Vec<usize> = net
        .enrp_log
        .iter()
        .filter(|(f, _, m)| *f == 0 && matches!(m, EnrpMessage::HandleTableResponse(_)))
        .map(|(_, _, m)| m.encoded_len())
        .collect();
    assert!(sizes.len() >= 2, "{sizes:?}");
    assert!(sizes.iter().all(|s| *s <= 65535), "{sizes:?}");
    assert!(net.events[1].contains(&Event::SyncCompleted {
        peer: pr_id(0),
        entries: 2000
    }));
    assert_converged(&net, &[0, 1]);
}

#[test]
fn learnt_entries_live_by_their_lifetime_and_updates_refresh_them() {
    let mut net = Net::new();
    for i in 0..2 {
        let mut c = pr_config(i, if i == 0 { &[] } else { &[0] });
        // No heartbeat (hence no audit) during the first 100 s.
        c.peer_heartbeat_cycle = secs(100);
        c.max_time_last_heard = secs(1000);
        net.add_pr(c);
    }
    net.advance(secs(1));
    let k = net.add_endpoint(1);
    let a = net.connect(k, 1);
    let ip = net.ip(k);
    let mut short = pe_param(1, ip, Policy::RoundRobin);
    short.registration_life = 30_000;
    assert!(!net.register(k, 1, a, "p", short.clone()).reject);
    let mut other = pe_param(2, ip, Policy::RoundRobin);
    other.registration_life = 30_000;
    assert!(!net.register(k, 1, a, "p", other).reject);
    // PE 1 re-registers every 20 s, PE 2 never does.
    for _ in 0..4 {
        net.advance(secs(20));
        assert!(!net.register(k, 1, a, "p", short.clone()).reject);
    }
    let hs0 = net.pr(0).handlespace();
    assert!(hs0.get(&PoolHandle::from("p"), PeId(1)).is_some());
    assert!(
        hs0.get(&PoolHandle::from("p"), PeId(2)).is_none(),
        "expired at the peer"
    );
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        Event::PeRemoved {
            pe: PeId(2),
            reason: rserpool_proto::registrar::RemovalReason::LifetimeExpired,
            ..
        }
    )));
    // Its home keeps it (kept alive), so the audit brings it back.
    assert!(
        net.pr(1)
            .handlespace()
            .get(&PoolHandle::from("p"), PeId(2))
            .is_some()
    );
    net.advance(secs(21));
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, Event::ChecksumMismatch { .. }))
    );
    assert!(
        net.pr(0)
            .handlespace()
            .get(&PoolHandle::from("p"), PeId(2))
            .is_some()
    );
}

#[test]
fn association_loss_at_the_home_reaches_the_peers() {
    let mut net = chain(3);
    net.advance(secs(1));
    let (k, a) = populate(&mut net, 1, 1, 1, 4);
    populate(&mut net, 2, 2, 10, 1);
    assert_eq!(net.view(0).len(), 5);
    net.disconnect(k, 1, a);
    assert_eq!(net.view(0).len(), 1);
    assert_converged(&net, &[0, 1, 2]);
}

#[test]
fn announces_start_once_synchronised() {
    let mut net = Net::new();
    let mut c = pr_config(0, &[]);
    c.announce = true;
    net.add_pr(c);
    let mut c = pr_config(1, &[0]);
    c.announce = true;
    net.add_pr(c);
    net.advance(secs(1));
    let asap_announces = net
        .announces
        .iter()
        .filter(|(i, t)| *i == 1 && matches!(t, Transmit::AnnounceAsap { .. }))
        .count();
    assert_eq!(asap_announces, 1, "PR 1 synchronised at once and announces");
}

#[test]
fn multicast_presence_leads_to_a_connection_only_when_taking_part_in_discovery() {
    let mut cfg = pr_config(0, &[]);
    cfg.announce = true;
    let mut r = lone(cfg);
    let now = Time::from_millis(1);
    // Garbage by multicast: reported, nothing sent.
    r.enrp_announce_received(now, enrp_addr(3), &[1, 2, 3]);
    assert!(drain(&mut r).is_empty());
    let ev: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(matches!(
        ev.as_slice(),
        [Event::ProtocolError {
            from: rserpool_proto::registrar::Source::Announce,
            ..
        }]
    ));
    // A PR announcing an unspecified address is reached at the sender's.
    let p = EnrpMessage::from(enrp::Presence {
        reply_required: false,
        sender: ServerId(9),
        receiver: ServerId(0),
        checksum: None,
        server_info: rserpool_proto::wire::ServerInformation {
            server_id: ServerId(9),
            transport: tcp("0.0.0.0".parse().unwrap(), 9999),
        },
    });
    r.enrp_announce_received(now, enrp_addr(3), &p.to_bytes().expect("encodes"));
    let out = drain(&mut r);
    let [Transmit::ConnectEnrp { conn, to }] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(*to, std::net::SocketAddr::new(enrp_addr(3).ip(), 9999));
    assert_eq!(r.conn_address(*conn), Some(*to));
    // Announced again while connecting: no second connection.
    r.enrp_announce_received(now, enrp_addr(3), &p.to_bytes().expect("encodes"));
    assert!(drain(&mut r).is_empty());
    // A registrar that does not announce joins no scope by multicast.
    let mut quiet = lone(pr_config(0, &[]));
    quiet.enrp_announce_received(now, enrp_addr(3), &p.to_bytes().expect("encodes"));
    assert!(drain(&mut quiet).is_empty());
}

#[test]
fn init_takeover_of_a_live_peer_is_not_acknowledged() {
    let mut net = chain(3);
    net.advance(secs(1));
    populate(&mut net, 2, 1, 1, 2);
    // PR 0 loses PR 2, PR 1 still hears it: PR 1 refuses, PR 0 gives up.
    net.enrp_filter = Some(Box::new(|from, to, _| {
        (from == 2 && to == 0) || (from == 0 && to == 2)
    }));
    // Probe after 61 s, dead 5 s later, abandoned 5 s after that.
    net.advance(secs(80));
    assert!(net.events[0].contains(&Event::TakeoverStarted { target: pr_id(2) }));
    assert!(net.events[0].contains(&Event::TakeoverAbandoned { target: pr_id(2) }));
    assert!(
        !net.enrp_log
            .iter()
            .any(|(_, _, m)| matches!(m, EnrpMessage::InitTakeoverAck(_)))
    );
    assert_eq!(net.pr(1).handlespace().owner_len(pr_id(2)), 2);
    assert_eq!(net.pr(2).handlespace().owner_len(pr_id(2)), 2);
}

#[test]
fn static_peers_are_redialled_with_backoff() {
    let mut net = Net::new();
    net.add_pr(pr_config(0, &[1]));
    // PR 1 does not exist yet: dialling fails, again after 1, 2, 4, 8 s...
    net.advance(secs(20));
    assert_eq!(net.pr(0).peers().count(), 0);
    net.add_pr(pr_config(1, &[]));
    net.advance(secs(20));
    assert_eq!(net.pr(0).peers().count(), 1);
    assert_eq!(net.pr(1).peers().count(), 1);
    // After the peer is lost, dialling starts over.
    net.kill(1);
    net.restart(1);
    net.advance(secs(2));
    assert_eq!(net.pr(0).peers().count(), 1);
}

#[test]
fn shutdown_closes_everything_and_goes_quiet() {
    let mut net = chain(2);
    net.advance(secs(1));
    let (k, a) = populate(&mut net, 1, 1, 1, 2);
    let now = net.now;
    net.pr_mut(1).shutdown(now);
    net.pump();
    assert!(net.endpoints[k].aborted.contains(&(1, a)));
    assert_eq!(net.enrp_link_count(), 0);
    assert_eq!(net.pr(1).poll_timeout(), None);
    assert!(net.events[0].contains(&Event::PeerDown {
        peer: pr_id(1),
        reason: PeerDownReason::AssociationLost
    }));
}

/// Random registrations, deregistrations and association losses at three
/// PRs while 10 % of the Handle Updates are lost: after one heartbeat
/// cycle, every PR holds exactly the live PEs, with the right homes.
#[test]
fn random_churn_with_lost_updates_converges() {
    use std::cell::Cell;
    use std::collections::BTreeMap;
    use std::rc::Rc;

    let mut net = mesh(3);
    net.advance(secs(1));
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let drop_seed = Rc::new(Cell::new(12345u64));
    let ds = drop_seed.clone();
    net.enrp_filter = Some(Box::new(move |_, _, m| {
        if !matches!(m, EnrpMessage::HandleUpdate(_)) {
            return false;
        }
        let mut v = ds.get();
        v ^= v << 13;
        v ^= v >> 7;
        v ^= v << 17;
        ds.set(v);
        v % 10 == 0
    }));
    // Endpoint k lives at PR k % 3.
    let mut links = Vec::new();
    for k in 0..6u8 {
        let e = net.add_endpoint(k + 1);
        let a = net.connect(e, usize::from(k) % 3);
        links.push((e, usize::from(k) % 3, a));
    }
    // (pool, PE ID) -> (endpoint index, home PR).
    let mut live: BTreeMap<(String, u32), (usize, usize)> = BTreeMap::new();
    for step in 0..300u32 {
        let idx = rnd(6) as usize;
        let (e, pr, a) = links[idx];
        match rnd(10) {
            0..=5 => {
                let pool = format!("pool-{}", rnd(4));
                let id = 1000 * (idx as u32 + 1) + rnd(40) as u32;
                // The PE ID belongs to this endpoint only.
                if live
                    .get(&(pool.clone(), id))
                    .is_some_and(|(o, _)| *o != idx)
                {
                    continue;
                }
                let ip = net.ip(e);
                let mut pe = pe_param(id, ip, Policy::RoundRobin);
                pe.registration_life = 3_600_000;
                let r = net.register(e, pr, a, &pool, pe);
                assert!(!r.reject, "step {step}: {r:?}");
                live.insert((pool, id), (idx, pr));
            }
            6..=7 => {
                let mine: Vec<(String, u32)> = live
                    .iter()
                    .filter(|(_, (o, _))| *o == idx)
                    .map(|(k, _)| k.clone())
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let (pool, id) = mine[rnd(mine.len() as u64) as usize].clone();
                net.send(
                    e,
                    pr,
                    a,
                    rserpool_proto::wire::asap::Deregistration {
                        pool_handle: PoolHandle::from(pool.as_str()),
                        pe_id: PeId(id),
                    },
                );
                net.take_inbox(e);
                live.remove(&(pool, id));
            }
            8 => {
                // The endpoint loses its association and comes back empty.
                net.disconnect(e, pr, a);
                live.retain(|_, (o, _)| *o != idx);
                net.endpoints[e].registrations.clear();
                let a = net.connect(e, pr);
                links[idx] = (e, pr, a);
            }
            _ => net.advance(Duration::from_millis(rnd(3000))),
        }
        net.take_inbox(e);
    }
    net.enrp_filter = None;
    net.advance(secs(35));
    let mut expected: Vec<(PoolHandle, PeId, ServerId)> = live
        .iter()
        .map(|((pool, id), (_, pr))| (PoolHandle::from(pool.as_str()), PeId(*id), pr_id(*pr)))
        .collect();
    expected.sort();
    assert!(expected.len() > 20, "{} live PEs", expected.len());
    for i in 0..3 {
        assert_eq!(net.view(i), expected, "PR {i}");
    }
    assert_converged(&net, &[0, 1, 2]);
    let audits: usize = (0..3)
        .map(|i| {
            net.events[i]
                .iter()
                .filter(|e| matches!(e, Event::ChecksumMismatch { .. }))
                .count()
        })
        .sum();
    assert!(audits > 0, "lost updates were repaired by audits");
}

/// A registrar with one scripted peer (ID 77) on an accepted association.
fn with_fake_peer() -> (Registrar, rserpool_proto::registrar::ConnId) {
    let mut r = lone(pr_config(0, &[]));
    let now = Time::from_millis(1);
    let c = r.enrp_accepted(now, enrp_addr(5));
    let p = EnrpMessage::from(enrp::Presence {
        reply_required: true,
        sender: ServerId(77),
        receiver: ServerId(0),
        checksum: None,
        server_info: rserpool_proto::wire::ServerInformation {
            server_id: ServerId(77),
            transport: tcp(enrp_addr(5).ip(), 9901),
        },
    });
    r.enrp_received(now, c, &p.to_bytes().expect("encodes"));
    drain(&mut r);
    while r.poll_event().is_some() {}
    (r, c)
}

fn update(action: UpdateAction, id: u32, home: ServerId) -> EnrpMessage {
    let mut pe = pe_param(
        id,
        std::net::Ipv4Addr::new(10, 9, 9, 9).into(),
        Policy::RoundRobin,
    );
    pe.home_server_id = home;
    enrp::HandleUpdate {
        takeover_suggested: false,
        sender: ServerId(77),
        receiver: pr_id(0),
        action,
        pool_handle: PoolHandle::from("p"),
        pool_element: pe,
    }
    .into()
}

#[test]
fn handle_updates_from_a_peer() {
    let (mut r, c) = with_fake_peer();
    let now = Time::from_millis(2);
    r.enrp_received(
        now,
        c,
        &update(UpdateAction::AddPe, 1, ServerId(77))
            .to_bytes()
            .expect("encodes"),
    );
    let hs = r.handlespace();
    let pe = hs.find(&PoolHandle::from("p"), PeId(1)).unwrap();
    let e = hs.entry(pe).unwrap();
    assert_eq!(e.home(), ServerId(77));
    assert_eq!(e.association(), None);
    // Its lifetime (300 s) runs: the entry has an expiry timer.
    assert!(
        matches!(hs.timer(pe), Some((rserpool_proto::handlespace::TimerKind::LifetimeExpiry, t)) if t == now + secs(300))
    );
    // A peer may not claim that we are the home of a PE we do not have.
    r.enrp_received(
        now,
        c,
        &update(UpdateAction::AddPe, 2, pr_id(0))
            .to_bytes()
            .expect("encodes"),
    );
    assert!(
        r.handlespace()
            .get(&PoolHandle::from("p"), PeId(2))
            .is_none()
    );
    // A peer speaks only for the PEs it is the home of: an update naming
    // another home is ignored (the new home itself sends it when a PE
    // moves), and so is a deletion of another PR's PE.
    r.enrp_received(
        now,
        c,
        &update(UpdateAction::AddPe, 1, ServerId(88))
            .to_bytes()
            .expect("encodes"),
    );
    assert_eq!(r.handlespace().owner_len(ServerId(88)), 0);
    assert_eq!(r.handlespace().owner_len(ServerId(77)), 1);
    // PE 3 of peer 88 (another association, another host).
    let c88 = r.enrp_accepted(now, enrp_addr(6));
    let p88 = EnrpMessage::from(enrp::Presence {
        reply_required: false,
        sender: ServerId(88),
        receiver: ServerId(0),
        checksum: None,
        server_info: rserpool_proto::wire::ServerInformation {
            server_id: ServerId(88),
            transport: tcp(enrp_addr(6).ip(), 9901),
        },
    });
    r.enrp_received(now, c88, &p88.to_bytes().expect("encodes"));
    let EnrpMessage::HandleUpdate(mut u88) = update(UpdateAction::AddPe, 3, ServerId(88)) else {
        unreachable!()
    };
    u88.sender = ServerId(88);
    r.enrp_received(
        now,
        c88,
        &EnrpMessage::from(u88).to_bytes().expect("encodes"),
    );
    assert_eq!(r.handlespace().owner_len(ServerId(88)), 1);
    drain(&mut r);
    r.enrp_received(
        now,
        c,
        &update(UpdateAction::DelPe, 3, ServerId(88))
            .to_bytes()
            .expect("encodes"),
    );
    assert_eq!(r.handlespace().len(), 2, "not its PE to delete");
    r.enrp_received(
        now,
        c,
        &update(UpdateAction::DelPe, 1, ServerId(77))
            .to_bytes()
            .expect("encodes"),
    );
    assert_eq!(r.handlespace().len(), 1);
    // Nothing of this is sent back.
    assert!(drain(&mut r).is_empty());
}

#[test]
fn enrp_skip_and_report_parameters_are_reported_and_the_message_processed() {
    let (mut r, c) = with_fake_peer();
    let now = Time::from_millis(2);
    let mut m = update(UpdateAction::AddPe, 1, ServerId(77))
        .to_bytes()
        .expect("encodes");
    m.extend_from_slice(&[0xc0, 0x42, 0, 6, 1, 2, 0, 0]);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    r.enrp_received(now, c, &m);
    assert_eq!(r.handlespace().len(), 1, "processed");
    let out = drain(&mut r);
    let [Transmit::Enrp { bytes, .. }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let EnrpMessage::Error(e) = EnrpMessage::decode(bytes, &Default::default())
        .unwrap()
        .message
    else {
        panic!()
    };
    assert_eq!(e.receiver, ServerId(77));
    assert_eq!(
        e.error.causes[0].code,
        ErrorCauseCode::UnrecognizedParameter
    );
    assert_eq!(e.error.causes[0].info, [0xc0, 0x42, 0, 6, 1, 2]);
}

#[test]
fn an_association_that_never_presents_itself_is_closed() {
    let mut r = lone(pr_config(0, &[]));
    let c = r.enrp_accepted(Time::from_millis(10), enrp_addr(5));
    // (At 5 s the mentor discovery ends.)
    r.handle_timeout(Time::from_millis(5_000));
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.poll_timeout(), Some(Time::from_millis(5_010)));
    r.handle_timeout(Time::from_millis(5_010));
    assert_eq!(drain(&mut r), vec![Transmit::CloseEnrp { conn: c }]);
    let ev: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(
        matches!(ev.as_slice(), [Event::ProtocolError { closed: true, .. }]),
        "{ev:?}"
    );
    // Messages on it afterwards are not processed.
    r.enrp_received(Time::from_millis(5_011), c, &[1, 0, 0, 4]);
    assert!(drain(&mut r).is_empty());
}

/// Each PR in turn crashes and restarts: no PE is ever lost, and after
/// each round all three PRs agree.
#[test]
fn rolling_crashes_lose_no_pe() {
    let mut net = mesh(3);
    net.advance(secs(1));
    let mut total = 0;
    for i in 0..3 {
        for e in 0..2u8 {
            populate(
                &mut net,
                i,
                10 * i as u8 + e + 1,
                1000 * (2 * i as u32 + u32::from(e)) + 1,
                5,
            );
            total += 5;
        }
    }
    assert_converged(&net, &[0, 1, 2]);
    for round in 0..3 {
        let victim = (round + 1) % 3;
        let others: Vec<usize> = (0..3).filter(|i| *i != victim).collect();
        net.kill(victim);
        net.advance(secs(8));
        for &i in &others {
            let v = net.view(i);
            assert_eq!(v.len(), total, "round {round}: PR {i}");
            assert!(
                v.iter().all(|(_, _, home)| *home != pr_id(victim)),
                "round {round}"
            );
        }
        assert_converged(&net, &others);
        net.restart(victim);
        net.advance(secs(35));
        assert_converged(&net, &[0, 1, 2]);
        assert_eq!(net.view(victim).len(), total, "round {round}");
        // Every PE is kept alive by its (new) home over a live association.
        for i in 0..3 {
            let hs = net.pr(i).handlespace();
            for r in hs.owner_entries(pr_id(i)) {
                assert!(hs.entry(r).and_then(|e| e.association()).is_some());
            }
        }
    }
}

/// Entries learnt from a peer are reported as events, new or updated.
#[test]
fn learnt_entries_are_reported() {
    let (mut r, c) = with_fake_peer();
    let now = Time::from_millis(2);
    let add = update(UpdateAction::AddPe, 1, ServerId(77))
        .to_bytes()
        .expect("encodes");
    r.enrp_received(now, c, &add);
    r.enrp_received(now, c, &add);
    let ev: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    let learnt = |updated| Event::PeLearned {
        pool: PoolHandle::from("p"),
        pe: PeId(1),
        home: ServerId(77),
        updated,
    };
    assert_eq!(ev, vec![learnt(false), learnt(true)]);
}

/// A takeover reports the home change of each PE it moves.
#[test]
fn takeover_reports_each_home_change() {
    let mut net = chain(2);
    net.advance(secs(1));
    populate(&mut net, 1, 1, 1, 4);
    populate(&mut net, 0, 3, 50, 3);
    net.kill(1);
    net.advance(secs(6));
    let moved: Vec<PeId> = net.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::PeHomeChanged { pe, from, to, .. } if *from == pr_id(1) && *to == pr_id(0) => {
                Some(*pe)
            }
            _ => None,
        })
        .collect();
    let mut moved = moved;
    moved.sort_unstable();
    assert_eq!(moved, (1..=4).map(PeId).collect::<Vec<_>>());
}
