//! The ASAP server side (RFC 5352): registration, deregistration, handle
//! resolution, keep-alive, unreachability reports.

use std::time::Duration;

use super::util::{self, fill_addresses, pool_element, type_index};
use super::{Event, Registrar, RemovalReason, Source, Transmit};
use crate::Time;
use crate::handlespace::{
    AssocId, DueTimer, EntryRef, HsError, Registered, Registration, TimerKind, Unreachable,
};
use crate::wire::asap::{self, AsapMessage, msg_type};
use crate::wire::enrp::UpdateAction;
use crate::wire::raw;
use crate::wire::size::{MAX_POLICY_LEN, pool_element_len, pool_handle_len};
use crate::wire::{
    DecodeError, ErrorCause, ErrorCauseCode, HEADER_LEN, MAX_MESSAGE_LEN, OperationError, PeId,
    PoolElement, PoolHandle, ServerId, TransportParam, param_type,
};

/// Longest pool handle accepted in a registration (RSPLIB accepts 32
/// bytes); keeps every Handle Table block far below the message size limit.
pub const MAX_POOL_HANDLE_LEN: usize = 1024;

/// Most PEs whose unreachable reporters are remembered at once.
const MAX_REPORTED_PES: usize = 16_384;

/// Why a registration is refused: the cause for the REGISTRATION_RESPONSE
/// and, where it is worth a log line, what to report.
struct Refusal {
    code: ErrorCauseCode,
    info: Vec<u8>,
    detail: Option<String>,
}

impl Refusal {
    fn new(code: ErrorCauseCode) -> Self {
        Refusal {
            code,
            info: Vec::new(),
            detail: None,
        }
    }
}

/// What a registration stores once its values are checked.
struct Admitted {
    transport: TransportParam,
    lifetime_ms: u32,
    asap_transport: Option<TransportParam>,
}

impl Registrar {
    pub(super) fn on_asap(&mut self, now: Time, assoc: AssocId, bytes: &[u8]) {
        if !self.assocs.contains_key(&assoc) {
            self.event(Event::ProtocolError {
                from: Source::Asap(assoc),
                detail: "message on an unknown ASAP association".into(),
                answered: false,
                closed: false,
            });
            return;
        }
        let t = bytes.first().copied().unwrap_or(0);
        self.stats.asap_in[type_index(t, msg_type::name(t).is_some())] += 1;
        match AsapMessage::decode(bytes, &self.config.decode) {
            Ok(d) => {
                if let Some(e) = OperationError::unrecognized_parameters(&d.unrecognized) {
                    self.send_asap(assoc, asap::Error { error: e }.into());
                    self.event(Event::ProtocolError {
                        from: Source::Asap(assoc),
                        detail: format!(
                            "{}: {} unrecognized parameter(s) reported",
                            d.message.type_name(),
                            d.unrecognized.len()
                        ),
                        answered: true,
                        closed: false,
                    });
                }
                self.asap_message(now, assoc, d.message, bytes);
            }
            Err(e) => self.asap_decode_error(now, assoc, bytes, &e),
        }
    }

    fn asap_decode_error(&mut self, now: Time, assoc: AssocId, bytes: &[u8], e: &DecodeError) {
        self.stats.decode_errors += 1;
        let (answer, closed) = match decode_reply(e, bytes) {
            Reply::Error(err) => (Some(err), false),
            Reply::Nothing => (None, false),
            Reply::Close => (None, true),
        };
        let answered = answer.is_some();
        if let Some(err) = answer {
            self.send_asap(assoc, asap::Error { error: err }.into());
        }
        if closed {
            self.transmits.push_back(Transmit::CloseAsap { assoc });
        }
        self.event(Event::ProtocolError {
            from: Source::Asap(assoc),
            detail: e.to_string(),
            answered,
            closed,
        });
        if closed {
            self.drop_assoc(now, assoc);
        }
    }

    fn asap_message(&mut self, now: Time, assoc: AssocId, m: AsapMessage, raw: &[u8]) {
        match m {
            AsapMessage::Registration(r) => self.on_registration(now, assoc, r, raw),
            AsapMessage::Deregistration(d) => self.on_deregistration(assoc, d),
            AsapMessage::HandleResolution(h) => self.on_handle_resolution(now, assoc, h),
            AsapMessage::EndpointKeepAliveAck(k) => self.on_keep_alive_ack(now, assoc, k),
            AsapMessage::EndpointUnreachable(u) => self.on_unreachable(now, assoc, u),
            AsapMessage::Error(e) => {
                let causes: Vec<&str> = e.error.causes.iter().map(|c| c.code.name()).collect();
                self.event(Event::ProtocolError {
                    from: Source::Asap(assoc),
                    detail: format!("ERROR received: {}", causes.join(", ")),
                    answered: false,
                    closed: false,
                });
            }
            other => {
                // Messages a registrar never receives are answered like
                // unknown ones: the sender learns it talks to the wrong side.
                let name = other.type_name();
                self.send_asap(
                    assoc,
                    asap::Error {
                        error: OperationError::single(ErrorCause::unrecognized_message(raw)),
                    }
                    .into(),
                );
                self.event(Event::ProtocolError {
                    from: Source::Asap(assoc),
                    detail: format!("{name} is not a message a registrar accepts"),
                    answered: true,
                    closed: false,
                });
            }
        }
    }

    fn on_registration(&mut self, now: Time, assoc: AssocId, r: asap::Registration, raw: &[u8]) {
        let pool = r.pool_handle;
        let pe_id = r.pool_element.pe_id;
        let policy = r.pool_element.policy;
        let claimed = self
            .admit_registration(assoc, &pool, r.pool_element, raw)
            .and_then(|admitted| {
                let moved = self.claim_pe_id(assoc, &pool, pe_id, &admitted.transport)?;
                Ok((admitted, moved))
            });
        let (admitted, moved) = match claimed {
            Ok(claimed) => claimed,
            Err(refusal) => return self.refuse_registration(assoc, &pool, pe_id, refusal),
        };
        let reg = Registration {
            pe_id,
            home: self.config.id,
            lifetime_ms: admitted.lifetime_ms,
            transport: admitted.transport,
            policy,
            asap_transport: admitted.asap_transport,
            association: Some(assoc),
        };
        match self.hs.register(&pool, reg) {
            Ok(Registered { entry, updated }) => {
                let renewed = updated && moved.is_none();
                self.registered(now, assoc, &pool, pe_id, entry, renewed);
            }
            Err(err) => {
                if let Some((r, home)) = moved {
                    self.hs.set_home(r, home);
                }
                let (code, info) = registration_cause(&err, raw);
                let refusal = Refusal {
                    code,
                    info,
                    detail: None,
                };
                self.refuse_registration(assoc, &pool, pe_id, refusal);
            }
        }
    }

    /// Checks a registration's values and identity, and works out what is
    /// stored: the user transport with the association's address for
    /// unspecified ones, the lifetime within bounds, the ASAP transport.
    fn admit_registration(
        &self,
        assoc: AssocId,
        pool: &PoolHandle,
        pe: PoolElement,
        raw: &[u8],
    ) -> Result<Admitted, Refusal> {
        let remote = self.assocs.get(&assoc).and_then(|a| a.remote());
        if pool.0.is_empty() || pool.0.len() > MAX_POOL_HANDLE_LEN || pe.registration_life < 0 {
            return Err(Refusal::new(ErrorCauseCode::InvalidValues));
        }
        let identity = self.assocs.get(&assoc).and_then(|a| a.identity());
        if self.config.require_identity && !identity.is_some_and(|i| i.may_register(pool)) {
            // RFC 5352 section 9.2: the certificate is the authorization.
            return Err(Refusal::new(ErrorCauseCode::RejectionDueToSecurity));
        }
        let transport = fill_addresses(pe.user_transport, remote.map(|r| r.ip()))
            .filter(util::reachable_transport);
        let Some(transport) = transport else {
            return Err(Refusal {
                code: ErrorCauseCode::InvalidValues,
                info: raw::pool_element_param(raw, param_type::is_transport),
                detail: None,
            });
        };
        // The user transport (what the PE chose) is refused with more
        // addresses than RSPLIB keeps; its ASAP transport is cut to them
        // (`registrator_transport`), as it is the association's.
        if util::too_many_addresses(&transport) {
            // The transport itself is not echoed (it may be nearly 64 KB).
            return Err(Refusal {
                code: ErrorCauseCode::InvalidValues,
                info: Vec::new(),
                detail: Some(format!(
                    "REGISTRATION of PE {} in pool {pool} refused: more than {} addresses in a transport",
                    pe.pe_id,
                    crate::wire::MAX_ADDRESSES
                )),
            });
        }
        let max_life = self.config.max_registration_lifetime.as_millis();
        if i128::from(pe.registration_life) > i128::try_from(max_life).unwrap_or(i128::MAX) {
            return Err(Refusal::new(ErrorCauseCode::InvalidValues));
        }
        let min_life =
            u32::try_from(self.config.min_registration_lifetime.as_millis()).unwrap_or(u32::MAX);
        let lifetime_ms = u32::try_from(pe.registration_life)
            .unwrap_or(0)
            .max(min_life);
        let asap_transport = pe
            .asap_transport
            .and_then(|t| fill_addresses(t, remote.map(|r| r.ip())))
            .and_then(util::registrator_transport)
            .or_else(|| {
                let a = self.assocs.get(&assoc)?;
                let r = a.remote()?;
                let own = self.config.asap_transport.as_ref();
                Some(util::asap_transport_of(r, a.remote_addrs(), own))
            });
        Ok(Admitted {
            transport,
            lifetime_ms,
            asap_transport,
        })
    }

    /// Whether `assoc` may register `pe_id` in `pool`: a new PE within the
    /// association's quota, or a PE it already holds. A PE already known
    /// under another home PR moves here (it chose this PR, e.g. after its
    /// home failed): its home is set to this PR at once, and the previous
    /// one returned so that a failed registration can restore it. One
    /// registered here through another association with another transport
    /// is a different PE.
    fn claim_pe_id(
        &mut self,
        assoc: AssocId,
        pool: &PoolHandle,
        pe_id: PeId,
        transport: &TransportParam,
    ) -> Result<Option<(EntryRef, ServerId)>, Refusal> {
        let me = self.config.id;
        let remote = self.assocs.get(&assoc).and_then(|a| a.remote());
        let Some(existing) = self.hs.find(pool, pe_id) else {
            let max = self.config.max_pes_per_association;
            if self.hs.association_entries(assoc).take(max).count() >= max {
                return Err(Refusal::new(ErrorCauseCode::LackOfResources));
            }
            return Ok(None);
        };
        let Some(e) = self.hs.entry(existing) else {
            return Ok(None);
        };
        if e.home() == me && e.association() != Some(assoc) {
            // A PE ID belongs to the association that registered it;
            // another may take it over only from the same host with the
            // same transport (a PE that reconnects before its old
            // association is found gone), so that nobody can seize a PE by
            // repeating what a handle resolution shows of it. In an
            // authenticated scope it belongs to the identity that
            // registered it, wherever that connects from. (Re-registrations
            // on the PE's own association, the common case, skip all of
            // this.)
            let holder = e.association().and_then(|a| self.assocs.get(&a));
            let holder_ip = holder.and_then(|a| a.remote()).map(|r| r.ip());
            let same_host = holder_ip.is_none() || holder_ip == remote.map(|r| r.ip());
            let holder_identity = holder.and_then(|a| a.identity()).map(|i| i.name.as_str());
            let own_identity = self
                .assocs
                .get(&assoc)
                .and_then(|a| a.identity())
                .map(|i| i.name.as_str());
            if self.config.require_identity && holder_identity != own_identity {
                return Err(Refusal::new(ErrorCauseCode::RejectionDueToSecurity));
            }
            if e.transport() != *transport || !same_host {
                return Err(Refusal::new(ErrorCauseCode::NonUniquePeId));
            }
            Ok(None)
        } else if e.home() != me {
            // A PE moves here from a live peer only from where it was (its
            // host is one of its registered addresses): otherwise anyone
            // who copies its pool and PE ID to another registrar splits the
            // scope's view of it.
            let old_home = e.home();
            let old_home_live = self.peers.contains_key(&old_home);
            let from_its_host = remote.is_some_and(|r| e.transport().addresses().contains(&r.ip()));
            if old_home_live && !from_its_host {
                return Err(Refusal::new(ErrorCauseCode::NonUniquePeId));
            }
            self.hs.set_home(existing, me);
            Ok(Some((existing, old_home)))
        } else {
            Ok(None)
        }
    }

    /// A registration is stored: keep-alive timer, event, response, and
    /// the Handle Update to the peers.
    fn registered(
        &mut self,
        now: Time,
        assoc: AssocId,
        pool: &PoolHandle,
        pe_id: PeId,
        entry: EntryRef,
        renewed: bool,
    ) {
        self.hs.schedule_timer(
            entry,
            TimerKind::KeepAliveTransmission,
            now + self.config.keep_alive_transmission_interval,
        );
        self.event(if renewed {
            Event::PeReregistered {
                pool: pool.clone(),
                pe: pe_id,
            }
        } else {
            Event::PeRegistered {
                pool: pool.clone(),
                pe: pe_id,
                assoc,
            }
        });
        self.send_asap(
            assoc,
            asap::RegistrationResponse {
                reject: false,
                pool_handle: pool.clone(),
                pe_id,
                error: None,
            }
            .into(),
        );
        // Without peers there is no Handle Update to build (its copy of the
        // PE's addresses would be made and dropped with every renewal).
        if self.peers().next().is_some() {
            if let Some(e) = self.hs.entry(entry) {
                let pe = pool_element(e, true);
                self.broadcast_update(UpdateAction::AddPe, pool, pe);
            }
        }
        // A taken-over PE that re-registers has answered, Ack or not: its
        // place in the takeover's window goes to the next PE now.
        self.reach_answered(now, entry);
    }

    /// Answers a refused registration (and reports it when it says why).
    fn refuse_registration(
        &mut self,
        assoc: AssocId,
        pool: &PoolHandle,
        pe_id: PeId,
        refusal: Refusal,
    ) {
        let m = asap::RegistrationResponse {
            reject: true,
            pool_handle: pool.clone(),
            pe_id,
            error: Some(OperationError::single(ErrorCause::new(
                refusal.code,
                refusal.info,
            ))),
        };
        self.send_asap(assoc, m.into());
        if let Some(detail) = refusal.detail {
            self.event(Event::ProtocolError {
                from: Source::Asap(assoc),
                detail,
                answered: true,
                closed: false,
            });
        }
    }

    fn on_deregistration(&mut self, assoc: AssocId, d: asap::Deregistration) {
        let me = self.config.id;
        let mut error = None;
        if let Some(r) = self.hs.find(&d.pool_handle, d.pe_id) {
            let allowed = self
                .hs
                .entry(r)
                .is_some_and(|e| e.home() == me && e.association() == Some(assoc));
            if allowed {
                self.remove_entry(r, RemovalReason::Deregistered);
            } else {
                // Only the association that registered a PE may remove it.
                error = Some(OperationError::single(ErrorCause::bare(
                    ErrorCauseCode::RejectionDueToSecurity,
                )));
            }
        }
        // An unknown PE is answered positively (RFC 5352): it is gone.
        self.send_asap(
            assoc,
            asap::DeregistrationResponse {
                pool_handle: d.pool_handle,
                pe_id: d.pe_id,
                error,
            }
            .into(),
        );
    }

    fn on_handle_resolution(&mut self, now: Time, assoc: AssocId, h: asap::HandleResolution) {
        let limit = self.config.max_hr_rate;
        if !self
            .assocs
            .get_mut(&assoc)
            .is_some_and(|a| a.allow_resolution(now, limit))
        {
            // Answered, not dropped: the pool user learns to slow down
            // instead of waiting for its timer (RSPLIB drops them).
            self.rate_limited(assoc, "handle resolution");
            let m = asap::HandleResolutionResponse {
                pool_handle: h.pool_handle,
                policy: None,
                pool_elements: Vec::new(),
                error: Some(OperationError::single(ErrorCause::bare(
                    ErrorCauseCode::LackOfResources,
                ))),
            };
            self.send_asap(assoc, m.into());
            return;
        }
        if h.pool_handle.0.len() > MAX_POOL_HANDLE_LEN {
            // No pool has such a handle, and a response echoing it might
            // not fit in a message.
            let error = OperationError::single(ErrorCause::bare(ErrorCauseCode::InvalidValues));
            self.send_asap(assoc, asap::Error { error }.into());
            return;
        }
        let m = self.resolve(h);
        self.send_asap(assoc, m.into());
    }

    /// A handle resolution as ASAP answers it: at most MaxHResItems PEs
    /// (fewer when the request asks for fewer), chosen and charged by the
    /// pool's policy. Also for clients that do not speak ASAP.
    pub fn resolve(&mut self, h: asap::HandleResolution) -> asap::HandleResolutionResponse {
        let max = self.config.max_hres_items;
        let want = match h.items {
            Some(n) if n > 0 => n.min(max),
            _ => max,
        } as usize;
        self.resolve_buf.clear();
        self.resolve_buf.resize(want, EntryRef::NONE);
        match self
            .hs
            .resolve(&h.pool_handle, &mut self.rng, &mut self.resolve_buf)
        {
            Ok(n) => {
                // Whole PEs while the response stays within 65535 bytes
                // (the most a policy parameter takes counted up front), as
                // Handle Table Responses are budgeted.
                let mut size = HEADER_LEN + pool_handle_len(&h.pool_handle) + MAX_POLICY_LEN;
                let pes: Vec<_> = self.resolve_buf[..n]
                    .iter()
                    .filter_map(|r| self.hs.entry(*r))
                    .map(|e| pool_element(e, false))
                    .take_while(|pe| {
                        size += pool_element_len(pe);
                        size <= MAX_MESSAGE_LEN
                    })
                    .collect();
                let policy = match pes.first() {
                    Some(p) => Some(p.policy),
                    None => self
                        .hs
                        .pool_entries(&h.pool_handle)
                        .next()
                        .and_then(|r| self.hs.entry(r))
                        .map(|e| e.policy()),
                };
                asap::HandleResolutionResponse {
                    pool_handle: h.pool_handle,
                    policy,
                    pool_elements: pes,
                    error: None,
                }
            }
            Err(_) => asap::HandleResolutionResponse {
                pool_handle: h.pool_handle,
                policy: None,
                pool_elements: Vec::new(),
                error: Some(OperationError::single(ErrorCause::bare(
                    ErrorCauseCode::UnknownPoolHandle,
                ))),
            },
        }
    }

    fn on_keep_alive_ack(&mut self, now: Time, assoc: AssocId, k: asap::EndpointKeepAliveAck) {
        let me = self.config.id;
        let Some(r) = self.hs.find(&k.pool_handle, k.pe_id) else {
            return;
        };
        let ours = self
            .hs
            .entry(r)
            .is_some_and(|e| e.home() == me && e.association() == Some(assoc));
        if ours {
            self.hs.schedule_timer(
                r,
                TimerKind::KeepAliveTransmission,
                now + self.config.keep_alive_transmission_interval,
            );
            self.reach_answered(now, r);
        }
    }

    fn on_unreachable(&mut self, now: Time, assoc: AssocId, u: asap::EndpointUnreachable) {
        let limit = self.config.max_eu_rate;
        if !self
            .assocs
            .get_mut(&assoc)
            .is_some_and(|a| a.allow_unreachable(now, limit))
        {
            self.rate_limited(assoc, "endpoint unreachable");
            return;
        }
        let Some(r) = self.hs.find(&u.pool_handle, u.pe_id) else {
            return;
        };
        // Only the first report of each host counts (RFC 5355 section 3.5:
        // one pool user must not be able to evict a PE).
        let Some(host) = self
            .assocs
            .get(&assoc)
            .and_then(|a| a.remote())
            .map(|r| r.ip())
        else {
            return;
        };
        if self.unreachable_reporters.len() >= MAX_REPORTED_PES {
            // Advisory state under a flood of reports: start afresh.
            self.unreachable_reporters.clear();
        }
        let hosts = self
            .unreachable_reporters
            .entry((u.pool_handle.clone(), u.pe_id))
            .or_default();
        if hosts.contains(&host) {
            return;
        }
        hosts.push(host);
        if let Some(Unreachable::ThresholdReached(_)) = self.hs.report_unreachable(r) {
            // Removed here whoever its home is, so that this PR stops
            // handing it out; only its home PR tells the peers. If the PE
            // is still alive at its home, the next checksum audit brings
            // it back.
            self.remove_entry(r, RemovalReason::UnreachableReports);
        }
    }

    fn rate_limited(&mut self, assoc: AssocId, what: &'static str) {
        self.stats.rate_limited += 1;
        self.event(Event::RateLimited { assoc, what });
    }

    /// Removes an entry; its home PR (this one) tells the peers.
    pub(super) fn remove_entry(&mut self, r: EntryRef, reason: RemovalReason) {
        let Some(pool) = self.hs.pool_handle_of(r).cloned() else {
            return;
        };
        let Some(e) = self.hs.entry(r) else {
            return;
        };
        let owned = e.home() == self.config.id;
        let pe = pool_element(e, true);
        self.hs.remove(r);
        if !self.unreachable_reporters.is_empty() {
            self.unreachable_reporters.remove(&(pool.clone(), pe.pe_id));
        }
        self.event(Event::PeRemoved {
            pool: pool.clone(),
            pe: pe.pe_id,
            reason,
        });
        if owned {
            self.broadcast_update(UpdateAction::DelPe, &pool, pe);
        }
    }

    /// Forgets an association and every PE registered through it.
    pub(super) fn drop_assoc(&mut self, _now: Time, assoc: AssocId) {
        if self.assocs.remove(&assoc).is_none() {
            return;
        }
        let me = self.config.id;
        let mut gone = Vec::new();
        self.hs.remove_association(assoc, |pool, e| {
            gone.push((pool.clone(), e.home() == me, pool_element(e, true)));
        });
        for (pool, owned, pe) in gone {
            self.event(Event::PeRemoved {
                pool: pool.clone(),
                pe: pe.pe_id,
                reason: RemovalReason::AssociationLost,
            });
            if owned {
                self.broadcast_update(UpdateAction::DelPe, &pool, pe);
            }
        }
    }

    pub(super) fn on_asap_connected(&mut self, now: Time, assoc: AssocId) {
        let Some(pending) = self.assocs.get_mut(&assoc).and_then(|a| a.take_pending()) else {
            return;
        };
        for bytes in pending {
            self.transmits.push_back(Transmit::Asap { assoc, bytes });
        }
        // The Keep-Alive just went out: the PE must answer in time.
        let entries: Vec<EntryRef> = self.hs.association_entries(assoc).collect();
        for r in entries {
            self.hs.schedule_timer(
                r,
                TimerKind::KeepAliveTimeout,
                now + self.config.keep_alive_timeout,
            );
        }
    }

    /// Encodes and queues an ASAP message (held while an outgoing
    /// association is still connecting).
    pub(super) fn send_asap(&mut self, assoc: AssocId, m: AsapMessage) {
        let t = m.msg_type();
        self.stats.asap_out[type_index(t, true)] += 1;
        match &m {
            AsapMessage::Error(e) => util::count_causes(&mut self.stats.errors_by_cause, &e.error),
            AsapMessage::RegistrationResponse(asap::RegistrationResponse {
                error: Some(e),
                ..
            })
            | AsapMessage::DeregistrationResponse(asap::DeregistrationResponse {
                error: Some(e),
                ..
            })
            | AsapMessage::HandleResolutionResponse(asap::HandleResolutionResponse {
                error: Some(e),
                ..
            }) => util::count_causes(&mut self.stats.errors_by_cause, e),
            _ => {}
        }
        let bytes = match m.to_bytes() {
            Ok(b) => b,
            Err(error) => {
                self.event(Event::Unsent {
                    to: Source::Asap(assoc),
                    error,
                });
                return;
            }
        };
        if let Some(p) = self.assocs.get_mut(&assoc).and_then(|a| a.pending_mut()) {
            p.push(bytes);
            return;
        }
        self.transmits.push_back(Transmit::Asap { assoc, bytes });
    }

    /// Sends an Endpoint Keep-Alive for entry `r` on its association.
    pub(super) fn send_keep_alive(&mut self, r: EntryRef, home: bool) -> bool {
        let Some(pool) = self.hs.pool_handle_of(r).cloned() else {
            return false;
        };
        let Some((assoc, pe_id)) = self
            .hs
            .entry(r)
            .and_then(|e| e.association().map(|a| (a, e.pe_id())))
        else {
            return false;
        };
        self.send_asap(
            assoc,
            asap::EndpointKeepAlive {
                home,
                server_id: self.config.id,
                pool_handle: pool,
                pe_id: Some(pe_id),
            }
            .into(),
        );
        true
    }

    pub(super) fn run_pe_timers(&mut self, now: Time) {
        loop {
            let mut due = std::mem::take(&mut self.due);
            let n = self.hs.take_due(now, &mut due);
            for d in &due[..n] {
                self.pe_timer(now, *d);
            }
            let full = n == due.len();
            self.due = due;
            if !full {
                break;
            }
        }
    }

    fn pe_timer(&mut self, now: Time, d: DueTimer) {
        match d.kind {
            TimerKind::KeepAliveTransmission => {
                if self.send_keep_alive(d.entry, false) {
                    self.hs.schedule_timer(
                        d.entry,
                        TimerKind::KeepAliveTimeout,
                        now + self.config.keep_alive_timeout,
                    );
                } else {
                    self.remove_entry(d.entry, RemovalReason::AssociationLost);
                }
            }
            TimerKind::KeepAliveTimeout => {
                self.remove_entry(d.entry, RemovalReason::KeepAliveTimeout)
            }
            TimerKind::LifetimeExpiry => self.remove_entry(d.entry, RemovalReason::LifetimeExpired),
        }
    }

    pub(super) fn send_server_announce(&mut self) {
        let m = AsapMessage::from(asap::ServerAnnounce {
            server_id: self.config.id,
            transports: self.config.asap_transport.iter().cloned().collect(),
        });
        match m.to_bytes() {
            Ok(bytes) => {
                self.stats.asap_out[type_index(m.msg_type(), true)] += 1;
                self.transmits.push_back(Transmit::AnnounceAsap { bytes });
            }
            Err(error) => self.event(Event::Unsent {
                to: Source::Announce,
                error,
            }),
        }
    }

    /// The lifetime to use for an entry learnt from a peer.
    pub(super) fn peer_lifetime(&self, registration_life: i32) -> (u32, Duration) {
        let min = self.config.min_registration_lifetime;
        let max = self.config.max_registration_lifetime.max(min);
        let ms = u64::try_from(registration_life).unwrap_or(0);
        let d = Duration::from_millis(ms).clamp(min, max);
        (u32::try_from(d.as_millis()).unwrap_or(u32::MAX), d)
    }
}

/// What to answer a message that does not decode.
pub(super) enum Reply {
    Error(OperationError),
    Nothing,
    /// The stream is unusable (framing lost): abort the association.
    Close,
}

/// The answer RFC 5352/5353 give for a decoding error.
pub(super) fn decode_reply(e: &DecodeError, bytes: &[u8]) -> Reply {
    match e {
        DecodeError::UnknownMessageType { .. } => Reply::Error(OperationError::single(
            ErrorCause::unrecognized_message(bytes),
        )),
        DecodeError::UnrecognizedParameter { report, .. } => {
            match OperationError::unrecognized_parameters(report) {
                Some(err) => Reply::Error(err),
                None => Reply::Nothing,
            }
        }
        // The driver framed the whole message, so the stream is intact:
        // a message over the configured size is a limit, not a framing loss.
        DecodeError::MessageTooLarge { .. } => Reply::Error(OperationError::single(
            ErrorCause::bare(ErrorCauseCode::LackOfResources),
        )),
        DecodeError::BadMessageLength { .. } => Reply::Close,
        DecodeError::Truncated { at, .. } if at.offset < HEADER_LEN => Reply::Close,
        _ => Reply::Error(OperationError::single(ErrorCause::bare(
            ErrorCauseCode::InvalidValues,
        ))),
    }
}

/// The error cause (and its info: the offending parameter) for a refused
/// registration.
fn registration_cause(e: &HsError, raw: &[u8]) -> (ErrorCauseCode, Vec<u8>) {
    match e {
        HsError::InconsistentPoolingPolicy { .. } => (
            ErrorCauseCode::InconsistentPoolingPolicy,
            raw::pool_element_param(raw, |t| t == param_type::POOL_MEMBER_SELECTION_POLICY),
        ),
        HsError::InconsistentTransportType { .. } => (
            ErrorCauseCode::InconsistentTransportType,
            raw::pool_element_param(raw, param_type::is_transport),
        ),
        HsError::InconsistentDataControlConfiguration { .. } => (
            ErrorCauseCode::InconsistentDataControlConfiguration,
            Vec::new(),
        ),
        HsError::NonUniquePeId { .. } => (ErrorCauseCode::NonUniquePeId, Vec::new()),
        HsError::LackOfResources(_) => (ErrorCauseCode::LackOfResources, Vec::new()),
        HsError::UnknownPoolHandle => (ErrorCauseCode::UnknownPoolHandle, Vec::new()),
        HsError::UnknownPoolElement => (ErrorCauseCode::InvalidValues, Vec::new()),
    }
}
