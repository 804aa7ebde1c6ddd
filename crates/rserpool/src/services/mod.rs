//! Ready-made pool element services, in the spirit of RSPLIB's demo
//! servers: each serves one [`ServerSession`] until the pool user leaves.
//!
//! - `echo`: every message comes back unchanged.
//! - `discard`: messages are read and dropped.
//! - `daytime`: every message is answered with the current UTC time.
//! - `chargen`: a message `N` is answered with N lines (1 to 1000) of the
//!   classic rotating character pattern.
//! - `ping-pong`: every message is answered with `pong <n>`, n counting
//!   the session's requests; the count travels in a COOKIE, so after a
//!   failover the next PE counts on.
//! - `compute`: `compute N` counts to N in steps and answers
//!   `result N resumed_from=K`; after every step a COOKIE carries the
//!   progress, so a PE that gets the job by failover (COOKIE_ECHO)
//!   resumes from step K instead of starting over.
//!
//! ```no_run
//! # async fn demo(mut pe: rserpool::pool_element::PoolElementHandle) {
//! use rserpool::services::{Service, ServiceConfig, spawn};
//! let host = spawn(ServiceConfig::new(Service::Echo), pe.take_sessions());
//! // ... until shutdown:
//! drop(host);
//! # }
//! ```

mod chargen;
mod compute;
mod daytime;
mod echo;
mod ping_pong;

use crate::pool_element::{ServerSession, SessionAcceptor};
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};
use tracing::debug;

/// The services a pool element can offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// Every message comes back unchanged.
    Echo,
    /// Messages are read and dropped.
    Discard,
    /// Every message is answered with the current UTC time.
    Daytime,
    /// `N` is answered with N lines of the rotating character pattern.
    Chargen,
    /// `pong <n>`, the count carried in a COOKIE across failovers.
    PingPong,
    /// `compute N`, its progress in a COOKIE so another PE resumes it.
    Compute,
}

impl Service {
    /// Every service, in the order of the module docs.
    pub const ALL: [Service; 6] = [
        Service::Echo,
        Service::Discard,
        Service::Daytime,
        Service::Chargen,
        Service::PingPong,
        Service::Compute,
    ];

    /// The name `rserpool pe --service` takes.
    pub fn name(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Discard => "discard",
            Service::Daytime => "daytime",
            Service::Chargen => "chargen",
            Service::PingPong => "ping-pong",
            Service::Compute => "compute",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Service::ALL
            .into_iter()
            .find(|x| x.name() == s || x.name().replace('-', "") == s)
            .ok_or_else(|| {
                format!("unknown service {s:?}: expected echo, discard, daytime, chargen, ping-pong or compute")
            })
    }
}

/// A service and its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Which service to run.
    pub service: Service,
    /// How long one step of a `compute` job takes.
    pub compute_step: Duration,
    /// Largest `N` a `compute` job may ask for.
    pub compute_max: u64,
}

impl ServiceConfig {
    /// `service` with 100 ms compute steps and jobs up to 1,000,000.
    pub fn new(service: Service) -> Self {
        ServiceConfig {
            service,
            compute_step: Duration::from_millis(100),
            compute_max: 1_000_000,
        }
    }
}

/// Serves one session until the pool user closes it (`Ok`) or it fails.
pub async fn serve(cfg: ServiceConfig, session: ServerSession) -> io::Result<()> {
    match cfg.service {
        Service::Echo => echo::echo(session).await,
        Service::Discard => echo::discard(session).await,
        Service::Daytime => daytime::serve(session).await,
        Service::Chargen => chargen::serve(session).await,
        Service::PingPong => ping_pong::serve(session).await,
        Service::Compute => compute::serve(&cfg, session).await,
    }
}

/// A service serving a pool element's sessions in the background; it
/// ends (with every session) when dropped.
#[derive(Debug)]
pub struct ServiceHost {
    task: JoinHandle<()>,
}

impl ServiceHost {
    /// Ends the service and all its sessions.
    pub fn stop(self) {}
}

impl Drop for ServiceHost {
    fn drop(&mut self) {
        // Aborting the task drops its JoinSet, which aborts the sessions.
        self.task.abort();
    }
}

/// Serves every session `acceptor` yields, each in a task of its own.
pub fn spawn(cfg: ServiceConfig, mut acceptor: SessionAcceptor) -> ServiceHost {
    let task = tokio::spawn(async move {
        let mut sessions = JoinSet::new();
        loop {
            tokio::select! {
                s = acceptor.accept() => {
                    let Some(s) = s else { break };
                    let peer = s.peer_addr();
                    sessions.spawn(async move {
                        if let Err(e) = serve(cfg, s).await {
                            debug!(?peer, "session ended: {e}");
                        }
                    });
                }
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        while sessions.join_next().await.is_some() {}
    });
    ServiceHost { task }
}
