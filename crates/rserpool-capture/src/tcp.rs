//! TCP: per-direction byte-stream reassembly and ASAP/ENRP message framing.
//!
//! Each direction is rebuilt from sequence numbers: retransmitted and
//! overlapping bytes are taken once, out-of-order segments wait for the
//! hole before them, and a hole that is never filled (at the end of the
//! capture, or when too much data waits behind it) is reported as a gap,
//! after which framing resumes at the next captured segment. Messages are
//! framed by the common header's length field, which covers header and body.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::bytes::be16;
use crate::diag::{DiagnosticKind, Flow, Layer};
use crate::message::Timestamp;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;

/// Out-of-order bytes held per direction before the hole is declared a gap.
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

/// A parsed TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The sender's port.
    pub src_port: u16,
    /// The receiver's port.
    pub dst_port: u16,
    /// The sequence number of the first payload byte, or of the SYN itself.
    pub seq: u32,
    /// The flag byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10...).
    pub flags: u8,
    /// The bytes after the header and its options.
    pub payload: &'a [u8],
}

impl Segment<'_> {
    /// SYN: the connection starts, and `seq` is the initial sequence number.
    pub fn syn(&self) -> bool {
        self.flags & SYN != 0
    }
    /// FIN: the sender sends nothing after this segment's payload.
    pub fn fin(&self) -> bool {
        self.flags & FIN != 0
    }
    /// RST: the connection is aborted.
    pub fn rst(&self) -> bool {
        self.flags & RST != 0
    }
}

/// Reads a TCP header, options skipped; the checksum is not checked.
pub fn parse_segment(p: &[u8]) -> Result<Segment<'_>, DiagnosticKind> {
    if p.len() < 20 {
        return Err(DiagnosticKind::Truncated {
            layer: Layer::Tcp,
            needed: 20,
            available: p.len(),
        });
    }
    let offset = usize::from(p.get(12).copied().unwrap_or_default() >> 4) * 4;
    if offset < 20 {
        return Err(DiagnosticKind::Malformed {
            layer: Layer::Tcp,
            reason: "data offset below 20 bytes",
        });
    }
    let Some(payload) = p.get(offset..) else {
        return Err(DiagnosticKind::Truncated {
            layer: Layer::Tcp,
            needed: offset,
            available: p.len(),
        });
    };
    Ok(Segment {
        src_port: be16(p, 0).unwrap_or_default(),
        dst_port: be16(p, 2).unwrap_or_default(),
        seq: crate::bytes::be32(p, 4).unwrap_or_default(),
        flags: p.get(13).copied().unwrap_or_default(),
        payload,
    })
}

/// Where a framed message came from: the segment that completed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Its frame number (1-based, as in Wireshark).
    pub frame: u64,
    /// Its capture time.
    pub timestamp: Timestamp,
}

/// A message framed out of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamMessage {
    /// The direction it travelled.
    pub flow: Flow,
    /// The segment that completed it.
    pub origin: Origin,
    /// The message: common header and body, as long as the header's length
    /// field says.
    pub bytes: Vec<u8>,
}

/// An output event: a message or a problem seen at some frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole message.
    Message(StreamMessage),
    /// A problem and the frame it showed at (`None` at the end of the capture).
    Problem(Option<u64>, DiagnosticKind),
}

#[derive(Debug)]
struct Pending {
    seq: u32,
    data: Vec<u8>,
    origin: Origin,
}

#[derive(Debug, Default)]
struct Direction {
    /// The initial sequence number, when the SYN was captured.
    isn: Option<u32>,
    /// The next sequence number expected; `None` before the first segment.
    next: Option<u32>,
    /// Sequence number of the FIN, once seen.
    fin_at: Option<u32>,
    closed: bool,
    /// A framing error ended decoding of this stream.
    dead: bool,
    pending: Vec<Pending>,
    pending_bytes: usize,
    /// Stream bytes not yet framed into a message.
    buffer: Vec<u8>,
}

/// Signed distance `a - b` in sequence space.
fn seq_diff(a: u32, b: u32) -> i64 {
    i64::from(a.wrapping_sub(b) as i32)
}

impl Direction {
    fn reset(&mut self) {
        *self = Direction::default();
    }

    /// Frames every whole message in the buffer.
    fn frame(&mut self, flow: Flow, origin: Origin, out: &mut Vec<Event>) {
        let mut start = 0;
        while !self.dead {
            let Some(len) = be16(&self.buffer, start + 2) else {
                break;
            };
            let len = usize::from(len);
            if len < 4 {
                self.dead = true;
                out.push(Event::Problem(
                    Some(origin.frame),
                    DiagnosticKind::TcpFraming {
                        flow,
                        length: len as u16,
                    },
                ));
                break;
            }
            let Some(bytes) = self.buffer.get(start..start + len) else {
                break;
            };
            out.push(Event::Message(StreamMessage {
                flow,
                origin,
                bytes: bytes.to_vec(),
            }));
            start += len;
        }
        if self.dead {
            self.buffer = Vec::new();
        } else {
            self.buffer.drain(..start.min(self.buffer.len()));
        }
    }

    /// Appends in-order bytes starting at `seq` (which may repeat old bytes).
    fn accept(&mut self, seq: u32, data: &[u8], flow: Flow, origin: Origin, out: &mut Vec<Event>) {
        let Some(next) = self.next else { return };
        let behind = seq_diff(next, seq);
        if behind < 0 {
            return;
        }
        let Some(fresh) = data.get(behind as usize..) else {
            return; // Entirely a retransmission.
        };
        if fresh.is_empty() {
            return;
        }
        self.next = Some(next.wrapping_add(fresh.len() as u32));
        if !self.dead {
            self.buffer.extend_from_slice(fresh);
            self.frame(flow, origin, out);
        }
    }

    /// Moves waiting segments that now fit into the stream. Their messages
    /// became whole no earlier than `now` (the frame that filled the hole).
    fn drain_pending(&mut self, flow: Flow, mut now: Option<Origin>, out: &mut Vec<Event>) {
        loop {
            let Some(next) = self.next else { return };
            let ready = self.pending.iter().position(|p| seq_diff(p.seq, next) <= 0);
            let Some(i) = ready else { return };
            let p = self.pending.swap_remove(i);
            self.pending_bytes = self.pending_bytes.saturating_sub(p.data.len());
            let origin = match now {
                Some(n) if n.frame >= p.origin.frame => n,
                _ => p.origin,
            };
            now = Some(origin);
            self.accept(p.seq, &p.data, flow, origin, out);
        }
    }

    /// Gives up on the hole before the earliest waiting segment.
    fn skip_gap(&mut self, flow: Flow, out: &mut Vec<Event>) -> bool {
        let Some(next) = self.next else { return false };
        let Some(earliest) = self
            .pending
            .iter()
            .min_by_key(|p| seq_diff(p.seq, next))
            .map(|p| (p.seq, p.origin))
        else {
            return false;
        };
        let missing = seq_diff(earliest.0, next).max(0) as u64;
        out.push(Event::Problem(
            Some(earliest.1.frame),
            DiagnosticKind::TcpGap { flow, missing },
        ));
        // A message cut by the gap cannot be completed; one write is one
        // message, so the next segment most likely starts a new one.
        self.buffer.clear();
        self.next = Some(earliest.0);
        true
    }

    fn check_fin(&mut self, flow: Flow, frame: u64, out: &mut Vec<Event>) {
        if let (Some(fin), Some(next)) = (self.fin_at, self.next) {
            if seq_diff(next, fin) >= 0 && !self.closed {
                self.closed = true;
                if !self.buffer.is_empty() && !self.dead {
                    out.push(Event::Problem(
                        Some(frame),
                        DiagnosticKind::TcpIncomplete {
                            flow,
                            bytes: self.buffer.len(),
                        },
                    ));
                    self.buffer.clear();
                }
            }
        }
    }
}

/// Rebuilds TCP byte streams and frames the messages in them.
#[derive(Debug, Default)]
pub struct Reassembler {
    directions: HashMap<(SocketAddr, SocketAddr), Direction>,
}

impl Reassembler {
    /// A reassembler with no connection seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one segment of the flow `src -> dst`.
    pub fn push(
        &mut self,
        flow: Flow,
        segment: &Segment<'_>,
        origin: Origin,
        out: &mut Vec<Event>,
    ) {
        let dir = self.directions.entry((flow.src, flow.dst)).or_default();
        let mut data_seq = segment.seq;
        if segment.syn() {
            // A new initial sequence number starts the stream afresh (also
            // a reused port pair); the same one is a retransmitted SYN.
            if dir.isn != Some(segment.seq) {
                if dir.next.is_some() {
                    finish_direction(dir, flow, out);
                }
                dir.reset();
                dir.isn = Some(segment.seq);
                dir.next = Some(segment.seq.wrapping_add(1));
            }
            data_seq = segment.seq.wrapping_add(1);
        } else if dir.next.is_none() {
            if segment.payload.is_empty() && !segment.fin() {
                return;
            }
            out.push(Event::Problem(
                Some(origin.frame),
                DiagnosticKind::TcpMidStream { flow },
            ));
            dir.next = Some(segment.seq);
        }
        if dir.dead {
            return; // Nothing in this stream can be framed any more.
        }
        if segment.fin() {
            dir.fin_at = Some(data_seq.wrapping_add(segment.payload.len() as u32));
        }
        let Some(next) = dir.next else { return };
        if !segment.payload.is_empty() {
            if seq_diff(data_seq, next) <= 0 {
                dir.accept(data_seq, segment.payload, flow, origin, out);
                dir.drain_pending(flow, Some(origin), out);
            } else {
                dir.pending_bytes += segment.payload.len();
                dir.pending.push(Pending {
                    seq: data_seq,
                    data: segment.payload.to_vec(),
                    origin,
                });
                while dir.pending_bytes > MAX_PENDING_BYTES {
                    out.push(Event::Problem(
                        Some(origin.frame),
                        DiagnosticKind::TcpReorderLimit { flow },
                    ));
                    if !dir.skip_gap(flow, out) {
                        break;
                    }
                    dir.drain_pending(flow, Some(origin), out);
                }
            }
        }
        dir.check_fin(flow, origin.frame, out);
        if segment.rst() {
            finish_direction(dir, flow, out);
            dir.closed = true;
        }
    }

    /// Ends every stream: fills unfilled holes as gaps and reports leftovers.
    pub fn finish(self, out: &mut Vec<Event>) {
        let mut dirs: Vec<_> = self.directions.into_iter().collect();
        dirs.sort_by_key(|(k, _)| *k);
        for ((src, dst), mut dir) in dirs {
            finish_direction(&mut dir, Flow { src, dst }, out);
        }
    }
}

fn finish_direction(dir: &mut Direction, flow: Flow, out: &mut Vec<Event>) {
    while dir.skip_gap(flow, out) {
        dir.drain_pending(flow, None, out);
    }
    if !dir.buffer.is_empty() && !dir.dead && !dir.closed {
        out.push(Event::Problem(
            None,
            DiagnosticKind::TcpIncomplete {
                flow,
                bytes: dir.buffer.len(),
            },
        ));
    }
    dir.buffer.clear();
}
