//! The demo's timers: short enough that failures show within seconds,
//! `--fast` shorter still (for tests).

use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// ENRP heartbeat, and how soon a silent peer is probed and declared dead.
    pub peer_heartbeat: Duration,
    pub max_time_last_heard: Duration,
    pub max_time_no_response: Duration,
    /// Registrar-to-PE keep-alives.
    pub keep_alive_interval: Duration,
    pub keep_alive_timeout: Duration,
    pub mentor_discovery: Duration,
    pub takeover_expiry: Duration,
    /// PE registration lifetime.
    pub registration_life: Duration,
    /// The PU's message cadence.
    pub message_every: Duration,
    /// How long each act runs before the next one starts.
    pub act: Duration,
    /// Longest wait for an expected outcome before calling it failed.
    pub patience: Duration,
}

impl Timing {
    pub fn normal() -> Timing {
        let ms = Duration::from_millis;
        Timing {
            peer_heartbeat: ms(1000),
            max_time_last_heard: ms(2500),
            max_time_no_response: ms(1000),
            keep_alive_interval: ms(1000),
            keep_alive_timeout: ms(1000),
            mentor_discovery: ms(500),
            takeover_expiry: ms(3000),
            registration_life: ms(30_000),
            message_every: ms(200),
            act: ms(9000),
            patience: ms(20_000),
        }
    }

    pub fn fast() -> Timing {
        let ms = Duration::from_millis;
        Timing {
            peer_heartbeat: ms(250),
            max_time_last_heard: ms(700),
            max_time_no_response: ms(300),
            keep_alive_interval: ms(300),
            keep_alive_timeout: ms(300),
            mentor_discovery: ms(150),
            takeover_expiry: ms(1500),
            registration_life: ms(15_000),
            message_every: ms(100),
            act: ms(1200),
            patience: ms(15_000),
        }
    }
}
