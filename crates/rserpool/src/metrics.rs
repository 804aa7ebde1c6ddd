//! Prometheus text-format metrics, served at `/metrics` by the HTTP
//! listener (see [`crate::http`]).
//!
//! The daemon's state lives in one task; the endpoint asks that task for a
//! rendered snapshot through a channel, so metrics never take a lock on
//! the message path.

use std::io;
use std::net::SocketAddr;
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

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
