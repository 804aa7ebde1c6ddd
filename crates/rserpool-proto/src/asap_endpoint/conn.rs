//! The registrar association as a PE or PU names it, and what its driver
//! does with it.

use std::fmt;
use std::net::SocketAddr;

/// An association to a registrar, named by the state machine. The driver
/// maps it to its socket and reports events with it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegConn(pub u64);

impl fmt::Debug for RegConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegConn({})", self.0)
    }
}

/// What the driver does on the registrar side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegTransmit {
    /// Open an ASAP association to a registrar (one endpoint, possibly
    /// multi-homed: all addresses are the same registrar). Report the
    /// outcome with `registrar_connected` or `registrar_closed`.
    Connect {
        /// The association.
        conn: RegConn,
        /// Addresses of the registrar (one endpoint).
        to: Vec<SocketAddr>,
    },
    /// Send one ASAP message (SCTP PPID 11; over TCP the message as is).
    Send {
        /// The association.
        conn: RegConn,
        /// One encoded ASAP message.
        bytes: Vec<u8>,
    },
    /// Close (or abort) the association; no further reports for it.
    Close {
        /// The association.
        conn: RegConn,
    },
}
