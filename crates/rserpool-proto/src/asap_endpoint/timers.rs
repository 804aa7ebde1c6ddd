//! ASAP timers and thresholds (RFC 5352 section 5), shared by pool
//! elements and pool users.

use std::time::Duration;

/// ASAP timers and thresholds shared by pool elements and pool users.
/// Defaults are those of RFC 5352 section 5 (CONSTANTS.md section 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AsapTimers {
    /// T1-ENRPrequest: wait for the answer to a handle resolution.
    pub t1_enrp_request: Duration,
    /// T2-registration: wait for a REGISTRATION_RESPONSE.
    pub t2_registration: Duration,
    /// T3-deregistration: wait for a DEREGISTRATION_RESPONSE.
    pub t3_deregistration: Duration,
    /// T4-reregistration upper bound; the interval used is also at most
    /// the registration lifetime less 20 s (see
    /// [`PeConfig::reregistration_interval`](crate::pool_element::PeConfig::reregistration_interval)).
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
    /// The RFC 5352 defaults.
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
