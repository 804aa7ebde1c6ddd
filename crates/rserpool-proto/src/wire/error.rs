//! Decoding errors: what is wrong and where.

use std::fmt;

use super::Protocol;
use super::param::{ErrorCauseCode, RawParameter, UnknownAction, param_type};

/// Where a decoding error was found: the protocol, the message type (once
/// the header was read), the innermost parameter being decoded (if any) and
/// the byte offset from the start of the decoded buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Location {
    /// The protocol of the message.
    pub protocol: Protocol,
    /// The type byte.
    pub msg_type: Option<u8>,
    /// The innermost parameter being read, if any.
    pub param_type: Option<u16>,
    /// Byte offset from the start of the input.
    pub offset: usize,
}

impl Location {
    /// A location at `offset` outside any message type or parameter.
    pub fn new(protocol: Protocol, offset: usize) -> Location {
        Location {
            protocol,
            msg_type: None,
            param_type: None,
            offset,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = self.protocol.name();
        match self.msg_type {
            Some(t) => match self.protocol.msg_type_name(t) {
                Some(n) => write!(f, "{proto} {n}")?,
                None => write!(f, "{proto} message type {t:#04x}")?,
            },
            None => write!(f, "{proto} message")?,
        }
        if let Some(p) = self.param_type {
            match param_type::name(p) {
                Some(n) => write!(f, ", parameter {p:#06x} ({n})")?,
                None => write!(f, ", parameter {p:#06x}")?,
            }
        }
        write!(f, ", byte {}", self.offset)
    }
}

/// Why a byte sequence is not a valid ASAP or ENRP message.
///
/// Every variant carries its [`Location`]; `offset` there is the byte
/// offset of the offending header or field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum DecodeError {
    /// The input ends before a header or fixed field: `needed` bytes from
    /// the offset, `available` there.
    Truncated {
        /// Where in the input.
        at: Location,
        /// Bytes needed.
        needed: usize,
        /// Bytes available from its start.
        available: usize,
    },
    /// The message header's length is below the header size, or does not
    /// match the number of bytes given (`actual`).
    BadMessageLength {
        /// Where in the input.
        at: Location,
        /// The length field.
        declared: usize,
        /// The bytes given.
        actual: usize,
    },
    /// The message (declared or given) exceeds `DecodeOptions::max_message_size`.
    MessageTooLarge {
        /// Where in the input.
        at: Location,
        /// The length found.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A message type this protocol does not define; a registrar answers
    /// with an Unrecognized Message error cause.
    UnknownMessageType {
        /// Where in the input.
        at: Location,
        /// The type byte.
        msg_type: u8,
    },
    /// A parameter's (or error cause's) length field is below 4 or runs past
    /// the end of what contains it (`available` bytes from its start).
    BadParameterLength {
        /// Where in the input.
        at: Location,
        /// The length found.
        length: usize,
        /// Bytes available from its start.
        available: usize,
    },
    /// A known parameter with a value of the wrong size for its type (e.g.
    /// an IPv4 address of 6 bytes, a policy with too few or too many values).
    BadValueLength {
        /// Where in the input.
        at: Location,
        /// The length found.
        length: usize,
        /// The length the type requires.
        expected: usize,
    },
    /// Padding after a parameter is non-zero, or cut short (a container
    /// ends inside the padding).
    BadPadding {
        /// Where in the input.
        at: Location,
    },
    /// Parameters nested deeper than `DecodeOptions::max_depth`.
    TooDeep {
        /// Where in the input.
        at: Location,
        /// The limit.
        max_depth: usize,
    },
    /// More parameters (and error causes) in one message than
    /// `DecodeOptions::max_parameters`.
    TooManyParameters {
        /// Where in the input.
        at: Location,
        /// The limit.
        max: usize,
    },
    /// A parameter of unknown type whose action bits say stop (00 or 01):
    /// the message is rejected. `report` holds what must be reported in an
    /// Unrecognized Parameter error cause (this parameter if its action is
    /// 01, plus those with action 11 seen before it); empty for action 00.
    UnrecognizedParameter {
        /// Where in the input.
        at: Location,
        /// The parameter's action bits.
        action: UnknownAction,
        /// What to report in an Unrecognized Parameter cause.
        report: Vec<RawParameter>,
    },
    /// A known parameter where this message or parameter does not allow it
    /// (wrong order, duplicate, or not part of it at all).
    UnexpectedParameter {
        /// Where in the input.
        at: Location,
    },
    /// A mandatory parameter is absent; `expected` is its type code.
    MissingParameter {
        /// Where in the input.
        at: Location,
        /// The length the type requires.
        expected: u16,
    },
    /// A field holds a value that is not defined (`field` names it): policy
    /// type, transport use, update action.
    InvalidValue {
        /// Where in the input.
        at: Location,
        /// Which field.
        field: &'static str,
        /// The value found.
        value: u32,
    },
}

impl DecodeError {
    /// Where the error was found.
    pub fn location(&self) -> &Location {
        use DecodeError::*;
        match self {
            Truncated { at, .. }
            | BadMessageLength { at, .. }
            | MessageTooLarge { at, .. }
            | UnknownMessageType { at, .. }
            | BadParameterLength { at, .. }
            | BadValueLength { at, .. }
            | BadPadding { at }
            | TooDeep { at, .. }
            | TooManyParameters { at, .. }
            | UnrecognizedParameter { at, .. }
            | UnexpectedParameter { at }
            | MissingParameter { at, .. }
            | InvalidValue { at, .. } => at,
        }
    }

    /// Byte offset of the error.
    pub fn offset(&self) -> usize {
        self.location().offset
    }

    /// Parameters to report to the sender (Unrecognized Parameter causes).
    pub fn report(&self) -> &[RawParameter] {
        match self {
            DecodeError::UnrecognizedParameter { report, .. } => report,
            _ => &[],
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        match self {
            Truncated {
                at,
                needed,
                available,
            } => write!(
                f,
                "{at}: truncated, {needed} bytes needed, {available} available"
            ),
            BadMessageLength {
                at,
                declared,
                actual,
            } => write!(
                f,
                "{at}: bad message length {declared} ({actual} bytes given)"
            ),
            MessageTooLarge { at, length, max } => {
                write!(
                    f,
                    "{at}: message of {length} bytes exceeds the maximum {max}"
                )
            }
            UnknownMessageType { at, msg_type } => {
                write!(f, "{at}: unknown message type {msg_type:#04x}")
            }
            BadParameterLength {
                at,
                length,
                available,
            } => write!(
                f,
                "{at}: bad parameter length {length} ({available} bytes available)"
            ),
            BadValueLength {
                at,
                length,
                expected,
            } => write!(
                f,
                "{at}: value of {length} bytes, {expected} expected for this type"
            ),
            BadPadding { at } => write!(f, "{at}: bad padding"),
            TooDeep { at, max_depth } => {
                write!(f, "{at}: parameters nested deeper than {max_depth}")
            }
            TooManyParameters { at, max } => {
                write!(f, "{at}: more than {max} parameters")
            }
            UnrecognizedParameter { at, action, report } => write!(
                f,
                "{at}: unrecognized parameter, action {action:?} ({} to report)",
                report.len()
            ),
            UnexpectedParameter { at } => write!(f, "{at}: unexpected parameter"),
            MissingParameter { at, expected } => match param_type::name(*expected) {
                Some(n) => write!(f, "{at}: missing parameter {expected:#06x} ({n})"),
                None => write!(f, "{at}: missing parameter {expected:#06x}"),
            },
            InvalidValue { at, field, value } => {
                write!(f, "{at}: invalid {field} {value:#x}")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// What is too long to encode (see [`EncodeError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TooLong {
    /// The message as a whole.
    Message,
    /// A parameter of this type (the innermost one that overflows).
    Parameter(u16),
    /// An error cause with this code inside an Operation Error.
    Cause(ErrorCauseCode),
}

/// Why a message or parameter cannot be encoded: a length field would have
/// to say more than 65535 bytes. The encoder then writes nothing, rather
/// than a length that differs from the bytes written (which would cost a
/// stream receiver its framing). Senders keep within
/// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN) by budgets (see the
/// registrar).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EncodeError {
    /// Protocol and type of the message being encoded; `None` for a
    /// parameter encoded on its own.
    pub message: Option<(Protocol, u8)>,
    /// The innermost part whose length does not fit.
    pub what: TooLong,
    /// Its length in bytes (padding of its last part included for a message).
    pub length: usize,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((p, t)) = self.message {
            match p.msg_type_name(t) {
                Some(n) => write!(f, "{} {n}: ", p.name())?,
                None => write!(f, "{} message type {t:#04x}: ", p.name())?,
            }
        }
        match self.what {
            TooLong::Message => write!(f, "message")?,
            TooLong::Parameter(t) => match param_type::name(t) {
                Some(n) => write!(f, "parameter {t:#06x} ({n})")?,
                None => write!(f, "parameter {t:#06x}")?,
            },
            TooLong::Cause(c) => write!(f, "error cause {:#06x} ({})", c.code(), c.name())?,
        }
        write!(
            f,
            " of {} bytes exceeds the 16-bit length field (65535)",
            self.length
        )
    }
}

impl std::error::Error for EncodeError {}
