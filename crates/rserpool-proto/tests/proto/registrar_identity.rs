//! The registrar in an authenticated scope (TLS): identities handed in by
//! the driver decide who may speak ENRP, register into which pool, and
//! re-register which PE ID. Without `require_identity` nothing changes.
#![allow(clippy::unwrap_used)]

use crate::registrar_net as net;

use net::*;
use std::net::{IpAddr, SocketAddr};

use rserpool_proto::Time;
use rserpool_proto::identity::Identity;
use rserpool_proto::registrar::{ConnId, Registrar, Transmit};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::enrp::{self, EnrpMessage};
use rserpool_proto::wire::{
    DecodeOptions, ErrorCauseCode, PeId, Policy, ServerId, ServerInformation,
};

fn now() -> Time {
    Time::from_millis(1_000)
}

fn registrar(require: bool) -> Registrar {
    let mut c = pr_config(0, &[]);
    c.require_identity = require;
    Registrar::new(c, Time::ZERO, 1)
}

fn pe_identity(name: &str, pool: &str) -> Identity {
    Identity::from_uris(Some(name), [format!("rserpool:pe:{pool}").as_str()])
}

fn client(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::from([10, 9, 0, last]), 40_000)
}

/// Registers PE `id` on `assoc`; the registration response's cause
/// (`None`: accepted).
fn register(r: &mut Registrar, assoc: u64, pool: &str, id: u32) -> Option<ErrorCauseCode> {
    let m = AsapMessage::from(asap::Registration {
        pool_handle: pool.into(),
        pool_element: pe_param(id, IpAddr::from([10, 9, 0, 1]), Policy::RoundRobin),
    });
    r.asap_received(now(), assoc, &m.to_bytes().expect("encodes"));
    while let Some(t) = r.poll_transmit() {
        if let Transmit::Asap { bytes, .. } = t {
            let d = AsapMessage::decode(&bytes, &DecodeOptions::default()).unwrap();
            if let AsapMessage::RegistrationResponse(resp) = d.message {
                return if resp.reject {
                    resp.error.and_then(|e| e.causes.first().map(|c| c.code))
                } else {
                    None
                };
            }
        }
    }
    panic!("no registration response");
}

#[test]
fn registrations_need_a_pe_identity_for_the_pool() {
    let mut r = registrar(true);
    let anonymous = r.asap_accepted(now(), client(1));
    assert_eq!(
        register(&mut r, anonymous, "a", 1),
        Some(ErrorCauseCode::RejectionDueToSecurity)
    );
    let pe = r.asap_accepted(now(), client(1));
    r.asap_identity(pe, pe_identity("pe", "a"));
    assert_eq!(
        register(&mut r, pe, "b", 1),
        Some(ErrorCauseCode::RejectionDueToSecurity)
    );
    assert_eq!(register(&mut r, pe, "a", 1), None);
    assert!(r.handlespace().get(&"a".into(), PeId(1)).is_some());
    assert!(r.handlespace().get(&"b".into(), PeId(1)).is_none());
}

#[test]
fn without_required_identities_anyone_registers_as_before() {
    let mut r = registrar(false);
    let anonymous = r.asap_accepted(now(), client(1));
    assert_eq!(register(&mut r, anonymous, "a", 1), None);
}

#[test]
fn a_pe_id_stays_with_the_identity_that_registered_it() {
    let mut r = registrar(true);
    let x = r.asap_accepted(now(), client(1));
    r.asap_identity(x, pe_identity("x", "p"));
    let y = r.asap_accepted(now(), client(1));
    r.asap_identity(y, pe_identity("y", "p"));
    assert_eq!(register(&mut r, x, "p", 7), None);
    // Same host, same transport, another identity.
    assert_eq!(
        register(&mut r, y, "p", 7),
        Some(ErrorCauseCode::RejectionDueToSecurity)
    );
    // The same identity on a new association (a reconnecting PE).
    let x2 = r.asap_accepted(now(), client(1));
    r.asap_identity(x2, pe_identity("x", "p"));
    assert_eq!(register(&mut r, x2, "p", 7), None);
}

fn presence(id: ServerId, at: SocketAddr) -> Vec<u8> {
    EnrpMessage::from(enrp::Presence {
        reply_required: true,
        sender: id,
        receiver: ServerId(0),
        checksum: Some(0),
        server_info: ServerInformation {
            server_id: id,
            transport: tcp(at.ip(), at.port()),
        },
    })
    .to_bytes()
    .expect("encodes")
}

/// Whether the registrar closed `conn` among its pending transmits.
fn closed(r: &mut Registrar, conn: ConnId) -> bool {
    std::iter::from_fn(|| r.poll_transmit()).any(|t| t == Transmit::CloseEnrp { conn })
}

#[test]
fn enrp_only_from_registrar_identities_under_their_own_id() {
    let mut r = registrar(true);
    let at = enrp_addr(1);

    let pe = r.enrp_accepted(now(), at);
    r.enrp_identity(pe, pe_identity("pe", "*"));
    assert!(closed(&mut r, pe), "a PE identity kept an ENRP association");

    let unauthenticated = r.enrp_accepted(now(), at);
    r.enrp_received(now(), unauthenticated, &presence(pr_id(1), at));
    assert!(closed(&mut r, unauthenticated));

    let other_id = r.enrp_accepted(now(), at);
    r.enrp_identity(
        other_id,
        Identity::from_uris(Some("pr"), ["rserpool:registrar:7"]),
    );
    r.enrp_received(now(), other_id, &presence(pr_id(1), at));
    assert!(
        closed(&mut r, other_id),
        "a PRESENCE under another ID was taken"
    );
    assert_eq!(r.peers().count(), 0);

    let good = r.enrp_accepted(now(), at);
    let id = pr_id(1).0.to_string();
    r.enrp_identity(
        good,
        Identity::from_uris(Some("pr"), [format!("rserpool:registrar:{id}").as_str()]),
    );
    r.enrp_received(now(), good, &presence(pr_id(1), at));
    assert!(!closed(&mut r, good));
    assert_eq!(r.peers().collect::<Vec<_>>(), vec![(pr_id(1), good)]);
}
