//! Transports as an entry stores them: eight bytes inline for the common
//! case (one IPv4 address over SCTP, TCP, UDP or UDP-Lite), an index into
//! a shared arena otherwise (IPv6, several addresses, DCCP). A registrar
//! holds two per PE (user and ASAP transport); as [`TransportParam`]s
//! they would take 112 bytes.

use std::net::{IpAddr, Ipv4Addr};

use crate::wire::{AddressList, TransportParam, TransportUse};

const NONE: u8 = 0;
const SCTP: u8 = 1;
const TCP: u8 = 2;
const UDP: u8 = 3;
const UDP_LITE: u8 = 4;
/// In the arena: `word` is the index.
const SPILLED: u8 = 5;

/// `flags` bit: transport use is data plus control.
const CONTROL: u8 = 1;
/// `flags` bits free for the owner of the packed value.
pub(crate) const OWNER_BIT: u8 = 0x80;

/// One transport, or none, in eight bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Packed {
    kind: u8,
    pub(crate) flags: u8,
    port: u16,
    /// The IPv4 address, or the arena index of a spilled transport.
    word: u32,
}

impl Packed {
    pub(crate) const NONE: Packed = Packed {
        kind: NONE,
        flags: 0,
        port: 0,
        word: 0,
    };

    /// Packs `t` inline if it fits, else stores it in `arena`.
    pub(crate) fn new(t: TransportParam, arena: &mut Arena) -> Packed {
        let inline = |kind, port, tu: TransportUse, address: &IpAddr| match address {
            IpAddr::V4(a) => Some(Packed {
                kind,
                flags: if tu == TransportUse::DataPlusControl {
                    CONTROL
                } else {
                    0
                },
                port,
                word: u32::from(*a),
            }),
            IpAddr::V6(_) => None,
        };
        let packed = match &t {
            TransportParam::Sctp {
                port,
                transport_use,
                addresses,
            } if addresses.len() == 1 => inline(SCTP, *port, *transport_use, &addresses[0]),
            TransportParam::Tcp {
                port,
                transport_use,
                address,
            } => inline(TCP, *port, *transport_use, address),
            TransportParam::Udp { port, address } => {
                inline(UDP, *port, TransportUse::DataOnly, address)
            }
            TransportParam::UdpLite { port, address } => {
                inline(UDP_LITE, *port, TransportUse::DataOnly, address)
            }
            _ => None,
        };
        packed.unwrap_or_else(|| Packed {
            kind: SPILLED,
            flags: 0,
            port: t.port(),
            word: arena.store(t),
        })
    }

    /// The port, without unpacking the transport (kept here for spilled
    /// transports too).
    #[inline]
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The transport use, without unpacking the transport.
    pub(crate) fn transport_use(&self, arena: &Arena) -> TransportUse {
        match self.kind {
            SPILLED => arena
                .get(self.word)
                .map_or(TransportUse::DataOnly, TransportParam::transport_use),
            _ if self.flags & CONTROL != 0 => TransportUse::DataPlusControl,
            _ => TransportUse::DataOnly,
        }
    }

    /// Frees what `self` holds in `arena` (nothing when inline).
    pub(crate) fn release(self, arena: &mut Arena) {
        if self.kind == SPILLED {
            arena.free(self.word);
        }
    }

    /// The transport, if any.
    pub(crate) fn get(&self, arena: &Arena) -> Option<TransportParam> {
        let address = || IpAddr::V4(Ipv4Addr::from(self.word));
        let transport_use = if self.flags & CONTROL != 0 {
            TransportUse::DataPlusControl
        } else {
            TransportUse::DataOnly
        };
        let port = self.port;
        Some(match self.kind {
            SCTP => TransportParam::Sctp {
                port,
                transport_use,
                addresses: AddressList::from([address()]),
            },
            TCP => TransportParam::Tcp {
                port,
                transport_use,
                address: address(),
            },
            UDP => TransportParam::Udp {
                port,
                address: address(),
            },
            UDP_LITE => TransportParam::UdpLite {
                port,
                address: address(),
            },
            SPILLED => return arena.get(self.word).cloned(),
            _ => return None,
        })
    }
}

/// Transports that do not fit inline, in slots reused after removal.
#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    items: Vec<Option<TransportParam>>,
    free: Vec<u32>,
}

impl Arena {
    fn store(&mut self, t: TransportParam) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = Some(t);
                i
            }
            None => {
                self.items.push(Some(t));
                (self.items.len() - 1) as u32
            }
        }
    }

    fn free(&mut self, i: u32) {
        if let Some(slot) = self.items.get_mut(i as usize) {
            if slot.take().is_some() {
                self.free.push(i);
            }
        }
    }

    fn get(&self, i: u32) -> Option<&TransportParam> {
        self.items.get(i as usize)?.as_ref()
    }

    /// Transports held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.items.len() - self.free.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_round_trips() {
        let v4: IpAddr = [192, 0, 2, 1].into();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let cases = [
            TransportParam::Sctp {
                port: 1,
                transport_use: TransportUse::DataPlusControl,
                addresses: AddressList::from_slice(&[v4]),
            },
            TransportParam::Sctp {
                port: 2,
                transport_use: TransportUse::DataOnly,
                addresses: AddressList::from_slice(&[v4, v6]),
            },
            TransportParam::Sctp {
                port: 2,
                transport_use: TransportUse::DataOnly,
                addresses: AddressList::new(),
            },
            TransportParam::Tcp {
                port: 3,
                transport_use: TransportUse::DataPlusControl,
                address: v4,
            },
            TransportParam::Tcp {
                port: 3,
                transport_use: TransportUse::DataOnly,
                address: v6,
            },
            TransportParam::Udp {
                port: 4,
                address: v4,
            },
            TransportParam::UdpLite {
                port: 5,
                address: v4,
            },
            TransportParam::Dccp {
                port: 6,
                service_code: 7,
                address: v4,
            },
        ];
        let mut arena = Arena::default();
        let packed: Vec<Packed> = cases
            .iter()
            .map(|t| Packed::new(t.clone(), &mut arena))
            .collect();
        // Only IPv6, several or no addresses and DCCP go to the arena.
        assert_eq!(arena.len(), 4);
        for (p, t) in packed.iter().zip(&cases) {
            assert_eq!(p.get(&arena).as_ref(), Some(t));
            assert_eq!(p.port(), t.port());
            assert_eq!(p.transport_use(&arena), t.transport_use());
        }
        for p in packed {
            p.release(&mut arena);
        }
        assert_eq!(arena.len(), 0);
        assert_eq!(Packed::NONE.get(&arena), None);
        assert_eq!(std::mem::size_of::<Packed>(), 8);
    }
}
