//! The codec: a strict, total decoder and an RSPLIB-exact encoder.
//!
//! Decoding never indexes out of bounds, never recurses deeper than
//! `max_depth` and never allocates more than the input length implies:
//! every vector element is backed by at least 4 input bytes.
//!
//! - `reader.rs`: one message's decoding state and its TLV walk (header,
//!   lengths, padding, nesting depth, the unknown-parameter actions);
//! - `decode_params.rs` and `decode_messages.rs`: parameters and messages
//!   on top of that walk;
//! - `writer.rs`: the encoding buffer with its length checks and the
//!   parameter writers; `encode.rs`: messages and the public `encode`s;
//! - `size.rs`: encoded sizes without encoding, for budgets;
//! - `raw.rs`: the TLVs of bytes that are not decoded.

mod decode_messages;
mod decode_params;
mod encode;
pub(crate) mod raw;
mod reader;
pub(crate) mod size;
mod writer;

use super::error::{DecodeError, Location};
use super::param::param_type as pt;
use super::{DecodeOptions, HEADER_LEN, Protocol};

/// Whether the decoder knows parameter type `t` (anything else is handled
/// by its action bits).
fn is_known_param(t: u16) -> bool {
    matches!(t, 0x0001..=0x000f | pt::HANDLE_RESOLUTION_OPTION)
}

/// Padding bytes after `n` bytes, up to a multiple of 4.
fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// The big-endian `u16` at `at`; 0 when `b` is too short (callers check
/// lengths first, this only keeps reads total).
fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// The big-endian `u32` at `at`; 0 when `b` is too short.
fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[w, x, y, z]) => u32::from_be_bytes([w, x, y, z]),
        _ => 0,
    }
}

/// Refuses input longer than `opts.max_message_size` before any work.
pub(super) fn check_size(
    protocol: Protocol,
    bytes: &[u8],
    opts: &DecodeOptions,
) -> Result<(), DecodeError> {
    if bytes.len() > opts.max_message_size {
        return Err(DecodeError::MessageTooLarge {
            at: Location::new(protocol, 0),
            length: bytes.len(),
            max: opts.max_message_size,
        });
    }
    Ok(())
}

/// The total length a message header declares (see [`super::message_length`]).
pub(super) fn message_length(
    protocol: Protocol,
    header: &[u8],
    opts: &DecodeOptions,
) -> Result<Option<usize>, DecodeError> {
    if header.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = usize::from(be16(header, 2));
    let at = Location {
        protocol,
        msg_type: header.first().copied(),
        param_type: None,
        offset: 2,
    };
    if len < HEADER_LEN {
        return Err(DecodeError::BadMessageLength {
            at,
            declared: len,
            actual: header.len(),
        });
    }
    if len > opts.max_message_size {
        return Err(DecodeError::MessageTooLarge {
            at,
            length: len,
            max: opts.max_message_size,
        });
    }
    Ok(Some(len))
}
