//! The pool user state machine and its session layer against a scripted
//! registrar and scripted PEs, in virtual time.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use rserpool_proto::Time;
use rserpool_proto::asap_endpoint::{RegConn, RegTransmit};
use rserpool_proto::data_channel::{Frame, PPID_ASAP, TcpDeframer};
use rserpool_proto::pool_element::{PeSession, SessionInput};
use rserpool_proto::pool_user::{
    PeConn, PoolUser, PuConfig, PuEvent, PuTransmit, ResolutionFailure, SendError, SessionFailure,
    SessionId, SessionState,
};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{
    DecodeOptions, ErrorCause, ErrorCauseCode, OperationError, PeId, Policy, PoolElement,
    PoolHandle, ServerId, TransportParam, TransportUse,
};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn t(ms: u64) -> Time {
    Time::from_millis(ms)
}

fn handle() -> PoolHandle {
    PoolHandle::from("EchoPool")
}

fn pe(id: u32) -> PoolElement {
    PoolElement {
        pe_id: PeId(id),
        home_server_id: ServerId(1),
        registration_life: 30_000,
        user_transport: TransportParam::Tcp {
            port: 7000 + id as u16,
            transport_use: TransportUse::DataPlusControl,
            address: [10, 0, 1, id as u8].into(),
        },
        policy: Policy::RoundRobin,
        asap_transport: None,
    }
}

fn new_pu(max_queued: usize) -> PoolUser {
    let mut c = PuConfig::new(vec![sa("10.0.0.1:3863"), sa("10.0.0.2:3863")]);
    c.max_queued_messages = max_queued;
    PoolUser::new(c, t(0), 3)
}

fn drain(pu: &mut PoolUser) -> Vec<PuTransmit> {
    std::iter::from_fn(|| pu.poll_transmit()).collect()
}

fn events(pu: &mut PoolUser) -> Vec<PuEvent> {
    std::iter::from_fn(|| pu.poll_event()).collect()
}

fn decode(bytes: &[u8]) -> AsapMessage {
    AsapMessage::decode(bytes, &DecodeOptions::default())
        .unwrap()
        .message
}

fn advance(pu: &mut PoolUser, until: Time) {
    while let Some(d) = pu.poll_timeout() {
        if d > until {
            break;
        }
        pu.handle_timeout(d);
    }
}

/// Messages sent to the registrar, decoded.
fn to_registrar(tx: &[PuTransmit]) -> Vec<AsapMessage> {
    tx.iter()
        .filter_map(|t| match t {
            PuTransmit::Registrar(RegTransmit::Send { bytes, .. }) => Some(decode(bytes)),
            _ => None,
        })
        .collect()
}

fn registrar_connect(tx: &[PuTransmit]) -> Option<(RegConn, Vec<SocketAddr>)> {
    tx.iter().find_map(|t| match t {
        PuTransmit::Registrar(RegTransmit::Connect { conn, to }) => Some((*conn, to.clone())),
        _ => None,
    })
}

fn pe_connect(tx: &[PuTransmit]) -> Option<(PeConn, PeId)> {
    tx.iter().find_map(|t| match t {
        PuTransmit::ConnectPe { conn, pe_id, .. } => Some((*conn, *pe_id)),
        _ => None,
    })
}

fn to_pe(tx: &[PuTransmit], to: PeConn) -> Vec<Frame> {
    tx.iter()
        .filter_map(|t| match t {
            PuTransmit::SendPe { conn, frame } if *conn == to => Some(frame.clone()),
            _ => None,
        })
        .collect()
}

fn answer(pes: Vec<PoolElement>) -> Vec<u8> {
    AsapMessage::from(asap::HandleResolutionResponse {
        pool_handle: handle(),
        policy: Some(Policy::RoundRobin),
        pool_elements: pes,
        error: None,
    })
    .to_bytes()
    .unwrap()
}

fn control(m: impl Into<AsapMessage>) -> Frame {
    Frame::new(PPID_ASAP, m.into().to_bytes().expect("encodes"))
}

/// Connects the registrar the first transmit asks for; returns it.
fn connect_registrar(pu: &mut PoolUser, now: Time) -> (RegConn, Vec<AsapMessage>) {
    let tx = drain(pu);
    let (conn, to) = registrar_connect(&tx).unwrap();
    assert_eq!(to, vec![sa("10.0.0.1:3863")]);
    pu.registrar_connected(now, conn);
    (conn, to_registrar(&drain(pu)))
}

#[test]
fn resolves_through_a_registrar_and_caches_until_stale() {
    let mut pu = new_pu(16);
    pu.resolve(t(0), &handle());
    let (reg, sent) = connect_registrar(&mut pu, t(100));
    assert_eq!(
        sent,
        vec![AsapMessage::from(asap::HandleResolution {
            pool_handle: handle(),
            items: None
        })]
    );
    pu.registrar_received(t(200), reg, &answer(vec![pe(1), pe(2)]));
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::Resolved {
            pool_handle: handle(),
            pool_elements: vec![pe(1), pe(2)],
            cached: false
        }]
    );
    // Fresh for stale.cache.value = 30 s: no registrar traffic.
    pu.resolve(t(30_199), &handle());
    assert!(drain(&mut pu).is_empty());
    assert!(matches!(
        events(&mut pu)[..],
        [PuEvent::Resolved { cached: true, .. }]
    ));
    assert_eq!(pu.cached(t(30_199), &handle()).unwrap().len(), 2);
    // Stale: asks again on the open association.
    assert!(pu.cached(t(30_200), &handle()).is_none());
    pu.resolve(t(30_200), &handle());
    let sent = to_registrar(&drain(&mut pu));
    assert!(matches!(sent[..], [AsapMessage::HandleResolution(_)]));
    assert!(events(&mut pu).is_empty());
}

#[test]
fn unanswered_requests_are_retransmitted_then_the_next_registrar_is_asked() {
    let mut pu = new_pu(16);
    pu.resolve(t(0), &handle());
    let (a, sent) = connect_registrar(&mut pu, t(0));
    assert_eq!(sent.len(), 1);
    // T1 = 15 s, MAX-REQUEST-RETRANSMIT = 2.
    for k in 1..=2u64 {
        advance(&mut pu, t(15_000 * k - 1));
        assert!(drain(&mut pu).is_empty());
        advance(&mut pu, t(15_000 * k));
        let sent = to_registrar(&drain(&mut pu));
        assert!(
            matches!(sent[..], [AsapMessage::HandleResolution(_)]),
            "{sent:?}"
        );
    }
    advance(&mut pu, t(45_000));
    let tx = drain(&mut pu);
    assert_eq!(tx[0], PuTransmit::Registrar(RegTransmit::Close { conn: a }));
    let (b, to) = registrar_connect(&tx).unwrap();
    assert_eq!(to, vec![sa("10.0.0.2:3863")]);
    pu.registrar_connected(t(45_100), b);
    let sent = to_registrar(&drain(&mut pu));
    assert!(matches!(sent[..], [AsapMessage::HandleResolution(_)]));
    pu.registrar_received(t(45_200), b, &answer(vec![pe(4)]));
    assert!(matches!(
        events(&mut pu)[..],
        [PuEvent::Resolved { cached: false, .. }]
    ));
}

#[test]
fn registrar_errors_and_missing_registrars_fail_the_resolution() {
    let mut pu = new_pu(16);
    pu.resolve(t(0), &handle());
    let (reg, _) = connect_registrar(&mut pu, t(0));
    let err = OperationError::single(ErrorCause::bare(ErrorCauseCode::UnknownPoolHandle));
    let resp = AsapMessage::from(asap::HandleResolutionResponse {
        pool_handle: handle(),
        policy: None,
        pool_elements: vec![],
        error: Some(err.clone()),
    });
    pu.registrar_received(t(10), reg, &resp.to_bytes().expect("encodes"));
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::ResolutionFailed {
            pool_handle: handle(),
            cause: ResolutionFailure::Error(err)
        }]
    );
    assert!(pu.cached(t(10), &handle()).is_none());

    // Nobody answers the phone: T5 (120 s) later the request fails.
    let mut lonely = new_pu(16);
    lonely.resolve(t(0), &handle());
    let mut now = t(0);
    while now < t(130_000) {
        while let Some(tx) = lonely.poll_transmit() {
            if let PuTransmit::Registrar(RegTransmit::Connect { conn, .. }) = tx {
                lonely.registrar_closed(now, conn);
            }
        }
        match lonely.poll_timeout() {
            Some(d) => {
                now = d;
                lonely.handle_timeout(d);
            }
            None => break,
        }
    }
    assert_eq!(
        events(&mut lonely),
        vec![PuEvent::ResolutionFailed {
            pool_handle: handle(),
            cause: ResolutionFailure::NoRegistrar
        }]
    );
    assert_eq!(now, t(120_000));
    assert_eq!(lonely.poll_timeout(), None, "stops hunting when idle");
}

#[test]
fn unreachable_report_goes_to_the_registrar_and_drops_the_pe_from_the_cache() {
    let mut pu = new_pu(16);
    pu.resolve(t(0), &handle());
    let (reg, _) = connect_registrar(&mut pu, t(0));
    pu.registrar_received(t(0), reg, &answer(vec![pe(1), pe(2)]));
    events(&mut pu);
    pu.report_unreachable(t(1_000), &handle(), PeId(1));
    assert_eq!(
        to_registrar(&drain(&mut pu)),
        vec![AsapMessage::from(asap::EndpointUnreachable {
            pool_handle: handle(),
            pe_id: PeId(1)
        })]
    );
    assert_eq!(pu.cached(t(1_000), &handle()).unwrap(), &[pe(2)][..]);
}

/// A session up with PE 1 of the pool {1, 2, 3}; returns the PU, the
/// session, the registrar association and the PE association.
fn session_up() -> (PoolUser, SessionId, RegConn, PeConn) {
    let mut pu = new_pu(4);
    let s = pu.open_session(t(0), handle());
    assert_eq!(pu.session_state(s), Some(SessionState::Resolving));
    let (reg, sent) = connect_registrar(&mut pu, t(0));
    assert!(matches!(sent[..], [AsapMessage::HandleResolution(_)]));
    pu.registrar_received(t(10), reg, &answer(vec![pe(1), pe(2), pe(3)]));
    assert!(events(&mut pu).is_empty(), "the session's own resolution");
    let tx = drain(&mut pu);
    let (c1, id) = pe_connect(&tx).unwrap();
    assert_eq!(id, PeId(1));
    match &tx[0] {
        PuTransmit::ConnectPe {
            transport, session, ..
        } => {
            assert_eq!(*transport, pe(1).user_transport);
            assert_eq!(*session, s);
        }
        other => panic!("{other:?}"),
    }
    pu.pe_connected(t(20), c1);
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::SessionUp {
            session: s,
            pe_id: PeId(1)
        }]
    );
    (pu, s, reg, c1)
}

#[test]
fn messages_flow_both_ways() {
    let (mut pu, s, _, c1) = session_up();
    pu.send(t(30), s, 0, b"ping".to_vec()).unwrap();
    assert_eq!(
        drain(&mut pu),
        vec![PuTransmit::SendPe {
            conn: c1,
            frame: Frame::new(0, b"ping".to_vec())
        }]
    );
    pu.pe_received(t(40), c1, Frame::new(0, b"pong".to_vec()));
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::Data {
            session: s,
            frame: Frame::new(0, b"pong".to_vec())
        }]
    );
    assert_eq!(
        pu.send(t(50), s, PPID_ASAP, b"x".to_vec()),
        Err(SendError::ReservedPpid)
    );
    assert_eq!(
        pu.send(t(50), SessionId(99), 0, b"x".to_vec()),
        Err(SendError::NoSuchSession)
    );
}

#[test]
fn pe_loss_fails_over_with_the_last_cookie_echoed_first_then_the_queue() {
    let (mut pu, s, reg, c1) = session_up();
    pu.pe_received(
        t(30),
        c1,
        control(asap::Cookie {
            cookie: b"c1".to_vec(),
        }),
    );
    pu.pe_received(t(31), c1, Frame::new(5, b"data".to_vec()));
    pu.pe_received(
        t(32),
        c1,
        control(asap::Cookie {
            cookie: b"c2".to_vec(),
        }),
    );
    assert_eq!(events(&mut pu).len(), 1, "cookies are not data");
    assert_eq!(pu.session_cookie(s), Some(&b"c2"[..]));

    pu.pe_closed(t(100), c1);
    let tx = drain(&mut pu);
    assert_eq!(
        to_registrar(&tx),
        vec![AsapMessage::from(asap::EndpointUnreachable {
            pool_handle: handle(),
            pe_id: PeId(1)
        })]
    );
    let (c2, id) = pe_connect(&tx).unwrap();
    assert_eq!(id, PeId(2), "the next cached PE");
    // While connecting, messages queue.
    pu.send(t(110), s, 0, b"m1".to_vec()).unwrap();
    pu.send(t(111), s, 0, b"m2".to_vec()).unwrap();
    assert!(drain(&mut pu).is_empty());
    pu.pe_connected(t(120), c2);
    let frames = to_pe(&drain(&mut pu), c2);
    assert_eq!(frames.len(), 3);
    assert_eq!(
        decode(&frames[0].payload),
        AsapMessage::from(asap::CookieEcho {
            cookie: b"c2".to_vec()
        })
    );
    assert_eq!(frames[0].ppid, PPID_ASAP);
    assert_eq!(frames[1], Frame::new(0, b"m1".to_vec()));
    assert_eq!(frames[2], Frame::new(0, b"m2".to_vec()));
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::Failover {
            session: s,
            from: PeId(1),
            to: PeId(2),
            cookie_replayed: true
        }]
    );
    // After the queue, sends go straight out again.
    pu.send(t(130), s, 0, b"m3".to_vec()).unwrap();
    assert_eq!(
        to_pe(&drain(&mut pu), c2),
        vec![Frame::new(0, b"m3".to_vec())]
    );
    assert_eq!(
        pu.session_state(s),
        Some(SessionState::Up {
            conn: c2,
            pe_id: PeId(2)
        })
    );
    let _ = reg;
}

#[test]
fn business_card_pes_are_preferred_for_failover() {
    let (mut pu, s, _, c1) = session_up();
    let card = asap::BusinessCard {
        pool_handle: handle(),
        policy: Some(Policy::RoundRobin),
        pool_elements: vec![pe(9), pe(3)],
    };
    pu.pe_received(t(30), c1, control(card));
    // The application gives up on PE 1 itself.
    pu.failover(t(40), s);
    let tx = drain(&mut pu);
    assert!(tx.contains(&PuTransmit::ClosePe { conn: c1 }));
    assert!(matches!(
        to_registrar(&tx)[..],
        [AsapMessage::EndpointUnreachable(_)]
    ));
    let (c9, id) = pe_connect(&tx).unwrap();
    assert_eq!(id, PeId(9), "the card's first PE, not the cache's next");
    // PE 9 cannot be reached: next on the card is 3.
    pu.pe_closed(t(50), c9);
    let tx = drain(&mut pu);
    let (c3, id) = pe_connect(&tx).unwrap();
    assert_eq!(id, PeId(3));
    pu.pe_connected(t(60), c3);
    assert_eq!(
        to_pe(&drain(&mut pu), c3),
        vec![],
        "no cookie: nothing to replay"
    );
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::Failover {
            session: s,
            from: PeId(1),
            to: PeId(3),
            cookie_replayed: false
        }]
    );
}

#[test]
fn queue_is_bounded_and_a_pool_without_live_pes_fails_the_session() {
    let (mut pu, s, reg, c1) = session_up();
    pu.pe_closed(t(100), c1);
    let (c2, _) = pe_connect(&drain(&mut pu)).unwrap();
    for i in 0..4u8 {
        pu.send(t(101), s, 0, vec![i]).unwrap();
    }
    assert_eq!(pu.send(t(101), s, 0, vec![4]), Err(SendError::QueueFull));
    pu.pe_closed(t(102), c2);
    let (c3, id) = pe_connect(&drain(&mut pu)).unwrap();
    assert_eq!(id, PeId(3));
    // A connect that never completes times out.
    advance(&mut pu, t(102 + 7_500));
    let tx = drain(&mut pu);
    assert!(tx.contains(&PuTransmit::ClosePe { conn: c3 }));
    assert!(pe_connect(&tx).is_none());
    let sent = to_registrar(&tx);
    // PE 3 reported, then a new resolution since every cached PE failed.
    assert!(
        matches!(
            sent[..],
            [
                AsapMessage::EndpointUnreachable(_),
                AsapMessage::HandleResolution(_)
            ]
        ),
        "{sent:?}"
    );
    // The registrar still lists the failed PEs: none is usable.
    pu.registrar_received(t(8_000), reg, &answer(vec![pe(1), pe(2), pe(3)]));
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::SessionFailed {
            session: s,
            cause: SessionFailure::NoPoolElement
        }]
    );
    assert_eq!(pu.session_state(s), Some(SessionState::Idle));
    // The application tries again later; a new PE registered meanwhile.
    pu.failover(t(9_000), s);
    let sent = to_registrar(&drain(&mut pu));
    assert!(
        matches!(sent[..], [AsapMessage::HandleResolution(_)]),
        "{sent:?}"
    );
    pu.registrar_received(t(9_100), reg, &answer(vec![pe(2), pe(4)]));
    let (c4, id) = pe_connect(&drain(&mut pu)).unwrap();
    assert_eq!(id, PeId(4));
    pu.pe_connected(t(9_200), c4);
    let frames = to_pe(&drain(&mut pu), c4);
    let payloads: Vec<Vec<u8>> = frames.into_iter().map(|f| f.payload).collect();
    assert_eq!(payloads, vec![vec![0], vec![1], vec![2], vec![3]]);
    assert_eq!(
        events(&mut pu),
        vec![PuEvent::Failover {
            session: s,
            from: PeId(1),
            to: PeId(4),
            cookie_replayed: false
        }]
    );
}

#[test]
fn end_to_end_cookie_replay_through_tcp_framing() {
    let (mut pu, s, _, c1) = session_up();
    // PE 1 hands out a cookie over its data channel, framed for TCP.
    let pe1 = PeSession::new(TransportUse::DataPlusControl);
    let mut stream = Vec::new();
    pe1.cookie(b"session-state-42")
        .unwrap()
        .encode_tcp(&mut stream)
        .unwrap();
    pe1.data(0, b"welcome".to_vec())
        .unwrap()
        .encode_tcp(&mut stream)
        .unwrap();
    let mut rx = TcpDeframer::new(1 << 16);
    rx.extend(&stream);
    while let Some(f) = rx.next_frame().unwrap() {
        pu.pe_received(t(30), c1, f);
    }
    assert!(matches!(events(&mut pu)[..], [PuEvent::Data { .. }]));
    pu.pe_closed(t(40), c1);
    let (c2, _) = pe_connect(&drain(&mut pu)).unwrap();
    pu.pe_connected(t(50), c2);
    // PE 2 receives the PU's frames through the TCP framing.
    let mut wire = Vec::new();
    for f in to_pe(&drain(&mut pu), c2) {
        f.encode_tcp(&mut wire).unwrap();
    }
    let mut pe2 = PeSession::new(TransportUse::DataPlusControl);
    let mut rx = TcpDeframer::new(1 << 16);
    rx.extend(&wire);
    let first = rx.next_frame().unwrap().unwrap();
    assert_eq!(
        pe2.receive(first).unwrap(),
        SessionInput::CookieEcho(b"session-state-42".to_vec())
    );
    let _ = s;
}
