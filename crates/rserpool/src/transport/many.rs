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
use super::sctp::{self, ManyEvent, Outgoing};
use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::io::unix::AsyncFd;

/// Messages and notifications one receive takes at most.
pub const RECV_BATCH: usize = 16;
/// Bytes of one receive slot: the largest ASAP or ENRP message (its length
/// field is 16 bits), so that every message arrives whole.
pub const SLOT: usize = 1 << 16;

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
    pub async fn recv(&self, buf: &mut [u8], mut f: impl FnMut(Received<'_>)) -> io::Result<()> {
        let mut events = Vec::with_capacity(RECV_BATCH);
        loop {
            let mut guard = self.fd.readable().await?;
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
            })
            .collect();
        let mut at = 0;
        while at < out.len() {
            let mut guard = self.fd.writable().await?;
            match sctp::send_many(self.fd.get_ref(), &out[at..]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
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

    /// Every address of an association's remote endpoint.
    pub fn peer_addresses(&self, assoc: i32) -> io::Result<Vec<IpAddr>> {
        sctp::assoc_peer_addresses(self.fd.get_ref(), assoc, super::MAX_PEER_ADDRESSES)
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
}
