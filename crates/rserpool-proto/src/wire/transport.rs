//! Transport parameters (RFC 5354 sections 3.3-3.7): where a PE (or a PR)
//! can be reached.

use std::net::IpAddr;

/// Whether a PE's transport endpoint carries only application data, or also
/// ASAP control traffic (cookies, business cards) multiplexed with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u16)]
pub enum TransportUse {
    /// Data only.
    DataOnly = 0,
    /// Data, and ASAP control messages on the same association.
    DataPlusControl = 1,
}

impl TransportUse {
    /// The transport use with this wire code.
    pub fn from_code(code: u16) -> Option<TransportUse> {
        match code {
            0 => Some(TransportUse::DataOnly),
            1 => Some(TransportUse::DataPlusControl),
            _ => None,
        }
    }
}

/// The transport protocol of a transport parameter; a pool's PEs must all
/// use the same one (error cause Inconsistent Transport Type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum TransportKind {
    /// SCTP.
    Sctp,
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// DCCP.
    Dccp,
    /// UDP-Lite.
    UdpLite,
}

/// Most addresses per transport that a registrar keeps, as RSPLIB 3.4.4
/// (`MAX_PE_TRANSPORTADDRESSES`): a registration whose user transport has
/// more is refused (Invalid Values), a PE learnt from a peer with more is
/// not stored, and an ASAP transport is cut to this many. With it, a Pool
/// Element parameter stays below 3 KB, so that budgets of whole PEs keep
/// every message within 65535 bytes.
pub const MAX_ADDRESSES: usize = 64;

/// The addresses of an SCTP transport, up to two inline: a registration,
/// decoded or stored, then needs no allocation of its own (most PEs have
/// one or two addresses). It reads as a slice (`Deref<Target = [IpAddr]>`);
/// the inline storage is an implementation detail.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct AddressList(smallvec::SmallVec<[IpAddr; 2]>);

impl AddressList {
    /// An empty list.
    pub fn new() -> Self {
        AddressList(smallvec::SmallVec::new())
    }
    /// A list with these addresses.
    pub fn from_slice(addresses: &[IpAddr]) -> Self {
        AddressList(smallvec::SmallVec::from_slice(addresses))
    }
    /// Appends an address.
    pub fn push(&mut self, address: IpAddr) {
        self.0.push(address);
    }
    /// The addresses as a slice.
    pub fn as_slice(&self) -> &[IpAddr] {
        &self.0
    }
}

impl std::ops::Deref for AddressList {
    type Target = [IpAddr];
    fn deref(&self) -> &[IpAddr] {
        &self.0
    }
}

impl std::fmt::Debug for AddressList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl FromIterator<IpAddr> for AddressList {
    fn from_iter<I: IntoIterator<Item = IpAddr>>(iter: I) -> Self {
        AddressList(iter.into_iter().collect())
    }
}

impl Extend<IpAddr> for AddressList {
    fn extend<I: IntoIterator<Item = IpAddr>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl From<Vec<IpAddr>> for AddressList {
    fn from(v: Vec<IpAddr>) -> Self {
        AddressList(smallvec::SmallVec::from_vec(v))
    }
}

impl From<&[IpAddr]> for AddressList {
    fn from(v: &[IpAddr]) -> Self {
        AddressList::from_slice(v)
    }
}

impl<const N: usize> From<[IpAddr; N]> for AddressList {
    fn from(v: [IpAddr; N]) -> Self {
        v.into_iter().collect()
    }
}

impl IntoIterator for AddressList {
    type Item = IpAddr;
    type IntoIter = AddressIntoIter;
    fn into_iter(self) -> AddressIntoIter {
        AddressIntoIter(self.0.into_iter())
    }
}

/// The addresses of an [`AddressList`] by value.
#[derive(Debug)]
pub struct AddressIntoIter(smallvec::IntoIter<[IpAddr; 2]>);

impl Iterator for AddressIntoIter {
    type Item = IpAddr;
    fn next(&mut self) -> Option<IpAddr> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for AddressIntoIter {
    fn next_back(&mut self) -> Option<IpAddr> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for AddressIntoIter {}

impl<'a> IntoIterator for &'a AddressList {
    type Item = &'a IpAddr;
    type IntoIter = std::slice::Iter<'a, IpAddr>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for AddressList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

/// A transport parameter: protocol, port and addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum TransportParam {
    /// SCTP, multi-homed: one or more addresses.
    Sctp {
        /// Port number.
        port: u16,
        /// Whether the association also carries ASAP control messages.
        transport_use: TransportUse,
        /// The (multi-homed) addresses, at least one.
        addresses: AddressList,
    },
    /// TCP Transport: one address.
    Tcp {
        /// Port number.
        port: u16,
        /// Whether the association also carries ASAP control messages.
        transport_use: TransportUse,
        /// The address.
        address: IpAddr,
    },
    /// UDP Transport: one address.
    Udp {
        /// Port number.
        port: u16,
        /// The address.
        address: IpAddr,
    },
    /// DCCP Transport: one address and a service code.
    Dccp {
        /// Port number.
        port: u16,
        /// The DCCP service code.
        service_code: u32,
        /// The address.
        address: IpAddr,
    },
    /// UDP-Lite Transport: one address.
    UdpLite {
        /// Port number.
        port: u16,
        /// The address.
        address: IpAddr,
    },
}

impl TransportParam {
    /// The transport protocol.
    pub fn kind(&self) -> TransportKind {
        match self {
            TransportParam::Sctp { .. } => TransportKind::Sctp,
            TransportParam::Tcp { .. } => TransportKind::Tcp,
            TransportParam::Udp { .. } => TransportKind::Udp,
            TransportParam::Dccp { .. } => TransportKind::Dccp,
            TransportParam::UdpLite { .. } => TransportKind::UdpLite,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            TransportParam::Sctp { port, .. }
            | TransportParam::Tcp { port, .. }
            | TransportParam::Udp { port, .. }
            | TransportParam::Dccp { port, .. }
            | TransportParam::UdpLite { port, .. } => *port,
        }
    }

    /// Transport use; protocols without the field carry data only.
    pub fn transport_use(&self) -> TransportUse {
        match self {
            TransportParam::Sctp { transport_use, .. }
            | TransportParam::Tcp { transport_use, .. } => *transport_use,
            _ => TransportUse::DataOnly,
        }
    }

    /// The addresses (one, except for SCTP).
    pub fn addresses(&self) -> &[IpAddr] {
        match self {
            TransportParam::Sctp { addresses, .. } => addresses,
            TransportParam::Tcp { address, .. }
            | TransportParam::Udp { address, .. }
            | TransportParam::Dccp { address, .. }
            | TransportParam::UdpLite { address, .. } => std::slice::from_ref(address),
        }
    }
}
