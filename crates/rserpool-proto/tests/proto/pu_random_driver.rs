//! A randomized driver plays registrars, PEs and the application against
//! the pool user. Whatever happens: nothing is sent on an association that
//! is not up, timers never stand still, a session's messages reach its PEs
//! in the order they were sent (never twice), and a COOKIE_ECHO is always
//! the first frame on its association and carries the last cookie the
//! session received.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rserpool_proto::Time;
use rserpool_proto::asap_endpoint::{RegConn, RegTransmit};
use rserpool_proto::data_channel::{Frame, PPID_ASAP};
use rserpool_proto::pool_user::{
    PeConn, PoolUser, PuConfig, PuEvent, PuTransmit, SendError, SessionId, SessionState,
};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{
    ErrorCause, ErrorCauseCode, OperationError, PeId, Policy, PoolElement, PoolHandle, ServerId,
    TransportParam, TransportUse,
};

#[derive(Clone, Debug)]
enum Act {
    RegConnect(bool),
    RegClose,
    /// Answer the resolution with the PEs in this bit set (0: error).
    Answer(u8),
    RegJunk(Vec<u8>),
    PeConnect(usize, bool),
    PeClose(usize),
    /// The n-th up PE sends a cookie (0), a card with PEs (1), data (2).
    PeSends(usize, u8, u8),
    Open,
    Send(usize),
    Failover(usize),
    CloseSession(usize),
    Resolve,
    Unreachable(u8),
    Wait(u32),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => prop::bool::weighted(0.8).prop_map(Act::RegConnect),
        1 => Just(Act::RegClose),
        4 => any::<u8>().prop_map(Act::Answer),
        1 => prop::collection::vec(any::<u8>(), 0..16).prop_map(Act::RegJunk),
        5 => (0..4usize, prop::bool::weighted(0.8)).prop_map(|(n, ok)| Act::PeConnect(n, ok)),
        2 => (0..4usize).prop_map(Act::PeClose),
        5 => (0..4usize, 0..3u8, any::<u8>()).prop_map(|(n, k, v)| Act::PeSends(n, k, v)),
        1 => Just(Act::Open),
        6 => (0..4usize).prop_map(Act::Send),
        1 => (0..4usize).prop_map(Act::Failover),
        1 => (0..4usize).prop_map(Act::CloseSession),
        1 => Just(Act::Resolve),
        1 => (1..6u8).prop_map(Act::Unreachable),
        3 => prop_oneof![Just(0u32), 1..60_000u32].prop_map(Act::Wait),
    ]
}

fn handle() -> PoolHandle {
    PoolHandle::from("P")
}

fn pe(id: u8) -> PoolElement {
    PoolElement {
        pe_id: PeId(u32::from(id)),
        home_server_id: ServerId(1),
        registration_life: 30_000,
        user_transport: TransportParam::Sctp {
            port: 9000,
            transport_use: TransportUse::DataPlusControl,
            addresses: [std::net::IpAddr::from([10, 0, 2, id])]
                .into_iter()
                .collect(),
        },
        policy: Policy::RoundRobin,
        asap_transport: None,
    }
}

fn pes(set: u8) -> Vec<PoolElement> {
    (1..=5u8).filter(|i| set & (1 << i) != 0).map(pe).collect()
}

#[derive(Default)]
struct Model {
    reg_pending: Vec<RegConn>,
    reg_up: Vec<RegConn>,
    pe_pending: Vec<PeConn>,
    pe_up: Vec<PeConn>,
    names: BTreeSet<PeConn>,
    conn_session: BTreeMap<PeConn, SessionId>,
    /// Frames each PE association carried so far.
    frames_on: BTreeMap<PeConn, usize>,
    sessions: Vec<SessionId>,
    next_seq: BTreeMap<SessionId, u32>,
    last_delivered: BTreeMap<SessionId, u32>,
    cookie: BTreeMap<SessionId, Vec<u8>>,
}

impl Model {
    fn collect(&mut self, pu: &mut PoolUser) {
        while let Some(tx) = pu.poll_transmit() {
            match tx {
                PuTransmit::Registrar(RegTransmit::Connect { conn, .. }) => {
                    self.reg_pending.push(conn)
                }
                PuTransmit::Registrar(RegTransmit::Send { conn, bytes }) => {
                    assert!(self.reg_up.contains(&conn), "send on {conn:?}, not up");
                    AsapMessage::decode(&bytes, &Default::default()).unwrap();
                }
                PuTransmit::Registrar(RegTransmit::Close { conn }) => {
                    self.reg_up.retain(|c| *c != conn);
                    self.reg_pending.retain(|c| *c != conn);
                }
                PuTransmit::ConnectPe { conn, session, .. } => {
                    assert!(self.names.insert(conn), "connection name reused");
                    assert!(self.sessions.contains(&session));
                    self.pe_pending.push(conn);
                    self.conn_session.insert(conn, session);
                }
                PuTransmit::SendPe { conn, frame } => {
                    assert!(self.pe_up.contains(&conn), "send on {conn:?}, not up");
                    let n = self.frames_on.entry(conn).or_default();
                    *n += 1;
                    let sid = self.conn_session[&conn];
                    if frame.ppid == PPID_ASAP {
                        assert_eq!(*n, 1, "COOKIE_ECHO first");
                        let m = AsapMessage::decode(&frame.payload, &Default::default())
                            .unwrap()
                            .message;
                        let AsapMessage::CookieEcho(e) = m else {
                            panic!("unexpected control {m:?}")
                        };
                        assert_eq!(Some(&e.cookie), self.cookie.get(&sid));
                    } else {
                        let seq = u32::from_be_bytes(frame.payload[..4].try_into().unwrap());
                        let last = self.last_delivered.insert(sid, seq);
                        assert!(last.is_none_or(|l| l < seq), "{last:?} then {seq}");
                    }
                }
                PuTransmit::ClosePe { conn } => {
                    self.pe_up.retain(|c| *c != conn);
                    self.pe_pending.retain(|c| *c != conn);
                }
            }
        }
    }
}

fn run(acts: &[Act]) {
    let mut cfg = PuConfig::new(vec![
        "10.0.0.1:3863".parse().unwrap(),
        "10.0.0.2:3863".parse().unwrap(),
    ]);
    cfg.max_queued_messages = 8;
    let mut now = Time::ZERO;
    let mut pu = PoolUser::new(cfg, now, 5);
    let mut m = Model::default();
    for a in acts {
        match a {
            Act::RegConnect(ok) => {
                if let Some(c) = m.reg_pending.pop() {
                    if *ok {
                        m.reg_up.push(c);
                        pu.registrar_connected(now, c);
                    } else {
                        pu.registrar_closed(now, c);
                    }
                }
            }
            Act::RegClose => {
                if let Some(c) = m.reg_up.pop() {
                    pu.registrar_closed(now, c);
                }
            }
            Act::Answer(set) => {
                if let Some(&c) = m.reg_up.last() {
                    let error = (*set == 0).then(|| {
                        OperationError::single(ErrorCause::bare(ErrorCauseCode::UnknownPoolHandle))
                    });
                    let r = AsapMessage::from(asap::HandleResolutionResponse {
                        pool_handle: handle(),
                        policy: Some(Policy::RoundRobin),
                        pool_elements: pes(*set),
                        error,
                    });
                    pu.registrar_received(now, c, &r.to_bytes().expect("encodes"));
                }
            }
            Act::RegJunk(b) => {
                if let Some(&c) = m.reg_up.last() {
                    pu.registrar_received(now, c, b);
                }
                pu.announce_received(now, "10.0.0.3:1".parse().unwrap(), b);
            }
            Act::PeConnect(n, ok) => {
                if !m.pe_pending.is_empty() {
                    let c = m.pe_pending.remove(n % m.pe_pending.len());
                    if *ok {
                        m.pe_up.push(c);
                        pu.pe_connected(now, c);
                    } else {
                        pu.pe_closed(now, c);
                    }
                }
            }
            Act::PeClose(n) => {
                if !m.pe_up.is_empty() {
                    let c = m.pe_up.remove(n % m.pe_up.len());
                    pu.pe_closed(now, c);
                }
            }
            Act::PeSends(n, kind, v) => {
                if !m.pe_up.is_empty() {
                    let c = m.pe_up[n % m.pe_up.len()];
                    let sid = m.conn_session[&c];
                    let frame = match kind {
                        0 => {
                            // Only the session's current PE is heard.
                            if matches!(pu.session_state(sid), Some(SessionState::Up { conn, .. }) if conn == c)
                            {
                                m.cookie.insert(sid, vec![*v; 3]);
                            }
                            Frame::new(
                                PPID_ASAP,
                                AsapMessage::from(asap::Cookie {
                                    cookie: vec![*v; 3],
                                })
                                .to_bytes()
                                .unwrap(),
                            )
                        }
                        1 => Frame::new(
                            PPID_ASAP,
                            AsapMessage::from(asap::BusinessCard {
                                pool_handle: handle(),
                                policy: None,
                                pool_elements: pes(*v),
                            })
                            .to_bytes()
                            .unwrap(),
                        ),
                        _ => Frame::new(0, vec![*v]),
                    };
                    pu.pe_received(now, c, frame);
                }
            }
            Act::Open => {
                if m.sessions.len() < 3 {
                    let s = pu.open_session(now, handle());
                    m.sessions.push(s);
                }
            }
            Act::Send(n) => {
                if !m.sessions.is_empty() {
                    let s = m.sessions[n % m.sessions.len()];
                    let seq = m.next_seq.entry(s).or_default();
                    let up = matches!(pu.session_state(s), Some(SessionState::Up { .. }));
                    match pu.send(now, s, 0, seq.to_be_bytes().to_vec()) {
                        Ok(()) => *seq += 1,
                        Err(SendError::QueueFull) => assert!(!up, "queue full while up"),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            Act::Failover(n) => {
                if !m.sessions.is_empty() {
                    pu.failover(now, m.sessions[n % m.sessions.len()]);
                }
            }
            Act::CloseSession(n) => {
                if !m.sessions.is_empty() {
                    let s = m.sessions.remove(n % m.sessions.len());
                    pu.close_session(now, s);
                    assert_eq!(pu.session_state(s), None);
                }
            }
            Act::Resolve => pu.resolve(now, &handle()),
            Act::Unreachable(id) => pu.report_unreachable(now, &handle(), PeId(u32::from(*id))),
            Act::Wait(ms) => {
                let target = if *ms == 0 {
                    pu.poll_timeout().unwrap_or(now)
                } else {
                    now.plus_millis(u64::from(*ms))
                };
                while let Some(t) = pu.poll_timeout() {
                    if t > target {
                        break;
                    }
                    assert!(t >= now, "timer in the past");
                    now = t;
                    pu.handle_timeout(now);
                    m.collect(&mut pu);
                    assert!(pu.poll_timeout().is_none_or(|n| n > now), "timer stuck");
                }
                now = now.max(target);
            }
        }
        m.collect(&mut pu);
        while let Some(e) = pu.poll_event() {
            match e {
                PuEvent::SessionUp { session, .. }
                | PuEvent::Failover { session, .. }
                | PuEvent::Data { session, .. }
                | PuEvent::SessionFailed { session, .. } => {
                    assert!(m.sessions.contains(&session), "event for a closed session")
                }
                _ => {}
            }
        }
        for s in &m.sessions {
            match pu.session_state(*s).unwrap() {
                SessionState::Up { conn, .. } => assert!(m.pe_up.contains(&conn)),
                SessionState::Connecting { conn, .. } => assert!(m.pe_pending.contains(&conn)),
                SessionState::Resolving | SessionState::Idle => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_registrars_pes_and_application(acts in prop::collection::vec(act(), 1..200)) {
        run(&acts);
    }
}
