//! The data channel between a pool user and a pool element.
//!
//! The session layer is message-oriented: every message on a PU-PE
//! association is a [`Frame`], a payload with a payload protocol
//! identifier. With transport use "data plus control" the ASAP control
//! messages (COOKIE, COOKIE_ECHO, BUSINESS_CARD) share the association with
//! the application's messages and are told apart by the PPID: 11 ([`PPID_ASAP`])
//! is ASAP, anything else is the application's.
//!
//! - Over SCTP a frame is one SCTP message with that PPID.
//! - Over TCP there is no PPID, so each frame is written as an 8-byte
//!   header, the PPID (u32, network order) and the payload length (u32,
//!   network order), followed by the payload. It is the SCTP data chunk's
//!   view of a message, so both carriers look the same to the session
//!   layer, and an ASAP message in a frame is byte-identical to the one
//!   SCTP would carry. [`encode_tcp_frame`] writes it, [`TcpDeframer`] reads it.
//!
//! With transport use "data only" no ASAP messages are exchanged and every
//! frame is the application's, whatever its PPID.

use std::fmt;

use crate::stream_buf::StreamBuf;
pub use crate::wire::PPID_ASAP;

/// Bytes of the TCP frame header (PPID, length).
pub const TCP_FRAME_HEADER_LEN: usize = 8;

/// Default largest frame payload accepted from a TCP stream.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// One message of the data channel.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The SCTP payload protocol identifier (11 for ASAP control).
    pub ppid: u32,
    /// The message.
    pub payload: Vec<u8>,
}

impl Frame {
    /// A frame with `ppid` and `payload`.
    pub fn new(ppid: u32, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            ppid,
            payload: payload.into(),
        }
    }
    /// Whether this frame carries an ASAP control message.
    pub fn is_asap(&self) -> bool {
        self.ppid == PPID_ASAP
    }
    /// Appends the TCP encoding (see the module docs) to `out`.
    pub fn encode_tcp(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        encode_tcp_frame(self.ppid, &self.payload, out)
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Frame {{ ppid: {}, payload: {} bytes }}",
            self.ppid,
            self.payload.len()
        )
    }
}

/// Why a TCP data channel cannot be framed (the association must then be
/// closed: the stream has lost its synchronisation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// A payload longer than the receiver accepts (or than 32 bits hold).
    TooLarge {
        /// The payload length.
        length: usize,
        /// The largest accepted.
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { length, max } => write!(
                f,
                "data channel frame of {length} bytes exceeds the maximum of {max}"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends one TCP frame: PPID, payload length, payload.
pub fn encode_tcp_frame(ppid: u32, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    let len = u32::try_from(payload.len()).map_err(|_| FrameError::TooLarge {
        length: payload.len(),
        max: u32::MAX as usize,
    })?;
    out.reserve(TCP_FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&ppid.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Splits a TCP byte stream into frames. Bytes are appended as they
/// arrive; whole frames come out in order.
#[derive(Debug)]
pub struct TcpDeframer {
    buf: StreamBuf,
    max_frame: usize,
    failed: bool,
}

impl TcpDeframer {
    /// `max_frame`: the largest payload accepted; a larger length field is
    /// an error (never a huge allocation).
    pub fn new(max_frame: usize) -> Self {
        TcpDeframer {
            buf: StreamBuf::default(),
            max_frame,
            failed: false,
        }
    }

    /// Appends received bytes (ignored once framing has failed).
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        self.buf.extend(bytes);
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let rest = self.buf.available();
        let Some(&[p0, p1, p2, p3, l0, l1, l2, l3]) = rest.get(..TCP_FRAME_HEADER_LEN) else {
            return Ok(None);
        };
        let ppid = u32::from_be_bytes([p0, p1, p2, p3]);
        let len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
        if len > self.max_frame {
            self.failed = true;
            return Err(FrameError::TooLarge {
                length: len,
                max: self.max_frame,
            });
        }
        let Some(payload) = rest.get(TCP_FRAME_HEADER_LEN..TCP_FRAME_HEADER_LEN + len) else {
            return Ok(None);
        };
        let frame = Frame::new(ppid, payload);
        self.buf.take(TCP_FRAME_HEADER_LEN + len);
        Ok(Some(frame))
    }

    /// Bytes received but not yet handed out.
    pub fn pending(&self) -> usize {
        self.buf.pending()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split_of_the_stream() {
        let frames = vec![
            Frame::new(0, b"hello".to_vec()),
            Frame::new(PPID_ASAP, vec![0x0b, 0, 0, 4]),
            Frame::new(42, Vec::new()),
            Frame::new(7, vec![9; 300]),
        ];
        let mut stream = Vec::new();
        for f in &frames {
            f.encode_tcp(&mut stream).unwrap();
        }
        assert_eq!(&stream[..8], &[0, 0, 0, 0, 0, 0, 0, 5]);
        for chunk in [1, 3, 8, 13, stream.len()] {
            let mut d = TcpDeframer::new(DEFAULT_MAX_FRAME);
            let mut got = Vec::new();
            for part in stream.chunks(chunk) {
                d.extend(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, frames, "chunk size {chunk}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn oversized_length_is_an_error_not_an_allocation() {
        let mut d = TcpDeframer::new(16);
        d.extend(&[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                length: 0xffff_ffff,
                max: 16
            })
        );
        d.extend(&[0; 100]);
        assert!(d.pending() <= 10);
    }
}
