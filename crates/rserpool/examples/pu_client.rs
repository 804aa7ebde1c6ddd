//! A pool user client: resolves a pool, then sends numbered lines to one
//! of its PEs and prints the echoes. When that PE fails, the session
//! moves to another PE of the pool; lines not yet answered are sent again.
//!
//! `cargo run --example pu_client -- 127.0.0.1:3863 [POOL] [COUNT]`, with
//! a registrar and `echo_pe`s running (see the `echo_pe` example).

use rserpool::pool_user::{self, PoolUserConfig, PoolUserHandle, PuError, Session, SessionEvent};
use rserpool::proto::wire::PeId;
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

/// How long one line may wait for its echo, failovers included.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let registrar: SocketAddr = args
        .next()
        .ok_or("usage: pu_client REGISTRAR:PORT [POOL] [COUNT]")?
        .parse()?;
    let pool = args.next().unwrap_or_else(|| "echo".to_string());
    let count: u64 = args.next().map_or(Ok(10), |c| c.parse())?;

    let pu = pool_user::start(config(registrar)).await?;
    // Resolution alone: which PEs the registrar knows (cached for a while).
    for pe in pu.resolve(pool.as_str()).await? {
        println!(
            "pool {pool:?} has PE {} at {:?}",
            pe.pe_id, pe.user_transport
        );
    }
    let mut client = Client::open(&pu, &pool).await?;
    for i in 1..=count {
        let echo = client.echo(&format!("hello {i}")).await?;
        let pe = client
            .pe()
            .map_or_else(|| "?".to_string(), |p| p.to_string());
        println!("PE {pe} echoed {echo:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(())
}

/// A pool user that knows one registrar (no multicast announces).
pub fn config(registrar: SocketAddr) -> PoolUserConfig {
    let mut cfg = PoolUserConfig::new();
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg
}

/// A session to an echo pool that numbers its lines, so that an echo can
/// be matched with its line across failovers.
#[derive(Debug)]
pub struct Client {
    session: Session,
    /// The PE the session talks to now.
    pe: Option<PeId>,
    next: u64,
}

impl Client {
    /// Opens a session to a PE of `pool` (it connects in the background).
    pub async fn open(pu: &PoolUserHandle, pool: &str) -> Result<Client, PuError> {
        let session = pu.open_session(pool).await?;
        Ok(Client {
            session,
            pe: None,
            next: 1,
        })
    }

    /// The PE the session talks to, once it has one.
    pub fn pe(&self) -> Option<PeId> {
        self.pe
    }

    /// Sends `line` and waits for its echo.
    pub async fn echo(&mut self, line: &str) -> Result<String, Box<dyn Error>> {
        let tag = format!("{} ", self.next);
        self.next += 1;
        let message = format!("{tag}{line}").into_bytes();
        self.session.send(message.clone()).await?;
        tokio::time::timeout(ANSWER_WAIT, async {
            loop {
                match self.session.recv().await.ok_or("the pool user stopped")? {
                    SessionEvent::Up { pe_id } => self.pe = Some(pe_id),
                    SessionEvent::Failover { from, to, .. } => {
                        eprintln!("failover from PE {from} to PE {to}");
                        self.pe = Some(to);
                        // The old PE may have died with the line unanswered.
                        self.session.send(message.clone()).await?;
                    }
                    SessionEvent::Failed(cause) => {
                        // No PE for now: the line stays queued; try again.
                        eprintln!("no PE: {cause:?}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        self.session.failover().await?;
                    }
                    SessionEvent::Data(frame) => {
                        // An echo of an earlier line sent twice is skipped.
                        if let Some(echo) = frame.payload.strip_prefix(tag.as_bytes()) {
                            return Ok(String::from_utf8_lossy(echo).into_owned());
                        }
                    }
                }
            }
        })
        .await
        .map_err(|_| "no echo in time")?
    }
}
