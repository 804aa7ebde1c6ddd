//! The ENRP probe: a pseudo-peer on a registrar's ENRP port that reads the
//! registrar's handlespace and peer list, as an I/O-free state machine.
//!
//! The probe introduces itself with a PRESENCE under its own server ID,
//! then, per [`Probe::snapshot`], asks for the handlespace
//! (HANDLE_TABLE_REQUEST, block by block while the M flag is set) and for
//! the registrar's peers (LIST_REQUEST), and hands back a [`Snapshot`].
//! Between snapshots it stays a well-behaved peer (see [`peer`]).
//!
//! RSPLIB's registrar drops a PRESENCE whose addresses are not those of
//! the association (as its own hsdump sends them): when the first
//! PRESENCE, which names no endpoint, goes unanswered for
//! [`PLAIN_PRESENCE_WAIT`] (at most half the introduction time), the probe
//! names the address and port it connected from from then on.
//!
//! The driver opens the association (giving up at [`Probe::poll_timeout`]
//! as well), reports it with [`Probe::connected`], sends what
//! [`Probe::poll_transmit`] returns, hands in every received message with
//! [`Probe::received`], calls [`Probe::handle_timeout`] at
//! [`Probe::poll_timeout`] and reads [`ProbeEvent`]s. On
//! [`ProbeEvent::Failed`] it closes the association.
//!
//! ```
//! use rserpool_proto::Time;
//! use rserpool_proto::probe::{Probe, ProbeConfig};
//! use rserpool_proto::wire::{DecodeOptions, EnrpMessage, ServerId, TransportKind};
//! use std::time::Duration;
//!
//! let registrar = "127.0.0.1:9901".parse().unwrap();
//! let config = ProbeConfig::new(ServerId(7), registrar, TransportKind::Tcp);
//! let mut probe = Probe::new(config, Time::ZERO, Duration::from_secs(5));
//! probe.snapshot(Time::ZERO, Duration::from_secs(5)).unwrap(); // as soon as introduced
//! probe.connected(Time::ZERO, Some("127.0.0.1:40000".parse().unwrap()));
//! let first = probe.poll_transmit().unwrap();
//! match EnrpMessage::decode(&first, &DecodeOptions::default()).unwrap().message {
//!     EnrpMessage::Presence(p) => assert!(p.reply_required && p.checksum.is_some()),
//!     other => panic!("expected a PRESENCE, got {other:?}"),
//! }
//! ```

mod error;
pub mod peer;
mod snapshot;

pub use error::{Awaited, ProbeError, Refusal};
pub use snapshot::{Pool, Snapshot};

use crate::Time;
use crate::wire::enrp::{HandleTableRequest, HandleTableResponse, ListRequest};
use crate::wire::{
    DecodeOptions, EnrpMessage, ServerId, ServerInformation, TransportKind, TransportParam,
};
use snapshot::TableBuilder;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

/// How long the first PRESENCE (no endpoint) may go unanswered before the
/// probe names its address (see the module doc).
pub const PLAIN_PRESENCE_WAIT: Duration = Duration::from_secs(1);

/// Who the probe is and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeConfig {
    /// The probe's server ID in its PRESENCE: random, so that probes and
    /// registrars do not collide.
    pub server_id: ServerId,
    /// The registrar's ENRP address (recorded in every snapshot).
    pub registrar: SocketAddr,
    /// The association's transport: SCTP or TCP (anything else is taken
    /// as TCP).
    pub transport: TransportKind,
}

impl ProbeConfig {
    /// A probe as `server_id` to the registrar at `registrar`.
    pub fn new(server_id: ServerId, registrar: SocketAddr, transport: TransportKind) -> Self {
        ProbeConfig {
            server_id,
            registrar,
            transport,
        }
    }
}

/// What happened, for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeEvent {
    /// The registrar answered the probe's PRESENCE with its own: it now
    /// takes the probe for a peer.
    Introduced(ServerInformation),
    /// A snapshot asked for with [`Probe::snapshot`] is complete.
    Snapshot(Snapshot),
    /// The probe gave up; the driver closes the association.
    Failed(ProbeError),
}

#[derive(Debug)]
enum State {
    /// Waiting for the driver's association, until `deadline`.
    Connecting {
        deadline: Time,
    },
    /// PRESENCE sent; `name_at` is when to send the second one, naming
    /// the local address (`None` once sent).
    Introducing {
        deadline: Time,
        name_at: Option<Time>,
    },
    /// A peer of the registrar, between snapshots.
    Ready,
    Fetching(Fetch),
    Failed(ProbeError),
}

/// A snapshot under way.
#[derive(Debug)]
struct Fetch {
    deadline: Time,
    table: TableBuilder,
    table_done: bool,
    /// `Some` once the LIST_RESPONSE came.
    peers: Option<Vec<ServerInformation>>,
}

/// The probe state machine (see the module docs).
#[derive(Debug)]
pub struct Probe {
    config: ProbeConfig,
    state: State,
    /// What the probe's PRESENCEs name as its endpoint.
    endpoint: TransportParam,
    local: Option<SocketAddr>,
    registrar: Option<ServerInformation>,
    /// What the registrar announced about its own PEs in its last PRESENCE.
    announced_checksum: Option<u16>,
    /// A snapshot asked for before the introduction completed: its deadline.
    wanted: Option<Time>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<ProbeEvent>,
}

impl Probe {
    /// A probe that must be introduced (association up and the
    /// registrar's PRESENCE received) within `introduce_within` of `now`.
    pub fn new(config: ProbeConfig, now: Time, introduce_within: Duration) -> Self {
        Probe {
            endpoint: peer::no_endpoint(config.transport),
            config,
            state: State::Connecting {
                deadline: now + introduce_within,
            },
            local: None,
            registrar: None,
            announced_checksum: None,
            wanted: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The association is up; `local` is the address it leaves from, if
    /// the transport tells (for the second PRESENCE).
    pub fn connected(&mut self, now: Time, local: Option<SocketAddr>) {
        let State::Connecting { deadline } = self.state else {
            return;
        };
        self.local = local;
        self.send(peer::presence(
            self.config.server_id,
            ServerId(0),
            true,
            &self.endpoint,
        ));
        // Half the time left at most, so that the second PRESENCE has
        // time to be answered too.
        let left = deadline.as_micros().saturating_sub(now.as_micros());
        let plain = u64::try_from(PLAIN_PRESENCE_WAIT.as_micros()).unwrap_or(u64::MAX);
        self.state = State::Introducing {
            deadline,
            name_at: Some(Time::from_micros(now.as_micros() + plain.min(left / 2))),
        };
    }

    /// Asks for a snapshot, due within `within` of `now`; reported as
    /// [`ProbeEvent::Snapshot`]. Before the introduction completes, the
    /// request waits for it (the deadline still counts from `now`); while
    /// a snapshot is under way, it is that one. A failed probe returns its
    /// failure.
    pub fn snapshot(&mut self, now: Time, within: Duration) -> Result<(), ProbeError> {
        let deadline = now + within;
        match &self.state {
            State::Failed(e) => Err(e.clone()),
            State::Connecting { .. } | State::Introducing { .. } => {
                self.wanted = Some(deadline);
                Ok(())
            }
            State::Ready => {
                self.fetch(deadline);
                Ok(())
            }
            State::Fetching(_) => Ok(()),
        }
    }

    /// One ENRP message from the registrar.
    pub fn received(&mut self, _now: Time, bytes: &[u8]) {
        if matches!(self.state, State::Failed(_) | State::Connecting { .. }) {
            return;
        }
        let m = match EnrpMessage::decode(bytes, &DecodeOptions::default()) {
            Ok(d) => d.message,
            Err(e) => return self.fail(ProbeError::Decode(e)),
        };
        if let Some(a) = peer::answer(&m, self.config.server_id, &self.endpoint) {
            self.send(a);
        }
        match m {
            EnrpMessage::Presence(p) => {
                self.announced_checksum = p.checksum;
                if matches!(self.state, State::Introducing { .. }) {
                    let mut info = p.server_info;
                    info.server_id = p.sender;
                    self.registrar = Some(info.clone());
                    self.state = State::Ready;
                    self.events.push_back(ProbeEvent::Introduced(info));
                    if let Some(deadline) = self.wanted.take() {
                        self.fetch(deadline);
                    }
                }
            }
            EnrpMessage::HandleTableResponse(r) => self.on_table_block(r),
            EnrpMessage::ListResponse(l) => {
                if let State::Fetching(f) = &mut self.state {
                    // A refusal leaves the peer list unknown, not the dump failed.
                    f.peers = Some(if l.reject { Vec::new() } else { l.servers });
                    self.maybe_finish();
                }
            }
            EnrpMessage::Error(e) if matches!(self.state, State::Fetching(_)) => {
                let causes = e.error.causes.iter().map(|c| c.code).collect();
                self.fail(ProbeError::Refused(Refusal::Error(causes)));
            }
            // Handle Updates, takeover notices, answers already sent.
            _ => {}
        }
    }

    /// The association is gone.
    pub fn closed(&mut self, _now: Time) {
        if !matches!(self.state, State::Failed(_)) {
            self.fail(ProbeError::Closed);
        }
    }

    /// When [`Probe::handle_timeout`] is due, if anything waits.
    pub fn poll_timeout(&self) -> Option<Time> {
        match &self.state {
            State::Connecting { deadline } => Some(*deadline),
            State::Introducing { deadline, name_at } => {
                Some(name_at.map_or(*deadline, |n| n.min(*deadline)))
            }
            State::Fetching(f) => Some(f.deadline),
            State::Ready | State::Failed(_) => None,
        }
    }

    /// Sends the second PRESENCE or gives up, as the time says.
    pub fn handle_timeout(&mut self, now: Time) {
        match &mut self.state {
            State::Connecting { deadline } if now >= *deadline => {
                self.fail(ProbeError::Timeout(Awaited::Association));
            }
            State::Introducing { deadline, name_at } => {
                let deadline = *deadline;
                if name_at.is_some_and(|n| now >= n) {
                    *name_at = None;
                    if let Some(local) = self.local {
                        self.endpoint = peer::endpoint_at(self.config.transport, local);
                    }
                    self.send(peer::presence(
                        self.config.server_id,
                        ServerId(0),
                        true,
                        &self.endpoint,
                    ));
                }
                if now >= deadline {
                    self.fail(ProbeError::Timeout(Awaited::Presence));
                }
            }
            State::Fetching(f) if now >= f.deadline => {
                let what = if f.table_done {
                    Awaited::ListResponse
                } else {
                    Awaited::TableResponse
                };
                self.fail(ProbeError::Timeout(what));
            }
            _ => {}
        }
    }

    /// The next ENRP message to send to the registrar.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<ProbeEvent> {
        self.events.pop_front()
    }

    /// The registrar's Server Information, once introduced.
    pub fn registrar(&self) -> Option<&ServerInformation> {
        self.registrar.as_ref()
    }

    /// What the probe's PRESENCEs name as its endpoint now.
    pub fn endpoint(&self) -> &TransportParam {
        &self.endpoint
    }

    /// Why the probe failed, if it did.
    pub fn failure(&self) -> Option<&ProbeError> {
        match &self.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    fn fetch(&mut self, deadline: Time) {
        self.request_table();
        if let Some(registrar) = &self.registrar {
            self.send(
                ListRequest {
                    sender: self.config.server_id,
                    receiver: registrar.server_id,
                }
                .into(),
            );
        }
        self.state = State::Fetching(Fetch {
            deadline,
            table: TableBuilder::default(),
            table_done: false,
            peers: None,
        });
    }

    fn request_table(&mut self) {
        if let Some(registrar) = &self.registrar {
            self.send(
                HandleTableRequest {
                    own_children_only: false,
                    sender: self.config.server_id,
                    receiver: registrar.server_id,
                }
                .into(),
            );
        }
    }

    /// Adds one block; asks for the next while the M flag is set.
    fn on_table_block(&mut self, r: HandleTableResponse) {
        let State::Fetching(f) = &mut self.state else {
            return;
        };
        if f.table_done {
            return;
        }
        if r.reject {
            return self.fail(ProbeError::Refused(Refusal::TableRejected));
        }
        f.table.add_block(r.pools);
        f.table_done = !r.more_to_send;
        if r.more_to_send {
            self.request_table();
        } else {
            self.maybe_finish();
        }
    }

    fn maybe_finish(&mut self) {
        let State::Fetching(f) = &self.state else {
            return;
        };
        if !f.table_done || f.peers.is_none() {
            return;
        }
        let State::Fetching(f) = std::mem::replace(&mut self.state, State::Ready) else {
            return;
        };
        let Some(registrar) = self.registrar.clone() else {
            return;
        };
        let mut peers = f.peers.unwrap_or_default();
        // Other probes show up as peers too; they own nothing and have no
        // address, so they are left out.
        peers.retain(|p| !peer::is_no_endpoint(&p.transport));
        peers.sort_by_key(|p| p.server_id);
        self.events.push_back(ProbeEvent::Snapshot(Snapshot {
            registrar,
            address: self.config.registrar,
            transport: self.config.transport,
            checksum: self.announced_checksum,
            peers,
            pools: f.table.finish(),
        }));
    }

    fn fail(&mut self, e: ProbeError) {
        self.state = State::Failed(e.clone());
        self.wanted = None;
        self.events.push_back(ProbeEvent::Failed(e));
    }

    fn send(&mut self, m: EnrpMessage) {
        // The probe's messages are a few dozen bytes: they always encode.
        if let Ok(bytes) = m.to_bytes() {
            self.transmits.push_back(bytes);
        }
    }
}

#[cfg(test)]
mod tests;
