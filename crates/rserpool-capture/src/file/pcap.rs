//! Classic libpcap files: both byte orders, micro- and nanosecond stamps,
//! and the "modified" (Kuznetzov) record layout.

use std::io::Read;

use super::{FrameMeta, Source, Step, from_decimal_units, read_error};
use crate::bytes::Endian;
use crate::diag::{Diagnostic, DiagnosticKind};

const MAGIC_USEC: u32 = 0xa1b2_c3d4;
const MAGIC_NSEC: u32 = 0xa1b2_3c4d;
const MAGIC_MODIFIED: u32 = 0xa1b2_cd34;
const FILE_HEADER_LEN: usize = 24;
/// Larger records are taken as corruption rather than allocated or trusted.
const MAX_RECORD: u32 = 256 * 1024 * 1024;

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

/// True if the data starts with a pcap magic number.
pub(super) fn is_magic(data: &[u8]) -> bool {
    magic(data).is_some()
}

/// What the file header says about every record.
#[derive(Debug)]
pub(super) struct Header {
    endian: Endian,
    nanos: bool,
    record_header_len: usize,
    link_type: u32,
}

impl Header {
    /// Reads the rest of the file header; `buf` holds its first 4 bytes.
    pub(super) fn read<R: Read>(
        src: &mut Source<R>,
        buf: &mut Vec<u8>,
        diags: &mut Vec<Diagnostic>,
    ) -> Option<Header> {
        let (endian, magic) = magic(buf)?;
        let rest = FILE_HEADER_LEN - buf.len();
        if !src.fill_exact(buf, rest, 0, FILE_HEADER_LEN, diags) {
            return None;
        }
        // The upper bits of the link type field carry FCS information.
        let link_type = endian.u32(buf, 20)? & 0x03ff_ffff;
        Some(Header {
            endian,
            nanos: magic == MAGIC_NSEC,
            record_header_len: if magic == MAGIC_MODIFIED { 24 } else { 16 },
            link_type,
        })
    }
}

/// Reads one record.
pub(super) fn next<R: Read>(
    h: &Header,
    src: &mut Source<R>,
    buf: &mut Vec<u8>,
    frame: &mut u64,
    diags: &mut Vec<Diagnostic>,
) -> Step {
    buf.clear();
    let start = src.offset;
    let hlen = h.record_header_len;
    match src.fill(buf, hlen) {
        Ok(0) => return Step::Stop,
        Ok(_) => {}
        Err(e) => {
            diags.push(read_error(src.offset, &e));
            return Step::Stop;
        }
    }
    if buf.len() < hlen {
        diags.push(Diagnostic::new(
            None,
            DiagnosticKind::TruncatedFile {
                offset: start,
                needed: hlen as u64,
                available: buf.len() as u64,
            },
        ));
        return Step::Stop;
    }
    let e = h.endian;
    let word = |at| e.u32(buf, at).unwrap_or_default();
    let (secs, frac, incl, orig) = (word(0), word(4), word(8), word(12));
    if incl > MAX_RECORD {
        diags.push(Diagnostic::new(
            None,
            DiagnosticKind::MalformedFile {
                offset: start,
                reason: "record length over 256 MiB",
            },
        ));
        return Step::Stop;
    }
    let incl = incl as usize;
    if !src.fill_exact(buf, incl, start, hlen + incl, diags) {
        return Step::Stop;
    }
    *frame += 1;
    let exp = if h.nanos { 9 } else { 6 };
    let mut timestamp = from_decimal_units(u64::from(frac), exp);
    timestamp.secs += i64::from(secs);
    Step::Frame(FrameMeta {
        number: *frame,
        timestamp,
        link_type: h.link_type,
        interface: 0,
        data: hlen..hlen + incl,
        original_len: orig,
    })
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
        let mut r = FrameReader::new(&file[..]);
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
