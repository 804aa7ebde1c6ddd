//! The pool element's configuration.

use std::net::SocketAddr;
use std::time::Duration;

use crate::asap_endpoint::{AsapTimers, RegistrarConfig};
use crate::wire::{PeId, Policy, PoolHandle, TransportParam};

/// What a pool element registers, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeConfig {
    /// The pool to register in.
    pub pool_handle: PoolHandle,
    /// Policy with this PE's values (load, weight, ...).
    pub policy: Policy,
    /// Where pool users reach this PE.
    pub user_transport: TransportParam,
    /// Registration lifetime announced to the registrar (sent in
    /// milliseconds, at most `i32::MAX`).
    pub registration_life: Duration,
    /// Where to find registrars.
    pub registrars: RegistrarConfig,
    /// ASAP timers and thresholds.
    pub timers: AsapTimers,
    /// A fixed PE identifier; `None` draws one from the seed.
    pub pe_id: Option<PeId>,
    /// Where registrars reach this PE's ASAP endpoint, sent in the
    /// registration: a registrar that takes the PE over connects there.
    /// `None` leaves the registrar to use the association's source
    /// address (as RSPLIB does over SCTP).
    pub asap_transport: Option<TransportParam>,
}

impl PeConfig {
    /// A configuration with the RFC defaults: 30 s lifetime, no fixed PE ID.
    pub fn new(
        pool_handle: PoolHandle,
        policy: Policy,
        user_transport: TransportParam,
        registrars: Vec<SocketAddr>,
    ) -> Self {
        PeConfig {
            pool_handle,
            policy,
            user_transport,
            registration_life: Duration::from_secs(30),
            registrars: RegistrarConfig::new(registrars),
            timers: AsapTimers::DEFAULT,
            pe_id: None,
            asap_transport: None,
        }
    }

    /// T4 as used: at most `t4_reregistration`, and 20 s less than the
    /// lifetime (RFC 5352 section 5); for lifetimes of 40 s or less, a
    /// third of the lifetime (RSPLIB's ratio), so the entry never expires
    /// between two registrations.
    pub fn reregistration_interval(&self) -> Duration {
        let life = self.registration_life;
        let by_life = if life > Duration::from_secs(40) {
            life - Duration::from_secs(20)
        } else {
            life / 3
        };
        by_life
            .min(self.timers.t4_reregistration)
            .max(Duration::from_millis(1))
    }

    /// The lifetime as the wire carries it: milliseconds, saturating.
    pub fn registration_life_ms(&self) -> i32 {
        i32::try_from(self.registration_life.as_millis()).unwrap_or(i32::MAX)
    }
}
