//! `rserpool resolve`: one ASAP Handle Resolution, its PEs printed one per
//! line (or as JSON). For scripts and for checking a scope by hand: which
//! PEs does this registrar hand out for this pool right now?

use crate::dump::format;
use clap::Parser;
use rserpool::announce::{ASAP_ANNOUNCE_GROUP, MulticastConfig};
use rserpool::pool_user::{PuError, start};
use rserpool::transport::TransportMode;
use rserpool_proto::pool_user::ResolutionFailure;
use rserpool_proto::wire::PoolElement;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Parser)]
pub struct Args {
    /// Pool handle to resolve
    #[arg(long, value_name = "NAME")]
    pub pool: String,
    /// A registrar's ASAP address (repeatable); without any, registrars are
    /// found by ASAP Server Announces on the loopback group
    #[arg(long = "registrar", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    pub registrars: Vec<SocketAddr>,
    /// Transport: kernel SCTP where the kernel has it, else TCP
    #[arg(long, value_name = "auto|sctp|tcp", default_value = "auto")]
    pub transport: TransportMode,
    /// Print one JSON array instead of text
    #[arg(long)]
    pub json: bool,
    /// Give up after this long
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::units::duration)]
    pub timeout: Duration,
    /// TLS to the registrar: the scope CA (a certificate is optional)
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

pub fn run(args: &Args) -> i32 {
    crate::logging::init();
    let announces = MulticastConfig::new(ASAP_ANNOUNCE_GROUP, Ipv4Addr::LOCALHOST);
    let cfg = match crate::pu::config(&args.registrars, announces, args.transport, &args.tls) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rserpool resolve: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool resolve: cannot start the runtime: {e}");
            return 1;
        }
    };
    let limit = args.timeout;
    let pool = args.pool.clone();
    let result = rt.block_on(async move {
        let pu = start(cfg).await.map_err(|e| e.to_string())?;
        match tokio::time::timeout(limit, pu.resolve(pool.as_str())).await {
            Ok(r) => r.map_err(|e| describe(&pool, &e)),
            Err(_) => Err(format!(
                "no answer within {} ms: is a registrar running at the given address?",
                limit.as_millis()
            )),
        }
    });
    match result {
        Ok(pes) => {
            if args.json {
                println!("{}", json(&pes));
            } else {
                for pe in &pes {
                    println!("{}", line(pe));
                }
            }
            0
        }
        Err(e) => {
            eprintln!("rserpool resolve: {e}");
            1
        }
    }
}

/// One human sentence for a failed resolution.
fn describe(pool: &str, e: &PuError) -> String {
    match e {
        PuError::Resolution(ResolutionFailure::Error(err)) => {
            let causes: Vec<&str> = err.causes.iter().map(|c| c.code.name()).collect();
            format!(
                "the registrar refused to resolve pool {pool:?}: {}",
                causes.join(", ")
            )
        }
        PuError::Resolution(ResolutionFailure::NoRegistrar) => {
            "no registrar could be reached: check --registrar and --transport".into()
        }
        other => other.to_string(),
    }
}

fn line(pe: &PoolElement) -> String {
    format!(
        "PE {:#010x} home {:#010x} {} policy {}",
        pe.pe_id.0,
        pe.home_server_id.0,
        format::user_endpoint(&pe.user_transport),
        format::policy(&pe.policy),
    )
}

fn json(pes: &[PoolElement]) -> String {
    let items: Vec<serde_json::Value> = pes
        .iter()
        .map(|pe| {
            serde_json::json!({
                "pe_id": pe.pe_id.0,
                "home": pe.home_server_id.0,
                "protocol": format::protocol(&pe.user_transport),
                "port": pe.user_transport.port(),
                "addresses": pe.user_transport.addresses().iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                "policy": format::policy(&pe.policy),
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}
