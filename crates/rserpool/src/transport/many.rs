//! One-to-many SCTP endpoints (`SOCK_SEQPACKET`): one descriptor for
//! every association of a listener, so that a registrar needs no file per
//! PE, and one system call receives or sends a batch of messages of many
//! associations (`recvmmsg`, `sendmmsg`). A one-to-one peer (RSPLIB's PEs
//! and registrars open either kind) connects to it as to any SCTP
//! listener.
//!
//! This is the socket layer: messages and association changes in, batches
//! of messages out. What an association means (limits, idle sweeps,
//! refusals) stays with the driver that owns the endpoint.

use super::Ppid;
use super::link::{Full, Limits, over_bytes};
use super::sctp::{self, ManyEvent, Outgoing};
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;

/// Messages and notifications one receive takes at most.
pub const RECV_BATCH: usize = 16;
/// Bytes of one receive slot: the largest ASAP or ENRP message (its length
/// field is 16 bits), so that every message arrives whole.
pub const SLOT: usize = 1 << 16;

/// Send and receive buffer size asked for a one-to-many socket.
const BUFFER: usize = 4 << 20;

/// A listening one-to-many SCTP endpoint.
#[derive(Debug)]
pub struct Endpoint {
    fd: AsyncFd<socket2::Socket>,
    ppid: Ppid,
}

/// What [`Endpoint::recv`] got, borrowed from its buffer.
#[derive(Debug)]
pub enum Received<'a> {
    /// An association came up.
    Up(i32),
    /// An association ended.
    Down(i32),
    /// A whole message of an association, with its PPID.
    Message(i32, u32, &'a [u8]),
    /// A message longer than the largest ASAP or ENRP message: the
    /// association should be aborted.
    TooLong(i32),
}

impl Endpoint {
    /// Binds `addrs` (several: multi-homing) and listens. Messages sent
    /// carry `ppid` (ASAP 11 or ENRP 12).
    pub fn bind(addrs: &[SocketAddr], ppid: Ppid) -> io::Result<Endpoint> {
        let Some(first) = addrs.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to bind",
            ));
        };
        let sock = sctp::many_socket(first)?;
        sctp::configure(&sock, ppid as u32)?;
        sctp::subscribe_many(&sock)?;
        sock.set_reuse_address(true)?;
        if first.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        // Every association shares the socket's buffers (the kernel's
        // default SCTP send buffer is 16 KB): as large as the system
        // allows (net.core.wmem_max, rmem_max).
        let _ = sock.set_send_buffer_size(BUFFER);
        let _ = sock.set_recv_buffer_size(BUFFER);
        sock.set_nonblocking(true)?;
        sock.bind(&(*first).into())?;
        sctp::bind_extra(&sock, &addrs[1..])?;
        sock.listen(1024)?;
        Ok(Endpoint {
            fd: sctp::register(sock)?,
            ppid,
        })
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.fd
            .get_ref()
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::new(io::ErrorKind::Unsupported, "not an IP socket address"))
    }

    /// Waits for messages and association changes and takes all that are
    /// queued, up to [`RECV_BATCH`], with one system call; `f` sees each.
    /// `buf` is the receive buffer ([`Endpoint::buffer`]).
    ///
    /// One task reads an endpoint: the wait keeps the socket's single
    /// reader waker (no waiter list to join and leave on every wake-up, as
    /// this future is dropped whenever another of the registrar's sources
    /// comes first).
    pub async fn recv(&self, buf: &mut [u8], mut f: impl FnMut(Received<'_>)) -> io::Result<()> {
        let mut events = Vec::with_capacity(RECV_BATCH);
        loop {
            let mut guard = std::future::poll_fn(|cx| self.fd.poll_read_ready(cx)).await?;
            match sctp::recv_many(self.fd.get_ref(), buf, SLOT, &mut events) {
                Ok(got) => {
                    // A short batch: the socket is drained, wait for the
                    // next event rather than read again to learn it.
                    if got < buf.len() / SLOT {
                        guard.clear_ready();
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                }
                Err(e) => return Err(e),
            }
        }
        for e in events {
            match e {
                ManyEvent::Up { assoc } => f(Received::Up(assoc)),
                ManyEvent::Down { assoc } => f(Received::Down(assoc)),
                ManyEvent::Data {
                    assoc,
                    ppid,
                    range,
                    complete,
                } => {
                    if complete {
                        f(Received::Message(assoc, ppid, &buf[range]));
                    } else {
                        f(Received::TooLong(assoc));
                    }
                }
            }
        }
        Ok(())
    }

    /// A receive buffer for [`Endpoint::recv`].
    pub fn buffer() -> Vec<u8> {
        vec![0u8; RECV_BATCH * SLOT]
    }

    /// Sends `(association, message)` pairs with as few system calls as
    /// the socket allows, waiting for room as needed. A message to an
    /// association that is gone is skipped.
    pub async fn send(&self, msgs: &[(i32, &[u8])]) -> io::Result<()> {
        let ppid = self.ppid as u32;
        let out: Vec<Outgoing<'_>> = msgs
            .iter()
            .map(|(assoc, payload)| Outgoing {
                assoc: *assoc,
                ppid,
                payload,
                flags: 0,
            })
            .collect();
        let mut at = 0;
        while at < out.len() {
            match sctp::send_many(self.fd.get_ref(), &out[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    tokio::time::sleep(FULL_RETRY).await
                }
                // The first message's association is gone (its end comes
                // as a notification); the others still go.
                Err(_) => at += 1,
            }
        }
        Ok(())
    }

    /// Ends an association: gracefully after what is queued, or by an
    /// ABORT.
    pub fn close(&self, assoc: i32, abort: bool) -> io::Result<()> {
        sctp::close_many(self.fd.get_ref(), assoc, abort)
    }

    /// Starts an association to `to` on this endpoint, without waiting:
    /// it comes up as [`Received::Up`] (its peer addresses name `to`) or
    /// never. `EISCONN` or `EALREADY`: one to that endpoint exists (for
    /// instance the peer's own, crossing this one).
    pub fn connect(&self, to: SocketAddr) -> io::Result<()> {
        match self.fd.get_ref().connect(&to.into()) {
            Ok(()) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every address of an association's remote endpoint.
    pub fn peer_addresses(&self, assoc: i32) -> io::Result<Vec<IpAddr>> {
        sctp::assoc_peer_addresses(self.fd.get_ref(), assoc, super::MAX_PEER_ADDRESSES)
    }

    /// Every address of an association's remote endpoint, with its port
    /// (the primary first, as the kernel lists them).
    pub fn peer_socket_addrs(&self, assoc: i32) -> io::Result<Vec<SocketAddr>> {
        sctp::assoc_peer_socket_addrs(self.fd.get_ref(), assoc, super::MAX_PEER_ADDRESSES)
    }
}

/// How often a full send buffer is tried again.
const FULL_RETRY: std::time::Duration = std::time::Duration::from_millis(1);

/// Most messages one `sendmmsg` carries.
const SEND_BATCH: usize = 64;

/// One message (or the end of an association) on its way out.
struct Out {
    assoc: i32,
    bytes: Vec<u8>,
    flags: u16,
    /// The bytes its link has waiting here (given back once sent).
    waiting: Arc<AtomicUsize>,
}

/// What waits to be sent on an endpoint: this wake-up's messages
/// (`staged`), and what the socket did not take (`backlog`, sent by the
/// writer task as room comes).
#[derive(Default)]
struct Queues {
    staged: Vec<Out>,
    backlog: VecDeque<Out>,
}

/// The sending side of an [`Endpoint`], shared by its links: the owner
/// stages every link's messages during a wake-up and [`Sender::flush`]es
/// them once, so a wake-up's answers to many associations leave with one
/// `sendmmsg`; what the socket refuses waits, in order, for the writer
/// task ([`Sender::run_writer`]).
///
/// A kernel whose `net.sctp.sndbuf_policy` is 0 (the default) counts the
/// send buffer per socket, not per association: a peer that stops
/// reading holds its unacknowledged messages in the buffer every
/// association shares. Each link's waiting bytes are therefore bounded
/// ([`Limits::queue_bytes`]): past them the association is aborted, which
/// frees what the kernel held for it.
pub struct Sender {
    ep: Arc<Endpoint>,
    queues: Mutex<Queues>,
    wake: Notify,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("ep", &self.ep).finish()
    }
}

impl Sender {
    /// A sender for `ep`; run [`Sender::run_writer`] in a task beside it.
    pub fn new(ep: Arc<Endpoint>) -> Arc<Sender> {
        Arc::new(Sender {
            ep,
            queues: Mutex::new(Queues::default()),
            wake: Notify::new(),
        })
    }

    /// The endpoint it sends on.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.ep
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stage(&self, out: Out) {
        self.lock().staged.push(out);
    }

    /// Sends what was staged since the last call: at once as far as the
    /// socket takes it (nothing older waiting), the rest handed to the
    /// writer task.
    pub fn flush(&self) {
        let mut q = self.lock();
        if q.staged.is_empty() {
            return;
        }
        let mut staged = std::mem::take(&mut q.staged);
        let mut sent = 0;
        if q.backlog.is_empty() {
            sent = self.send_some(&staged);
        }
        if sent < staged.len() {
            for out in staged.drain(sent..) {
                q.backlog.push_back(out);
            }
            self.wake.notify_one();
        }
        staged.clear();
        // Its room is kept for the next wake-up.
        q.staged = staged;
    }

    /// Sends from the front of `outs` without waiting; returns how many
    /// are done (sent, or skipped: their association is gone).
    fn send_some(&self, outs: &[Out]) -> usize {
        let ppid = self.ep.ppid as u32;
        let mut at = 0;
        while at < outs.len() {
            let chunk: Vec<Outgoing<'_>> = outs[at..]
                .iter()
                .take(SEND_BATCH)
                .map(|o| Outgoing {
                    assoc: o.assoc,
                    ppid,
                    payload: &o.bytes,
                    flags: o.flags,
                })
                .collect();
            match sctp::send_many(self.ep.fd.get_ref(), &chunk) {
                Ok(0) => break,
                Ok(n) => {
                    for o in &outs[at..at + n] {
                        o.waiting.fetch_sub(o.bytes.len(), Ordering::Relaxed);
                    }
                    at += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // The first message's association is gone (its end comes
                // as a notification); the others still go.
                Err(_) => {
                    outs[at]
                        .waiting
                        .fetch_sub(outs[at].bytes.len(), Ordering::Relaxed);
                    at += 1;
                }
            }
        }
        at
    }

    /// Sends the backlog as the socket makes room; runs until the
    /// endpoint is dropped by everyone else.
    pub async fn run_writer(self: Arc<Self>) {
        loop {
            let batch: Vec<Out> = {
                let mut q = self.lock();
                let n = q.backlog.len().min(SEND_BATCH);
                q.backlog.drain(..n).collect()
            };
            if batch.is_empty() {
                if Arc::strong_count(&self) == 1 {
                    return;
                }
                self.wake.notified().await;
                continue;
            }
            let mut at = 0;
            while at < batch.len() {
                let done = self.send_some(&batch[at..]);
                if done == 0 {
                    // The socket is registered for readability only (see
                    // `sctp::register`): room is looked for on a timer.
                    tokio::time::sleep(FULL_RETRY).await;
                }
                at += done;
            }
        }
    }
}

/// The owner's end of one association of a one-to-many endpoint: the
/// same bounded queue as a [`super::link::Link`], its messages sent
/// through the endpoint's [`Sender`]. Dropping it ends the association
/// gracefully after what was sent (or by an ABORT, see [`ManyLink::abort`]),
/// unless the association is already gone.
pub struct ManyLink {
    assoc: i32,
    sender: Arc<Sender>,
    limits: Limits,
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
    /// Bytes staged or waiting in the sender.
    waiting: Arc<AtomicUsize>,
    active: bool,
    heard: bool,
    end: End,
    guard: Option<Box<dyn std::any::Any + Send>>,
}

/// How a dropped [`ManyLink`] ends its association.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Shutdown,
    Abort,
    Gone,
}

impl std::fmt::Debug for ManyLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManyLink")
            .field("assoc", &self.assoc)
            .finish_non_exhaustive()
    }
}

impl ManyLink {
    /// The link of association `assoc`, sending through `sender`.
    pub fn new(assoc: i32, sender: Arc<Sender>, limits: Limits) -> ManyLink {
        ManyLink {
            assoc,
            sender,
            limits,
            pending: Vec::new(),
            pending_bytes: 0,
            waiting: Arc::new(AtomicUsize::new(0)),
            active: true,
            heard: false,
            end: End::Shutdown,
            guard: None,
        }
    }

    /// The kernel's association identifier.
    pub fn assoc(&self) -> i32 {
        self.assoc
    }

    /// Keeps `guard` until the link is dropped.
    pub fn with_guard(mut self, guard: impl std::any::Any + Send) -> Self {
        self.guard = Some(Box::new(guard));
        self
    }

    /// Notes a message from the peer (for idle sweeps and the first
    /// message's deadline).
    pub fn heard(&mut self) {
        self.active = true;
        self.heard = true;
    }

    /// Whether the peer has sent anything at all.
    pub fn has_spoken(&self) -> bool {
        self.heard
    }

    /// Whether the peer sent anything since the last call (which clears
    /// the mark).
    pub fn take_activity(&mut self) -> bool {
        std::mem::replace(&mut self.active, false)
    }

    /// The association ended on its own: nothing more is sent on it.
    pub fn gone(&mut self) {
        self.end = End::Gone;
    }

    /// Ends the association by an ABORT when dropped (a peer that does
    /// not read).
    pub fn abort(&mut self) {
        if self.end != End::Gone {
            self.end = End::Abort;
        }
    }

    /// Adds one message to those the next [`ManyLink::flush`] stages,
    /// within the message and byte limits. `Ok(true)`: the first since
    /// the last flush.
    pub fn push(&mut self, bytes: Vec<u8>) -> Result<bool, Full> {
        if self.end == End::Gone {
            return Err(Full::Closed);
        }
        let len = bytes.len();
        if over_bytes(
            &self.waiting,
            self.pending_bytes,
            len,
            self.limits.queue_bytes,
        ) {
            return Err(Full::Bytes);
        }
        if self.pending.len() >= self.limits.queue {
            return Err(Full::Messages);
        }
        self.pending_bytes += len;
        self.pending.push(bytes);
        Ok(self.pending.len() == 1)
    }

    /// Stages what was pushed on the sender; the owner's
    /// [`Sender::flush`] sends it.
    pub fn flush(&mut self) -> Result<(), Full> {
        if self.end == End::Gone {
            self.pending.clear();
            self.pending_bytes = 0;
            return Err(Full::Closed);
        }
        self.waiting
            .fetch_add(self.pending_bytes, Ordering::Relaxed);
        self.pending_bytes = 0;
        for bytes in self.pending.drain(..) {
            self.sender.stage(Out {
                assoc: self.assoc,
                bytes,
                flags: 0,
                waiting: self.waiting.clone(),
            });
        }
        Ok(())
    }
}

impl Drop for ManyLink {
    fn drop(&mut self) {
        let flags = match self.end {
            End::Gone => return,
            End::Shutdown => {
                let _ = self.flush();
                sctp::SCTP_EOF
            }
            End::Abort => {
                // At once, not behind what waits for room: the peer that
                // does not read may be what fills the socket's buffer,
                // and an ABORT takes none of it.
                let _ = self.sender.ep.close(self.assoc, true);
                return;
            }
        };
        self.sender.stage(Out {
            assoc: self.assoc,
            bytes: Vec::new(),
            flags,
            waiting: self.waiting.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Carrier, connect};
    use std::time::Duration;

    /// A one-to-one peer's association reaches a one-to-many listener:
    /// it comes up, its messages arrive whole in one batch, the answers
    /// reach the peer, and a graceful close ends it on both sides.
    #[tokio::test]
    async fn a_one_to_one_peer_talks_to_a_one_to_many_endpoint() {
        if !sctp::kernel_supports_sctp() {
            eprintln!("no kernel SCTP here: test skipped");
            return;
        }
        let ep = Endpoint::bind(&["127.0.0.1:0".parse().unwrap()], Ppid::Asap).unwrap();
        let addr = ep.local_addr().unwrap();
        let mut c = connect(addr, Carrier::Sctp, Ppid::Asap).await.unwrap();
        let sent: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i, 0, 0, 8, i, i, i, i]).collect();
        for m in &sent {
            c.send(m).await.unwrap();
        }
        let mut buf = Endpoint::buffer();
        let (mut up, mut got) = (None, Vec::new());
        while got.len() < sent.len() {
            tokio::time::timeout(
                Duration::from_secs(5),
                ep.recv(&mut buf, |r| match r {
                    Received::Up(a) => up = Some(a),
                    Received::Message(a, ppid, m) => got.push((a, ppid, m.to_vec())),
                    other => panic!("{other:?}"),
                }),
            )
            .await
            .expect("messages in time")
            .unwrap();
        }
        let assoc = up.expect("the association came up");
        for ((a, ppid, m), s) in got.iter().zip(&sent) {
            assert_eq!((*a, *ppid, m), (assoc, Ppid::Asap as u32, s));
        }
        assert!(!ep.peer_addresses(assoc).unwrap().is_empty());
        let answers: Vec<(i32, &[u8])> = sent.iter().map(|m| (assoc, &m[..])).collect();
        ep.send(&answers).await.unwrap();
        for m in &sent {
            let r = tokio::time::timeout(Duration::from_secs(5), c.recv())
                .await
                .expect("answer in time")
                .unwrap();
            assert_eq!(r, Some(&m[..]));
        }
        ep.close(assoc, false).unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), c.recv())
            .await
            .expect("end in time")
            .unwrap();
        assert_eq!(end, None);
        let mut down = false;
        while !down {
            tokio::time::timeout(
                Duration::from_secs(5),
                ep.recv(&mut buf, |r| {
                    down |= matches!(r, Received::Down(a) if a == assoc)
                }),
            )
            .await
            .expect("the association ends in time")
            .unwrap();
        }
    }

    /// Links of two associations send through one sender: a wake-up's
    /// messages of both arrive in order; dropping a link ends its
    /// association gracefully after its messages, and an aborted link's
    /// association ends at once while the other keeps working.
    #[tokio::test]
    async fn links_send_through_the_sender_and_end_their_associations() {
        if !sctp::kernel_supports_sctp() {
            eprintln!("no kernel SCTP here: test skipped");
            return;
        }
        let ep = Endpoint::bind(&["127.0.0.1:0".parse().unwrap()], Ppid::Asap).unwrap();
        let addr = ep.local_addr().unwrap();
        let sender = Sender::new(Arc::new(ep));
        tokio::spawn(sender.clone().run_writer());
        let mut a = connect(addr, Carrier::Sctp, Ppid::Asap).await.unwrap();
        let mut b = connect(addr, Carrier::Sctp, Ppid::Asap).await.unwrap();
        a.send(&[1, 0, 0, 4]).await.unwrap();
        b.send(&[2, 0, 0, 4]).await.unwrap();
        // Learn which association is which from their first messages.
        let mut buf = Endpoint::buffer();
        let (mut ids, mut seen) = (Vec::new(), 0);
        while seen < 2 {
            tokio::time::timeout(
                Duration::from_secs(5),
                sender.endpoint().recv(&mut buf, |r| match r {
                    Received::Message(assoc, _, m) => {
                        ids.push((m[0], assoc));
                        seen += 1;
                    }
                    Received::Up(_) => {}
                    other => panic!("{other:?}"),
                }),
            )
            .await
            .expect("messages in time")
            .unwrap();
        }
        ids.sort();
        let limits = Limits::queue(64);
        let mut la = ManyLink::new(ids[0].1, sender.clone(), limits);
        let mut lb = ManyLink::new(ids[1].1, sender.clone(), limits);
        let m = |i: u8, n: u8| vec![i, n, 0, 4];
        for n in 0..20 {
            la.push(m(1, n)).unwrap();
            lb.push(m(2, n)).unwrap();
        }
        la.flush().unwrap();
        lb.flush().unwrap();
        sender.flush();
        for n in 0..20 {
            for (c, i) in [(&mut a, 1), (&mut b, 2)] {
                let r = tokio::time::timeout(Duration::from_secs(5), c.recv())
                    .await
                    .expect("message in time")
                    .unwrap();
                assert_eq!(r, Some(&m(i, n)[..]));
            }
        }
        // A graceful end after a last message.
        la.push(m(1, 99)).unwrap();
        drop(la);
        sender.flush();
        let r = tokio::time::timeout(Duration::from_secs(5), a.recv())
            .await
            .expect("the last message in time");
        assert_eq!(r.unwrap(), Some(&m(1, 99)[..]));
        let end = tokio::time::timeout(Duration::from_secs(5), a.recv())
            .await
            .expect("the graceful end in time");
        assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
        // An abort ends b at once.
        lb.abort();
        drop(lb);
        let end = tokio::time::timeout(Duration::from_secs(5), b.recv())
            .await
            .expect("the abort in time");
        assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    }
}
