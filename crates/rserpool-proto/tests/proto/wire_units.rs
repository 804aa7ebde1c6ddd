//! Unit tests: every parameter and every message type against hand-written
//! encodings (the layouts of RFC 5354 as RSPLIB pads them), names and flags,
//! error cause info decoding, TCP framing, and the serde output.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::enrp::{self, EnrpMessage, UpdateAction};
use rserpool_proto::wire::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert_eq!(s.len() % 2, 0, "{s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

fn v4() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))
}

const TCP_HEX: &str = "0005 0010 0050 0001 0001 0008 0a000001";
const UDP_HEX: &str = "0006 0010 0035 0000 0001 0008 0a000001";
const PE_HEX: &str = "000a 0038 11223344 00000055 ffffffff
    0005 0010 0050 0001 0001 0008 0a000001
    0008 0008 00000001
    0006 0010 0035 0000 0001 0008 0a000001";
const SI_HEX: &str = "000b 0018 00000001 0005 0010 0050 0001 0001 0008 0a000001";

fn tcp() -> TransportParam {
    TransportParam::Tcp {
        port: 80,
        transport_use: TransportUse::DataPlusControl,
        address: v4(),
    }
}

fn udp() -> TransportParam {
    TransportParam::Udp {
        port: 53,
        address: v4(),
    }
}

fn pe() -> PoolElement {
    PoolElement {
        pe_id: PeId(0x1122_3344),
        home_server_id: ServerId(0x55),
        registration_life: -1,
        user_transport: tcp(),
        policy: Policy::RoundRobin,
        asap_transport: Some(udp()),
    }
}

fn si() -> ServerInformation {
    ServerInformation {
        server_id: ServerId(1),
        transport: tcp(),
    }
}

fn check_param(p: Parameter, hex: &str) {
    let bytes = unhex(hex);
    assert_eq!(
        to_hex(&p.to_bytes().expect("encodes")),
        to_hex(&bytes),
        "{p:?}"
    );
    let d = Parameter::decode(&bytes, Protocol::Asap, &opts()).unwrap();
    assert_eq!(d.message, p);
    assert!(d.unrecognized.is_empty());
}

#[test]
fn address_parameters() {
    check_param(
        Parameter::Ipv4Address(Ipv4Addr::new(10, 0, 0, 1)),
        "0001 0008 0a000001",
    );
    check_param(
        Parameter::Ipv6Address(Ipv6Addr::LOCALHOST),
        "0002 0014 00000000 00000000 00000000 00000001",
    );
}

#[test]
fn transport_parameters() {
    check_param(
        Parameter::Transport(TransportParam::Sctp {
            port: 9901,
            transport_use: TransportUse::DataOnly,
            addresses: [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]
            .into(),
        }),
        "0004 0024 26ad 0000 0001 0008 7f000001 0002 0014 00000000 00000000 00000000 00000001",
    );
    check_param(Parameter::Transport(tcp()), TCP_HEX);
    check_param(Parameter::Transport(udp()), UDP_HEX);
    check_param(
        Parameter::Transport(TransportParam::UdpLite {
            port: 7,
            address: v4(),
        }),
        "0007 0010 0007 0000 0001 0008 0a000001",
    );
    check_param(
        Parameter::Transport(TransportParam::Dccp {
            port: 5001,
            service_code: 0x0102_0304,
            address: v4(),
        }),
        "0003 0014 1389 0000 01020304 0001 0008 0a000001",
    );
}

#[test]
fn policy_parameters() {
    check_param(
        Parameter::PoolMemberSelectionPolicy(Policy::RoundRobin),
        "0008 0008 00000001",
    );
    check_param(
        Parameter::PoolMemberSelectionPolicy(Policy::Priority { priority: 7 }),
        "0008 000c 00000005 00000007",
    );
    check_param(
        Parameter::PoolMemberSelectionPolicy(Policy::LeastUsedDegradationDpf {
            load: 1,
            degradation: 2,
            load_dpf: 3,
            distance: 4,
        }),
        "0008 0018 b0002003 00000001 00000002 00000003 00000004",
    );
    // Every policy type with its number of values.
    for t in PolicyType::ALL {
        let p = Policy::from_values(t, &[9, 8, 7, 6]).unwrap();
        let b = Parameter::PoolMemberSelectionPolicy(p)
            .to_bytes()
            .expect("encodes");
        assert_eq!(b.len(), 8 + 4 * Policy::value_count(t));
        assert_eq!(&b[4..8], &t.code().to_be_bytes());
        let d = Parameter::decode(&b, Protocol::Asap, &opts()).unwrap();
        assert_eq!(d.message, Parameter::PoolMemberSelectionPolicy(p));
    }
}

#[test]
fn simple_parameters() {
    check_param(
        Parameter::PoolHandle(PoolHandle::from("abc")),
        "0009 0007 616263 00",
    );
    check_param(Parameter::PoolHandle(PoolHandle::default()), "0009 0004");
    check_param(Parameter::Cookie(b"xy".to_vec()), "000d 0006 7879 0000");
    check_param(
        Parameter::PeIdentifier(PeId(0xdead_beef)),
        "000e 0008 deadbeef",
    );
    check_param(Parameter::PeChecksum(0x1234), "000f 0006 1234 0000");
    check_param(
        Parameter::HandleResolutionOption(u32::MAX),
        "803f 0008 ffffffff",
    );
}

#[test]
fn pool_element_and_server_information() {
    check_param(Parameter::PoolElement(pe()), PE_HEX);
    let no_asap = PoolElement {
        asap_transport: None,
        ..pe()
    };
    check_param(
        Parameter::PoolElement(no_asap),
        "000a 0028 11223344 00000055 ffffffff 0005 0010 0050 0001 0001 0008 0a000001 0008 0008 00000001",
    );
    check_param(Parameter::ServerInformation(si()), SI_HEX);
}

#[test]
fn operation_error_parameters() {
    // Last cause unpadded inside the parameter (RSPLIB), padding after it.
    check_param(
        Parameter::OperationError(OperationError {
            causes: vec![
                ErrorCause::bare(ErrorCauseCode::UnknownPoolHandle),
                ErrorCause::new(
                    ErrorCauseCode::UnrecognizedParameter,
                    vec![0xab, 0xcd, 0xef],
                ),
            ],
        }),
        "000c 000f 0009 0004 0001 0007 abcdef 00",
    );
    // Causes before the last are padded.
    check_param(
        Parameter::OperationError(OperationError {
            causes: vec![
                ErrorCause::new(ErrorCauseCode::InvalidValues, vec![1]),
                ErrorCause::bare(ErrorCauseCode::LackOfResources),
            ],
        }),
        "000c 0010 0003 0005 01 000000 0006 0004",
    );
    // A padded last cause (RFC style) decodes the same.
    let d = Parameter::decode(
        &unhex("000c 0010 0009 0004 0001 0007 abcdef 00"),
        Protocol::Asap,
        &opts(),
    )
    .unwrap();
    let Parameter::OperationError(e) = d.message else {
        panic!()
    };
    assert_eq!(e.causes.len(), 2);
    // Empty Operation Error: rejected.
    assert!(matches!(
        Parameter::decode(&unhex("000c 0004"), Protocol::Asap, &opts()),
        Err(DecodeError::BadValueLength { .. })
    ));
}

#[test]
fn error_cause_codes() {
    for (i, c) in ErrorCauseCode::KNOWN.iter().enumerate() {
        assert_eq!(usize::from(c.code()), i + 1);
        assert_eq!(ErrorCauseCode::from_code(c.code()), *c);
    }
    assert_eq!(ErrorCauseCode::from_code(0x77), ErrorCauseCode::Other(0x77));
    assert_eq!(ErrorCauseCode::Other(0x77).code(), 0x77);
    use CauseInfoKind::*;
    let kinds: Vec<CauseInfoKind> = ErrorCauseCode::KNOWN
        .iter()
        .map(|c| c.info_kind())
        .collect();
    assert_eq!(
        kinds,
        [
            Parameter, Message, Parameter, Opaque, Parameter, Opaque, Parameter, Opaque, Opaque,
            Opaque
        ]
    );
}

#[test]
fn error_cause_info_decoding() {
    let o = opts();
    let c = ErrorCause::bare(ErrorCauseCode::NonUniquePeId);
    assert_eq!(c.decode_info(Protocol::Asap, &o).unwrap(), CauseInfo::Empty);
    let c = ErrorCause::new(ErrorCauseCode::LackOfResources, vec![1, 2]);
    assert_eq!(
        c.decode_info(Protocol::Asap, &o).unwrap(),
        CauseInfo::Opaque
    );
    let policy = Parameter::PoolMemberSelectionPolicy(Policy::LeastUsed { load: 5 });
    let c = ErrorCause::new(
        ErrorCauseCode::InconsistentPoolingPolicy,
        policy.to_bytes().expect("encodes"),
    );
    assert_eq!(
        c.decode_info(Protocol::Asap, &o).unwrap(),
        CauseInfo::Parameter(policy)
    );
    let c = ErrorCause::new(
        ErrorCauseCode::InconsistentTransportType,
        Parameter::Transport(udp()).to_bytes().expect("encodes"),
    );
    assert_eq!(
        c.decode_info(Protocol::Asap, &o).unwrap(),
        CauseInfo::Parameter(Parameter::Transport(udp()))
    );
    let msg = Message::from(asap::EndpointKeepAliveAck {
        pool_handle: PoolHandle::from("p"),
        pe_id: PeId(1),
    });
    let c = ErrorCause::unrecognized_message(&msg.to_bytes().expect("encodes"));
    let CauseInfo::Message(d) = c.decode_info(Protocol::Asap, &o).unwrap() else {
        panic!()
    };
    assert_eq!(d.message, msg);
    // A broken nested parameter is an error of the nested decoding.
    let c = ErrorCause::new(ErrorCauseCode::InvalidValues, unhex("000e 0006 0102 0000"));
    assert!(matches!(
        c.decode_info(Protocol::Asap, &o),
        Err(DecodeError::BadValueLength {
            at: Location { offset: 0, .. },
            ..
        })
    ));
}

fn check_msg(m: impl Into<Message>, hex: &str) {
    let m = m.into();
    let bytes = unhex(hex);
    assert_eq!(
        to_hex(&m.to_bytes().expect("encodes")),
        to_hex(&bytes),
        "{}",
        m.type_name()
    );
    let d = Message::decode(m.protocol(), &bytes, &opts()).unwrap();
    assert_eq!(d.message, m);
    assert!(d.unrecognized.is_empty());
}

fn ph() -> PoolHandle {
    PoolHandle::from("p")
}

#[test]
fn asap_messages() {
    check_msg(
        asap::Registration {
            pool_handle: ph(),
            pool_element: pe(),
        },
        &format!("0100 0044 0009 0005 70000000 {PE_HEX}"),
    );
    check_msg(
        asap::Deregistration {
            pool_handle: ph(),
            pe_id: PeId(1),
        },
        "0200 0014 0009 0005 70000000 000e 0008 00000001",
    );
    check_msg(
        asap::RegistrationResponse {
            reject: true,
            pool_handle: ph(),
            pe_id: PeId(1),
            error: Some(OperationError::single(ErrorCause::bare(
                ErrorCauseCode::UnknownPoolHandle,
            ))),
        },
        "0301 001c 0009 0005 70000000 000e 0008 00000001 000c 0008 0009 0004",
    );
    check_msg(
        asap::DeregistrationResponse {
            pool_handle: ph(),
            pe_id: PeId(1),
            error: None,
        },
        "0400 0014 0009 0005 70000000 000e 0008 00000001",
    );
    check_msg(
        asap::HandleResolution {
            pool_handle: ph(),
            items: None,
        },
        "0500 000c 0009 0005 70000000",
    );
    check_msg(
        asap::HandleResolution {
            pool_handle: ph(),
            items: Some(3),
        },
        "0500 0014 0009 0005 70000000 803f 0008 00000003",
    );
    check_msg(
        asap::HandleResolutionResponse {
            pool_handle: ph(),
            policy: None,
            pool_elements: vec![],
            error: Some(OperationError::single(ErrorCause::bare(
                ErrorCauseCode::UnknownPoolHandle,
            ))),
        },
        "0600 0014 0009 0005 70000000 000c 0008 0009 0004",
    );
    check_msg(
        asap::HandleResolutionResponse {
            pool_handle: ph(),
            policy: Some(Policy::RoundRobin),
            pool_elements: vec![pe(), pe()],
            error: None,
        },
        &format!("0600 0084 0009 0005 70000000 0008 0008 00000001 {PE_HEX} {PE_HEX}"),
    );
    check_msg(
        asap::EndpointKeepAlive {
            home: true,
            server_id: ServerId(7),
            pool_handle: ph(),
            pe_id: None,
        },
        "0701 0010 00000007 0009 0005 70000000",
    );
    check_msg(
        asap::EndpointKeepAliveAck {
            pool_handle: ph(),
            pe_id: PeId(2),
        },
        "0800 0014 0009 0005 70000000 000e 0008 00000002",
    );
    check_msg(
        asap::EndpointUnreachable {
            pool_handle: ph(),
            pe_id: PeId(1),
        },
        "0900 0014 0009 0005 70000000 000e 0008 00000001",
    );
    check_msg(
        asap::ServerAnnounce {
            server_id: ServerId(1),
            transports: vec![TransportParam::Udp {
                port: 3863,
                address: v4(),
            }],
        },
        "0a00 0018 00000001 0006 0010 0f17 0000 0001 0008 0a000001",
    );
    check_msg(
        asap::Cookie {
            cookie: b"xy".to_vec(),
        },
        "0b00 000c 000d 0006 7879 0000",
    );
    check_msg(
        asap::CookieEcho {
            cookie: b"xy".to_vec(),
        },
        "0c00 000c 000d 0006 7879 0000",
    );
    check_msg(
        asap::BusinessCard {
            pool_handle: ph(),
            policy: Some(Policy::RoundRobin),
            pool_elements: vec![pe()],
        },
        &format!("0d00 004c 0009 0005 70000000 0008 0008 00000001 {PE_HEX}"),
    );
    check_msg(
        asap::Error {
            error: OperationError::single(ErrorCause::unrecognized_message(&unhex("0f000004"))),
        },
        "0e00 0010 000c 000c 0002 0008 0f000004",
    );
}

#[test]
fn enrp_messages() {
    let (s, r) = (ServerId(1), ServerId(2));
    check_msg(
        enrp::Presence {
            reply_required: false,
            sender: s,
            receiver: ServerId(0),
            checksum: None,
            server_info: si(),
        },
        &format!("0100 0024 00000001 00000000 {SI_HEX}"),
    );
    check_msg(
        enrp::Presence {
            reply_required: true,
            sender: s,
            receiver: r,
            checksum: Some(0xabcd),
            server_info: si(),
        },
        &format!("0101 002c 00000001 00000002 000f 0006 abcd 0000 {SI_HEX}"),
    );
    check_msg(
        enrp::HandleTableRequest {
            own_children_only: true,
            sender: s,
            receiver: r,
        },
        "0201 000c 00000001 00000002",
    );
    check_msg(
        enrp::HandleTableResponse {
            reject: true,
            more_to_send: true,
            sender: s,
            receiver: r,
            pools: vec![],
        },
        "0303 000c 00000001 00000002",
    );
    check_msg(
        enrp::HandleTableResponse {
            reject: false,
            more_to_send: true,
            sender: s,
            receiver: r,
            pools: vec![
                enrp::PoolEntries {
                    pool_handle: ph(),
                    pool_elements: vec![pe(), pe()],
                },
                enrp::PoolEntries {
                    pool_handle: PoolHandle::from("q"),
                    pool_elements: vec![pe()],
                },
            ],
        },
        &format!(
            "0302 00c4 00000001 00000002 0009 0005 70000000 {PE_HEX} {PE_HEX} 0009 0005 71000000 {PE_HEX}"
        ),
    );
    check_msg(
        enrp::HandleUpdate {
            takeover_suggested: true,
            sender: s,
            receiver: r,
            action: UpdateAction::DelPe,
            pool_handle: ph(),
            pool_element: pe(),
        },
        &format!("0401 0050 00000001 00000002 0001 0000 0009 0005 70000000 {PE_HEX}"),
    );
    check_msg(
        enrp::ListRequest {
            sender: s,
            receiver: r,
        },
        "0500 000c 00000001 00000002",
    );
    check_msg(
        enrp::ListResponse {
            reject: false,
            sender: s,
            receiver: r,
            servers: vec![si(), si()],
        },
        &format!("0600 003c 00000001 00000002 {SI_HEX} {SI_HEX}"),
    );
    check_msg(
        enrp::ListResponse {
            reject: true,
            sender: s,
            receiver: r,
            servers: vec![],
        },
        "0601 000c 00000001 00000002",
    );
    check_msg(
        enrp::InitTakeover {
            sender: s,
            receiver: r,
            target_server_id: ServerId(3),
        },
        "0700 0010 00000001 00000002 00000003",
    );
    check_msg(
        enrp::InitTakeoverAck {
            sender: s,
            receiver: r,
            target_server_id: ServerId(3),
        },
        "0800 0010 00000001 00000002 00000003",
    );
    check_msg(
        enrp::TakeoverServer {
            sender: s,
            receiver: r,
            target_server_id: ServerId(3),
        },
        "0900 0010 00000001 00000002 00000003",
    );
    check_msg(
        enrp::Error {
            sender: s,
            receiver: ServerId(0),
            error: OperationError::single(ErrorCause::bare(ErrorCauseCode::LackOfResources)),
        },
        "0a00 0014 00000001 00000000 000c 0008 0006 0004",
    );
}

#[test]
fn names_types_and_protocols() {
    let k = asap::EndpointKeepAliveAck {
        pool_handle: ph(),
        pe_id: PeId(1),
    };
    assert_eq!(k.type_name(), "ENDPOINT_KEEP_ALIVE_ACK");
    assert_eq!(asap::EndpointKeepAliveAck::MSG_TYPE, 0x08);
    assert_eq!(k.protocol(), Protocol::Asap);
    let m = Message::from(k);
    assert_eq!(m.type_name(), "ENDPOINT_KEEP_ALIVE_ACK");
    assert_eq!(m.protocol(), Protocol::Asap);
    let e = enrp::InitTakeoverAck {
        sender: ServerId(1),
        receiver: ServerId(2),
        target_server_id: ServerId(3),
    };
    assert_eq!(e.type_name(), "INIT_TAKEOVER_ACK");
    assert_eq!(e.protocol(), Protocol::Enrp);
    let m = EnrpMessage::from(e);
    assert_eq!((m.sender(), m.receiver()), (ServerId(1), ServerId(2)));
    for t in 1..=14u8 {
        assert!(asap::msg_type::name(t).is_some());
    }
    for t in 1..=10u8 {
        assert!(enrp::msg_type::name(t).is_some());
    }
    assert_eq!(asap::msg_type::name(0x0f), None);
    assert_eq!(enrp::msg_type::name(0x0b), None);
    assert_eq!(asap::msg_type::name(6), Some("HANDLE_RESOLUTION_RESPONSE"));
    assert_eq!(enrp::msg_type::name(10), Some("ERROR"));
    assert_eq!(Protocol::from_ppid(11), Some(Protocol::Asap));
    assert_eq!(Protocol::from_ppid(12), Some(Protocol::Enrp));
    assert_eq!(Protocol::from_port(9901), Some(Protocol::Enrp));
    assert_eq!(Protocol::Enrp.ppid(), 12);
}

#[test]
fn reserved_flags_are_ignored() {
    // DEREGISTRATION with all flag bits set decodes; re-encoding clears them.
    let b = unhex("02ff 0014 0009 0005 70000000 000e 0008 00000001");
    let d = AsapMessage::decode(&b, &opts()).unwrap();
    assert_eq!(d.message.flags(), 0);
    // HANDLE_TABLE_RESPONSE keeps R and M only.
    let b = unhex("03ff 000c 00000001 00000002");
    let d = EnrpMessage::decode(&b, &opts()).unwrap();
    assert_eq!(d.message.flags(), 0x03);
}

#[test]
fn tcp_framing() {
    let a = Message::from(asap::Deregistration {
        pool_handle: ph(),
        pe_id: PeId(1),
    })
    .to_bytes()
    .unwrap();
    let b = Message::from(enrp::ListRequest {
        sender: ServerId(1),
        receiver: ServerId(2),
    })
    .to_bytes()
    .unwrap();
    let mut stream = a.clone();
    stream.extend_from_slice(&b);
    let o = opts();
    let n = message_length(Protocol::Asap, &stream, &o)
        .unwrap()
        .unwrap();
    assert_eq!(&stream[..n], a.as_slice());
    let m = message_length(Protocol::Enrp, &stream[n..], &o)
        .unwrap()
        .unwrap();
    assert_eq!(&stream[n..n + m], b.as_slice());
    assert_eq!(message_length(Protocol::Asap, &stream[..2], &o), Ok(None));
}

#[test]
fn encode_appends() {
    let m = Message::from(enrp::ListRequest {
        sender: ServerId(1),
        receiver: ServerId(2),
    });
    let mut out = vec![1, 2, 3];
    m.encode(&mut out).expect("encodes");
    m.encode(&mut out).expect("encodes");
    assert_eq!(out.len(), 3 + 24);
    assert_eq!(&out[3..15], m.to_bytes().expect("encodes").as_slice());
}

#[cfg(feature = "serde")]
#[test]
fn serde_json_output() {
    let m = Message::from(asap::Registration {
        pool_handle: ph(),
        pool_element: pe(),
    });
    let j = serde_json::to_value(&m).unwrap();
    assert_eq!(j["asap"]["type"], "REGISTRATION");
    let pe = &j["asap"]["body"]["pool_element"];
    assert_eq!(j["asap"]["body"]["pool_handle"], "p");
    assert_eq!(pe["pe_id"], 0x1122_3344);
    assert_eq!(pe["user_transport"]["Tcp"]["address"], "10.0.0.1");
    let c = Message::from(asap::Cookie {
        cookie: vec![0xab, 0x01],
    });
    assert_eq!(
        serde_json::to_value(&c).unwrap()["asap"]["body"]["cookie"],
        "ab01"
    );
    let e = EnrpMessage::decode(&unhex("0b00000c0000000100000000"), &opts()).unwrap_err();
    let j = serde_json::to_value(&e).unwrap();
    assert_eq!(j["UnknownMessageType"]["msg_type"], 11);
}
