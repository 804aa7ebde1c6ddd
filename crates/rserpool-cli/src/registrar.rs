//! `rserpool registrar`: the pool registrar daemon.
//!
//! Settings come from RFC 5352/5353 defaults, then an optional TOML file,
//! then command-line flags; each flag's help names its default. Every
//! setting has the same name in the file as on the command line, with `_`
//! for `-` (e.g. `keep_alive_timeout_ms = 5000`).

use clap::Parser;
use rserpool::announce::{ASAP_ANNOUNCE_GROUP, ENRP_ANNOUNCE_GROUP, MulticastConfig};
use rserpool::registrar::{DaemonConfig, start};
use rserpool::transport::TransportMode;
use rserpool_proto::registrar::{AddrPrefix, Config};
use rserpool_proto::wire::{ServerId, TransportParam, TransportUse};
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
pub struct Args {
    /// TOML file with any of the settings below (flags override it).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
}

/// Every registrar setting; `None` means "not given here".
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// ASAP address for PEs and PUs (repeat for multi-homing) [default: 0.0.0.0:3863, with TLS 0.0.0.0:3864]
    #[arg(long = "asap", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    #[serde(deserialize_with = "crate::addr::de_list")]
    pub asap: Vec<SocketAddr>,
    /// ENRP address for peer registrars (repeat for multi-homing) [default: 0.0.0.0:9901, with TLS 0.0.0.0:9902]
    #[arg(long = "enrp", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    #[serde(deserialize_with = "crate::addr::de_list")]
    pub enrp: Vec<SocketAddr>,
    /// This registrar's 32-bit ID, decimal or 0x-hex, unique in the operation scope [default: random]
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    #[serde(deserialize_with = "de_id")]
    pub identifier: Option<u32>,
    /// ENRP address of a peer registrar (repeatable)
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    #[serde(deserialize_with = "crate::addr::de_list")]
    pub peers: Vec<SocketAddr>,
    /// Host or prefix allowed as ENRP peer besides the --peer hosts
    /// (repeatable, e.g. 10.1.0.0/16); with any, ENRP from elsewhere is
    /// refused [default: any host]
    #[arg(long = "allow-peer", value_name = "ADDR[/LEN]")]
    #[serde(deserialize_with = "de_prefixes")]
    pub allow_peer: Vec<AddrPrefix>,
    /// Transport: kernel SCTP where the kernel has it, else TCP [default: auto]
    #[arg(long, value_name = "auto|sctp|tcp")]
    #[serde(deserialize_with = "de_transport")]
    pub transport: Option<TransportMode>,
    /// Serve HTTP at ADDR:PORT: the dashboard at /, the JSON API at /api/v1/,
    /// Prometheus metrics at /metrics (also --metrics) [default: off]
    #[arg(
        long = "http",
        visible_alias = "metrics",
        value_name = "ADDR:PORT",
        value_parser = crate::addr::parse
    )]
    #[serde(alias = "http", deserialize_with = "crate::addr::de_one")]
    pub metrics: Option<SocketAddr>,
    /// Send ASAP Server Announces and ENRP Presence by UDP multicast [default: true]
    #[arg(long, value_name = "BOOL")]
    pub announce: Option<bool>,
    /// Multicast group for ASAP Server Announces [default: 239.0.0.50:3863]
    #[arg(long, value_name = "GROUP:PORT")]
    pub asap_announce_group: Option<SocketAddrV4>,
    /// Multicast group for ENRP Presence announces [default: 239.0.0.51:9901]
    #[arg(long, value_name = "GROUP:PORT")]
    pub enrp_announce_group: Option<SocketAddrV4>,
    /// Interface address for multicast [default: the first IPv4 ASAP address, else 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    pub announce_interface: Option<Ipv4Addr>,
    /// Multicast TTL (always 0 on loopback) [default: 1]
    #[arg(long, value_name = "HOPS")]
    pub announce_ttl: Option<u32>,
    /// SERVER-ANNOUNCE-CYCLE: interval of ASAP Server Announces [default: 5000]
    #[arg(long, value_name = "MS")]
    pub server_announce_cycle_ms: Option<u64>,
    /// Interval between Endpoint Keep-Alives to each owned PE [default: 5000]
    #[arg(long, value_name = "MS")]
    pub keep_alive_transmission_interval_ms: Option<u64>,
    /// A PE that does not acknowledge a Keep-Alive within this is removed [default: 5000]
    #[arg(long, value_name = "MS")]
    pub keep_alive_timeout_ms: Option<u64>,
    /// PEER-HEARTBEAT-CYCLE: interval of ENRP Presence to each peer [default: 30000]
    #[arg(long, value_name = "MS")]
    pub peer_heartbeat_cycle_ms: Option<u64>,
    /// MAX-TIME-LAST-HEARD: a peer silent this long is asked for Presence [default: 61000]
    #[arg(long, value_name = "MS")]
    pub max_time_last_heard_ms: Option<u64>,
    /// MAX-TIME-NO-RESPONSE: a peer that does not answer within this is dead [default: 5000]
    #[arg(long, value_name = "MS")]
    pub max_time_no_response_ms: Option<u64>,
    /// How long to look for a mentor peer before serving alone [default: 5000]
    #[arg(long, value_name = "MS")]
    pub mentor_discovery_timeout_ms: Option<u64>,
    /// A takeover without all acknowledgements is abandoned after this [default: 5000]
    #[arg(long, value_name = "MS")]
    pub takeover_expiry_ms: Option<u64>,
    /// Registration lifetimes below this are raised to it [default: 1000]
    #[arg(long, value_name = "MS")]
    pub min_registration_lifetime_ms: Option<u64>,
    /// Registration lifetimes above this are refused (lowered from peers) [default: 3600000]
    #[arg(long, value_name = "MS")]
    pub max_registration_lifetime_ms: Option<u64>,
    /// Most ENRP peers at once; peers learnt beyond are not contacted [default: 64]
    #[arg(long, value_name = "N")]
    pub max_peers: Option<usize>,
    /// Most PEs registered through one association (Lack of Resources beyond) [default: 4096]
    #[arg(long, value_name = "N")]
    pub max_pes_per_association: Option<usize>,
    /// MaxHResItems: most PEs per handle resolution [default: 3]
    #[arg(long, value_name = "N")]
    pub max_hres_items: Option<u32>,
    /// MAX-BAD-PE-REPORT: Endpoint Unreachable reports that remove a PE [default: 3]
    #[arg(long, value_name = "N")]
    pub max_bad_pe_reports: Option<u32>,
    /// PEs per ENRP Handle Table Response block [default: 128]
    #[arg(long, value_name = "N")]
    pub max_elements_per_htr: Option<usize>,
    /// Handle resolutions per second and association; more are dropped [default: unlimited]
    #[arg(long, value_name = "PER_SECOND")]
    pub max_hr_rate: Option<u32>,
    /// Endpoint Unreachable reports per second and association [default: unlimited]
    #[arg(long, value_name = "PER_SECOND")]
    pub max_eu_rate: Option<u32>,
    /// Most pools in the handlespace (Lack of Resources beyond) [default: 65536]
    #[arg(long, value_name = "N")]
    pub max_pools: Option<usize>,
    /// Most PEs in one pool [default: 4194304]
    #[arg(long, value_name = "N")]
    pub max_pes_per_pool: Option<usize>,
    /// Most PEs in the handlespace [default: 16777216]
    #[arg(long, value_name = "N")]
    pub max_pes: Option<usize>,
    /// Most ASAP and ENRP associations at once [default: 100000]
    #[arg(long, value_name = "N")]
    pub max_associations: Option<usize>,
    /// Most associations from one host at once [default: a quarter of --max-associations]
    #[arg(long, value_name = "N")]
    pub max_associations_per_host: Option<usize>,
    /// Largest accepted message in bytes [default: 65535]
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,
    /// This registrar's certificate (PEM, from `rserpool tls cert create
    /// --registrar ID`): ASAP and ENRP over TLS (TCP), peers and PEs
    /// authenticated by the scope CA [default: no TLS]
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM)
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The scope CA's certificate (PEM)
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Threads running the registrar: 1 is one event loop, as light as a
    /// registrar gets per message; more spread the I/O over cores [default: 1]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

fn parse_id(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|e| format!("{s:?} is not a 32-bit ID: {e}"))
}

fn de_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Num(u32),
        Text(String),
    }
    match Option::<Id>::deserialize(d)? {
        None => Ok(None),
        Some(Id::Num(n)) => Ok(Some(n)),
        Some(Id::Text(s)) => parse_id(&s).map(Some).map_err(serde::de::Error::custom),
    }
}

fn de_prefixes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<AddrPrefix>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| s.parse().map_err(serde::de::Error::custom))
        .collect()
}

fn de_transport<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TransportMode>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

impl Settings {
    /// Fields set in `self` win over those in `base`.
    pub fn over(self, base: Settings) -> Settings {
        let v = |a: Vec<SocketAddr>, b: Vec<SocketAddr>| if a.is_empty() { b } else { a };
        Settings {
            asap: v(self.asap, base.asap),
            enrp: v(self.enrp, base.enrp),
            identifier: self.identifier.or(base.identifier),
            peers: v(self.peers, base.peers),
            allow_peer: if self.allow_peer.is_empty() {
                base.allow_peer
            } else {
                self.allow_peer
            },
            transport: self.transport.or(base.transport),
            metrics: self.metrics.or(base.metrics),
            announce: self.announce.or(base.announce),
            asap_announce_group: self.asap_announce_group.or(base.asap_announce_group),
            enrp_announce_group: self.enrp_announce_group.or(base.enrp_announce_group),
            announce_interface: self.announce_interface.or(base.announce_interface),
            announce_ttl: self.announce_ttl.or(base.announce_ttl),
            server_announce_cycle_ms: self
                .server_announce_cycle_ms
                .or(base.server_announce_cycle_ms),
            keep_alive_transmission_interval_ms: self
                .keep_alive_transmission_interval_ms
                .or(base.keep_alive_transmission_interval_ms),
            keep_alive_timeout_ms: self.keep_alive_timeout_ms.or(base.keep_alive_timeout_ms),
            peer_heartbeat_cycle_ms: self
                .peer_heartbeat_cycle_ms
                .or(base.peer_heartbeat_cycle_ms),
            max_time_last_heard_ms: self.max_time_last_heard_ms.or(base.max_time_last_heard_ms),
            max_time_no_response_ms: self
                .max_time_no_response_ms
                .or(base.max_time_no_response_ms),
            mentor_discovery_timeout_ms: self
                .mentor_discovery_timeout_ms
                .or(base.mentor_discovery_timeout_ms),
            takeover_expiry_ms: self.takeover_expiry_ms.or(base.takeover_expiry_ms),
            min_registration_lifetime_ms: self
                .min_registration_lifetime_ms
                .or(base.min_registration_lifetime_ms),
            max_registration_lifetime_ms: self
                .max_registration_lifetime_ms
                .or(base.max_registration_lifetime_ms),
            max_peers: self.max_peers.or(base.max_peers),
            max_pes_per_association: self
                .max_pes_per_association
                .or(base.max_pes_per_association),
            max_hres_items: self.max_hres_items.or(base.max_hres_items),
            max_bad_pe_reports: self.max_bad_pe_reports.or(base.max_bad_pe_reports),
            max_elements_per_htr: self.max_elements_per_htr.or(base.max_elements_per_htr),
            max_hr_rate: self.max_hr_rate.or(base.max_hr_rate),
            max_eu_rate: self.max_eu_rate.or(base.max_eu_rate),
            max_pools: self.max_pools.or(base.max_pools),
            max_pes_per_pool: self.max_pes_per_pool.or(base.max_pes_per_pool),
            max_pes: self.max_pes.or(base.max_pes),
            max_associations: self.max_associations.or(base.max_associations),
            max_associations_per_host: self
                .max_associations_per_host
                .or(base.max_associations_per_host),
            max_message_size: self.max_message_size.or(base.max_message_size),
            threads: self.threads.or(base.threads),
            tls_cert: self.tls_cert.or(base.tls_cert),
            tls_key: self.tls_key.or(base.tls_key),
            tls_ca: self.tls_ca.or(base.tls_ca),
        }
    }

    /// The daemon configuration: defaults overridden by what is set.
    pub fn daemon_config(&self, random_id: u32, seed: u64) -> DaemonConfig {
        let id = ServerId(self.identifier.unwrap_or(random_id));
        // IANA ports: ASAP 3863 and ENRP 9901, over TLS 3864 and 9902.
        let tls = self.tls_cert.is_some();
        let asap = if self.asap.is_empty() {
            vec![SocketAddr::from((
                [0, 0, 0, 0],
                if tls { 3864 } else { 3863 },
            ))]
        } else {
            self.asap.clone()
        };
        let enrp = if self.enrp.is_empty() {
            vec![SocketAddr::from((
                [0, 0, 0, 0],
                if tls { 9902 } else { 9901 },
            ))]
        } else {
            self.enrp.clone()
        };
        // The real transports are filled in once the sockets are bound.
        let placeholder = TransportParam::Tcp {
            port: 0,
            transport_use: TransportUse::DataOnly,
            address: enrp[0].ip(),
        };
        let mut c = Config::new(id, placeholder);
        c.peers = self.peers.clone();
        c.peer_allow = self.allow_peer.clone();
        c.announce = self.announce.unwrap_or(true);
        let ms = Duration::from_millis;
        let set = |field: &mut Duration, v: Option<u64>| {
            if let Some(v) = v {
                *field = ms(v);
            }
        };
        set(&mut c.server_announce_cycle, self.server_announce_cycle_ms);
        set(
            &mut c.keep_alive_transmission_interval,
            self.keep_alive_transmission_interval_ms,
        );
        set(&mut c.keep_alive_timeout, self.keep_alive_timeout_ms);
        set(&mut c.peer_heartbeat_cycle, self.peer_heartbeat_cycle_ms);
        set(&mut c.max_time_last_heard, self.max_time_last_heard_ms);
        set(&mut c.max_time_no_response, self.max_time_no_response_ms);
        set(
            &mut c.mentor_discovery_timeout,
            self.mentor_discovery_timeout_ms,
        );
        set(&mut c.takeover_expiry, self.takeover_expiry_ms);
        set(
            &mut c.min_registration_lifetime,
            self.min_registration_lifetime_ms,
        );
        set(
            &mut c.max_registration_lifetime,
            self.max_registration_lifetime_ms,
        );
        if let Some(v) = self.max_peers {
            c.max_peers = v;
        }
        if let Some(v) = self.max_pes_per_association {
            c.max_pes_per_association = v.max(1);
        }
        if let Some(v) = self.max_hres_items {
            c.max_hres_items = v;
        }
        if let Some(v) = self.max_bad_pe_reports {
            c.max_bad_pe_reports = v;
            c.handlespace.max_bad_pe_reports = v;
        }
        if let Some(v) = self.max_elements_per_htr {
            c.max_elements_per_htr = v.max(1);
        }
        c.max_hr_rate = self.max_hr_rate.or(c.max_hr_rate);
        c.max_eu_rate = self.max_eu_rate.or(c.max_eu_rate);
        if let Some(v) = self.max_pools {
            c.handlespace.max_pools = v;
        }
        if let Some(v) = self.max_pes_per_pool {
            c.handlespace.max_pes_per_pool = v;
        }
        if let Some(v) = self.max_pes {
            c.handlespace.max_pes_total = v;
        }
        if let Some(v) = self.max_message_size {
            c.decode.max_message_size = v.clamp(4, 65535);
        }

        let interface = self.announce_interface.unwrap_or_else(|| {
            asap.iter()
                .find_map(|a| match a {
                    SocketAddr::V4(v4) if !v4.ip().is_unspecified() => Some(*v4.ip()),
                    _ => None,
                })
                .unwrap_or(Ipv4Addr::LOCALHOST)
        });
        let mcast = |group: SocketAddrV4| {
            let mut m = MulticastConfig::new(group, interface);
            if let Some(ttl) = self.announce_ttl {
                m.ttl = ttl;
            }
            m
        };
        let mut d = DaemonConfig::new(c, asap, enrp);
        d.transport = self.transport.unwrap_or_default();
        d.metrics = self.metrics;
        d.asap_announce = Some(mcast(
            self.asap_announce_group.unwrap_or(ASAP_ANNOUNCE_GROUP),
        ));
        d.enrp_announce = Some(mcast(
            self.enrp_announce_group.unwrap_or(ENRP_ANNOUNCE_GROUP),
        ));
        d.max_associations_per_host = self.max_associations_per_host;
        if let Some(v) = self.max_associations {
            d.max_associations = v;
        }
        d.seed = seed;
        d
    }
}

/// Reads the settings file, if any, under the command-line flags.
pub fn settings(args: &Args) -> Result<Settings, String> {
    let base = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            toml::from_str::<Settings>(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Settings::default(),
    };
    Ok(args.settings.clone().over(base))
}

pub fn run(args: &Args) -> i32 {
    crate::logging::init();
    let settings = match settings(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rserpool registrar: {e}");
            return 2;
        }
    };
    let seed = crate::random_u64();
    let mut cfg = settings.daemon_config(seed as u32 | 1, seed);
    match crate::tls::tls_config(
        settings.tls_ca.as_ref(),
        settings.tls_cert.as_ref(),
        settings.tls_key.as_ref(),
    ) {
        Ok(tls) => cfg.tls = tls,
        Err(e) => {
            eprintln!("rserpool registrar: {e}");
            return 2;
        }
    }
    if cfg.tls.is_some() && !cfg.tls.as_ref().is_some_and(|t| t.has_certificate()) {
        eprintln!("rserpool registrar: --tls-ca needs --tls-cert and --tls-key");
        return 2;
    }
    let rt = match settings.threads.unwrap_or(1) {
        0 | 1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    }
    .enable_all()
    .build();
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rserpool registrar: cannot start the runtime: {e}");
            return 1;
        }
    };
    let tls = cfg.tls.is_some();
    rt.block_on(async move {
        let handle = match start(cfg).await {
            Ok(h) => h,
            Err(e) => {
                eprintln!("rserpool registrar: {e}");
                return 1;
            }
        };
        // "tls" stands for TLS over TCP.
        let carrier = if tls {
            "tls".to_string()
        } else {
            handle.carrier().to_string()
        };
        for a in handle.asap_addrs() {
            println!("ASAP {carrier} {a}");
        }
        for a in handle.enrp_addrs() {
            println!("ENRP {carrier} {a}");
        }
        if let Some(m) = handle.metrics_addr() {
            println!("metrics http://{m}/metrics");
            // A log line, not stdout: scripts read the lines above and may
            // close stdout after the metrics line.
            tracing::info!("dashboard http://{m}/, JSON API http://{m}/api/v1/");
        }
        crate::wait_for_stop_signal().await;
        match handle.stop().await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("rserpool registrar: {e}");
                1
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_settings_are_overridden_by_flags() {
        let file: Settings = toml::from_str(
            r#"
            identifier = "0x11"
            asap = ["127.0.0.1:3863"]
            transport = "tcp"
            keep_alive_timeout_ms = 2000
            max_hres_items = 7
            threads = 2
            "#,
        )
        .unwrap();
        let flags = Settings {
            max_hres_items: Some(2),
            ..Settings::default()
        };
        let s = flags.over(file);
        assert_eq!(s.identifier, Some(0x11));
        assert_eq!(s.max_hres_items, Some(2));
        assert_eq!(s.transport, Some(TransportMode::Tcp));
        assert_eq!(s.threads, Some(2));
        let d = s.daemon_config(5, 1);
        assert_eq!(d.registrar.id, ServerId(0x11));
        assert_eq!(d.registrar.keep_alive_timeout, Duration::from_millis(2000));
        assert_eq!(d.registrar.max_hres_items, 2);
        assert_eq!(
            d.asap_addrs,
            vec!["127.0.0.1:3863".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(d.asap_announce.unwrap().interface, Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn unknown_file_settings_are_refused() {
        let e = toml::from_str::<Settings>("keep_alive_timeout = 5").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(toml::from_str::<Settings>("identifier = \"0xzz\"").is_err());
    }

    #[test]
    fn tls_moves_the_default_ports_to_iana_tls_ports() {
        let plain = Settings::default().daemon_config(5, 1);
        assert_eq!(plain.asap_addrs[0].port(), 3863);
        assert_eq!(plain.enrp_addrs[0].port(), 9901);
        let tls: Settings = toml::from_str(
            r#"
            tls_cert = "pr.pem"
            tls_key = "pr-key.pem"
            tls_ca = "ca.pem"
            "#,
        )
        .unwrap();
        let d = tls.daemon_config(5, 1);
        assert_eq!(d.asap_addrs[0].port(), 3864);
        assert_eq!(d.enrp_addrs[0].port(), 9902);
    }

    #[test]
    fn the_packaged_example_configuration_parses() {
        let example = include_str!("../../../packaging/registrar.toml");
        let s: Settings = toml::from_str(example).unwrap();
        assert_eq!(s.asap, vec!["0.0.0.0:3863".parse::<SocketAddr>().unwrap()]);
        // Its commented keys are real ones too.
        let uncommented: String = example
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = "))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let all: Settings = toml::from_str(&uncommented).unwrap();
        assert_eq!(all.peers.len(), 2);
        assert_eq!(all.allow_peer.len(), 1);
    }

    #[test]
    fn ids_parse_in_hex_and_decimal() {
        assert_eq!(parse_id("0x11"), Ok(17));
        assert_eq!(parse_id("17"), Ok(17));
        assert!(parse_id("-1").is_err());
    }
}
