//! The registrar's HTTP listener: a read-only JSON API (`/api/v1/...`),
//! a watch of the handlespace as Server-Sent Events, a web dashboard,
//! Prometheus metrics (`/metrics`), `/healthz`, `/readyz` and the API's
//! OpenAPI description (`/openapi.json`).
//!
//! The HTTP side (axum on hyper) runs in its own tasks and never touches
//! registrar state: it asks the registrar task through a bounded channel
//! ([`hub::Call`]) and the registrar task answers from its own state, so
//! each answer is consistent and a resolution is the one ASAP makes.
//! Changes reach watchers through a bounded broadcast; a watcher that
//! falls behind is dropped and resumes from the kept history.
//!
//! Everything a client can make the server hold is bounded: connections
//! ([`MAX_CONNECTIONS`]), watches ([`MAX_WATCHES`]), request heads
//! ([`MAX_HEAD`]), the time to send a head ([`HEAD_TIMEOUT`]) and the time
//! a connection may make no progress at all ([`IDLE_TIMEOUT`]). No handler
//! reads a request body.

mod api;
pub use api::OPENAPI;
pub mod hub;
mod idle;
mod sse;
pub mod views;

use crate::metrics::SnapshotRequest;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, warn};

/// Most HTTP connections at once; further ones are closed at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Most watches (SSE streams) at once; further ones get 503.
pub const MAX_WATCHES: usize = 64;
/// Largest request head (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Time to send a complete request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that neither reads nor writes a byte for this long is
/// closed (a watch sends a keep-alive comment more often).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a request waits for the registrar task.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Queries queued for the registrar task.
pub const CALL_QUEUE: usize = 64;

/// The channels from the HTTP side to the registrar task.
#[derive(Clone, Debug)]
pub struct Channels {
    /// API queries.
    pub calls: mpsc::Sender<hub::Call>,
    /// Metrics snapshots.
    pub metrics: mpsc::Sender<SnapshotRequest>,
}

/// Serves HTTP on `listener` until the registrar task goes away; with
/// `tls` (the registrar's certificate) HTTPS, clients' certificates
/// optional.
pub async fn serve(
    listener: TcpListener,
    channels: Channels,
    tls: Option<crate::transport::tls::TlsServer>,
) -> io::Result<()> {
    let tls = tls.map(Arc::new);
    let state = api::AppState::new(channels);
    let router = api::router(state);
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                warn!("HTTP accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            debug!(%peer, "HTTP connection limit reached: closing connection");
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_one(stream, peer, service).await,
                Some(tls) => {
                    // The handshake is bounded like a request head.
                    match tokio::time::timeout(HEAD_TIMEOUT, tls.accept_tcp(stream)).await {
                        Ok(Ok(s)) => serve_one(s, peer, service).await,
                        Ok(Err(e)) => debug!(%peer, "HTTPS handshake failed: {e}"),
                        Err(_) => debug!(%peer, "HTTPS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
    }
}

/// One HTTP/1 connection until it ends or stalls.
async fn serve_one<S>(
    stream: S,
    peer: std::net::SocketAddr,
    service: TowerToHyperService<axum::Router>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (io, progress) = idle::Watched::new(stream);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                debug!(%peer, "HTTP connection ended: {e}");
            }
        }
        () = progress.stalled(IDLE_TIMEOUT) => {
            debug!(%peer, "HTTP connection idle: closing it");
        }
    }
}
