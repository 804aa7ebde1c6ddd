//! Capture file formats: classic pcap and pcapng, read as a stream.
//!
//! One record or block is in memory at a time, so captures of any size can
//! be read; a slice of bytes is a stream too (`&[u8]` implements `Read`).

mod pcap;
mod pcapng;

use std::io::{self, Read};
use std::ops::Range;

use crate::diag::{Diagnostic, DiagnosticKind};
use crate::message::Timestamp;

/// One captured packet, borrowed from the reader's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based, as Wireshark numbers frames.
    pub number: u64,
    /// When it was captured (with the pcapng interface's `if_tsoffset` added).
    pub timestamp: Timestamp,
    /// The LINKTYPE_* value of the interface the packet was captured on.
    pub link_type: u32,
    /// The pcapng interface (0 for pcap files).
    pub interface: u32,
    /// The captured bytes (possibly fewer than the packet had on the wire).
    pub data: &'a [u8],
    /// The packet's length on the wire, as the file states it; more than
    /// `data` holds when the snapshot length cut the packet.
    pub original_len: u32,
}

/// A frame whose bytes are a range of the reader's buffer.
#[derive(Clone, Debug)]
struct FrameMeta {
    number: u64,
    timestamp: Timestamp,
    link_type: u32,
    interface: u32,
    data: Range<usize>,
    original_len: u32,
}

/// What reading one record or block gave.
#[derive(Debug)]
enum Step {
    Frame(FrameMeta),
    /// A block without a packet (section or interface description, statistics...).
    Continue,
    /// The end of the file, or a problem after which nothing can be trusted.
    Stop,
}

/// The input with its position, for diagnostics that say where.
#[derive(Debug)]
struct Source<R> {
    inner: R,
    offset: u64,
}

impl<R: Read> Source<R> {
    /// Appends up to `n` bytes to `buf`; fewer only at the end of the input.
    /// The buffer grows with the data that arrives, not with `n`, so a
    /// damaged length field cannot make it allocate more than the file holds.
    fn fill(&mut self, buf: &mut Vec<u8>, n: usize) -> io::Result<usize> {
        const CHUNK: usize = 64 * 1024;
        let start = buf.len();
        let mut got = 0;
        let result = loop {
            if got == n {
                break Ok(got);
            }
            let want = (n - got).min(CHUNK);
            buf.resize(start + got + want, 0);
            match self.inner.read(&mut buf[start + got..]) {
                Ok(0) => break Ok(got),
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
            buf.truncate(start + got);
        };
        buf.truncate(start + got);
        self.offset += got as u64;
        result
    }

    /// Like `fill`, but turns a short read into a truncation diagnostic.
    /// `block_start` and `block_len` describe the record being read.
    fn fill_exact(
        &mut self,
        buf: &mut Vec<u8>,
        n: usize,
        block_start: u64,
        block_len: usize,
        diags: &mut Vec<Diagnostic>,
    ) -> bool {
        match self.fill(buf, n) {
            Ok(got) if got == n => true,
            Ok(_) => {
                diags.push(Diagnostic::new(
                    None,
                    DiagnosticKind::TruncatedFile {
                        offset: block_start,
                        needed: block_len as u64,
                        available: self.offset - block_start,
                    },
                ));
                false
            }
            Err(e) => {
                diags.push(read_error(self.offset, &e));
                false
            }
        }
    }
}

fn read_error(offset: u64, e: &io::Error) -> Diagnostic {
    Diagnostic::new(
        None,
        DiagnosticKind::ReadError {
            offset,
            message: e.to_string(),
        },
    )
}

#[derive(Debug)]
enum Format {
    /// Nothing read yet.
    Start,
    Pcap(pcap::Header),
    Pcapng(pcapng::Section),
    /// Nothing more can be read (the end, an unknown format or a fatal error).
    Done,
}

/// Yields the frames of a pcap or pcapng file, whichever it is.
///
/// Problems are pushed to a caller-supplied list; a damaged file yields the
/// frames before the damage and then stops.
#[derive(Debug)]
pub struct FrameReader<R> {
    src: Source<R>,
    buf: Vec<u8>,
    format: Format,
    frame: u64,
}

impl<R: Read> FrameReader<R> {
    /// Reads `src`, recognising the format at the first frame. Reads are
    /// record-sized, so wrap a file in a `BufReader`.
    pub fn new(src: R) -> Self {
        FrameReader {
            src: Source {
                inner: src,
                offset: 0,
            },
            buf: Vec::new(),
            format: Format::Start,
            frame: 0,
        }
    }

    /// The next frame, or `None` at the end of the file or after a fatal problem.
    pub fn next_frame(&mut self, diags: &mut Vec<Diagnostic>) -> Option<Frame<'_>> {
        let meta = loop {
            let step = match &mut self.format {
                Format::Start => {
                    self.format = self.detect(diags);
                    continue;
                }
                Format::Pcap(h) => {
                    pcap::next(h, &mut self.src, &mut self.buf, &mut self.frame, diags)
                }
                Format::Pcapng(s) => {
                    pcapng::next(s, &mut self.src, &mut self.buf, &mut self.frame, diags)
                }
                Format::Done => return None,
            };
            match step {
                Step::Frame(meta) => break meta,
                Step::Continue => {}
                Step::Stop => {
                    self.format = Format::Done;
                    return None;
                }
            }
        };
        Some(Frame {
            number: meta.number,
            timestamp: meta.timestamp,
            link_type: meta.link_type,
            interface: meta.interface,
            data: self.buf.get(meta.data).unwrap_or_default(),
            original_len: meta.original_len,
        })
    }

    /// Recognises the format from the first bytes.
    fn detect(&mut self, diags: &mut Vec<Diagnostic>) -> Format {
        self.buf.clear();
        if let Err(e) = self.src.fill(&mut self.buf, 4) {
            diags.push(read_error(self.src.offset, &e));
            return Format::Done;
        }
        if pcap::is_magic(&self.buf) {
            return match pcap::Header::read(&mut self.src, &mut self.buf, diags) {
                Some(h) => Format::Pcap(h),
                None => Format::Done,
            };
        }
        if pcapng::is_magic(&self.buf) {
            // The magic stays in the buffer as the start of the first block.
            return Format::Pcapng(pcapng::Section::new());
        }
        diags.push(Diagnostic::new(
            None,
            DiagnosticKind::UnknownFileFormat {
                magic: self.buf.clone(),
            },
        ));
        Format::Done
    }
}

/// Converts a timestamp counted in units of 10^-`exp` seconds.
fn from_decimal_units(units: u64, exp: u32) -> Timestamp {
    let per_sec = 10u128.pow(exp.min(38));
    let units = u128::from(units);
    let secs = units / per_sec;
    let frac = units % per_sec;
    let nanos = frac * 1_000_000_000 / per_sec;
    Timestamp::new(
        i64::try_from(secs).unwrap_or(i64::MAX),
        u32::try_from(nanos).unwrap_or(0),
    )
}

/// Converts a timestamp counted in units of 2^-`exp` seconds.
fn from_binary_units(units: u64, exp: u32) -> Timestamp {
    let units = u128::from(units);
    let exp = exp.min(64);
    let secs = units >> exp;
    let frac = units & ((1u128 << exp) - 1);
    let nanos = (frac * 1_000_000_000) >> exp;
    Timestamp::new(
        i64::try_from(secs).unwrap_or(i64::MAX),
        u32::try_from(nanos).unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_units() {
        assert_eq!(
            from_decimal_units(1_500_000, 6),
            Timestamp::new(1, 500_000_000)
        );
        assert_eq!(from_decimal_units(2_000_000_007, 9), Timestamp::new(2, 7));
        assert_eq!(from_decimal_units(15, 1), Timestamp::new(1, 500_000_000));
        // Finer than nanoseconds rounds down.
        assert_eq!(
            from_decimal_units(1_000_000_000_123, 12),
            Timestamp::new(1, 0)
        );
        assert_eq!(
            from_decimal_units(u64::MAX, 0).secs,
            u64::MAX as i64 & i64::MAX
        );
    }

    #[test]
    fn binary_units() {
        assert_eq!(
            from_binary_units(3 << 10 | 512, 10),
            Timestamp::new(3, 500_000_000)
        );
        assert_eq!(from_binary_units(7, 0), Timestamp::new(7, 0));
        assert_eq!(
            from_binary_units(u64::MAX, 64),
            Timestamp::new(0, 999_999_999)
        );
    }
}
