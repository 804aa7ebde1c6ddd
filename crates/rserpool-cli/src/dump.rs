//! `rserpool dump`: a registrar's handlespace, read over ENRP as a
//! pseudo-peer (see [`probe`]), printed as text or JSON.

pub mod format;
pub mod json;
pub mod probe;
pub mod snapshot;
pub mod text;

use clap::Parser;
use probe::{Probe, ProbeError};
use rserpool::transport::{Carrier, TransportMode};
use rserpool_proto::wire::ServerId;
use snapshot::Snapshot;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Parser)]
pub struct Args {
    /// ENRP address of the registrar (its --enrp address)
    #[arg(long, value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    pub registrar: SocketAddr,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    /// Transport: auto tries kernel SCTP (where the kernel has it), then TCP
    #[arg(long, value_name = "auto|sctp|tcp", default_value = "auto")]
    pub transport: TransportMode,
    /// Give up after this long
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,
    /// TLS (a registrar certificate of the scope: the dump is a pseudo-peer)
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

/// Connects a probe with a fresh random server ID. With
/// [`TransportMode::Auto`], a refused SCTP association is retried over TCP,
/// since the registrar may run either.
pub async fn connect(
    address: SocketAddr,
    mode: TransportMode,
    limit: Duration,
) -> Result<Probe, ProbeError> {
    let me = ServerId(crate::random_u64() as u32 | 1);
    let first = mode
        .resolve()
        .map_err(|e| ProbeError::Connect(address, e))?;
    match Probe::connect(address, first, me, limit).await {
        Err(ProbeError::Connect(..)) if mode == TransportMode::Auto && first == Carrier::Sctp => {
            Probe::connect(address, Carrier::Tcp, me, limit).await
        }
        r => r,
    }
}

/// One complete dump over TLS (the registrar's ENRP over TLS).
pub async fn fetch_tls(
    address: SocketAddr,
    tls: &rserpool::transport::tls::TlsClient,
    limit: Duration,
) -> Result<Snapshot, ProbeError> {
    let deadline = tokio::time::Instant::now() + limit;
    let me = ServerId(crate::random_u64() as u32 | 1);
    let mut probe = Probe::connect_tls(address, tls, me, limit).await?;
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let s = probe.snapshot(left).await;
    probe.close().await;
    s
}

/// One complete dump: connect, fetch, close.
pub async fn fetch(
    address: SocketAddr,
    mode: TransportMode,
    limit: Duration,
) -> Result<Snapshot, ProbeError> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut probe = connect(address, mode, limit).await?;
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    let s = probe.snapshot(left).await;
    probe.close().await;
    s
}

pub fn run(args: &Args) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool dump: cannot start the runtime: {e}");
            return 1;
        }
    };
    let limit = Duration::from_millis(args.timeout_ms);
    let tls = match args.tls.client() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rserpool dump: {e}");
            return 2;
        }
    };
    let fetched = rt.block_on(async {
        match &tls {
            Some(tls) => fetch_tls(args.registrar, tls, limit).await,
            None => fetch(args.registrar, args.transport, limit).await,
        }
    });
    match fetched {
        Ok(s) if args.json => match json::render(&s) {
            Ok(doc) => {
                println!("{doc}");
                0
            }
            Err(e) => {
                eprintln!("rserpool dump: cannot write JSON: {e}");
                1
            }
        },
        Ok(s) => {
            print!("{}", text::render(&s));
            0
        }
        Err(e) => {
            eprintln!("rserpool dump: {}: {e}", args.registrar);
            1
        }
    }
}
