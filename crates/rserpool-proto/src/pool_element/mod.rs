//! The pool element's side of ASAP (RFC 5352 sections 2-3) as an I/O-free
//! state machine.
//!
//! A [`PoolElement`] finds a registrar (server hunt), registers, re-registers
//! every T4, answers keep-alives, follows a takeover to a new home
//! registrar, hunts again when its registrar is lost, and deregisters on
//! shutdown. The driver feeds it association events and bytes with the
//! current [`Time`], runs the [`PeTransmit`]s it asks for, calls
//! [`PoolElement::handle_timeout`] at [`PoolElement::poll_timeout`], and
//! reads [`PeEvent`]s. Nothing here blocks, reads a clock or draws from a
//! global generator; the same inputs give the same outputs.
//!
//! [`PeSession`] is the pool element's half of the session layer: cookies
//! and business cards to a pool user, cookie echoes from it.
//!
//! ```
//! use rserpool_proto::Time;
//! use rserpool_proto::pool_element::{PeConfig, PeTransmit, PoolElement};
//! use rserpool_proto::wire::{Policy, PoolHandle, TransportParam};
//!
//! let transport = TransportParam::Udp { port: 7, address: [127, 0, 0, 1].into() };
//! let registrar = "127.0.0.1:3863".parse().unwrap();
//! let config = PeConfig::new(PoolHandle::from("echo"), Policy::RoundRobin, transport, vec![registrar]);
//! let mut pe = PoolElement::new(config, Time::ZERO, 42);
//! match pe.poll_transmit() {
//!     Some(PeTransmit::Connect { to, .. }) => assert_eq!(to, vec![registrar]),
//!     other => panic!("expected a connect, got {other:?}"),
//! }
//! ```

mod config;
mod session;

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

pub use config::PeConfig;
pub use session::{PeSession, SessionInput};

use crate::asap_endpoint::{HuntProgress, Hunter, RegConn, RegTransmit, decode_asap};

use crate::wire::asap::{self, AsapMessage};
use crate::wire::{DecodeError, EncodeError, OperationError, PeId, Policy, PolicyType, ServerId};
use crate::{Rng, Time, Xoshiro256};

/// What the driver does for a pool element: registrar associations only.
pub type PeTransmit = RegTransmit;

/// Why a registration did not (yet) succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationFailure {
    /// The registrar rejected it; retried after a back-off.
    Rejected(OperationError),
    /// No answer after MAX-REG-ATTEMPT retransmissions; hunting the next
    /// registrar.
    NoResponse,
    /// T5-serverHunt passed without reaching any registrar; still hunting.
    NoRegistrar,
    /// The registration does not fit in a message (too many addresses, too
    /// long a pool handle); nothing was sent.
    TooLong(EncodeError),
}

/// What happened, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeEvent {
    /// Registered with a (new) registrar association. Periodic
    /// re-registrations on the same association do not repeat this.
    Registered {
        /// The identifier registered.
        pe_id: PeId,
        /// The registrar, if its ID is known.
        registrar: Option<ServerId>,
    },
    /// A registration attempt failed.
    RegistrationFailed {
        /// Why.
        cause: RegistrationFailure,
    },
    /// The home registrar's association was lost; hunting for a new one.
    HomeLost {
        /// The registrar lost, if its ID is known.
        registrar: Option<ServerId>,
    },
    /// A registrar took this PE over (Keep-Alive with the H flag) and is
    /// its home now.
    HomeChanged {
        /// The previous home, if known.
        from: Option<ServerId>,
        /// The new home.
        to: ServerId,
    },
    /// Shut down; `confirmed` when the registrar answered the
    /// DEREGISTRATION.
    Deregistered {
        /// Whether the registrar confirmed the deregistration.
        confirmed: bool,
    },
    /// A registrar sent bytes that do not decode.
    BadMessage {
        /// The registrar association it came on.
        conn: RegConn,
        /// What is wrong with them.
        error: DecodeError,
    },
    /// A registrar sent an ASAP ERROR.
    PeerError {
        /// The registrar association it came on.
        conn: RegConn,
        /// Its causes.
        error: OperationError,
    },
}

/// The registration's phase, as [`PoolElement::state`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PePhase {
    /// Looking for a registrar.
    Hunting,
    /// REGISTRATION sent, waiting for the response.
    Registering,
    /// Registered; re-registers every T4.
    Registered,
    /// Refused; retries after a back-off.
    BackingOff,
    /// DEREGISTRATION sent, waiting for the response.
    Deregistering,
    /// Shut down.
    Stopped,
}

/// A summary of the pool element's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeState {
    /// The PE's identifier.
    pub pe_id: PeId,
    /// The registration phase.
    pub phase: PePhase,
    /// Whether a registrar has accepted the current registration (also
    /// while re-registering and while hunting after losing it: the pool
    /// keeps the entry for its lifetime).
    pub registered: bool,
    /// The home registrar's ID once known (from an announce or a
    /// keep-alive; REGISTRATION_RESPONSE does not carry it).
    pub home: Option<ServerId>,
    /// The association to the home registrar.
    pub conn: Option<RegConn>,
}

/// Why [`PoolElement::set_load`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetLoadError {
    /// The policy has no load value.
    NotAdaptive(PolicyType),
}

impl fmt::Display for SetLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetLoadError::NotAdaptive(t) => {
                write!(f, "policy {} carries no load value", t.name())
            }
        }
    }
}

impl std::error::Error for SetLoadError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Hunting,
    Registering {
        conn: RegConn,
        sent: u32,
        deadline: Time,
    },
    Registered {
        conn: RegConn,
        rereg_at: Time,
    },
    BackingOff {
        conn: Option<RegConn>,
        retry_at: Time,
    },
    Deregistering {
        conn: RegConn,
        sent: u32,
        deadline: Time,
    },
    Stopped,
}

impl Phase {
    fn conn(&self) -> Option<RegConn> {
        match *self {
            Phase::Registering { conn, .. }
            | Phase::Registered { conn, .. }
            | Phase::Deregistering { conn, .. } => Some(conn),
            Phase::BackingOff { conn, .. } => conn,
            Phase::Hunting | Phase::Stopped => None,
        }
    }
}

/// Longest back-off after rejections: T4's RFC maximum.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(600);

/// The pool element state machine (see the module docs).
#[derive(Debug)]
pub struct PoolElement {
    config: PeConfig,
    pe_id: PeId,
    policy: Policy,
    hunter: Hunter,
    phase: Phase,
    /// The association a registrar last accepted our registration on.
    registered_on: Option<RegConn>,
    registered: bool,
    home: Option<ServerId>,
    /// Associations registrars opened to us (takeover keep-alives).
    accepted: Vec<(RegConn, SocketAddr)>,
    rejections: u32,
    transmits: VecDeque<PeTransmit>,
    events: VecDeque<PeEvent>,
}

impl PoolElement {
    /// Starts hunting for a registrar at once. The PE ID is the configured
    /// one or drawn from `seed` (never 0).
    pub fn new(config: PeConfig, now: Time, seed: u64) -> Self {
        let mut rng = Xoshiro256::seed_from_u64(seed);
        let pe_id = config.pe_id.unwrap_or_else(|| {
            loop {
                let v = (rng.next_u64() >> 32) as u32;
                if v != 0 {
                    break PeId(v);
                }
            }
        });
        let mut pe = PoolElement {
            policy: config.policy,
            hunter: Hunter::new(config.registrars.clone(), config.timers),
            config,
            pe_id,
            phase: Phase::Hunting,
            registered_on: None,
            registered: false,
            home: None,
            accepted: Vec::new(),
            rejections: 0,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        pe.hunter.start(now, &mut pe.transmits);
        pe
    }

    /// This PE's identifier (fixed, or drawn from the seed).
    pub fn pe_id(&self) -> PeId {
        self.pe_id
    }

    /// The policy with its current values (as last registered or to be).
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// A summary of the PE's state.
    pub fn state(&self) -> PeState {
        PeState {
            pe_id: self.pe_id,
            phase: match self.phase {
                Phase::Hunting => PePhase::Hunting,
                Phase::Registering { .. } => PePhase::Registering,
                Phase::Registered { .. } => PePhase::Registered,
                Phase::BackingOff { .. } => PePhase::BackingOff,
                Phase::Deregistering { .. } => PePhase::Deregistering,
                Phase::Stopped => PePhase::Stopped,
            },
            registered: self.registered,
            home: self.home,
            conn: self.phase.conn(),
        }
    }

    // ----- inputs -----

    /// The association `conn` (asked for with [`PeTransmit::Connect`]) is up.
    pub fn registrar_connected(&mut self, now: Time, conn: RegConn) {
        if let Some(server_id) = self.hunter.connected(conn) {
            // Known from an announce, else learned from its first keep-alive.
            self.home = server_id;
            self.send_registration(now, conn, 1);
        }
    }

    /// A registrar opened an association to this PE (as the new home does
    /// after a takeover). Returns the name to report its events with.
    pub fn registrar_accepted(&mut self, _now: Time, remote: SocketAddr) -> RegConn {
        let conn = self.hunter.alloc_conn();
        self.accepted.push((conn, remote));
        conn
    }

    /// The association `conn` closed, or could not be opened.
    pub fn registrar_closed(&mut self, now: Time, conn: RegConn) {
        self.accepted.retain(|(c, _)| *c != conn);
        if self.hunter.closed(now, conn, &mut self.transmits) {
            return;
        }
        if self.phase.conn() != Some(conn) {
            return;
        }
        if self.registered_on == Some(conn) {
            self.registered_on = None;
        }
        match self.phase {
            Phase::Deregistering { .. } => self.stopped(false),
            Phase::BackingOff { retry_at, .. } => {
                // Keep the back-off; hunt when it ends.
                self.phase = Phase::BackingOff {
                    conn: None,
                    retry_at,
                };
            }
            _ => {
                self.events.push_back(PeEvent::HomeLost {
                    registrar: self.home,
                });
                self.hunt(now);
            }
        }
    }

    /// An ASAP message from a registrar on `conn`.
    pub fn registrar_received(&mut self, now: Time, conn: RegConn, bytes: &[u8]) {
        let incoming = decode_asap(bytes);
        if let Some(bytes) = incoming.reply {
            self.transmits.push_back(RegTransmit::Send { conn, bytes });
        }
        let msg = match incoming.message {
            Ok(m) => m,
            Err(error) => {
                self.events.push_back(PeEvent::BadMessage { conn, error });
                return;
            }
        };
        match msg {
            AsapMessage::RegistrationResponse(r) => self.on_registration_response(now, conn, r),
            AsapMessage::DeregistrationResponse(r)
                if matches!(self.phase, Phase::Deregistering { conn: c, .. } if c == conn)
                    && r.pool_handle == self.config.pool_handle
                    && r.pe_id == self.pe_id =>
            {
                self.transmits.push_back(RegTransmit::Close { conn });
                self.stopped(true);
            }
            AsapMessage::EndpointKeepAlive(ka) => self.on_keep_alive(now, conn, ka),
            AsapMessage::Error(e) => self.events.push_back(PeEvent::PeerError {
                conn,
                error: e.error,
            }),
            _ => {}
        }
    }

    /// An ASAP Server Announce datagram from `from`.
    pub fn announce_received(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        if let Ok(AsapMessage::ServerAnnounce(a)) = decode_asap(bytes).message {
            if self.hunter.set.learn(now, from, &a) {
                self.hunter.announced(now, &mut self.transmits);
            }
        }
    }

    /// Runs what is due at `now` (call at [`PoolElement::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: Time) {
        if self.hunter.timeout(now, &mut self.transmits) == HuntProgress::GaveUp {
            self.events.push_back(PeEvent::RegistrationFailed {
                cause: RegistrationFailure::NoRegistrar,
            });
        }
        match self.phase {
            Phase::Registering {
                conn,
                sent,
                deadline,
            } if now >= deadline => {
                if sent <= self.config.timers.max_reg_attempt {
                    self.send_registration(now, conn, sent + 1);
                } else {
                    self.transmits.push_back(RegTransmit::Close { conn });
                    if self.registered_on == Some(conn) {
                        self.registered_on = None;
                    }
                    self.events.push_back(PeEvent::RegistrationFailed {
                        cause: RegistrationFailure::NoResponse,
                    });
                    self.hunt(now);
                }
            }
            Phase::Registered { conn, rereg_at } if now >= rereg_at => {
                self.send_registration(now, conn, 1);
            }
            Phase::BackingOff { conn, retry_at } if now >= retry_at => match conn {
                Some(conn) => self.send_registration(now, conn, 1),
                None => self.hunt(now),
            },
            Phase::Deregistering {
                conn,
                sent,
                deadline,
            } if now >= deadline => {
                if sent <= self.config.timers.max_request_retransmit {
                    self.send_deregistration(now, conn, sent + 1);
                } else {
                    self.transmits.push_back(RegTransmit::Close { conn });
                    self.stopped(false);
                }
            }
            _ => {}
        }
    }

    /// Adaptive policies: registers the new load at once (and with every
    /// re-registration after).
    pub fn set_load(&mut self, now: Time, load: u32) -> Result<(), SetLoadError> {
        let t = self.policy.policy_type();
        if !t.is_adaptive() {
            return Err(SetLoadError::NotAdaptive(t));
        }
        let (mut v, n) = self.policy.values();
        v[0] = load;
        if let Some(p) = v.get(..n).and_then(|v| Policy::from_values(t, v)) {
            self.policy = p;
        }
        match self.phase {
            Phase::Registering { conn, .. } | Phase::Registered { conn, .. } => {
                self.send_registration(now, conn, 1);
            }
            _ => {}
        }
        Ok(())
    }

    /// Graceful shutdown: DEREGISTRATION to the home registrar, waiting T3
    /// (with MAX-REQUEST-RETRANSMIT retransmissions) for the answer.
    pub fn deregister(&mut self, now: Time) {
        match self.phase {
            Phase::Deregistering { .. } | Phase::Stopped => {}
            Phase::Registering { conn, .. }
            | Phase::Registered { conn, .. }
            | Phase::BackingOff {
                conn: Some(conn), ..
            } => self.send_deregistration(now, conn, 1),
            Phase::Hunting | Phase::BackingOff { conn: None, .. } => {
                self.hunter.stop(&mut self.transmits);
                self.stopped(false);
            }
        }
    }

    // ----- outputs -----

    /// The next thing the driver must do, if any.
    pub fn poll_transmit(&mut self) -> Option<PeTransmit> {
        self.transmits.pop_front()
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<PeEvent> {
        self.events.pop_front()
    }

    /// When [`PoolElement::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Time> {
        let phase = match self.phase {
            Phase::Registering { deadline, .. } | Phase::Deregistering { deadline, .. } => {
                Some(deadline)
            }
            Phase::Registered { rereg_at, .. } => Some(rereg_at),
            Phase::BackingOff { retry_at, .. } => Some(retry_at),
            Phase::Hunting | Phase::Stopped => None,
        };
        [phase, self.hunter.deadline()].into_iter().flatten().min()
    }

    // ----- internals -----

    fn registration(&self) -> AsapMessage {
        AsapMessage::from(asap::Registration {
            pool_handle: self.config.pool_handle.clone(),
            pool_element: crate::wire::PoolElement {
                pe_id: self.pe_id,
                home_server_id: ServerId(0),
                registration_life: self.config.registration_life_ms(),
                user_transport: self.config.user_transport.clone(),
                policy: self.policy,
                asap_transport: self.config.asap_transport.clone(),
            },
        })
    }

    fn send_registration(&mut self, now: Time, conn: RegConn, sent: u32) {
        let bytes = match self.registration().to_bytes() {
            Ok(b) => b,
            Err(e) => {
                // Too many addresses or too long a pool handle: no
                // registrar could read it; the application must know.
                self.events.push_back(PeEvent::RegistrationFailed {
                    cause: RegistrationFailure::TooLong(e),
                });
                return;
            }
        };
        self.transmits.push_back(RegTransmit::Send { conn, bytes });
        self.phase = Phase::Registering {
            conn,
            sent,
            deadline: now + self.config.timers.t2_registration,
        };
    }

    fn send_deregistration(&mut self, now: Time, conn: RegConn, sent: u32) {
        let bytes = AsapMessage::from(asap::Deregistration {
            pool_handle: self.config.pool_handle.clone(),
            pe_id: self.pe_id,
        })
        .to_bytes();
        // A pool handle too long to encode never registered either.
        if let Ok(bytes) = bytes {
            self.transmits.push_back(RegTransmit::Send { conn, bytes });
        }
        self.phase = Phase::Deregistering {
            conn,
            sent,
            deadline: now + self.config.timers.t3_deregistration,
        };
    }

    fn hunt(&mut self, now: Time) {
        self.phase = Phase::Hunting;
        self.hunter.start(now, &mut self.transmits);
    }

    fn stopped(&mut self, confirmed: bool) {
        self.phase = Phase::Stopped;
        self.registered = false;
        self.registered_on = None;
        for (conn, _) in self.accepted.drain(..) {
            self.transmits.push_back(RegTransmit::Close { conn });
        }
        self.events.push_back(PeEvent::Deregistered { confirmed });
    }

    fn on_registration_response(
        &mut self,
        now: Time,
        conn: RegConn,
        r: asap::RegistrationResponse,
    ) {
        if !matches!(self.phase, Phase::Registering { conn: c, .. } if c == conn)
            || r.pool_handle != self.config.pool_handle
            || r.pe_id != self.pe_id
        {
            return;
        }
        if r.reject {
            self.registered = false;
            self.rejections = self.rejections.saturating_add(1);
            let shift = self.rejections.saturating_sub(1).min(16);
            let backoff = self
                .config
                .timers
                .t2_registration
                .saturating_mul(1 << shift)
                .min(MAX_BACKOFF);
            self.phase = Phase::BackingOff {
                conn: Some(conn),
                retry_at: now + backoff,
            };
            self.events.push_back(PeEvent::RegistrationFailed {
                cause: RegistrationFailure::Rejected(r.error.unwrap_or_default()),
            });
            return;
        }
        self.rejections = 0;
        let interval = self.config.reregistration_interval();
        self.phase = Phase::Registered {
            conn,
            rereg_at: now + interval,
        };
        if !self.registered || self.registered_on != Some(conn) {
            self.events.push_back(PeEvent::Registered {
                pe_id: self.pe_id,
                registrar: self.home,
            });
        }
        self.registered = true;
        self.registered_on = Some(conn);
    }

    fn on_keep_alive(&mut self, now: Time, conn: RegConn, ka: asap::EndpointKeepAlive) {
        if ka.pool_handle != self.config.pool_handle || ka.pe_id.is_some_and(|p| p != self.pe_id) {
            return;
        }
        let ack = AsapMessage::from(asap::EndpointKeepAliveAck {
            pool_handle: self.config.pool_handle.clone(),
            pe_id: self.pe_id,
        })
        .to_bytes();
        if let Ok(ack) = ack {
            self.transmits
                .push_back(RegTransmit::Send { conn, bytes: ack });
        }
        let home_conn = self.phase.conn();
        if home_conn == Some(conn) {
            self.home = Some(ka.server_id);
            return;
        }
        let takes_over = ka.home
            && matches!(
                self.phase,
                Phase::Hunting | Phase::Registering { .. } | Phase::Registered { .. }
            );
        if !takes_over || (self.home == Some(ka.server_id) && home_conn.is_some()) {
            return;
        }
        // A new home: RFC 5352 section 3.6. Leave the old association,
        // register on the one the new registrar opened.
        if let Some(old) = home_conn {
            self.transmits.push_back(RegTransmit::Close { conn: old });
        }
        self.hunter.stop(&mut self.transmits);
        self.accepted.retain(|(c, _)| *c != conn);
        self.events.push_back(PeEvent::HomeChanged {
            from: self.home,
            to: ka.server_id,
        });
        self.home = Some(ka.server_id);
        self.send_registration(now, conn, 1);
    }
}
