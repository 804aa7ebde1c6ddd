//! The registrar's bookkeeping records: associations, peers, takeovers.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Config, ConnId};
use crate::Time;
use crate::handlespace::{AssocId, EntryRef, SyncCursor};
use crate::identity::Identity;
use crate::wire::{PeId, PoolHandle, ServerId, ServerInformation};
use foldhash::fast::FixedState;

/// An ASAP association (with a PE or a PU).
///
/// Sixteen bytes, as a registrar holds one per PE: the remote address
/// inline when it is IPv4 (the common case), everything else (an IPv6
/// remote, a multi-homed peer's addresses, messages held while an
/// outgoing association connects, rate windows, the TLS identity) in a
/// box made only for the associations that need it.
#[derive(Debug)]
pub(super) struct Assoc {
    /// The IPv4 remote address, when `has_v4`.
    v4: [u8; 4],
    v4_port: u16,
    has_v4: bool,
    extra: Option<Box<AssocExtra>>,
}

/// What few associations need (see [`Assoc`]).
#[derive(Debug, Default)]
struct AssocExtra {
    /// A remote address that is not IPv4.
    remote: Option<SocketAddr>,
    /// Every address of the remote endpoint (a multi-homed SCTP peer),
    /// when the driver told them; empty means the remote address alone.
    remote_addrs: Vec<IpAddr>,
    /// `Some` while an outgoing association (after a takeover) is not yet
    /// connected: the messages held for it.
    pending: Option<Vec<Vec<u8>>>,
    hr: RateWindow,
    eu: RateWindow,
    /// Who the transport authenticated (TLS), if it did.
    identity: Option<Identity>,
}

impl Assoc {
    fn new(remote: Option<SocketAddr>) -> Assoc {
        let mut a = Assoc {
            v4: [0; 4],
            v4_port: 0,
            has_v4: false,
            extra: None,
        };
        match remote {
            Some(SocketAddr::V4(v4)) => {
                a.v4 = v4.ip().octets();
                a.v4_port = v4.port();
                a.has_v4 = true;
            }
            Some(other) => a.extra_mut().remote = Some(other),
            None => {}
        }
        a
    }

    pub fn accepted(remote: SocketAddr) -> Assoc {
        Assoc::new(Some(remote))
    }

    pub fn outgoing(remote: Option<SocketAddr>) -> Assoc {
        let mut a = Assoc::new(remote);
        a.extra_mut().pending = Some(Vec::new());
        a
    }

    fn extra_mut(&mut self) -> &mut AssocExtra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The remote address it was accepted from or connected to.
    pub fn remote(&self) -> Option<SocketAddr> {
        if self.has_v4 {
            return Some(SocketAddr::from((self.v4, self.v4_port)));
        }
        self.extra.as_ref().and_then(|x| x.remote)
    }

    /// Every address of the remote endpoint, when the driver told them;
    /// empty means [`Assoc::remote`] alone.
    pub fn remote_addrs(&self) -> &[IpAddr] {
        self.extra.as_ref().map_or(&[], |x| &x.remote_addrs)
    }

    pub fn set_remote_addrs(&mut self, addrs: impl IntoIterator<Item = IpAddr>) {
        let x = self.extra_mut();
        x.remote_addrs.clear();
        x.remote_addrs.extend(addrs);
    }

    /// Who the transport authenticated (TLS), if it did.
    pub fn identity(&self) -> Option<&Identity> {
        self.extra.as_ref().and_then(|x| x.identity.as_ref())
    }

    pub fn set_identity(&mut self, identity: Identity) {
        self.extra_mut().identity = Some(identity);
    }

    /// The messages held while the association connects; `None` once it
    /// is connected (or for an accepted one).
    pub fn take_pending(&mut self) -> Option<Vec<Vec<u8>>> {
        self.extra.as_mut().and_then(|x| x.pending.take())
    }

    pub fn pending_mut(&mut self) -> Option<&mut Vec<Vec<u8>>> {
        self.extra.as_mut().and_then(|x| x.pending.as_mut())
    }

    /// Counts a handle resolution; false when it exceeds `limit` per second.
    pub fn allow_resolution(&mut self, now: Time, limit: Option<u32>) -> bool {
        limit.is_none_or(|_| self.extra_mut().hr.allow(now, limit))
    }

    /// Counts an endpoint-unreachable report; false when it exceeds
    /// `limit` per second.
    pub fn allow_unreachable(&mut self, now: Time, limit: Option<u32>) -> bool {
        limit.is_none_or(|_| self.extra_mut().eu.allow(now, limit))
    }
}

/// The ASAP associations, in a slab: an [`AssocId`] is its slot (low 32
/// bits) and the slot's generation (high 32 bits), so an id of a closed
/// association never reaches a later one in its slot. A registrar holds
/// one per PE; a slab costs the record and a generation each.
#[derive(Debug, Default)]
pub(super) struct AssocTable {
    slots: Vec<Option<Assoc>>,
    generations: Vec<u32>,
    free: Vec<u32>,
    len: usize,
}

impl AssocTable {
    fn split(id: AssocId) -> (usize, u32) {
        ((id & 0xFFFF_FFFF) as usize, (id >> 32) as u32)
    }

    /// The id the next [`AssocTable::insert`] takes.
    pub fn next_id(&self) -> AssocId {
        let slot = self.free.last().copied().unwrap_or(self.slots.len() as u32);
        let generation = self.generations.get(slot as usize).copied().unwrap_or(1);
        (u64::from(generation) << 32) | u64::from(slot)
    }

    /// Stores `assoc` under `id`, which [`AssocTable::next_id`] returned
    /// just before.
    pub fn insert(&mut self, id: AssocId, assoc: Assoc) {
        debug_assert_eq!(id, self.next_id());
        let (slot, generation) = Self::split(id);
        if self.free.last() == Some(&(slot as u32)) {
            self.free.pop();
            self.slots[slot] = Some(assoc);
        } else {
            self.slots.push(Some(assoc));
            self.generations.push(generation);
        }
        self.len += 1;
    }

    pub fn get(&self, id: &AssocId) -> Option<&Assoc> {
        let (slot, generation) = Self::split(*id);
        if self.generations.get(slot) != Some(&generation) {
            return None;
        }
        self.slots.get(slot)?.as_ref()
    }

    pub fn get_mut(&mut self, id: &AssocId) -> Option<&mut Assoc> {
        let (slot, generation) = Self::split(*id);
        if self.generations.get(slot) != Some(&generation) {
            return None;
        }
        self.slots.get_mut(slot)?.as_mut()
    }

    pub fn contains_key(&self, id: &AssocId) -> bool {
        self.get(id).is_some()
    }

    pub fn remove(&mut self, id: &AssocId) -> Option<Assoc> {
        let (slot, generation) = Self::split(*id);
        if self.generations.get(slot) != Some(&generation) {
            return None;
        }
        let a = self.slots.get_mut(slot)?.take()?;
        // Generation 0 is skipped: ids are never 0.
        let g = &mut self.generations[slot];
        *g = g.checked_add(1).unwrap_or(1);
        self.free.push(slot as u32);
        self.len -= 1;
        Some(a)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The ids of every association, in slot order.
    pub fn into_keys(self) -> impl Iterator<Item = AssocId> {
        let generations = self.generations;
        self.slots
            .into_iter()
            .enumerate()
            .filter(|(_, a)| a.is_some())
            .map(move |(slot, _)| (u64::from(generations[slot]) << 32) | slot as u64)
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
    /// Audit: the entries the peer confirmed (mark and sweep), by
    /// reference (a generation-checked slot: no handle cloned per entry).
    pub seen: HashSet<EntryRef, FixedState>,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_association_is_small() {
        assert_eq!(std::mem::size_of::<Assoc>(), 16);
    }

    #[test]
    fn remote_addresses_of_either_family() {
        let v4: SocketAddr = "192.0.2.1:3863".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:3863".parse().unwrap();
        assert_eq!(Assoc::accepted(v4).remote(), Some(v4));
        assert_eq!(Assoc::accepted(v6).remote(), Some(v6));
        let mut a = Assoc::outgoing(None);
        assert_eq!(a.remote(), None);
        assert_eq!(a.take_pending(), Some(Vec::new()));
        assert_eq!(a.take_pending(), None);
        a.set_remote_addrs([v4.ip(), v6.ip()]);
        assert_eq!(a.remote_addrs(), [v4.ip(), v6.ip()]);
    }

    #[test]
    fn ids_of_closed_associations_reach_nothing() {
        let mut t = AssocTable::default();
        let v4: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let a = t.next_id();
        t.insert(a, Assoc::accepted(v4));
        let b = t.next_id();
        t.insert(b, Assoc::accepted(v4));
        assert_ne!(a, b);
        assert_ne!(a, 0);
        assert!(t.remove(&a).is_some());
        assert!(t.remove(&a).is_none());
        let c = t.next_id();
        t.insert(c, Assoc::accepted(v4));
        assert_ne!(c, a, "the slot is reused under another generation");
        assert!(!t.contains_key(&a));
        assert!(t.contains_key(&b) && t.contains_key(&c));
        assert_eq!(t.len(), 2);
        let mut keys: Vec<_> = t.into_keys().collect();
        keys.sort_unstable();
        let mut want = vec![b, c];
        want.sort_unstable();
        assert_eq!(keys, want);
    }
}
