//! The wire layer: typed ASAP (RFC 5352) and ENRP (RFC 5353) messages and
//! their RFC 5354 parameters, with a strict, total decoder and an encoder
//! that is byte-exact against RSPLIB.
//!
//! - [`AsapMessage::decode`] / [`EnrpMessage::decode`] (or [`Message::decode`]
//!   with the [`Protocol`] that the SCTP PPID or the port tells) turn one
//!   message's bytes into a [`Decoded`] message plus the unrecognized
//!   parameters to report, or a [`DecodeError`] saying what is wrong and where.
//! - `encode(&self, out: &mut Vec<u8>)` appends a message to a buffer;
//!   `to_bytes()` allocates one. Both fail with an [`EncodeError`] (and
//!   write nothing) when a length field would exceed 65535: every length
//!   field written equals the bytes written.
//! - [`message_length`] frames a byte stream (TCP): the total length of the
//!   message that starts with the given 4 header bytes;
//!   [`stream::Deframer`] cuts a received stream into messages.
//!
//! Layout choices follow RSPLIB 3.4.4, which pads every parameter to 4
//! bytes and counts the last parameter's padding in the message length (so
//! message lengths are multiples of 4). The decoder also accepts a message
//! that ends right after its last parameter, unpadded, as RFC 5354 allows.
//!
//! The encoder writes what it is given, within the 16-bit lengths: values
//! the decoder rejects (an SCTP transport without addresses, an Operation
//! Error without causes, a Handle Table Response pool without PEs) encode
//! to bytes that do not decode; anything over 65535 bytes is an error.
//!
//! ```
//! use rserpool_proto::wire::{asap, DecodeOptions, Message, PeId, PoolHandle, Protocol};
//!
//! let m = Message::from(asap::Deregistration {
//!     pool_handle: PoolHandle::from("EchoPool"),
//!     pe_id: PeId(0xc01f_83de),
//! });
//! let mut out = Vec::new();
//! m.encode(&mut out).unwrap();
//! let d = Message::decode(Protocol::Asap, &out, &DecodeOptions::default()).unwrap();
//! assert_eq!(d.message, m);
//! assert_eq!(d.message.type_name(), "DEREGISTRATION");
//! assert!(d.unrecognized.is_empty());
//! ```

pub mod asap;
mod codec;
pub mod enrp;
pub mod error;
pub mod ids;
pub mod param;
pub mod policy;
pub mod stream;
pub mod transport;

use std::fmt;

pub(crate) use codec::{raw, size};

pub use asap::AsapMessage;
pub use enrp::EnrpMessage;
pub use error::{DecodeError, EncodeError, Location, TooLong};
pub use ids::{PeId, PoolHandle, ServerId};
pub use param::{
    CauseInfoKind, ErrorCause, ErrorCauseCode, MAX_CAUSE_INFO, MAX_CAUSES_LEN, OperationError,
    Parameter, PoolElement, RawParameter, ServerInformation, UnknownAction, param_type,
    rsplib_cause_name,
};
pub use policy::{Policy, PolicyType};
pub use transport::{
    AddressIntoIter, AddressList, MAX_ADDRESSES, TransportKind, TransportParam, TransportUse,
};

/// SCTP payload protocol identifier of ASAP.
pub const PPID_ASAP: u32 = 11;
/// SCTP payload protocol identifier of ENRP.
pub const PPID_ENRP: u32 = 12;
/// Well-known ASAP port (SCTP, TCP, UDP announces).
pub const PORT_ASAP: u16 = 3863;
/// Well-known ENRP port (SCTP, UDP announces; this project also uses it for TCP).
pub const PORT_ENRP: u16 = 9901;
/// Size of the common message header (type, flags, length).
pub const HEADER_LEN: usize = 4;
/// Longest message (and parameter, and error cause) a 16-bit length field
/// can describe.
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;

/// Which of the two protocols a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Protocol {
    /// Aggregate Server Access Protocol (RFC 5352).
    Asap,
    /// Endpoint Handlespace Redundancy Protocol (RFC 5353).
    Enrp,
}

impl Protocol {
    /// `ASAP` or `ENRP`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Asap => "ASAP",
            Protocol::Enrp => "ENRP",
        }
    }
    /// By SCTP PPID (11, 12, and the old draft values 0xFAEEB5D1/2).
    pub fn from_ppid(ppid: u32) -> Option<Protocol> {
        match ppid {
            PPID_ASAP | 0xfaee_b5d1 => Some(Protocol::Asap),
            PPID_ENRP | 0xfaee_b5d2 => Some(Protocol::Enrp),
            _ => None,
        }
    }
    /// The SCTP payload protocol identifier (11 ASAP, 12 ENRP).
    pub fn ppid(self) -> u32 {
        match self {
            Protocol::Asap => PPID_ASAP,
            Protocol::Enrp => PPID_ENRP,
        }
    }
    /// By well-known port (3863 ASAP, 9901 ENRP).
    pub fn from_port(port: u16) -> Option<Protocol> {
        match port {
            PORT_ASAP => Some(Protocol::Asap),
            PORT_ENRP => Some(Protocol::Enrp),
            _ => None,
        }
    }
    /// The RFC name of a message type of this protocol.
    pub fn msg_type_name(self, t: u8) -> Option<&'static str> {
        match self {
            Protocol::Asap => asap::msg_type::name(t),
            Protocol::Enrp => enrp::msg_type::name(t),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An ASAP or an ENRP message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
pub enum Message {
    /// An ASAP message.
    Asap(AsapMessage),
    /// An ENRP message.
    Enrp(EnrpMessage),
}

impl Message {
    /// The protocol it belongs to.
    pub fn protocol(&self) -> Protocol {
        match self {
            Message::Asap(_) => Protocol::Asap,
            Message::Enrp(_) => Protocol::Enrp,
        }
    }
    /// The RFC name in upper snake case, e.g. `REGISTRATION`, `PRESENCE`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Message::Asap(m) => m.type_name(),
            Message::Enrp(m) => m.type_name(),
        }
    }
    /// The message type byte.
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::Asap(m) => m.msg_type(),
            Message::Enrp(m) => m.msg_type(),
        }
    }
    /// The flags byte it is encoded with.
    pub fn flags(&self) -> u8 {
        match self {
            Message::Asap(m) => m.flags(),
            Message::Enrp(m) => m.flags(),
        }
    }
}

impl From<AsapMessage> for Message {
    fn from(m: AsapMessage) -> Message {
        Message::Asap(m)
    }
}
impl From<EnrpMessage> for Message {
    fn from(m: EnrpMessage) -> Message {
        Message::Enrp(m)
    }
}

/// Limits for decoding untrusted input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Longest message accepted, in bytes (header included). The length
    /// field is 16 bits, so at most 65535 matters.
    pub max_message_size: usize,
    /// Deepest parameter nesting accepted: a parameter directly in a
    /// message is at depth 1, an address in a transport in a Pool Element
    /// at depth 3, a parameter inside an error cause of a top-level
    /// Operation Error at depth 3.
    pub max_depth: usize,
    /// Most parameters (at any depth) in one message; bounds the work and
    /// the memory a hostile message can cause.
    pub max_parameters: usize,
}

impl DecodeOptions {
    /// The limits used unless told otherwise.
    pub const DEFAULT: DecodeOptions = DecodeOptions {
        max_message_size: 65535,
        max_depth: 8,
        max_parameters: 16384,
    };
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions::DEFAULT
    }
}

/// A decoded message and what its receiver must report: the unrecognized
/// parameters whose action bits say "skip and report" (11), as raw TLVs for
/// an Unrecognized Parameter error cause. Parameters with action "skip"
/// (10) are dropped silently.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Decoded<M = Message> {
    /// The message.
    pub message: M,
    /// Unrecognized parameters to report (action 11).
    pub unrecognized: Vec<RawParameter>,
}

/// The decoded info of an error cause (see [`ErrorCause::decode_info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum CauseInfo {
    /// The cause carries no info.
    Empty,
    /// A parameter of a known type.
    Parameter(Parameter),
    /// A parameter of a type this implementation does not know either.
    UnknownParameter(RawParameter),
    /// A message (Unrecognized Message cause) that decodes.
    Message(Decoded<Message>),
    /// Info of a cause that defines none, non-empty: see the raw bytes.
    Opaque,
}

/// Total length of the message starting with `header` (at least its first
/// 4 bytes), for framing a byte stream: the header's length field (this
/// encoder, like RSPLIB, always counts the last parameter's padding in it).
/// `Ok(None)` when fewer than 4 bytes are given; an error when the length
/// is below 4 or above `opts.max_message_size`.
pub fn message_length(
    protocol: Protocol,
    header: &[u8],
    opts: &DecodeOptions,
) -> Result<Option<usize>, DecodeError> {
    codec::message_length(protocol, header, opts)
}

/// Type code of a transport parameter of this kind.
pub fn transport_param_type(kind: TransportKind) -> u16 {
    match kind {
        TransportKind::Sctp => param_type::SCTP_TRANSPORT,
        TransportKind::Tcp => param_type::TCP_TRANSPORT,
        TransportKind::Udp => param_type::UDP_TRANSPORT,
        TransportKind::Dccp => param_type::DCCP_TRANSPORT,
        TransportKind::UdpLite => param_type::UDP_LITE_TRANSPORT,
    }
}

/// Bytes shown as lowercase hex (for `Debug` of opaque fields).
pub(crate) struct HexBytes<'a>(pub &'a [u8]);

impl fmt::Display for HexBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Hex string of a byte vector.
pub fn to_hex(bytes: &[u8]) -> String {
    HexBytes(bytes).to_string()
}

#[cfg(feature = "serde")]
pub(crate) fn serde_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&HexBytes(bytes))
}
