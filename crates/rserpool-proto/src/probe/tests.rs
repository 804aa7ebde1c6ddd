//! The probe against a scripted registrar, in virtual time.

use super::*;
use crate::handlespace::checksum::ChecksumSum;
use crate::wire::enrp::{
    Error as EnrpError, HandleUpdate, InitTakeover, ListResponse, PoolEntries, Presence,
    UpdateAction,
};
use crate::wire::{
    ErrorCause, ErrorCauseCode, OperationError, PeId, Policy, PoolElement, TransportUse,
};

const ME: ServerId = ServerId(0x77);
const PR: ServerId = ServerId(0x11);

fn at(ms: u64) -> Time {
    Time::from_millis(ms)
}

fn registrar_addr() -> SocketAddr {
    "127.0.0.1:9901".parse().unwrap()
}

fn local() -> SocketAddr {
    "127.0.0.1:40000".parse().unwrap()
}

fn probe(kind: TransportKind, introduce_within: Duration) -> Probe {
    Probe::new(
        ProbeConfig::new(ME, registrar_addr(), kind),
        Time::ZERO,
        introduce_within,
    )
}

/// Everything the probe wants sent, decoded.
fn sent(p: &mut Probe) -> Vec<EnrpMessage> {
    std::iter::from_fn(|| p.poll_transmit())
        .map(|b| {
            EnrpMessage::decode(&b, &DecodeOptions::default())
                .expect("the probe sends valid ENRP")
                .message
        })
        .collect()
}

fn events(p: &mut Probe) -> Vec<ProbeEvent> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn pr_info() -> ServerInformation {
    ServerInformation {
        server_id: PR,
        transport: TransportParam::Tcp {
            port: 9901,
            transport_use: TransportUse::DataOnly,
            address: [127, 0, 0, 1].into(),
        },
    }
}

fn pr_presence(reply_required: bool, checksum: u16) -> Vec<u8> {
    EnrpMessage::from(Presence {
        reply_required,
        sender: PR,
        receiver: ME,
        checksum: Some(checksum),
        server_info: pr_info(),
    })
    .to_bytes()
    .unwrap()
}

fn pe(id: u32) -> PoolElement {
    PoolElement {
        pe_id: PeId(id),
        home_server_id: PR,
        registration_life: 30_000,
        user_transport: TransportParam::Tcp {
            port: 7000,
            transport_use: TransportUse::DataPlusControl,
            address: [127, 0, 0, 1].into(),
        },
        policy: Policy::RoundRobin,
        asap_transport: None,
    }
}

fn block(more: bool, pool: &str, ids: &[u32]) -> Vec<u8> {
    EnrpMessage::from(HandleTableResponse {
        reject: false,
        more_to_send: more,
        sender: PR,
        receiver: ME,
        pools: vec![PoolEntries {
            pool_handle: pool.into(),
            pool_elements: ids.iter().map(|&i| pe(i)).collect(),
        }],
    })
    .to_bytes()
    .unwrap()
}

fn list(servers: Vec<ServerInformation>, reject: bool) -> Vec<u8> {
    EnrpMessage::from(ListResponse {
        reject,
        sender: PR,
        receiver: ME,
        servers,
    })
    .to_bytes()
    .unwrap()
}

/// A probe introduced at 10 ms; its first transmits are consumed.
fn introduced() -> Probe {
    let mut p = probe(TransportKind::Tcp, Duration::from_secs(5));
    p.connected(Time::ZERO, Some(local()));
    sent(&mut p);
    p.received(at(10), &pr_presence(false, 0x1234));
    assert_eq!(events(&mut p), [ProbeEvent::Introduced(pr_info())]);
    p
}

#[test]
fn the_first_presence_names_no_endpoint_and_announces_an_empty_handlespace() {
    let mut p = probe(TransportKind::Tcp, Duration::from_secs(5));
    assert_eq!(p.poll_timeout(), Some(at(5000)), "the association's limit");
    assert!(
        p.poll_transmit().is_none(),
        "nothing before the association"
    );
    p.connected(Time::ZERO, Some(local()));
    match sent(&mut p).as_slice() {
        [EnrpMessage::Presence(m)] => {
            assert!(m.reply_required);
            assert_eq!((m.sender, m.receiver), (ME, ServerId(0)));
            assert_eq!(m.checksum, Some(ChecksumSum::EMPTY.finish().0));
            assert!(peer::is_no_endpoint(&m.server_info.transport));
            assert_eq!(m.server_info.server_id, ME);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.poll_timeout(), Some(at(1000)), "PLAIN_PRESENCE_WAIT");
    // The registrar's PRESENCE (asking for a reply) introduces the probe.
    p.received(at(20), &pr_presence(true, 0xabcd));
    match sent(&mut p).as_slice() {
        [EnrpMessage::Presence(m)] => {
            assert!(!m.reply_required);
            assert_eq!(m.receiver, PR);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events(&mut p), [ProbeEvent::Introduced(pr_info())]);
    assert_eq!(p.registrar(), Some(&pr_info()));
    assert_eq!(p.poll_timeout(), None, "idle");
}

#[test]
fn an_unanswered_presence_is_followed_by_one_naming_the_local_address() {
    let mut p = probe(TransportKind::Sctp, Duration::from_secs(5));
    p.connected(Time::ZERO, Some(local()));
    sent(&mut p);
    p.handle_timeout(at(999));
    assert!(sent(&mut p).is_empty(), "not before a second");
    p.handle_timeout(at(1000));
    match sent(&mut p).as_slice() {
        [EnrpMessage::Presence(m)] => {
            assert!(m.reply_required);
            assert_eq!(m.checksum, Some(ChecksumSum::EMPTY.finish().0));
            assert_eq!(
                m.server_info.transport,
                peer::endpoint_at(TransportKind::Sctp, local())
            );
        }
        other => panic!("{other:?}"),
    }
    // Once: then the introduction's own deadline.
    assert_eq!(p.poll_timeout(), Some(at(5000)));
    p.handle_timeout(at(4999));
    assert!(sent(&mut p).is_empty() && events(&mut p).is_empty());
    // Answers to the registrar name the address too from now on.
    p.received(at(1500), &pr_presence(true, 1));
    match sent(&mut p).as_slice() {
        [EnrpMessage::Presence(m)] => assert_eq!(m.server_info.transport.port(), 40000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_short_introduction_names_the_address_at_half_time_then_gives_up() {
    let mut p = probe(TransportKind::Tcp, Duration::from_millis(600));
    p.connected(at(100), None);
    sent(&mut p);
    // Half of the 500 ms left, not a whole second.
    assert_eq!(p.poll_timeout(), Some(at(350)));
    p.handle_timeout(at(350));
    match sent(&mut p).as_slice() {
        // No local address known: still nothing to connect back to.
        [EnrpMessage::Presence(m)] => assert!(peer::is_no_endpoint(&m.server_info.transport)),
        other => panic!("{other:?}"),
    }
    p.handle_timeout(at(600));
    assert_eq!(
        events(&mut p),
        [ProbeEvent::Failed(ProbeError::Timeout(Awaited::Presence))]
    );
    assert_eq!(
        p.failure().map(ToString::to_string).as_deref(),
        Some("timed out waiting for the registrar's PRESENCE")
    );
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn an_association_that_never_comes_up_times_out() {
    let mut p = probe(TransportKind::Tcp, Duration::from_secs(2));
    p.handle_timeout(at(1999));
    assert!(events(&mut p).is_empty());
    p.handle_timeout(at(2000));
    assert_eq!(
        events(&mut p),
        [ProbeEvent::Failed(ProbeError::Timeout(
            Awaited::Association
        ))]
    );
}

#[test]
fn the_table_comes_in_blocks_and_the_snapshot_is_sorted() {
    let mut p = introduced();
    p.snapshot(at(100), Duration::from_secs(1)).unwrap();
    match sent(&mut p).as_slice() {
        [
            EnrpMessage::HandleTableRequest(h),
            EnrpMessage::ListRequest(l),
        ] => {
            assert!(!h.own_children_only);
            assert_eq!((h.sender, h.receiver), (ME, PR));
            assert_eq!((l.sender, l.receiver), (ME, PR));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.poll_timeout(), Some(at(1100)));
    // The M flag asks for the next block.
    p.received(at(110), &block(true, "b", &[9, 3]));
    assert!(matches!(
        sent(&mut p).as_slice(),
        [EnrpMessage::HandleTableRequest(_)]
    ));
    // A heartbeat in between updates the announced checksum.
    p.received(at(115), &pr_presence(false, 0x4242));
    p.received(at(120), &block(false, "a", &[1]));
    assert!(sent(&mut p).is_empty() && events(&mut p).is_empty());
    let other_pr = ServerInformation {
        server_id: ServerId(0x05),
        transport: TransportParam::Tcp {
            port: 9902,
            transport_use: TransportUse::DataOnly,
            address: [127, 0, 0, 2].into(),
        },
    };
    let another_probe = ServerInformation {
        server_id: ServerId(0x01),
        transport: peer::no_endpoint(TransportKind::Tcp),
    };
    let third_pr = ServerInformation {
        server_id: ServerId(0x33),
        ..other_pr.clone()
    };
    p.received(
        at(130),
        &list(
            vec![third_pr.clone(), another_probe, other_pr.clone()],
            false,
        ),
    );
    match events(&mut p).as_slice() {
        [ProbeEvent::Snapshot(s)] => {
            assert_eq!(s.registrar, pr_info());
            assert_eq!(s.address, registrar_addr());
            assert_eq!(s.transport, TransportKind::Tcp);
            assert_eq!(s.checksum, Some(0x4242));
            assert_eq!(s.peers, [other_pr, third_pr], "by ID, probes left out");
            let pools: Vec<(String, Vec<u32>)> = s
                .pools
                .iter()
                .map(|p| {
                    let ids = p.elements.iter().map(|e| e.pe_id.0).collect();
                    (p.handle.to_string(), ids)
                })
                .collect();
            assert_eq!(
                pools,
                [("a".to_string(), vec![1]), ("b".to_string(), vec![3, 9])]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.poll_timeout(), None, "idle again");
    // The next snapshot starts afresh.
    p.snapshot(at(2000), Duration::from_secs(1)).unwrap();
    assert_eq!(sent(&mut p).len(), 2);
    p.received(at(2010), &list(vec![], false));
    p.received(at(2020), &block(false, "c", &[7]));
    match events(&mut p).as_slice() {
        [ProbeEvent::Snapshot(s)] => {
            assert_eq!(s.pools.len(), 1);
            assert_eq!(s.pools[0].handle.to_string(), "c");
            assert!(s.peers.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_snapshot_asked_for_early_starts_once_introduced_and_keeps_its_deadline() {
    let mut p = probe(TransportKind::Tcp, Duration::from_secs(5));
    p.snapshot(Time::ZERO, Duration::from_secs(3)).unwrap();
    p.connected(at(5), Some(local()));
    assert_eq!(sent(&mut p).len(), 1, "the PRESENCE only");
    p.received(at(2000), &pr_presence(false, 1));
    match sent(&mut p).as_slice() {
        [
            EnrpMessage::HandleTableRequest(_),
            EnrpMessage::ListRequest(_),
        ] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(p.poll_timeout(), Some(at(3000)));
    p.received(at(2100), &block(false, "a", &[1]));
    p.handle_timeout(at(3000));
    assert_eq!(
        events(&mut p),
        [
            ProbeEvent::Introduced(pr_info()),
            ProbeEvent::Failed(ProbeError::Timeout(Awaited::ListResponse))
        ]
    );
}

#[test]
fn a_missing_table_times_out_naming_it() {
    let mut p = introduced();
    p.snapshot(at(100), Duration::from_millis(500)).unwrap();
    p.handle_timeout(at(599));
    assert!(events(&mut p).is_empty());
    p.handle_timeout(at(600));
    assert_eq!(
        events(&mut p),
        [ProbeEvent::Failed(ProbeError::Timeout(
            Awaited::TableResponse
        ))]
    );
    // Failed for good: a new request says why.
    assert_eq!(
        p.snapshot(at(700), Duration::from_secs(1)),
        Err(ProbeError::Timeout(Awaited::TableResponse))
    );
}

#[test]
fn refusals_are_precise_and_a_refused_peer_list_is_empty() {
    // R flag on the table.
    let mut p = introduced();
    p.snapshot(at(100), Duration::from_secs(1)).unwrap();
    let rejected = EnrpMessage::from(HandleTableResponse {
        reject: true,
        more_to_send: false,
        sender: PR,
        receiver: ME,
        pools: vec![],
    });
    p.received(at(110), &rejected.to_bytes().unwrap());
    assert_eq!(
        events(&mut p),
        [ProbeEvent::Failed(ProbeError::Refused(
            Refusal::TableRejected
        ))]
    );

    // An ENRP ERROR.
    let mut p = introduced();
    p.snapshot(at(100), Duration::from_secs(1)).unwrap();
    let error = EnrpMessage::from(EnrpError {
        sender: PR,
        receiver: ME,
        error: OperationError::single(ErrorCause::new(
            ErrorCauseCode::UnrecognizedMessage,
            Vec::new(),
        )),
    });
    p.received(at(110), &error.to_bytes().unwrap());
    match events(&mut p).as_slice() {
        [ProbeEvent::Failed(e)] => {
            assert_eq!(
                e,
                &ProbeError::Refused(Refusal::Error(vec![ErrorCauseCode::UnrecognizedMessage]))
            );
            assert!(
                e.to_string().starts_with("the registrar refused: ERROR: "),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }

    // A refused LIST_REQUEST leaves the peers unknown, not the dump failed.
    let mut p = introduced();
    p.snapshot(at(100), Duration::from_secs(1)).unwrap();
    p.received(at(110), &list(vec![pr_info()], true));
    p.received(at(120), &block(false, "a", &[1]));
    match events(&mut p).as_slice() {
        [ProbeEvent::Snapshot(s)] => assert!(s.peers.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn between_snapshots_the_probe_answers_as_a_peer_and_ignores_stale_responses() {
    let mut p = introduced();
    let takeover = EnrpMessage::from(InitTakeover {
        sender: PR,
        receiver: ME,
        target_server_id: ServerId(0x22),
    });
    p.received(at(500), &takeover.to_bytes().unwrap());
    match sent(&mut p).as_slice() {
        [EnrpMessage::InitTakeoverAck(a)] => assert_eq!(a.target_server_id, ServerId(0x22)),
        other => panic!("{other:?}"),
    }
    let update = EnrpMessage::from(HandleUpdate {
        takeover_suggested: false,
        sender: PR,
        receiver: ME,
        action: UpdateAction::AddPe,
        pool_handle: "p".into(),
        pool_element: pe(1),
    });
    p.received(at(600), &update.to_bytes().unwrap());
    // A late response and an ERROR outside a snapshot change nothing.
    p.received(at(700), &block(false, "old", &[1]));
    p.received(at(700), &list(vec![pr_info()], false));
    let error = EnrpMessage::from(EnrpError {
        sender: PR,
        receiver: ME,
        error: OperationError::single(ErrorCause::new(
            ErrorCauseCode::UnrecognizedMessage,
            Vec::new(),
        )),
    });
    p.received(at(700), &error.to_bytes().unwrap());
    assert!(sent(&mut p).is_empty());
    assert!(events(&mut p).is_empty());
    assert_eq!(p.failure(), None);
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn garbage_or_a_closed_association_fails_the_probe() {
    let mut p = introduced();
    p.received(at(100), &[0x02, 0x00, 0x00]);
    match events(&mut p).as_slice() {
        [ProbeEvent::Failed(ProbeError::Decode(_))] => {}
        other => panic!("{other:?}"),
    }
    // Nothing more is read or answered.
    p.received(at(110), &pr_presence(true, 1));
    assert!(sent(&mut p).is_empty());
    assert!(matches!(
        p.snapshot(at(120), Duration::from_secs(1)),
        Err(ProbeError::Decode(_))
    ));

    let mut p = introduced();
    p.snapshot(at(100), Duration::from_secs(1)).unwrap();
    p.closed(at(150));
    assert_eq!(events(&mut p), [ProbeEvent::Failed(ProbeError::Closed)]);
    p.closed(at(160));
    assert!(events(&mut p).is_empty(), "one failure only");
}
