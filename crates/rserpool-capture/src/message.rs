//! What the capture reader hands out: one RSerPool message and where it was seen.

use std::fmt;
use std::net::SocketAddr;

/// A capture timestamp: whole seconds and nanoseconds since the Unix epoch.
///
/// Seconds are signed because pcapng offsets (`if_tsoffset`) may move a
/// timestamp before 1970; the nanoseconds are always in `0..1_000_000_000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01 00:00:00 UTC; negative before it.
    pub secs: i64,
    /// Nanoseconds after `secs`.
    pub nanos: u32,
}

impl Timestamp {
    /// The epoch itself.
    pub const ZERO: Timestamp = Timestamp { secs: 0, nanos: 0 };

    /// Builds a timestamp, carrying whole seconds out of `nanos`.
    pub fn new(secs: i64, nanos: u32) -> Self {
        let carry = i64::from(nanos / 1_000_000_000);
        Timestamp {
            secs: secs.saturating_add(carry),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// Nanoseconds since the epoch, for arithmetic that must not round.
    pub fn as_nanos(self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }

    /// The signed duration `self - earlier` in nanoseconds.
    pub fn nanos_since(self, earlier: Timestamp) -> i128 {
        self.as_nanos() - earlier.as_nanos()
    }
}

/// Prints `secs.nnnnnnnnn`, the way tshark prints absolute epoch times.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs, self.nanos)
    }
}

/// Which RSerPool protocol a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Aggregate Server Access Protocol (RFC 5352).
    Asap,
    /// Endpoint haNdlespace Redundancy Protocol (RFC 5353).
    Enrp,
}

impl Protocol {
    /// The lower-case name used in machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Asap => "asap",
            Protocol::Enrp => "enrp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport a message travelled on, with what that transport says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// One SCTP user message (DATA or I-DATA, reassembled if fragmented).
    Sctp {
        /// The payload protocol identifier of the message's first fragment.
        ppid: u32,
        /// The SCTP stream it was sent on.
        stream: u16,
    },
    /// One message framed out of a reassembled TCP byte stream.
    Tcp,
    /// One UDP datagram (server announces and presence messages).
    Udp,
}

impl Carrier {
    /// The lower-case transport name.
    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Sctp { .. } => "sctp",
            Carrier::Tcp => "tcp",
            Carrier::Udp => "udp",
        }
    }
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One ASAP or ENRP message found in a capture, still undecoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedMessage {
    /// The frame that completed the message, numbered from 1 as Wireshark does.
    pub frame: u64,
    /// The timestamp of that frame.
    pub timestamp: Timestamp,
    /// The sender's address and port, from that frame (a multi-homed SCTP
    /// peer may send the fragments of one message from several addresses).
    pub src: SocketAddr,
    /// The receiver's address and port, from that frame.
    pub dst: SocketAddr,
    /// The transport, with its PPID and stream for SCTP.
    pub carrier: Carrier,
    /// ASAP or ENRP: by the SCTP PPID where it names one, else by the ports.
    pub protocol: Protocol,
    /// The message exactly as captured: common header, body, nothing else.
    pub bytes: Vec<u8>,
}
