//! `rserpool dump`: a registrar's handlespace, read over ENRP as a
//! pseudo-peer (see [`rserpool::probe`]), printed as text or JSON.

pub mod format;
pub mod json;
pub mod text;

use clap::Parser;
use rserpool::probe::{DumpError, DumpOptions, Snapshot};
use rserpool::transport::TransportMode;
use rserpool::transport::tls::TlsClient;
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Parser)]
pub struct Args {
    /// ENRP address of the registrar (its --enrp address, as `registrar
    /// --peer` names it)
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    pub registrar: SocketAddr,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    /// Transport: auto tries kernel SCTP (where the kernel has it), then TCP
    #[arg(long, value_name = "auto|sctp|tcp", default_value = "auto")]
    pub transport: TransportMode,
    /// Give up after this long
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::units::duration)]
    pub timeout: Duration,
    /// TLS (a registrar certificate of the scope: the dump is a pseudo-peer)
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

/// How `dump`, `monitor` and the demo reach a registrar.
pub fn options(mode: TransportMode, tls: Option<&TlsClient>, limit: Duration) -> DumpOptions {
    let mut o = DumpOptions::default();
    o.transport = mode;
    o.tls = tls.cloned();
    o.timeout = limit;
    o
}

/// One complete dump over TLS (the registrar's ENRP over TLS).
pub async fn fetch_tls(
    address: SocketAddr,
    tls: &TlsClient,
    limit: Duration,
) -> Result<Snapshot, DumpError> {
    rserpool::probe::dump(address, &options(TransportMode::Tcp, Some(tls), limit)).await
}

/// One complete dump: connect, fetch, close.
pub async fn fetch(
    address: SocketAddr,
    mode: TransportMode,
    limit: Duration,
) -> Result<Snapshot, DumpError> {
    rserpool::probe::dump(address, &options(mode, None, limit)).await
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
    let limit = args.timeout;
    let tls = match args.tls.client() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rserpool dump: {e}");
            return 2;
        }
    };
    let options = options(args.transport, tls.as_ref(), limit);
    let fetched = rt.block_on(rserpool::probe::dump(args.registrar, &options));
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
