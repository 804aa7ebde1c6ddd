//! The data channel between pool users and pool elements, and the pool
//! element's ASAP control endpoint.
//!
//! A data channel carries [`Frame`]s: a payload with a payload protocol
//! identifier; PPID 11 marks ASAP control (COOKIE, COOKIE_ECHO,
//! BUSINESS_CARD). Over every carrier the frames are written with the
//! `rserpool_proto::pool_user::channel` framing (PPID u32, length u32,
//! payload). Over kernel SCTP that framing rides inside the one-to-one
//! association's byte stream instead of using per-message SCTP PPIDs
//! (which need `sendmsg` with an `SCTP_SNDRCV` control message): this
//! project's PEs and PUs understand each other over both carriers, but
//! an SCTP data channel does not interoperate with RSPLIB's.
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
use rserpool_proto::pool_user::channel::{DEFAULT_MAX_FRAME, Frame, TcpDeframer};
use socket2::{Domain, Socket, Type};
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Accepts data channels from pool users.
#[derive(Debug)]
pub struct DataListener {
    inner: TcpListener,
    carrier: Carrier,
}

impl DataListener {
    pub fn bind(addr: SocketAddr, carrier: Carrier) -> io::Result<DataListener> {
        let sock = data_socket(carrier, &addr)?;
        sock.set_reuse_address(true)?;
        if addr.is_ipv6() {
            sock.set_only_v6(true)?;
        }
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        Ok(DataListener {
            inner: TcpListener::from_std(sock.into())?,
            carrier,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    pub async fn accept(&self) -> io::Result<(DataChannel, SocketAddr)> {
        let (stream, peer) = self.inner.accept().await?;
        if self.carrier == Carrier::Tcp {
            stream.set_nodelay(true)?;
        }
        Ok((DataChannel::new(stream), peer))
    }
}

/// Opens a data channel to a pool element.
pub async fn connect_data(remote: SocketAddr, carrier: Carrier) -> io::Result<DataChannel> {
    let sock = data_socket(carrier, &remote)?;
    let stream = connect_socket(sock, remote).await?;
    Ok(DataChannel::new(stream))
}

/// A socket for a data channel: over SCTP its messages carry PPID 0
/// (application data, not ASAP).
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
            s
        }
    };
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Both halves of a data channel.
#[derive(Debug)]
pub struct DataChannel {
    pub reader: DataReader,
    pub writer: DataWriter,
}

impl DataChannel {
    fn new(stream: TcpStream) -> DataChannel {
        let peer = stream.peer_addr().ok();
        let (r, w) = stream.into_split();
        DataChannel {
            reader: DataReader {
                inner: r,
                deframer: TcpDeframer::new(DEFAULT_MAX_FRAME),
                buf: vec![0; 16 * 1024],
                peer,
            },
            writer: DataWriter {
                inner: w,
                buf: Vec::new(),
            },
        }
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.reader.peer
    }
}

/// The receiving half of a data channel.
#[derive(Debug)]
pub struct DataReader {
    inner: OwnedReadHalf,
    deframer: TcpDeframer,
    buf: Vec<u8>,
    peer: Option<SocketAddr>,
}

impl DataReader {
    /// The next frame; `None` when the peer closed the channel cleanly.
    /// A framing error is final: the channel must be dropped.
    pub async fn recv(&mut self) -> io::Result<Option<Frame>> {
        loop {
            match self.deframer.next_frame() {
                Ok(Some(f)) => return Ok(Some(f)),
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            let n = self.inner.read(&mut self.buf).await?;
            if n == 0 {
                if self.deframer.pending() > 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "data channel closed in the middle of a frame",
                    ));
                }
                return Ok(None);
            }
            self.deframer.extend(&self.buf[..n]);
        }
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }
}

/// The sending half of a data channel.
#[derive(Debug)]
pub struct DataWriter {
    inner: OwnedWriteHalf,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl DataWriter {
    pub async fn send(&mut self, frame: &Frame) -> io::Result<()> {
        self.buf.clear();
        frame
            .encode_tcp(&mut self.buf)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.inner.write_all(&self.buf).await
    }

    /// Closes the sending direction; the peer reads end of stream.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.inner.shutdown().await
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
