//! The registrars under test: `rserpool registrar` processes, peered by
//! ENRP, on loopback or each in its lab namespace.

use super::lab::Lab;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a registrar may take to print its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the registrars run.
#[derive(Debug, Clone, Copy)]
pub enum Placement<'a> {
    Loopback,
    Lab(&'a Lab),
}

/// Running registrars; killed on drop.
#[derive(Debug)]
pub struct Fleet {
    children: Vec<Child>,
    pub asap: Vec<SocketAddr>,
    pub metrics: Vec<SocketAddr>,
    pub pids: Vec<u32>,
    pub logs: Vec<PathBuf>,
}

/// The registrar's startup lines: `ASAP tcp ADDR`, `ENRP tcp ADDR`,
/// `metrics http://ADDR/metrics`.
#[derive(Debug, Default, PartialEq)]
pub struct Announced {
    pub asap: Option<SocketAddr>,
    pub enrp: Option<SocketAddr>,
    pub metrics: Option<SocketAddr>,
}

impl Announced {
    pub fn take(&mut self, line: &str) {
        let mut w = line.split_whitespace();
        match (w.next(), w.next(), w.next()) {
            (Some("ASAP"), Some(_), Some(a)) => self.asap = self.asap.or(a.parse().ok()),
            (Some("ENRP"), Some(_), Some(a)) => self.enrp = self.enrp.or(a.parse().ok()),
            (Some("metrics"), Some(url), None) => {
                let addr = url
                    .strip_prefix("http://")
                    .and_then(|u| u.strip_suffix("/metrics"));
                self.metrics = addr.and_then(|a| a.parse().ok());
            }
            _ => {}
        }
    }

    fn complete(&self) -> Option<(SocketAddr, SocketAddr, SocketAddr)> {
        Some((self.asap?, self.enrp?, self.metrics?))
    }
}

impl Fleet {
    /// Starts `k` registrars; registrar i is given every earlier one as
    /// its ENRP peer, so all end up fully meshed.
    pub fn start(
        k: usize,
        transport: &str,
        threads: usize,
        placement: Placement<'_>,
        logdir: &Path,
    ) -> Result<Fleet, String> {
        let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
        // A group of our own, so no other registrar on this host joins in.
        let group_port = 20000 + (std::process::id() % 30000);
        let mut fleet = Fleet {
            children: Vec::new(),
            asap: Vec::new(),
            metrics: Vec::new(),
            pids: Vec::new(),
            logs: Vec::new(),
        };
        let mut enrp: Vec<SocketAddr> = Vec::new();
        for i in 0..k {
            let (ip, ports, mut cmd) = match placement {
                Placement::Loopback => (
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    [0, 0, 0],
                    Command::new(&exe),
                ),
                Placement::Lab(lab) => {
                    let mut c = Command::new("ip");
                    c.args(["netns", "exec", &lab.registrar_ns(i)]).arg(&exe);
                    (IpAddr::V4(lab.registrar_addr(i)), [3863, 9901, 9100], c)
                }
            };
            let at = |port| SocketAddr::new(ip, port).to_string();
            cmd.args(["registrar", "--identifier", &(i + 1).to_string()])
                .args(["--asap", &at(ports[0])])
                .args(["--enrp", &at(ports[1])])
                .args(["--metrics", &at(ports[2])])
                .args(["--transport", transport, "--no-announce"])
                .args(["--enrp-announce-group", &format!("239.0.0.51:{group_port}")])
                .args(["--mentor-discovery-timeout", "500ms"])
                // The generator's PEs and PUs all come from one host.
                .args(["--max-associations-per-host", "1000000"])
                .args(["--threads", &threads.to_string()]);
            for p in &enrp {
                cmd.args(["--peer", &p.to_string()]);
            }
            let log = logdir.join(format!("pr{}.log", i + 1));
            let (child, addrs) = spawn(cmd, &log, i + 1)?;
            fleet.pids.push(child.id());
            fleet.children.push(child);
            fleet.logs.push(log);
            fleet.asap.push(addrs.0);
            enrp.push(addrs.1);
            fleet.metrics.push(addrs.2);
        }
        Ok(fleet)
    }

    /// Whether every registrar is still running.
    pub fn alive(&mut self) -> bool {
        self.children
            .iter_mut()
            .all(|c| matches!(c.try_wait(), Ok(None)))
    }
}

/// Starts a registrar from `cmd` (its arguments given, stderr into `log`)
/// and waits for its startup lines: its ASAP, ENRP and metrics addresses.
pub fn spawn(
    mut cmd: Command,
    log: &Path,
    number: usize,
) -> Result<(Child, (SocketAddr, SocketAddr, SocketAddr)), String> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("starting registrar {number}: {e}"))?;
    let stdout = child.stdout.take();
    let (tx, rx) = mpsc::channel();
    if let Some(out) = stdout {
        std::thread::spawn(move || {
            // Reads to the end so the registrar never writes into a
            // closed pipe.
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
    }
    let mut seen = Announced::default();
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    loop {
        if let Some(a) = seen.complete() {
            return Ok((child, a));
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.take(&line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log_text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(format!(
                    "registrar {number} did not start (log {}): {}",
                    log.display(),
                    log_text.trim()
                ));
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn startup_lines() {
        let mut a = Announced::default();
        a.take("ASAP tcp 127.0.0.1:40001");
        a.take("something else");
        assert_eq!(a.complete(), None);
        a.take("ENRP tcp 127.0.0.1:40002");
        a.take("metrics http://127.0.0.1:40003/metrics");
        let (asap, enrp, metrics) = a.complete().unwrap();
        assert_eq!(asap.port(), 40001);
        assert_eq!(enrp.port(), 40002);
        assert_eq!(metrics.port(), 40003);
        // the first address of a multi-homed registrar is kept
        a.take("ASAP tcp 127.0.0.2:1");
        assert_eq!(a.asap.unwrap().port(), 40001);
    }
}
