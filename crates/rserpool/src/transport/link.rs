//! An association handed to the task that owns a state machine: a reader
//! task forwards each whole message as an input, and a writer task drains
//! a bounded queue, so the owner never waits on a socket.
//!
//! A listener assumes a hostile peer, so a link can be given [`Limits`]:
//! the bytes waiting to be sent are bounded (a peer that does not read its
//! answers is found out, whatever their size), the first message and the
//! rest of a started message must arrive in time, and the owner can see
//! whether the peer said anything since it last looked (idle sweeps).
//!
//! Sending costs one system call per association and wake-up, not one
//! per message plus a task switch: the owner [`Link::push`]es what its
//! state machine produced and [`Link::flush`]es each link once, which
//! writes straight to a plain socket (one vectored write over TCP) while
//! nothing waits in the writer task's queue; only what the socket does
//! not take at once goes to the writer task, which waits for room.

use super::{AssocWriter, Association};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// What a link tolerates of its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most messages waiting to be sent.
    pub queue: usize,
    /// Most bytes waiting to be sent.
    pub queue_bytes: usize,
    /// The first message must arrive within this.
    pub first_message: Option<Duration>,
    /// A message whose first bytes arrived must be complete within this.
    pub partial_message: Option<Duration>,
}

impl Limits {
    /// Only a message count: for associations this process opened itself.
    pub fn queue(queue: usize) -> Limits {
        Limits {
            queue,
            queue_bytes: usize::MAX,
            first_message: None,
            partial_message: None,
        }
    }
}

/// Why a message could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// The message count limit.
    Messages,
    /// The byte limit.
    Bytes,
    /// The writer is gone (the association closed).
    Closed,
}

/// The owner's end of an association; dropping it stops the reader, and
/// the writer closes the association once its queue is sent.
#[derive(Debug)]
pub struct Link<T = Vec<u8>> {
    /// Messages for the writer task; a full queue means the peer does not
    /// keep up.
    pub tx: mpsc::Sender<T>,
    reader: JoinHandle<()>,
    /// Bytes handed to the writer task and not yet written.
    queued: Arc<AtomicUsize>,
    queue_bytes: usize,
    active: Arc<AtomicBool>,
    /// Whatever the owner wants released with the link (a quota slot).
    guard: Option<Box<dyn std::any::Any + Send>>,
    /// Messages pushed since the last flush, and their bytes.
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    /// The socket, for writes from the owner (plain sockets only).
    direct: Option<Arc<AssocWriter>>,
    /// A write failed: the association is gone (its reader reports it).
    broken: bool,
}

impl<T> Link<T> {
    /// A link from its parts, for channels other than [`Association`].
    pub fn new(tx: mpsc::Sender<T>, reader: JoinHandle<()>) -> Self {
        Link {
            tx,
            reader,
            queued: Arc::new(AtomicUsize::new(0)),
            queue_bytes: usize::MAX,
            active: Arc::new(AtomicBool::new(true)),
            guard: None,
            pending: Vec::new(),
            pending_bytes: 0,
            direct: None,
            broken: false,
        }
    }

    /// Keeps `guard` until the link is dropped (e.g. a per-host quota
    /// slot, released however the association ends).
    pub fn with_guard(mut self, guard: impl std::any::Any + Send) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// Whether the peer sent anything since the last call (which clears
    /// the mark).
    pub fn take_activity(&self) -> bool {
        self.active.swap(false, Ordering::Relaxed)
    }
}

impl Link<Vec<u8>> {
    /// Adds one message to those the next [`Link::flush`] sends, within
    /// the message and byte limits. `Ok(true)`: the first since the last
    /// flush (the owner notes the link to flush it).
    pub fn push(&mut self, bytes: Vec<u8>) -> Result<bool, Full> {
        if self.broken {
            return Err(Full::Closed);
        }
        let len = bytes.len();
        if over_bytes(&self.queued, self.pending_bytes, len, self.queue_bytes) {
            return Err(Full::Bytes);
        }
        if self.pending.len() >= self.tx.max_capacity() {
            return Err(Full::Messages);
        }
        self.pending_bytes += len;
        self.pending.push(bytes);
        Ok(self.pending.len() == 1)
    }

    /// Sends what was pushed: written at once where the socket takes it
    /// (nothing waiting in the writer's queue), the rest queued for the
    /// writer task.
    pub fn flush(&mut self) -> Result<(), Full> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let mut from = 0;
        let mut offset = 0;
        if let Some(w) = &self.direct {
            if self.queued.load(Ordering::Relaxed) == 0 {
                match w.try_write_messages(&pending, 0) {
                    Ok(done) => {
                        from = done.messages;
                        offset = done.offset;
                    }
                    Err(_) => {
                        // The reader sees the end of the association too
                        // and reports it; nothing more goes out here.
                        self.broken = true;
                        return Err(Full::Closed);
                    }
                }
            }
        }
        if from == pending.len() {
            pending.clear();
            self.pending = pending;
            return Ok(());
        }
        let mut r = Ok(());
        for (i, m) in pending.drain(..).enumerate().skip(from) {
            let m = if i == from && offset > 0 {
                m[offset..].to_vec()
            } else {
                m
            };
            if r.is_ok() {
                r = self.queue(m);
            }
        }
        // Empty again (the written ones included), its room kept.
        self.pending = pending;
        r
    }

    /// Pushes and flushes one message.
    pub fn send(&mut self, bytes: Vec<u8>) -> Result<(), Full> {
        self.push(bytes)?;
        self.flush()
    }

    /// Hands one message to the writer task.
    fn queue(&self, bytes: Vec<u8>) -> Result<(), Full> {
        let len = bytes.len();
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.tx.try_send(bytes).map_err(|e| {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            match e {
                mpsc::error::TrySendError::Full(_) => Full::Messages,
                mpsc::error::TrySendError::Closed(_) => Full::Closed,
            }
        })
    }
}

impl<T> Drop for Link<T> {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Whether `len` more bytes, besides those `queued` with a writer and the
/// `pending` ones pushed since the last flush, exceed `max`.
pub(super) fn over_bytes(queued: &AtomicUsize, pending: usize, len: usize, max: usize) -> bool {
    queued
        .load(Ordering::Relaxed)
        .saturating_add(pending)
        .saturating_add(len)
        > max
}

/// Splits `a`: each received message becomes `on_message(bytes)` on
/// `inputs`, the end of the association `on_close(error)`; up to `queue`
/// messages wait to be sent.
pub fn spawn<I: Send + 'static>(
    a: Association,
    queue: usize,
    inputs: mpsc::Sender<I>,
    on_message: impl Fn(Vec<u8>) -> I + Send + 'static,
    on_close: impl FnOnce(Option<io::Error>) -> I + Send + 'static,
) -> Link {
    spawn_limited(a, Limits::queue(queue), inputs, on_message, on_close)
}

/// [`spawn`] with all the [`Limits`]: an exceeded time limit ends the
/// association with a `TimedOut` error.
pub fn spawn_limited<I: Send + 'static>(
    a: Association,
    limits: Limits,
    inputs: mpsc::Sender<I>,
    on_message: impl Fn(Vec<u8>) -> I + Send + 'static,
    on_close: impl FnOnce(Option<io::Error>) -> I + Send + 'static,
) -> Link {
    let Association {
        mut reader,
        mut writer,
        ..
    } = a;
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(limits.queue.max(1));
    let active = Arc::new(AtomicBool::new(true));
    let queued = Arc::new(AtomicUsize::new(0));
    let seen = active.clone();
    let reader = tokio::spawn(async move {
        let mut first = limits.first_message;
        let err = loop {
            let next = reader.recv_within(limits.partial_message);
            let got = match first.take() {
                Some(limit) => match tokio::time::timeout(limit, next).await {
                    Ok(r) => r,
                    Err(_) => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no message within the time allowed for the first one",
                    )),
                },
                None => next.await,
            };
            match got {
                Ok(Some(m)) => {
                    seen.store(true, Ordering::Relaxed);
                    if inputs.send(on_message(m.to_vec())).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let _ = inputs.send(on_close(err)).await;
    });
    let sent = queued.clone();
    let direct = if writer.is_plain() {
        let writer = Arc::new(writer);
        let shared = writer.clone();
        // Dropping the last reference to a plain socket's write half
        // shuts its sending direction down.
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
                let len: usize = batch.iter().map(Vec::len).sum();
                let r = shared.write_messages(&batch, 0).await;
                sent.fetch_sub(len, Ordering::Relaxed);
                batch.clear();
                if r.is_err() {
                    break;
                }
            }
        });
        Some(writer)
    } else {
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                let r = writer.send(&m).await;
                sent.fetch_sub(m.len(), Ordering::Relaxed);
                if r.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
        });
        None
    };
    Link {
        tx,
        reader,
        queued,
        queue_bytes: limits.queue_bytes,
        active,
        guard: None,
        pending: Vec::new(),
        pending_bytes: 0,
        direct,
        broken: false,
    }
}

/// An association of either kind a listener hands out: one with a
/// socket (and reader task) of its own, or one of a one-to-many SCTP
/// endpoint. The owner treats both alike.
#[derive(Debug)]
pub enum AnyLink {
    /// A socket of its own.
    Own(Link),
    /// An association of a one-to-many endpoint.
    Many(super::many::ManyLink),
}

impl AnyLink {
    /// See [`Link::push`].
    pub fn push(&mut self, bytes: Vec<u8>) -> Result<bool, Full> {
        match self {
            AnyLink::Own(l) => l.push(bytes),
            AnyLink::Many(l) => l.push(bytes),
        }
    }

    /// See [`Link::flush`]; a one-to-many link's messages are sent by
    /// its endpoint's [`super::many::Sender::flush`].
    pub fn flush(&mut self) -> Result<(), Full> {
        match self {
            AnyLink::Own(l) => l.flush(),
            AnyLink::Many(l) => l.flush(),
        }
    }

    /// Whether the peer sent anything since the last call (which clears
    /// the mark).
    pub fn take_activity(&mut self) -> bool {
        match self {
            AnyLink::Own(l) => l.take_activity(),
            AnyLink::Many(l) => l.take_activity(),
        }
    }

    /// The association failed its limits: a one-to-many association is
    /// aborted when the link is dropped (a socket of its own is closed
    /// by its writer as before).
    pub fn abort(&mut self) {
        if let AnyLink::Many(l) = self {
            l.abort();
        }
    }
}

/// Most queued messages the writer task writes at once.
const WRITE_BATCH: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Carrier, Listener, Ppid, connect};

    fn message(i: u32, len: usize) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[0] = 1;
        m[2..4].copy_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
        m[4..8].copy_from_slice(&i.to_be_bytes());
        m
    }

    /// Messages pushed in bursts, far more than a socket buffer holds
    /// while the peer does not read, all arrive whole and in order: what
    /// the socket does not take at once goes through the writer task, and
    /// nothing is written around it meanwhile.
    #[tokio::test]
    async fn pushed_messages_arrive_in_order_when_the_socket_fills() {
        let l =
            Listener::bind(&["127.0.0.1:0".parse().unwrap()], Carrier::Tcp, Ppid::Asap).unwrap();
        let addr = l.local_addrs().unwrap()[0];
        let c = connect(addr, Carrier::Tcp, Ppid::Asap).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        let (tx, _rx) = mpsc::channel::<()>(1);
        let mut link = spawn(c, 1 << 16, tx, |_| (), |_| ());
        assert!(link.direct.is_some(), "a plain socket is written directly");
        let (count, len) = (4000u32, 1000usize);
        for burst in 0..(count / 100) {
            for i in 0..100 {
                assert_eq!(link.push(message(burst * 100 + i, len)), Ok(i == 0));
            }
            link.flush().unwrap();
        }
        assert!(
            link.queued.load(Ordering::Relaxed) > 0,
            "4 MB did not all fit in the socket: the writer task has some"
        );
        for i in 0..count {
            let m = tokio::time::timeout(Duration::from_secs(20), s.recv())
                .await
                .expect("message in time")
                .unwrap()
                .expect("a message");
            assert_eq!(m, &message(i, len)[..]);
        }
    }
}
