//! Reads a registrar's Prometheus endpoint: the few counters the benchmark
//! checks ENRP propagation with.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The value of the sample `name{labels}` (labels in any order, all of
/// them given); `None` if absent or not a number.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, body) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let got: Vec<(&str, &str)> = body
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect();
            let same = got.len() == labels.len() && labels.iter().all(|l| got.contains(l));
            if same {
                value.trim().parse().ok()
            } else {
                None
            }
        })
}

/// The counters of one registrar the benchmark compares.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    /// ASAP REGISTRATION messages received.
    pub registrations_in: f64,
    /// ENRP HANDLE_UPDATE messages received from peers.
    pub updates_in: f64,
    /// PE entries in its handlespace.
    pub pool_elements: f64,
    /// Live ENRP peers.
    pub peers: f64,
}

impl Counters {
    pub fn parse(text: &str) -> Counters {
        let msg =
            |family, ty| sample(text, family, &[("type", ty), ("direction", "in")]).unwrap_or(0.0);
        Counters {
            registrations_in: msg("rserpool_asap_messages_total", "REGISTRATION"),
            updates_in: msg("rserpool_enrp_messages_total", "HANDLE_UPDATE"),
            pool_elements: sample(text, "rserpool_pool_elements", &[]).unwrap_or(0.0),
            peers: sample(text, "rserpool_peers", &[]).unwrap_or(0.0),
        }
    }
}

/// GET /metrics from `addr`.
pub async fn scrape(addr: SocketAddr) -> Result<String, String> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: registrar\r\nConnection: close\r\n\r\n")
            .await?;
        let mut body = Vec::new();
        s.read_to_end(&mut body).await?;
        Ok::<_, std::io::Error>(body)
    };
    let bytes = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .map_err(|_| format!("metrics at {addr}: no answer in 5 s"))?
        .map_err(|e| format!("metrics at {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("metrics at {addr}: not an HTTP response"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "metrics at {addr}: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(body.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP rserpool_pool_elements PE entries in the handlespace.
# TYPE rserpool_pool_elements gauge
rserpool_pool_elements 20
rserpool_peers 1
rserpool_asap_messages_total{type=\"REGISTRATION\",direction=\"in\"} 140
rserpool_asap_messages_total{type=\"REGISTRATION_RESPONSE\",direction=\"out\"} 140
rserpool_enrp_messages_total{type=\"HANDLE_UPDATE\",direction=\"out\"} 140
rserpool_enrp_messages_total{direction=\"in\",type=\"HANDLE_UPDATE\"} 7
";

    #[test]
    fn samples_by_name_and_label_set() {
        assert_eq!(sample(TEXT, "rserpool_pool_elements", &[]), Some(20.0));
        assert_eq!(
            sample(
                TEXT,
                "rserpool_enrp_messages_total",
                &[("type", "HANDLE_UPDATE"), ("direction", "out")]
            ),
            Some(140.0)
        );
        assert_eq!(
            sample(
                TEXT,
                "rserpool_enrp_messages_total",
                &[("type", "HANDLE_UPDATE")]
            ),
            None
        );
        assert_eq!(sample(TEXT, "rserpool_pools", &[]), None);
    }

    #[test]
    fn counters_of_a_registrar() {
        let c = Counters::parse(TEXT);
        assert_eq!(
            c,
            Counters {
                registrations_in: 140.0,
                updates_in: 7.0,
                pool_elements: 20.0,
                peers: 1.0,
            }
        );
        assert_eq!(Counters::parse(""), Counters::default());
    }
}
