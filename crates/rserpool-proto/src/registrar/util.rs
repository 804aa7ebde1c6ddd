//! Small helpers: message type indexes, error cause counting, transport
//! address handling.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use foldhash::fast::FixedState;

use crate::handlespace::PeEntry;
use crate::wire::{
    AddressList, MAX_ADDRESSES, OperationError, PoolElement, TransportParam, TransportUse,
};

/// Counter index of a message type: the type byte, 0 for unknown ones.
pub(super) fn type_index(t: u8, known: bool) -> usize {
    if known && (t as usize) < 16 {
        t as usize
    } else {
        0
    }
}

/// Counts the causes of an Operation Error that is sent.
pub(super) fn count_causes(counters: &mut [u64; 16], e: &OperationError) {
    for c in &e.causes {
        let code = c.code.code() as usize;
        if let Some(n) = counters.get_mut(code) {
            *n += 1;
        }
    }
}

/// Replaces unspecified addresses (0.0.0.0, ::) of a PE's transport with
/// the address its association comes from, as RSPLIB fills in the
/// association's addresses. `None` when no usable address remains.
pub(super) fn fill_addresses(t: TransportParam, remote: Option<IpAddr>) -> Option<TransportParam> {
    let fix = |a: IpAddr| -> Option<IpAddr> { if a.is_unspecified() { remote } else { Some(a) } };
    Some(match t {
        TransportParam::Sctp {
            port,
            transport_use,
            addresses,
        } => {
            let out = dedup(addresses.into_iter().filter_map(fix));
            if out.is_empty() {
                return None;
            }
            TransportParam::Sctp {
                port,
                transport_use,
                addresses: out,
            }
        }
        TransportParam::Tcp {
            port,
            transport_use,
            address,
        } => TransportParam::Tcp {
            port,
            transport_use,
            address: fix(address)?,
        },
        TransportParam::Udp { port, address } => TransportParam::Udp {
            port,
            address: fix(address)?,
        },
        TransportParam::Dccp {
            port,
            service_code,
            address,
        } => TransportParam::Dccp {
            port,
            service_code,
            address: fix(address)?,
        },
        TransportParam::UdpLite { port, address } => TransportParam::UdpLite {
            port,
            address: fix(address)?,
        },
    })
}

/// Lists longer than this are de-duplicated through a hash set; shorter
/// ones (nearly all) by scanning, which is faster there.
const DEDUP_SCAN_MAX: usize = 16;

/// The addresses in their first order, each once: linear time, so that a
/// registration with thousands of addresses costs little before it is
/// refused for having too many.
pub(super) fn dedup(addresses: impl Iterator<Item = IpAddr>) -> AddressList {
    let mut out = AddressList::new();
    let mut seen: Option<HashSet<IpAddr, FixedState>> = None;
    for a in addresses {
        let new = match &mut seen {
            Some(set) => set.insert(a),
            None if out.len() < DEDUP_SCAN_MAX => !out.contains(&a),
            None => {
                let mut set = HashSet::with_capacity_and_hasher(64, FixedState::default());
                set.extend(out.iter().copied());
                let new = set.insert(a);
                seen = Some(set);
                new
            }
        };
        if new {
            out.push(a);
        }
    }
    out
}

/// Whether a transport has more addresses than a registrar keeps
/// ([`MAX_ADDRESSES`]).
pub(super) fn too_many_addresses(t: &TransportParam) -> bool {
    t.addresses().len() > MAX_ADDRESSES
}

/// The most addresses a PE's ASAP (registrator) transport keeps: RSPLIB
/// 3.4.4 rejects a Pool Element whose registrator transport lists more
/// than `MAX_PE_TRANSPORTADDRESSES` (64).
pub(super) const MAX_REGISTRATOR_ADDRESSES: usize = MAX_ADDRESSES;

/// The ASAP transport of a PE as seen from its association (all the
/// remote endpoint's addresses where the driver told them, else the one
/// it was accepted from), over the protocol of the registrar's own ASAP
/// endpoint.
pub(super) fn asap_transport_of(
    remote: SocketAddr,
    remote_addrs: &[IpAddr],
    own: Option<&TransportParam>,
) -> TransportParam {
    match own {
        Some(TransportParam::Tcp { .. }) => TransportParam::Tcp {
            port: remote.port(),
            transport_use: TransportUse::DataOnly,
            address: remote.ip(),
        },
        _ => {
            let addresses = if remote_addrs.is_empty() {
                AddressList::from_slice(&[remote.ip()])
            } else {
                remote_addrs
                    .iter()
                    .take(MAX_REGISTRATOR_ADDRESSES)
                    .copied()
                    .collect()
            };
            TransportParam::Sctp {
                port: remote.port(),
                transport_use: TransportUse::DataOnly,
                addresses,
            }
        }
    }
}

/// A PE's ASAP (registrator) transport as a registrar keeps and forwards
/// it. RFC 5354 section 3.10 makes it an SCTP transport; RSPLIB also
/// rejects the whole Pool Element (cause 0xf006, "invalid registrator")
/// when it is marked DATA plus CONTROL, has no or more than 64 addresses,
/// or port 0. The control flag says nothing about an ASAP endpoint, so it
/// is cleared; extra addresses are dropped; one that cannot be repaired
/// (port 0, no address) is `None`, and the association's own address
/// stands in for it. Over the TCP mapping the transport stays TCP: no
/// RSPLIB registrar can be in such a scope.
pub(super) fn registrator_transport(t: TransportParam) -> Option<TransportParam> {
    if t.port() == 0 {
        return None;
    }
    match t {
        TransportParam::Sctp {
            port, addresses, ..
        } => {
            let addresses: AddressList = addresses
                .iter()
                .filter(|a| !a.is_unspecified())
                .take(MAX_REGISTRATOR_ADDRESSES)
                .copied()
                .collect();
            (!addresses.is_empty()).then_some(TransportParam::Sctp {
                port,
                transport_use: TransportUse::DataOnly,
                addresses,
            })
        }
        TransportParam::Tcp { port, address, .. } => {
            (!address.is_unspecified()).then_some(TransportParam::Tcp {
                port,
                transport_use: TransportUse::DataOnly,
                address,
            })
        }
        // UDP, DCCP and UDP-Lite carry no ASAP.
        _ => None,
    }
}

/// Whether pool users could reach a PE at this transport: a port, and
/// unicast addresses only (no unspecified, multicast or broadcast one), so
/// that a registration cannot turn pool users against a group or a
/// network.
pub(super) fn reachable_transport(t: &TransportParam) -> bool {
    t.port() != 0 && !t.addresses().is_empty() && t.addresses().iter().all(|a| unicast(*a))
}

/// A unicast address: not unspecified, multicast or broadcast.
pub(super) fn unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// Socket addresses of a transport parameter (unspecified ones dropped).
pub(super) fn socket_addrs(t: &TransportParam) -> Vec<SocketAddr> {
    t.addresses()
        .iter()
        .filter(|a| !a.is_unspecified())
        .map(|a| SocketAddr::new(*a, t.port()))
        .collect()
}

/// A stored entry as a Pool Element parameter; the ASAP transport goes
/// only into ENRP messages (as RSPLIB does).
pub(super) fn pool_element(e: PeEntry<'_>, with_asap: bool) -> PoolElement {
    PoolElement {
        pe_id: e.pe_id(),
        home_server_id: e.home(),
        registration_life: i32::try_from(e.lifetime_ms()).unwrap_or(i32::MAX),
        user_transport: e.transport(),
        policy: e.policy(),
        asap_transport: if with_asap { e.asap_transport() } else { None },
    }
}
