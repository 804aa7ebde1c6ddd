//! pcapng: sections in either byte order, several interfaces each with its
//! own link type and timestamp resolution; EPB, SPB and the obsolete PB.
//! Other blocks are skipped.

use super::{Frame, from_binary_units, from_decimal_units};
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

pub(super) fn is_pcapng(data: &[u8]) -> bool {
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

#[derive(Debug)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    endian: Endian,
    interfaces: Vec<Interface>,
    frame: u64,
    /// SPBs carry no timestamp; they inherit the previous packet's.
    last_timestamp: Timestamp,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            endian: Endian::Little,
            interfaces: Vec::new(),
            frame: 0,
            last_timestamp: Timestamp::ZERO,
        }
    }

    fn fail(&self, diags: &mut Vec<Diagnostic>, reason: &'static str) {
        diags.push(Diagnostic::new(
            None,
            DiagnosticKind::MalformedFile {
                offset: self.pos as u64,
                reason,
            },
        ));
    }

    pub(super) fn next_frame(&mut self, diags: &mut Vec<Diagnostic>) -> Option<Frame<'a>> {
        loop {
            let rest = self.data.get(self.pos..)?;
            if rest.is_empty() {
                return None;
            }
            let truncated = |needed: u64| {
                Diagnostic::new(
                    None,
                    DiagnosticKind::TruncatedFile {
                        offset: self.pos as u64,
                        needed,
                        available: rest.len() as u64,
                    },
                )
            };
            if rest.len() < 12 {
                diags.push(truncated(12));
                return None;
            }
            let block_type_be = Endian::Big.u32(rest, 0)?;
            if block_type_be == SHB {
                // A new section: its own byte order and interfaces.
                self.endian = match Endian::Big.u32(rest, 8)? {
                    BYTE_ORDER_MAGIC => Endian::Big,
                    m if m.swap_bytes() == BYTE_ORDER_MAGIC => Endian::Little,
                    _ => {
                        self.fail(diags, "section header with a bad byte-order magic");
                        return None;
                    }
                };
                self.interfaces.clear();
            }
            let e = self.endian;
            let block_type = e.u32(rest, 0)?;
            let total = e.u32(rest, 4)?;
            if total < 12 || total % 4 != 0 || total > MAX_BLOCK {
                self.fail(diags, "impossible block length");
                return None;
            }
            let Some(block) = rest.get(..total as usize) else {
                diags.push(truncated(u64::from(total)));
                return None;
            };
            if e.u32(block, total as usize - 4) != Some(total) {
                self.fail(
                    diags,
                    "block's trailing length differs from its leading length",
                );
                return None;
            }
            let body = block.get(8..total as usize - 4)?;
            let block_pos = self.pos;
            self.pos += total as usize;
            match block_type {
                SHB => {}
                IDB => match self.parse_idb(body) {
                    Some(i) => self.interfaces.push(i),
                    None => {
                        self.pos = block_pos;
                        self.fail(diags, "interface description block too short");
                        return None;
                    }
                },
                EPB | PB => {
                    self.frame += 1;
                    let frame = self.frame;
                    let parsed = if block_type == EPB {
                        parse_epb(body, e)
                    } else {
                        parse_pb(body, e)
                    };
                    let Some(p) = parsed else {
                        // Numbered anyway, so later frame numbers stay right.
                        diags.push(Diagnostic::new(
                            Some(frame),
                            DiagnosticKind::MalformedFile {
                                offset: block_pos as u64,
                                reason: "packet block shorter than its captured length",
                            },
                        ));
                        continue;
                    };
                    let Some(iface) = self.interfaces.get(p.interface as usize).copied() else {
                        diags.push(Diagnostic::new(
                            Some(frame),
                            DiagnosticKind::UnknownInterface {
                                interface: p.interface,
                            },
                        ));
                        continue;
                    };
                    let mut ts = match iface.resolution {
                        Resolution::Decimal(n) => from_decimal_units(p.units, n),
                        Resolution::Binary(n) => from_binary_units(p.units, n),
                    };
                    ts.secs = ts.secs.saturating_add(iface.offset);
                    self.last_timestamp = ts;
                    return Some(Frame {
                        number: frame,
                        timestamp: ts,
                        link_type: iface.link_type,
                        interface: p.interface,
                        data: p.data,
                        original_len: p.original_len,
                    });
                }
                SPB => {
                    self.frame += 1;
                    let frame = self.frame;
                    let Some(iface) = self.interfaces.first().copied() else {
                        diags.push(Diagnostic::new(
                            Some(frame),
                            DiagnosticKind::UnknownInterface { interface: 0 },
                        ));
                        continue;
                    };
                    let (Some(original_len), Some(data)) = (e.u32(body, 0), body.get(4..)) else {
                        diags.push(Diagnostic::new(
                            Some(frame),
                            DiagnosticKind::MalformedFile {
                                offset: block_pos as u64,
                                reason: "simple packet block without a length",
                            },
                        ));
                        continue;
                    };
                    // The captured length is the smaller of the packet and the snap length.
                    let mut len = original_len as usize;
                    if iface.snaplen != 0 {
                        len = len.min(iface.snaplen as usize);
                    }
                    let data = data.get(..len.min(data.len())).unwrap_or(data);
                    return Some(Frame {
                        number: frame,
                        timestamp: self.last_timestamp,
                        link_type: iface.link_type,
                        interface: 0,
                        data,
                        original_len,
                    });
                }
                t if NUMBERED_NON_PACKETS.contains(&t) => self.frame += 1,
                _ => {}
            }
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

struct Packet<'a> {
    interface: u32,
    units: u64,
    data: &'a [u8],
    original_len: u32,
}

fn parse_epb(body: &[u8], e: Endian) -> Option<Packet<'_>> {
    let units = (u64::from(e.u32(body, 4)?) << 32) | u64::from(e.u32(body, 8)?);
    let caplen = e.u32(body, 12)? as usize;
    Some(Packet {
        interface: e.u32(body, 0)?,
        units,
        data: body.get(20..20usize.checked_add(caplen)?)?,
        original_len: e.u32(body, 16)?,
    })
}

fn parse_pb(body: &[u8], e: Endian) -> Option<Packet<'_>> {
    let units = (u64::from(e.u32(body, 4)?) << 32) | u64::from(e.u32(body, 8)?);
    let caplen = e.u32(body, 12)? as usize;
    Some(Packet {
        interface: u32::from(e.u16(body, 0)?),
        units,
        data: body.get(20..20usize.checked_add(caplen)?)?,
        original_len: e.u32(body, 16)?,
    })
}
