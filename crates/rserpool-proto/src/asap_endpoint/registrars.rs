//! The registrars a PE or PU may hunt: the static ones in their configured
//! order, then those heard in ASAP Server Announces within T7-ENRPoutdate
//! (RFC 5352 section 3.2).

use std::net::SocketAddr;

use crate::Time;
use crate::wire::asap::ServerAnnounce;
use crate::wire::{PORT_ASAP, ServerId, TransportParam};

use super::AsapTimers;

/// Where a PE or PU finds registrars: a static list (tried in order) and
/// ASAP Server Announces (when the driver listens for them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrarConfig {
    /// Registrars' ASAP endpoints, tried in this order before announced ones.
    pub static_registrars: Vec<SocketAddr>,
    /// Most registrars remembered from announces (bounds memory against a
    /// flood of forged announces; the oldest is replaced).
    pub max_announced: usize,
}

impl RegistrarConfig {
    /// These registrars, up to 32 remembered from announces.
    pub fn new(static_registrars: Vec<SocketAddr>) -> Self {
        RegistrarConfig {
            static_registrars,
            max_announced: 32,
        }
    }
}

/// A registrar the hunt may try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub to: Vec<SocketAddr>,
    pub server_id: Option<ServerId>,
}

#[derive(Clone, Debug)]
struct Announced {
    server_id: ServerId,
    to: Vec<SocketAddr>,
    heard: Time,
}

/// Static registrars plus those learned from announces.
#[derive(Clone, Debug)]
pub(crate) struct RegistrarSet {
    config: RegistrarConfig,
    announced: Vec<Announced>,
    outdate: std::time::Duration,
}

impl RegistrarSet {
    pub fn new(config: RegistrarConfig, timers: &AsapTimers) -> Self {
        RegistrarSet {
            config,
            announced: Vec::new(),
            outdate: timers.t7_enrp_outdate,
        }
    }

    /// Learns (or refreshes) a registrar from its announce. The ASAP
    /// endpoint is taken from the announce's SCTP/TCP transports; RSPLIB
    /// sends none, then it is the sender's address at the ASAP port.
    pub fn learn(&mut self, now: Time, from: SocketAddr, msg: &ServerAnnounce) -> bool {
        let mut to = Vec::new();
        for t in &msg.transports {
            if matches!(t, TransportParam::Sctp { .. } | TransportParam::Tcp { .. }) {
                for a in t.addresses() {
                    let sa = SocketAddr::new(*a, t.port());
                    if !to.contains(&sa) {
                        to.push(sa);
                    }
                }
            }
        }
        if to.is_empty() {
            to.push(SocketAddr::new(from.ip(), PORT_ASAP));
        }
        self.expire(now);
        if let Some(a) = self
            .announced
            .iter_mut()
            .find(|a| a.server_id == msg.server_id)
        {
            a.to = to;
            a.heard = now;
            return false;
        }
        if self.config.max_announced == 0 {
            return false;
        }
        if self.announced.len() >= self.config.max_announced {
            // Oldest first: the list is kept in order of first hearing.
            self.announced.remove(0);
        }
        self.announced.push(Announced {
            server_id: msg.server_id,
            to,
            heard: now,
        });
        true
    }

    fn expire(&mut self, now: Time) {
        let outdate = self.outdate;
        self.announced.retain(|a| now < a.heard + outdate);
    }

    /// The current candidates: static ones in order, then fresh announced.
    pub fn candidates(&mut self, now: Time) -> Vec<Candidate> {
        self.expire(now);
        let mut out: Vec<Candidate> = self
            .config
            .static_registrars
            .iter()
            .map(|a| Candidate {
                to: vec![*a],
                server_id: None,
            })
            .collect();
        for a in &self.announced {
            if let Some(c) = out.iter_mut().find(|c| c.to == a.to) {
                c.server_id = Some(a.server_id);
            } else {
                out.push(Candidate {
                    to: a.to.clone(),
                    server_id: Some(a.server_id),
                });
            }
        }
        out
    }

    #[cfg(test)]
    pub fn announced_count(&mut self, now: Time) -> usize {
        self.expire(now);
        self.announced.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::TransportUse;

    fn sa(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn announced_registrars_expire_after_t7_and_use_their_transports() {
        let timers = AsapTimers::DEFAULT;
        let mut set = RegistrarSet::new(RegistrarConfig::new(vec![sa(1)]), &timers);
        let t0 = Time::from_millis(1000);
        let plain = ServerAnnounce {
            server_id: ServerId(7),
            transports: vec![],
        };
        assert!(set.learn(t0, sa(5000), &plain));
        let with_tcp = ServerAnnounce {
            server_id: ServerId(8),
            transports: vec![TransportParam::Tcp {
                port: 4000,
                transport_use: TransportUse::DataOnly,
                address: [10, 0, 0, 8].into(),
            }],
        };
        assert!(set.learn(t0.plus_millis(3000), sa(5001), &with_tcp));
        let c = set.candidates(t0.plus_millis(4000));
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].to, vec![sa(1)]);
        assert_eq!(c[1].to, vec![sa(PORT_ASAP)]);
        assert_eq!(c[1].server_id, Some(ServerId(7)));
        assert_eq!(c[2].to, vec![SocketAddr::from(([10, 0, 0, 8], 4000))]);
        // 7 was heard at 1 s and outdates at 6 s; 8 (heard at 4 s) is kept.
        let c = set.candidates(t0.plus_millis(5000));
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].server_id, Some(ServerId(8)));
        assert_eq!(set.announced_count(t0.plus_millis(8000)), 0);
    }

    #[test]
    fn announce_flood_is_bounded() {
        let mut cfg = RegistrarConfig::new(vec![]);
        cfg.max_announced = 4;
        let mut set = RegistrarSet::new(cfg, &AsapTimers::DEFAULT);
        for i in 0..100 {
            let m = ServerAnnounce {
                server_id: ServerId(i),
                transports: vec![],
            };
            set.learn(Time::ZERO, SocketAddr::from(([10, 0, 0, i as u8], 1)), &m);
        }
        let c = set.candidates(Time::ZERO);
        assert_eq!(c.len(), 4);
        assert_eq!(c[3].server_id, Some(ServerId(99)));
    }
}
