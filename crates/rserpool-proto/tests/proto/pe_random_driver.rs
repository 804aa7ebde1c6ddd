//! A randomized driver plays registrars against the pool element: any
//! order of association events, valid and invalid messages, announces,
//! load changes, shutdown and time. Whatever happens, the PE never sends
//! on an association that is not up, never asks for a timer in the past,
//! and its state summary stays consistent.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use rserpool_proto::Time;
use rserpool_proto::asap_endpoint::RegConn;
use rserpool_proto::pool_element::{PeConfig, PePhase, PeTransmit, PoolElement};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{PeId, Policy, PoolHandle, ServerId, TransportParam, TransportUse};

const PE: PeId = PeId(0x0bad_cafe);

#[derive(Clone, Debug)]
enum Act {
    /// Complete (true) or refuse (false) the n-th pending connect.
    Connect(usize, bool),
    /// Close the n-th up association.
    Close(usize),
    Accept,
    /// Deliver message kind k on the n-th up association.
    Deliver(usize, u8, u32, bool),
    Junk(usize, Vec<u8>),
    Announce(u32),
    SetLoad(u32),
    Deregister,
    /// Advance by this many ms (0: to the next timeout).
    Wait(u32),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => (0..4usize, prop::bool::weighted(0.8)).prop_map(|(n, ok)| Act::Connect(n, ok)),
        1 => (0..4usize).prop_map(Act::Close),
        1 => Just(Act::Accept),
        10 => (0..4usize, 0..6u8, 1..4u32, any::<bool>())
            .prop_map(|(n, k, s, h)| Act::Deliver(n, k, s, h)),
        1 => (0..4usize, prop::collection::vec(any::<u8>(), 0..24))
            .prop_map(|(n, b)| Act::Junk(n, b)),
        1 => (1..4u32).prop_map(Act::Announce),
        1 => any::<u32>().prop_map(Act::SetLoad),
        4 => prop_oneof![Just(0u32), 1..200_000u32].prop_map(Act::Wait),
    ]
}

fn message(kind: u8, server: u32, flag: bool) -> Vec<u8> {
    let h = PoolHandle::from("P");
    let m: AsapMessage = match kind {
        0 | 1 => asap::RegistrationResponse {
            reject: kind == 1 && flag,
            pool_handle: h,
            pe_id: PE,
            error: None,
        }
        .into(),
        2 => asap::EndpointKeepAlive {
            home: flag,
            server_id: ServerId(server),
            pool_handle: h,
            pe_id: Some(PE),
        }
        .into(),
        3 => asap::DeregistrationResponse {
            pool_handle: h,
            pe_id: PE,
            error: None,
        }
        .into(),
        4 => asap::HandleResolution {
            pool_handle: h,
            items: None,
        }
        .into(),
        _ => asap::EndpointKeepAliveAck {
            pool_handle: h,
            pe_id: PE,
        }
        .into(),
    };
    m.to_bytes().expect("encodes")
}

struct Driver {
    pending: Vec<RegConn>,
    up: Vec<RegConn>,
    ever: BTreeSet<RegConn>,
}

impl Driver {
    fn collect(&mut self, pe: &mut PoolElement) {
        while let Some(tx) = pe.poll_transmit() {
            match tx {
                PeTransmit::Connect { conn, to } => {
                    assert!(!to.is_empty());
                    assert!(self.ever.insert(conn), "connection name reused");
                    self.pending.push(conn);
                }
                PeTransmit::Send { conn, bytes } => {
                    assert!(self.up.contains(&conn), "send on {conn:?}, not up");
                    assert!(AsapMessage::decode(&bytes, &Default::default()).is_ok());
                }
                PeTransmit::Close { conn } => {
                    self.up.retain(|c| *c != conn);
                    self.pending.retain(|c| *c != conn);
                }
            }
        }
    }
}

fn run(static_regs: bool, policy: Policy, acts: &[Act], dereg_at: usize) {
    let regs = if static_regs {
        vec![
            "10.0.0.1:3863".parse().unwrap(),
            "10.0.0.2:3863".parse().unwrap(),
        ]
    } else {
        vec![]
    };
    let transport = TransportParam::Tcp {
        port: 1,
        transport_use: TransportUse::DataOnly,
        address: [10, 0, 0, 3].into(),
    };
    let mut cfg = PeConfig::new(PoolHandle::from("P"), policy, transport, regs);
    cfg.pe_id = Some(PE);
    let mut now = Time::ZERO;
    let mut pe = PoolElement::new(cfg, now, 9);
    let mut d = Driver {
        pending: vec![],
        up: vec![],
        ever: BTreeSet::new(),
    };
    d.collect(&mut pe);
    for (i, a) in acts.iter().enumerate() {
        let a = if i == dereg_at { &Act::Deregister } else { a };
        match a {
            Act::Connect(n, ok) => {
                if !d.pending.is_empty() {
                    let c = d.pending.remove(n % d.pending.len());
                    if *ok {
                        d.up.push(c);
                        pe.registrar_connected(now, c);
                    } else {
                        pe.registrar_closed(now, c);
                    }
                }
            }
            Act::Close(n) => {
                if !d.up.is_empty() {
                    let c = d.up.remove(n % d.up.len());
                    pe.registrar_closed(now, c);
                }
            }
            Act::Accept => {
                let c = pe.registrar_accepted(now, "10.0.0.7:1".parse().unwrap());
                assert!(d.ever.insert(c), "connection name reused");
                d.up.push(c);
            }
            Act::Deliver(n, k, s, h) => {
                if !d.up.is_empty() {
                    let c = d.up[n % d.up.len()];
                    pe.registrar_received(now, c, &message(*k, *s, *h));
                }
            }
            Act::Junk(n, b) => {
                if !d.up.is_empty() {
                    let c = d.up[n % d.up.len()];
                    pe.registrar_received(now, c, b);
                }
                pe.announce_received(now, "10.0.0.9:9".parse().unwrap(), b);
            }
            Act::Announce(s) => {
                let m = AsapMessage::from(asap::ServerAnnounce {
                    server_id: ServerId(*s),
                    transports: vec![],
                });
                let from = format!("10.0.1.{s}:1").parse().unwrap();
                pe.announce_received(now, from, &m.to_bytes().expect("encodes"));
            }
            Act::SetLoad(l) => {
                let r = pe.set_load(now, *l);
                assert_eq!(r.is_ok(), policy.policy_type().is_adaptive());
            }
            Act::Deregister => pe.deregister(now),
            Act::Wait(ms) => {
                let target = if *ms == 0 {
                    pe.poll_timeout().unwrap_or(now)
                } else {
                    now.plus_millis(u64::from(*ms))
                };
                while let Some(t) = pe.poll_timeout() {
                    if t > target {
                        break;
                    }
                    assert!(t >= now, "timer in the past: {t:?} < {now:?}");
                    now = t;
                    pe.handle_timeout(now);
                    d.collect(&mut pe);
                    assert!(
                        pe.poll_timeout().is_none_or(|n| n > now),
                        "timer does not move on"
                    );
                }
                now = now.max(target);
            }
        }
        d.collect(&mut pe);
        while pe.poll_event().is_some() {}
        let st = pe.state();
        assert_eq!(st.pe_id, PE);
        match st.phase {
            PePhase::Registered => {
                assert!(st.registered);
                assert!(d.up.contains(&st.conn.unwrap()));
            }
            PePhase::Registering | PePhase::Deregistering => {
                assert!(d.up.contains(&st.conn.unwrap()));
            }
            PePhase::Stopped => {
                assert!(!st.registered);
                assert_eq!(pe.poll_timeout(), None);
            }
            PePhase::Hunting | PePhase::BackingOff => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn random_registrar_behaviour(
        static_regs in any::<bool>(),
        adaptive in any::<bool>(),
        acts in prop::collection::vec(act(), 1..150),
        dereg_at in 0..200usize,
    ) {
        let policy = if adaptive { Policy::LeastUsed { load: 1 } } else { Policy::RoundRobin };
        run(static_regs, policy, &acts, dereg_at);
    }
}
