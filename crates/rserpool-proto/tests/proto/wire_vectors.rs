//! Byte-exact vectors from RSPLIB 3.4.4: one of each ASAP/ENRP message type
//! (and layout variant) in `rsplib-demo.pcapng`, as captured. Each must
//! decode, report nothing, and re-encode to the identical bytes.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use rserpool_proto::wire::*;

/// (frame number in the capture, protocol, RFC type name, message bytes).
const VECTORS: &[(u32, Protocol, &str, &str)] = &[
    (
        24,
        Protocol::Asap,
        "REGISTRATION",
        concat!(
            "0100003c0009001050696e67506f6e67506f6f6c000a0028b5fcd72d0000000000015f9000040010",
            "e43e0001000100080affff010008000800000001",
        ),
    ),
    (
        28,
        Protocol::Asap,
        "REGISTRATION",
        concat!(
            "010000380009000c4563686f506f6f6c000a0028c01f83de0000000000015f9000040010ac760001",
            "000100080affff010008000800000001",
        ),
    ),
    (
        31,
        Protocol::Asap,
        "REGISTRATION_RESPONSE",
        "0300001c0009001050696e67506f6e67506f6f6c000e0008b5fcd72d",
    ),
    (
        5237,
        Protocol::Asap,
        "DEREGISTRATION",
        "020000180009000c4563686f506f6f6c000e0008c01f83de",
    ),
    (
        5239,
        Protocol::Asap,
        "DEREGISTRATION",
        "0200001c0009000f44617974696d65506f6f6c00000e0008f4ecf666",
    ),
    (
        5243,
        Protocol::Asap,
        "DEREGISTRATION_RESPONSE",
        "040000180009000c4563686f506f6f6c000e0008c01f83de",
    ),
    (
        85,
        Protocol::Asap,
        "HANDLE_RESOLUTION",
        "050000180009000c4563686f506f6f6c803f000800000001",
    ),
    (
        280,
        Protocol::Asap,
        "HANDLE_RESOLUTION",
        "0500001c0009000f44617974696d65506f6f6c00803f000800000001",
    ),
    (
        87,
        Protocol::Asap,
        "HANDLE_RESOLUTION_RESPONSE",
        concat!(
            "060000400009000c4563686f506f6f6c0008000800000001000a0028c01f83de0000000100015f90",
            "00040010ac760001000100080affff010008000800000001",
        ),
    ),
    (
        282,
        Protocol::Asap,
        "HANDLE_RESOLUTION_RESPONSE",
        concat!(
            "060000440009000f44617974696d65506f6f6c000008000800000001000a0028f4ecf66600000001",
            "00015f90000400108cfa0001000100080affff010008000800000001",
        ),
    ),
    (
        102,
        Protocol::Asap,
        "ENDPOINT_KEEP_ALIVE",
        "07000020000000010009001050696e67506f6e67506f6f6c000e0008b5fcd72d",
    ),
    (
        109,
        Protocol::Asap,
        "ENDPOINT_KEEP_ALIVE_ACK",
        "080000180009000c4563686f506f6f6c000e0008c01f83de",
    ),
    (52, Protocol::Asap, "SERVER_ANNOUNCE", "0a00000800000001"),
    (
        5144,
        Protocol::Asap,
        "COOKIE",
        "0b000018000d00143c50502d5444313e0000000000000002",
    ),
    (
        51,
        Protocol::Enrp,
        "PRESENCE",
        concat!(
            "0100002c0000000100000000000f000616150000000b0018000000010004001026ad000000010008",
            "0affff01",
        ),
    ),
    (
        68,
        Protocol::Enrp,
        "PRESENCE",
        concat!(
            "0100005c2133b71100000000000f0006ffff0000000b00482133b71100040040a892000000010008",
            "7f0000010002001400000000000000000000000000000001000100080affff0100020014fe800000",
            "00000000a01e25fffe277f6a",
        ),
    ),
    (
        71,
        Protocol::Enrp,
        "PRESENCE",
        concat!(
            "0101002c000000012133b711000f000616150000000b0018000000010004001026ad000000010008",
            "0affff01",
        ),
    ),
    (
        72,
        Protocol::Enrp,
        "HANDLE_TABLE_REQUEST",
        "0200000c2133b71100000000",
    ),
    (
        76,
        Protocol::Enrp,
        "HANDLE_TABLE_RESPONSE",
        concat!(
            "03000118000000012133b7110009000c4563686f506f6f6c000a003818f493960000000100015f90",
            "00040010c1e00001000100080affff01000800080000000100040010be2c0000000100080affff01",
            "000a0038c01f83de0000000100015f9000040010ac760001000100080affff010008000800000001",
            "000400109cef0000000100080affff010009000f44617974696d65506f6f6c00000a0038f4ecf666",
            "0000000100015f90000400108cfa0001000100080affff01000800080000000100040010a0c80000",
            "000100080affff010009001050696e67506f6e67506f6f6c000a0038b5fcd72d0000000100015f90",
            "00040010e43e0001000100080affff01000800080000000100040010b19f0000000100080affff01",
        ),
    ),
    (
        70,
        Protocol::Enrp,
        "LIST_REQUEST",
        "0500000c2133b71100000000",
    ),
    (
        74,
        Protocol::Enrp,
        "LIST_RESPONSE",
        "06000024000000012133b711000b00182133b71100040010a8920000000100080affff01",
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vector(frame: u32) -> (Protocol, Vec<u8>) {
    let (_, p, _, h) = VECTORS.iter().find(|v| v.0 == frame).unwrap();
    (*p, unhex(h))
}

fn decode(frame: u32) -> Message {
    let (p, b) = vector(frame);
    Message::decode(p, &b, &DecodeOptions::default())
        .unwrap()
        .message
}

#[test]
fn every_vector_decodes_and_reencodes_byte_exact() {
    let opts = DecodeOptions::default();
    for (frame, protocol, name, hex) in VECTORS {
        let bytes = unhex(hex);
        let d = Message::decode(*protocol, &bytes, &opts)
            .unwrap_or_else(|e| panic!("frame {frame}: {e}"));
        assert!(d.unrecognized.is_empty(), "frame {frame}");
        assert_eq!(d.message.type_name(), *name, "frame {frame}");
        assert_eq!(d.message.protocol(), *protocol, "frame {frame}");
        let mut out = vec![0xee]; // encode appends
        d.message.encode(&mut out).expect("encodes");
        assert_eq!(to_hex(&out[1..]), *hex, "frame {frame}");
        assert_eq!(
            d.message.to_bytes().expect("encodes"),
            bytes,
            "frame {frame}"
        );
        assert_eq!(
            message_length(*protocol, &bytes, &opts).unwrap(),
            Some(bytes.len())
        );
    }
}

#[test]
fn registration_fields() {
    let Message::Asap(AsapMessage::Registration(r)) = decode(24) else {
        panic!()
    };
    assert_eq!(r.pool_handle, PoolHandle::from("PingPongPool"));
    let pe = &r.pool_element;
    assert_eq!(pe.pe_id, PeId(0xb5fc_d72d));
    assert_eq!(pe.home_server_id, ServerId(0));
    assert_eq!(pe.registration_life, 90_000);
    assert_eq!(pe.policy, Policy::RoundRobin);
    assert_eq!(pe.asap_transport, None, "RSPLIB: no ASAP transport in ASAP");
    assert_eq!(
        pe.user_transport,
        TransportParam::Sctp {
            port: 58430,
            transport_use: TransportUse::DataPlusControl,
            addresses: ["10.255.255.1".parse().unwrap()].into_iter().collect(),
        }
    );
}

#[test]
fn handle_resolution_and_response_layout() {
    let Message::Asap(AsapMessage::HandleResolution(hr)) = decode(280) else {
        panic!()
    };
    assert_eq!(hr.pool_handle, PoolHandle::from("DaytimePool"));
    assert_eq!(hr.items, Some(1));
    let Message::Asap(AsapMessage::HandleResolutionResponse(r)) = decode(282) else {
        panic!()
    };
    // Pool Handle (padded), the pool's policy, then the PEs.
    assert_eq!(r.pool_handle, PoolHandle::from("DaytimePool"));
    assert_eq!(r.policy, Some(Policy::RoundRobin));
    assert_eq!(r.pool_elements.len(), 1);
    assert_eq!(r.pool_elements[0].pe_id, PeId(0xf4ec_f666));
    assert_eq!(r.error, None);
}

#[test]
fn keep_alive_carries_server_id_and_rsplib_pe_id() {
    let Message::Asap(AsapMessage::EndpointKeepAlive(k)) = decode(102) else {
        panic!()
    };
    assert!(!k.home);
    assert_eq!(k.server_id, ServerId(1));
    assert_eq!(k.pe_id, Some(PeId(0xb5fc_d72d)));
}

#[test]
fn server_announce_is_only_the_server_id() {
    let Message::Asap(AsapMessage::ServerAnnounce(a)) = decode(52) else {
        panic!()
    };
    assert_eq!(a.server_id, ServerId(1));
    assert!(a.transports.is_empty());
}

#[test]
fn presence_layout() {
    let Message::Enrp(EnrpMessage::Presence(p)) = decode(68) else {
        panic!()
    };
    assert!(!p.reply_required);
    assert_eq!(p.sender, ServerId(0x2133_b711));
    assert_eq!(p.receiver, ServerId(0));
    assert_eq!(p.checksum, Some(0xffff));
    let addrs: Vec<IpAddr> = [
        "127.0.0.1",
        "::1",
        "10.255.255.1",
        "fe80::a01e:25ff:fe27:7f6a",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    assert_eq!(p.server_info.server_id, ServerId(0x2133_b711));
    assert_eq!(p.server_info.transport.addresses(), addrs.as_slice());
    let Message::Enrp(EnrpMessage::Presence(p)) = decode(71) else {
        panic!()
    };
    assert!(p.reply_required);
    assert_eq!(p.checksum, Some(0x1615));
}

#[test]
fn handle_table_response_layout() {
    let Message::Enrp(EnrpMessage::HandleTableResponse(h)) = decode(76) else {
        panic!()
    };
    assert!(!h.reject && !h.more_to_send);
    let pools: Vec<(String, usize)> = h
        .pools
        .iter()
        .map(|p| (p.pool_handle.to_string(), p.pool_elements.len()))
        .collect();
    assert_eq!(
        pools,
        [
            ("EchoPool".to_string(), 2),
            ("DaytimePool".to_string(), 1),
            ("PingPongPool".to_string(), 1)
        ]
    );
    // In ENRP, RSPLIB adds the PE's ASAP transport (data only).
    for pe in h.pools.iter().flat_map(|p| &p.pool_elements) {
        let t = pe.asap_transport.as_ref().unwrap();
        assert_eq!(t.transport_use(), TransportUse::DataOnly);
        assert_eq!(pe.home_server_id, ServerId(1));
    }
}

#[test]
fn list_response_layout() {
    let Message::Enrp(EnrpMessage::ListResponse(l)) = decode(74) else {
        panic!()
    };
    assert!(!l.reject);
    assert_eq!(l.servers.len(), 1);
    assert_eq!(l.servers[0].server_id, ServerId(0x2133_b711));
    assert_eq!(l.servers[0].transport.port(), 43154);
}
