//! The pool element state machine against a scripted registrar: raw ASAP
//! messages encoded and decoded with the wire layer, in virtual time.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use rserpool_proto::Time;
use rserpool_proto::asap_endpoint::RegConn;
use rserpool_proto::pool_element::{
    PeConfig, PeEvent, PePhase, PeSession, PeTransmit, PoolElement, RegistrationFailure,
    SessionInput, SetLoadError,
};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{
    DecodeOptions, ErrorCause, ErrorCauseCode, OperationError, PeId, Policy, PoolHandle, ServerId,
    TransportParam, TransportUse,
};

const PE: PeId = PeId(0x1234_5678);

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn handle() -> PoolHandle {
    PoolHandle::from("EchoPool")
}

fn transport() -> TransportParam {
    TransportParam::Tcp {
        port: 7000,
        transport_use: TransportUse::DataPlusControl,
        address: [10, 0, 0, 9].into(),
    }
}

fn config(registrars: &[&str], policy: Policy) -> PeConfig {
    let mut c = PeConfig::new(
        handle(),
        policy,
        transport(),
        registrars.iter().map(|s| sa(s)).collect(),
    );
    c.pe_id = Some(PE);
    c
}

fn t(ms: u64) -> Time {
    Time::from_millis(ms)
}

fn drain(pe: &mut PoolElement) -> Vec<PeTransmit> {
    std::iter::from_fn(|| pe.poll_transmit()).collect()
}

fn events(pe: &mut PoolElement) -> Vec<PeEvent> {
    std::iter::from_fn(|| pe.poll_event()).collect()
}

fn decode(bytes: &[u8]) -> AsapMessage {
    AsapMessage::decode(bytes, &DecodeOptions::default())
        .unwrap()
        .message
}

/// The one transmit expected: a message on `conn`.
fn sent_one(pe: &mut PoolElement, conn: RegConn) -> AsapMessage {
    let tx = drain(pe);
    assert_eq!(tx.len(), 1, "{tx:?}");
    match &tx[0] {
        PeTransmit::Send { conn: c, bytes } => {
            assert_eq!(*c, conn);
            decode(bytes)
        }
        other => panic!("expected a send, got {other:?}"),
    }
}

fn connect_of(tx: &PeTransmit) -> (RegConn, Vec<SocketAddr>) {
    match tx {
        PeTransmit::Connect { conn, to } => (*conn, to.clone()),
        other => panic!("expected a connect, got {other:?}"),
    }
}

fn expect_connect(pe: &mut PoolElement) -> (RegConn, Vec<SocketAddr>) {
    let tx = drain(pe);
    assert_eq!(tx.len(), 1, "{tx:?}");
    connect_of(&tx[0])
}

fn response(reject: bool, error: Option<OperationError>) -> Vec<u8> {
    AsapMessage::from(asap::RegistrationResponse {
        reject,
        pool_handle: handle(),
        pe_id: PE,
        error,
    })
    .to_bytes()
    .unwrap()
}

fn keep_alive(server: u32, home: bool) -> Vec<u8> {
    AsapMessage::from(asap::EndpointKeepAlive {
        home,
        server_id: ServerId(server),
        pool_handle: handle(),
        pe_id: Some(PE),
    })
    .to_bytes()
    .unwrap()
}

/// Runs every timeout due up to `until`.
fn advance(pe: &mut PoolElement, until: Time) {
    while let Some(d) = pe.poll_timeout() {
        if d > until {
            break;
        }
        pe.handle_timeout(d);
    }
}

/// A PE registered with the first static registrar at time 0.
fn registered(policy: Policy) -> (PoolElement, RegConn) {
    let mut pe = PoolElement::new(config(&["10.0.0.1:3863", "10.0.0.2:3863"], policy), t(0), 1);
    let (conn, to) = expect_connect(&mut pe);
    assert_eq!(to, vec![sa("10.0.0.1:3863")]);
    pe.registrar_connected(t(0), conn);
    assert!(matches!(
        sent_one(&mut pe, conn),
        AsapMessage::Registration(_)
    ));
    pe.registrar_received(t(0), conn, &response(false, None));
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::Registered {
            pe_id: PE,
            registrar: None
        }]
    );
    (pe, conn)
}

#[test]
fn registers_with_its_parameters_and_reregisters_every_t4() {
    let mut pe = PoolElement::new(config(&["10.0.0.1:3863"], Policy::RoundRobin), t(0), 1);
    assert_eq!(pe.state().phase, PePhase::Hunting);
    let (conn, _) = expect_connect(&mut pe);
    pe.registrar_connected(t(5), conn);
    let AsapMessage::Registration(r) = sent_one(&mut pe, conn) else {
        panic!("not a registration")
    };
    assert_eq!(r.pool_handle, handle());
    assert_eq!(r.pool_element.pe_id, PE);
    assert_eq!(r.pool_element.registration_life, 30_000);
    assert_eq!(r.pool_element.user_transport, transport());
    assert_eq!(r.pool_element.policy, Policy::RoundRobin);
    assert_eq!(pe.state().phase, PePhase::Registering);
    assert!(!pe.state().registered);

    pe.registrar_received(t(10), conn, &response(false, None));
    assert!(pe.state().registered);
    assert_eq!(pe.state().phase, PePhase::Registered);
    assert_eq!(events(&mut pe).len(), 1);
    // Lifetime 30 s: T4 is a third of it, 10 s.
    let mut now = t(10);
    for _ in 0..3 {
        assert_eq!(pe.poll_timeout(), Some(now.plus_millis(10_000)));
        advance(&mut pe, now.plus_millis(9_999));
        assert!(drain(&mut pe).is_empty());
        now = now.plus_millis(10_000);
        advance(&mut pe, now);
        assert!(matches!(
            sent_one(&mut pe, conn),
            AsapMessage::Registration(_)
        ));
        pe.registrar_received(now, conn, &response(false, None));
    }
    // Periodic re-registrations are not reported again.
    assert!(events(&mut pe).is_empty());
}

#[test]
fn long_lifetime_reregisters_20s_before_expiry_capped_at_10_minutes() {
    let mut c = config(&["10.0.0.1:3863"], Policy::RoundRobin);
    c.registration_life = Duration::from_secs(60);
    assert_eq!(c.reregistration_interval(), Duration::from_secs(40));
    c.registration_life = Duration::from_secs(3600);
    assert_eq!(c.reregistration_interval(), Duration::from_secs(600));
}

#[test]
fn retransmits_registration_max_reg_attempt_times_then_hunts_the_next_registrar() {
    let mut pe = PoolElement::new(
        config(&["10.0.0.1:3863", "10.0.0.2:3863"], Policy::RoundRobin),
        t(0),
        1,
    );
    let (a, _) = expect_connect(&mut pe);
    pe.registrar_connected(t(0), a);
    assert!(matches!(sent_one(&mut pe, a), AsapMessage::Registration(_)));
    // T2 = 30 s, MAX-REG-ATTEMPT = 2 retransmissions.
    for k in 1..=2u64 {
        advance(&mut pe, t(30_000 * k - 1));
        assert!(drain(&mut pe).is_empty());
        advance(&mut pe, t(30_000 * k));
        assert!(matches!(sent_one(&mut pe, a), AsapMessage::Registration(_)));
    }
    advance(&mut pe, t(90_000));
    let tx = drain(&mut pe);
    assert_eq!(tx[0], PeTransmit::Close { conn: a });
    let (b, to) = connect_of(&tx[1]);
    assert_eq!(to, vec![sa("10.0.0.2:3863")]);
    assert_eq!(tx.len(), 2);
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::RegistrationFailed {
            cause: RegistrationFailure::NoResponse
        }]
    );
    pe.registrar_connected(t(91_000), b);
    let AsapMessage::Registration(r) = sent_one(&mut pe, b) else {
        panic!()
    };
    assert_eq!(r.pool_element.pe_id, PE);
}

#[test]
fn hunts_for_a_new_home_with_the_same_pe_id_when_the_registrar_dies() {
    let (mut pe, a) = registered(Policy::RoundRobin);
    pe.registrar_received(t(500), a, &keep_alive(77, false));
    drain(&mut pe);
    pe.registrar_closed(t(1_000), a);
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::HomeLost {
            registrar: Some(ServerId(77))
        }]
    );
    assert!(pe.state().registered, "the pool keeps the entry meanwhile");
    let (b, to) = expect_connect(&mut pe);
    assert_eq!(to, vec![sa("10.0.0.2:3863")]);
    // The next registrar refuses the association: the hunt wraps to the first.
    pe.registrar_closed(t(1_100), b);
    let (c, to) = expect_connect(&mut pe);
    assert_eq!(to, vec![sa("10.0.0.1:3863")]);
    pe.registrar_connected(t(1_200), c);
    let AsapMessage::Registration(r) = sent_one(&mut pe, c) else {
        panic!()
    };
    assert_eq!(r.pool_element.pe_id, PE);
    pe.registrar_received(t(1_300), c, &response(false, None));
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::Registered {
            pe_id: PE,
            registrar: None
        }]
    );
    assert_eq!(pe.state().conn, Some(c));
}

#[test]
fn a_round_of_failed_connects_pauses_t6_and_t5_is_reported_once() {
    let mut pe = PoolElement::new(
        config(&["10.0.0.1:3863", "10.0.0.2:3863"], Policy::RoundRobin),
        t(0),
        1,
    );
    let mut now = t(0);
    let mut connects = 0;
    let mut reports = 0;
    while now < t(125_000) {
        // Every connect is refused at once.
        while let Some(tx) = pe.poll_transmit() {
            if let PeTransmit::Connect { conn, .. } = tx {
                connects += 1;
                pe.registrar_closed(now, conn);
            }
        }
        reports += events(&mut pe)
            .iter()
            .filter(|e| {
                **e == PeEvent::RegistrationFailed {
                    cause: RegistrationFailure::NoRegistrar,
                }
            })
            .count();
        let next = pe.poll_timeout().unwrap();
        assert!(next > now, "time must move on");
        now = next;
        pe.handle_timeout(now);
    }
    // Two registrars per round, one round a second (T6) for 125 s.
    assert!((240..=254).contains(&connects), "{connects}");
    assert_eq!(reports, 1);
}

#[test]
fn answers_keep_alives_and_learns_the_home_registrar() {
    let (mut pe, a) = registered(Policy::RoundRobin);
    pe.registrar_received(t(2_000), a, &keep_alive(77, false));
    let AsapMessage::EndpointKeepAliveAck(ack) = sent_one(&mut pe, a) else {
        panic!()
    };
    assert_eq!(ack.pool_handle, handle());
    assert_eq!(ack.pe_id, PE);
    assert_eq!(pe.state().home, Some(ServerId(77)));
    // The RFC form without the PE ID is answered too.
    let rfc = AsapMessage::from(asap::EndpointKeepAlive {
        home: false,
        server_id: ServerId(77),
        pool_handle: handle(),
        pe_id: None,
    });
    pe.registrar_received(t(2_100), a, &rfc.to_bytes().expect("encodes"));
    assert!(matches!(
        sent_one(&mut pe, a),
        AsapMessage::EndpointKeepAliveAck(_)
    ));
    // Not ours: another pool, another PE.
    let other = AsapMessage::from(asap::EndpointKeepAlive {
        home: false,
        server_id: ServerId(77),
        pool_handle: PoolHandle::from("Other"),
        pe_id: Some(PE),
    });
    pe.registrar_received(t(2_200), a, &other.to_bytes().expect("encodes"));
    let wrong_pe = AsapMessage::from(asap::EndpointKeepAlive {
        home: false,
        server_id: ServerId(77),
        pool_handle: handle(),
        pe_id: Some(PeId(1)),
    });
    pe.registrar_received(t(2_300), a, &wrong_pe.to_bytes().expect("encodes"));
    assert!(drain(&mut pe).is_empty());
    assert!(events(&mut pe).is_empty());
}

#[test]
fn takeover_keep_alive_with_h_flag_makes_the_sender_the_new_home() {
    let (mut pe, a) = registered(Policy::RoundRobin);
    pe.registrar_received(t(1_000), a, &keep_alive(77, false));
    drain(&mut pe);
    let b = pe.registrar_accepted(t(2_000), sa("10.0.0.8:40000"));
    assert_ne!(a, b);
    // Without H, another registrar is only answered.
    pe.registrar_received(t(2_100), b, &keep_alive(88, false));
    assert!(matches!(
        sent_one(&mut pe, b),
        AsapMessage::EndpointKeepAliveAck(_)
    ));
    assert_eq!(pe.state().conn, Some(a));
    // With H: answer, leave the old home, re-register on the new association.
    pe.registrar_received(t(2_200), b, &keep_alive(88, true));
    let tx = drain(&mut pe);
    assert_eq!(tx.len(), 3, "{tx:?}");
    match &tx[0] {
        PeTransmit::Send { conn, bytes } => {
            assert_eq!(*conn, b);
            assert!(matches!(
                decode(bytes),
                AsapMessage::EndpointKeepAliveAck(_)
            ));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tx[1], PeTransmit::Close { conn: a });
    match &tx[2] {
        PeTransmit::Send { conn, bytes } => {
            assert_eq!(*conn, b);
            assert!(matches!(decode(bytes), AsapMessage::Registration(_)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::HomeChanged {
            from: Some(ServerId(77)),
            to: ServerId(88)
        }]
    );
    assert!(pe.state().registered, "keeps serving during the move");
    pe.registrar_received(t(2_300), b, &response(false, None));
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::Registered {
            pe_id: PE,
            registrar: Some(ServerId(88))
        }]
    );
    assert_eq!(pe.state().home, Some(ServerId(88)));
    assert_eq!(pe.state().conn, Some(b));
    // The old association's close, reported late, changes nothing.
    pe.registrar_closed(t(2_400), a);
    assert!(events(&mut pe).is_empty());
    assert!(drain(&mut pe).is_empty());
    // Re-registration now goes to the new home.
    advance(&mut pe, t(12_300));
    assert!(matches!(sent_one(&mut pe, b), AsapMessage::Registration(_)));
}

#[test]
fn deregisters_on_shutdown() {
    let (mut pe, a) = registered(Policy::RoundRobin);
    pe.deregister(t(5_000));
    let AsapMessage::Deregistration(d) = sent_one(&mut pe, a) else {
        panic!()
    };
    assert_eq!((d.pool_handle, d.pe_id), (handle(), PE));
    assert_eq!(pe.state().phase, PePhase::Deregistering);
    assert_eq!(pe.poll_timeout(), Some(t(35_000)));
    let resp = AsapMessage::from(asap::DeregistrationResponse {
        pool_handle: handle(),
        pe_id: PE,
        error: None,
    });
    pe.registrar_received(t(5_100), a, &resp.to_bytes().expect("encodes"));
    assert_eq!(drain(&mut pe), vec![PeTransmit::Close { conn: a }]);
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::Deregistered { confirmed: true }]
    );
    assert_eq!(pe.state().phase, PePhase::Stopped);
    assert!(!pe.state().registered);
    assert_eq!(pe.poll_timeout(), None);
}

#[test]
fn unanswered_deregistration_is_retransmitted_then_given_up() {
    let (mut pe, a) = registered(Policy::RoundRobin);
    pe.deregister(t(0));
    let mut deregs = 0;
    let mut closes = 0;
    advance(&mut pe, t(200_000));
    for tx in std::iter::from_fn(|| pe.poll_transmit()) {
        match tx {
            PeTransmit::Send { bytes, .. } => {
                assert!(matches!(decode(&bytes), AsapMessage::Deregistration(_)));
                deregs += 1;
            }
            PeTransmit::Close { conn } => {
                assert_eq!(conn, a);
                closes += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // One send and MAX-REQUEST-RETRANSMIT (2) retransmissions, T3 apart.
    assert_eq!((deregs, closes), (3, 1));
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::Deregistered { confirmed: false }]
    );
}

#[test]
fn rejection_is_reported_and_retried_with_growing_back_off() {
    let mut pe = PoolElement::new(config(&["10.0.0.1:3863"], Policy::RoundRobin), t(0), 1);
    let (a, _) = expect_connect(&mut pe);
    pe.registrar_connected(t(0), a);
    drain(&mut pe);
    let err = OperationError::single(ErrorCause::bare(ErrorCauseCode::LackOfResources));
    pe.registrar_received(t(0), a, &response(true, Some(err.clone())));
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::RegistrationFailed {
            cause: RegistrationFailure::Rejected(err.clone())
        }]
    );
    assert_eq!(pe.state().phase, PePhase::BackingOff);
    let mut now = t(0);
    for backoff in [30_000u64, 60_000, 120_000] {
        advance(&mut pe, now.plus_millis(backoff - 1));
        assert!(drain(&mut pe).is_empty(), "no retry storm");
        now = now.plus_millis(backoff);
        advance(&mut pe, now);
        assert!(matches!(sent_one(&mut pe, a), AsapMessage::Registration(_)));
        pe.registrar_received(now, a, &response(true, Some(err.clone())));
        assert_eq!(events(&mut pe).len(), 1);
    }
    advance(&mut pe, now.plus_millis(240_000));
    assert!(matches!(sent_one(&mut pe, a), AsapMessage::Registration(_)));
    pe.registrar_received(now.plus_millis(240_000), a, &response(false, None));
    assert!(pe.state().registered);
    assert!(matches!(events(&mut pe)[..], [PeEvent::Registered { .. }]));
}

#[test]
fn set_load_reregisters_at_once_with_the_new_load() {
    let (mut pe, a) = registered(Policy::LeastUsed { load: 0 });
    pe.set_load(t(500), 0x4000_0000).unwrap();
    let AsapMessage::Registration(r) = sent_one(&mut pe, a) else {
        panic!()
    };
    assert_eq!(
        r.pool_element.policy,
        Policy::LeastUsed { load: 0x4000_0000 }
    );
    pe.registrar_received(t(600), a, &response(false, None));
    // The periodic one carries the new load too.
    advance(&mut pe, t(10_600));
    let AsapMessage::Registration(r) = sent_one(&mut pe, a) else {
        panic!()
    };
    assert_eq!(r.pool_element.policy.load(), 0x4000_0000);

    let (mut rr, _) = registered(Policy::RoundRobin);
    assert_eq!(
        rr.set_load(t(0), 5),
        Err(SetLoadError::NotAdaptive(
            rserpool_proto::wire::PolicyType::RoundRobin
        ))
    );
    assert!(drain(&mut rr).is_empty());
}

#[test]
fn finds_registrars_by_server_announce_which_outdate() {
    let mut pe = PoolElement::new(config(&[], Policy::RoundRobin), t(0), 1);
    assert!(drain(&mut pe).is_empty());
    assert_eq!(pe.poll_timeout(), Some(t(1_000)), "waits T6 for announces");
    advance(&mut pe, t(1_500));
    assert!(drain(&mut pe).is_empty());
    let announce = AsapMessage::from(asap::ServerAnnounce {
        server_id: ServerId(5),
        transports: vec![],
    })
    .to_bytes()
    .unwrap();
    pe.announce_received(t(1_600), sa("10.0.0.5:50000"), &announce);
    let (a, to) = expect_connect(&mut pe);
    assert_eq!(to, vec![sa("10.0.0.5:3863")]);
    pe.registrar_connected(t(1_700), a);
    drain(&mut pe);
    pe.registrar_received(t(1_800), a, &response(false, None));
    assert_eq!(
        events(&mut pe),
        vec![PeEvent::Registered {
            pe_id: PE,
            registrar: Some(ServerId(5))
        }]
    );
    // The registrar dies and stops announcing: after T7 it is forgotten,
    // the hunt finds nobody to connect to.
    pe.registrar_closed(t(7_000), a);
    assert!(drain(&mut pe).is_empty());
    advance(&mut pe, t(20_000));
    assert!(drain(&mut pe).is_empty());
    // A fresh announce ends the wait at once.
    pe.announce_received(t(20_100), sa("10.0.0.6:50000"), &announce);
    let (_, to) = expect_connect(&mut pe);
    assert_eq!(to, vec![sa("10.0.0.6:3863")]);
}

#[test]
fn bad_input_is_reported_and_unknown_messages_answered_with_error() {
    let (mut pe, a) = registered(Policy::RoundRobin);
    pe.registrar_received(t(1), a, &[0x77, 0, 0, 4]);
    let AsapMessage::Error(e) = sent_one(&mut pe, a) else {
        panic!()
    };
    assert_eq!(e.error.causes[0].code, ErrorCauseCode::UnrecognizedMessage);
    assert_eq!(e.error.causes[0].info, vec![0x77, 0, 0, 4]);
    assert!(matches!(events(&mut pe)[..], [PeEvent::BadMessage { .. }]));
    for junk in [&[][..], &[1], &[3, 0, 0, 200, 1, 2], &[0xff; 64]] {
        pe.registrar_received(t(2), a, junk);
        pe.announce_received(t(2), sa("10.0.0.9:1"), junk);
    }
    assert!(pe.state().registered);
    // An unsolicited response on an unknown association is ignored.
    pe.registrar_received(t(3), RegConn(999), &response(true, None));
    assert!(pe.state().registered);
}

#[test]
fn pe_session_builds_control_frames_and_sorts_what_arrives() {
    let mut s = PeSession::new(TransportUse::DataPlusControl);
    let cookie = s.cookie(b"state-17").unwrap();
    assert!(cookie.is_asap());
    assert_eq!(
        decode(&cookie.payload),
        AsapMessage::from(asap::Cookie {
            cookie: b"state-17".to_vec()
        })
    );
    let card = s.business_card(handle(), None, vec![]).unwrap();
    assert!(matches!(
        decode(&card.payload),
        AsapMessage::BusinessCard(_)
    ));
    assert!(s.data(11, b"x".to_vec()).is_err());
    let echo = AsapMessage::from(asap::CookieEcho {
        cookie: b"state-17".to_vec(),
    });
    let frame = rserpool_proto::data_channel::Frame::new(11, echo.to_bytes().expect("encodes"));
    assert_eq!(
        s.receive(frame).unwrap(),
        SessionInput::CookieEcho(b"state-17".to_vec())
    );
    assert_eq!(s.echoed_cookie(), Some(&b"state-17"[..]));
    let data = s.data(0, b"hello".to_vec()).unwrap();
    assert_eq!(s.receive(data.clone()).unwrap(), SessionInput::Data(data));
    let bad = rserpool_proto::data_channel::Frame::new(11, vec![1, 2, 3]);
    assert!(s.receive(bad).is_err());

    let mut plain = PeSession::new(TransportUse::DataOnly);
    assert!(plain.cookie(b"c").is_err());
    let f = rserpool_proto::data_channel::Frame::new(11, vec![1, 2, 3]);
    assert_eq!(plain.receive(f.clone()).unwrap(), SessionInput::Data(f));
}
