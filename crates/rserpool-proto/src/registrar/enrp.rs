//! The ENRP peer (RFC 5353): peer associations, Presence and liveness,
//! Handle Updates, block-wise Handle Table synchronisation, checksum
//! audits and peer lists.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::asap::{Reply, decode_reply};
use super::state::{MAX_BACKOFF, MIN_BACKOFF, Peer, Serving, SyncState, TableRequest};
use super::util::{self, pool_element, type_index};
use super::{ConnId, Event, PeerDownReason, Registrar, RemovalReason, Source, Transmit};
use crate::handlespace::set::SetFamily;
use crate::handlespace::{EntryRef, Registration, SyncCursor, Time, TimerKind};
use crate::wire::enrp::{self, EnrpMessage, UpdateAction, msg_type};
use crate::wire::{
    DecodeError, OperationError, PoolElement, PoolHandle, ServerId, ServerInformation,
    TransportParam,
};

use super::state::Conn;

/// Header and server IDs of a Handle Table Response.
const HTR_OVERHEAD: usize = 12;
/// A block stops growing beyond this many bytes; one more entry (at most a
/// few hundred bytes) still fits under 65535.
const HTR_SIZE_BUDGET: usize = 60_000;

impl<F: SetFamily> Registrar<F> {
    fn server_info(&self) -> ServerInformation {
        ServerInformation {
            server_id: self.config.id,
            transport: self.config.enrp_transport.clone(),
        }
    }

    fn presence(&self, receiver: ServerId, reply_required: bool) -> EnrpMessage {
        enrp::Presence {
            reply_required,
            sender: self.config.id,
            receiver,
            checksum: Some(self.hs.owner_checksum(self.config.id).0),
            server_info: self.server_info(),
        }
        .into()
    }

    /// Encodes and queues an ENRP message.
    pub(super) fn send_enrp(&mut self, conn: ConnId, m: EnrpMessage) {
        self.stats.enrp_out[type_index(m.msg_type(), true)] += 1;
        if let EnrpMessage::Error(e) = &m {
            util::count_causes(&mut self.stats.errors_by_cause, &e.error);
        }
        self.transmits.push_back(Transmit::Enrp {
            conn,
            bytes: m.to_bytes(),
        });
    }

    fn send_to_peer(&mut self, peer: ServerId, m: EnrpMessage) {
        if let Some(conn) = self.peers.get(&peer).map(|p| p.conn) {
            self.send_enrp(conn, m);
        }
    }

    /// Tells every live peer about a change of one of this PR's PEs.
    pub(super) fn broadcast_update(
        &mut self,
        action: UpdateAction,
        pool: &PoolHandle,
        pe: PoolElement,
    ) {
        let peers: Vec<(ServerId, ConnId)> = self.peers().collect();
        for (id, conn) in peers {
            let m = enrp::HandleUpdate {
                takeover_suggested: false,
                sender: self.config.id,
                receiver: id,
                action,
                pool_handle: pool.clone(),
                pool_element: pe.clone(),
            };
            self.send_enrp(conn, m.into());
        }
    }

    pub(super) fn send_heartbeats(&mut self) {
        let peers: Vec<(ServerId, ConnId)> = self.peers().collect();
        for (id, conn) in peers {
            let m = self.presence(id, false);
            self.send_enrp(conn, m);
        }
        if self.config.announce {
            let m = self.presence(ServerId(0), false);
            self.stats.enrp_out[type_index(m.msg_type(), true)] += 1;
            self.transmits.push_back(Transmit::AnnounceEnrp {
                bytes: m.to_bytes(),
            });
        }
    }

    // ---- associations ----

    pub(super) fn connect_static(&mut self, i: usize) {
        let Some(s) = self.statics.get(i) else {
            return;
        };
        if s.conn.is_some() {
            return;
        }
        let addr = s.addr;
        // Already connected to the PR behind this address (e.g. it
        // connected to us): check again later.
        if s.resolved.is_some_and(|id| self.peers.contains_key(&id)) {
            let backoff = s.backoff;
            if let Some(s) = self.statics.get_mut(i) {
                s.retry_at = Some(self.now + backoff);
            }
            return;
        }
        let expect = s.resolved;
        let conn = self.alloc_conn();
        self.conns
            .insert(conn, Conn::outgoing(addr, expect, Some(i)));
        if let Some(s) = self.statics.get_mut(i) {
            s.conn = Some(conn);
        }
        self.transmits
            .push_back(Transmit::ConnectEnrp { conn, to: addr });
    }

    /// Connects to a PR learnt from a List Response or an announce.
    fn connect_discovered(
        &mut self,
        id: ServerId,
        transport: &TransportParam,
        fallback: Option<SocketAddr>,
    ) {
        if id == self.config.id || self.peers.contains_key(&id) {
            return;
        }
        if self
            .conns
            .values()
            .any(|c| c.expect == Some(id) || c.peer == Some(id))
        {
            return;
        }
        let to = util::socket_addrs(transport)
            .into_iter()
            .next()
            .or_else(|| fallback.map(|f| SocketAddr::new(f.ip(), transport.port())));
        let Some(to) = to else {
            return;
        };
        let conn = self.alloc_conn();
        self.conns.insert(conn, Conn::outgoing(to, Some(id), None));
        self.transmits.push_back(Transmit::ConnectEnrp { conn, to });
    }

    pub(super) fn on_enrp_connected(&mut self, _now: Time, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.connected = true;
        let receiver = c.expect.unwrap_or(ServerId(0));
        let m = self.presence(receiver, true);
        self.send_enrp(conn, m);
    }

    pub(super) fn on_enrp_closed(&mut self, now: Time, conn: ConnId) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        if let Some(i) = c.static_idx {
            if let Some(s) = self.statics.get_mut(i) {
                if s.conn == Some(conn) {
                    s.conn = None;
                    s.retry_at = Some(now + s.backoff);
                    s.backoff = (s.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let Some(id) = c.peer else {
            return;
        };
        if self.peers.get(&id).is_some_and(|p| p.conn == conn) {
            let info = self.peers.get(&id).map(|p| p.info.clone());
            self.peer_gone(id, PeerDownReason::AssociationLost);
            // Dead unless it is back within MAX-TIME-NO-RESPONSE; try to
            // reach it again meanwhile.
            self.suspects
                .insert(id, now + self.config.max_time_no_response);
            let static_managed = self.statics.iter().any(|s| s.resolved == Some(id));
            if !static_managed {
                if let Some(info) = info {
                    self.connect_discovered(id, &info.transport, None);
                }
            }
        }
    }

    /// Forgets a live peer (its association is gone or closed by us).
    fn peer_gone(&mut self, id: ServerId, reason: PeerDownReason) {
        if self.peers.remove(&id).is_none() {
            return;
        }
        self.event(Event::PeerDown { peer: id, reason });
        if self.sync == SyncState::Syncing(id) {
            self.sync = SyncState::Unsynced;
            self.pick_mentor();
        }
        self.peer_left_takeovers(id);
    }

    fn pick_mentor(&mut self) {
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

    fn start_table_request(&mut self, id: ServerId, own_only: bool) {
        let Some(p) = self.peers.get_mut(&id) else {
            return;
        };
        if p.request.is_some() {
            return;
        }
        p.request = Some(TableRequest {
            own_only,
            entries: 0,
            seen: HashSet::new(),
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

    // ---- messages ----

    pub(super) fn on_enrp(&mut self, now: Time, conn: ConnId, bytes: &[u8]) {
        if !self.conns.contains_key(&conn) {
            self.event(Event::ProtocolError {
                from: Source::Enrp(conn),
                detail: "message on an unknown ENRP association".into(),
                answered: false,
                closed: false,
            });
            return;
        }
        let t = bytes.first().copied().unwrap_or(0);
        self.stats.enrp_in[type_index(t, msg_type::name(t).is_some())] += 1;
        match EnrpMessage::decode(bytes, &self.config.decode) {
            Ok(d) => {
                if let Some(e) = OperationError::unrecognized_parameters(&d.unrecognized) {
                    self.send_enrp_error(conn, e);
                    self.event(Event::ProtocolError {
                        from: Source::Enrp(conn),
                        detail: format!(
                            "{}: {} unrecognized parameter(s) reported",
                            d.message.type_name(),
                            d.unrecognized.len()
                        ),
                        answered: true,
                        closed: false,
                    });
                }
                self.enrp_message(now, conn, d.message);
            }
            Err(e) => self.enrp_decode_error(now, conn, bytes, &e),
        }
    }

    fn send_enrp_error(&mut self, conn: ConnId, error: OperationError) {
        let receiver = self
            .conns
            .get(&conn)
            .and_then(|c| c.peer)
            .unwrap_or(ServerId(0));
        let m = enrp::Error {
            sender: self.config.id,
            receiver,
            error,
        };
        self.send_enrp(conn, m.into());
    }

    fn enrp_decode_error(&mut self, now: Time, conn: ConnId, bytes: &[u8], e: &DecodeError) {
        self.stats.decode_errors += 1;
        let (answered, closed) = match decode_reply(e, bytes) {
            Reply::Error(err) => {
                self.send_enrp_error(conn, err);
                (true, false)
            }
            Reply::Nothing => (false, false),
            Reply::Close => {
                self.transmits.push_back(Transmit::CloseEnrp { conn });
                (false, true)
            }
        };
        self.event(Event::ProtocolError {
            from: Source::Enrp(conn),
            detail: e.to_string(),
            answered,
            closed,
        });
        if closed {
            self.on_enrp_closed(now, conn);
        }
    }

    fn protocol_error(&mut self, conn: ConnId, detail: String) {
        self.event(Event::ProtocolError {
            from: Source::Enrp(conn),
            detail,
            answered: false,
            closed: false,
        });
    }

    fn enrp_message(&mut self, now: Time, conn: ConnId, m: EnrpMessage) {
        let sender = m.sender();
        let receiver = m.receiver();
        if sender == self.config.id || sender.0 == 0 {
            let d = format!("{} with sender ID {sender}", m.type_name());
            self.protocol_error(conn, d);
            return;
        }
        if receiver.0 != 0 && receiver != self.config.id {
            let d = format!("{} addressed to {receiver}", m.type_name());
            self.protocol_error(conn, d);
            return;
        }
        if let EnrpMessage::Presence(p) = m {
            self.on_presence(now, conn, p);
            return;
        }
        let peer = self.conns.get(&conn).and_then(|c| c.peer);
        if peer != Some(sender) || self.peers.get(&sender).is_none_or(|p| p.conn != conn) {
            let d = format!("{} from {sender} before its PRESENCE", m.type_name());
            self.protocol_error(conn, d);
            return;
        }
        self.heard(now, sender);
        match m {
            EnrpMessage::Presence(_) => {}
            EnrpMessage::HandleTableRequest(r) => self.serve_table(sender, r.own_children_only),
            EnrpMessage::HandleTableResponse(r) => self.on_table_response(now, conn, sender, r),
            EnrpMessage::HandleUpdate(u) => self.on_handle_update(now, sender, u),
            EnrpMessage::ListRequest(_) => {
                let servers = self
                    .peers
                    .iter()
                    .filter(|(id, _)| **id != sender)
                    .map(|(_, p)| p.info.clone())
                    .collect();
                let m = enrp::ListResponse {
                    reject: false,
                    sender: self.config.id,
                    receiver: sender,
                    servers,
                };
                self.send_enrp(conn, m.into());
            }
            EnrpMessage::ListResponse(l) => {
                if !l.reject {
                    for s in l.servers {
                        self.connect_discovered(s.server_id, &s.transport, None);
                    }
                }
            }
            EnrpMessage::InitTakeover(t) => self.on_init_takeover(now, sender, t.target_server_id),
            EnrpMessage::InitTakeoverAck(t) => {
                self.on_init_takeover_ack(sender, t.target_server_id)
            }
            EnrpMessage::TakeoverServer(t) => self.on_takeover_server(sender, t.target_server_id),
            EnrpMessage::Error(e) => {
                let causes: Vec<&str> = e.error.causes.iter().map(|c| c.code.name()).collect();
                let d = format!("ERROR from {sender}: {}", causes.join(", "));
                self.protocol_error(conn, d);
            }
        }
    }

    fn heard(&mut self, now: Time, id: ServerId) {
        if let Some(p) = self.peers.get_mut(&id) {
            p.last_heard = now;
            p.probe_deadline = None;
        }
    }

    fn on_presence(&mut self, now: Time, conn: ConnId, p: enrp::Presence) {
        let sender = p.sender;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let mut new_peer = false;
        match c.peer {
            Some(id) if id == sender => {}
            Some(id) => {
                let d = format!("PRESENCE from {sender} on the association of {id}");
                self.protocol_error(conn, d);
                return;
            }
            None => {
                if !self.identify(now, conn, sender, &p.server_info) {
                    return;
                }
                new_peer = true;
            }
        }
        self.heard(now, sender);
        if let Some(peer) = self.peers.get_mut(&sender) {
            peer.info = p.server_info.clone();
            peer.announced = p.checksum;
        }
        // The reply goes first: the peer accepts nothing else before it.
        if p.reply_required {
            let m = self.presence(sender, false);
            self.send_enrp(conn, m);
        }
        if new_peer {
            if self.sync == SyncState::Unsynced {
                self.start_table_request(sender, false);
            }
            let m = enrp::ListRequest {
                sender: self.config.id,
                receiver: sender,
            };
            self.send_enrp(conn, m.into());
        }
        self.audit(sender);
    }

    /// A PRESENCE names the PR behind a new association. False if the
    /// association was closed instead (a duplicate).
    fn identify(
        &mut self,
        now: Time,
        conn: ConnId,
        id: ServerId,
        info: &ServerInformation,
    ) -> bool {
        let Some(outgoing) = self.conns.get(&conn).map(|c| c.outgoing) else {
            return false;
        };
        let static_idx = self.conns.get(&conn).and_then(|c| c.static_idx);
        if let Some(i) = static_idx {
            if let Some(s) = self.statics.get_mut(i) {
                s.resolved = Some(id);
                s.backoff = MIN_BACKOFF;
            }
        }
        if let Some(old) = self.peers.get(&id).map(|p| p.conn) {
            // Two associations between the same two PRs: both sides keep
            // the one opened by the PR with the lower ID.
            let me = self.config.id;
            let opener = |out: bool| if out { me } else { id };
            let old_out = self.conns.get(&old).is_some_and(|c| c.outgoing);
            let keep_new = if opener(outgoing) == opener(old_out) {
                conn < old
            } else {
                opener(outgoing) == me.min(id)
            };
            if keep_new {
                self.close_conn(old);
                if let Some(p) = self.peers.get_mut(&id) {
                    p.conn = conn;
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.peer = Some(id);
                }
                self.event(Event::PeerDown {
                    peer: id,
                    reason: PeerDownReason::Replaced,
                });
                self.event(Event::PeerUp { peer: id, conn });
                return true;
            }
            self.close_conn(conn);
            return false;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(id);
        }
        self.peers.insert(
            id,
            Peer {
                conn,
                info: info.clone(),
                last_heard: now,
                probe_deadline: None,
                announced: None,
                request: None,
                serving: None,
            },
        );
        self.suspects.remove(&id);
        self.event(Event::PeerUp { peer: id, conn });
        // A PR we were taking over is alive after all.
        if self.takeovers.remove(&id).is_some() {
            self.event(Event::TakeoverAbandoned { target: id });
        }
        true
    }

    /// Closes an association we no longer want (no PeerDown).
    fn close_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            if let Some(i) = c.static_idx {
                if let Some(s) = self.statics.get_mut(i) {
                    if s.conn == Some(conn) {
                        s.conn = None;
                        s.retry_at = Some(self.now + s.backoff);
                    }
                }
            }
            self.transmits.push_back(Transmit::CloseEnrp { conn });
        }
    }

    /// Checksum audit: a peer whose announced checksum differs from ours
    /// for its PEs is asked for its own PEs.
    fn audit(&mut self, id: ServerId) {
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

    fn serve_table(&mut self, id: ServerId, own_only: bool) {
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
        let mut size = HTR_OVERHEAD;
        let mut next = Some(cursor);
        let mut count = 0;
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
                size += util::pool_element_size(&pe);
                match pools.last_mut() {
                    Some(last) if &last.pool_handle == h => last.pool_elements.push(pe),
                    _ => {
                        size += 4 + h.0.len().next_multiple_of(4);
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

    fn on_table_response(
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
                let pe_id = pe.pe_id;
                if self.learn(now, &pool.pool_handle, pe, id) {
                    req.entries += 1;
                    if req.own_only {
                        req.seen.insert((pool.pool_handle.clone(), pe_id));
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
        if req.own_only {
            // Sweep: what the peer no longer has goes.
            let stale: Vec<EntryRef> = self
                .hs
                .owner_entries(id)
                .filter(|r| {
                    let Some(h) = self.hs.pool_handle_of(*r) else {
                        return false;
                    };
                    let Some(e) = self.hs.entry(*r) else {
                        return false;
                    };
                    !req.seen.contains(&(h.clone(), e.pe_id()))
                })
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
    /// Response). False if it was not stored.
    fn learn(&mut self, now: Time, pool: &PoolHandle, pe: PoolElement, from: ServerId) -> bool {
        let me = self.config.id;
        let home = if pe.home_server_id.0 == 0 {
            from
        } else {
            pe.home_server_id
        };
        if home == me {
            // Only a PE itself makes this PR its home.
            return false;
        }
        if let Some(r) = self.hs.find(pool, pe.pe_id) {
            if let Some(e) = self.hs.entry(r) {
                if e.home() == me && e.association().is_some() {
                    // Registered here and kept alive here: our claim stands.
                    return false;
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
            asap_transport: pe.asap_transport,
            association: None,
        };
        match self.hs.register(pool, reg) {
            Ok(r) => {
                self.hs
                    .schedule_timer(r.entry, TimerKind::LifetimeExpiry, now + life);
                true
            }
            Err(e) => {
                let conn = self.peers.get(&from).map_or(ConnId(0), |p| p.conn);
                self.protocol_error(
                    conn,
                    format!("PE {} of pool {pool} from {from} not stored: {e}", pe.pe_id),
                );
                false
            }
        }
    }

    fn on_handle_update(&mut self, now: Time, from: ServerId, u: enrp::HandleUpdate) {
        match u.action {
            UpdateAction::AddPe => {
                self.learn(now, &u.pool_handle, u.pool_element, from);
            }
            UpdateAction::DelPe => {
                if let Some(r) = self.hs.find(&u.pool_handle, u.pool_element.pe_id) {
                    if self.hs.entry(r).is_some_and(|e| e.home() != self.config.id) {
                        self.remove_entry(r, RemovalReason::PeerUpdate);
                    }
                }
            }
        }
    }

    pub(super) fn on_announce(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        let p = match EnrpMessage::decode(bytes, &self.config.decode) {
            Ok(d) => match d.message {
                EnrpMessage::Presence(p) => p,
                other => {
                    self.event(Event::ProtocolError {
                        from: Source::Announce,
                        detail: format!("{} by multicast from {from}", other.type_name()),
                        answered: false,
                        closed: false,
                    });
                    return;
                }
            },
            Err(e) => {
                self.stats.decode_errors += 1;
                self.event(Event::ProtocolError {
                    from: Source::Announce,
                    detail: format!("from {from}: {e}"),
                    answered: false,
                    closed: false,
                });
                return;
            }
        };
        self.stats.enrp_in[type_index(msg_type::PRESENCE, true)] += 1;
        if p.sender == self.config.id || p.sender.0 == 0 {
            return;
        }
        if self.peers.contains_key(&p.sender) {
            self.heard(now, p.sender);
            return;
        }
        self.connect_discovered(p.sender, &p.server_info.transport, Some(from));
    }

    // ---- liveness ----

    pub(super) fn run_peer_timers(&mut self, now: Time) {
        let mut dead = Vec::new();
        let mut probe = Vec::new();
        for (id, p) in &self.peers {
            match p.probe_deadline {
                Some(d) if d <= now => dead.push(*id),
                Some(_) => {}
                None if p.last_heard + self.config.max_time_last_heard <= now => probe.push(*id),
                None => {}
            }
        }
        for id in probe {
            let m = self.presence(id, true);
            self.send_to_peer(id, m);
            if let Some(p) = self.peers.get_mut(&id) {
                p.probe_deadline = Some(now + self.config.max_time_no_response);
            }
        }
        for id in dead {
            if let Some(conn) = self.peers.get(&id).map(|p| p.conn) {
                self.close_conn(conn);
            }
            self.peer_gone(id, PeerDownReason::Timeout);
            self.start_takeover(now, id);
        }
        let expired: Vec<ServerId> = self
            .suspects
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.suspects.remove(&id);
            self.start_takeover(now, id);
        }
    }

    pub(super) fn send_presence_to(&mut self, id: ServerId) {
        let m = self.presence(id, false);
        self.send_to_peer(id, m);
    }
}
