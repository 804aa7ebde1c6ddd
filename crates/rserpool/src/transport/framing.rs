//! Splitting a byte stream into ASAP/ENRP messages.
//!
//! Every ASAP and ENRP message starts with `type:u8 flags:u8 length:u16`,
//! the length covering the whole message. That makes TCP framing free: no
//! extra header, so a TCP capture of this project decodes like SCTP data.
//! The same deframer serves kernel SCTP sockets, read as a byte stream.

use std::fmt;

/// The smallest message: a bare common header.
pub const HEADER_LEN: usize = 4;

/// Why a stream cannot be split into messages any more. After this the
/// stream has lost synchronisation and the association must be aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// A length field smaller than the common header.
    LengthTooSmall {
        /// The length field.
        length: u16,
    },
    /// A length field larger than the configured maximum message size.
    TooLarge {
        /// The length field.
        length: usize,
        /// The maximum message size.
        max: usize,
    },
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingError::LengthTooSmall { length } => {
                write!(
                    f,
                    "message length {length} is smaller than the 4-byte header"
                )
            }
            FramingError::TooLarge { length, max } => {
                write!(
                    f,
                    "message length {length} exceeds the maximum of {max} bytes"
                )
            }
        }
    }
}

impl std::error::Error for FramingError {}

/// Accumulates stream bytes and hands out whole messages.
///
/// Bytes are appended into one buffer and consumed from its front; the
/// buffer is compacted only when the consumed prefix is large, so a busy
/// association does not move memory on every message.
#[derive(Debug)]
pub struct Deframer {
    buf: Vec<u8>,
    start: usize,
    max_message_size: usize,
}

impl Deframer {
    /// A deframer of messages up to `max_message_size` bytes.
    pub fn new(max_message_size: usize) -> Self {
        Deframer {
            buf: Vec::with_capacity(4096),
            start: 0,
            max_message_size,
        }
    }

    /// The largest message accepted.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// Space to read into: the caller fills a prefix and reports it with
    /// [`Deframer::filled`].
    pub fn read_buf(&mut self, want: usize) -> &mut [u8] {
        if self.start > 0 && (self.start >= self.buf.len() || self.start > 64 * 1024) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + want, 0);
        &mut self.buf[len..]
    }

    /// The buffer to append received bytes to (e.g. with tokio's
    /// `try_read_buf`, which fills spare capacity without zeroing it first),
    /// compacted and with room for at least `want` more bytes.
    pub fn buffer(&mut self, want: usize) -> &mut Vec<u8> {
        if self.start > 0 && (self.start >= self.buf.len() || self.start > 64 * 1024) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(want);
        &mut self.buf
    }

    /// Declares how many bytes of the last [`Deframer::read_buf`] were filled.
    pub fn filled(&mut self, want: usize, n: usize) {
        let keep = self.buf.len() - want + n.min(want);
        self.buf.truncate(keep);
    }

    /// Appends bytes (for callers that already have them in a buffer).
    pub fn extend(&mut self, bytes: &[u8]) {
        let dst = self.read_buf(bytes.len());
        dst.copy_from_slice(bytes);
    }

    /// The length of the next message if the buffer holds all of it.
    pub fn peek(&self) -> Result<Option<usize>, FramingError> {
        let avail = &self.buf[self.start..];
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let length = u16::from_be_bytes([avail[2], avail[3]]);
        if usize::from(length) < HEADER_LEN {
            return Err(FramingError::LengthTooSmall { length });
        }
        let length = usize::from(length);
        if length > self.max_message_size {
            return Err(FramingError::TooLarge {
                length,
                max: self.max_message_size,
            });
        }
        Ok((avail.len() >= length).then_some(length))
    }

    /// The next complete message, if the buffer holds one.
    pub fn next_message(&mut self) -> Result<Option<&[u8]>, FramingError> {
        let Some(length) = self.peek()? else {
            return Ok(None);
        };
        let begin = self.start;
        self.start += length;
        Ok(Some(&self.buf[begin..begin + length]))
    }

    /// Bytes received but not yet handed out as a message.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![ty, 0];
        m.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn splits_messages_fed_byte_by_byte() {
        let a = msg(1, b"abcdefgh");
        let b = msg(2, b"xyz");
        let c = msg(3, b"");
        let stream: Vec<u8> = [a.clone(), b.clone(), c.clone()].concat();
        let mut d = Deframer::new(1024);
        let mut out = Vec::new();
        for byte in stream {
            d.extend(&[byte]);
            while let Some(m) = d.next_message().unwrap() {
                out.push(m.to_vec());
            }
        }
        assert_eq!(out, vec![a, b, c]);
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn read_buf_and_filled_keep_only_what_was_read() {
        let a = msg(7, b"0123");
        let mut d = Deframer::new(1024);
        let dst = d.read_buf(100);
        dst[..a.len()].copy_from_slice(&a);
        d.filled(100, a.len());
        assert_eq!(d.pending(), a.len());
        assert_eq!(d.next_message().unwrap(), Some(&a[..]));
        assert_eq!(d.next_message().unwrap(), None);
    }

    #[test]
    fn rejects_lengths_that_cannot_be_framed() {
        let mut d = Deframer::new(16);
        d.extend(&[1, 0, 0, 3]);
        assert_eq!(
            d.next_message(),
            Err(FramingError::LengthTooSmall { length: 3 })
        );
        let mut d = Deframer::new(16);
        d.extend(&[1, 0, 0, 17]);
        assert_eq!(
            d.next_message(),
            Err(FramingError::TooLarge {
                length: 17,
                max: 16
            })
        );
    }

    #[test]
    fn compacts_after_many_messages() {
        let a = msg(1, &[0u8; 996]);
        let mut d = Deframer::new(2048);
        for _ in 0..200 {
            d.extend(&a);
            assert_eq!(d.next_message().unwrap().map(<[u8]>::len), Some(1000));
        }
        assert!(d.buf.capacity() < 200 * 1000);
    }
}
