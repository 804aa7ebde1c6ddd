//! Associations between RSerPool components over TCP or kernel SCTP.
//!
//! Both carriers look the same from above: an [`Association`] sends and
//! receives whole ASAP or ENRP messages. Kernel SCTP is used where the
//! kernel has it ([`TransportMode::Auto`]); TCP works everywhere. A TCP
//! association can run over TLS ([`tls`]), started on it after connect or
//! accept.

pub mod data;
pub mod framing;
pub mod link;
pub mod many;
mod sctp;
mod stream;
pub mod tls;

use framing::{Deframer, FramingError};
use rserpool_proto::identity::Identity;
use socket2::{Domain, Socket, Type};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;
use stream::{ReadHalf, WriteHalf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest message accepted unless configured otherwise; a full Handle
/// Table Response block of 128 PEs fits comfortably.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 65535;

/// The transport the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TransportMode {
    /// Kernel SCTP if this kernel supports it, else TCP.
    #[default]
    Auto,
    /// Kernel SCTP, or an error where the kernel has none.
    Sctp,
    /// TCP (RFC 5351's TCP mapping, and TLS).
    Tcp,
}

impl FromStr for TransportMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TransportMode::Auto),
            "sctp" => Ok(TransportMode::Sctp),
            "tcp" => Ok(TransportMode::Tcp),
            _ => Err(format!(
                "unknown transport {s:?}: expected auto, sctp or tcp"
            )),
        }
    }
}

impl TransportMode {
    /// The carrier to use on this machine.
    pub fn resolve(self) -> io::Result<Carrier> {
        match self {
            TransportMode::Tcp => Ok(Carrier::Tcp),
            TransportMode::Sctp if sctp::kernel_supports_sctp() => Ok(Carrier::Sctp),
            TransportMode::Sctp => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this kernel has no SCTP support (is the sctp module loaded?)",
            )),
            TransportMode::Auto if sctp::kernel_supports_sctp() => Ok(Carrier::Sctp),
            TransportMode::Auto => Ok(Carrier::Tcp),
        }
    }
}

/// How a registrar listens over kernel SCTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SctpSockets {
    /// One-to-many where the kernel gives each association its own send
    /// buffer (`net.sctp.sndbuf_policy = 1`), else one-to-one: with one
    /// buffer for all (Linux's default), every chunk a peer acknowledges
    /// wakes the socket's waiters once per association, which an epoll
    /// loop always is, so the kernel's cost per message grows with the
    /// number of associations.
    #[default]
    Auto,
    /// One `SOCK_SEQPACKET` socket per listener for all its associations
    /// ([`many`]): no descriptor per association, and one system call
    /// receives or sends a batch of messages of many associations.
    OneToMany,
    /// One socket per association (`SOCK_STREAM`), as over TCP.
    OneToOne,
}

impl FromStr for SctpSockets {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(SctpSockets::Auto),
            "one-to-many" => Ok(SctpSockets::OneToMany),
            "one-to-one" => Ok(SctpSockets::OneToOne),
            _ => Err(format!(
                "unknown SCTP socket style {s:?}: expected auto, one-to-many or one-to-one"
            )),
        }
    }
}

impl SctpSockets {
    /// The style to use on this machine: `Auto` decided by the kernel's
    /// send buffer policy.
    pub fn resolve(self) -> SctpSockets {
        match self {
            SctpSockets::Auto if sctp::send_buffer_per_association() => SctpSockets::OneToMany,
            SctpSockets::Auto => SctpSockets::OneToOne,
            other => other,
        }
    }
}

impl fmt::Display for SctpSockets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SctpSockets::Auto => "auto",
            SctpSockets::OneToMany => "one-to-many",
            SctpSockets::OneToOne => "one-to-one",
        })
    }
}

/// Whether this kernel gives each association of a one-to-many SCTP
/// socket its own send buffer (see [`SctpSockets::Auto`]).
pub fn sctp_send_buffer_per_association() -> bool {
    sctp::send_buffer_per_association()
}

/// The transport protocol an association actually runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Carrier {
    /// TCP: messages framed by their own length field.
    Tcp,
    /// Kernel SCTP: one SCTP message per ASAP or ENRP message.
    Sctp,
}

impl fmt::Display for Carrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Carrier::Tcp => "tcp",
            Carrier::Sctp => "sctp",
        })
    }
}

/// Which RSerPool protocol an association carries: its SCTP payload
/// protocol identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ppid {
    /// ASAP (RFC 5352).
    Asap = 11,
    /// ENRP (RFC 5353).
    Enrp = 12,
}

fn new_socket(carrier: Carrier, addr: &SocketAddr, ppid: Ppid) -> io::Result<Socket> {
    let sock = match carrier {
        Carrier::Tcp => {
            let s = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            s.set_nodelay(true)?;
            s
        }
        Carrier::Sctp => {
            let s = sctp::socket(addr)?;
            sctp::configure(&s, ppid as u32)?;
            s
        }
    };
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Accepts associations on one or more local addresses.
#[derive(Debug)]
pub struct Listener {
    inner: Vec<TcpListener>,
    carrier: Carrier,
    max_message_size: usize,
}

impl Listener {
    /// Binds `addrs`. Over SCTP one socket is bound to all of them
    /// (multi-homing); over TCP each address gets its own socket.
    pub fn bind(addrs: &[SocketAddr], carrier: Carrier, ppid: Ppid) -> io::Result<Listener> {
        let Some(first) = addrs.first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to bind",
            ));
        };
        let mut inner = Vec::new();
        let groups: Vec<&[SocketAddr]> = match carrier {
            Carrier::Sctp => vec![addrs],
            Carrier::Tcp => addrs.chunks(1).collect(),
        };
        for group in groups {
            let primary = group.first().unwrap_or(first);
            let sock = new_socket(carrier, primary, ppid)?;
            sock.set_reuse_address(true)?;
            if primary.is_ipv6() {
                sock.set_only_v6(true)?;
            }
            sock.bind(&(*primary).into())?;
            if carrier == Carrier::Sctp {
                sctp::bind_extra(&sock, &group[1..])?;
            }
            sock.listen(1024)?;
            inner.push(TcpListener::from_std(sock.into())?);
        }
        Ok(Listener {
            inner,
            carrier,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        })
    }

    /// Binds one address with its port shared with outgoing associations
    /// ([`connect_from`]), so that they leave from where we listen. The
    /// unspecified IPv6 address (`[::]`) listens dual-stack: on IPv4 too.
    ///
    /// The port sharing (SO_REUSEPORT) would also let a second process
    /// listen on the same address; a listener already there is therefore
    /// detected first, by a bind without port sharing (which fails with
    /// `AddrInUse` against any listener on the address).
    pub fn bind_shared(addr: SocketAddr, carrier: Carrier, ppid: Ppid) -> io::Result<Listener> {
        if addr.port() != 0 {
            let probe = new_socket(carrier, &addr, ppid)?;
            probe.set_reuse_address(true)?;
            if addr.is_ipv6() {
                probe.set_only_v6(!addr.ip().is_unspecified())?;
            }
            probe.bind(&addr.into())?;
        }
        let sock = new_socket(carrier, &addr, ppid)?;
        sock.set_reuse_address(true)?;
        sock.set_reuse_port(true)?;
        if addr.is_ipv6() {
            sock.set_only_v6(!addr.ip().is_unspecified())?;
        }
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        Ok(Listener {
            inner: vec![TcpListener::from_std(sock.into())?],
            carrier,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
        })
    }

    /// Sets the largest message accepted on associations accepted from now.
    pub fn set_max_message_size(&mut self, max: usize) {
        self.max_message_size = max;
    }

    /// The transport the listener's associations run over.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// The bound addresses (with the ports the kernel chose for port 0).
    pub fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.inner.iter().map(TcpListener::local_addr).collect()
    }

    /// The next incoming association on any of the addresses.
    pub async fn accept(&self) -> io::Result<(Association, SocketAddr)> {
        let (stream, peer) = if let [only] = self.inner.as_slice() {
            only.accept().await?
        } else {
            let accepts = self.inner.iter().map(|l| Box::pin(l.accept()));
            futures_select_ok(accepts).await?
        };
        if self.carrier == Carrier::Tcp {
            stream.set_nodelay(true)?;
        }
        Ok((
            Association::new(stream, self.carrier, self.max_message_size),
            peer,
        ))
    }
}

/// Waits for the first of several accepts to finish.
async fn futures_select_ok<F>(futs: impl Iterator<Item = F>) -> io::Result<(TcpStream, SocketAddr)>
where
    F: std::future::Future<Output = io::Result<(TcpStream, SocketAddr)>> + Unpin,
{
    let mut futs: Vec<F> = futs.collect();
    std::future::poll_fn(move |cx| {
        for f in futs.iter_mut() {
            if let std::task::Poll::Ready(r) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(r);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Opens an association to `remote`.
pub async fn connect(remote: SocketAddr, carrier: Carrier, ppid: Ppid) -> io::Result<Association> {
    let sock = new_socket(carrier, &remote, ppid)?;
    let stream = connect_socket(sock, remote).await?;
    Ok(Association::new(stream, carrier, DEFAULT_MAX_MESSAGE_SIZE))
}

/// Opens an association to `remote` from `local`, an address a
/// [`Listener::bind_shared`] listener also holds: the peer then sees the
/// association come from the address where it can reach us.
pub async fn connect_from(
    local: SocketAddr,
    remote: SocketAddr,
    carrier: Carrier,
    ppid: Ppid,
) -> io::Result<Association> {
    // From a dual-stack endpoint ([::]) to an IPv4 peer: the IPv4-mapped
    // address, on a socket of the endpoint's family.
    let remote = match (local, remote) {
        (SocketAddr::V6(_), SocketAddr::V4(r)) => {
            SocketAddr::new(IpAddr::V6(r.ip().to_ipv6_mapped()), r.port())
        }
        _ => remote,
    };
    let sock = new_socket(carrier, &remote, ppid)?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    if local.is_ipv6() {
        sock.set_only_v6(!local.ip().is_unspecified())?;
    }
    sock.bind(&local.into())?;
    let stream = connect_socket(sock, remote).await?;
    Ok(Association::new(stream, carrier, DEFAULT_MAX_MESSAGE_SIZE))
}

/// Connects a non-blocking socket and waits until it is connected.
pub(crate) async fn connect_socket(sock: Socket, remote: SocketAddr) -> io::Result<TcpStream> {
    match sock.connect(&remote.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(sock.into())?;
    stream.writable().await?;
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    Ok(stream)
}

/// A bidirectional channel of whole ASAP or ENRP messages.
#[derive(Debug)]
pub struct Association {
    /// Messages from the peer.
    pub reader: AssocReader,
    /// Messages to the peer.
    pub writer: AssocWriter,
    /// Every address of a multi-homed remote endpoint (SCTP); empty over TCP.
    peer_addrs: Vec<IpAddr>,
    local: Option<SocketAddr>,
    /// Who the peer's certificate names (TLS).
    identity: Option<Identity>,
}

/// The most remote addresses of one association kept (RSPLIB's limit for a
/// transport parameter).
const MAX_PEER_ADDRESSES: usize = 128;

impl Association {
    fn new(stream: TcpStream, carrier: Carrier, max_message_size: usize) -> Association {
        let peer = stream.peer_addr().ok();
        let peer_addrs = match carrier {
            Carrier::Sctp => sctp::peer_addresses(&stream, MAX_PEER_ADDRESSES).unwrap_or_default(),
            Carrier::Tcp => Vec::new(),
        };
        let local = stream.local_addr().ok();
        let (r, w) = stream.into_split();
        Association {
            peer_addrs,
            local,
            identity: None,
            reader: AssocReader {
                inner: ReadHalf::Tcp(r),
                deframer: Deframer::new(max_message_size),
                carrier,
                peer,
                lost: false,
            },
            writer: AssocWriter {
                inner: WriteHalf::Tcp(w),
                carrier,
                peer,
            },
        }
    }

    /// An association over an established TLS session (TCP only).
    fn over_tls(
        stream: tokio_rustls::TlsStream<TcpStream>,
        max_message_size: usize,
        identity: Option<Identity>,
    ) -> Association {
        let tcp = stream.get_ref().0;
        let peer = tcp.peer_addr().ok();
        let local = tcp.local_addr().ok();
        let (r, w) = tokio::io::split(stream);
        Association {
            peer_addrs: Vec::new(),
            local,
            identity,
            reader: AssocReader {
                inner: ReadHalf::Tls(r),
                deframer: Deframer::new(max_message_size),
                carrier: Carrier::Tcp,
                peer,
                lost: false,
            },
            writer: AssocWriter {
                inner: WriteHalf::Tls(w),
                carrier: Carrier::Tcp,
                peer,
            },
        }
    }

    /// The TCP stream of a plain TCP association nothing was read from
    /// yet (to start TLS on it), with its message size limit.
    fn into_tcp_stream(self) -> io::Result<(TcpStream, usize)> {
        let max = self.reader.deframer.max_message_size();
        if self.reader.deframer.pending() > 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bytes were read before TLS started",
            ));
        }
        match (self.reader.inner, self.writer.inner, self.reader.carrier) {
            (ReadHalf::Tcp(r), WriteHalf::Tcp(w), Carrier::Tcp) => {
                Ok((r.reunite(w).map_err(io::Error::other)?, max))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS runs over plain TCP associations only",
            )),
        }
    }

    /// Who the peer's certificate names, over TLS with a client or server
    /// certificate; `None` over plain TCP and SCTP.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Whether the association runs over TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.reader.inner, ReadHalf::Tls(_))
    }

    /// The transport the association runs over.
    pub fn carrier(&self) -> Carrier {
        self.reader.carrier
    }

    /// The peer's (primary) address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.reader.peer
    }

    /// The local address the association leaves from.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.local
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no local address"))
    }

    /// All addresses of the remote endpoint where the transport knows more
    /// than one (SCTP multi-homing); empty otherwise.
    pub fn peer_addresses(&self) -> &[IpAddr] {
        &self.peer_addrs
    }

    /// Sends one whole message.
    pub async fn send(&mut self, message: &[u8]) -> io::Result<()> {
        self.writer.send(message).await
    }

    /// The next whole message; `None` once the peer closed (see [`AssocReader::recv`]).
    pub async fn recv(&mut self) -> io::Result<Option<&[u8]>> {
        self.reader.recv().await
    }
}

/// The receiving half of an association.
#[derive(Debug)]
pub struct AssocReader {
    inner: ReadHalf,
    deframer: Deframer,
    carrier: Carrier,
    peer: Option<SocketAddr>,
    /// The SCTP association was lost (its notification is read once).
    lost: bool,
}

impl AssocReader {
    /// The next message; `None` when the peer closed the association
    /// cleanly. A framing error means the stream cannot be resynchronised:
    /// the caller must drop (abort) the association.
    ///
    /// Cancel-safe: bytes move into the deframer's spare capacity only
    /// when a read completes, so a `recv` dropped by a timeout or `select!`
    /// loses nothing and leaves no reserved space behind (which would be
    /// read later as zero-filled message bytes).
    ///
    /// Over TCP one system call per message: a read that leaves spare room
    /// tells tokio the socket is drained, so it waits for the next
    /// readiness event instead of trying another read that would fail.
    /// Over SCTP a read returns at most one message, so a short read says
    /// nothing about what else is queued: the socket is read until it
    /// would block, or a queued message would wait for the next packet.
    pub async fn recv(&mut self) -> io::Result<Option<&[u8]>> {
        self.recv_within(None).await
    }

    /// As [`AssocReader::recv`], but a message whose first bytes have
    /// arrived must be complete within `partial`: a peer that starts a
    /// message and stalls (a slow-loris) gets a `TimedOut` error.
    pub async fn recv_within(&mut self, partial: Option<Duration>) -> io::Result<Option<&[u8]>> {
        let mut deadline = partial
            .filter(|_| self.deframer.pending() > 0)
            .map(|p| tokio::time::Instant::now() + p);
        loop {
            // Two-phase borrow: check for a complete message, else read more.
            match self.deframer.peek() {
                Ok(Some(_)) => break,
                Ok(None) => {}
                Err(e) => return Err(framing_error(e)),
            }
            if deadline.is_none() && self.deframer.pending() > 0 {
                deadline = partial.map(|p| tokio::time::Instant::now() + p);
            }
            let read = self.read_some();
            let n = match deadline {
                None => read.await?,
                Some(d) => tokio::time::timeout_at(d, read).await.map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        "a message was started but not completed in time",
                    )
                })??,
            };
            let Some(n) = n else {
                continue;
            };
            if n == 0 {
                if self.deframer.pending() > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "association closed in the middle of a message",
                    ));
                }
                return Ok(None);
            }
        }
        self.deframer.next_message().map_err(framing_error)
    }

    /// One read into the deframer; `None` when an SCTP socket turned out
    /// drained (wait for the next readiness event).
    async fn read_some(&mut self) -> io::Result<Option<usize>> {
        const CHUNK: usize = 16 * 1024;
        /// Messages one SCTP read takes at most (2 KiB each; a longer
        /// one continues in the next slots).
        const SCTP_SLOTS: usize = 8;
        match (&mut self.inner, self.carrier) {
            (ReadHalf::Tcp(r), Carrier::Tcp) => {
                r.read_buf(self.deframer.buffer(CHUNK)).await.map(Some)
            }
            (ReadHalf::Tcp(_), Carrier::Sctp) if self.lost => Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the association was aborted",
            )),
            (ReadHalf::Tcp(r), Carrier::Sctp) => {
                let stream: &TcpStream = r.as_ref();
                sctp_readable(stream).await?;
                let buf = self.deframer.buffer(CHUNK);
                let mut got = None;
                // One recvmmsg takes every queued message. A batch shorter
                // than asked for shows the socket drained: the closure then
                // says WouldBlock, so tokio waits for the next readiness
                // event instead of a read that would find nothing (the
                // closed states it keeps, so an end is still seen).
                let r = stream.try_io(tokio::io::Interest::READABLE, || {
                    let b = sctp::recv_batch(stream, buf, SCTP_SLOTS, CHUNK / SCTP_SLOTS)?;
                    got = Some(b);
                    if b.drained {
                        Err(io::ErrorKind::WouldBlock.into())
                    } else {
                        Ok(())
                    }
                });
                if got.is_some_and(|b| b.lost) {
                    self.lost = true;
                }
                match (got, r) {
                    (Some(b), _) if b.len > 0 => Ok(Some(b.len)),
                    (Some(b), _) if b.lost => Err(io::Error::new(
                        io::ErrorKind::ConnectionReset,
                        "the association was aborted",
                    )),
                    (Some(b), _) if b.end => Ok(Some(0)),
                    (_, Err(e)) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
                    _ => Ok(None),
                }
            }
            (ReadHalf::Tls(r), _) => r.read_buf(self.deframer.buffer(CHUNK)).await.map(Some),
        }
    }

    /// The transport the association runs over.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }
}

/// Waits until a one-to-one SCTP socket is readable, or fails with its
/// error: an ABORT from the peer shows only as an error event, never as
/// readable. (`try_io` must be given one interest: tokio masks a combined
/// one to nothing, and never runs the closure.)
pub(crate) async fn sctp_readable(stream: &TcpStream) -> io::Result<()> {
    use tokio::io::Interest;
    let ev = stream.ready(Interest::READABLE | Interest::ERROR).await?;
    if ev.is_error() {
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        // A stale error event: clear it, or the wait returns at once again.
        let _ = stream.try_io(Interest::ERROR, || {
            Err::<(), io::Error>(io::ErrorKind::WouldBlock.into())
        });
    }
    Ok(())
}

fn framing_error(e: FramingError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The sending half of an association.
#[derive(Debug)]
pub struct AssocWriter {
    inner: WriteHalf,
    carrier: Carrier,
    peer: Option<SocketAddr>,
}

impl AssocWriter {
    /// Sends one message; over SCTP one write is one SCTP user message.
    pub async fn send(&mut self, message: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            WriteHalf::Tcp(w) => w.write_all(message).await,
            WriteHalf::Tls(w) => {
                // A TLS record is sealed only when flushed.
                w.write_all(message).await?;
                w.flush().await
            }
        }
    }

    /// The peer's (primary) address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The transport the association runs over.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// Closes the sending direction; the peer reads end of stream.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.inner.shutdown().await
    }

    /// Whether the writer is a plain socket (TCP or kernel SCTP), which
    /// [`AssocWriter::try_write_messages`] and
    /// [`AssocWriter::write_messages`] can write through a shared
    /// reference; a TLS session needs [`AssocWriter::send`].
    pub fn is_plain(&self) -> bool {
        matches!(self.inner, WriteHalf::Tcp(_))
    }

    /// Writes what the socket takes now of `msgs`, the first from byte
    /// `offset` on, without waiting: over TCP one vectored write of all of
    /// them; over SCTP one write per message (one write is one SCTP
    /// message), until the socket would block. A short write is not
    /// retried (the next would find the send buffer full).
    pub fn try_write_messages(&self, msgs: &[Vec<u8>], offset: usize) -> io::Result<Written> {
        let WriteHalf::Tcp(w) = &self.inner else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS writes need exclusive access",
            ));
        };
        let mut done = Written {
            messages: 0,
            offset,
        };
        match self.carrier {
            Carrier::Tcp => {
                let count = msgs.len().min(MAX_IOVECS);
                let mut slices = [io::IoSlice::new(&[]); MAX_IOVECS];
                for (i, m) in msgs[..count].iter().enumerate() {
                    let from = if i == 0 { offset.min(m.len()) } else { 0 };
                    slices[i] = io::IoSlice::new(&m[from..]);
                }
                let slices = &slices[..count];
                // One message (the common case under load) goes by plain
                // write: the kernel's vectored path costs more per call.
                let wrote = match slices {
                    [one] => w.try_write(one),
                    _ => w.try_write_vectored(slices),
                };
                let mut n = match wrote {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(done),
                    Err(e) => return Err(e),
                };
                for s in slices {
                    if n < s.len() {
                        done.offset += n;
                        break;
                    }
                    n -= s.len();
                    done.messages += 1;
                    done.offset = 0;
                }
            }
            Carrier::Sctp => {
                for m in msgs {
                    match w.try_write(m) {
                        Ok(_) => done.messages += 1,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(done)
    }

    /// Writes all of `msgs` (the first from byte `offset` on), waiting
    /// for room in the send buffer as needed; a plain socket only.
    pub async fn write_messages(&self, msgs: &[Vec<u8>], offset: usize) -> io::Result<()> {
        let WriteHalf::Tcp(w) = &self.inner else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "TLS writes need exclusive access",
            ));
        };
        let mut at = Written {
            messages: 0,
            offset,
        };
        while at.messages < msgs.len() {
            let step = self.try_write_messages(&msgs[at.messages..], at.offset)?;
            if step.messages == 0 && step.offset == at.offset {
                // Nothing went: wait until the socket takes more.
                w.writable().await?;
                continue;
            }
            at = Written {
                messages: at.messages + step.messages,
                offset: step.offset,
            };
        }
        Ok(())
    }
}

/// Most buffers given to one vectored write (Linux's `IOV_MAX` is 1024).
const MAX_IOVECS: usize = 64;

/// How far a write without waiting got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Messages written whole.
    pub messages: usize,
    /// Bytes written of the message after them (TCP only).
    pub offset: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Every style reads back from its own spelling; an unknown one is
    /// refused naming the choices; an explicit style is kept whatever the
    /// kernel's policy, and `auto` becomes one of the two.
    #[test]
    fn sctp_socket_styles_parse_print_and_resolve() {
        for style in [
            SctpSockets::Auto,
            SctpSockets::OneToMany,
            SctpSockets::OneToOne,
        ] {
            assert_eq!(style.to_string().parse::<SctpSockets>(), Ok(style));
        }
        let e = "many".parse::<SctpSockets>().unwrap_err();
        assert!(e.contains("auto, one-to-many or one-to-one"), "{e}");
        assert_eq!(SctpSockets::OneToOne.resolve(), SctpSockets::OneToOne);
        assert_eq!(SctpSockets::OneToMany.resolve(), SctpSockets::OneToMany);
        let auto = SctpSockets::Auto.resolve();
        let expected = if sctp_send_buffer_per_association() {
            SctpSockets::OneToMany
        } else {
            SctpSockets::OneToOne
        };
        assert_eq!(auto, expected);
    }

    async fn pair() -> (Association, Association) {
        pair_over(Carrier::Tcp).await
    }

    async fn pair_over(carrier: Carrier) -> (Association, Association) {
        let l = Listener::bind(&["127.0.0.1:0".parse().unwrap()], carrier, Ppid::Asap).unwrap();
        let addr = l.local_addrs().unwrap()[0];
        let c = connect(addr, carrier, Ppid::Asap).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    /// Messages queued together are all received though nothing follows
    /// them: over SCTP a read returns one message, so a short read must
    /// not be taken as a drained socket. Over TCP here; over kernel SCTP
    /// where the kernel has it (the lab VM runs it).
    #[tokio::test]
    async fn messages_sent_back_to_back_all_arrive() {
        let mut carriers = vec![Carrier::Tcp];
        if sctp::kernel_supports_sctp() {
            carriers.push(Carrier::Sctp);
        } else {
            eprintln!("no kernel SCTP here: test skipped for SCTP");
        }
        for carrier in carriers {
            let (mut c, mut s) = pair_over(carrier).await;
            let messages: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i, 0, 0, 8, i, i, i, i]).collect();
            for m in &messages {
                c.send(m).await.unwrap();
            }
            // Let every message reach the receiver's queue before reading.
            tokio::time::sleep(Duration::from_millis(50)).await;
            for m in &messages {
                let got = tokio::time::timeout(Duration::from_secs(2), s.recv())
                    .await
                    .unwrap_or_else(|_| panic!("{carrier}: message {} stuck", m[0]))
                    .unwrap();
                assert_eq!(got, Some(&m[..]), "{carrier}");
            }
        }
    }

    async fn times_out(a: &mut Association) -> bool {
        tokio::time::timeout(Duration::from_millis(20), a.recv())
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_cancelled_recv_loses_nothing() {
        let (mut c, mut s) = pair().await;
        for _ in 0..3 {
            assert!(times_out(&mut s).await);
        }
        let m = [1u8, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef];
        c.send(&m).await.unwrap();
        assert_eq!(s.recv().await.unwrap(), Some(&m[..]));
    }

    #[tokio::test]
    async fn a_recv_cancelled_in_mid_message_resumes_it() {
        let (mut c, mut s) = pair().await;
        let m = [2u8, 0, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8];
        c.writer.inner.write_all(&m[..6]).await.unwrap();
        assert!(times_out(&mut s).await);
        c.writer.inner.write_all(&m[6..]).await.unwrap();
        assert_eq!(s.recv().await.unwrap(), Some(&m[..]));
        c.writer.shutdown().await.unwrap();
        assert_eq!(s.recv().await.unwrap(), None);
    }
}
