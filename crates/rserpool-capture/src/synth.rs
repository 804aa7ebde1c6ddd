//! Builders for packets and capture files, for tests and tools that need a
//! capture with exactly the traffic they describe. Checksums are left zero:
//! capture readers (this one included) do not check them.

use std::net::IpAddr;

use crate::bytes::{Endian, pad4};
use crate::message::Timestamp;

/// The EtherType of IPv4, for [`ethernet`], [`sll`] and [`sll2`].
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// The EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// TCP header flags.
pub mod tcp_flags {
    /// The sender has no more data.
    pub const FIN: u8 = 0x01;
    /// Opens a connection; the sequence number is the initial one.
    pub const SYN: u8 = 0x02;
    /// Aborts the connection.
    pub const RST: u8 = 0x04;
    /// Push: hand the data to the application now.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement number is valid.
    pub const ACK: u8 = 0x10;
}

/// SCTP DATA chunk flags.
pub mod data_flags {
    /// E: the last fragment of a user message.
    pub const END: u8 = 0x01;
    /// B: the first fragment of a user message.
    pub const BEGIN: u8 = 0x02;
    /// U: delivered outside the stream's order.
    pub const UNORDERED: u8 = 0x04;
    /// A whole, unfragmented message.
    pub const WHOLE: u8 = BEGIN | END;
}

fn len16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes()
}

/// An IPv4 or IPv6 packet, by the address family of `src` (both must match).
pub fn ip(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut p = vec![0x45, 0];
            p.extend_from_slice(&len16(20 + payload.len()));
            p.extend_from_slice(&[0, 1, 0x40, 0, 64, protocol, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            p.extend_from_slice(payload);
            p
        }
        (s, d) => {
            let v6 = |a: IpAddr| match a {
                IpAddr::V6(a) => a,
                IpAddr::V4(a) => a.to_ipv6_mapped(),
            };
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&len16(payload.len()));
            p.extend_from_slice(&[protocol, 64]);
            p.extend_from_slice(&v6(s).octets());
            p.extend_from_slice(&v6(d).octets());
            p.extend_from_slice(payload);
            p
        }
    }
}

/// A UDP datagram: 8-byte header (checksum zero) and payload.
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.extend_from_slice(&src_port.to_be_bytes());
    p.extend_from_slice(&dst_port.to_be_bytes());
    p.extend_from_slice(&len16(8 + payload.len()));
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    p
}

/// A TCP segment: a 20-byte header without options (acknowledgement 0,
/// window 65535) and payload; `flags` from [`tcp_flags`].
pub fn tcp(src_port: u16, dst_port: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(20 + payload.len());
    p.extend_from_slice(&src_port.to_be_bytes());
    p.extend_from_slice(&dst_port.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(payload);
    p
}

/// An SCTP packet: common header and the given (already padded) chunks.
pub fn sctp(src_port: u16, dst_port: u16, verification_tag: u32, chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src_port.to_be_bytes());
    p.extend_from_slice(&dst_port.to_be_bytes());
    p.extend_from_slice(&verification_tag.to_be_bytes());
    p.extend_from_slice(&[0; 4]);
    for c in chunks {
        p.extend_from_slice(c);
    }
    p
}

/// Any chunk, padded to four bytes.
pub fn sctp_chunk(kind: u8, flags: u8, value: &[u8]) -> Vec<u8> {
    let mut c = vec![kind, flags];
    c.extend_from_slice(&len16(4 + value.len()));
    c.extend_from_slice(value);
    c.resize(pad4(c.len()), 0);
    c
}

/// A DATA chunk (RFC 9260, section 3.3.1); `ssn` is the stream sequence
/// number, `flags` from [`data_flags`].
pub fn sctp_data(tsn: u32, stream: u16, ssn: u16, ppid: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + data.len());
    v.extend_from_slice(&tsn.to_be_bytes());
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(&ssn.to_be_bytes());
    v.extend_from_slice(&ppid.to_be_bytes());
    v.extend_from_slice(data);
    sctp_chunk(0, flags, &v)
}

/// An I-DATA chunk; `ppid_or_fsn` is the PPID on the first fragment, else the FSN.
pub fn sctp_idata(
    tsn: u32,
    stream: u16,
    mid: u32,
    ppid_or_fsn: u32,
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + data.len());
    v.extend_from_slice(&tsn.to_be_bytes());
    v.extend_from_slice(&stream.to_be_bytes());
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&mid.to_be_bytes());
    v.extend_from_slice(&ppid_or_fsn.to_be_bytes());
    v.extend_from_slice(data);
    sctp_chunk(64, flags, &v)
}

/// A SACK chunk acknowledging `cumulative_tsn`, no gap blocks.
pub fn sctp_sack(cumulative_tsn: u32) -> Vec<u8> {
    let mut v = cumulative_tsn.to_be_bytes().to_vec();
    v.extend_from_slice(&65536u32.to_be_bytes());
    v.extend_from_slice(&[0; 4]);
    sctp_chunk(3, 0, &v)
}

/// An Ethernet II frame, with an 802.1Q tag if `vlan` is given.
pub fn ethernet(ethertype: u16, vlan: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if let Some(id) = vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&(id & 0x0fff).to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A Linux cooked capture (SLL, link type 113) frame.
pub fn sll(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A Linux cooked capture v2 (SLL2, link type 276) frame.
pub fn sll2(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = ethertype.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A BSD loopback (NULL, link type 0) frame, the family in the given byte order.
pub fn null(family: u32, endian: Endian, payload: &[u8]) -> Vec<u8> {
    let mut f = match endian {
        Endian::Big => family.to_be_bytes(),
        Endian::Little => family.to_le_bytes(),
    }
    .to_vec();
    f.extend_from_slice(payload);
    f
}

fn put16(out: &mut Vec<u8>, e: Endian, v: u16) {
    out.extend_from_slice(&match e {
        Endian::Big => v.to_be_bytes(),
        Endian::Little => v.to_le_bytes(),
    });
}

fn put32(out: &mut Vec<u8>, e: Endian, v: u32) {
    out.extend_from_slice(&match e {
        Endian::Big => v.to_be_bytes(),
        Endian::Little => v.to_le_bytes(),
    });
}

/// A classic pcap file; `nanos` selects the nanosecond flavour.
pub fn pcap(
    endian: Endian,
    nanos: bool,
    link_type: u32,
    frames: &[(Timestamp, Vec<u8>)],
) -> Vec<u8> {
    let mut out = Vec::new();
    put32(
        &mut out,
        endian,
        if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 },
    );
    put16(&mut out, endian, 2);
    put16(&mut out, endian, 4);
    put32(&mut out, endian, 0);
    put32(&mut out, endian, 0);
    put32(&mut out, endian, 262_144);
    put32(&mut out, endian, link_type);
    for (ts, data) in frames {
        let frac = if nanos { ts.nanos } else { ts.nanos / 1000 };
        put32(&mut out, endian, u32::try_from(ts.secs).unwrap_or(0));
        put32(&mut out, endian, frac);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        put32(&mut out, endian, len);
        put32(&mut out, endian, len);
        out.extend_from_slice(data);
    }
    out
}

/// Writes pcapng blocks one by one.
#[derive(Debug)]
pub struct Pcapng {
    endian: Endian,
    out: Vec<u8>,
}

impl Pcapng {
    /// Starts a file with a section header in the given byte order.
    pub fn new(endian: Endian) -> Self {
        let mut w = Pcapng {
            endian,
            out: Vec::new(),
        };
        w.section(endian);
        w
    }

    /// Starts a new section (interfaces of earlier sections are forgotten).
    pub fn section(&mut self, endian: Endian) -> &mut Self {
        self.endian = endian;
        let mut body = Vec::new();
        put32(&mut body, endian, 0x1a2b_3c4d);
        put16(&mut body, endian, 1);
        put16(&mut body, endian, 0);
        body.extend_from_slice(&[0xff; 8]);
        self.block(0x0a0d_0d0a, &body)
    }

    /// Describes an interface; `tsresol` is the raw if_tsresol option byte.
    pub fn interface(&mut self, link_type: u16, tsresol: Option<u8>) -> &mut Self {
        let e = self.endian;
        let mut body = Vec::new();
        put16(&mut body, e, link_type);
        put16(&mut body, e, 0);
        put32(&mut body, e, 0);
        if let Some(r) = tsresol {
            put16(&mut body, e, 9);
            put16(&mut body, e, 1);
            body.extend_from_slice(&[r, 0, 0, 0]);
            put16(&mut body, e, 0);
            put16(&mut body, e, 0);
        }
        self.block(1, &body)
    }

    /// An enhanced packet block; `units` counts the interface's time units.
    pub fn epb(&mut self, interface: u32, units: u64, data: &[u8]) -> &mut Self {
        let e = self.endian;
        let mut body = Vec::new();
        put32(&mut body, e, interface);
        put32(&mut body, e, (units >> 32) as u32);
        put32(&mut body, e, units as u32);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        put32(&mut body, e, len);
        put32(&mut body, e, len);
        body.extend_from_slice(data);
        body.resize(pad4(body.len()), 0);
        self.block(6, &body)
    }

    /// A simple packet block (interface 0, no timestamp).
    pub fn spb(&mut self, data: &[u8]) -> &mut Self {
        let mut body = Vec::new();
        put32(
            &mut body,
            self.endian,
            u32::try_from(data.len()).unwrap_or(u32::MAX),
        );
        body.extend_from_slice(data);
        body.resize(pad4(body.len()), 0);
        self.block(3, &body)
    }

    /// An obsolete packet block.
    pub fn pb(&mut self, interface: u16, units: u64, data: &[u8]) -> &mut Self {
        let e = self.endian;
        let mut body = Vec::new();
        put16(&mut body, e, interface);
        put16(&mut body, e, 0);
        put32(&mut body, e, (units >> 32) as u32);
        put32(&mut body, e, units as u32);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        put32(&mut body, e, len);
        put32(&mut body, e, len);
        body.extend_from_slice(data);
        body.resize(pad4(body.len()), 0);
        self.block(2, &body)
    }

    /// Any block, e.g. one a reader must skip; `body` is padded here.
    pub fn block(&mut self, block_type: u32, body: &[u8]) -> &mut Self {
        let e = self.endian;
        let total = u32::try_from(12 + pad4(body.len())).unwrap_or(u32::MAX);
        put32(&mut self.out, e, block_type);
        put32(&mut self.out, e, total);
        self.out.extend_from_slice(body);
        self.out
            .resize(self.out.len() + pad4(body.len()) - body.len(), 0);
        put32(&mut self.out, e, total);
        self
    }

    /// The file as written so far.
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }

    /// The finished file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}
