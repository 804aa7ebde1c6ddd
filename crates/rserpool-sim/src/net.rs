//! The simulated network's plain data: the event queue, associations,
//! partitions.

use std::cmp::Ordering;
use std::net::SocketAddr;
use std::rc::Rc;

use rserpool_proto::Time;
use rserpool_proto::data_channel::Frame;

/// A node's name for one of its associations, in the state machine's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Handle {
    /// A registrar's ASAP association (`AssocId`).
    Asap(u64),
    /// A registrar's ENRP association (`ConnId`).
    Enrp(u64),
    /// A PE's or PU's registrar association (`RegConn`).
    Reg(u64),
    /// A data association: the PU's `PeConn`, or the PE's session number.
    Data(u64),
}

/// What an association carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Asap,
    Enrp,
    Data,
}

/// One message on an association.
#[derive(Clone, Debug)]
pub enum Payload {
    Bytes(Vec<u8>),
    Frame(Frame),
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Frame(f) => f.payload.len() + 8,
        }
    }
}

/// Something that reaches a node.
#[derive(Clone, Debug)]
pub enum Input {
    Accept {
        assoc: usize,
        remote: SocketAddr,
        kind: Kind,
    },
    Connected {
        assoc: usize,
    },
    Msg {
        assoc: usize,
        payload: Payload,
    },
    Closed {
        assoc: usize,
    },
    Announce {
        from: SocketAddr,
        bytes: Rc<Vec<u8>>,
        enrp: bool,
    },
}

/// One end of an association.
#[derive(Clone, Copy, Debug)]
pub struct End {
    pub node: usize,
    pub inc: u32,
    /// The node's name for it (the accepting end learns it on accept).
    pub handle: Option<Handle>,
    /// Still known to the node (no close reported or asked for).
    pub open: bool,
}

/// An association between two nodes: reliable and ordered per direction.
#[derive(Clone, Debug)]
pub struct Assoc {
    /// `ends[0]` opened it.
    pub ends: [End; 2],
    /// Aborted: nothing more is delivered but the close reports.
    pub aborted: bool,
    /// Latest delivery time per direction (0: from `ends[0]`), so that
    /// messages keep their order.
    pub last: [Time; 2],
}

impl Assoc {
    /// Whether either end is still open.
    pub fn live(&self) -> bool {
        !self.aborted && (self.ends[0].open || self.ends[1].open)
    }
}

/// A partition: nodes in `side` cannot reach the others (and, unless
/// one-way, the others cannot reach them) from `start` to `end`.
#[derive(Clone, Debug)]
pub struct Partition {
    pub side: Vec<bool>,
    pub start: Time,
    pub end: Time,
    pub one_way: bool,
}

impl Partition {
    fn side(&self, n: usize) -> bool {
        self.side.get(n).copied().unwrap_or(false)
    }
    /// Blocks the direction `from` to `to` at `t`.
    pub fn blocks(&self, from: usize, to: usize, t: Time) -> bool {
        if t < self.start || t >= self.end {
            return false;
        }
        let (a, b) = (self.side(from), self.side(to));
        (a && !b) || (!self.one_way && !a && b)
    }
    /// Separates the two nodes in either direction (associations need both).
    pub fn separates(&self, x: usize, y: usize, t: Time) -> bool {
        self.blocks(x, y, t) || self.blocks(y, x, t)
    }
}

/// A queued event with its time; ties go in insertion order.
#[derive(Debug)]
pub struct Queued<E> {
    pub at: Time,
    pub seq: u64,
    pub ev: E,
}

impl<E> PartialEq for Queued<E> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl<E> Eq for Queued<E> {}
impl<E> PartialOrd for Queued<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Queued<E> {
    /// Reversed: `BinaryHeap` pops the earliest.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}
