//! ASAP timers and thresholds (RFC 5352 section 5) and the pool element's
//! configuration.

use std::net::SocketAddr;
use std::time::Duration;

use crate::wire::{PeId, Policy, PoolHandle, TransportParam};

/// ASAP timers and thresholds shared by pool elements and pool users.
/// Defaults are those of RFC 5352 section 5 (CONSTANTS.md section 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsapTimers {
    /// T1-ENRPrequest: wait for the answer to a handle resolution.
    pub t1_enrp_request: Duration,
    /// T2-registration: wait for a REGISTRATION_RESPONSE.
    pub t2_registration: Duration,
    /// T3-deregistration: wait for a DEREGISTRATION_RESPONSE.
    pub t3_deregistration: Duration,
    /// T4-reregistration upper bound; the interval used is also at most
    /// the registration lifetime less 20 s (see [`PeConfig::reregistration_interval`]).
    pub t4_reregistration: Duration,
    /// T5-serverHunt: a hunt that finds no registrar within this time is
    /// reported (PE) or fails the waiting requests (PU); hunting goes on.
    pub t5_server_hunt: Duration,
    /// T6-serverAnnounce: pause between two rounds over all known
    /// registrars, and the wait for announces when none is known.
    pub t6_server_announce: Duration,
    /// T7-ENRPoutdate: a registrar learned from announces is forgotten
    /// this long after its last announce.
    pub t7_enrp_outdate: Duration,
    /// Connecting to a registrar or a PE is abandoned after this long
    /// (RSPLIB's connect timeout; the driver may report failure earlier).
    pub connect_timeout: Duration,
    /// MAX-REG-ATTEMPT: REGISTRATION retransmissions before hunting.
    pub max_reg_attempt: u32,
    /// MAX-REQUEST-RETRANSMIT: request retransmissions before hunting.
    pub max_request_retransmit: u32,
    /// stale.cache.value: how long a PU serves a resolution from its cache.
    pub stale_cache_value: Duration,
}

impl AsapTimers {
    pub const DEFAULT: AsapTimers = AsapTimers {
        t1_enrp_request: Duration::from_secs(15),
        t2_registration: Duration::from_secs(30),
        t3_deregistration: Duration::from_secs(30),
        t4_reregistration: Duration::from_secs(600),
        t5_server_hunt: Duration::from_secs(120),
        t6_server_announce: Duration::from_secs(1),
        t7_enrp_outdate: Duration::from_secs(5),
        connect_timeout: Duration::from_millis(7500),
        max_reg_attempt: 2,
        max_request_retransmit: 2,
        stale_cache_value: Duration::from_secs(30),
    };
}

impl Default for AsapTimers {
    fn default() -> Self {
        AsapTimers::DEFAULT
    }
}

/// Where a PE or PU finds registrars: a static list (tried in order) and
/// ASAP Server Announces (when the driver listens for them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Registrars' ASAP endpoints, tried in this order before announced ones.
    pub static_registrars: Vec<SocketAddr>,
    /// Most registrars remembered from announces (bounds memory against a
    /// flood of forged announces; the oldest is replaced).
    pub max_announced: usize,
}

impl RegistrarConfig {
    pub fn new(static_registrars: Vec<SocketAddr>) -> Self {
        RegistrarConfig {
            static_registrars,
            max_announced: 32,
        }
    }
}

/// What a pool element registers, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeConfig {
    pub pool_handle: PoolHandle,
    /// Policy with this PE's values (load, weight, ...).
    pub policy: Policy,
    /// Where pool users reach this PE.
    pub user_transport: TransportParam,
    /// Registration lifetime announced to the registrar (sent in
    /// milliseconds, at most `i32::MAX`).
    pub registration_life: Duration,
    pub registrars: RegistrarConfig,
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
