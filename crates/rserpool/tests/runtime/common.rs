//! What the runtime's test modules share: the carrier under test, the
//! loopback address, and the transport a registrar's configuration names
//! before its sockets are bound.

use rserpool::transport::TransportMode;
use rserpool_proto::wire::{TransportParam, TransportUse};
use std::net::SocketAddr;

/// The carrier under test: TCP, or kernel SCTP with
/// `RSERPOOL_TEST_TRANSPORT=sctp` (as the registrar daemon tests).
pub fn mode() -> TransportMode {
    match std::env::var("RSERPOOL_TEST_TRANSPORT").as_deref() {
        Ok("sctp") => TransportMode::Sctp,
        _ => TransportMode::Tcp,
    }
}

/// Loopback, any port.
pub fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A registrar configuration's transport until start fills in the bound
/// addresses.
pub fn placeholder() -> TransportParam {
    TransportParam::Tcp {
        port: 0,
        transport_use: TransportUse::DataOnly,
        address: [127, 0, 0, 1].into(),
    }
}
