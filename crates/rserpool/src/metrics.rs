//! Prometheus text-format metrics, served at `/metrics` by the HTTP
//! listener (see [`crate::http`]).
//!
//! The daemon's state lives in one task; the endpoint asks that task for a
//! rendered snapshot through a channel, so metrics never take a lock on
//! the message path.

use rserpool_proto::registrar::{Event, Registrar};
use rserpool_proto::wire::Protocol;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A request for the current metrics text.
pub type SnapshotRequest = oneshot::Sender<String>;

/// Binds the HTTP listener.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Builds Prometheus text exposition, one metric family at a time.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Starts a metric family.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        use std::fmt::Write;
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample; labels as (name, value) pairs.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        use std::fmt::Write;
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let escaped = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{escaped}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
        self
    }

    /// The text to serve.
    pub fn finish(self) -> String {
        self.out
    }
}

/// What the daemon counts besides the registrar's own statistics.
#[derive(Debug, Default)]
pub(crate) struct DaemonCounters {
    /// PE registrations (events).
    pub registered: u64,
    /// PE removals (events).
    pub removed: u64,
    /// Malformed or unexpected messages (events).
    pub protocol_errors: u64,
    /// Associations refused because their host had its quota.
    pub refused_per_host: u64,
    /// Handle resolution processing time, one resolution in
    /// `hr_sample`.
    pub hr_latency: Histogram,
    /// The sampling ratio of `hr_latency`.
    pub hr_sample: u64,
}

impl DaemonCounters {
    /// Counts what `e` says.
    pub fn count(&mut self, e: &Event) {
        match e {
            Event::PeRegistered { .. } => self.registered += 1,
            Event::PeRemoved { .. } => self.removed += 1,
            Event::ProtocolError { .. } => self.protocol_errors += 1,
            _ => {}
        }
    }
}

/// Open associations, by protocol.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Associations {
    /// ASAP associations.
    pub asap: usize,
    /// ENRP associations.
    pub enrp: usize,
}

/// The registrar daemon's metrics text.
pub(crate) fn render_registrar(
    r: &Registrar,
    associations: Associations,
    d: &DaemonCounters,
) -> String {
    let hs = r.handlespace();
    let mut e = Exposition::new();
    let g = |e: &mut Exposition, name: &str, help: &str, v: f64| {
        e.family(name, "gauge", help).sample(name, &[], v);
    };
    g(
        &mut e,
        "rserpool_pools",
        "Pools in the handlespace.",
        hs.pool_count() as f64,
    );
    g(
        &mut e,
        "rserpool_pool_elements",
        "PE entries in the handlespace.",
        hs.len() as f64,
    );
    g(
        &mut e,
        "rserpool_owned_pool_elements",
        "PE entries this registrar is home of.",
        hs.owner_len(r.id()) as f64,
    );
    g(
        &mut e,
        "rserpool_peers",
        "Live ENRP peers.",
        r.peers().count() as f64,
    );
    g(
        &mut e,
        "rserpool_asap_associations",
        "Open ASAP associations.",
        associations.asap as f64,
    );
    g(
        &mut e,
        "rserpool_enrp_associations",
        "Open ENRP associations.",
        associations.enrp as f64,
    );
    let s = r.stats();
    for (family, proto, dir, counts) in [
        (
            "rserpool_asap_messages_total",
            Protocol::Asap,
            "in",
            &s.asap_in,
        ),
        (
            "rserpool_asap_messages_total",
            Protocol::Asap,
            "out",
            &s.asap_out,
        ),
        (
            "rserpool_enrp_messages_total",
            Protocol::Enrp,
            "in",
            &s.enrp_in,
        ),
        (
            "rserpool_enrp_messages_total",
            Protocol::Enrp,
            "out",
            &s.enrp_out,
        ),
    ] {
        if dir == "in" {
            e.family(family, "counter", "Messages by type and direction.");
        }
        for (ty, n) in counts.iter().enumerate() {
            if *n > 0 {
                let name = u8::try_from(ty)
                    .ok()
                    .and_then(|t| proto.msg_type_name(t))
                    .unwrap_or("UNKNOWN");
                e.sample(family, &[("type", name), ("direction", dir)], *n as f64);
            }
        }
    }
    e.family(
        "rserpool_errors_sent_total",
        "counter",
        "Error causes sent, by cause code.",
    );
    for (code, n) in s.errors_by_cause.iter().enumerate() {
        if *n > 0 {
            e.sample(
                "rserpool_errors_sent_total",
                &[("cause", &code.to_string())],
                *n as f64,
            );
        }
    }
    let c = |e: &mut Exposition, name: &str, help: &str, v: u64| {
        e.family(name, "counter", help).sample(name, &[], v as f64);
    };
    c(
        &mut e,
        "rserpool_decode_errors_total",
        "Messages that did not decode.",
        s.decode_errors,
    );
    c(
        &mut e,
        "rserpool_synchronisations_total",
        "Handle table synchronisations.",
        s.syncs,
    );
    c(
        &mut e,
        "rserpool_takeovers_total",
        "Takeovers of failed peers' PEs.",
        s.takeovers,
    );
    c(
        &mut e,
        "rserpool_rate_limited_total",
        "Requests dropped by rate limits.",
        s.rate_limited,
    );
    c(
        &mut e,
        "rserpool_pe_registrations_total",
        "PE registrations.",
        d.registered,
    );
    c(
        &mut e,
        "rserpool_pe_removals_total",
        "PE removals.",
        d.removed,
    );
    c(
        &mut e,
        "rserpool_protocol_errors_total",
        "Malformed or unexpected messages.",
        d.protocol_errors,
    );
    c(
        &mut e,
        "rserpool_associations_refused_per_host_total",
        "Associations refused because their host had its quota (Lack of Resources).",
        d.refused_per_host,
    );
    d.hr_latency.render(
        &mut e,
        "rserpool_handle_resolution_seconds",
        &format!(
            "Handle resolution processing time (one resolution in {}).",
            d.hr_sample
        ),
    );
    e.finish()
}

/// A fixed-bucket latency histogram (Prometheus cumulative buckets).
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    buckets: [u64; Histogram::BOUNDS_US.len()],
    count: u64,
    sum_us: u64,
}

impl Histogram {
    /// Upper bounds of the buckets, in microseconds.
    const BOUNDS_US: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 1_000, 10_000, 100_000];

    /// Counts one observation.
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        for (b, bound) in self.buckets.iter_mut().zip(Self::BOUNDS_US) {
            if us <= bound {
                *b += 1;
            }
        }
    }

    /// Adds the histogram to `e` as family `name`.
    pub fn render(&self, e: &mut Exposition, name: &str, help: &str) {
        e.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (n, bound) in self.buckets.iter().zip(Self::BOUNDS_US) {
            let le = format!("{}", bound as f64 / 1e6);
            e.sample(&bucket, &[("le", &le)], *n as f64);
        }
        e.sample(&bucket, &[("le", "+Inf")], self.count as f64);
        e.sample(&format!("{name}_sum"), &[], self.sum_us as f64 / 1e6);
        e.sample(&format!("{name}_count"), &[], self.count as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.record(Duration::from_micros(3));
        h.record(Duration::from_micros(40));
        let mut e = Exposition::new();
        h.render(&mut e, "t", "T.");
        let text = e.finish();
        assert!(text.contains("t_bucket{le=\"0.000002\"} 0\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"0.000005\"} 1\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"0.00005\"} 2\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("t_sum 0.000043\n"), "{text}");
        assert!(text.contains("t_count 2\n"), "{text}");
    }

    #[test]
    fn exposition_escapes_labels() {
        let mut e = Exposition::new();
        e.family("rserpool_pes", "gauge", "PE entries.")
            .sample("rserpool_pes", &[("pool", "a\"b")], 3.0)
            .sample("rserpool_up", &[], 1.0);
        assert_eq!(
            e.finish(),
            "# HELP rserpool_pes PE entries.\n# TYPE rserpool_pes gauge\nrserpool_pes{pool=\"a\\\"b\"} 3\nrserpool_up 1\n"
        );
    }
}
