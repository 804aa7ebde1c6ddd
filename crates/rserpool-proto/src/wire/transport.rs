//! Transport parameters (RFC 5354 sections 3.3-3.7): where a PE (or a PR)
//! can be reached.

use std::net::IpAddr;

/// Whether a PE's transport endpoint carries only application data, or also
/// ASAP control traffic (cookies, business cards) multiplexed with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[repr(u16)]
pub enum TransportUse {
    DataOnly = 0,
    DataPlusControl = 1,
}

impl TransportUse {
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
    Sctp,
    Tcp,
    Udp,
    Dccp,
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
/// one or two addresses).
pub type AddressList = smallvec::SmallVec<[IpAddr; 2]>;

/// A transport parameter: protocol, port and addresses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum TransportParam {
    /// SCTP, multi-homed: one or more addresses.
    Sctp {
        port: u16,
        transport_use: TransportUse,
        addresses: AddressList,
    },
    Tcp {
        port: u16,
        transport_use: TransportUse,
        address: IpAddr,
    },
    Udp {
        port: u16,
        address: IpAddr,
    },
    Dccp {
        port: u16,
        service_code: u32,
        address: IpAddr,
    },
    UdpLite {
        port: u16,
        address: IpAddr,
    },
}

impl TransportParam {
    pub fn kind(&self) -> TransportKind {
        match self {
            TransportParam::Sctp { .. } => TransportKind::Sctp,
            TransportParam::Tcp { .. } => TransportKind::Tcp,
            TransportParam::Udp { .. } => TransportKind::Udp,
            TransportParam::Dccp { .. } => TransportKind::Dccp,
            TransportParam::UdpLite { .. } => TransportKind::UdpLite,
        }
    }

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
