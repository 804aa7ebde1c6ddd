//! Link layers: from a captured frame to the IP packet inside it.

use crate::bytes::{be16, be32};
use crate::diag::{DiagnosticKind, Layer};

/// LINKTYPE_* values this module understands.
pub mod link_type {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: u32 = 0;
    /// Ethernet II, possibly with 802.1Q/802.1ad VLAN tags.
    pub const ETHERNET: u32 = 1;
    /// DLT_RAW as written by some BSDs.
    pub const RAW_BSD: u32 = 12;
    /// DLT_RAW as written by OpenBSD.
    pub const RAW_OPENBSD: u32 = 14;
    /// Raw IP; the version nibble tells IPv4 from IPv6.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback: like [`NULL`], but the family is big-endian.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture (`tcpdump -i any`), a 16-byte header.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4 only.
    pub const IPV4: u32 = 228;
    /// Raw IPv6 only.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2, a 20-byte header.
    pub const LINUX_SLL2: u32 = 276;
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

/// The network layer a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network<'a> {
    /// An IPv4 packet, header first.
    Ipv4(&'a [u8]),
    /// An IPv6 packet, header first.
    Ipv6(&'a [u8]),
}

/// Why a frame yields no IP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not IP (ARP, LLDP, ...): nothing to say.
    NotIp,
    /// The link type is unknown to this reader.
    Unsupported,
    /// Damaged; worth a diagnostic.
    Bad(DiagnosticKind),
}

fn truncated(needed: usize, available: usize) -> Skip {
    Skip::Bad(DiagnosticKind::Truncated {
        layer: Layer::Link,
        needed,
        available,
    })
}

/// Strips the link-layer header of a frame of the given link type.
pub fn decapsulate(link_type: u32, frame: &[u8]) -> Result<Network<'_>, Skip> {
    use link_type::*;
    match link_type {
        ETHERNET => {
            let ethertype = be16(frame, 12).ok_or_else(|| truncated(14, frame.len()))?;
            by_ethertype(ethertype, frame.get(14..).unwrap_or_default())
        }
        LINUX_SLL => {
            let ethertype = be16(frame, 14).ok_or_else(|| truncated(16, frame.len()))?;
            by_ethertype(ethertype, frame.get(16..).unwrap_or_default())
        }
        LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(truncated(20, frame.len()));
            }
            let ethertype = be16(frame, 0).ok_or_else(|| truncated(20, frame.len()))?;
            by_ethertype(ethertype, frame.get(20..).unwrap_or_default())
        }
        RAW | RAW_BSD | RAW_OPENBSD => by_version(frame),
        IPV4 => Ok(Network::Ipv4(frame)),
        IPV6 => Ok(Network::Ipv6(frame)),
        NULL | LOOP => {
            let family = be32(frame, 0).ok_or_else(|| truncated(4, frame.len()))?;
            // NULL stores the family in the capturing host's byte order; a
            // family fits in one byte, so the non-zero end tells the order.
            let family = if link_type == NULL && family & 0xffff == 0 {
                family.swap_bytes()
            } else {
                family
            };
            let payload = frame.get(4..).unwrap_or_default();
            match family {
                2 => Ok(Network::Ipv4(payload)),
                // AF_INET6 differs by OS: Linux, BSDs, FreeBSD/Darwin.
                10 | 24 | 28 | 30 => Ok(Network::Ipv6(payload)),
                _ => Err(Skip::NotIp),
            }
        }
        _ => Err(Skip::Unsupported),
    }
}

/// Follows 802.1Q/802.1ad tags (stacked too) to the IP packet.
fn by_ethertype(mut ethertype: u16, mut payload: &[u8]) -> Result<Network<'_>, Skip> {
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        ethertype = be16(payload, 2).ok_or_else(|| truncated(4, payload.len()))?;
        payload = payload.get(4..).unwrap_or_default();
    }
    match ethertype {
        ETHERTYPE_IPV4 => Ok(Network::Ipv4(payload)),
        ETHERTYPE_IPV6 => Ok(Network::Ipv6(payload)),
        _ => Err(Skip::NotIp),
    }
}

fn by_version(packet: &[u8]) -> Result<Network<'_>, Skip> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => Ok(Network::Ipv4(packet)),
        Some(6) => Ok(Network::Ipv6(packet)),
        Some(_) => Err(Skip::Bad(DiagnosticKind::Malformed {
            layer: Layer::Link,
            reason: "raw IP frame with an IP version other than 4 or 6",
        })),
        None => Err(truncated(1, 0)),
    }
}
