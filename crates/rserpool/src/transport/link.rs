//! An association handed to the task that owns a state machine: a reader
//! task forwards each whole message as an input, and a writer task drains
//! a bounded queue, so the owner never waits on a socket.
//!
//! A listener assumes a hostile peer, so a link can be given [`Limits`]:
//! the bytes waiting to be sent are bounded (a peer that does not read its
//! answers is found out, whatever their size), the first message and the
//! rest of a started message must arrive in time, and the owner can see
//! whether the peer said anything since it last looked (idle sweeps).

use super::Association;
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
    /// Messages to send; a full queue means the peer does not keep up.
    pub tx: mpsc::Sender<T>,
    reader: JoinHandle<()>,
    queued: Arc<AtomicUsize>,
    queue_bytes: usize,
    active: Arc<AtomicBool>,
    /// Whatever the owner wants released with the link (a quota slot).
    guard: Option<Box<dyn std::any::Any + Send>>,
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
    /// Queues one message within the message and byte limits.
    pub fn send(&self, bytes: Vec<u8>) -> Result<(), Full> {
        let len = bytes.len();
        if self.queued.load(Ordering::Relaxed).saturating_add(len) > self.queue_bytes {
            return Err(Full::Bytes);
        }
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
    Link {
        tx,
        reader,
        queued,
        queue_bytes: limits.queue_bytes,
        active,
        guard: None,
    }
}
