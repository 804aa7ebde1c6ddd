//! Three registrars on loopback, peered by ENRP, that the demo can kill
//! and restart under the same ID and addresses.

use super::secure::Scope;
use super::timing::Timing;
use rserpool::probe::{DumpError as ProbeError, Snapshot};
use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::transport::TransportMode;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::{ServerId, TransportParam, TransportUse};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One registrar's identity, which survives its restarts.
#[derive(Debug)]
pub struct Slot {
    pub id: ServerId,
    pub asap: SocketAddr,
    pub enrp: SocketAddr,
    handle: Option<RegistrarHandle>,
}

impl Slot {
    /// Where the running registrar serves HTTP: dashboard, API, metrics.
    pub fn metrics(&self) -> Option<SocketAddr> {
        self.handle.as_ref().and_then(RegistrarHandle::metrics_addr)
    }

    /// `PR1 (0x00001001)`.
    pub fn name(&self) -> String {
        format!("{} ({})", pr_name(self.id), self.id)
    }
}

/// The first registrar's ID; the others count up from it.
const FIRST_ID: u32 = 0x1001;

/// `PR1` for the demo's first registrar, else the ID.
pub fn pr_name(id: ServerId) -> String {
    match id.0.checked_sub(FIRST_ID) {
        Some(i) if i < 16 => format!("PR{}", i + 1),
        _ => id.to_string(),
    }
}

#[derive(Debug)]
pub struct Cluster {
    pub slots: Vec<Slot>,
    timing: Timing,
    /// The TLS scope (`demo --tls`).
    tls: Option<Arc<Scope>>,
}

fn config(
    id: ServerId,
    asap: SocketAddr,
    enrp: SocketAddr,
    peers: Vec<SocketAddr>,
    t: &Timing,
    tls: Option<&Scope>,
) -> io::Result<DaemonConfig> {
    let placeholder = TransportParam::Tcp {
        port: 0,
        transport_use: TransportUse::DataOnly,
        address: enrp.ip(),
    };
    let mut c = Config::new(id, placeholder);
    c.peers = peers;
    c.announce = false;
    c.peer_heartbeat_cycle = t.peer_heartbeat;
    c.max_time_last_heard = t.max_time_last_heard;
    c.max_time_no_response = t.max_time_no_response;
    c.keep_alive_transmission_interval = t.keep_alive_interval;
    c.keep_alive_timeout = t.keep_alive_timeout;
    c.mentor_discovery_timeout = t.mentor_discovery;
    c.takeover_expiry = t.takeover_expiry;
    // Resolutions return the whole pool, so failover has somewhere to go.
    c.max_hres_items = 16;
    let mut d = DaemonConfig::new(c, vec![asap], vec![enrp]);
    d.transport = TransportMode::Tcp;
    // The dashboard, API and metrics, to look at while the demo runs.
    d.metrics = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    d.seed = crate::random_u64();
    if let Some(scope) = tls {
        d.tls = Some(scope.registrar(id)?);
    }
    Ok(d)
}

impl Cluster {
    /// Starts `n` registrars on free loopback ports; each one knows the
    /// ones started before it as static peers.
    pub async fn start(n: usize, timing: Timing, tls: Option<Arc<Scope>>) -> io::Result<Cluster> {
        let mut slots: Vec<Slot> = Vec::new();
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        for i in 0..n {
            let id = ServerId(FIRST_ID + i as u32);
            let peers = slots.iter().map(|s| s.enrp).collect();
            let h = start(config(id, any, any, peers, &timing, tls.as_deref())?).await?;
            let (asap, enrp) = addrs(&h)?;
            slots.push(Slot {
                id,
                asap,
                enrp,
                handle: Some(h),
            });
        }
        Ok(Cluster { slots, timing, tls })
    }

    /// The scope's certificates, when the demo runs with TLS.
    pub fn tls(&self) -> Option<Arc<Scope>> {
        self.tls.clone()
    }

    /// ASAP endpoints of all registrars, for PEs and PUs.
    pub fn asap_addrs(&self) -> Vec<SocketAddr> {
        self.slots.iter().map(|s| s.asap).collect()
    }

    pub fn index_of(&self, id: ServerId) -> Option<usize> {
        self.slots.iter().position(|s| s.id == id)
    }

    /// Stops a registrar as a crash would: no goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(h) = self.slots.get_mut(i).and_then(|s| s.handle.take()) {
            h.kill();
        }
    }

    /// Starts a killed registrar again under its ID and addresses, with
    /// every other registrar as a static peer.
    pub async fn restart(&mut self, i: usize) -> io::Result<()> {
        let peers: Vec<SocketAddr> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, s)| s.enrp)
            .collect();
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(io::Error::other("no such registrar"));
        };
        let cfg = config(
            slot.id,
            slot.asap,
            slot.enrp,
            peers,
            &self.timing,
            self.tls.as_deref(),
        )?;
        // The killed one's sockets close as its tasks wind down.
        let mut last = None;
        for _ in 0..50 {
            match start(cfg.clone()).await {
                Ok(h) => {
                    slot.handle = Some(h);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last.unwrap_or_else(|| io::Error::other("restart failed")))
    }

    /// What a registrar's handlespace holds now, read over ENRP.
    pub async fn view(&self, i: usize) -> Result<Snapshot, ProbeError> {
        let Some(s) = self.slots.get(i) else {
            return Err(ProbeError::Closed);
        };
        let limit = Duration::from_secs(2);
        match &self.tls {
            Some(scope) => crate::dump::fetch_tls(s.enrp, scope.probe(), limit).await,
            None => crate::dump::fetch(s.enrp, TransportMode::Tcp, limit).await,
        }
    }

    /// Graceful stop of every running registrar.
    pub async fn stop(&mut self) {
        for s in &mut self.slots {
            if let Some(h) = s.handle.take() {
                let _ = h.stop().await;
            }
        }
    }
}

fn addrs(h: &RegistrarHandle) -> io::Result<(SocketAddr, SocketAddr)> {
    match (h.asap_addrs().first(), h.enrp_addrs().first()) {
        (Some(a), Some(e)) => Ok((*a, *e)),
        _ => Err(io::Error::other("registrar without a bound address")),
    }
}
