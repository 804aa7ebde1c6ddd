//! The ENRP peer (RFC 5353): peer associations, PRESENCE and liveness,
//! message dispatch, peer lists and multicast discovery.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use super::asap::{Reply, decode_reply};
use super::state::{MAX_BACKOFF, MIN_BACKOFF, Peer, SyncState};
use super::util::{self, type_index};
use super::{ConnId, Event, PeerDownReason, Registrar, Source, Transmit};
use crate::Time;
use crate::wire::enrp::{self, EnrpMessage, UpdateAction, msg_type};
use crate::wire::size::{ENRP_HEADER_LEN, server_information_len};
use crate::wire::{
    CauseInfo, DecodeError, MAX_MESSAGE_LEN, Message, OperationError, PoolElement, PoolHandle,
    Protocol, ServerId, ServerInformation, TransportParam,
};

use super::state::Conn;

impl Registrar {
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
        match m.to_bytes() {
            Ok(bytes) => self.transmits.push_back(Transmit::Enrp { conn, bytes }),
            Err(error) => self.event(Event::Unsent {
                to: Source::Enrp(conn),
                error,
            }),
        }
    }

    pub(super) fn send_to_peer(&mut self, peer: ServerId, m: EnrpMessage) {
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
            if action == UpdateAction::AddPe && self.refused_by(id, pool, &pe) {
                continue;
            }
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
            match m.to_bytes() {
                Ok(bytes) => {
                    self.stats.enrp_out[type_index(m.msg_type(), true)] += 1;
                    self.transmits.push_back(Transmit::AnnounceEnrp { bytes });
                }
                Err(error) => self.event(Event::Unsent {
                    to: Source::Announce,
                    error,
                }),
            }
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
        // A list may name this registrar under another ID (RSPLIB lists a
        // peer it has not identified yet with ID 0): never connect to itself.
        if util::socket_addrs(&self.config.enrp_transport).contains(&to) {
            return;
        }
        // A name in a message is no reason to connect anywhere: only to
        // unicast addresses of allowed hosts, once per address, and within
        // the peer limits (a List Response naming one address 1,000 times
        // opens one association, not 1,000).
        let pending = self
            .conns
            .values()
            .filter(|c| c.outgoing && c.peer.is_none())
            .count();
        if !util::unicast(to.ip())
            || to.port() == 0
            || !self.peer_host_allowed(to.ip())
            || self.conns.values().any(|c| c.remote == Some(to))
            || pending >= MAX_PENDING_DISCOVERED
            || self.peers.len() >= self.config.max_peers
        {
            return;
        }
        let conn = self.alloc_conn();
        self.conns.insert(conn, Conn::outgoing(to, Some(id), None));
        self.transmits.push_back(Transmit::ConnectEnrp { conn, to });
    }

    pub(super) fn on_enrp_connected(&mut self, now: Time, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.connected = true;
        c.since = now;
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

    pub(super) fn on_enrp(&mut self, now: Time, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get(&conn) else {
            self.event(Event::ProtocolError {
                from: Source::Enrp(conn),
                detail: "message on an unknown ENRP association".into(),
                answered: false,
                closed: false,
            });
            return;
        };
        if self.config.require_identity && c.identity.is_none() {
            self.close_conn(conn);
            self.event(Event::ProtocolError {
                from: Source::Enrp(conn),
                detail: "ENRP message on an unauthenticated association: closed".into(),
                answered: false,
                closed: true,
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

    pub(super) fn protocol_error(&mut self, conn: ConnId, detail: String) {
        self.event(Event::ProtocolError {
            from: Source::Enrp(conn),
            detail,
            answered: false,
            closed: false,
        });
    }

    fn enrp_message(&mut self, now: Time, conn: ConnId, m: EnrpMessage) {
        let mut sender = m.sender();
        let mut receiver = m.receiver();
        let peer = self.conns.get(&conn).and_then(|c| c.peer);
        if matches!(m, EnrpMessage::Error(_))
            && sender == self.config.id
            && peer.is_some_and(|p| p == receiver)
        {
            // RSPLIB answers with the IDs of the message it refuses, so
            // its Error names us as the sender and itself as the receiver.
            std::mem::swap(&mut sender, &mut receiver);
        }
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
                // As many peers as fit in one message (a peer's own
                // Presence may list many addresses).
                let mut size = ENRP_HEADER_LEN;
                let servers = self
                    .peers
                    .iter()
                    .filter(|(id, _)| **id != sender)
                    .map(|(_, p)| &p.info)
                    .filter(|si| {
                        let n = server_information_len(si);
                        let fits = size + n <= MAX_MESSAGE_LEN;
                        size += if fits { n } else { 0 };
                        fits
                    })
                    .cloned()
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
            EnrpMessage::Error(e) => self.on_peer_error(sender, e.error),
        }
    }

    /// A peer refused something we sent. The causes are reported; a Handle
    /// Update it returns (cause Unrecognized Message, or a cause carrying
    /// the message) marks that PE as refused by this peer, so that it is
    /// not sent again until it changes. RSPLIB's Errors carry no info: the
    /// registrator transports sent follow its rules so that it has none to
    /// send (see `util::registrator_transport`).
    fn on_peer_error(&mut self, peer: ServerId, error: OperationError) {
        let mut refused = Vec::new();
        for c in &error.causes {
            let info = c.decode_info(Protocol::Enrp, &self.config.decode);
            if let Ok(CauseInfo::Message(d)) = info {
                if let Message::Enrp(EnrpMessage::HandleUpdate(u)) = d.message {
                    refused.push((u.pool_handle, u.pool_element));
                }
            }
        }
        let mut pes = Vec::new();
        if let Some(p) = self.peers.get_mut(&peer) {
            for (pool, pe) in refused {
                pes.push((pool.clone(), pe.pe_id));
                p.rejected.insert((pool, pe.pe_id), fingerprint(&pe));
            }
        }
        self.event(Event::PeerError {
            peer,
            causes: error.causes.iter().map(|c| c.code).collect(),
            refused: pes,
        });
    }

    /// Whether `peer` refused this very Pool Element before.
    pub(super) fn refused_by(&self, peer: ServerId, pool: &PoolHandle, pe: &PoolElement) -> bool {
        self.peers.get(&peer).is_some_and(|p| {
            !p.rejected.is_empty()
                && p.rejected.get(&(pool.clone(), pe.pe_id)) == Some(&fingerprint(pe))
        })
    }

    pub(super) fn heard(&mut self, now: Time, id: ServerId) {
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
        // A new peer hears from us at once, so that it can name this
        // association too.
        if p.reply_required || new_peer {
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
    /// association was closed instead (refused, or a duplicate).
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
        let host = self.conns.get(&conn).and_then(|c| c.remote).map(|r| r.ip());
        if let Some(detail) = self.presence_refusal(conn, id, host) {
            self.close_conn(conn);
            self.event(Event::ProtocolError {
                from: Source::Enrp(conn),
                detail,
                answered: false,
                closed: true,
            });
            return false;
        }
        let static_idx = self.conns.get(&conn).and_then(|c| c.static_idx);
        if let Some(i) = static_idx {
            if let Some(s) = self.statics.get_mut(i) {
                s.resolved = Some(id);
                s.backoff = MIN_BACKOFF;
            }
        }
        if let Some(old) = self.peers.get(&id).map(|p| p.conn) {
            return self.second_association(conn, outgoing, id, old);
        }
        self.add_peer(now, conn, id, host, info);
        true
    }

    /// Why a PRESENCE naming `id` on `conn` (from `host`) is refused: the
    /// association's certificate may not name it, or another host holds
    /// the ID.
    fn presence_refusal(&self, conn: ConnId, id: ServerId, host: Option<IpAddr>) -> Option<String> {
        let certified = self
            .conns
            .get(&conn)
            .and_then(|c| c.identity.as_ref())
            .map(|i| (i.may_be_registrar(id), i.to_string()));
        if let Some((false, name)) = certified {
            return Some(format!(
                "PRESENCE naming {id} from the certificate of {name}: refused"
            ));
        }
        if !self.host_may_claim(id, host) {
            return Some(format!(
                "PRESENCE naming {id} from {}, not from the host {id} was known at: refused",
                host.map_or_else(|| "an unknown address".to_string(), |h| h.to_string())
            ));
        }
        None
    }

    /// Two associations between the same two PRs (`old` is the peer's
    /// current one): both sides keep the one opened by the PR with the
    /// lower ID. True if `conn` is kept.
    fn second_association(
        &mut self,
        conn: ConnId,
        outgoing: bool,
        id: ServerId,
        old: ConnId,
    ) -> bool {
        let me = self.config.id;
        let opener = |out: bool| if out { me } else { id };
        let old_out = self.conns.get(&old).is_some_and(|c| c.outgoing);
        let keep_new = if opener(outgoing) == opener(old_out) {
            conn < old
        } else {
            opener(outgoing) == me.min(id)
        };
        if !keep_new {
            self.close_conn(conn);
            return false;
        }
        self.close_conn(old);
        if let Some(p) = self.peers.get_mut(&id) {
            p.conn = conn;
            // Table transfers on the old association are lost with it:
            // start them again on this one (on_presence asks for the table
            // or audits), or the sync never ends.
            p.request = None;
            p.serving = None;
        }
        if self.sync == SyncState::Syncing(id) {
            self.sync = SyncState::Unsynced;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(id);
        }
        self.event(Event::PeerDown {
            peer: id,
            reason: PeerDownReason::Replaced,
        });
        self.event(Event::PeerUp { peer: id, conn });
        true
    }

    /// A new live peer: its hosts are remembered, it is no longer suspect,
    /// and a takeover of it is abandoned.
    fn add_peer(
        &mut self,
        now: Time,
        conn: ConnId,
        id: ServerId,
        host: Option<IpAddr>,
        info: &ServerInformation,
    ) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.peer = Some(id);
        }
        let hosts = self.peer_hosts.entry(id).or_default();
        for h in host
            .into_iter()
            .chain(util::socket_addrs(&info.transport).iter().map(|a| a.ip()))
        {
            if !hosts.contains(&h) && hosts.len() < MAX_PEER_HOSTS {
                hosts.push(h);
            }
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
                rejected: BTreeMap::new(),
            },
        );
        self.suspects.remove(&id);
        self.event(Event::PeerUp { peer: id, conn });
        // A PR we were taking over is alive after all.
        if self.takeovers.remove(&id).is_some() {
            self.event(Event::TakeoverAbandoned { target: id });
        }
    }

    /// Whether a PRESENCE naming `id` may come from `host`: a PR that is
    /// live, suspect or being taken over keeps its ID to the hosts it was
    /// known at, so that nobody elsewhere can take its place (and suppress
    /// its takeover, or replace its association) by naming its ID.
    fn host_may_claim(&self, id: ServerId, host: Option<IpAddr>) -> bool {
        let reserved = self.peers.contains_key(&id)
            || self.suspects.contains_key(&id)
            || self.takeovers.contains_key(&id)
            || self.foreign_takeovers.contains_key(&id);
        match (self.peer_hosts.get(&id), host) {
            (Some(hosts), Some(h)) if reserved => hosts.contains(&h),
            _ => true,
        }
    }

    /// Whether ENRP from `ip` is allowed: any host without an allow-list;
    /// with one, its entries and the static peers' hosts.
    pub(super) fn peer_host_allowed(&self, ip: IpAddr) -> bool {
        self.config.peer_allow.is_empty()
            || self.config.peer_allow.iter().any(|p| p.contains(ip))
            || self.config.peers.iter().any(|s| s.ip() == ip)
    }

    /// The PR's ID is free again (its PEs were taken over, or it had
    /// none): another host may now claim it.
    pub(super) fn release_peer_host(&mut self, id: ServerId) {
        if !self.peers.contains_key(&id) {
            self.peer_hosts.remove(&id);
        }
    }

    /// Closes an association we no longer want (no PeerDown).
    pub(super) fn close_conn(&mut self, conn: ConnId) {
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
            // Datagrams are easily forged: only from the peer's own host
            // do they count as a sign of life.
            if self
                .peer_hosts
                .get(&p.sender)
                .is_some_and(|h| h.contains(&from.ip()))
            {
                self.heard(now, p.sender);
            }
            return;
        }
        // Joining a scope by multicast only when this PR takes part in
        // discovery (announces on).
        if self.config.announce {
            self.connect_discovered(p.sender, &p.server_info.transport, Some(from));
        }
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
        // An association that never named its PR is dropped.
        let silent: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.connected && c.peer.is_none() && c.since + self.config.max_time_no_response <= now
            })
            .map(|(id, _)| *id)
            .collect();
        for conn in silent {
            self.close_conn(conn);
            self.event(Event::ProtocolError {
                from: Source::Enrp(conn),
                detail: "no PRESENCE on a new ENRP association".into(),
                answered: false,
                closed: true,
            });
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
            if !self.takeovers.contains_key(&id) && !self.foreign_takeovers.contains_key(&id) {
                self.release_peer_host(id);
            }
        }
    }

    pub(super) fn send_presence_to(&mut self, id: ServerId) {
        let m = self.presence(id, false);
        self.send_to_peer(id, m);
    }
}

/// Most associations to peers learnt from lists or announces that may be
/// opening at once.
const MAX_PENDING_DISCOVERED: usize = 8;

/// Most host addresses remembered per peer.
const MAX_PEER_HOSTS: usize = 8;

/// A stable digest of a Pool Element as sent (the same in every process,
/// so a simulated run replays).
fn fingerprint(pe: &PoolElement) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    pe.hash(&mut h);
    h.finish()
}
