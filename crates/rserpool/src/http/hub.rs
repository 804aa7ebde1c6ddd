//! The registrar task's side of the HTTP API: answers queries from the
//! real registrar state, keeps the bounded history of changes and
//! publishes each change to the watchers.
//!
//! Everything here runs in the registrar task, so each answer is one
//! consistent view and a handle resolution goes through
//! [`Registrar::resolve`], the code ASAP uses. Answers are plain data;
//! the HTTP tasks serialise them.

use super::views::{
    ChangeView, HistoryView, PeView, PeerView, PoolSummary, PoolView, PoolsView, RegistrarView,
    ResolutionView, ScopeView,
};
use rserpool_proto::registrar::{Event, PeerDownReason, Registrar, RemovalReason};
use rserpool_proto::wire::{PeId, PoolHandle, ServerId, asap};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, oneshot};

/// Changes kept for history and for watchers that resume.
pub const HISTORY: usize = 4096;
/// Changes a watcher may fall behind before it is dropped.
pub const WATCH_BUFFER: usize = 1024;
/// Most entries in one answer (pools, or PEs of a pool).
pub const MAX_LIMIT: usize = 10_000;

/// What the HTTP side asks the registrar task.
#[derive(Debug)]
pub enum Query {
    /// This registrar and its peers.
    Scope,
    /// The pools, at most `limit`.
    Pools {
        /// Most pools listed.
        limit: usize,
    },
    /// One pool with at most `limit` PEs.
    Pool {
        /// The pool asked for.
        handle: PoolHandle,
        /// Most PEs listed.
        limit: usize,
    },
    /// A handle resolution, as ASAP's with the Handle Resolution option.
    Resolve {
        /// The pool to resolve.
        handle: PoolHandle,
        /// The Handle Resolution option's item count, if given.
        items: Option<u32>,
    },
    /// What the history holds about one PE.
    History {
        /// The PE's pool.
        handle: PoolHandle,
        /// The PE.
        pe: PeId,
    },
    /// Start a watch after change `after` (None: from now on).
    Watch {
        /// The last change the watcher saw.
        after: Option<u64>,
    },
    /// Is the registrar task answering at all.
    Ready,
}

/// The registrar task's answer.
#[derive(Debug)]
pub enum Answer {
    /// To [`Query::Scope`].
    Scope(ScopeView),
    /// To [`Query::Pools`].
    Pools(PoolsView),
    /// To [`Query::Pool`]; None: no such pool.
    Pool(Option<PoolView>),
    /// To [`Query::Resolve`]; None: no such pool.
    Resolve(Option<ResolutionView>),
    /// To [`Query::History`].
    History(HistoryView),
    /// To [`Query::Watch`].
    Watch(WatchStart),
    /// To [`Query::Ready`].
    Ready {
        /// The registrar has completed its first synchronisation with a
        /// peer (or has none to wait for).
        synchronised: bool,
    },
}

/// A query with the channel for its answer.
#[derive(Debug)]
pub struct Call {
    /// The question.
    pub query: Query,
    /// Where the answer goes.
    pub reply: oneshot::Sender<Answer>,
}

/// The beginning of a watch: what the watcher missed (when it resumes)
/// and the receiver for what comes next, taken at the same moment so
/// nothing is lost or doubled in between.
#[derive(Debug)]
pub struct WatchStart {
    /// The changes after the position asked for, oldest first.
    pub backlog: Vec<Arc<ChangeView>>,
    /// The position asked for is no longer kept: the watcher must reload.
    pub reset: bool,
    /// The id of the latest change so far.
    pub last: u64,
    /// Every change from now on.
    pub changes: broadcast::Receiver<Arc<ChangeView>>,
}

/// What the daemon knows about itself besides the registrar state.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// The carrier, `tcp` or `sctp`.
    pub transport: String,
    /// Bound ASAP addresses.
    pub asap: Vec<SocketAddr>,
    /// Bound ENRP addresses.
    pub enrp: Vec<SocketAddr>,
}

/// Counts of open associations, from the daemon.
#[derive(Clone, Copy, Debug)]
pub struct Links {
    /// ASAP associations (PEs and PUs).
    pub asap: usize,
    /// ENRP associations (peers and probes).
    pub enrp: usize,
}

/// The registrar task's HTTP state.
#[derive(Debug)]
pub struct Hub {
    endpoints: Endpoints,
    history: VecDeque<Arc<ChangeView>>,
    next_id: u64,
    changes: broadcast::Sender<Arc<ChangeView>>,
}

impl Hub {
    /// Empty history, no watcher.
    pub fn new(endpoints: Endpoints) -> Hub {
        Hub {
            endpoints,
            history: VecDeque::with_capacity(HISTORY),
            next_id: 1,
            changes: broadcast::channel(WATCH_BUFFER).0,
        }
    }

    /// Records a registrar event that changes the handlespace or the
    /// scope, and passes it on to the watchers.
    pub fn observe(&mut self, e: &Event, r: &Registrar) {
        let mut c = ChangeView {
            id: 0,
            time_ms: 0,
            kind: "",
            handle: None,
            pe: None,
            home: None,
            previous_home: None,
            peer: None,
            reason: None,
            element: None,
        };
        let on_pe = |c: &mut ChangeView, kind, pool: &PoolHandle, pe: PeId| {
            c.kind = kind;
            c.handle = Some(pool.clone());
            c.pe = Some(pe.0);
        };
        match e {
            Event::PeRegistered { pool, pe, .. } => {
                on_pe(&mut c, "registered", pool, *pe);
                c.home = Some(r.id().0);
            }
            Event::PeReregistered { pool, pe } => {
                // The most frequent event, and one that changes little:
                // kept only while someone watches.
                if self.changes.receiver_count() == 0 {
                    return;
                }
                on_pe(&mut c, "reregistered", pool, *pe);
                c.home = Some(r.id().0);
            }
            Event::PeLearned {
                pool,
                pe,
                home,
                updated,
            } => {
                // A synchronisation learns every PE of the scope at once
                // (1,000,000 in a second): kept only while someone watches.
                // The queries read the registrar's state, not this history.
                if self.changes.receiver_count() == 0 {
                    return;
                }
                let kind = if *updated { "updated" } else { "learned" };
                on_pe(&mut c, kind, pool, *pe);
                c.home = Some(home.0);
            }
            Event::PeRemoved { pool, pe, reason } => {
                on_pe(&mut c, "removed", pool, *pe);
                c.reason = Some(removal_reason(*reason));
            }
            Event::PeHomeChanged { pool, pe, from, to } => {
                on_pe(&mut c, "home_changed", pool, *pe);
                c.home = Some(to.0);
                c.previous_home = Some(from.0);
            }
            Event::PeerUp { peer, .. } => {
                c.kind = "peer_up";
                c.peer = Some(peer.0);
            }
            Event::PeerDown { peer, reason } => {
                c.kind = "peer_down";
                c.peer = Some(peer.0);
                c.reason = Some(match reason {
                    PeerDownReason::Timeout => "Timeout",
                    PeerDownReason::AssociationLost => "AssociationLost",
                    PeerDownReason::Replaced => "Replaced",
                });
            }
            Event::TakeoverStarted { target } => {
                c.kind = "takeover_started";
                c.peer = Some(target.0);
            }
            Event::TakeoverCompleted { target, .. } => {
                c.kind = "takeover_completed";
                c.peer = Some(target.0);
            }
            Event::TakeoverAbandoned { target } => {
                c.kind = "takeover_abandoned";
                c.peer = Some(target.0);
            }
            _ => return,
        }
        // The PE's state goes along only when someone watches: building it
        // costs, and the history does not need it.
        if self.changes.receiver_count() > 0 && c.kind != "removed" {
            if let (Some(h), Some(pe)) = (&c.handle, c.pe) {
                c.element = r
                    .handlespace()
                    .get(h, PeId(pe))
                    .map(|e| PeView::from_entry(&e));
            }
        }
        c.id = self.next_id;
        self.next_id += 1;
        c.time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let c = Arc::new(c);
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(c.clone());
        // No receiver is not an error: nobody watches.
        let _ = self.changes.send(c);
    }

    /// Answers one query from the registrar's state.
    pub fn answer(&mut self, call: Call, r: &mut Registrar, links: Links) {
        let a = match call.query {
            Query::Scope => Answer::Scope(self.scope(r, links)),
            Query::Pools { limit } => Answer::Pools(pools(r, limit)),
            Query::Pool { handle, limit } => Answer::Pool(pool(r, &handle, limit)),
            Query::Resolve { handle, items } => Answer::Resolve(resolve(r, handle, items)),
            Query::History { handle, pe } => Answer::History(self.pe_history(&handle, pe)),
            Query::Watch { after } => Answer::Watch(self.watch(after)),
            Query::Ready => Answer::Ready {
                synchronised: r.is_synchronised(),
            },
        };
        // The asker may have gone (timeout, closed connection).
        let _ = call.reply.send(a);
    }

    fn scope(&self, r: &Registrar, links: Links) -> ScopeView {
        let hs = r.handlespace();
        let me = r.id();
        let mut peers: BTreeMap<ServerId, PeerView> = BTreeMap::new();
        let mut put = |id: ServerId, state: &'static str, address: Option<String>| {
            peers.entry(id).or_insert(PeerView {
                id: id.0,
                state,
                address,
                pool_elements: hs.owner_len(id),
            });
        };
        for (id, conn) in r.peers() {
            put(id, "up", r.conn_address(conn).map(|a| a.to_string()));
        }
        for id in r.takeovers_in_progress() {
            put(id, "taking_over", None);
        }
        for (id, _) in r.suspects() {
            put(id, "suspect", None);
        }
        for id in hs.owners() {
            if id != me {
                put(id, "unknown", None);
            }
        }
        ScopeView {
            registrar: RegistrarView {
                id: me.0,
                transport: self.endpoints.transport.clone(),
                asap: self.endpoints.asap.iter().map(|a| a.to_string()).collect(),
                enrp: self.endpoints.enrp.iter().map(|a| a.to_string()).collect(),
                synchronised: r.is_synchronised(),
                pools: hs.pool_count(),
                pool_elements: hs.len(),
                owned_pool_elements: hs.owner_len(me),
                asap_associations: links.asap,
                enrp_associations: links.enrp,
                max_hres_items: r.config().max_hres_items,
            },
            peers: peers.into_values().collect(),
        }
    }

    fn pe_history(&self, handle: &PoolHandle, pe: PeId) -> HistoryView {
        HistoryView {
            handle: handle.to_string(),
            pe: pe.0,
            changes: self
                .history
                .iter()
                .filter(|c| c.pe == Some(pe.0) && c.handle.as_ref() == Some(handle))
                .map(|c| (**c).clone())
                .collect(),
        }
    }

    fn watch(&self, after: Option<u64>) -> WatchStart {
        let last = self.next_id - 1;
        let (backlog, reset) = match after {
            None => (Vec::new(), false),
            // Nothing missed.
            Some(a) if a >= last => (Vec::new(), a > last),
            Some(a) => {
                let oldest = self.history.front().map_or(self.next_id, |c| c.id);
                let backlog = self.history.iter().filter(|c| c.id > a).cloned().collect();
                (backlog, a + 1 < oldest)
            }
        };
        WatchStart {
            backlog,
            reset,
            last,
            changes: self.changes.subscribe(),
        }
    }
}

fn removal_reason(r: RemovalReason) -> &'static str {
    match r {
        RemovalReason::Deregistered => "Deregistered",
        RemovalReason::KeepAliveTimeout => "KeepAliveTimeout",
        RemovalReason::AssociationLost => "AssociationLost",
        RemovalReason::LifetimeExpired => "LifetimeExpired",
        RemovalReason::UnreachableReports => "UnreachableReports",
        RemovalReason::PeerUpdate => "PeerUpdate",
        RemovalReason::PeerDown => "PeerDown",
    }
}

fn pools(r: &Registrar, limit: usize) -> PoolsView {
    let hs = r.handlespace();
    let mut handles: Vec<&PoolHandle> = hs.pools().collect();
    handles.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let truncated = handles.len() > limit;
    PoolsView {
        pools: handles
            .into_iter()
            .take(limit)
            .map(|h| PoolSummary {
                handle: h.to_string(),
                policy: hs.pool_policy(h).map_or("", |p| p.name()).to_string(),
                pool_elements: hs.pool_len(h),
            })
            .collect(),
        truncated,
    }
}

fn pool(r: &Registrar, handle: &PoolHandle, limit: usize) -> Option<PoolView> {
    let hs = r.handlespace();
    let policy = hs.pool_policy(handle)?;
    let mut refs: Vec<_> = hs
        .pool_entries(handle)
        .filter_map(|r| hs.entry(r).map(|e| (e.pe_id(), r)))
        .collect();
    refs.sort_unstable_by_key(|(id, _)| *id);
    let truncated = refs.len() > limit;
    refs.truncate(limit);
    Some(PoolView {
        handle: handle.to_string(),
        policy: policy.name().to_string(),
        pool_elements: refs
            .into_iter()
            .filter_map(|(_, r)| hs.entry(r))
            .map(|e| PeView::from_entry(&e))
            .collect(),
        truncated,
    })
}

/// The ASAP handle resolution, answered as JSON.
fn resolve(r: &mut Registrar, handle: PoolHandle, items: Option<u32>) -> Option<ResolutionView> {
    let m = r.resolve(asap::HandleResolution {
        pool_handle: handle,
        items,
    });
    if m.error.is_some() {
        return None;
    }
    Some(ResolutionView {
        handle: m.pool_handle.to_string(),
        policy: m.policy.map(|p| p.policy_type().name().to_string()),
        pool_elements: m.pool_elements.iter().map(PeView::from_wire).collect(),
    })
}
