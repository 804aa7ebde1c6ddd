//! `rserpool registrar`: the pool registrar daemon.
//!
//! Settings come from RFC 5352/5353 defaults, then an optional TOML file,
//! then command-line flags; each flag's help names its default. Every
//! setting has the same name in the file as on the command line, with `_`
//! for `-` (e.g. `keep_alive_timeout = 5000`).

use clap::Parser;
use rserpool::announce::{ASAP_ANNOUNCE_GROUP, ENRP_ANNOUNCE_GROUP, MulticastConfig};
use rserpool::registrar::{DaemonConfig, start};
use rserpool::transport::{SctpSockets, TransportMode};
use rserpool_proto::registrar::{AddrPrefix, Config};
use rserpool_proto::wire::{ServerId, TransportParam, TransportUse};
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
pub struct Args {
    /// TOML file with any of the settings below, keyed by their long flag
    /// names (e.g. `keep-alive-timeout = "5s"`); flags override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (defaults, file and flags) as
    /// TOML, in the form --config reads, and exit
    #[arg(long)]
    pub print_config: bool,
    #[command(flatten)]
    pub settings: Settings,
}

/// Every registrar setting; `None` (or empty) means "not given here". The
/// TOML key of each is its long flag.
#[derive(Debug, Default, Clone, PartialEq, clap::Args, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
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
    #[serde(
        deserialize_with = "de_id",
        serialize_with = "ser_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub identifier: Option<u32>,
    /// ENRP address of a peer registrar (repeatable); with any, only these
    /// are contacted at start
    #[arg(long = "peer", value_name = "ADDR:PORT", value_parser = crate::addr::parse)]
    #[serde(rename = "peer", deserialize_with = "crate::addr::de_list")]
    pub peers: Vec<SocketAddr>,
    /// Host or prefix allowed as ENRP peer besides the --peer hosts
    /// (repeatable, e.g. 10.1.0.0/16); with any, ENRP from elsewhere is
    /// refused [default: any host]
    #[arg(long = "allow-peer", value_name = "ADDR[/LEN]")]
    #[serde(deserialize_with = "de_prefixes", serialize_with = "ser_display_list")]
    pub allow_peer: Vec<AddrPrefix>,
    /// Transport: kernel SCTP where the kernel has it, else TCP [default: auto]
    #[arg(long, value_name = "auto|sctp|tcp")]
    #[serde(
        deserialize_with = "de_transport",
        serialize_with = "ser_transport",
        skip_serializing_if = "Option::is_none"
    )]
    pub transport: Option<TransportMode>,
    /// Over kernel SCTP, ASAP and ENRP each on one one-to-many socket for
    /// all associations (no file per PE, PU or peer; batched receive and
    /// send) or a socket per association; auto: one-to-many where
    /// net.sctp.sndbuf_policy is 1 (a send buffer per association), else
    /// one-to-one [default: auto]
    #[arg(long, value_name = "auto|one-to-many|one-to-one")]
    #[serde(
        deserialize_with = "de_parsed",
        serialize_with = "ser_display",
        skip_serializing_if = "Option::is_none"
    )]
    pub sctp_sockets: Option<SctpSockets>,
    /// Serve HTTP at ADDR:PORT: the dashboard at /, the JSON API at /api/v1/,
    /// Prometheus metrics at /metrics (also --metrics) [default: off]
    #[arg(
        long = "http",
        visible_alias = "metrics",
        value_name = "ADDR:PORT",
        value_parser = crate::addr::parse
    )]
    #[serde(
        rename = "http",
        alias = "metrics",
        deserialize_with = "crate::addr::de_one",
        skip_serializing_if = "Option::is_none"
    )]
    pub metrics: Option<SocketAddr>,
    /// Neither send ASAP Server Announces and ENRP Presence by UDP
    /// multicast nor join registrars heard that way
    #[arg(long)]
    pub no_announce: bool,
    /// Multicast group for ASAP Server Announces [default: 239.0.0.50:3863]
    #[arg(long, value_name = "GROUP:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asap_announce_group: Option<SocketAddrV4>,
    /// Multicast group for ENRP Presence announces [default: 239.0.0.51:9901]
    #[arg(long, value_name = "GROUP:PORT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrp_announce_group: Option<SocketAddrV4>,
    /// Interface address for multicast [default: the first IPv4 ASAP address, else 127.0.0.1]
    #[arg(long, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announce_interface: Option<Ipv4Addr>,
    /// Multicast TTL (always 0 on loopback) [default: 1]
    #[arg(long, value_name = "HOPS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub announce_ttl: Option<u32>,
    /// SERVER-ANNOUNCE-CYCLE: interval of ASAP Server Announces [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub server_announce_cycle: Option<Duration>,
    /// Interval between Endpoint Keep-Alives to each owned PE [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub keep_alive_transmission_interval: Option<Duration>,
    /// A PE that does not acknowledge a Keep-Alive within this is removed [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub keep_alive_timeout: Option<Duration>,
    /// PEER-HEARTBEAT-CYCLE: interval of ENRP Presence to each peer [default: 30s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub peer_heartbeat_cycle: Option<Duration>,
    /// MAX-TIME-LAST-HEARD: a peer silent this long is asked for Presence [default: 61s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub max_time_last_heard: Option<Duration>,
    /// MAX-TIME-NO-RESPONSE: a peer that does not answer within this is dead [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub max_time_no_response: Option<Duration>,
    /// How long to look for a mentor peer before serving alone [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub mentor_discovery_timeout: Option<Duration>,
    /// A takeover without all acknowledgements is abandoned after this [default: 5s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub takeover_expiry: Option<Duration>,
    /// Registration lifetimes below this are raised to it [default: 1s]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub min_registration_lifetime: Option<Duration>,
    /// Registration lifetimes above this are refused (lowered from peers) [default: 1h]
    #[arg(long, value_name = "DURATION", value_parser = crate::units::duration)]
    #[serde(with = "opt_duration", skip_serializing_if = "Option::is_none")]
    pub max_registration_lifetime: Option<Duration>,
    /// Most ENRP peers at once; peers learnt beyond are not contacted [default: 64]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_peers: Option<usize>,
    /// Most PEs registered through one association (Lack of Resources beyond) [default: 4096]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pes_per_association: Option<usize>,
    /// MaxHResItems: most PEs per handle resolution [default: 3]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hres_items: Option<u32>,
    /// MAX-BAD-PE-REPORT: Endpoint Unreachable reports that remove a PE [default: 3]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bad_pe_reports: Option<u32>,
    /// PEs per ENRP Handle Table Response block [default: 128]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_elements_per_htr: Option<usize>,
    /// Handle resolutions per second and association; more are answered
    /// with Lack of Resources [default: unlimited]
    #[arg(long, value_name = "PER_SECOND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hr_rate: Option<u32>,
    /// Endpoint Unreachable reports per second and association [default: unlimited]
    #[arg(long, value_name = "PER_SECOND")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_eu_rate: Option<u32>,
    /// Most pools in the handlespace (Lack of Resources beyond) [default: 65536]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pools: Option<usize>,
    /// Most PEs in one pool [default: 4194304]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pes_per_pool: Option<usize>,
    /// Most PEs in the handlespace [default: 16777216]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pes: Option<usize>,
    /// Most ASAP and ENRP associations at once [default: 100000]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_associations: Option<usize>,
    /// Most associations from one host at once [default: a quarter of --max-associations]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_associations_per_host: Option<usize>,
    /// Largest accepted message in bytes [default: 65535]
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<usize>,
    /// This registrar's certificate (PEM, from `rserpool tls cert create
    /// --registrar ID`): ASAP and ENRP over TLS (TCP), peers and PEs
    /// authenticated by the scope CA [default: no TLS]
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM)
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// The scope CA's certificate (PEM)
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// Threads running the registrar: 1 is one event loop, as light as a
    /// registrar gets per message; more spread the I/O over cores [default: 1]
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

/// Serde for `Option<Duration>` fields: strings with units.
mod opt_duration {
    pub use crate::units::de_opt as deserialize;
    pub use crate::units::ser_opt as serialize;
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

fn de_parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr<Err = String>,
{
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

fn ser_display<S: serde::Serializer, T: std::fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&v.to_string()),
        None => s.serialize_none(),
    }
}

fn ser_id<S: serde::Serializer>(id: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&format!("{id:#010x}")),
        None => s.serialize_none(),
    }
}

fn ser_display_list<S: serde::Serializer, T: std::fmt::Display>(
    list: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().map(|x| x.to_string()))
}

fn ser_transport<S: serde::Serializer>(t: &Option<TransportMode>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(TransportMode::Auto) => s.serialize_str("auto"),
        Some(TransportMode::Sctp) => s.serialize_str("sctp"),
        Some(TransportMode::Tcp) => s.serialize_str("tcp"),
        None => s.serialize_none(),
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
            sctp_sockets: self.sctp_sockets.or(base.sctp_sockets),
            metrics: self.metrics.or(base.metrics),
            no_announce: self.no_announce || base.no_announce,
            asap_announce_group: self.asap_announce_group.or(base.asap_announce_group),
            enrp_announce_group: self.enrp_announce_group.or(base.enrp_announce_group),
            announce_interface: self.announce_interface.or(base.announce_interface),
            announce_ttl: self.announce_ttl.or(base.announce_ttl),
            server_announce_cycle: self.server_announce_cycle.or(base.server_announce_cycle),
            keep_alive_transmission_interval: self
                .keep_alive_transmission_interval
                .or(base.keep_alive_transmission_interval),
            keep_alive_timeout: self.keep_alive_timeout.or(base.keep_alive_timeout),
            peer_heartbeat_cycle: self.peer_heartbeat_cycle.or(base.peer_heartbeat_cycle),
            max_time_last_heard: self.max_time_last_heard.or(base.max_time_last_heard),
            max_time_no_response: self.max_time_no_response.or(base.max_time_no_response),
            mentor_discovery_timeout: self
                .mentor_discovery_timeout
                .or(base.mentor_discovery_timeout),
            takeover_expiry: self.takeover_expiry.or(base.takeover_expiry),
            min_registration_lifetime: self
                .min_registration_lifetime
                .or(base.min_registration_lifetime),
            max_registration_lifetime: self
                .max_registration_lifetime
                .or(base.max_registration_lifetime),
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
        c.announce = !self.no_announce;
        let set = |field: &mut Duration, v: Option<Duration>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut c.server_announce_cycle, self.server_announce_cycle);
        set(
            &mut c.keep_alive_transmission_interval,
            self.keep_alive_transmission_interval,
        );
        set(&mut c.keep_alive_timeout, self.keep_alive_timeout);
        set(&mut c.peer_heartbeat_cycle, self.peer_heartbeat_cycle);
        set(&mut c.max_time_last_heard, self.max_time_last_heard);
        set(&mut c.max_time_no_response, self.max_time_no_response);
        set(
            &mut c.mentor_discovery_timeout,
            self.mentor_discovery_timeout,
        );
        set(&mut c.takeover_expiry, self.takeover_expiry);
        set(
            &mut c.min_registration_lifetime,
            self.min_registration_lifetime,
        );
        set(
            &mut c.max_registration_lifetime,
            self.max_registration_lifetime,
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
        d.sctp_sockets = self.sctp_sockets.unwrap_or_default();
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

impl Settings {
    /// Every setting as the daemon will use it: what `--print-config`
    /// prints. The identifier stays unset when it is drawn at random.
    pub fn effective(&self, d: &DaemonConfig) -> Settings {
        let c = &d.registrar;
        let group = |m: &Option<MulticastConfig>| m.as_ref().map(|m| m.group);
        Settings {
            asap: d.asap_addrs.clone(),
            enrp: d.enrp_addrs.clone(),
            identifier: self.identifier,
            peers: c.peers.clone(),
            allow_peer: c.peer_allow.clone(),
            transport: Some(d.transport),
            sctp_sockets: Some(d.sctp_sockets),
            metrics: d.metrics,
            no_announce: !c.announce,
            asap_announce_group: group(&d.asap_announce),
            enrp_announce_group: group(&d.enrp_announce),
            announce_interface: d.asap_announce.as_ref().map(|m| m.interface),
            announce_ttl: d.asap_announce.as_ref().map(|m| m.ttl),
            server_announce_cycle: Some(c.server_announce_cycle),
            keep_alive_transmission_interval: Some(c.keep_alive_transmission_interval),
            keep_alive_timeout: Some(c.keep_alive_timeout),
            peer_heartbeat_cycle: Some(c.peer_heartbeat_cycle),
            max_time_last_heard: Some(c.max_time_last_heard),
            max_time_no_response: Some(c.max_time_no_response),
            mentor_discovery_timeout: Some(c.mentor_discovery_timeout),
            takeover_expiry: Some(c.takeover_expiry),
            min_registration_lifetime: Some(c.min_registration_lifetime),
            max_registration_lifetime: Some(c.max_registration_lifetime),
            max_peers: Some(c.max_peers),
            max_pes_per_association: Some(c.max_pes_per_association),
            max_hres_items: Some(c.max_hres_items),
            max_bad_pe_reports: Some(c.max_bad_pe_reports),
            max_elements_per_htr: Some(c.max_elements_per_htr),
            max_hr_rate: c.max_hr_rate,
            max_eu_rate: c.max_eu_rate,
            max_pools: Some(c.handlespace.max_pools),
            max_pes_per_pool: Some(c.handlespace.max_pes_per_pool),
            max_pes: Some(c.handlespace.max_pes_total),
            max_associations: Some(d.max_associations),
            max_associations_per_host: Some(
                d.max_associations_per_host
                    .unwrap_or((d.max_associations / 4).max(1)),
            ),
            max_message_size: Some(c.decode.max_message_size),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            tls_ca: self.tls_ca.clone(),
            threads: Some(self.threads.unwrap_or(1)),
        }
    }
}

/// Reads a settings file. Keys are the long flags; `_` is read as `-`
/// (`keep_alive_timeout` is `keep-alive-timeout`).
pub fn parse_file(text: &str) -> Result<Settings, String> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let table: toml::Table = table
        .into_iter()
        .map(|(k, v)| (k.replace('_', "-"), v))
        .collect();
    Settings::deserialize(toml::Value::Table(table)).map_err(|e| e.to_string())
}

/// Reads the settings file, if any, under the command-line flags.
pub fn settings(args: &Args) -> Result<Settings, String> {
    let base = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            parse_file(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Settings::default(),
    };
    Ok(args.settings.clone().over(base))
}

/// The effective configuration as a TOML file `--config` reads.
pub fn print_config(settings: &Settings, d: &DaemonConfig) -> Result<String, String> {
    let body = toml::to_string(&settings.effective(d))
        .map_err(|e| format!("cannot print the configuration: {e}"))?;
    let id = if settings.identifier.is_none() {
        "# identifier: drawn at random at each start (set `identifier` to fix it)\n"
    } else {
        ""
    };
    Ok(format!(
        "# rserpool registrar: effective configuration (rserpool registrar --config FILE)\n{id}{body}"
    ))
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
    if args.print_config {
        return match print_config(&settings, &cfg) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => {
                eprintln!("rserpool registrar: {e}");
                1
            }
        };
    }
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
    use clap::CommandFactory;

    /// A non-default value for every flag: (long flag, command-line
    /// values, TOML value).
    const EVERY_FLAG: &[(&str, &[&str], &str)] = &[
        (
            "asap",
            &["127.0.0.1:13863", "127.0.0.2:13863"],
            r#"["127.0.0.1:13863", "127.0.0.2:13863"]"#,
        ),
        ("enrp", &["127.0.0.1:19901"], r#"["127.0.0.1:19901"]"#),
        ("identifier", &["0x11"], r#""0x11""#),
        (
            "peer",
            &["127.0.0.2:19901", "localhost:19902"],
            r#"["127.0.0.2:19901", "localhost:19902"]"#,
        ),
        ("allow-peer", &["10.1.0.0/16"], r#"["10.1.0.0/16"]"#),
        ("transport", &["tcp"], r#""tcp""#),
        ("sctp-sockets", &["one-to-one"], r#""one-to-one""#),
        ("http", &["127.0.0.1:18080"], r#""127.0.0.1:18080""#),
        ("no-announce", &[], "true"),
        (
            "asap-announce-group",
            &["239.0.0.60:3863"],
            r#""239.0.0.60:3863""#,
        ),
        (
            "enrp-announce-group",
            &["239.0.0.61:9901"],
            r#""239.0.0.61:9901""#,
        ),
        ("announce-interface", &["127.0.0.2"], r#""127.0.0.2""#),
        ("announce-ttl", &["3"], "3"),
        ("server-announce-cycle", &["2s"], r#""2s""#),
        (
            "keep-alive-transmission-interval",
            &["1500ms"],
            r#""1500ms""#,
        ),
        ("keep-alive-timeout", &["2s"], r#""2s""#),
        ("peer-heartbeat-cycle", &["10s"], r#""10s""#),
        ("max-time-last-heard", &["20s"], r#""20s""#),
        ("max-time-no-response", &["3s"], r#""3s""#),
        ("mentor-discovery-timeout", &["1s"], r#""1s""#),
        ("takeover-expiry", &["7s"], r#""7s""#),
        ("min-registration-lifetime", &["2s"], r#""2s""#),
        ("max-registration-lifetime", &["10m"], r#""10m""#),
        ("max-peers", &["9"], "9"),
        ("max-pes-per-association", &["99"], "99"),
        ("max-hres-items", &["7"], "7"),
        ("max-bad-pe-reports", &["5"], "5"),
        ("max-elements-per-htr", &["64"], "64"),
        ("max-hr-rate", &["100"], "100"),
        ("max-eu-rate", &["10"], "10"),
        ("max-pools", &["100"], "100"),
        ("max-pes-per-pool", &["1000"], "1000"),
        ("max-pes", &["5000"], "5000"),
        ("max-associations", &["2000"], "2000"),
        ("max-associations-per-host", &["50"], "50"),
        ("max-message-size", &["9000"], "9000"),
        ("tls-cert", &["pr.pem"], r#""pr.pem""#),
        ("tls-key", &["pr-key.pem"], r#""pr-key.pem""#),
        ("tls-ca", &["ca.pem"], r#""ca.pem""#),
        ("threads", &["2"], "2"),
    ];

    #[test]
    fn every_flag_can_be_set_from_the_file_under_its_own_name() {
        let flags: Vec<String> = Args::command()
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .filter(|l| !matches!(l.as_str(), "config" | "print-config" | "help"))
            .collect();
        let listed: Vec<String> = EVERY_FLAG.iter().map(|f| f.0.to_string()).collect();
        assert_eq!(flags, listed, "every flag needs a line in EVERY_FLAG");

        let mut argv = vec!["registrar".to_string()];
        let mut file = String::new();
        for (flag, values, toml) in EVERY_FLAG {
            if values.is_empty() {
                argv.push(format!("--{flag}"));
            }
            for v in *values {
                argv.push(format!("--{flag}"));
                argv.push(v.to_string());
            }
            file.push_str(&format!("{flag} = {toml}\n"));
        }
        let from_flags = Args::try_parse_from(&argv).unwrap().settings;
        let from_file = parse_file(&file).unwrap();
        assert_eq!(from_file, from_flags);
        // Each one differs from the default, so each was really read.
        let d = Settings::default();
        let e = from_file.effective(&from_file.daemon_config(5, 1));
        let dflt = d.effective(&d.daemon_config(5, 1));
        let e = toml::to_string(&e).unwrap();
        let dflt = toml::to_string(&dflt).unwrap();
        let differs = |key: &str| {
            let line = |t: &str| {
                t.lines()
                    .find(|l| l.starts_with(&format!("{key} = ")))
                    .map(str::to_string)
            };
            line(&e) != line(&dflt)
        };
        for (flag, ..) in EVERY_FLAG {
            assert!(differs(flag), "{flag} is not printed or not applied:\n{e}");
        }
    }

    #[test]
    fn the_printed_configuration_reads_back_as_the_same_configuration() {
        let mut s = Settings {
            identifier: Some(0x33),
            keep_alive_timeout: Some(Duration::from_millis(2500)),
            peers: vec!["127.0.0.1:19901".parse().unwrap()],
            allow_peer: vec!["10.0.0.0/8".parse().unwrap()],
            ..Settings::default()
        };
        s.max_hr_rate = Some(50);
        let d = s.daemon_config(5, 1);
        let printed = print_config(&s, &d).unwrap();
        let again = parse_file(&printed).unwrap();
        let d2 = again.daemon_config(6, 2);
        assert_eq!(again.effective(&d2), s.effective(&d));
        assert!(
            printed.contains("keep-alive-timeout = \"2s 500ms\""),
            "{printed}"
        );
        assert!(printed.contains("identifier = \"0x00000033\""), "{printed}");
        // A random identifier is not printed as if it were fixed.
        let random = print_config(
            &Settings::default(),
            &Settings::default().daemon_config(5, 1),
        );
        assert!(!random.unwrap().contains("\nidentifier ="));
    }

    #[test]
    fn file_settings_are_overridden_by_flags() {
        let file = parse_file(
            r#"
            identifier = "0x11"
            asap = ["127.0.0.1:3863"]
            transport = "tcp"
            keep-alive-timeout = "2s"
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
    fn unknown_or_unitless_file_settings_are_refused() {
        let e = parse_file("keep-alive-timeout-ms = 5").unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        let e = parse_file("keep-alive-timeout = \"5000\"").unwrap_err();
        assert!(e.contains("no unit"), "{e}");
        assert!(parse_file("identifier = \"0xzz\"").is_err());
    }

    #[test]
    fn tls_moves_the_default_ports_to_iana_tls_ports() {
        let plain = Settings::default().daemon_config(5, 1);
        assert_eq!(plain.asap_addrs[0].port(), 3863);
        assert_eq!(plain.enrp_addrs[0].port(), 9901);
        let tls = parse_file(
            r#"
            tls-cert = "pr.pem"
            tls-key = "pr-key.pem"
            tls-ca = "ca.pem"
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
        let s = parse_file(example).unwrap();
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
        let all = parse_file(&uncommented).unwrap();
        assert_eq!(all.peers.len(), 2);
        assert_eq!(all.allow_peer.len(), 1);
        assert_eq!(all.keep_alive_timeout, Some(Duration::from_secs(5)));
    }

    #[test]
    fn ids_parse_in_hex_and_decimal() {
        assert_eq!(parse_id("0x11"), Ok(17));
        assert_eq!(parse_id("17"), Ok(17));
        assert!(parse_id("-1").is_err());
    }
}
