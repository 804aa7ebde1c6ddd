//! Classic libpcap files: both byte orders, micro- and nanosecond stamps,
//! and the "modified" (Kuznetzov) record layout.

use super::{Frame, from_decimal_units};
use crate::bytes::Endian;
use crate::diag::{Diagnostic, DiagnosticKind};

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
const FILE_HEADER_LEN: usize = 24;
/// Larger records are taken as corruption rather than allocated or trusted.
const MAX_RECORD: u32 = 256 * 1024 * 1024;

#[derive(Debug)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    endian: Endian,
    nanos: bool,
    record_header_len: usize,
    link_type: u32,
    frame: u64,
}

fn magic(data: &[u8]) -> Option<(Endian, u32)> {
    let le = Endian::Little.u32(data, 0)?;
    let be = Endian::Big.u32(data, 0)?;
    [MAGIC_USEC, MAGIC_NSEC, MAGIC_MODIFIED]
        .into_iter()
        .find_map(|m| {
            if le == m {
                Some((Endian::Little, m))
            } else if be == m {
                Some((Endian::Big, m))
            } else {
                None
            }
        })
}

/// True if the data starts with a pcap magic number (even if the header is cut).
pub(super) fn looks_like_pcap(data: &[u8]) -> bool {
    magic(data).is_some()
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8], diags: &mut Vec<Diagnostic>) -> Option<Self> {
        let (endian, magic) = magic(data)?;
        if data.len() < FILE_HEADER_LEN {
            diags.push(Diagnostic::new(
                None,
                DiagnosticKind::TruncatedFile {
                    offset: 0,
                    needed: FILE_HEADER_LEN as u64,
                    available: data.len() as u64,
                },
            ));
            return None;
        }
        // The upper bits of the link type field carry FCS information.
        let link_type = endian.u32(data, 20)? & 0x03ff_ffff;
        Some(Reader {
            data,
            pos: FILE_HEADER_LEN,
            endian,
            nanos: magic == MAGIC_NSEC,
            record_header_len: if magic == MAGIC_MODIFIED { 24 } else { 16 },
            link_type,
            frame: 0,
        })
    }

    pub(super) fn next_frame(&mut self, diags: &mut Vec<Diagnostic>) -> Option<Frame<'a>> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let truncated = |needed: usize| {
            Diagnostic::new(
                None,
                DiagnosticKind::TruncatedFile {
                    offset: self.pos as u64,
                    needed: needed as u64,
                    available: rest.len() as u64,
                },
            )
        };
        if rest.len() < self.record_header_len {
            diags.push(truncated(self.record_header_len));
            return None;
        }
        let e = self.endian;
        let (secs, frac, incl, orig) = (
            e.u32(rest, 0)?,
            e.u32(rest, 4)?,
            e.u32(rest, 8)?,
            e.u32(rest, 12)?,
        );
        if incl > MAX_RECORD {
            diags.push(Diagnostic::new(
                None,
                DiagnosticKind::MalformedFile {
                    offset: self.pos as u64,
                    reason: "record length over 256 MiB",
                },
            ));
            return None;
        }
        let end = self.record_header_len + incl as usize;
        let Some(body) = rest.get(self.record_header_len..end) else {
            diags.push(truncated(end));
            return None;
        };
        self.pos += end;
        self.frame += 1;
        let exp = if self.nanos { 9 } else { 6 };
        let mut ts = from_decimal_units(u64::from(frac), exp);
        ts.secs += i64::from(secs);
        Some(Frame {
            number: self.frame,
            timestamp: ts,
            link_type: self.link_type,
            interface: 0,
            data: body,
            original_len: orig,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::FrameReader;

    #[test]
    fn modified_pcap_records_have_eight_more_header_bytes() {
        let mut file = 0xa1b2_cd34u32.to_le_bytes().to_vec();
        file.extend_from_slice(&[2, 0, 4, 0]);
        file.extend_from_slice(&[0; 12]);
        file.extend_from_slice(&101u32.to_le_bytes());
        for (secs, data) in [(7u32, [0x45u8, 1, 2]), (8, [0x60, 3, 4])] {
            file.extend_from_slice(&secs.to_le_bytes());
            file.extend_from_slice(&250_000u32.to_le_bytes());
            file.extend_from_slice(&3u32.to_le_bytes());
            file.extend_from_slice(&3u32.to_le_bytes());
            file.extend_from_slice(&[9; 8]); // ifindex, protocol, pkt_type, pad
            file.extend_from_slice(&data);
        }
        let mut diags = Vec::new();
        let mut r = FrameReader::new(&file, &mut diags);
        let f1 = r
            .next_frame(&mut diags)
            .map(|f| (f.number, f.timestamp.secs, f.data.to_vec()));
        let f2 = r
            .next_frame(&mut diags)
            .map(|f| (f.number, f.timestamp.nanos, f.data.to_vec()));
        assert_eq!(f1, Some((1, 7, vec![0x45, 1, 2])));
        assert_eq!(f2, Some((2, 250_000_000, vec![0x60, 3, 4])));
        assert!(r.next_frame(&mut diags).is_none());
        assert!(diags.is_empty());
    }
}
