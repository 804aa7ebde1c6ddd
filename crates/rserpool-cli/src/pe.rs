//! `rserpool pe`: a pool element offering one of the built-in services.
//!
//! It registers with the given registrars (or those heard in ASAP Server
//! Announces), serves pool user sessions, and deregisters on SIGINT or
//! SIGTERM. Its endpoints are printed on stdout at start:
//! `PE <id> data <addr> control <addr>`.

use clap::Parser;
use rserpool::announce::{ASAP_ANNOUNCE_GROUP, MulticastConfig};
use rserpool::pool_element::{PoolElementConfig, start};
use rserpool::services::{self, Service, ServiceConfig};
use rserpool::transport::TransportMode;
use rserpool_proto::pool_element::{PeEvent, RegistrationFailure};
use rserpool_proto::wire::{Policy, PolicyType};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

#[derive(Debug, Parser)]
pub struct Args {
    /// Pool handle to register under
    #[arg(long, value_name = "NAME")]
    pub pool: String,
    /// Service offered: echo, discard, daytime, chargen, ping-pong, compute
    #[arg(long, default_value = "echo")]
    pub service: Service,
    /// Pool policy: round-robin, weighted-round-robin, random, weighted-random,
    /// priority, least-used, least-used-degradation, priority-least-used, ...
    #[arg(long, default_value = "round-robin", value_parser = rserpool_bench::units::policy)]
    pub policy: PolicyType,
    /// Load for adaptive policies, in percent (e.g. 30%)
    #[arg(long, default_value = "0%", value_parser = parse_percent)]
    pub load: u32,
    /// Load degradation for the degradation policies, in percent
    #[arg(long, default_value = "0%", value_parser = parse_percent)]
    pub degradation: u32,
    /// Weight for the weighted policies
    #[arg(long, default_value_t = 1)]
    pub weight: u32,
    /// Priority for the priority policies
    #[arg(long, default_value_t = 0)]
    pub priority: u32,
    /// A registrar's ASAP address (repeatable); without any, registrars are
    /// found by ASAP Server Announces
    #[arg(long = "registrar", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    pub registrars: Vec<SocketAddr>,
    /// Multicast group of ASAP Server Announces
    #[arg(long, value_name = "GROUP:PORT", default_value_t = ASAP_ANNOUNCE_GROUP)]
    pub asap_announce_group: SocketAddrV4,
    /// Interface address for announces
    #[arg(long, value_name = "ADDR", default_value_t = Ipv4Addr::LOCALHOST)]
    pub announce_interface: Ipv4Addr,
    /// Transport: kernel SCTP where the kernel has it, else TCP
    #[arg(long, value_name = "auto|sctp|tcp", default_value = "auto")]
    pub transport: TransportMode,
    /// Data address where pool users connect (port 0: any free port). Its
    /// address is the one registered; an unspecified one (0.0.0.0) is filled
    /// in by this project's registrars, but RSPLIB's rspregistrar refuses it
    /// (and keeps only addresses of the PE's ASAP association): give a
    /// concrete one there. 0.0.0.0 listens dual-stack (as [::]), so the PE
    /// is reachable over the family of its registrar association
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:0", value_parser = crate::addr::parse)]
    pub listen: SocketAddr,
    /// Control address where registrars reach this PE (port 0: any free port)
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:0", value_parser = crate::addr::parse)]
    pub control: SocketAddr,
    /// Registration lifetime
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = crate::units::duration)]
    pub lifetime: Duration,
    /// Duration of one step of a compute job
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = crate::units::duration)]
    pub compute_step: Duration,
    /// TLS to registrars: the scope CA and this PE's certificate (one
    /// that names the pool, from `rserpool tls cert create --pe POOL`)
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
    /// With --tls-ca: pool users' sessions over TLS too (they see this
    /// PE's certificate; a pool user needs --tls-data as well)
    #[arg(long, requires = "tls_ca")]
    pub tls_data: bool,
    /// Seal session cookies with the pool secret in FILE (16 bytes or more,
    /// the same for every PE of the pool, e.g. `head -c 32 /dev/urandom`):
    /// echoed cookies not sealed by a PE of this pool are refused
    #[arg(long, value_name = "FILE")]
    pub cookie_key: Option<std::path::PathBuf>,
    /// With --cookie-key: echoed cookies older than this are refused
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = crate::units::duration)]
    pub cookie_max_age: Duration,
}

/// `30%` or `30` to a fraction of 0xffffffff.
fn parse_percent(s: &str) -> Result<u32, String> {
    let p: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("expected a percentage such as 30%, got {s:?}"))?;
    if !(0.0..=100.0).contains(&p) {
        return Err(format!("{s} is not between 0% and 100%"));
    }
    Ok((p / 100.0 * f64::from(u32::MAX)).round() as u32)
}

/// The policy with the values the flags give.
pub fn policy(args: &Args) -> Option<Policy> {
    use PolicyType as T;
    let values = match args.policy {
        T::WeightedRoundRobin | T::WeightedRandom | T::WeightedRandomDpf => {
            vec![args.weight, 0, 0]
        }
        T::Priority => vec![args.priority],
        T::LeastUsedDpf => vec![args.load, 0, 0],
        _ => vec![args.load, args.degradation, 0, 0],
    };
    Policy::from_values(args.policy, &values)
}

pub fn run(args: &Args) -> i32 {
    crate::logging::init();
    let Some(policy) = policy(args) else {
        eprintln!("rserpool pe: cannot build policy {}", args.policy.name());
        return 2;
    };
    let mut cfg = PoolElementConfig::new(args.pool.as_str(), policy);
    cfg.registrars = args.registrars.clone();
    // Registrars given: those only; else found by their announces.
    cfg.announces = args
        .registrars
        .is_empty()
        .then(|| MulticastConfig::new(args.asap_announce_group, args.announce_interface));
    cfg.transport = args.transport;
    cfg.data_addr = args.listen;
    cfg.control_addr = args.control;
    cfg.registration_life = args.lifetime;
    cfg.seed = crate::random_u64();
    match args.tls.config() {
        Ok(t) => {
            cfg.tls = t;
            cfg.data_tls = args.tls_data;
        }
        Err(e) => {
            eprintln!("rserpool pe: {e}");
            return 2;
        }
    }
    if let Some(path) = &args.cookie_key {
        let secret = match std::fs::read(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "rserpool pe: cannot read the cookie key {}: {e}",
                    path.display()
                );
                return 1;
            }
        };
        let Some(key) = rserpool::cookie::CookieKey::new(secret) else {
            eprintln!(
                "rserpool pe: the cookie key {} is shorter than 16 bytes",
                path.display()
            );
            return 1;
        };
        cfg.cookies = Some(rserpool::pool_element::CookieSealing {
            key,
            max_age: args.cookie_max_age,
        });
    }
    let mut service = ServiceConfig::new(args.service);
    service.compute_step = args.compute_step;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool pe: cannot start the runtime: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let mut pe = match start(cfg).await {
            Ok(pe) => pe,
            Err(e) => {
                eprintln!("rserpool pe: {e}");
                return 1;
            }
        };
        println!(
            "PE {} data {} control {}",
            pe.pe_id(),
            pe.data_addr(),
            pe.control_addr()
        );
        let host = services::spawn(service, pe.take_sessions());
        let stop = crate::wait_for_stop_signal();
        tokio::pin!(stop);
        // A refusal is final (the registrar will say the same again); not
        // reaching a registrar is said once, and the PE keeps trying.
        let mut said_unreachable = false;
        let refused = loop {
            tokio::select! {
                () = &mut stop => break None,
                ev = pe.next_event() => match ev {
                    Some(PeEvent::RegistrationFailed { cause: RegistrationFailure::Rejected(e) }) => {
                        let causes: Vec<&str> = e.causes.iter().map(|c| c.code.name()).collect();
                        break Some(causes.join(", "));
                    }
                    Some(PeEvent::RegistrationFailed { .. }) if !said_unreachable => {
                        said_unreachable = true;
                        eprintln!("rserpool pe: no registrar reached yet; still trying");
                    }
                    Some(_) => {}
                    None => break Some("the pool element stopped".into()),
                },
            }
        };
        if let Some(why) = refused {
            host.stop();
            pe.kill();
            eprintln!("rserpool pe: the registrar refused the registration into pool {:?}: {why}", args.pool);
            return 1;
        }
        let r = pe.stop().await;
        host.stop();
        match r {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rserpool pe: {e}");
                1
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_scale_to_the_full_range() {
        assert_eq!(parse_percent("0%"), Ok(0));
        assert_eq!(parse_percent("100%"), Ok(u32::MAX));
        assert_eq!(parse_percent("50"), Ok(2_147_483_648));
        assert!(parse_percent("101%").is_err());
        assert!(parse_percent("x").is_err());
    }

    #[test]
    fn flags_fill_the_policy_values() {
        let args = Args::parse_from([
            "pe",
            "--pool",
            "p",
            "--policy",
            "least-used",
            "--load",
            "25%",
        ]);
        assert_eq!(
            policy(&args),
            Some(Policy::LeastUsed {
                load: parse_percent("25%").unwrap()
            })
        );
        let args = Args::parse_from([
            "pe",
            "--pool",
            "p",
            "--policy",
            "priority",
            "--priority",
            "3",
        ]);
        assert_eq!(policy(&args), Some(Policy::Priority { priority: 3 }));
    }
}
