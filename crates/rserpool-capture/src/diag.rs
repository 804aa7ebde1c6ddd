//! Diagnostics: everything odd the reader met, none of which stops the run.

use std::fmt;
use std::net::SocketAddr;

/// Which layer of a frame a diagnostic is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The capture file's own structure: pcap records, pcapng blocks.
    File,
    /// The link-layer header (Ethernet, Linux cooked capture, loopback...).
    Link,
    /// The IPv4 header.
    Ipv4,
    /// The IPv6 header and its extension headers.
    Ipv6,
    /// The SCTP common header and chunks (RFC 9260).
    Sctp,
    /// The TCP header.
    Tcp,
    /// The UDP header.
    Udp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::File => "file",
            Layer::Link => "link layer",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Sctp => "SCTP",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
        })
    }
}

/// How much a diagnostic matters to someone reading the extracted messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Something was skipped on purpose (an IP fragment, a stream picked up mid-way).
    Note,
    /// Input was damaged or incomplete; messages may be missing.
    Warning,
    /// The file could not be read any further.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// A flow direction, for diagnostics about streams and associations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The sender's address and port.
    pub src: SocketAddr,
    /// The receiver's address and port.
    pub dst: SocketAddr,
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.src, self.dst)
    }
}

/// What went wrong, with the numbers that show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// The file starts with neither a pcap magic number nor a pcapng section header.
    UnknownFileFormat {
        /// The first bytes of the file (up to four).
        magic: Vec<u8>,
    },
    /// The file ends in the middle of a record or block.
    TruncatedFile {
        /// Where the record, block or file header starts, in bytes from the
        /// start of the file.
        offset: u64,
        /// Its length in bytes, counted from `offset`.
        needed: u64,
        /// The bytes the file still held from `offset`.
        available: u64,
    },
    /// The input could not be read any further.
    ReadError {
        /// The bytes read before the error.
        offset: u64,
        /// The I/O error's text.
        message: String,
    },
    /// The record or block structure is broken; reading stopped here.
    MalformedFile {
        /// Where the broken record or block starts, in bytes from the start
        /// of the file.
        offset: u64,
        /// What is impossible about it.
        reason: &'static str,
    },
    /// A pcapng packet block names an interface no IDB described.
    UnknownInterface {
        /// The interface ID in the block (an index into the section's IDBs).
        interface: u32,
    },
    /// Frames of this link type cannot be decoded (reported once per link type).
    UnsupportedLinkType {
        /// The LINKTYPE_* value (see [`link_type`](crate::link::link_type)).
        link_type: u32,
    },
    /// A header runs past the captured bytes of the frame.
    Truncated {
        /// The layer whose header is cut short.
        layer: Layer,
        /// The bytes it needs, counted from the start of that layer.
        needed: usize,
        /// The bytes it has.
        available: usize,
    },
    /// A header is present but its contents are impossible.
    Malformed {
        /// The layer of the header.
        layer: Layer,
        /// What is impossible about it.
        reason: &'static str,
    },
    /// IP fragments are not reassembled; this one was skipped.
    IpFragment {
        /// IPv4 or IPv6.
        layer: Layer,
    },
    /// An SCTP DATA chunk whose TSN was already delivered (a retransmission).
    SctpDuplicate {
        /// The direction the chunk travelled.
        flow: Flow,
        /// Its transmission sequence number.
        tsn: u32,
    },
    /// SCTP fragments that never formed a whole message.
    SctpIncomplete {
        /// The direction the fragments travelled.
        flow: Flow,
        /// The SCTP stream they were sent on.
        stream: u16,
        /// Their user data, in bytes.
        bytes: usize,
    },
    /// Too many SCTP fragments waiting (64 MiB per direction); all that
    /// waited were dropped.
    SctpReassemblyLimit {
        /// The direction concerned.
        flow: Flow,
        /// The user data given up, in bytes.
        dropped_bytes: usize,
    },
    /// The capture picked a TCP connection up after its SYN.
    TcpMidStream {
        /// The direction picked up.
        flow: Flow,
    },
    /// Bytes of a TCP stream were never captured; framing resumes after them.
    TcpGap {
        /// The direction with the hole.
        flow: Flow,
        /// The size of the hole in sequence space, in bytes.
        missing: u64,
    },
    /// A message header in a TCP stream gave a length below 4.
    TcpFraming {
        /// The direction that is no longer decoded.
        flow: Flow,
        /// The length field found.
        length: u16,
    },
    /// The TCP stream ended inside a message.
    TcpIncomplete {
        /// The direction that ended.
        flow: Flow,
        /// The bytes of the unfinished message.
        bytes: usize,
    },
    /// Too much out-of-order TCP data waiting (4 MiB per direction); the
    /// hole was declared a gap.
    TcpReorderLimit {
        /// The direction concerned.
        flow: Flow,
    },
}

/// One diagnostic, tied to the frame it came from where there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The frame number (1-based, as in Wireshark); `None` for problems of
    /// the file itself and for leftovers found at the end of the capture.
    pub frame: Option<u64>,
    /// What happened.
    pub kind: DiagnosticKind,
}

impl Diagnostic {
    /// Ties `kind` to `frame`.
    pub fn new(frame: Option<u64>, kind: DiagnosticKind) -> Self {
        Diagnostic { frame, kind }
    }

    /// Problems of the file are errors, deliberate skips notes, the rest warnings.
    pub fn severity(&self) -> Severity {
        use DiagnosticKind::*;
        match self.kind {
            UnknownFileFormat { .. }
            | TruncatedFile { .. }
            | MalformedFile { .. }
            | ReadError { .. } => Severity::Error,
            IpFragment { .. } | TcpMidStream { .. } | UnsupportedLinkType { .. } => Severity::Note,
            _ => Severity::Warning,
        }
    }
}

impl fmt::Display for DiagnosticKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DiagnosticKind::*;
        match self {
            UnknownFileFormat { magic } => {
                f.write_str("not a pcap or pcapng file (starts with")?;
                for b in magic {
                    write!(f, " {b:02x}")?;
                }
                f.write_str(")")
            }
            TruncatedFile {
                offset,
                needed,
                available,
            } => write!(
                f,
                "file truncated at offset {offset}: {needed} bytes needed, {available} left"
            ),
            ReadError { offset, message } => {
                write!(
                    f,
                    "read error at offset {offset}: {message}; reading stopped"
                )
            }
            MalformedFile { offset, reason } => {
                write!(
                    f,
                    "malformed file at offset {offset}: {reason}; reading stopped"
                )
            }
            UnknownInterface { interface } => {
                write!(f, "packet refers to undefined interface {interface}")
            }
            UnsupportedLinkType { link_type } => {
                write!(
                    f,
                    "link type {link_type} is not supported; its frames are skipped"
                )
            }
            Truncated {
                layer,
                needed,
                available,
            } => write!(
                f,
                "{layer} truncated: {needed} bytes needed, {available} captured"
            ),
            Malformed { layer, reason } => write!(f, "malformed {layer}: {reason}"),
            IpFragment { layer } => write!(f, "{layer} fragment skipped (not reassembled)"),
            SctpDuplicate { flow, tsn } => {
                write!(
                    f,
                    "SCTP {flow}: DATA TSN {tsn} seen again (retransmission), skipped"
                )
            }
            SctpIncomplete {
                flow,
                stream,
                bytes,
            } => write!(
                f,
                "SCTP {flow} stream {stream}: {bytes} bytes of fragments never completed a message"
            ),
            SctpReassemblyLimit {
                flow,
                dropped_bytes,
            } => write!(
                f,
                "SCTP {flow}: reassembly limit reached, {dropped_bytes} bytes of fragments dropped"
            ),
            TcpMidStream { flow } => {
                write!(f, "TCP {flow}: no SYN seen, stream picked up mid-way")
            }
            TcpGap { flow, missing } => write!(
                f,
                "TCP {flow}: {missing} bytes never captured; framing resumes after the gap"
            ),
            TcpFraming { flow, length } => write!(
                f,
                "TCP {flow}: message length {length} is below the 4-byte header; stream no longer decoded"
            ),
            TcpIncomplete { flow, bytes } => {
                write!(
                    f,
                    "TCP {flow}: stream ended inside a message ({bytes} bytes left over)"
                )
            }
            TcpReorderLimit { flow } => write!(
                f,
                "TCP {flow}: too much out-of-order data buffered; missing bytes declared a gap"
            ),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.frame {
            Some(n) => write!(f, "frame {n}: {}: {}", self.severity(), self.kind),
            None => write!(f, "{}: {}", self.severity(), self.kind),
        }
    }
}
