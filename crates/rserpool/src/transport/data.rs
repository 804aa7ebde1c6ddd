//! The data channel between pool users and pool elements, and the pool
//! element's ASAP control endpoint.
//!
//! A data channel carries [`Frame`]s: a payload with a payload protocol
//! identifier; PPID 11 marks ASAP control (COOKIE, COOKIE_ECHO,
//! BUSINESS_CARD).
//! - Over kernel SCTP each frame is one SCTP message whose DATA chunks
//!   carry the frame's PPID, as RFC 5351 has it and as RSPLIB's pool
//!   elements and pool users send and expect: sent with `sendmsg` and an
//!   `SCTP_SNDRCV` control message, received with `recvmsg`, the PPID taken
//!   from the `SCTP_SNDRCV` the kernel attaches, and the parts of a long
//!   message put together until `MSG_EOR` ([`Reassembler`]). SCTP has no
//!   empty messages: a frame without payload is not sent.
//! - Over TCP, which has no PPIDs, the frames are written with the
//!   `rserpool_proto::data_channel` framing (PPID u32, length u32,
//!   payload).
//!
//! The control endpoint: a registrar that takes a PE over opens an ASAP
//! association to the address it learned from the PE's own ASAP
//! association (its source address and port). A PE therefore listens for
//! registrars on a port of its own and opens its registrar associations
//! *from* that port ([`connect_from`], `SO_REUSEPORT` on both sockets), so
//! the address a registrar learns is the one where the PE accepts.
//! Registrars' associations never arrive on the data listener, so raw
//! ASAP and framed data never have to be told apart by content.

use super::{Association, Carrier, Listener, Ppid, connect_socket, sctp};
use rserpool_proto::data_channel::{DEFAULT_MAX_FRAME, Frame, TcpDeframer};
use socket2::{Domain, SockRef, Socket, Type};
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsStream;
use tracing::debug;

/// Bytes asked of one `read`/`recvmsg`.
const READ_CHUNK: usize = 16 * 1024;

/// Accepts data channels from pool users.
#[derive(Debug)]
pub struct DataListener {
    inner: TcpListener,
    carrier: Carrier,
}

impl DataListener {
    /// Binds `addr` and listens for pool users' data channels.
    pub fn bind(addr: SocketAddr, carrier: Carrier) -> io::Result<DataListener> {
        let sock = data_socket(carrier, &addr)?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            // [::] listens dual-stack (IPv4 too), a given address only there.
            sock.set_only_v6(!addr.ip().is_unspecified())?;
        }
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        Ok(DataListener {
            inner: TcpListener::from_std(sock.into())?,
            carrier,
        })
    }

    /// The bound address (with the port chosen for port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The transport the channels run over.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// The next data channel a pool user opened, and its address.
    pub async fn accept(&self) -> io::Result<(DataChannel, SocketAddr)> {
        let (stream, peer) = self.accept_stream().await?;
        Ok((DataChannel::new(stream, self.carrier), peer))
    }

    /// The next connection as a socket (to start TLS on it).
    pub(crate) async fn accept_stream(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        match self.carrier {
            Carrier::Tcp => stream.set_nodelay(true)?,
            // Inherited from the listener already; set again in case a
            // kernel does not copy the subscription to accepted sockets.
            Carrier::Sctp => sctp::subscribe_data_io(&SockRef::from(&stream))?,
        }
        Ok((stream, peer))
    }
}

/// Opens a data channel to a pool element.
pub async fn connect_data(remote: SocketAddr, carrier: Carrier) -> io::Result<DataChannel> {
    let stream = connect_data_stream(remote, carrier).await?;
    Ok(DataChannel::new(stream, carrier))
}

/// The socket of a new data channel (to start TLS on it).
pub(crate) async fn connect_data_stream(
    remote: SocketAddr,
    carrier: Carrier,
) -> io::Result<TcpStream> {
    let sock = data_socket(carrier, &remote)?;
    connect_socket(sock, remote).await
}

/// A socket for a data channel: over SCTP its messages carry PPID 0 unless
/// a send names another, and received messages come with their PPID.
fn data_socket(carrier: Carrier, addr: &SocketAddr) -> io::Result<Socket> {
    let sock = match carrier {
        Carrier::Tcp => {
            let s = Socket::new(Domain::for_address(*addr), Type::STREAM, None)?;
            s.set_nodelay(true)?;
            s
        }
        Carrier::Sctp => {
            let s = sctp::socket(addr)?;
            sctp::configure(&s, 0)?;
            sctp::subscribe_data_io(&s)?;
            s
        }
    };
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Both halves of a data channel.
#[derive(Debug)]
pub struct DataChannel {
    /// Frames from the peer.
    pub reader: DataReader,
    /// Frames to the peer.
    pub writer: DataWriter,
}

impl DataChannel {
    fn new(stream: TcpStream, carrier: Carrier) -> DataChannel {
        let peer = stream.peer_addr().ok();
        let (reader, writer) = match carrier {
            Carrier::Tcp => {
                let (r, w) = stream.into_split();
                (
                    ReaderInner::Tcp {
                        half: r,
                        deframer: TcpDeframer::new(DEFAULT_MAX_FRAME),
                        buf: vec![0; READ_CHUNK],
                    },
                    WriterInner::Tcp {
                        half: w,
                        buf: Vec::new(),
                    },
                )
            }
            Carrier::Sctp => {
                // Both halves use the one socket: reads and writes wait for
                // their own readiness, so they can run in separate tasks.
                let stream = Arc::new(stream);
                (
                    ReaderInner::Sctp {
                        stream: Arc::clone(&stream),
                        message: Reassembler::new(DEFAULT_MAX_FRAME),
                        buf: vec![0; READ_CHUNK],
                    },
                    WriterInner::Sctp {
                        stream,
                        shut: false,
                    },
                )
            }
        };
        DataChannel {
            reader: DataReader {
                inner: reader,
                peer,
            },
            writer: DataWriter { inner: writer },
        }
    }

    /// A data channel over an established TLS session (TCP framing).
    pub(super) fn over_tls(stream: TlsStream<TcpStream>) -> DataChannel {
        let peer = stream.get_ref().0.peer_addr().ok();
        let (r, w) = tokio::io::split(stream);
        DataChannel {
            reader: DataReader {
                inner: ReaderInner::Tls {
                    half: r,
                    deframer: TcpDeframer::new(DEFAULT_MAX_FRAME),
                    buf: vec![0; READ_CHUNK],
                },
                peer,
            },
            writer: DataWriter {
                inner: WriterInner::Tls {
                    half: w,
                    buf: Vec::new(),
                },
            },
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.reader.peer
    }
}

/// The next frame of a byte stream in the TCP framing.
async fn recv_framed<R: AsyncRead + Unpin>(
    half: &mut R,
    deframer: &mut TcpDeframer,
    buf: &mut [u8],
) -> io::Result<Option<Frame>> {
    loop {
        match deframer.next_frame() {
            Ok(Some(f)) => return Ok(Some(f)),
            Ok(None) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        let n = half.read(buf).await?;
        if n == 0 {
            if deframer.pending() > 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "data channel closed in the middle of a frame",
                ));
            }
            return Ok(None);
        }
        deframer.extend(&buf[..n]);
    }
}

/// Puts an SCTP message together from the parts `recvmsg` returns.
#[derive(Debug)]
pub struct Reassembler {
    payload: Vec<u8>,
    ppid: Option<u32>,
    max: usize,
}

impl Reassembler {
    /// A reassembler of messages up to `max` bytes.
    pub fn new(max: usize) -> Reassembler {
        Reassembler {
            payload: Vec::new(),
            ppid: None,
            max,
        }
    }

    /// Bytes of an unfinished message.
    pub fn pending(&self) -> usize {
        self.payload.len()
    }

    /// Adds one part; the whole message once `end` (`MSG_EOR`) comes. A
    /// part without PPID, a PPID that changes within a message or a
    /// message longer than the maximum is an error, and final.
    pub fn push(&mut self, part: &[u8], ppid: Option<u32>, end: bool) -> io::Result<Option<Frame>> {
        let Some(ppid) = ppid else {
            return Err(invalid(
                "SCTP message without PPID (no SCTP_SNDRCV information)",
            ));
        };
        match self.ppid {
            None => self.ppid = Some(ppid),
            Some(p) if p == ppid => {}
            Some(p) => {
                return Err(invalid(format!(
                    "PPID changed from {p} to {ppid} within one SCTP message"
                )));
            }
        }
        if self.payload.len() + part.len() > self.max {
            return Err(invalid(format!(
                "SCTP message longer than {} bytes",
                self.max
            )));
        }
        self.payload.extend_from_slice(part);
        if !end {
            return Ok(None);
        }
        self.ppid = None;
        Ok(Some(Frame::new(ppid, std::mem::take(&mut self.payload))))
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

#[derive(Debug)]
enum ReaderInner {
    Tcp {
        half: OwnedReadHalf,
        deframer: TcpDeframer,
        buf: Vec<u8>,
    },
    Tls {
        half: tokio::io::ReadHalf<TlsStream<TcpStream>>,
        deframer: TcpDeframer,
        buf: Vec<u8>,
    },
    Sctp {
        stream: Arc<TcpStream>,
        message: Reassembler,
        buf: Vec<u8>,
    },
}

/// The receiving half of a data channel.
#[derive(Debug)]
pub struct DataReader {
    inner: ReaderInner,
    peer: Option<SocketAddr>,
}

impl DataReader {
    /// The next frame; `None` when the peer closed the channel cleanly.
    /// A framing error is final: the channel must be dropped.
    ///
    /// Cancel-safe: received bytes go into the deframer or reassembler
    /// without an await in between.
    pub async fn recv(&mut self) -> io::Result<Option<Frame>> {
        match &mut self.inner {
            ReaderInner::Tcp {
                half,
                deframer,
                buf,
            } => recv_framed(half, deframer, buf).await,
            ReaderInner::Tls {
                half,
                deframer,
                buf,
            } => recv_framed(half, deframer, buf).await,
            ReaderInner::Sctp {
                stream,
                message,
                buf,
            } => loop {
                super::sctp_readable(stream).await?;
                let part = match stream.try_io(Interest::READABLE, || {
                    sctp::recv_message_part(stream.as_ref(), buf)
                }) {
                    Ok(p) => p,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                };
                if part.len == 0 {
                    if message.pending() > 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "data channel closed in the middle of a message",
                        ));
                    }
                    return Ok(None);
                }
                if part.notification {
                    // None are subscribed to; skip any the kernel sends.
                    continue;
                }
                if let Some(f) = message.push(&buf[..part.len], part.ppid, part.end_of_message)? {
                    return Ok(Some(f));
                }
            },
        }
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
}

#[derive(Debug)]
enum WriterInner {
    Tcp {
        half: OwnedWriteHalf,
        /// Reused encoding buffer.
        buf: Vec<u8>,
    },
    Tls {
        half: tokio::io::WriteHalf<TlsStream<TcpStream>>,
        buf: Vec<u8>,
    },
    Sctp {
        stream: Arc<TcpStream>,
        shut: bool,
    },
}

/// The sending half of a data channel.
#[derive(Debug)]
pub struct DataWriter {
    inner: WriterInner,
}

impl DataWriter {
    /// Sends one frame (over SCTP one message with the frame's PPID).
    pub async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        match &mut self.inner {
            WriterInner::Tcp { half, buf } => {
                buf.clear();
                frame
                    .encode_tcp(buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                half.write_all(buf).await
            }
            WriterInner::Tls { half, buf } => {
                buf.clear();
                frame
                    .encode_tcp(buf)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                // A TLS record is sealed only when flushed.
                half.write_all(buf).await?;
                half.flush().await
            }
            WriterInner::Sctp { stream, .. } => {
                if frame.payload.is_empty() {
                    debug!(
                        ppid = frame.ppid,
                        "empty frame not sent: SCTP has no empty messages"
                    );
                    return Ok(());
                }
                loop {
                    stream.writable().await?;
                    match stream.try_io(Interest::WRITABLE, || {
                        sctp::send_message(stream.as_ref(), &frame.payload, frame.ppid)
                    }) {
                        Ok(n) if n == frame.payload.len() => return Ok(()),
                        Ok(n) => {
                            return Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                format!("SCTP sent {n} of {} bytes", frame.payload.len()),
                            ));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    /// Closes the sending direction; the peer reads end of stream.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        match &mut self.inner {
            WriterInner::Tcp { half, .. } => half.shutdown().await,
            WriterInner::Tls { half, .. } => half.shutdown().await,
            WriterInner::Sctp { stream, shut } => {
                *shut = true;
                SockRef::from(stream.as_ref()).shutdown(Shutdown::Write)
            }
        }
    }
}

impl Drop for DataWriter {
    /// As tokio's TCP write half does: dropping the writer closes the
    /// sending direction (an SCTP SHUTDOWN once the reader is done too).
    fn drop(&mut self) {
        if let WriterInner::Sctp {
            stream,
            shut: false,
        } = &self.inner
        {
            let _ = SockRef::from(stream.as_ref()).shutdown(Shutdown::Write);
        }
    }
}

/// Binds a pool element's ASAP control endpoint: a listener whose port
/// can be shared with the PE's outgoing registrar associations (see the
/// module docs).
pub fn bind_control(addr: SocketAddr, carrier: Carrier) -> io::Result<Listener> {
    Listener::bind_shared(addr, carrier, Ppid::Asap)
}

/// Opens an ASAP association to `remote` from the local address `local`
/// (a PE's control endpoint, bound with [`bind_control`]).
pub async fn connect_from(
    local: SocketAddr,
    remote: SocketAddr,
    carrier: Carrier,
) -> io::Result<Association> {
    super::connect_from(local, remote, carrier, Ppid::Asap).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_cross_a_tcp_data_channel() {
        let l = DataListener::bind("127.0.0.1:0".parse().unwrap(), Carrier::Tcp).unwrap();
        let addr = l.local_addr().unwrap();
        let (client, server) = tokio::join!(connect_data(addr, Carrier::Tcp), l.accept());
        let mut client = client.unwrap();
        let (mut server, _) = server.unwrap();
        client
            .writer
            .send(&Frame::new(7, b"hi".to_vec()))
            .await
            .unwrap();
        client
            .writer
            .send(&Frame::new(11, vec![0; 300]))
            .await
            .unwrap();
        assert_eq!(
            server.reader.recv().await.unwrap(),
            Some(Frame::new(7, b"hi".to_vec()))
        );
        assert_eq!(
            server.reader.recv().await.unwrap(),
            Some(Frame::new(11, vec![0; 300]))
        );
        client.writer.shutdown().await.unwrap();
        assert_eq!(server.reader.recv().await.unwrap(), None);
    }

    /// Over kernel SCTP (skipped where the kernel has none; the lab VM runs
    /// it): every frame is one SCTP message with its own PPID, long ones
    /// arrive in parts and are put together.
    #[tokio::test]
    async fn frames_cross_an_sctp_data_channel_with_their_ppids() {
        if !sctp::kernel_supports_sctp() {
            eprintln!("no kernel SCTP here: test skipped");
            return;
        }
        let l = DataListener::bind("127.0.0.1:0".parse().unwrap(), Carrier::Sctp).unwrap();
        let addr = l.local_addr().unwrap();
        let (client, server) = tokio::join!(connect_data(addr, Carrier::Sctp), l.accept());
        let mut client = client.unwrap();
        let (mut server, _) = server.unwrap();
        let long: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let frames = [
            Frame::new(7, b"hi".to_vec()),
            Frame::new(11, vec![0x0b, 0, 0, 4]),
            Frame::new(0, long.clone()),
            Frame::new(0xdead_beef, b"last".to_vec()),
        ];
        for f in &frames {
            client.writer.send(f).await.unwrap();
        }
        // Not sent at all: SCTP has no empty messages.
        client
            .writer
            .send(&Frame::new(3, Vec::new()))
            .await
            .unwrap();
        for f in &frames {
            assert_eq!(server.reader.recv().await.unwrap().as_ref(), Some(f));
        }
        server
            .writer
            .send(&Frame::new(0, long.clone()))
            .await
            .unwrap();
        assert_eq!(
            client.reader.recv().await.unwrap(),
            Some(Frame::new(0, long))
        );
        client.writer.shutdown().await.unwrap();
        assert_eq!(server.reader.recv().await.unwrap(), None);
    }

    /// A peer that sets its PPID per socket and writes plain messages (no
    /// framing) is understood: the PPID comes from the DATA chunks.
    #[tokio::test]
    async fn plain_sctp_messages_are_frames_with_the_chunks_ppid() {
        if !sctp::kernel_supports_sctp() {
            eprintln!("no kernel SCTP here: test skipped");
            return;
        }
        let l = DataListener::bind("127.0.0.1:0".parse().unwrap(), Carrier::Sctp).unwrap();
        let addr = l.local_addr().unwrap();
        let plain = std::thread::spawn(move || {
            use std::io::Write;
            let s = sctp::socket(&addr).unwrap();
            sctp::configure(&s, 42).unwrap();
            s.connect(&addr.into()).unwrap();
            let mut s = std::net::TcpStream::from(s);
            s.write_all(b"one message").unwrap();
            s
        });
        let (mut server, _) = l.accept().await.unwrap();
        assert_eq!(
            server.reader.recv().await.unwrap(),
            Some(Frame::new(42, b"one message".to_vec()))
        );
        drop(plain.join().unwrap());
        assert_eq!(server.reader.recv().await.unwrap(), None);
    }

    #[test]
    fn a_message_in_one_part_is_a_frame() {
        let mut r = Reassembler::new(100);
        assert_eq!(
            r.push(b"hello", Some(0), true).unwrap(),
            Some(Frame::new(0, b"hello".to_vec()))
        );
        assert_eq!(r.pending(), 0);
        assert_eq!(
            r.push(&[0x0b, 0, 0, 4], Some(11), true).unwrap(),
            Some(Frame::new(11, vec![0x0b, 0, 0, 4]))
        );
    }

    #[test]
    fn parts_are_joined_until_the_end_of_the_message() {
        let mut r = Reassembler::new(100);
        assert_eq!(r.push(b"ab", Some(7), false).unwrap(), None);
        assert_eq!(r.push(b"cd", Some(7), false).unwrap(), None);
        assert_eq!(r.pending(), 4);
        assert_eq!(
            r.push(b"e", Some(7), true).unwrap(),
            Some(Frame::new(7, b"abcde".to_vec()))
        );
        // The next message starts afresh, with its own PPID.
        assert_eq!(r.push(b"x", Some(11), false).unwrap(), None);
        assert_eq!(
            r.push(b"y", Some(11), true).unwrap(),
            Some(Frame::new(11, b"xy".to_vec()))
        );
    }

    #[test]
    fn bad_parts_are_errors() {
        let mut r = Reassembler::new(4);
        assert!(r.push(b"a", None, true).is_err(), "no PPID");
        let mut r = Reassembler::new(4);
        r.push(b"ab", Some(1), false).unwrap();
        assert!(r.push(b"c", Some(2), true).is_err(), "PPID changed");
        let mut r = Reassembler::new(4);
        r.push(b"abc", Some(1), false).unwrap();
        let e = r.push(b"de", Some(1), true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "too long");
        // Exactly the maximum is fine.
        let mut r = Reassembler::new(4);
        assert!(r.push(b"abcd", Some(1), true).unwrap().is_some());
    }

    #[tokio::test]
    async fn a_control_endpoint_shares_its_port_with_outgoing_associations() {
        let control = bind_control("127.0.0.1:0".parse().unwrap(), Carrier::Tcp).unwrap();
        let local = control.local_addrs().unwrap()[0];
        let registrar =
            Listener::bind(&["127.0.0.1:0".parse().unwrap()], Carrier::Tcp, Ppid::Asap).unwrap();
        let raddr = registrar.local_addrs().unwrap()[0];
        let (out, acc) = tokio::join!(connect_from(local, raddr, Carrier::Tcp), registrar.accept());
        let _out = out.unwrap();
        let (_, seen) = acc.unwrap();
        assert_eq!(
            seen, local,
            "the registrar sees the control endpoint as source"
        );
        // And the registrar can open an association back to that address.
        let (back, acc) = tokio::join!(
            super::super::connect(seen, Carrier::Tcp, Ppid::Asap),
            control.accept()
        );
        back.unwrap();
        acc.unwrap();
    }
}
