//! What a registrar sends to RSPLIB peers, and how it takes their Errors:
//! the PE's ASAP (registrator) transport as RSPLIB accepts it, every
//! address of a multi-homed PE, ENRP Errors with RSPLIB's swapped IDs and
//! private causes, refused entries not sent again.
#![allow(clippy::unwrap_used)]

use crate::registrar_net as net;

use net::*;
use std::net::{IpAddr, SocketAddr};

use rserpool_proto::Time;
use rserpool_proto::registrar::{ConnId, Event, Registrar, Transmit};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::enrp::{self, EnrpMessage, UpdateAction};
use rserpool_proto::wire::{
    AddressList, ErrorCause, ErrorCauseCode, OperationError, Policy, PoolElement, PoolHandle,
    ServerId, ServerInformation, TransportParam, TransportUse,
};

const PEER: ServerId = ServerId(77);

fn sctp(port: u16, transport_use: TransportUse, addrs: &[IpAddr]) -> TransportParam {
    TransportParam::Sctp {
        port,
        transport_use,
        addresses: AddressList::from_slice(addrs),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A registrar whose ASAP endpoint is SCTP, with one identified peer.
fn registrar_with_peer() -> (Registrar, ConnId) {
    let mut c = pr_config(0, &[]);
    c.asap_transport = Some(sctp(3863, TransportUse::DataOnly, &[ip("10.0.0.1")]));
    let mut r = Registrar::new(c, Time::from_millis(0), 1);
    let now = Time::from_millis(1);
    let conn = r.enrp_accepted(now, enrp_addr(5));
    let p = EnrpMessage::from(enrp::Presence {
        reply_required: false,
        sender: PEER,
        receiver: ServerId(0),
        checksum: Some(0xffff),
        server_info: ServerInformation {
            server_id: PEER,
            transport: tcp(enrp_addr(5).ip(), 9901),
        },
    });
    r.enrp_received(now, conn, &p.to_bytes().expect("encodes"));
    assert_eq!(r.peers().collect::<Vec<_>>(), vec![(PEER, conn)]);
    drain(&mut r);
    (r, conn)
}

fn drain(r: &mut Registrar) -> Vec<EnrpMessage> {
    std::iter::from_fn(|| r.poll_transmit())
        .filter_map(|t| match t {
            Transmit::Enrp { bytes, .. } => Some(
                EnrpMessage::decode(&bytes, &Default::default())
                    .unwrap()
                    .message,
            ),
            _ => None,
        })
        .collect()
}

fn updates(msgs: &[EnrpMessage]) -> Vec<&enrp::HandleUpdate> {
    msgs.iter()
        .filter_map(|m| match m {
            EnrpMessage::HandleUpdate(u) => Some(u),
            _ => None,
        })
        .collect()
}

fn register(r: &mut Registrar, assoc: u64, pe: PoolElement) {
    let m = AsapMessage::from(asap::Registration {
        pool_handle: PoolHandle::from("pool"),
        pool_element: pe,
    });
    r.asap_received(Time::from_millis(2), assoc, &m.to_bytes().expect("encodes"));
}

fn pe(id: u32, asap_transport: Option<TransportParam>) -> PoolElement {
    let mut p = pe_param(id, ip("10.0.0.5"), Policy::LeastUsed { load: 0 });
    p.user_transport = sctp(7000, TransportUse::DataPlusControl, &[ip("10.0.0.5")]);
    p.asap_transport = asap_transport;
    p
}

#[test]
fn the_asap_transport_goes_out_data_only_with_every_address_of_the_association() {
    let (mut r, _) = registrar_with_peer();
    let remote: SocketAddr = "10.0.0.5:4000".parse().unwrap();
    let a = r.asap_accepted(Time::from_millis(2), remote);
    r.asap_remote_addresses(a, &[ip("10.0.0.5"), ip("10.0.1.5"), ip("fd00::5")]);

    // No ASAP transport named (RSPLIB's PEs): every address of the association.
    register(&mut r, a, pe(1, None));
    // Named DATA plus CONTROL (this project's PEs before): sent as DATA ONLY.
    register(
        &mut r,
        a,
        pe(
            2,
            Some(sctp(5000, TransportUse::DataPlusControl, &[ip("10.0.0.5")])),
        ),
    );
    // Port 0 cannot be repaired: the association stands in.
    register(
        &mut r,
        a,
        pe(3, Some(sctp(0, TransportUse::DataOnly, &[ip("10.0.0.5")]))),
    );
    let msgs = drain(&mut r);
    let ups = updates(&msgs);
    assert_eq!(ups.len(), 3, "{msgs:?}");
    let all = sctp(
        4000,
        TransportUse::DataOnly,
        &[ip("10.0.0.5"), ip("10.0.1.5"), ip("fd00::5")],
    );
    assert_eq!(ups[0].pool_element.asap_transport.as_ref(), Some(&all));
    assert_eq!(
        ups[1].pool_element.asap_transport.as_ref(),
        Some(&sctp(5000, TransportUse::DataOnly, &[ip("10.0.0.5")]))
    );
    assert_eq!(ups[2].pool_element.asap_transport.as_ref(), Some(&all));
    for u in ups {
        // RSPLIB's rule for a registrator transport (poolnode-template_impl.h).
        let t = u.pool_element.asap_transport.as_ref().unwrap();
        assert_eq!(t.transport_use(), TransportUse::DataOnly);
        assert!(t.port() != 0 && (1..=128).contains(&t.addresses().len()));
    }
}

#[test]
fn a_peers_asap_transport_marked_data_plus_control_is_stored_data_only() {
    let (mut r, conn) = registrar_with_peer();
    let mut p = pe(
        9,
        Some(sctp(5000, TransportUse::DataPlusControl, &[ip("10.0.0.9")])),
    );
    p.home_server_id = PEER;
    let u = EnrpMessage::from(enrp::HandleUpdate {
        takeover_suggested: false,
        sender: PEER,
        receiver: pr_id(0),
        action: UpdateAction::AddPe,
        pool_handle: PoolHandle::from("pool"),
        pool_element: p,
    });
    r.enrp_received(Time::from_millis(3), conn, &u.to_bytes().expect("encodes"));
    let hs = r.handlespace();
    let e = hs
        .find(&PoolHandle::from("pool"), rserpool_proto::wire::PeId(9))
        .and_then(|e| hs.entry(e))
        .unwrap();
    assert_eq!(
        e.asap_transport(),
        Some(sctp(5000, TransportUse::DataOnly, &[ip("10.0.0.9")]))
    );
}

#[test]
fn an_rsplib_error_with_swapped_ids_is_reported_with_its_cause_named() {
    let (mut r, conn) = registrar_with_peer();
    // RSPLIB answers with the IDs of the message it refuses.
    let e = EnrpMessage::from(enrp::Error {
        sender: pr_id(0),
        receiver: PEER,
        error: OperationError::single(ErrorCause::bare(ErrorCauseCode::from_code(0xf006))),
    });
    r.enrp_received(Time::from_millis(3), conn, &e.to_bytes().expect("encodes"));
    let events: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ProtocolError { .. })),
        "{events:?}"
    );
    let Some(Event::PeerError { peer, causes, .. }) =
        events.iter().find(|e| matches!(e, Event::PeerError { .. }))
    else {
        panic!("{events:?}")
    };
    assert_eq!(*peer, PEER);
    assert_eq!(causes[0].code(), 0xf006);
    assert_eq!(causes[0].name(), "RSPLIB: invalid registrator");
    // An Error claiming to come from us on another peer's association is
    // still refused.
    let forged = EnrpMessage::from(enrp::Error {
        sender: pr_id(0),
        receiver: ServerId(99),
        error: OperationError::single(ErrorCause::bare(ErrorCauseCode::InvalidValues)),
    });
    r.enrp_received(
        Time::from_millis(4),
        conn,
        &forged.to_bytes().expect("encodes"),
    );
    let events: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::ProtocolError { .. })),
        "{events:?}"
    );
}

#[test]
fn a_refused_entry_is_not_sent_to_that_peer_again_until_it_changes() {
    let (mut r, conn) = registrar_with_peer();
    let remote: SocketAddr = "10.0.0.5:4000".parse().unwrap();
    let a = r.asap_accepted(Time::from_millis(2), remote);
    register(&mut r, a, pe(1, None));
    let msgs = drain(&mut r);
    let refused = updates(&msgs)[0].clone();
    // The peer returns our Handle Update (RFC 5354: Unrecognized Message).
    let e = EnrpMessage::from(enrp::Error {
        sender: PEER,
        receiver: pr_id(0),
        error: OperationError::single(ErrorCause::unrecognized_message(
            &EnrpMessage::from(refused.clone())
                .to_bytes()
                .expect("encodes"),
        )),
    });
    r.enrp_received(Time::from_millis(3), conn, &e.to_bytes().expect("encodes"));
    let events: Vec<Event> = std::iter::from_fn(|| r.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PeerError { refused, .. } if refused.len() == 1)),
        "{events:?}"
    );
    // The same registration again: nothing for that peer.
    register(&mut r, a, pe(1, None));
    assert!(updates(&drain(&mut r)).is_empty());
    // Nor in a Handle Table Response.
    let htr = EnrpMessage::from(enrp::HandleTableRequest {
        own_children_only: false,
        sender: PEER,
        receiver: pr_id(0),
    });
    r.enrp_received(
        Time::from_millis(4),
        conn,
        &htr.to_bytes().expect("encodes"),
    );
    let msgs = drain(&mut r);
    let Some(EnrpMessage::HandleTableResponse(t)) = msgs.first() else {
        panic!("{msgs:?}")
    };
    assert!(t.pools.iter().all(|p| p.pool_elements.is_empty()), "{t:?}");
    // Changed (a new load): sent again.
    let mut changed = pe(1, None);
    changed.policy = Policy::LeastUsed { load: 7 };
    register(&mut r, a, changed);
    let msgs = drain(&mut r);
    let ups = updates(&msgs);
    assert_eq!(ups.len(), 1, "{msgs:?}");
    assert_eq!(ups[0].pool_element.policy, Policy::LeastUsed { load: 7 });
}
