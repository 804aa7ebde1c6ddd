//! Bad input: every way a message can be malformed yields the exact error
//! variant at the exact place (message type, parameter type, byte offset).
#![allow(clippy::unwrap_used)]

use rserpool_proto::wire::*;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// RSPLIB REGISTRATION of "EchoPool" (capture frame 28). Offsets:
/// 4 Pool Handle (12), 16 Pool Element (40): 20 PE ID, 24 home, 28 life,
/// 32 SCTP transport (16): 36 port, 38 use, 40 IPv4 (8); 48 policy (8).
const REG: &str = "010000380009000c4563686f506f6f6c000a0028c01f83de0000000000015f90\
                   00040010ac760001000100080affff010008000800000001";
/// RSPLIB DEREGISTRATION of "EchoPool" (frame 5237): 4 Pool Handle (12),
/// 16 PE Identifier (8).
const DEREG: &str = "020000180009000c4563686f506f6f6c000e0008c01f83de";

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

fn asap_err(bytes: &[u8]) -> DecodeError {
    AsapMessage::decode(bytes, &opts()).unwrap_err()
}

fn asap_err_with(bytes: &[u8], o: DecodeOptions) -> DecodeError {
    AsapMessage::decode(bytes, &o).unwrap_err()
}

fn enrp_err(bytes: &[u8]) -> DecodeError {
    EnrpMessage::decode(bytes, &opts()).unwrap_err()
}

fn at(msg_type: Option<u8>, param_type: Option<u16>, offset: usize) -> Location {
    Location {
        protocol: Protocol::Asap,
        msg_type,
        param_type,
        offset,
    }
}

fn set16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Sets the message length field to the buffer's length.
fn fix_len(b: &mut [u8]) {
    let l = u16::try_from(b.len()).unwrap();
    set16(b, 2, l);
}

#[test]
fn the_base_vectors_are_valid() {
    AsapMessage::decode(&unhex(REG), &opts()).unwrap();
    AsapMessage::decode(&unhex(DEREG), &opts()).unwrap();
}

// ------------------------------------------------------------- truncation

#[test]
fn empty_and_short_headers() {
    for n in 0..4 {
        let b = &unhex(REG)[..n];
        assert_eq!(
            asap_err(b),
            DecodeError::Truncated {
                at: at(None, None, 0),
                needed: 4,
                available: n
            }
        );
    }
}

#[test]
fn truncated_message() {
    let b = unhex(REG);
    for cut in [4, 5, 16, 30, 55] {
        assert_eq!(
            asap_err(&b[..cut]),
            DecodeError::BadMessageLength {
                at: at(Some(1), None, 2),
                declared: 56,
                actual: cut
            },
            "cut at {cut}"
        );
    }
}

#[test]
fn message_length_past_the_end() {
    let mut b = unhex(REG);
    set16(&mut b, 2, 60);
    assert_eq!(
        asap_err(&b),
        DecodeError::BadMessageLength {
            at: at(Some(1), None, 2),
            declared: 60,
            actual: 56
        }
    );
}

#[test]
fn trailing_bytes_after_the_message() {
    let mut b = unhex(REG);
    b.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        asap_err(&b),
        DecodeError::BadMessageLength {
            at: at(Some(1), None, 2),
            declared: 56,
            actual: 60
        }
    );
}

#[test]
fn zero_and_small_message_lengths() {
    for declared in [0u16, 1, 3] {
        let mut b = unhex(REG);
        set16(&mut b, 2, declared);
        assert_eq!(
            asap_err(&b),
            DecodeError::BadMessageLength {
                at: at(Some(1), None, 2),
                declared: usize::from(declared),
                actual: 56
            }
        );
        assert!(message_length(Protocol::Asap, &b, &opts()).is_err());
    }
}

#[test]
fn odd_message_length() {
    // Length 55 with a non-zero 56th byte: not padding.
    let mut b = unhex(REG);
    set16(&mut b, 2, 55);
    assert_eq!(
        asap_err(&b),
        DecodeError::BadMessageLength {
            at: at(Some(1), None, 2),
            declared: 55,
            actual: 56
        }
    );
}

#[test]
fn unpadded_message_lengths_are_accepted() {
    // COOKIE with a 3-byte cookie: RFC style length 11 (last parameter not
    // padded), with or without the padding byte on the wire.
    let rfc = unhex("0b00000b000d0007616263");
    let padded = unhex("0b00000b000d000761626300");
    for b in [&rfc, &padded] {
        let d = AsapMessage::decode(b, &opts()).unwrap();
        assert_eq!(
            d.message,
            AsapMessage::Cookie(asap::Cookie {
                cookie: b"abc".to_vec()
            })
        );
        // Re-encoded the RSPLIB way: padded, length 12.
        assert_eq!(
            to_hex(&d.message.to_bytes().expect("encodes")),
            "0b00000c000d000761626300"
        );
    }
}

#[test]
fn truncated_fixed_fields() {
    // SERVER_ANNOUNCE needs a 4-byte server ID.
    let b = unhex("0a0000060000");
    assert_eq!(
        asap_err(&b),
        DecodeError::Truncated {
            at: at(Some(0x0a), None, 4),
            needed: 4,
            available: 2
        }
    );
    // ENRP messages need sender and receiver IDs.
    let b = unhex("0500000800000001");
    assert_eq!(
        enrp_err(&b),
        DecodeError::Truncated {
            at: Location {
                protocol: Protocol::Enrp,
                msg_type: Some(5),
                param_type: None,
                offset: 4
            },
            needed: 8,
            available: 4
        }
    );
    // INIT_TAKEOVER also needs the target server ID.
    let b = unhex("0700000c0000000100000002");
    assert!(matches!(
        enrp_err(&b),
        DecodeError::Truncated {
            needed: 12,
            available: 8,
            ..
        }
    ));
}

#[test]
fn truncated_parameter_header() {
    // Two bytes left where a parameter header would start.
    let mut b = unhex(DEREG);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.truncate(26);
    fix_len(&mut b);
    assert_eq!(
        asap_err(&b),
        DecodeError::Truncated {
            at: at(Some(2), None, 24),
            needed: 4,
            available: 2
        }
    );
}

// ------------------------------------------------------ parameter lengths

#[test]
fn parameter_length_past_the_end() {
    let mut b = unhex(REG);
    set16(&mut b, 6, 0x100);
    assert_eq!(
        asap_err(&b),
        DecodeError::BadParameterLength {
            at: at(Some(1), Some(param_type::POOL_HANDLE), 4),
            length: 0x100,
            available: 52
        }
    );
    // A nested one: the SCTP transport overruns its Pool Element.
    let mut b = unhex(REG);
    set16(&mut b, 34, 28);
    assert_eq!(
        asap_err(&b),
        DecodeError::BadParameterLength {
            at: at(Some(1), Some(param_type::SCTP_TRANSPORT), 32),
            length: 28,
            available: 24
        }
    );
}

#[test]
fn zero_and_short_parameter_lengths() {
    for len in [0u16, 1, 3] {
        let mut b = unhex(REG);
        set16(&mut b, 6, len);
        assert_eq!(
            asap_err(&b),
            DecodeError::BadParameterLength {
                at: at(Some(1), Some(param_type::POOL_HANDLE), 4),
                length: usize::from(len),
                available: 52
            }
        );
    }
}

#[test]
fn wrong_value_lengths() {
    // PE Identifier of 2 bytes.
    let mut b = unhex(DEREG);
    set16(&mut b, 18, 6);
    set16(&mut b, 22, 0); // zero padding
    assert_eq!(
        asap_err(&b),
        DecodeError::BadValueLength {
            at: at(Some(2), Some(param_type::PE_IDENTIFIER), 16),
            length: 2,
            expected: 4
        }
    );
    // IPv4 address of 8 bytes inside the transport (lengths fixed up).
    let mut b = unhex(REG);
    b.splice(48..48, [0u8; 4]);
    set16(&mut b, 42, 12); // IPv4 length
    set16(&mut b, 34, 20); // SCTP transport length
    set16(&mut b, 18, 44); // Pool Element length
    fix_len(&mut b);
    assert_eq!(
        asap_err(&b),
        DecodeError::BadValueLength {
            at: at(Some(1), Some(param_type::IPV4_ADDRESS), 40),
            length: 8,
            expected: 4
        }
    );
    // Policy Round Robin with a stray value.
    let mut b = unhex(REG);
    b.extend_from_slice(&[0, 0, 0, 7]);
    set16(&mut b, 50, 12);
    set16(&mut b, 18, 44);
    fix_len(&mut b);
    assert_eq!(
        asap_err(&b),
        DecodeError::BadValueLength {
            at: at(Some(1), Some(param_type::POOL_MEMBER_SELECTION_POLICY), 48),
            length: 8,
            expected: 4
        }
    );
}

// ---------------------------------------------------------------- padding

#[test]
fn padding_cut_short() {
    // Pool Handle "ab" (length 6, 2 padding bytes) but the message ends
    // one byte after it.
    let b = unhex("0200000b 0009 0006 6162 00");
    assert_eq!(
        asap_err(&b),
        DecodeError::BadPadding {
            at: at(Some(2), Some(param_type::POOL_HANDLE), 10)
        }
    );
}

#[test]
fn non_zero_padding() {
    let b = unhex("02000014 0009 0006 6162 ff00 000e 0008 00000001");
    assert_eq!(
        asap_err(&b),
        DecodeError::BadPadding {
            at: at(Some(2), Some(param_type::POOL_HANDLE), 10)
        }
    );
    let ok = unhex("02000014 0009 0006 6162 0000 000e 0008 00000001");
    AsapMessage::decode(&ok, &opts()).unwrap();
}

#[test]
fn non_zero_message_padding() {
    // Unpadded length 11 with a non-zero byte after it.
    let b = unhex("0b00000b000d000761626301");
    assert_eq!(
        asap_err(&b),
        DecodeError::BadMessageLength {
            at: at(Some(0x0b), None, 2),
            declared: 11,
            actual: 12
        }
    );
}

// ---------------------------------------------------------------- nesting

#[test]
fn parameters_nested_too_deep() {
    let mut o = opts();
    o.max_depth = 2;
    assert_eq!(
        asap_err_with(&unhex(REG), o),
        DecodeError::TooDeep {
            at: at(Some(1), Some(param_type::IPV4_ADDRESS), 40),
            max_depth: 2
        }
    );
    // Depth 3 is what a registration needs.
    let mut o = opts();
    o.max_depth = 3;
    AsapMessage::decode(&unhex(REG), &o).unwrap();
}

#[test]
fn deep_nesting_of_unknown_parameters_is_bounded() {
    // A chain of Pool Elements cannot nest (they hold transports), but a
    // cause info can hold a parameter: decode_info starts at depth 3.
    let mut o = opts();
    o.max_depth = 3;
    let pe = unhex(&REG[32..]); // the Pool Element parameter (from byte 16)
    let cause = ErrorCause::new(ErrorCauseCode::InvalidValues, pe);
    assert!(matches!(
        cause.decode_info(Protocol::Asap, &o),
        Err(DecodeError::TooDeep { max_depth: 3, .. })
    ));
    assert!(matches!(
        cause.decode_info(Protocol::Asap, &opts()),
        Ok(CauseInfo::Parameter(Parameter::PoolElement(_)))
    ));
}

#[test]
fn too_many_parameters() {
    let mut o = opts();
    o.max_parameters = 3;
    assert_eq!(
        asap_err_with(&unhex(REG), o),
        DecodeError::TooManyParameters {
            at: at(Some(1), Some(param_type::IPV4_ADDRESS), 40),
            max: 3
        }
    );
}

// ---------------------------------------------------------- unknown types

/// DEREG with an unknown 8-byte parameter of type `ty` inserted at 16.
fn dereg_with_unknown(ty: u16) -> Vec<u8> {
    let mut b = unhex(DEREG);
    let mut p = ty.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 8, 1, 2, 3, 4]);
    b.splice(16..16, p);
    fix_len(&mut b);
    b
}

fn raw(ty: u16, offset: usize) -> RawParameter {
    let mut tlv = ty.to_be_bytes().to_vec();
    tlv.extend_from_slice(&[0, 8, 1, 2, 3, 4]);
    RawParameter { offset, tlv }
}

#[test]
fn unknown_parameter_00_stop_and_discard() {
    assert_eq!(
        asap_err(&dereg_with_unknown(0x0123)),
        DecodeError::UnrecognizedParameter {
            at: at(Some(2), Some(0x0123), 16),
            action: UnknownAction::StopDiscard,
            report: vec![]
        }
    );
}

#[test]
fn unknown_parameter_01_stop_and_report() {
    let e = asap_err(&dereg_with_unknown(0x4123));
    assert_eq!(
        e,
        DecodeError::UnrecognizedParameter {
            at: at(Some(2), Some(0x4123), 16),
            action: UnknownAction::StopReport,
            report: vec![raw(0x4123, 16)]
        }
    );
    // What a registrar sends back.
    let cause = ErrorCause::unrecognized_parameter(&e.report()[0]);
    assert_eq!(to_hex(&cause.info), "4123000801020304");
    assert_eq!(
        cause.decode_info(Protocol::Asap, &opts()).unwrap(),
        CauseInfo::UnknownParameter(raw(0x4123, 0))
    );
}

#[test]
fn unknown_parameter_10_skip() {
    let d = AsapMessage::decode(&dereg_with_unknown(0x8123), &opts()).unwrap();
    assert!(d.unrecognized.is_empty());
    assert_eq!(d.message.to_bytes().expect("encodes"), unhex(DEREG));
}

#[test]
fn unknown_parameter_11_skip_and_report() {
    let d = AsapMessage::decode(&dereg_with_unknown(0xc123), &opts()).unwrap();
    assert_eq!(d.unrecognized, vec![raw(0xc123, 16)]);
    assert_eq!(d.message.to_bytes().expect("encodes"), unhex(DEREG));
    let e = OperationError::unrecognized_parameters(&d.unrecognized).unwrap();
    assert_eq!(
        e.causes,
        [ErrorCause::new(
            ErrorCauseCode::UnrecognizedParameter,
            unhex("c123000801020304")
        )]
    );
    assert_eq!(OperationError::unrecognized_parameters(&[]), None);
}

#[test]
fn skipped_reports_travel_with_a_later_stop() {
    let mut b = dereg_with_unknown(0xc001);
    let mut p = 0x4002u16.to_be_bytes().to_vec();
    p.extend_from_slice(&[0, 8, 1, 2, 3, 4]);
    b.splice(24..24, p);
    fix_len(&mut b);
    assert_eq!(
        asap_err(&b),
        DecodeError::UnrecognizedParameter {
            at: at(Some(2), Some(0x4002), 24),
            action: UnknownAction::StopReport,
            report: vec![raw(0xc001, 16), raw(0x4002, 24)]
        }
    );
}

#[test]
fn unknown_parameter_inside_a_parameter() {
    // An 11-action parameter after the policy inside the Pool Element.
    let mut b = unhex(REG);
    b.extend_from_slice(&[0xc0, 0x99, 0, 4]);
    set16(&mut b, 18, 44);
    fix_len(&mut b);
    let d = AsapMessage::decode(&b, &opts()).unwrap();
    assert_eq!(
        d.unrecognized,
        vec![RawParameter {
            offset: 56,
            tlv: vec![0xc0, 0x99, 0, 4]
        }]
    );
    assert_eq!(d.message.to_bytes().expect("encodes"), unhex(REG));
}

#[test]
fn unknown_message_types() {
    for t in [0x00u8, 0x0f, 0x80, 0xff] {
        let mut b = unhex(DEREG);
        b[0] = t;
        assert_eq!(
            asap_err(&b),
            DecodeError::UnknownMessageType {
                at: at(Some(t), None, 0),
                msg_type: t
            }
        );
    }
    let b = unhex("0b00000c0000000100000000");
    assert_eq!(
        enrp_err(&b),
        DecodeError::UnknownMessageType {
            at: Location {
                protocol: Protocol::Enrp,
                msg_type: Some(0x0b),
                param_type: None,
                offset: 0
            },
            msg_type: 0x0b
        }
    );
    // What a registrar sends back: the message in an Unrecognized Message cause.
    let cause = ErrorCause::unrecognized_message(&b);
    assert!(matches!(
        cause.decode_info(Protocol::Enrp, &opts()),
        Err(DecodeError::UnknownMessageType { msg_type: 0x0b, .. })
    ));
}

// --------------------------------------------------------------- oversize

#[test]
fn oversized_messages() {
    let mut o = opts();
    o.max_message_size = 32;
    assert_eq!(
        asap_err_with(&unhex(REG), o),
        DecodeError::MessageTooLarge {
            at: at(None, None, 0),
            length: 56,
            max: 32
        }
    );
    // The header alone announces too much.
    let b = unhex("0a00ffff00000001");
    let mut o = opts();
    o.max_message_size = 1024;
    assert_eq!(
        asap_err_with(&b, o),
        DecodeError::MessageTooLarge {
            at: at(Some(0x0a), None, 2),
            length: 0xffff,
            max: 1024
        }
    );
    assert!(matches!(
        message_length(Protocol::Asap, &b, &o),
        Err(DecodeError::MessageTooLarge { length: 0xffff, .. })
    ));
    assert_eq!(message_length(Protocol::Asap, &b[..3], &o), Ok(None));
}

// ------------------------------------------------------ structural errors

#[test]
fn missing_parameters() {
    let b = unhex("020000100009000c4563686f506f6f6c");
    assert_eq!(
        asap_err(&b),
        DecodeError::MissingParameter {
            at: at(Some(2), None, 16),
            expected: param_type::PE_IDENTIFIER
        }
    );
    // SCTP transport without addresses (lengths fixed up).
    let mut b = unhex(REG);
    b.drain(40..48);
    set16(&mut b, 34, 8);
    set16(&mut b, 18, 32);
    fix_len(&mut b);
    assert_eq!(
        asap_err(&b),
        DecodeError::MissingParameter {
            at: at(Some(1), Some(param_type::SCTP_TRANSPORT), 40),
            expected: param_type::IPV4_ADDRESS
        }
    );
}

#[test]
fn unexpected_parameters() {
    // A Cookie where the PE Identifier belongs.
    let mut b = unhex(DEREG);
    set16(&mut b, 16, param_type::COOKIE);
    assert_eq!(
        asap_err(&b),
        DecodeError::UnexpectedParameter {
            at: at(Some(2), Some(param_type::COOKIE), 16)
        }
    );
    // A duplicate PE Identifier.
    let mut b = unhex(DEREG);
    b.extend_from_slice(&unhex("000e000800000001"));
    fix_len(&mut b);
    assert_eq!(
        asap_err(&b),
        DecodeError::UnexpectedParameter {
            at: at(Some(2), Some(param_type::PE_IDENTIFIER), 24)
        }
    );
    // Parameters in an ENRP message that has none.
    let b = unhex("0500001400000001000000000009000861626364");
    assert!(matches!(
        enrp_err(&b),
        DecodeError::UnexpectedParameter {
            at: Location {
                param_type: Some(9),
                offset: 12,
                ..
            }
        }
    ));
}

#[test]
fn invalid_values() {
    // Transport use 2.
    let mut b = unhex(REG);
    set16(&mut b, 38, 2);
    assert_eq!(
        asap_err(&b),
        DecodeError::InvalidValue {
            at: at(Some(1), Some(param_type::SCTP_TRANSPORT), 38),
            field: "transport use",
            value: 2
        }
    );
    // Unknown policy type.
    let mut b = unhex(REG);
    b[52..56].copy_from_slice(&[0x40, 0, 0, 9]);
    assert_eq!(
        asap_err(&b),
        DecodeError::InvalidValue {
            at: at(Some(1), Some(param_type::POOL_MEMBER_SELECTION_POLICY), 52),
            field: "policy type",
            value: 0x4000_0009
        }
    );
    // Handle Update with action 7.
    let hu = enrp::HandleUpdate {
        takeover_suggested: false,
        sender: ServerId(1),
        receiver: ServerId(2),
        action: enrp::UpdateAction::AddPe,
        pool_handle: PoolHandle::from("p"),
        pool_element: match AsapMessage::decode(&unhex(REG), &opts()).unwrap().message {
            AsapMessage::Registration(r) => r.pool_element,
            _ => unreachable!(),
        },
    };
    let mut b = EnrpMessage::from(hu).to_bytes().expect("encodes");
    set16(&mut b, 12, 7);
    assert!(matches!(
        enrp_err(&b),
        DecodeError::InvalidValue {
            field: "update action",
            value: 7,
            at: Location { offset: 12, .. }
        }
    ));
}

#[test]
fn server_information_needs_sctp_or_tcp() {
    // Server Information with a UDP transport.
    let si = unhex("000b0018 00000001 00060010 12340000 00010008 0affff01");
    let e = Parameter::decode(&si, Protocol::Enrp, &opts()).unwrap_err();
    assert!(
        matches!(
            e,
            DecodeError::UnexpectedParameter {
                at: Location {
                    param_type: Some(6),
                    offset: 8,
                    ..
                }
            }
        ),
        "{e:?}"
    );
}

#[test]
fn errors_say_what_and_where() {
    let mut b = unhex(REG);
    set16(&mut b, 38, 2);
    let e = asap_err(&b);
    assert_eq!(
        e.to_string(),
        "ASAP REGISTRATION, parameter 0x0004 (SCTP Transport), byte 38: invalid transport use 0x2"
    );
    assert_eq!(e.offset(), 38);
    let e: Box<dyn std::error::Error> = Box::new(e);
    assert!(e.to_string().contains("REGISTRATION"));
}
