//! The encoder never writes a length field that differs from the bytes
//! written: what does not fit in 16 bits is an error, and the Error causes
//! a receiver echoes are kept within one message.

use std::net::{IpAddr, Ipv4Addr};

use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{
    AddressList, DecodeOptions, ErrorCause, ErrorCauseCode, MAX_CAUSES_LEN, MAX_MESSAGE_LEN,
    Message, OperationError, PeId, Policy, PoolElement, PoolHandle, Protocol, RawParameter,
    ServerId, TooLong, TransportParam, TransportUse, param_type,
};

fn pe(id: u32, n: u32) -> PoolElement {
    let addresses: AddressList = (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
        .collect();
    PoolElement {
        pe_id: PeId(id),
        home_server_id: ServerId(1),
        registration_life: 1000,
        user_transport: TransportParam::Sctp {
            port: 1,
            transport_use: TransportUse::DataOnly,
            addresses,
        },
        policy: Policy::RoundRobin,
        asap_transport: None,
    }
}

#[test]
fn an_overlong_message_is_an_error_and_writes_nothing() {
    let m = AsapMessage::from(asap::HandleResolutionResponse {
        pool_handle: PoolHandle::from("p"),
        policy: Some(Policy::RoundRobin),
        pool_elements: (1..=3).map(|i| pe(i, 3000)).collect(),
        error: None,
    });
    let mut out = vec![1, 2, 3];
    let e = m.encode(&mut out).unwrap_err();
    assert_eq!(out, [1, 2, 3], "nothing written");
    assert_eq!(e.message, Some((Protocol::Asap, m.msg_type())));
    assert_eq!(e.what, TooLong::Message);
    assert_eq!(e.length, m.encoded_len());
    assert!(e.length > MAX_MESSAGE_LEN);
    assert!(e.to_string().contains("HANDLE_RESOLUTION_RESPONSE"), "{e}");
}

#[test]
fn an_overlong_parameter_is_named() {
    let m = AsapMessage::from(asap::Registration {
        pool_handle: PoolHandle::from("p"),
        pool_element: pe(1, 9000),
    });
    let e = m.to_bytes().unwrap_err();
    // The innermost overflow: the transport (9000 addresses of 8 bytes).
    assert_eq!(e.what, TooLong::Parameter(param_type::SCTP_TRANSPORT));
    assert_eq!(e.length, 8 + 9000 * 8);
    // The largest registration that fits encodes with exact lengths.
    let fits = AsapMessage::from(asap::Registration {
        pool_handle: PoolHandle::from("p"),
        pool_element: pe(1, 8000),
    });
    let b = fits.to_bytes().unwrap();
    assert_eq!(usize::from(u16::from_be_bytes([b[2], b[3]])), b.len());
    Message::decode(Protocol::Asap, &b, &DecodeOptions::default()).unwrap();
}

#[test]
fn an_overlong_cause_is_named() {
    let e = OperationError::single(ErrorCause::new(
        ErrorCauseCode::InvalidValues,
        vec![0; 70_000],
    ));
    let err = AsapMessage::from(asap::Error { error: e })
        .to_bytes()
        .unwrap_err();
    assert_eq!(err.what, TooLong::Cause(ErrorCauseCode::InvalidValues));
    assert_eq!(err.length, 70_004);
}

fn unknown(len: usize) -> RawParameter {
    let mut tlv = vec![0xc0, 0x99];
    tlv.extend_from_slice(&(len as u16).to_be_bytes());
    tlv.resize(len, 0x5a);
    RawParameter { offset: 0, tlv }
}

#[test]
fn reported_parameters_are_echoed_whole_while_they_fit() {
    // 16,000 parameters of 4 bytes: 64,000 bytes of causes (8 each) do not
    // fit; the first MAX_CAUSES_LEN / 8 do.
    let report: Vec<RawParameter> = (0..16_000).map(|_| unknown(4)).collect();
    let e = OperationError::unrecognized_parameters(&report).unwrap();
    assert_eq!(e.causes.len(), MAX_CAUSES_LEN / 8);
    assert!(e.causes.iter().all(|c| c.info == report[0].tlv));
    for m in [
        Message::from(AsapMessage::from(asap::Error { error: e.clone() })),
        Message::from(rserpool_proto::wire::EnrpMessage::from(
            rserpool_proto::wire::enrp::Error {
                sender: ServerId(1),
                receiver: ServerId(2),
                error: e.clone(),
            },
        )),
    ] {
        let b = m.to_bytes().unwrap();
        let d = Message::decode(m.protocol(), &b, &DecodeOptions::default()).unwrap();
        assert_eq!(d.message, m);
    }
    // One parameter that alone filled its message cannot be echoed.
    assert_eq!(
        OperationError::unrecognized_parameters(&[unknown(65_520)]),
        None
    );
    assert_eq!(OperationError::unrecognized_parameters(&[]), None);
}

#[test]
fn an_unrecognized_message_is_echoed_cut_to_fit() {
    let big = vec![0x7e; 65_532];
    let c = ErrorCause::unrecognized_message(&big);
    assert!(c.info.len() < big.len());
    assert_eq!(c.info, big[..c.info.len()]);
    let b = AsapMessage::from(asap::Error {
        error: OperationError::single(c.clone()),
    })
    .to_bytes()
    .unwrap();
    Message::decode(Protocol::Asap, &b, &DecodeOptions::default()).unwrap();
    // Also in an ENRP Error, whose header is 8 bytes longer.
    let b = rserpool_proto::wire::EnrpMessage::from(rserpool_proto::wire::enrp::Error {
        sender: ServerId(1),
        receiver: ServerId(2),
        error: OperationError::single(c),
    })
    .to_bytes()
    .unwrap();
    assert!(b.len() <= MAX_MESSAGE_LEN);
    Message::decode(Protocol::Enrp, &b, &DecodeOptions::default()).unwrap();
    let small = ErrorCause::unrecognized_message(&[0x7e, 0, 0, 4]);
    assert_eq!(small.info, [0x7e, 0, 0, 4]);
}
