//! Registrar ASAP server side, through the in-memory network.

use crate::registrar_net as net;

use net::*;
use rserpool_proto::registrar::{Event, RemovalReason};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{ErrorCauseCode, PeId, Policy, PoolHandle};

fn one_pr() -> Net {
    let mut net = Net::new();
    net.add_pr(pr_config(0, &[]));
    net
}

#[test]
fn register_resolve_deregister() {
    let mut net = one_pr();
    let mut pes = Vec::new();
    for n in 1..=4u8 {
        let k = net.add_endpoint(n);
        let a = net.connect(k, 0);
        let ip = net.ip(k);
        let r = net.register(
            k,
            0,
            a,
            "echo",
            pe_param(u32::from(n), ip, Policy::RoundRobin),
        );
        assert!(!r.reject, "{r:?}");
        assert_eq!(r.pe_id, PeId(u32::from(n)));
        pes.push((k, a));
    }
    assert_eq!(
        net.pr(0).handlespace().pool_len(&PoolHandle::from("echo")),
        4
    );
    let pu = net.add_endpoint(100);
    let pa = net.connect(pu, 0);
    // Default: at most max_hres_items (3).
    let r = net.resolve(pu, 0, pa, "echo", None).unwrap();
    assert_eq!(r.pool_elements.len(), 3);
    assert_eq!(r.policy, Some(Policy::RoundRobin));
    assert!(r.error.is_none());
    // Round robin: the first choice moves on each time.
    let firsts: Vec<PeId> = (0..4)
        .map(|_| {
            net.resolve(pu, 0, pa, "echo", Some(1))
                .unwrap()
                .pool_elements[0]
                .pe_id
        })
        .collect();
    let mut sorted = firsts.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 4, "round robin visits every PE: {firsts:?}");
    // Asking for more than the maximum is capped.
    let r = net.resolve(pu, 0, pa, "echo", Some(100)).unwrap();
    assert_eq!(r.pool_elements.len(), 3);
    // The PEs carry their home and their transport.
    for pe in &r.pool_elements {
        assert_eq!(pe.home_server_id, pr_id(0));
        assert!(pe.asap_transport.is_none());
    }

    for (n, (k, a)) in pes.iter().enumerate() {
        net.send(
            *k,
            0,
            *a,
            asap::Deregistration {
                pool_handle: PoolHandle::from("echo"),
                pe_id: PeId(n as u32 + 1),
            },
        );
        let inbox = net.take_inbox(*k);
        assert!(inbox.iter().any(|(_, _, m)| matches!(m,
            AsapMessage::DeregistrationResponse(d) if d.error.is_none() && d.pe_id == PeId(n as u32 + 1))));
    }
    let r = net.resolve(pu, 0, pa, "echo", None).unwrap();
    assert!(r.pool_elements.is_empty());
    assert_eq!(
        r.error.unwrap().causes[0].code,
        ErrorCauseCode::UnknownPoolHandle
    );
    let removed = net.events[0]
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::PeRemoved {
                    reason: RemovalReason::Deregistered,
                    ..
                }
            )
        })
        .count();
    assert_eq!(removed, 4);
}

#[test]
fn deregistration_only_by_the_registering_association() {
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    assert!(
        !net.register(k, 0, a, "p", pe_param(7, ip, Policy::RoundRobin))
            .reject
    );
    let other = net.add_endpoint(2);
    let b = net.connect(other, 0);
    net.send(
        other,
        0,
        b,
        asap::Deregistration {
            pool_handle: PoolHandle::from("p"),
            pe_id: PeId(7),
        },
    );
    let inbox = net.take_inbox(other);
    let Some((_, _, AsapMessage::DeregistrationResponse(d))) = inbox.first() else {
        panic!("{inbox:?}")
    };
    assert_eq!(
        d.error.as_ref().unwrap().causes[0].code,
        ErrorCauseCode::RejectionDueToSecurity
    );
    assert_eq!(net.pr(0).handlespace().len(), 1);
    // Unknown PE: answered positively.
    net.send(
        other,
        0,
        b,
        asap::Deregistration {
            pool_handle: PoolHandle::from("p"),
            pe_id: PeId(8),
        },
    );
    let inbox = net.take_inbox(other);
    assert!(matches!(&inbox[0].2, AsapMessage::DeregistrationResponse(d) if d.error.is_none()));
}

#[test]
fn reregistration_updates_the_entry() {
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    assert!(
        !net.register(
            k,
            0,
            a,
            "lu",
            pe_param(1, ip, Policy::LeastUsed { load: 10 })
        )
        .reject
    );
    let mut pe = pe_param(1, ip, Policy::LeastUsed { load: 99 });
    pe.registration_life = 60_000;
    assert!(!net.register(k, 0, a, "lu", pe).reject);
    let e = net
        .pr(0)
        .handlespace()
        .get(&PoolHandle::from("lu"), PeId(1))
        .unwrap();
    assert_eq!(e.policy(), Policy::LeastUsed { load: 99 });
    assert_eq!(e.lifetime_ms(), 60_000);
    assert_eq!(e.home(), pr_id(0));
    assert!(
        net.events[0]
            .iter()
            .any(|e| matches!(e, Event::PeReregistered { pe: PeId(1), .. }))
    );
}

#[test]
fn unspecified_address_is_filled_from_the_association() {
    let mut net = one_pr();
    let k = net.add_endpoint(9);
    let a = net.connect(k, 0);
    let pe = pe_param(1, "0.0.0.0".parse().unwrap(), Policy::Random);
    assert!(!net.register(k, 0, a, "p", pe).reject);
    let e = net
        .pr(0)
        .handlespace()
        .get(&PoolHandle::from("p"), PeId(1))
        .unwrap();
    assert_eq!(e.transport().addresses(), &[net.ip(k)]);
    assert_eq!(e.asap_transport().unwrap().addresses(), &[net.ip(k)]);
}

#[test]
fn inconsistent_registrations_are_rejected_with_the_right_cause() {
    use rserpool_proto::wire::{CauseInfo, Parameter, TransportParam, TransportUse};
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    assert!(
        !net.register(k, 0, a, "p", pe_param(1, ip, Policy::RoundRobin))
            .reject
    );

    let r = net.register(k, 0, a, "p", pe_param(2, ip, Policy::LeastUsed { load: 1 }));
    assert!(r.reject);
    let cause = &r.error.as_ref().unwrap().causes[0];
    assert_eq!(cause.code, ErrorCauseCode::InconsistentPoolingPolicy);
    // The info is the offending policy parameter.
    match cause.decode_info(rserpool_proto::wire::Protocol::Asap, &Default::default()) {
        Ok(CauseInfo::Parameter(Parameter::PoolMemberSelectionPolicy(p))) => {
            assert_eq!(p, Policy::LeastUsed { load: 1 })
        }
        other => panic!("{other:?}"),
    }

    let mut pe = pe_param(3, ip, Policy::RoundRobin);
    pe.user_transport = TransportParam::Udp {
        port: 1,
        address: ip,
    };
    let r = net.register(k, 0, a, "p", pe);
    assert!(r.reject);
    assert_eq!(
        r.error.unwrap().causes[0].code,
        ErrorCauseCode::InconsistentTransportType
    );

    let mut pe = pe_param(4, ip, Policy::RoundRobin);
    pe.user_transport = TransportParam::Tcp {
        port: 7000,
        transport_use: TransportUse::DataPlusControl,
        address: ip,
    };
    let r = net.register(k, 0, a, "p", pe);
    assert_eq!(
        r.error.unwrap().causes[0].code,
        ErrorCauseCode::InconsistentDataControlConfiguration
    );

    // The same PE ID from another association with another transport.
    let other = net.add_endpoint(2);
    let b = net.connect(other, 0);
    let oip = net.ip(other);
    let r = net.register(other, 0, b, "p", pe_param(1, oip, Policy::RoundRobin));
    assert!(r.reject);
    assert_eq!(
        r.error.unwrap().causes[0].code,
        ErrorCauseCode::NonUniquePeId
    );

    let mut pe = pe_param(5, ip, Policy::RoundRobin);
    pe.registration_life = -1;
    let r = net.register(k, 0, a, "p", pe);
    assert_eq!(
        r.error.unwrap().causes[0].code,
        ErrorCauseCode::InvalidValues
    );
    let long = "x".repeat(rserpool_proto::registrar::MAX_POOL_HANDLE_LEN + 1);
    let r = net.register(k, 0, a, &long, pe_param(6, ip, Policy::RoundRobin));
    assert_eq!(
        r.error.unwrap().causes[0].code,
        ErrorCauseCode::InvalidValues
    );

    assert_eq!(net.pr(0).handlespace().len(), 1);
    let st = net.pr(0).stats();
    assert_eq!(st.errors_by_cause[5], 1);
    assert_eq!(st.errors_by_cause[7], 1);
    assert_eq!(st.errors_by_cause[8], 1);
    assert_eq!(st.errors_by_cause[4], 1);
    assert_eq!(st.errors_by_cause[3], 2, "{:?}", st.errors_by_cause);
}

#[test]
fn lack_of_resources_when_full() {
    let mut cfg = pr_config(0, &[]);
    cfg.handlespace.max_pes_total = 2;
    let mut net = Net::new();
    net.add_pr(cfg);
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    for id in 1..=2 {
        assert!(
            !net.register(k, 0, a, "p", pe_param(id, ip, Policy::RoundRobin))
                .reject
        );
    }
    let r = net.register(k, 0, a, "p", pe_param(3, ip, Policy::RoundRobin));
    assert_eq!(
        r.error.unwrap().causes[0].code,
        ErrorCauseCode::LackOfResources
    );
}

fn keep_alives(inbox: &[(usize, u64, AsapMessage)]) -> usize {
    inbox
        .iter()
        .filter(|(_, _, m)| matches!(m, AsapMessage::EndpointKeepAlive(_)))
        .count()
}

#[test]
fn answered_keep_alives_keep_the_pe() {
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    assert!(
        !net.register(k, 0, a, "p", pe_param(1, ip, Policy::RoundRobin))
            .reject
    );
    net.advance(secs(60));
    let inbox = net.take_inbox(k);
    // One every 5 s.
    let n = keep_alives(&inbox);
    assert!((11..=12).contains(&n), "{n} keep-alives");
    let AsapMessage::EndpointKeepAlive(ka) = &inbox[0].2 else {
        panic!("{inbox:?}")
    };
    assert_eq!(ka.server_id, pr_id(0));
    assert_eq!(ka.pe_id, Some(PeId(1)));
    assert!(!ka.home);
    assert_eq!(net.pr(0).handlespace().len(), 1);
}

#[test]
fn unanswered_keep_alive_removes_the_pe() {
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    net.endpoints[k].auto_ack = false;
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    assert!(
        !net.register(k, 0, a, "p", pe_param(1, ip, Policy::RoundRobin))
            .reject
    );
    net.advance(secs(9));
    assert_eq!(
        net.pr(0).handlespace().len(),
        1,
        "the timeout is 5 s after the 5 s keep-alive"
    );
    net.advance(secs(2));
    assert_eq!(net.pr(0).handlespace().len(), 0);
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        Event::PeRemoved {
            reason: RemovalReason::KeepAliveTimeout,
            pe: PeId(1),
            ..
        }
    )));
    assert_eq!(keep_alives(&net.take_inbox(k)), 1);
}

#[test]
fn association_loss_removes_its_pes_only() {
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    for id in 1..=3 {
        assert!(
            !net.register(k, 0, a, "p", pe_param(id, ip, Policy::RoundRobin))
                .reject
        );
    }
    let k2 = net.add_endpoint(2);
    let b = net.connect(k2, 0);
    let ip2 = net.ip(k2);
    assert!(
        !net.register(k2, 0, b, "p", pe_param(9, ip2, Policy::RoundRobin))
            .reject
    );
    net.disconnect(k, 0, a);
    assert_eq!(net.pr(0).handlespace().len(), 1);
    assert!(
        net.pr(0)
            .handlespace()
            .get(&PoolHandle::from("p"), PeId(9))
            .is_some()
    );
    let lost = net.events[0]
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::PeRemoved {
                    reason: RemovalReason::AssociationLost,
                    ..
                }
            )
        })
        .count();
    assert_eq!(lost, 3);
}

#[test]
fn unreachable_reports_of_distinct_hosts_remove_the_pe_at_the_threshold() {
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    assert!(
        !net.register(k, 0, a, "p", pe_param(1, ip, Policy::RoundRobin))
            .reject
    );
    let pu = net.add_endpoint(50);
    let pa = net.connect(pu, 0);
    let report = asap::EndpointUnreachable {
        pool_handle: PoolHandle::from("p"),
        pe_id: PeId(1),
    };
    // One pool user alone cannot evict a PE, however often it reports.
    for _ in 0..5 {
        net.send(pu, 0, pa, report.clone());
    }
    assert_eq!(net.pr(0).handlespace().len(), 1);
    // A second association from the same host does not count either.
    let pa2 = net.connect(pu, 0);
    net.send(pu, 0, pa2, report.clone());
    assert_eq!(net.pr(0).handlespace().len(), 1);
    let second = net.add_endpoint(51);
    let sa = net.connect(second, 0);
    net.send(second, 0, sa, report.clone());
    assert_eq!(net.pr(0).handlespace().len(), 1);
    // The third distinct host reaches MAX-BAD-PE-REPORT (3).
    let third = net.add_endpoint(52);
    let ta = net.connect(third, 0);
    net.send(third, 0, ta, report);
    assert_eq!(net.pr(0).handlespace().len(), 0);
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        Event::PeRemoved {
            reason: RemovalReason::UnreachableReports,
            ..
        }
    )));
}

#[test]
fn rate_limits_answer_excess_requests_with_lack_of_resources() {
    let mut cfg = pr_config(0, &[]);
    cfg.max_hr_rate = Some(5);
    cfg.max_eu_rate = Some(2);
    let mut net = Net::new();
    net.add_pr(cfg);
    let k = net.add_endpoint(1);
    let a = net.connect(k, 0);
    let ip = net.ip(k);
    assert!(
        !net.register(k, 0, a, "p", pe_param(1, ip, Policy::RoundRobin))
            .reject
    );
    let pu = net.add_endpoint(50);
    let pa = net.connect(pu, 0);
    let served = |r: Option<asap::HandleResolutionResponse>| {
        let r = r.expect("every resolution is answered");
        match r.error {
            None => true,
            Some(e) => {
                assert_eq!(e.causes[0].code, ErrorCauseCode::LackOfResources);
                false
            }
        }
    };
    let answered = (0..8)
        .filter(|_| served(net.resolve(pu, 0, pa, "p", None)))
        .count();
    assert_eq!(answered, 5);
    // Another association has its own budget.
    let pu2 = net.add_endpoint(51);
    let pb = net.connect(pu2, 0);
    assert!(served(net.resolve(pu2, 0, pb, "p", None)));
    // A second later the first one is served again.
    net.advance(secs(1));
    assert!(served(net.resolve(pu, 0, pa, "p", None)));
    let limited = net.events[0]
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::RateLimited {
                    what: "handle resolution",
                    ..
                }
            )
        })
        .count();
    assert_eq!(limited, 3);

    let report = asap::EndpointUnreachable {
        pool_handle: PoolHandle::from("p"),
        pe_id: PeId(1),
    };
    for _ in 0..5 {
        net.send(pu, 0, pa, report.clone());
    }
    // Two pass the rate limit; one counts (one reporting host).
    let hs = net.pr(0).handlespace();
    let e = hs.find(&PoolHandle::from("p"), PeId(1)).unwrap();
    assert_eq!(hs.unreachable_reports(e), Some(1));
    assert_eq!(net.pr(0).stats().rate_limited, 6);
}

#[test]
fn malformed_input_is_answered_and_other_associations_keep_working() {
    use rserpool_proto::wire::{CauseInfo, param_type};
    let mut net = one_pr();
    let bad = net.add_endpoint(66);
    let ba = net.connect(bad, 0);
    let good = net.add_endpoint(1);
    let ga = net.connect(good, 0);

    // Unknown message type.
    let unknown = [0x7f, 0, 0, 8, 1, 2, 3, 4];
    net.send_raw(0, ba, &unknown);
    let inbox = net.take_inbox(bad);
    let Some((_, _, AsapMessage::Error(e))) = inbox.first() else {
        panic!("{inbox:?}")
    };
    assert_eq!(e.error.causes[0].code, ErrorCauseCode::UnrecognizedMessage);
    assert_eq!(e.error.causes[0].info, unknown);

    // An unknown parameter whose action says "stop and report" (01).
    let mut m = AsapMessage::from(asap::HandleResolution {
        pool_handle: PoolHandle::from("p"),
        items: None,
    })
    .to_bytes()
    .unwrap();
    m.extend_from_slice(&[0x40, 0x99, 0, 8, 9, 9, 9, 9]);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    net.send_raw(0, ba, &m);
    let inbox = net.take_inbox(bad);
    let Some((_, _, AsapMessage::Error(e))) = inbox.first() else {
        panic!("{inbox:?}")
    };
    assert_eq!(
        e.error.causes[0].code,
        ErrorCauseCode::UnrecognizedParameter
    );
    assert_eq!(e.error.causes[0].info, [0x40, 0x99, 0, 8, 9, 9, 9, 9]);

    // A message a registrar never receives.
    let resp = AsapMessage::from(asap::RegistrationResponse {
        reject: false,
        pool_handle: PoolHandle::from("p"),
        pe_id: PeId(1),
        error: None,
    });
    net.send_raw(0, ba, &resp.to_bytes().expect("encodes"));
    let inbox = net.take_inbox(bad);
    let Some((_, _, AsapMessage::Error(e))) = inbox.first() else {
        panic!("{inbox:?}")
    };
    assert_eq!(e.error.causes[0].code, ErrorCauseCode::UnrecognizedMessage);
    assert!(matches!(
        e.error.causes[0].decode_info(rserpool_proto::wire::Protocol::Asap, &Default::default()),
        Ok(CauseInfo::Message(_))
    ));

    // A bad value inside: an undefined policy type.
    let reg = AsapMessage::from(asap::Registration {
        pool_handle: PoolHandle::from("p"),
        pool_element: pe_param(1, net.ip(bad), Policy::RoundRobin),
    })
    .to_bytes()
    .unwrap();
    let mut tlv = param_type::POOL_MEMBER_SELECTION_POLICY
        .to_be_bytes()
        .to_vec();
    tlv.extend_from_slice(&[0, 8]);
    let pos = reg.windows(4).position(|w| w == tlv).unwrap();
    let mut broken = reg.clone();
    broken[pos + 4..pos + 8].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    net.send_raw(0, ba, &broken);
    let inbox = net.take_inbox(bad);
    assert!(
        matches!(&inbox[0].2, AsapMessage::Error(e)
        if e.error.causes[0].code == ErrorCauseCode::InvalidValues),
        "{inbox:?}"
    );

    // Other associations are unaffected.
    let ip = net.ip(good);
    assert!(
        !net.register(good, 0, ga, "p", pe_param(1, ip, Policy::RoundRobin))
            .reject
    );

    // A length field that does not match: the stream is unusable.
    let mut short = AsapMessage::from(asap::Deregistration {
        pool_handle: PoolHandle::from("p"),
        pe_id: PeId(1),
    })
    .to_bytes()
    .unwrap();
    short[3] = short[3].wrapping_add(40);
    net.send_raw(0, ba, &short);
    assert_eq!(net.endpoints[bad].aborted, vec![(0, ba)]);
    assert!(net.resolve(good, 0, ga, "p", None).is_some());
    assert_eq!(net.pr(0).handlespace().len(), 1);

    let errs: Vec<(bool, bool)> = net.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::ProtocolError {
                answered, closed, ..
            } => Some((*answered, *closed)),
            _ => None,
        })
        .collect();
    assert_eq!(
        errs,
        vec![
            (true, false),
            (true, false),
            (true, false),
            (true, false),
            (false, true)
        ]
    );
    assert_eq!(net.pr(0).stats().decode_errors, 4);
}

#[test]
fn garbage_never_panics() {
    let mut net = one_pr();
    let k = net.add_endpoint(1);
    let mut a = net.connect(k, 0);
    let mut x: u64 = 0x1234_5678;
    for len in 0..300usize {
        let mut v = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as u8);
        }
        if len >= 4 {
            v[0] = (x % 16) as u8;
            v[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        }
        net.send_raw(0, a, &v);
        if !net.endpoints[k].links.contains(&(0, a)) {
            // Aborted: reconnect and go on.
            a = net.connect(k, 0);
        }
    }
    // Every input produced a ProtocolError or a valid answer, and the
    // registrar still serves.
    let ip = net.ip(k);
    assert!(
        !net.register(k, 0, a, "after", pe_param(1, ip, Policy::RoundRobin))
            .reject
    );
    assert!(net.pr(0).stats().decode_errors > 100);
}

#[test]
fn server_announces_when_enabled() {
    let mut cfg = pr_config(0, &[]);
    cfg.announce = true;
    let mut net = Net::new();
    net.add_pr(cfg);
    net.advance(secs(4));
    let asap_announces = |net: &Net| {
        net.announces
            .iter()
            .filter(|(_, t)| matches!(t, rserpool_proto::registrar::Transmit::AnnounceAsap { .. }))
            .count()
    };
    assert_eq!(asap_announces(&net), 0, "not before mentor discovery ends");
    net.advance(secs(21));
    // At 5 s, then every 5 s: 5, 10, 15, 20, 25.
    assert_eq!(asap_announces(&net), 5);
    let Some((_, rserpool_proto::registrar::Transmit::AnnounceAsap { bytes })) = net
        .announces
        .iter()
        .find(|(_, t)| matches!(t, rserpool_proto::registrar::Transmit::AnnounceAsap { .. }))
    else {
        panic!()
    };
    let m = AsapMessage::decode(bytes, &Default::default())
        .unwrap()
        .message;
    assert!(matches!(m, AsapMessage::ServerAnnounce(s) if s.server_id == pr_id(0)));
}
