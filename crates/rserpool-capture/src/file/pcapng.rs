//! pcapng: sections in either byte order, several interfaces each with its
//! own link type and timestamp resolution; EPB, SPB and the obsolete PB.
//! Other blocks are skipped.

use std::io::Read;

use super::{FrameMeta, Source, Step, from_binary_units, from_decimal_units, read_error};
use crate::bytes::{Endian, pad4};
use crate::diag::{Diagnostic, DiagnosticKind};
use crate::message::Timestamp;

const SHB: u32 = 0x0a0d_0d0a;
const IDB: u32 = 0x0000_0001;
const PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
/// Blocks that are no packets but that Wireshark lists as frames of their
/// own: systemd journal entries, custom blocks, Sysdig events. They count
/// toward frame numbers so that ours stay equal to Wireshark's.
const NUMBERED_NON_PACKETS: [u32; 9] = [
    0x0000_0009,
    0x0000_0bad,
    0x4000_0bad,
    0x0000_0204,
    0x0000_0208,
    0x0000_0216,
    0x0000_0217,
    0x0000_0221,
    0x0000_0222,
];
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const MAX_BLOCK: u32 = 256 * 1024 * 1024;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

pub(super) fn is_magic(data: &[u8]) -> bool {
    Endian::Big.u32(data, 0) == Some(SHB)
}

/// How an interface counts time.
#[derive(Clone, Copy, Debug)]
enum Resolution {
    /// Units of 10^-n seconds.
    Decimal(u32),
    /// Units of 2^-n seconds.
    Binary(u32),
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: u32,
    resolution: Resolution,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset: i64,
    /// Zero means no limit.
    snaplen: u32,
}

/// The state of the current section: byte order and interfaces.
#[derive(Debug)]
pub(super) struct Section {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// SPBs carry no timestamp; they inherit the previous packet's.
    last_timestamp: Timestamp,
    /// The buffer already holds the start of the next block (the magic
    /// bytes read to recognise the format).
    primed: bool,
}

fn malformed(offset: u64, reason: &'static str) -> Diagnostic {
    Diagnostic::new(None, DiagnosticKind::MalformedFile { offset, reason })
}

/// Reads one block.
pub(super) fn next<R: Read>(
    section: &mut Section,
    src: &mut Source<R>,
    buf: &mut Vec<u8>,
    frame: &mut u64,
    diags: &mut Vec<Diagnostic>,
) -> Step {
    if !section.primed {
        buf.clear();
    }
    section.primed = false;
    let start = src.offset - buf.len() as u64;
    match src.fill(buf, 12 - buf.len().min(12)) {
        Ok(_) if buf.is_empty() => return Step::Stop,
        Ok(_) => {}
        Err(e) => {
            diags.push(read_error(src.offset, &e));
            return Step::Stop;
        }
    }
    if buf.len() < 12 {
        diags.push(Diagnostic::new(
            None,
            DiagnosticKind::TruncatedFile {
                offset: start,
                needed: 12,
                available: buf.len() as u64,
            },
        ));
        return Step::Stop;
    }
    if Endian::Big.u32(buf, 0) == Some(SHB) {
        // A new section: its own byte order and interfaces.
        section.endian = match Endian::Big.u32(buf, 8) {
            Some(BYTE_ORDER_MAGIC) => Endian::Big,
            Some(m) if m.swap_bytes() == BYTE_ORDER_MAGIC => Endian::Little,
            _ => {
                diags.push(malformed(
                    start,
                    "section header with a bad byte-order magic",
                ));
                return Step::Stop;
            }
        };
        section.interfaces.clear();
    }
    let e = section.endian;
    let block_type = e.u32(buf, 0).unwrap_or_default();
    let total = e.u32(buf, 4).unwrap_or_default();
    if total < 12 || total % 4 != 0 || total > MAX_BLOCK {
        diags.push(malformed(start, "impossible block length"));
        return Step::Stop;
    }
    let total = total as usize;
    if !src.fill_exact(buf, total - 12, start, total, diags) {
        return Step::Stop;
    }
    if e.u32(buf, total - 4) != Some(total as u32) {
        diags.push(malformed(
            start,
            "block's trailing length differs from its leading length",
        ));
        return Step::Stop;
    }
    let body = buf.get(8..total - 4).unwrap_or_default();
    match block_type {
        SHB => Step::Continue,
        IDB => match section.parse_idb(body) {
            Some(i) => {
                section.interfaces.push(i);
                Step::Continue
            }
            None => {
                diags.push(malformed(start, "interface description block too short"));
                Step::Stop
            }
        },
        EPB | PB => {
            *frame += 1;
            let number = *frame;
            let parsed = if block_type == EPB {
                parse_epb(body, e)
            } else {
                parse_pb(body, e)
            };
            let Some(p) = parsed else {
                // Numbered anyway, so later frame numbers stay right.
                diags.push(Diagnostic::new(
                    Some(number),
                    DiagnosticKind::MalformedFile {
                        offset: start,
                        reason: "packet block shorter than its captured length",
                    },
                ));
                return Step::Continue;
            };
            let Some(iface) = section.interfaces.get(p.interface as usize).copied() else {
                diags.push(Diagnostic::new(
                    Some(number),
                    DiagnosticKind::UnknownInterface {
                        interface: p.interface,
                    },
                ));
                return Step::Continue;
            };
            let mut timestamp = match iface.resolution {
                Resolution::Decimal(n) => from_decimal_units(p.units, n),
                Resolution::Binary(n) => from_binary_units(p.units, n),
            };
            timestamp.secs = timestamp.secs.saturating_add(iface.offset);
            section.last_timestamp = timestamp;
            Step::Frame(FrameMeta {
                number,
                timestamp,
                link_type: iface.link_type,
                interface: p.interface,
                data: 8 + p.data.start..8 + p.data.end,
                original_len: p.original_len,
            })
        }
        SPB => {
            *frame += 1;
            let number = *frame;
            let Some(iface) = section.interfaces.first().copied() else {
                diags.push(Diagnostic::new(
                    Some(number),
                    DiagnosticKind::UnknownInterface { interface: 0 },
                ));
                return Step::Continue;
            };
            let Some(original_len) = e.u32(body, 0) else {
                diags.push(Diagnostic::new(
                    Some(number),
                    DiagnosticKind::MalformedFile {
                        offset: start,
                        reason: "simple packet block without a length",
                    },
                ));
                return Step::Continue;
            };
            // The captured length is the smaller of the packet and the snap length.
            let mut len = original_len as usize;
            if iface.snaplen != 0 {
                len = len.min(iface.snaplen as usize);
            }
            let len = len.min(body.len().saturating_sub(4));
            Step::Frame(FrameMeta {
                number,
                timestamp: section.last_timestamp,
                link_type: iface.link_type,
                interface: 0,
                data: 12..12 + len,
                original_len,
            })
        }
        t if NUMBERED_NON_PACKETS.contains(&t) => {
            *frame += 1;
            Step::Continue
        }
        _ => Step::Continue,
    }
}

impl Section {
    pub(super) fn new() -> Self {
        Section {
            endian: Endian::Little,
            interfaces: Vec::new(),
            last_timestamp: Timestamp::ZERO,
            primed: true,
        }
    }

    fn parse_idb(&self, body: &[u8]) -> Option<Interface> {
        let e = self.endian;
        let mut iface = Interface {
            link_type: u32::from(e.u16(body, 0)?),
            resolution: Resolution::Decimal(6),
            offset: 0,
            snaplen: e.u32(body, 4)?,
        };
        let mut at = 8;
        while let (Some(code), Some(len)) = (e.u16(body, at), e.u16(body, at + 2)) {
            let value = body.get(at + 4..at + 4 + len as usize);
            match (code, value) {
                (OPT_END, _) => break,
                (OPT_IF_TSRESOL, Some(&[r])) => {
                    iface.resolution = if r & 0x80 == 0 {
                        Resolution::Decimal(u32::from(r))
                    } else {
                        Resolution::Binary(u32::from(r & 0x7f))
                    };
                }
                (OPT_IF_TSOFFSET, Some(v)) if v.len() == 8 => {
                    iface.offset = e.u64(v, 0)? as i64;
                }
                _ => {}
            }
            at += 4 + pad4(len as usize);
        }
        Some(iface)
    }
}

struct Packet {
    interface: u32,
    units: u64,
    /// Where the packet bytes are within the block body.
    data: std::ops::Range<usize>,
    original_len: u32,
}

fn parse_epb(body: &[u8], e: Endian) -> Option<Packet> {
    let units = (u64::from(e.u32(body, 4)?) << 32) | u64::from(e.u32(body, 8)?);
    let caplen = e.u32(body, 12)? as usize;
    Some(Packet {
        interface: e.u32(body, 0)?,
        units,
        data: {
            let end = 20usize.checked_add(caplen)?;
            body.get(20..end)?;
            20..end
        },
        original_len: e.u32(body, 16)?,
    })
}

fn parse_pb(body: &[u8], e: Endian) -> Option<Packet> {
    let units = (u64::from(e.u32(body, 4)?) << 32) | u64::from(e.u32(body, 8)?);
    let caplen = e.u32(body, 12)? as usize;
    Some(Packet {
        interface: u32::from(e.u16(body, 0)?),
        units,
        data: {
            let end = 20usize.checked_add(caplen)?;
            body.get(20..end)?;
            20..end
        },
        original_len: e.u32(body, 16)?,
    })
}
