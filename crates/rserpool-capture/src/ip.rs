//! IPv4 and IPv6: addresses, the transport protocol and its payload.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::be16;
use crate::diag::{DiagnosticKind, Layer};
use crate::link::{Network, Skip};

/// The IP protocol number of TCP (IANA "Assigned Internet Protocol Numbers").
pub const PROTO_TCP: u8 = 6;
/// The IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// The IP protocol number of SCTP.
pub const PROTO_SCTP: u8 = 132;

/// A transport-layer payload with the IP addresses around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The source address of the IP header.
    pub src: IpAddr,
    /// The destination address of the IP header.
    pub dst: IpAddr,
    /// The transport protocol number (for IPv6, after the extension headers).
    pub protocol: u8,
    /// The transport header and data, cut to the length the IP header gives
    /// (all captured bytes where that length is 0, as in TSO captures).
    pub payload: &'a [u8],
}

fn truncated(layer: Layer, needed: usize, available: usize) -> Skip {
    Skip::Bad(DiagnosticKind::Truncated {
        layer,
        needed,
        available,
    })
}

fn malformed(layer: Layer, reason: &'static str) -> Skip {
    Skip::Bad(DiagnosticKind::Malformed { layer, reason })
}

/// Reads an IPv4 or IPv6 header. Fragments are skipped with a diagnostic,
/// not reassembled; checksums are not checked.
pub fn parse(net: Network<'_>) -> Result<Datagram<'_>, Skip> {
    match net {
        Network::Ipv4(p) => ipv4(p),
        Network::Ipv6(p) => ipv6(p),
    }
}

fn ipv4(p: &[u8]) -> Result<Datagram<'_>, Skip> {
    const L: Layer = Layer::Ipv4;
    let Some(&vihl) = p.first() else {
        return Err(truncated(L, 20, 0));
    };
    if vihl >> 4 != 4 {
        return Err(malformed(L, "version is not 4"));
    }
    let header_len = usize::from(vihl & 0x0f) * 4;
    if header_len < 20 {
        return Err(malformed(L, "header length below 20 bytes"));
    }
    if p.len() < header_len {
        return Err(truncated(L, header_len, p.len()));
    }
    let total = usize::from(be16(p, 2).unwrap_or_default());
    // TSO/GSO captures write 0 as the total length; take what was captured.
    let end = if total == 0 { p.len() } else { total };
    if end < header_len {
        return Err(malformed(L, "total length below the header length"));
    }
    if p.len() < end {
        return Err(truncated(L, end, p.len()));
    }
    let frag = be16(p, 6).unwrap_or_default();
    let more_fragments = frag & 0x2000 != 0;
    let offset = frag & 0x1fff;
    if more_fragments || offset != 0 {
        return Err(Skip::Bad(DiagnosticKind::IpFragment { layer: L }));
    }
    let addr = |at: usize| -> IpAddr {
        let mut a = [0u8; 4];
        a.copy_from_slice(p.get(at..at + 4).unwrap_or(&[0; 4]));
        IpAddr::V4(Ipv4Addr::from(a))
    };
    Ok(Datagram {
        src: addr(12),
        dst: addr(16),
        protocol: p.get(9).copied().unwrap_or_default(),
        payload: p.get(header_len..end).unwrap_or_default(),
    })
}

fn ipv6(p: &[u8]) -> Result<Datagram<'_>, Skip> {
    const L: Layer = Layer::Ipv6;
    if p.len() < 40 {
        return Err(truncated(L, 40, p.len()));
    }
    if p.first().map(|b| b >> 4) != Some(6) {
        return Err(malformed(L, "version is not 6"));
    }
    let payload_len = usize::from(be16(p, 4).unwrap_or_default());
    // Zero means a jumbogram or a TSO capture: take what was captured.
    let end = if payload_len == 0 {
        p.len()
    } else {
        40 + payload_len
    };
    if p.len() < end {
        return Err(truncated(L, end, p.len()));
    }
    let addr = |at: usize| -> IpAddr {
        let mut a = [0u8; 16];
        a.copy_from_slice(p.get(at..at + 16).unwrap_or(&[0; 16]));
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let mut next = p.get(6).copied().unwrap_or_default();
    let mut at = 40;
    // Walk the extension headers to the transport header.
    loop {
        let ext_len = match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => {
                let n = p.get(at + 1).ok_or_else(|| truncated(L, at + 2, end))?;
                (usize::from(*n) + 1) * 8
            }
            44 => {
                let frag = be16(p, at + 2).ok_or_else(|| truncated(L, at + 8, end))?;
                // An atomic fragment (offset 0, no more) is a whole packet.
                if frag & 0xfff9 != 0 {
                    return Err(Skip::Bad(DiagnosticKind::IpFragment { layer: L }));
                }
                8
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                let n = p.get(at + 1).ok_or_else(|| truncated(L, at + 2, end))?;
                (usize::from(*n) + 2) * 4
            }
            _ => break,
        };
        next = *p.get(at).ok_or_else(|| truncated(L, at + 1, end))?;
        at += ext_len;
        if at > end {
            return Err(truncated(L, at, end));
        }
    }
    Ok(Datagram {
        src: addr(8),
        dst: addr(24),
        protocol: next,
        payload: p.get(at..end).unwrap_or_default(),
    })
}
