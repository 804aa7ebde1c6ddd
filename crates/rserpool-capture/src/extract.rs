//! From frames to messages: link layer, IP, transport, classification.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::diag::{Diagnostic, DiagnosticKind, Flow, Layer};
use crate::file::{Frame, FrameReader};
use crate::ip::{self, Datagram};
use crate::link::{self, Skip};
use crate::message::{CapturedMessage, Carrier, Protocol, Timestamp};
use crate::{sctp, tcp};

/// The registered port of ASAP (SCTP, TCP and UDP).
pub const ASAP_PORT: u16 = 3863;
/// The registered port of ENRP (SCTP, and UDP for presence announces).
pub const ENRP_PORT: u16 = 9901;
/// The SCTP payload protocol identifier of ASAP (RFC 5352, IANA).
pub const PPID_ASAP: u32 = 11;
/// The SCTP payload protocol identifier of ENRP (RFC 5353, IANA).
pub const PPID_ENRP: u32 = 12;
/// The PPID of ASAP in the Internet drafts before RFC 5352, still seen in
/// old stacks.
pub const PPID_ASAP_DRAFT: u32 = 0xfaee_b5d1;
/// The PPID of ENRP in the Internet drafts before RFC 5353.
pub const PPID_ENRP_DRAFT: u32 = 0xfaee_b5d2;

/// The protocol named by an SCTP payload protocol identifier.
pub fn protocol_by_ppid(ppid: u32) -> Option<Protocol> {
    match ppid {
        PPID_ASAP | PPID_ASAP_DRAFT => Some(Protocol::Asap),
        PPID_ENRP | PPID_ENRP_DRAFT => Some(Protocol::Enrp),
        _ => None,
    }
}

/// The protocol named by a port pair; the destination port is asked first.
pub fn protocol_by_ports(src: u16, dst: u16) -> Option<Protocol> {
    let by_port = |p| match p {
        ASAP_PORT => Some(Protocol::Asap),
        ENRP_PORT => Some(Protocol::Enrp),
        _ => None,
    };
    by_port(dst).or_else(|| by_port(src))
}

/// Which ports carry ASAP and ENRP besides the registered ones (a
/// registrar on another port, a test setup).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ports {
    /// Further ports whose traffic is ASAP.
    pub asap: Vec<u16>,
    /// Further ports whose traffic is ENRP.
    pub enrp: Vec<u16>,
}

impl Ports {
    /// The protocol of a port pair: the destination port first, the
    /// registered ports before the extra ones.
    pub fn protocol(&self, src: u16, dst: u16) -> Option<Protocol> {
        protocol_by_ports(src, dst).or_else(|| {
            let by_port = |p| {
                if self.asap.contains(&p) {
                    Some(Protocol::Asap)
                } else if self.enrp.contains(&p) {
                    Some(Protocol::Enrp)
                } else {
                    None
                }
            };
            by_port(dst).or_else(|| by_port(src))
        })
    }
}

/// Everything found in a capture.
#[derive(Clone, Debug, Default)]
pub struct Extraction {
    /// Messages in frame order (stable for several messages in one frame).
    pub messages: Vec<CapturedMessage>,
    /// Everything odd, about in the order it was met; problems found at the
    /// end of the capture (unfilled gaps, unfinished messages) come last.
    pub diagnostics: Vec<Diagnostic>,
    /// The number of packets read (numbered non-packet blocks not included).
    pub frames: u64,
    /// The timestamp of frame 1, the origin of relative times.
    pub first_timestamp: Option<Timestamp>,
    /// TCP segments with payload on ports taken for neither protocol: if a
    /// capture has these and no message, the registrar may run on other
    /// ports (see [`Ports`]).
    pub other_tcp_segments: u64,
}

/// Turns frames into messages; feed it frames in file order, then `finish`.
#[derive(Debug, Default)]
pub struct Extractor {
    sctp: sctp::Reassembler,
    tcp: tcp::Reassembler,
    out: Extraction,
    unsupported: HashSet<u32>,
    tcp_events: Vec<tcp::Event>,
    sctp_problems: Vec<DiagnosticKind>,
    ports: Ports,
}

impl Extractor {
    /// An extractor for the registered ports only.
    pub fn new() -> Self {
        Self::default()
    }

    /// An extractor that also takes `ports` for ASAP and ENRP.
    pub fn with_ports(ports: Ports) -> Self {
        Extractor {
            ports,
            ..Self::default()
        }
    }

    /// Takes the next frame of the file: counts it, and hands what it
    /// carries to the SCTP, TCP or UDP layer.
    pub fn push_frame(&mut self, frame: &Frame<'_>) {
        self.out.frames += 1;
        if self.out.first_timestamp.is_none() {
            self.out.first_timestamp = Some(frame.timestamp);
        }
        let diag = |kind| Diagnostic::new(Some(frame.number), kind);
        let datagram = link::decapsulate(frame.link_type, frame.data).and_then(ip::parse);
        match datagram {
            Ok(d) => self.push_datagram(frame, &d),
            Err(Skip::NotIp) => {}
            Err(Skip::Unsupported) => {
                if self.unsupported.insert(frame.link_type) {
                    self.out
                        .diagnostics
                        .push(diag(DiagnosticKind::UnsupportedLinkType {
                            link_type: frame.link_type,
                        }));
                }
            }
            Err(Skip::Bad(kind)) => self.out.diagnostics.push(diag(kind)),
        }
    }

    fn push_datagram(&mut self, frame: &Frame<'_>, d: &Datagram<'_>) {
        match d.protocol {
            ip::PROTO_SCTP => self.push_sctp(frame, d),
            ip::PROTO_TCP => self.push_tcp(frame, d),
            ip::PROTO_UDP => self.push_udp(frame, d),
            _ => {}
        }
    }

    fn push_sctp(&mut self, frame: &Frame<'_>, d: &Datagram<'_>) {
        let (header, chunks, problem) = match sctp::parse_packet(d.payload) {
            Ok(parsed) => parsed,
            Err(kind) => {
                self.out
                    .diagnostics
                    .push(Diagnostic::new(Some(frame.number), kind));
                return;
            }
        };
        let flow = Flow {
            src: SocketAddr::new(d.src, header.src_port),
            dst: SocketAddr::new(d.dst, header.dst_port),
        };
        for chunk in &chunks {
            let data = match chunk.as_data() {
                None => continue,
                Some(Ok(data)) => data,
                Some(Err(kind)) => {
                    self.sctp_problems.push(kind);
                    continue;
                }
            };
            let message = self
                .sctp
                .push(&header, flow, &data, &mut self.sctp_problems);
            let Some(m) = message else { continue };
            let protocol = protocol_by_ppid(m.ppid)
                .or_else(|| self.ports.protocol(header.src_port, header.dst_port));
            if let Some(protocol) = protocol {
                self.out.messages.push(CapturedMessage {
                    frame: frame.number,
                    timestamp: frame.timestamp,
                    src: flow.src,
                    dst: flow.dst,
                    carrier: Carrier::Sctp {
                        ppid: m.ppid,
                        stream: m.stream,
                    },
                    protocol,
                    bytes: m.data,
                });
            }
        }
        self.sctp_problems.extend(problem);
        for kind in self.sctp_problems.drain(..) {
            self.out
                .diagnostics
                .push(Diagnostic::new(Some(frame.number), kind));
        }
    }

    fn push_tcp(&mut self, frame: &Frame<'_>, d: &Datagram<'_>) {
        let segment = match tcp::parse_segment(d.payload) {
            Ok(s) => s,
            Err(kind) => {
                self.out
                    .diagnostics
                    .push(Diagnostic::new(Some(frame.number), kind));
                return;
            }
        };
        // Streams of other services are not worth buffering.
        if self
            .ports
            .protocol(segment.src_port, segment.dst_port)
            .is_none()
        {
            if !segment.payload.is_empty() {
                self.out.other_tcp_segments += 1;
            }
            return;
        }
        let flow = Flow {
            src: SocketAddr::new(d.src, segment.src_port),
            dst: SocketAddr::new(d.dst, segment.dst_port),
        };
        let origin = tcp::Origin {
            frame: frame.number,
            timestamp: frame.timestamp,
        };
        self.tcp.push(flow, &segment, origin, &mut self.tcp_events);
        self.take_tcp_events();
    }

    fn take_tcp_events(&mut self) {
        for event in self.tcp_events.drain(..) {
            match event {
                tcp::Event::Message(m) => {
                    let protocol = self.ports.protocol(m.flow.src.port(), m.flow.dst.port());
                    let Some(protocol) = protocol else { continue };
                    self.out.messages.push(CapturedMessage {
                        frame: m.origin.frame,
                        timestamp: m.origin.timestamp,
                        src: m.flow.src,
                        dst: m.flow.dst,
                        carrier: Carrier::Tcp,
                        protocol,
                        bytes: m.bytes,
                    });
                }
                tcp::Event::Problem(frame, kind) => {
                    self.out.diagnostics.push(Diagnostic::new(frame, kind));
                }
            }
        }
    }

    fn push_udp(&mut self, frame: &Frame<'_>, d: &Datagram<'_>) {
        let p = d.payload;
        let diag = |kind| Diagnostic::new(Some(frame.number), kind);
        let (Some(src_port), Some(dst_port), Some(len)) = (
            crate::bytes::be16(p, 0),
            crate::bytes::be16(p, 2),
            crate::bytes::be16(p, 4),
        ) else {
            self.out.diagnostics.push(diag(DiagnosticKind::Truncated {
                layer: Layer::Udp,
                needed: 8,
                available: p.len(),
            }));
            return;
        };
        let Some(protocol) = self.ports.protocol(src_port, dst_port) else {
            return;
        };
        // Zero is what IPv6 jumbograms and GSO captures write; trust IP then.
        let len = usize::from(len);
        let end = if len == 0 { p.len() } else { len };
        if end < 8 {
            self.out.diagnostics.push(diag(DiagnosticKind::Malformed {
                layer: Layer::Udp,
                reason: "length below the 8-byte header",
            }));
            return;
        }
        let Some(payload) = p.get(8..end) else {
            self.out.diagnostics.push(diag(DiagnosticKind::Truncated {
                layer: Layer::Udp,
                needed: end,
                available: p.len(),
            }));
            return;
        };
        self.out.messages.push(CapturedMessage {
            frame: frame.number,
            timestamp: frame.timestamp,
            src: SocketAddr::new(d.src, src_port),
            dst: SocketAddr::new(d.dst, dst_port),
            carrier: Carrier::Udp,
            protocol,
            bytes: payload.to_vec(),
        });
    }

    /// Ends all streams and associations and returns what was found.
    pub fn finish(mut self) -> Extraction {
        let mut tcp_events = std::mem::take(&mut self.tcp_events);
        std::mem::take(&mut self.tcp).finish(&mut tcp_events);
        self.tcp_events = tcp_events;
        self.take_tcp_events();
        let mut problems = Vec::new();
        std::mem::take(&mut self.sctp).finish(&mut problems);
        self.out
            .diagnostics
            .extend(problems.into_iter().map(|k| Diagnostic::new(None, k)));
        // Gaps declared at the end can release messages of earlier frames.
        self.out.messages.sort_by_key(|m| m.frame);
        self.out
    }
}

/// Extracts every ASAP and ENRP message from a pcap or pcapng file held in memory.
pub fn extract(file: &[u8]) -> Extraction {
    extract_reader(file)
}

/// Extracts every ASAP and ENRP message from a pcap or pcapng stream. Only
/// one record is held at a time; the messages found are kept.
pub fn extract_reader(input: impl std::io::Read) -> Extraction {
    extract_reader_with(input, Ports::default())
}

/// [`extract_reader`] with extra ports for ASAP and ENRP.
pub fn extract_reader_with(input: impl std::io::Read, ports: Ports) -> Extraction {
    let mut file_diags = Vec::new();
    let mut reader = FrameReader::new(input);
    let mut extractor = Extractor::with_ports(ports);
    while let Some(frame) = reader.next_frame(&mut file_diags) {
        extractor.push_frame(&frame);
        extractor.out.diagnostics.append(&mut file_diags);
    }
    extractor.out.diagnostics.append(&mut file_diags);
    extractor.finish()
}

/// Opens and extracts a capture file; only opening it can fail, read errors
/// later on become diagnostics.
pub fn extract_file(path: impl AsRef<std::path::Path>) -> std::io::Result<Extraction> {
    extract_file_with(path, Ports::default())
}

/// [`extract_file`] with extra ports for ASAP and ENRP.
pub fn extract_file_with(
    path: impl AsRef<std::path::Path>,
    ports: Ports,
) -> std::io::Result<Extraction> {
    let file = std::fs::File::open(path)?;
    Ok(extract_reader_with(
        std::io::BufReader::with_capacity(1 << 16, file),
        ports,
    ))
}
