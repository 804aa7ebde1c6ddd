//! SCTP: the common header, every chunk of a packet, and reassembly of
//! fragmented user messages (DATA and I-DATA) per association direction.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::bytes::{be16, be32, pad4};
use crate::diag::{DiagnosticKind, Flow, Layer};

/// The chunk type of DATA (RFC 9260, section 3.3.1).
pub const CHUNK_DATA: u8 = 0;
/// The chunk type of I-DATA, interleaved user messages (RFC 8260, section 2.1).
pub const CHUNK_IDATA: u8 = 64;

const FLAG_END: u8 = 0x01;
const FLAG_BEGIN: u8 = 0x02;
const FLAG_UNORDERED: u8 = 0x04;

/// Fragments waiting per direction before the oldest are given up.
const MAX_PENDING_BYTES: usize = 64 * 1024 * 1024;
/// Delivered TSNs remembered per direction to recognise retransmissions.
const REMEMBERED_TSNS: usize = 4096;

/// The SCTP common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommonHeader {
    /// The sender's port.
    pub src_port: u16,
    /// The receiver's port.
    pub dst_port: u16,
    /// The tag the receiver chose at setup; with the ports it names one
    /// direction of one association, whatever addresses are used.
    pub verification_tag: u32,
}

/// One chunk of a packet: type, flags and value (without padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'a> {
    /// The chunk type, e.g. [`CHUNK_DATA`].
    pub kind: u8,
    /// The chunk flags; their meaning depends on the type.
    pub flags: u8,
    /// What follows the 4-byte chunk header, up to the chunk length.
    pub value: &'a [u8],
}

/// A DATA or I-DATA chunk, possibly one fragment of a user message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataChunk<'a> {
    /// The transmission sequence number, one per chunk of the association.
    pub tsn: u32,
    /// The stream identifier.
    pub stream: u16,
    /// The stream sequence number (DATA) or message identifier (I-DATA).
    pub sequence: u32,
    /// The payload protocol identifier; for later I-DATA fragments, `None`
    /// (they carry a fragment sequence number instead).
    pub ppid: Option<u32>,
    /// The fragment sequence number of an I-DATA chunk (0 for DATA).
    pub fsn: u32,
    /// An I-DATA chunk (RFC 8260) rather than DATA.
    pub interleaved: bool,
    /// The U flag: delivered outside the stream's order.
    pub unordered: bool,
    /// The B flag: the first fragment of a user message.
    pub begin: bool,
    /// The E flag: the last fragment of a user message.
    pub end: bool,
    /// The user data this chunk carries.
    pub data: &'a [u8],
}

fn malformed(reason: &'static str) -> DiagnosticKind {
    DiagnosticKind::Malformed {
        layer: Layer::Sctp,
        reason,
    }
}

/// Splits a packet into its common header and chunks.
///
/// Chunks before a damaged one are returned together with the problem.
pub fn parse_packet(
    packet: &[u8],
) -> Result<(CommonHeader, Vec<Chunk<'_>>, Option<DiagnosticKind>), DiagnosticKind> {
    if packet.len() < 12 {
        return Err(DiagnosticKind::Truncated {
            layer: Layer::Sctp,
            needed: 12,
            available: packet.len(),
        });
    }
    let header = CommonHeader {
        src_port: be16(packet, 0).unwrap_or_default(),
        dst_port: be16(packet, 2).unwrap_or_default(),
        verification_tag: be32(packet, 4).unwrap_or_default(),
    };
    let mut chunks = Vec::new();
    let mut at = 12;
    while at < packet.len() {
        let (Some(&kind), Some(&flags), Some(len)) =
            (packet.get(at), packet.get(at + 1), be16(packet, at + 2))
        else {
            return Ok((header, chunks, Some(malformed("chunk header cut short"))));
        };
        let len = usize::from(len);
        if len < 4 {
            return Ok((header, chunks, Some(malformed("chunk length below 4"))));
        }
        let Some(value) = packet.get(at + 4..at + len) else {
            let problem = DiagnosticKind::Truncated {
                layer: Layer::Sctp,
                needed: at + len,
                available: packet.len(),
            };
            return Ok((header, chunks, Some(problem)));
        };
        chunks.push(Chunk { kind, flags, value });
        at += pad4(len);
    }
    Ok((header, chunks, None))
}

impl<'a> Chunk<'a> {
    /// Interprets a DATA or I-DATA chunk; `None` for other chunk types.
    pub fn as_data(&self) -> Option<Result<DataChunk<'a>, DiagnosticKind>> {
        let v = self.value;
        let f = self.flags;
        let (interleaved, header_len) = match self.kind {
            CHUNK_DATA => (false, 12),
            CHUNK_IDATA => (true, 16),
            _ => return None,
        };
        if v.len() < header_len {
            return Some(Err(malformed("DATA chunk shorter than its header")));
        }
        let word = |at| be32(v, at).unwrap_or_default();
        let begin = f & FLAG_BEGIN != 0;
        let (sequence, ppid, fsn) = if interleaved {
            let last = word(12);
            if begin {
                (word(8), Some(last), 0)
            } else {
                (word(8), None, last)
            }
        } else {
            (u32::from(be16(v, 6).unwrap_or_default()), Some(word(8)), 0)
        };
        Some(Ok(DataChunk {
            tsn: word(0),
            stream: be16(v, 4).unwrap_or_default(),
            sequence,
            ppid,
            fsn,
            interleaved,
            unordered: f & FLAG_UNORDERED != 0,
            begin,
            end: f & FLAG_END != 0,
            data: v.get(header_len..).unwrap_or_default(),
        }))
    }
}

/// A whole user message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserMessage {
    /// The stream it was sent on.
    pub stream: u16,
    /// The payload protocol identifier of its first fragment.
    pub ppid: u32,
    /// The fragments' user data, joined.
    pub data: Vec<u8>,
}

/// Identifies an association direction: the ports and the receiver's tag,
/// which stay the same when a multi-homed peer changes paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct DirectionKey {
    src_port: u16,
    dst_port: u16,
    verification_tag: u32,
}

#[derive(Clone, Debug)]
struct Fragment {
    stream: u16,
    sequence: u32,
    unordered: bool,
    begin: bool,
    end: bool,
    ppid: Option<u32>,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Direction {
    flow: Option<Flow>,
    recent: HashSet<u32>,
    recent_order: VecDeque<u32>,
    /// DATA fragments by TSN.
    fragments: HashMap<u32, Fragment>,
    /// I-DATA fragments by (stream, unordered, MID), then FSN.
    interleaved: HashMap<(u16, bool, u32), HashMap<u32, Fragment>>,
    pending_bytes: usize,
}

impl Direction {
    fn remember(&mut self, tsn: u32) {
        if self.recent.insert(tsn) {
            self.recent_order.push_back(tsn);
            if self.recent_order.len() > REMEMBERED_TSNS {
                if let Some(old) = self.recent_order.pop_front() {
                    self.recent.remove(&old);
                }
            }
        }
    }

    fn pending_by_stream(&self) -> HashMap<u16, usize> {
        let mut by_stream: HashMap<u16, usize> = HashMap::new();
        for f in self.fragments.values() {
            *by_stream.entry(f.stream).or_default() += f.data.len();
        }
        for ((stream, _, _), frags) in &self.interleaved {
            for f in frags.values() {
                *by_stream.entry(*stream).or_default() += f.data.len();
            }
        }
        by_stream
    }

    fn drop_all(&mut self) -> usize {
        let dropped = self.pending_bytes;
        self.fragments.clear();
        self.interleaved.clear();
        self.pending_bytes = 0;
        dropped
    }

    /// Completes the DATA message around `tsn` if every fragment is present.
    fn try_complete(&mut self, tsn: u32) -> Option<UserMessage> {
        let me = self.fragments.get(&tsn)?;
        let same_message =
            |f: &Fragment| f.stream == me.stream && (me.unordered || f.sequence == me.sequence);
        let mut first = tsn;
        while !self.fragments.get(&first)?.begin {
            let prev = first.wrapping_sub(1);
            if !same_message(self.fragments.get(&prev)?) {
                return None;
            }
            first = prev;
        }
        let mut last = tsn;
        while !self.fragments.get(&last)?.end {
            let next = last.wrapping_add(1);
            if !same_message(self.fragments.get(&next)?) {
                return None;
            }
            last = next;
        }
        let stream = me.stream;
        let mut data = Vec::new();
        let mut ppid = 0;
        let mut t = first;
        loop {
            let f = self.fragments.remove(&t)?;
            if t == first {
                ppid = f.ppid.unwrap_or_default();
            }
            self.pending_bytes = self.pending_bytes.saturating_sub(f.data.len());
            data.extend_from_slice(&f.data);
            if t == last {
                break;
            }
            t = t.wrapping_add(1);
        }
        Some(UserMessage { stream, ppid, data })
    }

    /// Completes the I-DATA message `key` if fragments 0..=end are all present.
    fn try_complete_interleaved(&mut self, key: (u16, bool, u32)) -> Option<UserMessage> {
        let frags = self.interleaved.get(&key)?;
        let last = frags.iter().find(|(_, f)| f.end).map(|(fsn, _)| *fsn)?;
        let first = frags.get(&0)?;
        if !first.begin || (0..=last).any(|fsn| !frags.contains_key(&fsn)) {
            return None;
        }
        let ppid = first.ppid.unwrap_or_default();
        let mut frags = self.interleaved.remove(&key)?;
        let mut data = Vec::new();
        for fsn in 0..=last {
            let f = frags.remove(&fsn)?;
            self.pending_bytes = self.pending_bytes.saturating_sub(f.data.len());
            data.extend_from_slice(&f.data);
        }
        // Fragments beyond the end belong to nothing; forget them.
        for f in frags.values() {
            self.pending_bytes = self.pending_bytes.saturating_sub(f.data.len());
        }
        Some(UserMessage {
            stream: key.0,
            ppid,
            data,
        })
    }
}

/// Reassembles user messages across packets, per association direction.
#[derive(Debug, Default)]
pub struct Reassembler {
    directions: HashMap<DirectionKey, Direction>,
}

impl Reassembler {
    /// A reassembler with no association seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one DATA or I-DATA chunk; returns the message it completes, if any.
    pub fn push(
        &mut self,
        header: &CommonHeader,
        flow: Flow,
        chunk: &DataChunk<'_>,
        problems: &mut Vec<DiagnosticKind>,
    ) -> Option<UserMessage> {
        let key = DirectionKey {
            src_port: header.src_port,
            dst_port: header.dst_port,
            verification_tag: header.verification_tag,
        };
        let dir = self.directions.entry(key).or_default();
        dir.flow = Some(flow);
        let seen = dir.recent.contains(&chunk.tsn)
            || (!chunk.interleaved && dir.fragments.contains_key(&chunk.tsn));
        if seen {
            problems.push(DiagnosticKind::SctpDuplicate {
                flow,
                tsn: chunk.tsn,
            });
            return None;
        }
        dir.remember(chunk.tsn);
        if chunk.begin && chunk.end {
            return Some(UserMessage {
                stream: chunk.stream,
                ppid: chunk.ppid.unwrap_or_default(),
                data: chunk.data.to_vec(),
            });
        }
        if dir.pending_bytes.saturating_add(chunk.data.len()) > MAX_PENDING_BYTES {
            let dropped_bytes = dir.drop_all();
            problems.push(DiagnosticKind::SctpReassemblyLimit {
                flow,
                dropped_bytes,
            });
        }
        dir.pending_bytes += chunk.data.len();
        let fragment = Fragment {
            stream: chunk.stream,
            sequence: chunk.sequence,
            unordered: chunk.unordered,
            begin: chunk.begin,
            end: chunk.end,
            ppid: chunk.ppid,
            data: chunk.data.to_vec(),
        };
        if chunk.interleaved {
            let mkey = (chunk.stream, chunk.unordered, chunk.sequence);
            dir.interleaved
                .entry(mkey)
                .or_default()
                .insert(chunk.fsn, fragment);
            dir.try_complete_interleaved(mkey)
        } else {
            dir.fragments.insert(chunk.tsn, fragment);
            dir.try_complete(chunk.tsn)
        }
    }

    /// Reports fragments that never became whole messages.
    pub fn finish(self, problems: &mut Vec<DiagnosticKind>) {
        let mut leftovers: Vec<(Flow, u16, usize)> = Vec::new();
        for dir in self.directions.values() {
            let Some(flow) = dir.flow else { continue };
            for (stream, bytes) in dir.pending_by_stream() {
                leftovers.push((flow, stream, bytes));
            }
        }
        leftovers.sort_by_key(|(flow, stream, _)| (flow.src, flow.dst, *stream));
        for (flow, stream, bytes) in leftovers {
            problems.push(DiagnosticKind::SctpIncomplete {
                flow,
                stream,
                bytes,
            });
        }
    }
}
