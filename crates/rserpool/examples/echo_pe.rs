//! An echo pool element: registers in a pool with a registrar and sends
//! every message of every session back.
//!
//! Run a registrar (`rserpool registrar`), then
//! `cargo run --example echo_pe -- 127.0.0.1:3863 [POOL]` (the registrar's
//! ASAP address; the pool defaults to "echo"), then talk to it with the
//! `pu_client` example. Start two and stop one: the client fails over.

use rserpool::pool_element::{
    self, PoolElementConfig, ServerSession, SessionAcceptor, SessionMessage,
};
use rserpool::proto::wire::Policy;
use std::error::Error;
use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let registrar: SocketAddr = args
        .next()
        .ok_or("usage: echo_pe REGISTRAR:PORT [POOL]")?
        .parse()?;
    let pool = args.next().unwrap_or_else(|| "echo".to_string());

    let mut pe = pool_element::start(config(registrar, &pool)).await?;
    pe.wait_registered().await;
    println!("PE {} registered in pool {pool:?}", pe.pe_id());
    // The handle keeps the registration (keep-alives are answered in the
    // background); the sessions are served apart. Ctrl-C ends the process:
    // the registrar drops this PE when its keep-alives go unanswered
    // (`pe.stop()` would deregister it at once).
    let sessions = pe.take_sessions();
    serve(sessions).await;
    Ok(())
}

/// A PE of `pool` that knows one registrar (no multicast announces).
pub fn config(registrar: SocketAddr, pool: &str) -> PoolElementConfig {
    let mut cfg = PoolElementConfig::new(pool, Policy::RoundRobin);
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg
}

/// Serves every session pool users open, each in a task of its own.
pub async fn serve(mut sessions: SessionAcceptor) {
    while let Some(session) = sessions.accept().await {
        tokio::spawn(echo(session));
    }
}

/// Sends every application message back with its PPID; ends when the pool
/// user closes the session.
async fn echo(mut session: ServerSession) {
    while let Ok(Some(message)) = session.recv().await {
        if let SessionMessage::Data(frame) = message {
            if session.send(frame.ppid, frame.payload).await.is_err() {
                return;
            }
        }
    }
}
