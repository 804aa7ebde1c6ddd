//! Peers learnt from a List Response: every other registrar is connected
//! to, the registrar itself never (whatever ID the list gives it).
#![allow(clippy::unwrap_used)]

use rserpool_proto::Time;
use rserpool_proto::registrar::{Config, Registrar, Transmit};
use rserpool_proto::wire::enrp::{ListResponse, Presence};
use rserpool_proto::wire::{
    EnrpMessage, ServerId, ServerInformation, TransportParam, TransportUse,
};
use std::net::SocketAddr;

fn tcp(addr: &str) -> TransportParam {
    let a: SocketAddr = addr.parse().unwrap();
    TransportParam::Tcp {
        port: a.port(),
        transport_use: TransportUse::DataOnly,
        address: a.ip(),
    }
}

#[test]
fn a_list_naming_this_registrar_does_not_make_it_connect_to_itself() {
    let me = ServerId(0x11);
    let mut r: Registrar = Registrar::new(Config::new(me, tcp("127.0.0.1:9901")), Time::ZERO, 1);
    let now = Time::from_millis(10);
    let peer = ServerId(0x22);
    let conn = r.enrp_accepted(now, "127.0.0.2:40000".parse().unwrap());
    let presence = Presence {
        reply_required: false,
        sender: peer,
        receiver: me,
        checksum: Some(0xffff),
        server_info: ServerInformation {
            server_id: peer,
            transport: tcp("127.0.0.2:9901"),
        },
    };
    r.enrp_received(
        now,
        conn,
        &EnrpMessage::from(presence).to_bytes().expect("encodes"),
    );
    let list = ListResponse {
        reject: false,
        sender: peer,
        receiver: me,
        servers: vec![
            // This registrar, not yet identified by the peer.
            ServerInformation {
                server_id: ServerId(0),
                transport: tcp("127.0.0.1:9901"),
            },
            ServerInformation {
                server_id: ServerId(0x33),
                transport: tcp("127.0.0.3:9901"),
            },
        ],
    };
    r.enrp_received(
        now,
        conn,
        &EnrpMessage::from(list).to_bytes().expect("encodes"),
    );
    let mut connects = Vec::new();
    while let Some(t) = r.poll_transmit() {
        if let Transmit::ConnectEnrp { to, .. } = t {
            connects.push(to);
        }
    }
    assert_eq!(
        connects,
        vec!["127.0.0.3:9901".parse::<SocketAddr>().unwrap()]
    );
}
