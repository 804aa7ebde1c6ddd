//! What the probe owes the registrar as its peer: the registrar treats a
//! probe as a peer, so the probe behaves as one, also while idle between
//! snapshots.
//!
//! It answers PRESENCE probes, refuses the registrar's own
//! HANDLE_TABLE_REQUEST (it has no handlespace to offer, and an empty
//! answer would wrongly count as a completed synchronisation), answers
//! LIST_REQUEST with no servers and acknowledges every INIT_TAKEOVER so a
//! real takeover never waits for it. Its Server Information names an
//! unspecified address, so no registrar ever tries to connect back to it,
//! and it owns no PEs, so losing it triggers no takeover.

use crate::handlespace::checksum::ChecksumSum;
use crate::wire::enrp::{HandleTableResponse, InitTakeoverAck, ListResponse, Presence};
use crate::wire::{
    EnrpMessage, ServerId, ServerInformation, TransportKind, TransportParam, TransportUse,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// What a peer owes the registrar for a message it did not ask for;
/// `None` for messages that need no answer (Handle Updates, responses).
pub fn answer(m: &EnrpMessage, me: ServerId, endpoint: &TransportParam) -> Option<EnrpMessage> {
    let from = m.sender();
    Some(match m {
        EnrpMessage::Presence(p) if p.reply_required => presence(me, from, false, endpoint),
        EnrpMessage::HandleTableRequest(_) => HandleTableResponse {
            reject: true,
            more_to_send: false,
            sender: me,
            receiver: from,
            pools: Vec::new(),
        }
        .into(),
        EnrpMessage::ListRequest(_) => ListResponse {
            reject: false,
            sender: me,
            receiver: from,
            servers: Vec::new(),
        }
        .into(),
        // Someone thinks the probe is dead: it is not.
        EnrpMessage::InitTakeover(t) if t.target_server_id == me => {
            presence(me, from, false, endpoint)
        }
        EnrpMessage::InitTakeover(t) => InitTakeoverAck {
            sender: me,
            receiver: from,
            target_server_id: t.target_server_id,
        }
        .into(),
        _ => return None,
    })
}

/// A PRESENCE of the probe: it owns no PEs, so it announces the checksum of
/// an empty handlespace (RFC 5353 makes the PE Checksum parameter part of
/// every PRESENCE, and RSPLIB drops one without it).
pub fn presence(
    me: ServerId,
    to: ServerId,
    reply_required: bool,
    endpoint: &TransportParam,
) -> EnrpMessage {
    Presence {
        reply_required,
        sender: me,
        receiver: to,
        checksum: Some(ChecksumSum::EMPTY.finish().0),
        server_info: ServerInformation {
            server_id: me,
            transport: endpoint.clone(),
        },
    }
    .into()
}

/// The transport of the address the probe's association leaves from
/// (SCTP for [`TransportKind::Sctp`], TCP for anything else).
pub fn endpoint_at(kind: TransportKind, local: SocketAddr) -> TransportParam {
    match kind {
        TransportKind::Sctp => TransportParam::Sctp {
            port: local.port(),
            transport_use: TransportUse::DataOnly,
            addresses: [local.ip()].into_iter().collect(),
        },
        _ => TransportParam::Tcp {
            port: local.port(),
            transport_use: TransportUse::DataOnly,
            address: local.ip(),
        },
    }
}

/// A transport parameter nobody can connect to: the probe accepts no
/// associations.
pub fn no_endpoint(kind: TransportKind) -> TransportParam {
    endpoint_at(kind, SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
}

/// Whether a peer is a probe (or otherwise unreachable): port 0 and only
/// unspecified addresses.
pub fn is_no_endpoint(t: &TransportParam) -> bool {
    t.port() == 0 && t.addresses().iter().all(IpAddr::is_unspecified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::enrp::{
        HandleTableRequest, HandleUpdate, InitTakeover, ListRequest, UpdateAction,
    };
    use crate::wire::{DecodeOptions, PeId, Policy, PoolElement};

    const ME: ServerId = ServerId(0x77);
    const PR: ServerId = ServerId(0x11);

    fn roundtrip(m: EnrpMessage) -> EnrpMessage {
        // Whatever the probe answers must decode.
        EnrpMessage::decode(&m.to_bytes().expect("encodes"), &DecodeOptions::default())
            .unwrap()
            .message
    }

    fn tcp() -> TransportParam {
        no_endpoint(TransportKind::Tcp)
    }

    #[test]
    fn a_presence_that_asks_is_answered_without_an_endpoint() {
        let ask = presence(PR, ME, true, &tcp());
        match answer(&ask, ME, &tcp()).map(roundtrip) {
            Some(EnrpMessage::Presence(p)) => {
                assert!(!p.reply_required);
                assert_eq!((p.sender, p.receiver), (ME, PR));
                assert!(is_no_endpoint(&p.server_info.transport));
                assert_eq!(p.checksum, Some(ChecksumSum::EMPTY.finish().0));
            }
            other => panic!("{other:?}"),
        }
        let sctp = no_endpoint(TransportKind::Sctp);
        let heartbeat = presence(PR, ME, false, &sctp);
        assert_eq!(answer(&heartbeat, ME, &sctp), None);
    }

    #[test]
    fn the_registrars_table_request_is_refused_and_its_list_request_answered_empty() {
        let htr = EnrpMessage::from(HandleTableRequest {
            own_children_only: false,
            sender: PR,
            receiver: ME,
        });
        match answer(&htr, ME, &tcp()).map(roundtrip) {
            Some(EnrpMessage::HandleTableResponse(r)) => {
                assert!(r.reject && !r.more_to_send && r.pools.is_empty());
                assert_eq!(r.receiver, PR);
            }
            other => panic!("{other:?}"),
        }
        let lr = EnrpMessage::from(ListRequest {
            sender: PR,
            receiver: ME,
        });
        match answer(&lr, ME, &tcp()).map(roundtrip) {
            Some(EnrpMessage::ListResponse(l)) => assert!(!l.reject && l.servers.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn takeovers_of_others_are_acknowledged_and_of_itself_denied() {
        let it = |target| {
            EnrpMessage::from(InitTakeover {
                sender: PR,
                receiver: ME,
                target_server_id: target,
            })
        };
        match answer(&it(ServerId(0x22)), ME, &tcp()) {
            Some(EnrpMessage::InitTakeoverAck(a)) => {
                assert_eq!(a.target_server_id, ServerId(0x22));
                assert_eq!(a.receiver, PR);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            answer(&it(ME), ME, &tcp()),
            Some(EnrpMessage::Presence(_))
        ));
    }

    #[test]
    fn handle_updates_need_no_answer() {
        let u = EnrpMessage::from(HandleUpdate {
            takeover_suggested: false,
            sender: PR,
            receiver: ME,
            action: UpdateAction::AddPe,
            pool_handle: "p".into(),
            pool_element: PoolElement {
                pe_id: PeId(1),
                home_server_id: PR,
                registration_life: 1,
                user_transport: tcp(),
                policy: Policy::Random,
                asap_transport: None,
            },
        });
        assert_eq!(answer(&u, ME, &tcp()), None);
    }

    #[test]
    fn endpoints_name_the_local_address_or_nothing() {
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let named = endpoint_at(TransportKind::Sctp, local);
        assert_eq!(named.kind(), TransportKind::Sctp);
        assert_eq!(named.port(), 40000);
        assert!(!is_no_endpoint(&named));
        assert!(is_no_endpoint(&no_endpoint(TransportKind::Sctp)));
        assert_eq!(no_endpoint(TransportKind::Tcp).kind(), TransportKind::Tcp);
    }
}
