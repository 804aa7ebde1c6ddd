//! RFC 5354 parameters that are more than a single value: Pool Element,
//! Server Information, Operation Error and its causes, and the generic
//! [`Parameter`] used for nested decoding (error cause info) and tests.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::ids::{PeId, PoolHandle, ServerId};
use super::policy::Policy;
use super::transport::TransportParam;

/// Parameter type codes (RFC 5354 section 3, CONSTANTS.md section 5).
pub mod param_type {
    /// IPv4 Address.
    pub const IPV4_ADDRESS: u16 = 0x0001;
    /// IPv6 Address.
    pub const IPV6_ADDRESS: u16 = 0x0002;
    /// DCCP Transport.
    pub const DCCP_TRANSPORT: u16 = 0x0003;
    /// SCTP Transport.
    pub const SCTP_TRANSPORT: u16 = 0x0004;
    /// TCP Transport.
    pub const TCP_TRANSPORT: u16 = 0x0005;
    /// UDP Transport.
    pub const UDP_TRANSPORT: u16 = 0x0006;
    /// UDP-Lite Transport.
    pub const UDP_LITE_TRANSPORT: u16 = 0x0007;
    /// Pool Member Selection Policy.
    pub const POOL_MEMBER_SELECTION_POLICY: u16 = 0x0008;
    /// Pool Handle.
    pub const POOL_HANDLE: u16 = 0x0009;
    /// Pool Element.
    pub const POOL_ELEMENT: u16 = 0x000a;
    /// Server Information.
    pub const SERVER_INFORMATION: u16 = 0x000b;
    /// Operation Error.
    pub const OPERATION_ERROR: u16 = 0x000c;
    /// Cookie.
    pub const COOKIE: u16 = 0x000d;
    /// PE Identifier.
    pub const PE_IDENTIFIER: u16 = 0x000e;
    /// PE Checksum.
    pub const PE_CHECKSUM: u16 = 0x000f;
    /// RSPLIB's Handle Resolution option (draft-dreibholz-rserpool-asap-hropt):
    /// 0x003f with the action bits 10 (skip) set.
    pub const HANDLE_RESOLUTION_OPTION: u16 = 0x803f;

    /// Whether `t` is one of the five transport parameter types.
    pub fn is_transport(t: u16) -> bool {
        matches!(
            t,
            DCCP_TRANSPORT | SCTP_TRANSPORT | TCP_TRANSPORT | UDP_TRANSPORT | UDP_LITE_TRANSPORT
        )
    }

    /// The RFC name of a parameter type, `None` for unknown types.
    pub fn name(t: u16) -> Option<&'static str> {
        Some(match t {
            IPV4_ADDRESS => "IPv4 Address",
            IPV6_ADDRESS => "IPv6 Address",
            DCCP_TRANSPORT => "DCCP Transport",
            SCTP_TRANSPORT => "SCTP Transport",
            TCP_TRANSPORT => "TCP Transport",
            UDP_TRANSPORT => "UDP Transport",
            UDP_LITE_TRANSPORT => "UDP-Lite Transport",
            POOL_MEMBER_SELECTION_POLICY => "Pool Member Selection Policy",
            POOL_HANDLE => "Pool Handle",
            POOL_ELEMENT => "Pool Element",
            SERVER_INFORMATION => "Server Information",
            OPERATION_ERROR => "Operation Error",
            COOKIE => "Cookie",
            PE_IDENTIFIER => "PE Identifier",
            PE_CHECKSUM => "PE Checksum",
            HANDLE_RESOLUTION_OPTION => "Handle Resolution",
            _ => return None,
        })
    }
}

/// What a receiver does with a parameter of unknown type: the top two bits
/// of the type (RFC 5354 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum UnknownAction {
    /// `00`: stop processing, discard the message, report nothing.
    StopDiscard,
    /// `01`: stop processing, discard the message, report the parameter.
    StopReport,
    /// `10`: skip the parameter and continue.
    Skip,
    /// `11`: skip the parameter, continue, and report it.
    SkipReport,
}

impl UnknownAction {
    /// The action coded in the top two bits of `param_type`.
    pub fn of_type(param_type: u16) -> UnknownAction {
        match param_type >> 14 {
            0 => UnknownAction::StopDiscard,
            1 => UnknownAction::StopReport,
            2 => UnknownAction::Skip,
            _ => UnknownAction::SkipReport,
        }
    }
    /// Whether the message is rejected.
    pub fn stops(self) -> bool {
        matches!(self, UnknownAction::StopDiscard | UnknownAction::StopReport)
    }
    /// Whether the parameter is reported to the sender.
    pub fn reports(self) -> bool {
        matches!(self, UnknownAction::StopReport | UnknownAction::SkipReport)
    }
}

/// A parameter exactly as received: its full TLV (header and value, without
/// trailing padding) and where it was found. This is what goes into an
/// Unrecognized Parameter error cause.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RawParameter {
    /// Byte offset of the TLV within the decoded message.
    pub offset: usize,
    /// The whole TLV: type, length, value (no padding).
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::serde_hex"))]
    pub tlv: Vec<u8>,
}

impl RawParameter {
    /// The type code (0 when the TLV is too short).
    pub fn param_type(&self) -> u16 {
        match self.tlv.as_slice() {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        }
    }
    /// What a receiver does with it.
    pub fn action(&self) -> UnknownAction {
        UnknownAction::of_type(self.param_type())
    }
    /// The value after the TLV header.
    pub fn value(&self) -> &[u8] {
        self.tlv.get(4..).unwrap_or(&[])
    }
}

impl fmt::Debug for RawParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RawParameter {{ type: {:#06x}, offset: {}, tlv: {} }}",
            self.param_type(),
            self.offset,
            super::HexBytes(&self.tlv)
        )
    }
}

/// Pool Element parameter (RFC 5354 section 3.10): one PE as a registrar
/// stores it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PoolElement {
    /// The PE's identifier.
    pub pe_id: PeId,
    /// The PE's home registrar; 0 when not yet known (in a REGISTRATION).
    pub home_server_id: ServerId,
    /// Registration lifetime in milliseconds (signed 32 bits on the wire).
    pub registration_life: i32,
    /// Where pool users reach the PE.
    pub user_transport: TransportParam,
    /// Its policy and policy values.
    pub policy: Policy,
    /// The transport of the PE's ASAP endpoint as its registrar saw it.
    /// RSPLIB sends it in ENRP messages only (Handle Update, Handle Table
    /// Response), never in ASAP ones.
    pub asap_transport: Option<TransportParam>,
}

/// Server Information parameter (RFC 5354 section 3.11): a registrar and
/// its ENRP endpoint (SCTP per RFC; TCP also accepted, this project runs
/// ENRP over TCP too).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ServerInformation {
    /// The registrar's ID.
    pub server_id: ServerId,
    /// Its ENRP endpoint.
    pub transport: TransportParam,
}

/// Error cause codes (RFC 5354 section 3.12, CONSTANTS.md section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ErrorCauseCode {
    /// A parameter the receiver does not know (info: the parameter).
    UnrecognizedParameter,
    /// A message type the receiver does not know (info: the message).
    UnrecognizedMessage,
    /// A value out of range (info: the parameter).
    InvalidValues,
    /// The PE ID is registered by another PE.
    NonUniquePeId,
    /// The policy differs from the pool's (info: the policy).
    InconsistentPoolingPolicy,
    /// The registrar has no room.
    LackOfResources,
    /// The transport differs from the pool's (info: the transport).
    InconsistentTransportType,
    /// The data/control use differs from the pool's.
    InconsistentDataControlConfiguration,
    /// No such pool.
    UnknownPoolHandle,
    /// Refused for security reasons.
    RejectionDueToSecurity,
    /// A code this implementation does not know; kept as is.
    Other(u16),
}

impl ErrorCauseCode {
    /// Every code the RFC defines.
    pub const KNOWN: [ErrorCauseCode; 10] = [
        ErrorCauseCode::UnrecognizedParameter,
        ErrorCauseCode::UnrecognizedMessage,
        ErrorCauseCode::InvalidValues,
        ErrorCauseCode::NonUniquePeId,
        ErrorCauseCode::InconsistentPoolingPolicy,
        ErrorCauseCode::LackOfResources,
        ErrorCauseCode::InconsistentTransportType,
        ErrorCauseCode::InconsistentDataControlConfiguration,
        ErrorCauseCode::UnknownPoolHandle,
        ErrorCauseCode::RejectionDueToSecurity,
    ];

    /// The code on the wire.
    pub fn code(self) -> u16 {
        use ErrorCauseCode::*;
        match self {
            UnrecognizedParameter => 0x1,
            UnrecognizedMessage => 0x2,
            InvalidValues => 0x3,
            NonUniquePeId => 0x4,
            InconsistentPoolingPolicy => 0x5,
            LackOfResources => 0x6,
            InconsistentTransportType => 0x7,
            InconsistentDataControlConfiguration => 0x8,
            UnknownPoolHandle => 0x9,
            RejectionDueToSecurity => 0xa,
            Other(c) => c,
        }
    }

    /// Known codes map to their variant, anything else to `Other`, so that
    /// `from_code(c).code() == c` for every `c`.
    pub fn from_code(code: u16) -> ErrorCauseCode {
        ErrorCauseCode::KNOWN
            .into_iter()
            .find(|c| c.code() == code)
            .unwrap_or(ErrorCauseCode::Other(code))
    }

    /// What the cause's info field holds.
    pub fn info_kind(self) -> CauseInfoKind {
        use ErrorCauseCode::*;
        match self {
            UnrecognizedParameter
            | InvalidValues
            | InconsistentPoolingPolicy
            | InconsistentTransportType => CauseInfoKind::Parameter,
            UnrecognizedMessage => CauseInfoKind::Message,
            _ => CauseInfoKind::Opaque,
        }
    }

    /// The RFC name.
    pub fn name(self) -> &'static str {
        use ErrorCauseCode::*;
        match self {
            UnrecognizedParameter => "Unrecognized Parameter",
            UnrecognizedMessage => "Unrecognized Message",
            InvalidValues => "Invalid Values",
            NonUniquePeId => "Non-unique PE Identifier",
            InconsistentPoolingPolicy => "Inconsistent Pooling Policy",
            LackOfResources => "Lack of Resources",
            InconsistentTransportType => "Inconsistent Transport Type",
            InconsistentDataControlConfiguration => "Inconsistent Data/Control Configuration",
            UnknownPoolHandle => "Unknown Pool Handle",
            RejectionDueToSecurity => "Rejection Due to Security Considerations",
            Other(c) => rsplib_cause_name(c).unwrap_or("Unknown Error Cause"),
        }
    }
}

/// RSPLIB's own cause codes (outside RFC 5354's table), which its
/// registrars put into ENRP and ASAP Errors, so that a log names them.
pub fn rsplib_cause_name(code: u16) -> Option<&'static str> {
    Some(match code {
        0x0010 => "RSPLIB: invalid message",
        0x0011 => "RSPLIB: invalid value",
        0x100a => "RSPLIB: wrong protocol",
        0x100b => "RSPLIB: unsupported pool policy",
        0xf000 => "RSPLIB: invalid PE identifier",
        0xf001 => "RSPLIB: own identifier",
        0xf002 => "RSPLIB: duplicate identifier",
        0xf003 => "RSPLIB: invalid pool policy",
        0xf004 => "RSPLIB: invalid pool handle",
        0xf005 => "RSPLIB: invalid addresses",
        0xf006 => "RSPLIB: invalid registrator",
        0xf007 => "RSPLIB: no usable ASAP addresses",
        0xf008 => "RSPLIB: no usable user addresses",
        _ => return None,
    })
}

/// What an error cause's info carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CauseInfoKind {
    /// A parameter TLV (the offending one).
    Parameter,
    /// A whole message (the unrecognized one).
    Message,
    /// Nothing defined; kept as raw bytes.
    Opaque,
}

/// One error cause: its code and its info, kept as the raw bytes received
/// (so that re-encoding is exact, also for info that does not decode).
/// [`ErrorCause::decode_info`](super::ErrorCause::decode_info) decodes the
/// nested parameter or message.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ErrorCause {
    /// What went wrong.
    pub code: ErrorCauseCode,
    /// The cause-specific info (raw bytes).
    #[cfg_attr(feature = "serde", serde(serialize_with = "super::serde_hex"))]
    pub info: Vec<u8>,
}

impl ErrorCause {
    /// A cause with `info`.
    pub fn new(code: ErrorCauseCode, info: impl Into<Vec<u8>>) -> ErrorCause {
        ErrorCause {
            code,
            info: info.into(),
        }
    }
    /// A cause without info (e.g. Unknown Pool Handle).
    pub fn bare(code: ErrorCauseCode) -> ErrorCause {
        ErrorCause::new(code, Vec::new())
    }
    /// An Unrecognized Parameter cause reporting `raw`.
    pub fn unrecognized_parameter(raw: &RawParameter) -> ErrorCause {
        ErrorCause::new(ErrorCauseCode::UnrecognizedParameter, raw.tlv.clone())
    }
    /// An Unrecognized Message cause carrying the message bytes, cut to
    /// their first [`MAX_CAUSE_INFO`] bytes so that the cause fits in an
    /// ERROR message (a message of 65535 bytes does not fit whole).
    pub fn unrecognized_message(message: &[u8]) -> ErrorCause {
        let n = message.len().min(MAX_CAUSE_INFO);
        ErrorCause::new(ErrorCauseCode::UnrecognizedMessage, &message[..n])
    }

    /// Bytes this cause takes in an Operation Error, padding included.
    pub fn encoded_len(&self) -> usize {
        (4 + self.info.len()).next_multiple_of(4)
    }
}

impl fmt::Debug for ErrorCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ErrorCause {{ code: {:?}, info: {} }}",
            self.code,
            super::HexBytes(&self.info)
        )
    }
}

/// Room for error causes (each padded to 4 bytes) in an ERROR message:
/// 65535 bytes less the ENRP header (12, the longer one) and the Operation
/// Error's header (4), rounded down to a multiple of 4 (the last cause's
/// padding counts in the message length).
pub const MAX_CAUSES_LEN: usize = (super::MAX_MESSAGE_LEN - 12 - 4) / 4 * 4;

/// Most info bytes in one error cause of an ERROR message (its own header
/// is 4 bytes).
pub const MAX_CAUSE_INFO: usize = MAX_CAUSES_LEN - 4;

/// Operation Error parameter (RFC 5354 section 3.12): one or more causes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OperationError {
    /// The causes, at least one.
    pub causes: Vec<ErrorCause>,
}

impl OperationError {
    /// An Operation Error with one cause.
    pub fn single(cause: ErrorCause) -> OperationError {
        OperationError {
            causes: vec![cause],
        }
    }

    /// One Unrecognized Parameter cause per reported parameter (what a
    /// receiver sends back for [`Decoded::unrecognized`](super::Decoded) or
    /// [`DecodeError::report`](super::DecodeError::report)); `None` if there
    /// is nothing to report.
    ///
    /// The causes stop before they would outgrow an ERROR message
    /// ([`MAX_CAUSES_LEN`]): parameters are echoed whole and in order,
    /// and those after the budget is spent are left out (a reported
    /// parameter is never cut, so each echoed one still decodes). The
    /// message carrying them held at most 65535 bytes, so the first one
    /// always fits unless it alone filled the message; then nothing is
    /// reported.
    pub fn unrecognized_parameters(report: &[RawParameter]) -> Option<OperationError> {
        let mut room = MAX_CAUSES_LEN;
        let mut causes = Vec::new();
        for r in report {
            let c = ErrorCause::unrecognized_parameter(r);
            let Some(left) = room.checked_sub(c.encoded_len()) else {
                break;
            };
            room = left;
            causes.push(c);
        }
        if causes.is_empty() {
            return None;
        }
        Some(OperationError { causes })
    }
}

/// Any single RFC 5354 parameter with its value. Messages use the typed
/// fields of their structs; this enum serves nested decoding (the info of an
/// error cause), tools and tests.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Parameter {
    /// IPv4 Address.
    Ipv4Address(Ipv4Addr),
    /// IPv6 Address.
    Ipv6Address(Ipv6Addr),
    /// DCCP, SCTP, TCP, UDP or UDP-Lite transport.
    Transport(TransportParam),
    /// Pool Member Selection Policy.
    PoolMemberSelectionPolicy(Policy),
    /// Pool Handle.
    PoolHandle(PoolHandle),
    /// Pool Element.
    PoolElement(PoolElement),
    /// Server Information.
    ServerInformation(ServerInformation),
    /// Operation Error.
    OperationError(OperationError),
    /// Cookie (opaque to ASAP).
    Cookie(#[cfg_attr(feature = "serde", serde(serialize_with = "super::serde_hex"))] Vec<u8>),
    /// PE Identifier.
    PeIdentifier(PeId),
    /// PE Checksum.
    PeChecksum(u16),
    /// Handle Resolution option: how many PEs the PU wants (0xffffffff = all).
    HandleResolutionOption(u32),
}

impl Parameter {
    /// The type code this parameter is encoded with.
    pub fn param_type(&self) -> u16 {
        use param_type as t;
        match self {
            Parameter::Ipv4Address(_) => t::IPV4_ADDRESS,
            Parameter::Ipv6Address(_) => t::IPV6_ADDRESS,
            Parameter::Transport(tp) => super::transport_param_type(tp.kind()),
            Parameter::PoolMemberSelectionPolicy(_) => t::POOL_MEMBER_SELECTION_POLICY,
            Parameter::PoolHandle(_) => t::POOL_HANDLE,
            Parameter::PoolElement(_) => t::POOL_ELEMENT,
            Parameter::ServerInformation(_) => t::SERVER_INFORMATION,
            Parameter::OperationError(_) => t::OPERATION_ERROR,
            Parameter::Cookie(_) => t::COOKIE,
            Parameter::PeIdentifier(_) => t::PE_IDENTIFIER,
            Parameter::PeChecksum(_) => t::PE_CHECKSUM,
            Parameter::HandleResolutionOption(_) => t::HANDLE_RESOLUTION_OPTION,
        }
    }
}
