//! The registrar's one-to-many SCTP endpoints (`--sctp-sockets
//! one-to-many`): one socket each for ASAP and ENRP carries every
//! association, so a registrar needs no file per PE or peer, and one system
//! call takes (or sends) the messages of many associations.
//!
//! The registrar task reads the endpoints itself, a batch per receive;
//! it keeps the kernel's association identifiers apart
//! from the state machine's, applies the same limits as to an association
//! of its own socket (association count, per-host quota, first message in
//! time), and sends through the endpoint's [`many::Sender`] once per
//! wake-up. Associations to peers are opened on the ENRP endpoint itself,
//! so they leave from the ENRP port as peers expect.

use super::{CONNECT_TIMEOUT, Driver, FastMap};
use crate::transport::link::{AnyLink, Limits};
use crate::transport::many::{self, ManyLink};
use rserpool_proto::Time;
use rserpool_proto::handlespace::AssocId;
use rserpool_proto::registrar::{ConnId, refusal};
use rserpool_proto::wire::Protocol;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// One event of a one-to-many endpoint, keyed by the kernel's association
/// identifier.
pub(super) enum ManyInput {
    /// An association came up, from these remote addresses (primary
    /// first; empty if the kernel no longer knew them).
    Up(i32, Vec<SocketAddr>),
    Message(i32, Vec<u8>),
    /// A message longer than any ASAP or ENRP message.
    TooLong(i32),
    Down(i32),
}

/// The receive buffer of an endpoint (empty where there is none).
pub(super) fn buffer(used: bool) -> Vec<u8> {
    if used {
        many::Endpoint::buffer()
    } else {
        Vec::new()
    }
}

/// What the next receive of `ep` takes, once it has something; never,
/// without an endpoint. Cancel-safe: the receive itself does not wait.
pub(super) async fn receive(
    ep: Option<&many::Endpoint>,
    buf: &mut [u8],
    protocol: Protocol,
) -> Vec<ManyInput> {
    let Some(ep) = ep else {
        return std::future::pending().await;
    };
    let mut batch = Vec::new();
    let r = ep
        .recv(buf, |r| {
            batch.push(match r {
                many::Received::Up(a) => ManyInput::Up(a, Vec::new()),
                many::Received::Message(a, _ppid, m) => ManyInput::Message(a, m.to_vec()),
                many::Received::TooLong(a) => ManyInput::TooLong(a),
                many::Received::Down(a) => ManyInput::Down(a),
            })
        })
        .await;
    if let Err(e) = r {
        warn!("{protocol:?} endpoint: receive failed: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in &mut batch {
        if let ManyInput::Up(a, addrs) = i {
            *addrs = ep.peer_socket_addrs(*a).unwrap_or_default();
        }
    }
    batch
}

/// An association of either protocol, by the state machine's identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Asap(AssocId),
    Enrp(ConnId),
}

/// What the registrar task keeps of its one-to-many endpoints.
#[derive(Default)]
pub(super) struct Endpoints {
    /// The sending sides (and through them the sockets).
    pub asap: Option<Arc<many::Sender>>,
    pub enrp: Option<Arc<many::Sender>>,
    asap_ids: FastMap<i32, AssocId>,
    enrp_ids: FastMap<i32, ConnId>,
    /// Associations to peers being opened, by the address asked for.
    connecting: HashMap<SocketAddr, ConnId>,
    /// Accepted associations by the deadline of their first message,
    /// oldest first (one timeout for all keeps them in order).
    first_due: VecDeque<(Time, Key)>,
    /// Associations to peers being opened, by their deadline.
    connect_due: VecDeque<(Time, ConnId, SocketAddr)>,
}

impl Endpoints {
    /// The state of these endpoints (none: every association has a
    /// socket of its own).
    pub fn new(asap: Option<Arc<many::Sender>>, enrp: Option<Arc<many::Sender>>) -> Self {
        Endpoints {
            asap,
            enrp,
            ..Default::default()
        }
    }

    /// Sends what the links staged.
    pub fn flush(&self) {
        for s in [&self.asap, &self.enrp].into_iter().flatten() {
            s.flush();
        }
    }

    /// The earliest deadline of a first message or a connection attempt.
    pub fn deadline(&self) -> Option<Time> {
        let a = self.first_due.front().map(|&(t, _)| t);
        let b = self.connect_due.front().map(|&(t, _, _)| t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets the kernel identifier of a link being removed.
    pub fn forget(&mut self, link: &AnyLink, protocol: Protocol) {
        if let AnyLink::Many(l) = link {
            match protocol {
                Protocol::Asap => {
                    self.asap_ids.remove(&l.assoc());
                }
                Protocol::Enrp => {
                    self.enrp_ids.remove(&l.assoc());
                }
            }
        }
    }
}

/// An association's primary remote address (unspecified if the kernel no
/// longer knew any).
fn primary(addrs: &[SocketAddr]) -> SocketAddr {
    addrs
        .first()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

fn after(now: Time, d: Duration) -> Time {
    Time::from_micros(
        now.as_micros()
            .saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
    )
}

impl Driver {
    /// Opens an association to peer `to` on the ENRP endpoint: it comes
    /// up as an [`ManyInput::Up`] from that address, or the attempt times
    /// out.
    pub(super) fn connect_enrp_many(&mut self, conn: ConnId, to: SocketAddr, now: Time) {
        let Some(sender) = &self.many.enrp else {
            return;
        };
        match sender.endpoint().connect(to) {
            Ok(()) => {
                // One attempt per address: an older one is given up.
                if let Some(old) = self.many.connecting.insert(to, conn) {
                    self.registrar.enrp_closed(now, old);
                }
                self.many
                    .connect_due
                    .push_back((after(now, CONNECT_TIMEOUT), conn, to));
            }
            Err(e) => {
                // "Already connected": the peer's association to us
                // crossed ours; it serves (the state machine keeps one).
                if e.raw_os_error() == Some(libc::EISCONN)
                    || e.raw_os_error() == Some(libc::EALREADY)
                {
                    debug!(conn = conn.0, %to, "an association to the peer exists already");
                } else {
                    self.unreachable(to, conn, &e);
                }
                self.registrar.enrp_closed(now, conn);
            }
        }
    }

    fn unreachable(&mut self, to: SocketAddr, conn: ConnId, e: &io::Error) {
        if self.unreachable_peers.insert(to) {
            info!(peer = %to, "cannot reach peer registrar: {e} (retrying)");
        } else {
            debug!(conn = conn.0, "ENRP connect failed: {e}");
        }
    }

    /// An event of a one-to-many endpoint.
    pub(super) fn many_input(&mut self, protocol: Protocol, input: ManyInput, now: Time) {
        match input {
            ManyInput::Up(assoc, addrs) => {
                // A restarted association (the peer restarted): the old
                // one is gone.
                self.many_down(protocol, assoc, now);
                match protocol {
                    Protocol::Asap => self.many_asap_up(assoc, &addrs, now),
                    Protocol::Enrp => self.many_enrp_up(assoc, &addrs, now),
                }
            }
            ManyInput::Message(assoc, bytes) => match protocol {
                Protocol::Asap => {
                    let Some(&id) = self.many.asap_ids.get(&assoc) else {
                        return;
                    };
                    if let Some(AnyLink::Many(l)) = self.asap_links.get_mut(&id) {
                        l.heard();
                        self.asap_received(now, id, &bytes);
                    }
                }
                Protocol::Enrp => {
                    let Some(&conn) = self.many.enrp_ids.get(&assoc) else {
                        return;
                    };
                    if let Some(AnyLink::Many(l)) = self.enrp_links.get_mut(&conn) {
                        l.heard();
                        self.registrar.enrp_received(now, conn, &bytes);
                    }
                }
            },
            ManyInput::TooLong(assoc) => {
                warn!(
                    ?protocol,
                    assoc, "message longer than any ASAP or ENRP message: aborting"
                );
                self.many_end(protocol, assoc, true, now);
            }
            ManyInput::Down(assoc) => self.many_down(protocol, assoc, now),
        }
    }

    fn many_asap_up(&mut self, assoc: i32, addrs: &[SocketAddr], now: Time) {
        let Some(sender) = self.many.asap.clone() else {
            return;
        };
        let remote = primary(addrs);
        let link = ManyLink::new(assoc, sender, self.asap_limits);
        let Some(link) = self.admit(link, remote, Protocol::Asap) else {
            return;
        };
        let id = self.registrar.asap_accepted(now, remote);
        if addrs.len() > 1 {
            let ips: Vec<std::net::IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            self.registrar.asap_remote_addresses(id, &ips);
        }
        debug!(assoc = id, %remote, "ASAP association up");
        self.many.asap_ids.insert(assoc, id);
        self.asap_links.insert(id, AnyLink::Many(link));
        self.many
            .first_due
            .push_back((after(now, self.handshake_timeout), Key::Asap(id)));
    }

    fn many_enrp_up(&mut self, assoc: i32, addrs: &[SocketAddr], now: Time) {
        let Some(sender) = self.many.enrp.clone() else {
            return;
        };
        let remote = primary(addrs);
        // One of ours: the peer's address is one we connected to.
        let ours = addrs
            .iter()
            .find_map(|a| self.many.connecting.remove(a).map(|c| (*a, c)));
        if let Some((to, conn)) = ours {
            if self.unreachable_peers.remove(&to) {
                info!(peer = %to, "peer registrar reachable again");
            }
            let limits = Limits {
                first_message: None,
                ..self.enrp_limits
            };
            self.many.enrp_ids.insert(assoc, conn);
            self.enrp_links
                .insert(conn, AnyLink::Many(ManyLink::new(assoc, sender, limits)));
            self.registrar.enrp_connected(now, conn);
            return;
        }
        let link = ManyLink::new(assoc, sender, self.enrp_limits);
        let Some(link) = self.admit(link, remote, Protocol::Enrp) else {
            return;
        };
        let conn = self.registrar.enrp_accepted(now, remote);
        debug!(conn = conn.0, %remote, "ENRP association accepted");
        self.many.enrp_ids.insert(assoc, conn);
        self.enrp_links.insert(conn, AnyLink::Many(link));
        self.many
            .first_due
            .push_back((after(now, self.handshake_timeout), Key::Enrp(conn)));
    }

    /// The association limits: the link with its host's place, or `None`
    /// (refused: answered with Lack of Resources and closed).
    fn admit(
        &mut self,
        link: ManyLink,
        remote: SocketAddr,
        protocol: Protocol,
    ) -> Option<ManyLink> {
        match self.admission(Some(remote), protocol) {
            Some(slot) => Some(link.with_guard(slot)),
            None => {
                refuse(link, protocol);
                None
            }
        }
    }

    /// The end of a one-to-many association, if it is known.
    fn many_down(&mut self, protocol: Protocol, assoc: i32, now: Time) {
        self.many_end(protocol, assoc, false, now);
    }

    /// Drops a one-to-many association's link and tells the state
    /// machine: aborted by us, or gone on its own.
    fn many_end(&mut self, protocol: Protocol, assoc: i32, abort: bool, now: Time) {
        let link = match protocol {
            Protocol::Asap => {
                let Some(id) = self.many.asap_ids.remove(&assoc) else {
                    return;
                };
                debug!(assoc = id, "ASAP association closed");
                let link = self.asap_links.remove(&id);
                self.registrar.asap_closed(now, id);
                link
            }
            Protocol::Enrp => {
                let Some(conn) = self.many.enrp_ids.remove(&assoc) else {
                    return;
                };
                debug!(conn = conn.0, "ENRP association closed");
                let link = self.enrp_links.remove(&conn);
                self.registrar.enrp_closed(now, conn);
                link
            }
        };
        if let Some(AnyLink::Many(mut l)) = link {
            if abort {
                l.abort();
            } else {
                l.gone();
            }
        }
    }

    /// Aborts accepted associations that sent nothing within the
    /// handshake timeout, and gives up connection attempts that took too
    /// long (an association of its own socket has its tasks time these).
    pub(super) fn expire_many(&mut self, now: Time) {
        while let Some(&(due, key)) = self.many.first_due.front() {
            if due > now {
                break;
            }
            self.many.first_due.pop_front();
            let (protocol, assoc) = match key {
                Key::Asap(id) => match self.asap_links.get(&id) {
                    Some(AnyLink::Many(l)) if !l.has_spoken() => (Protocol::Asap, l.assoc()),
                    _ => continue,
                },
                Key::Enrp(conn) => match self.enrp_links.get(&conn) {
                    Some(AnyLink::Many(l)) if !l.has_spoken() => (Protocol::Enrp, l.assoc()),
                    _ => continue,
                },
            };
            debug!(
                ?protocol,
                assoc, "no message within the handshake timeout: aborting"
            );
            self.many_end(protocol, assoc, true, now);
        }
        while let Some(&(due, conn, to)) = self.many.connect_due.front() {
            if due > now {
                break;
            }
            self.many.connect_due.pop_front();
            if self.many.connecting.get(&to) == Some(&conn) {
                self.many.connecting.remove(&to);
                let e = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                self.unreachable(to, conn, &e);
                self.registrar.enrp_closed(now, conn);
            }
        }
    }
}

/// Answers an association beyond a limit with Lack of Resources, then
/// closes it: both go out in order when the link is dropped (and the
/// endpoint's sender flushed).
fn refuse(mut link: ManyLink, protocol: Protocol) {
    if let Ok(bytes) = refusal(protocol) {
        let _ = link.push(bytes);
    }
}
