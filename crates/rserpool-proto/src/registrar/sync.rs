//! Handlespace synchronisation between peers: the start-up Handle Table
//! from a mentor, checksum audits (W flag, mark and sweep), block-wise
//! answers to peers' Handle Table Requests, and Handle Updates.

use std::collections::HashSet;

use foldhash::fast::FixedState;

use super::state::{Serving, SyncState, TableRequest};
use super::util::{self, pool_element};
use super::{ConnId, Event, Registrar, RemovalReason};
use crate::Time;
use crate::handlespace::{EntryRef, Registration, SyncCursor, TimerKind};
use crate::wire::enrp::{self, UpdateAction};
use crate::wire::size::{ENRP_HEADER_LEN, pool_element_len, pool_handle_len};
use crate::wire::{PoolElement, PoolHandle, ServerId};

/// A block stops growing beyond this many bytes; one more entry (at most a
/// few hundred bytes) still fits under 65535.
const HTR_SIZE_BUDGET: usize = 60_000;

impl Registrar {
    pub(super) fn pick_mentor(&mut self) {
        if self.sync != SyncState::Unsynced {
            return;
        }
        let candidate = self
            .peers
            .iter()
            .find(|(_, p)| p.request.is_none())
            .map(|(id, _)| *id);
        if let Some(id) = candidate {
            self.start_table_request(id, false);
        }
    }

    pub(super) fn start_table_request(&mut self, id: ServerId, own_only: bool) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.request.is_some() {
            return;
        }
        p.request = Some(TableRequest {
            own_only,
            entries: 0,
            seen: HashSet::with_hasher(FixedState::default()),
        });
        if !own_only {
            self.sync = SyncState::Syncing(id);
            self.event(Event::SyncStarted { peer: id });
        }
        let m = enrp::HandleTableRequest {
            own_children_only: own_only,
            sender: self.config.id,
            receiver: id,
        };
        self.send_to_peer(id, m.into());
    }

    /// Checksum audit: a peer whose announced checksum differs from ours
    /// for its PEs is asked for its own PEs.
    ///
    /// Not while the synchronisation from the mentor fills the handlespace:
    /// the peer's PEs are still arriving from the mentor, so its checksum
    /// cannot match yet, and pulling its table as well would learn each of
    /// them twice. Every peer is audited when that synchronisation ends.
    pub(super) fn audit(&mut self, id: ServerId) {
        if matches!(self.sync, SyncState::Syncing(_)) {
            return;
        }
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let Some(announced) = p.announced else {
            return;
        };
        if p.request.is_some() {
            return;
        }
        let expected = self.hs.owner_checksum(id).0;
        if announced != expected {
            self.event(Event::ChecksumMismatch {
                peer: id,
                expected,
                announced,
            });
            self.start_table_request(id, true);
        }
    }

    pub(super) fn serve_table(&mut self, id: ServerId, own_only: bool) {
        let Some(p) = self.peers.get(&id) else {
            return;
        };
        let cursor = match p.serving {
            Some(s) if s.own_only == own_only => s.cursor,
            _ => SyncCursor::START,
        };
        let owner = own_only.then_some(self.config.id);
        let max = self.config.max_elements_per_htr.max(1);
        let mut pools: Vec<enrp::PoolEntries> = Vec::new();
        let mut size = ENRP_HEADER_LEN;
        let mut next = Some(cursor);
        let mut count = 0;
        let refusals = !p.rejected.is_empty();
        // One entry at a time, so that a block also stops before it
        // outgrows the 16-bit message length.
        while let Some(at) = next {
            if count == max || size > HTR_SIZE_BUDGET {
                break;
            }
            let hs = &self.hs;
            let step = hs.sync_block(at, owner, 1, |r, e| {
                let Some(h) = hs.pool_handle_of(r) else {
                    return;
                };
                let pe = pool_element(e, true);
                if refusals && self.refused_by(id, h, &pe) {
                    return;
                }
                size += pool_element_len(&pe);
                match pools.last_mut() {
                    Some(last) if &last.pool_handle == h => last.pool_elements.push(pe),
                    _ => {
                        size += pool_handle_len(h);
                        pools.push(enrp::PoolEntries {
                            pool_handle: h.clone(),
                            pool_elements: vec![pe],
                        })
                    }
                }
            });
            count += step.count;
            next = step.next;
        }
        if let Some(p) = self.peers.get_mut(&id) {
            p.serving = next.map(|cursor| Serving { own_only, cursor });
        }
        let m = enrp::HandleTableResponse {
            reject: false,
            more_to_send: next.is_some(),
            sender: self.config.id,
            receiver: id,
            pools,
        };
        self.send_to_peer(id, m.into());
    }

    pub(super) fn on_table_response(
        &mut self,
        now: Time,
        conn: ConnId,
        id: ServerId,
        r: enrp::HandleTableResponse,
    ) {
        let Some(mut req) = self.peers.get_mut(&id).and_then(|p| p.request.take()) else {
            self.protocol_error(conn, format!("unsolicited HANDLE_TABLE_RESPONSE from {id}"));
            return;
        };
        if r.reject {
            self.protocol_error(conn, format!("{id} rejected our HANDLE_TABLE_REQUEST"));
            if !req.own_only {
                self.sync = SyncState::Unsynced;
            }
            return;
        }
        for pool in r.pools {
            for pe in pool.pool_elements {
                if let Some(r) = self.learn(now, &pool.pool_handle, pe, id, Learnt::Table) {
                    req.entries += 1;
                    if req.own_only {
                        req.seen.insert(r);
                    }
                }
            }
        }
        if r.more_to_send {
            let own_only = req.own_only;
            if let Some(p) = self.peers.get_mut(&id) {
                p.request = Some(req);
            }
            let m = enrp::HandleTableRequest {
                own_children_only: own_only,
                sender: self.config.id,
                receiver: id,
            };
            self.send_enrp(conn, m.into());
            return;
        }
        self.table_complete(now, id, req);
    }

    /// The last block of a table transfer arrived: after an audit
    /// (`own_only`) the peer's PEs it no longer lists go; after a full
    /// synchronisation this PR is synchronised and audits every peer.
    fn table_complete(&mut self, now: Time, id: ServerId, req: TableRequest) {
        if req.own_only {
            // Sweep: what the peer no longer has goes.
            let stale: Vec<EntryRef> = self
                .hs
                .owner_entries(id)
                .filter(|r| !req.seen.contains(r))
                .collect();
            for r in stale {
                self.remove_entry(r, RemovalReason::PeerUpdate);
            }
        } else {
            self.sync = SyncState::Synced;
            self.stats.syncs += 1;
            // Synchronised: no need to wait for the mentor discovery
            // timeout before announcing.
            if self.mentor_deadline.is_some() {
                self.mentor_deadline = Some(now);
            }
            self.event(Event::SyncCompleted {
                peer: id,
                entries: req.entries,
            });
            let ids: Vec<ServerId> = self.peers.keys().copied().collect();
            for p in ids {
                self.audit(p);
            }
        }
    }

    /// Stores a PE learnt from peer `from` (Handle Update or Handle Table
    /// Response). The entry, or `None` if it was not stored.
    pub(super) fn learn(
        &mut self,
        now: Time,
        pool: &PoolHandle,
        pe: PoolElement,
        from: ServerId,
        how: Learnt,
    ) -> Option<EntryRef> {
        let me = self.config.id;
        let home = if pe.home_server_id.0 == 0 {
            from
        } else {
            pe.home_server_id
        };
        if let Err(why) = self.may_learn(pool, &pe, from, home, how) {
            if let Some(detail) = why {
                self.peer_protocol_error(from, detail);
            }
            return None;
        }
        if let Some(r) = self.hs.find(pool, pe.pe_id) {
            if let Some(e) = self.hs.entry(r) {
                if e.home() == me && e.association().is_some() {
                    // Registered here and kept alive here: our claim stands.
                    return None;
                }
                if e.home() != home {
                    // The newer claim replaces the older one (as RSPLIB does).
                    self.hs.set_home(r, home);
                }
            }
        }
        let (lifetime_ms, life) = self.peer_lifetime(pe.registration_life);
        let reg = Registration {
            pe_id: pe.pe_id,
            home,
            lifetime_ms,
            transport: pe.user_transport,
            policy: pe.policy,
            asap_transport: pe.asap_transport.and_then(util::registrator_transport),
            association: None,
        };
        match self.hs.register(pool, reg) {
            Ok(r) => {
                self.hs
                    .schedule_timer(r.entry, TimerKind::LifetimeExpiry, now + life);
                self.event(Event::PeLearned {
                    pool: pool.clone(),
                    pe: pe.pe_id,
                    home,
                    updated: r.updated,
                });
                Some(r.entry)
            }
            Err(e) => {
                let detail = format!("PE {} of pool {pool} from {from} not stored: {e}", pe.pe_id);
                self.peer_protocol_error(from, detail);
                None
            }
        }
    }

    /// Whether a PE learnt from `from` (with home `home`) may be stored;
    /// if not, what to report (`None`: nothing, the PE is simply not
    /// this peer's to tell about).
    fn may_learn(
        &self,
        pool: &PoolHandle,
        pe: &PoolElement,
        from: ServerId,
        home: ServerId,
        how: Learnt,
    ) -> Result<(), Option<String>> {
        if home == self.config.id {
            // Only a PE itself makes this PR its home.
            return Err(None);
        }
        if pool.0.is_empty() || pool.0.len() > super::MAX_POOL_HANDLE_LEN {
            return Err(Some(format!(
                "PE {} from {from} not stored: pool handle of {} bytes",
                pe.pe_id,
                pool.0.len()
            )));
        }
        if util::too_many_addresses(&pe.user_transport) {
            return Err(Some(format!(
                "PE {} of pool {pool} from {from} not stored: more than {} addresses in a transport",
                pe.pe_id,
                crate::wire::MAX_ADDRESSES
            )));
        }
        // A peer speaks for its own PEs: a Handle Update comes from the
        // PE's home, and a table response does not change a PE whose home
        // is another live peer (that peer's own updates and audits are the
        // authority; new entries are kept until its audit says otherwise).
        match how {
            Learnt::Update if home != from => {
                return Err(Some(format!(
                    "HANDLE_UPDATE from {from} for PE {} of pool {pool} homed at {home}: ignored",
                    pe.pe_id
                )));
            }
            Learnt::Table
                if home != from
                    && self.peers.contains_key(&home)
                    && self
                        .hs
                        .get(pool, pe.pe_id)
                        .is_some_and(|e| e.home() == home) =>
            {
                return Err(None);
            }
            _ => {}
        }
        if !util::reachable_transport(&pe.user_transport) {
            return Err(Some(format!(
                "PE {} of pool {pool} from {from} not stored: no unicast address and port",
                pe.pe_id
            )));
        }
        Ok(())
    }

    /// A protocol error on peer `from`'s association.
    fn peer_protocol_error(&mut self, from: ServerId, detail: String) {
        let conn = self.peers.get(&from).map_or(ConnId(0), |p| p.conn);
        self.protocol_error(conn, detail);
    }

    pub(super) fn on_handle_update(&mut self, now: Time, from: ServerId, u: enrp::HandleUpdate) {
        match u.action {
            UpdateAction::AddPe => {
                self.learn(now, &u.pool_handle, u.pool_element, from, Learnt::Update);
            }
            UpdateAction::DelPe => {
                // Only its home removes a PE.
                if let Some(r) = self.hs.find(&u.pool_handle, u.pool_element.pe_id) {
                    if self.hs.entry(r).is_some_and(|e| e.home() == from) {
                        self.remove_entry(r, RemovalReason::PeerUpdate);
                    } else {
                        let conn = self.peers.get(&from).map_or(ConnId(0), |p| p.conn);
                        self.protocol_error(
                            conn,
                            format!(
                                "HANDLE_UPDATE from {from} deleting PE {} of pool {}, which it is not the home of: ignored",
                                u.pool_element.pe_id, u.pool_handle
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// How a PE was learnt from a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Learnt {
    Update,
    Table,
}
