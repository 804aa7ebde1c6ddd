//! A Prometheus text-format endpoint, served by a minimal HTTP/1.1 reader.
//!
//! The daemon's state lives in one task; the endpoint asks that task for a
//! rendered snapshot through a channel, so metrics never take a lock on
//! the message path.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// A request for the current metrics text.
pub type SnapshotRequest = oneshot::Sender<String>;

/// Serves `GET /metrics` on `addr` until the owner of `requests` goes away.
pub async fn serve(
    listener: TcpListener,
    requests: mpsc::Sender<SnapshotRequest>,
) -> io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let requests = requests.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let mut len = 0;
            // Read until the end of the request head (or the buffer is full).
            while len < buf.len() {
                match stream.read(&mut buf[len..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = &buf[..len];
            let response = if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET / ") {
                let (tx, rx) = oneshot::channel();
                let body = match requests.send(tx).await {
                    Ok(()) => rx.await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// Binds the metrics listener.
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

    #[tokio::test]
    async fn serves_a_snapshot_over_http() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::channel::<SnapshotRequest>(4);
        tokio::spawn(serve(listener, tx));
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let _ = reply.send("rserpool_up 1\n".to_string());
            }
        });
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
        assert!(resp.ends_with("\r\n\r\nrserpool_up 1\n"), "{resp}");
    }
}
