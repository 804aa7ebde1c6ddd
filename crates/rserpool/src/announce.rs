//! UDP multicast for ASAP Server Announce and ENRP Presence announces.
//!
//! Announces let PEs, PUs and registrars find registrars without
//! configuration. On loopback the time-to-live is 0, so an announce never
//! leaves the host: tests and the demo can use announces safely.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use tokio::net::UdpSocket;

/// RSPLIB's default group for ASAP Server Announces.
pub const ASAP_ANNOUNCE_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 0, 0, 50), 3863);
/// RSPLIB's default group for ENRP Presence announces.
pub const ENRP_ANNOUNCE_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 0, 0, 51), 9901);

/// Where announces go and on which interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulticastConfig {
    /// The group address and port announces are sent to.
    pub group: SocketAddrV4,
    /// The local interface address to send and join on.
    pub interface: Ipv4Addr,
    /// Hops; forced to 0 on loopback.
    pub ttl: u32,
}

impl MulticastConfig {
    /// `group` on `interface`, one hop (0 on loopback).
    pub fn new(group: SocketAddrV4, interface: Ipv4Addr) -> Self {
        MulticastConfig {
            group,
            interface,
            ttl: 1,
        }
    }

    fn effective_ttl(&self) -> u32 {
        if self.interface.is_loopback() {
            0
        } else {
            self.ttl
        }
    }
}

/// Sends announces to a multicast group.
#[derive(Debug)]
pub struct Announcer {
    socket: UdpSocket,
    group: SocketAddr,
}

impl Announcer {
    /// A socket that sends to the group from `cfg.interface` (and loops
    /// its announces back to listeners on this host).
    pub fn new(cfg: &MulticastConfig) -> io::Result<Announcer> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_multicast_if_v4(&cfg.interface)?;
        s.set_multicast_ttl_v4(cfg.effective_ttl())?;
        s.set_multicast_loop_v4(true)?;
        s.bind(&SocketAddr::from((cfg.interface, 0)).into())?;
        s.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(s.into())?;
        Ok(Announcer {
            socket,
            group: SocketAddr::V4(cfg.group),
        })
    }

    /// Sends one announce datagram to the group.
    pub async fn send(&self, bytes: &[u8]) -> io::Result<()> {
        self.socket.send_to(bytes, self.group).await.map(|_| ())
    }
}

/// Receives announces sent to a multicast group.
#[derive(Debug)]
pub struct AnnounceListener {
    socket: UdpSocket,
}

impl AnnounceListener {
    /// Joins the group on `cfg.interface`; other listeners on this host
    /// may share the port.
    pub fn new(cfg: &MulticastConfig) -> io::Result<AnnounceListener> {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_address(true)?;
        s.set_reuse_port(true)?;
        // Bound to the group address, so datagrams to other groups on the
        // same port are not delivered here.
        s.bind(&SocketAddr::V4(cfg.group).into())?;
        s.join_multicast_v4(cfg.group.ip(), &cfg.interface)?;
        s.set_nonblocking(true)?;
        Ok(AnnounceListener {
            socket: UdpSocket::from_std(s.into())?,
        })
    }

    /// The next datagram; the buffer must hold a whole announce.
    pub async fn recv<'b>(&self, buf: &'b mut [u8]) -> io::Result<(&'b [u8], SocketAddr)> {
        let (n, from) = self.socket.recv_from(buf).await?;
        Ok((&buf[..n], from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn announces_loop_back_on_the_loopback_interface() {
        // A port of our own so parallel tests and running daemons do not meet.
        let group = SocketAddrV4::new(Ipv4Addr::new(239, 0, 0, 50), 38_631);
        let cfg = MulticastConfig::new(group, Ipv4Addr::LOCALHOST);
        assert_eq!(cfg.effective_ttl(), 0);
        let rx = AnnounceListener::new(&cfg).unwrap();
        let tx = Announcer::new(&cfg).unwrap();
        tx.send(b"\x0a\x00\x00\x08\x00\x00\x00\x01").await.unwrap();
        let mut buf = [0u8; 64];
        let (got, from) =
            tokio::time::timeout(std::time::Duration::from_secs(2), rx.recv(&mut buf))
                .await
                .unwrap()
                .unwrap();
        assert_eq!(got, b"\x0a\x00\x00\x08\x00\x00\x00\x01");
        assert!(from.ip().is_loopback());
    }
}
