//! The registrar's bookkeeping records: associations, peers, takeovers.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Config, ConnId};
use crate::Time;
use crate::handlespace::SyncCursor;
use crate::identity::Identity;
use crate::wire::{PeId, PoolHandle, ServerId, ServerInformation};

/// An ASAP association (with a PE or a PU).
#[derive(Debug)]
pub(super) struct Assoc {
    pub remote: Option<SocketAddr>,
    /// Every address of the remote endpoint (a multi-homed SCTP peer),
    /// when the driver told them; empty means `remote` alone.
    pub remote_addrs: Vec<IpAddr>,
    /// `Some` while an outgoing association (after a takeover) is not yet
    /// connected: the messages held for it.
    pub pending: Option<Vec<Vec<u8>>>,
    pub hr: RateWindow,
    pub eu: RateWindow,
    /// Who the transport authenticated (TLS), if it did.
    pub identity: Option<Identity>,
}

impl Assoc {
    pub fn accepted(remote: SocketAddr) -> Assoc {
        Assoc {
            remote: Some(remote),
            remote_addrs: Vec::new(),
            pending: None,
            hr: RateWindow::default(),
            eu: RateWindow::default(),
            identity: None,
        }
    }
    pub fn outgoing(remote: Option<SocketAddr>) -> Assoc {
        Assoc {
            remote,
            remote_addrs: Vec::new(),
            pending: Some(Vec::new()),
            hr: RateWindow::default(),
            eu: RateWindow::default(),
            identity: None,
        }
    }
}

/// A fixed one-second window counter (RSPLIB's per-association request
/// rate limit).
#[derive(Debug, Default)]
pub(super) struct RateWindow {
    start: Time,
    count: u32,
}

impl RateWindow {
    /// Counts one request; false when it exceeds `limit` per second.
    pub fn allow(&mut self, now: Time, limit: Option<u32>) -> bool {
        let Some(limit) = limit else {
            return true;
        };
        if now >= self.start + Duration::from_secs(1) || self.count == 0 {
            self.start = now;
            self.count = 0;
        }
        if self.count >= limit {
            return false;
        }
        self.count += 1;
        true
    }
}

/// An ENRP association.
#[derive(Debug)]
pub(super) struct Conn {
    /// Where it goes to or comes from (for diagnostics).
    pub remote: Option<SocketAddr>,
    /// Opened by this PR (ConnectEnrp).
    pub outgoing: bool,
    pub connected: bool,
    /// When it was accepted or connected: a PRESENCE must follow soon.
    pub since: Time,
    /// The peer, once its PRESENCE named it.
    pub peer: Option<ServerId>,
    /// The peer this association was opened to reach, if known.
    pub expect: Option<ServerId>,
    /// The static peer entry this association serves.
    pub static_idx: Option<usize>,
    /// Who the transport authenticated (TLS), if it did.
    pub identity: Option<Identity>,
}

impl Conn {
    pub fn accepted(remote: SocketAddr, now: Time) -> Conn {
        Conn {
            remote: Some(remote),
            outgoing: false,
            connected: true,
            since: now,
            peer: None,
            expect: None,
            static_idx: None,
            identity: None,
        }
    }
    pub fn outgoing(to: SocketAddr, expect: Option<ServerId>, static_idx: Option<usize>) -> Conn {
        Conn {
            remote: Some(to),
            outgoing: true,
            connected: false,
            since: Time::ZERO,
            peer: None,
            expect,
            static_idx,
            identity: None,
        }
    }
}

/// A configured peer address.
#[derive(Debug)]
pub(super) struct StaticPeer {
    pub addr: SocketAddr,
    pub conn: Option<ConnId>,
    pub retry_at: Option<Time>,
    pub backoff: Duration,
    /// The server ID found at this address.
    pub resolved: Option<ServerId>,
}

pub(super) const MIN_BACKOFF: Duration = Duration::from_secs(1);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl StaticPeer {
    pub fn new(addr: SocketAddr) -> StaticPeer {
        StaticPeer {
            addr,
            conn: None,
            retry_at: None,
            backoff: MIN_BACKOFF,
            resolved: None,
        }
    }
}

/// A live peer registrar.
#[derive(Debug)]
pub(super) struct Peer {
    pub conn: ConnId,
    pub info: ServerInformation,
    pub last_heard: Time,
    /// A PRESENCE with R was sent; the peer is dead if silent until then.
    pub probe_deadline: Option<Time>,
    /// The PE checksum of its last PRESENCE.
    pub announced: Option<u16>,
    /// Our Handle Table Request in progress with this peer.
    pub request: Option<TableRequest>,
    /// Where its block-wise Handle Table Request continues.
    pub serving: Option<Serving>,
    /// PEs this peer answered with an ENRP Error, by the fingerprint of the
    /// Pool Element it refused: not sent to it again until they change.
    pub rejected: BTreeMap<(PoolHandle, PeId), u64>,
}

impl Peer {
    pub fn liveness_deadline(&self, c: &Config) -> Time {
        self.probe_deadline
            .unwrap_or(self.last_heard + c.max_time_last_heard)
    }
}

/// A Handle Table Request of ours, answered block by block.
#[derive(Debug)]
pub(super) struct TableRequest {
    /// W flag: only the peer's own PEs (a checksum audit).
    pub own_only: bool,
    pub entries: usize,
    /// Audit: the entries the peer confirmed (mark and sweep).
    pub seen: HashSet<(PoolHandle, PeId)>,
}

/// A peer's block-wise Handle Table Request we answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Serving {
    pub own_only: bool,
    pub cursor: SyncCursor,
}

/// A takeover this PR runs.
#[derive(Debug)]
pub(super) struct Takeover {
    pub deadline: Time,
    pub awaiting: BTreeSet<ServerId>,
}

/// Start-up synchronisation from a mentor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SyncState {
    Unsynced,
    Syncing(ServerId),
    Synced,
}
