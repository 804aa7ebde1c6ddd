//! Capture file formats: classic pcap and pcapng, read from memory.

mod pcap;
mod pcapng;

use crate::diag::{Diagnostic, DiagnosticKind};
use crate::message::Timestamp;

/// One captured packet, borrowed from the file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based, counting every packet record or block, as Wireshark numbers frames.
    pub number: u64,
    pub timestamp: Timestamp,
    /// The LINKTYPE_* value of the interface the packet was captured on.
    pub link_type: u32,
    /// The pcapng interface (0 for pcap files).
    pub interface: u32,
    /// The captured bytes (possibly fewer than the packet had on the wire).
    pub data: &'a [u8],
    pub original_len: u32,
}

#[derive(Debug)]
enum Format<'a> {
    Pcap(pcap::Reader<'a>),
    Pcapng(pcapng::Reader<'a>),
    /// Nothing more can be read (unknown format or a fatal error).
    Done,
}

/// Yields the frames of a pcap or pcapng file, whichever it is.
///
/// Problems are pushed to a caller-supplied list; a damaged file yields the
/// frames before the damage and then stops.
#[derive(Debug)]
pub struct FrameReader<'a> {
    format: Format<'a>,
}

impl<'a> FrameReader<'a> {
    /// Recognises the format from the first bytes.
    pub fn new(data: &'a [u8], diags: &mut Vec<Diagnostic>) -> Self {
        let format = if let Some(r) = pcap::Reader::new(data, diags) {
            Format::Pcap(r)
        } else if pcapng::is_pcapng(data) {
            Format::Pcapng(pcapng::Reader::new(data))
        } else {
            if !pcap::looks_like_pcap(data) {
                diags.push(Diagnostic::new(
                    None,
                    DiagnosticKind::UnknownFileFormat {
                        magic: data.iter().take(4).copied().collect(),
                    },
                ));
            }
            Format::Done
        };
        FrameReader { format }
    }

    /// The next frame, or `None` at the end of the file or after a fatal problem.
    pub fn next_frame(&mut self, diags: &mut Vec<Diagnostic>) -> Option<Frame<'a>> {
        let next = match &mut self.format {
            Format::Pcap(r) => r.next_frame(diags),
            Format::Pcapng(r) => r.next_frame(diags),
            Format::Done => None,
        };
        if next.is_none() {
            self.format = Format::Done;
        }
        next
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
