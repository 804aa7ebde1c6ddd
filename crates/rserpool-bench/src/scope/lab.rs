//! A lab of network namespaces, like the paper's hosts on one switch: each
//! registrar and the generator get a namespace with one veth interface, all
//! joined by a bridge in a namespace of its own. Nothing is configured in
//! the machine's own namespace, so nothing outside the lab is reachable,
//! and deleting the namespaces removes every interface with them.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Namespace names start with this, then the creating process's ID.
const PREFIX: &str = "rspscope";
/// The lab's subnet (private, and only inside the lab's namespaces).
const SUBNET: [u8; 3] = [10, 77, 0];
/// Host number of the generator.
const GENERATOR_HOST: u8 = 100;

#[derive(Debug)]
pub struct Lab {
    tag: String,
    registrars: usize,
    created: Vec<String>,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether namespaces can be made here: root, and `ip netns` works.
pub fn available() -> bool {
    let probe = format!("{PREFIX}-probe-{}", std::process::id());
    let ok = ip(&["netns", "add", &probe]).is_ok();
    if ok {
        let _ = ip(&["netns", "del", &probe]);
    }
    ok
}

/// Deletes namespaces left by runs whose process is gone (killed runs).
pub fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('-')) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
}

impl Lab {
    /// Creates the bridge, `registrars` registrar hosts and the generator host.
    pub fn create(registrars: usize) -> Result<Lab, String> {
        remove_stale();
        let mut lab = Lab {
            tag: format!("{PREFIX}-{}", std::process::id()),
            registrars,
            created: Vec::new(),
        };
        lab.build()?; // on error, Drop removes what was made
        Ok(lab)
    }

    fn build(&mut self) -> Result<(), String> {
        let lan = format!("{}-lan", self.tag);
        ip(&["netns", "add", &lan])?;
        self.created.push(lan.clone());
        ip(&["-n", &lan, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &lan, "link", "set", "br0", "up"])?;
        let hosts: Vec<(String, u8)> = (1..=self.registrars)
            .map(|i| (self.registrar_ns(i - 1), i as u8))
            .chain([(self.generator_ns(), GENERATOR_HOST)])
            .collect();
        for (ns, host) in hosts {
            ip(&["netns", "add", &ns])?;
            self.created.push(ns.clone());
            let port = format!("p{host}");
            ip(&[
                "link", "add", "name", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &lan,
            ])?;
            ip(&["-n", &lan, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &lan, "link", "set", &port, "up"])?;
            let addr = format!("{}/24", host_addr(host));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(())
    }

    /// Namespace of registrar `i` (0-based).
    pub fn registrar_ns(&self, i: usize) -> String {
        format!("{}-pr{}", self.tag, i + 1)
    }

    pub fn registrar_addr(&self, i: usize) -> Ipv4Addr {
        host_addr(u8::try_from(i + 1).unwrap_or(u8::MAX))
    }

    pub fn generator_ns(&self) -> String {
        format!("{}-gen", self.tag)
    }

    /// The command prefix that runs a program in namespace `ns`.
    pub fn exec_in(ns: &str) -> Vec<String> {
        ["ip", "netns", "exec", ns].map(String::from).to_vec()
    }
}

fn host_addr(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], host)
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                eprintln!("rserpool bench scope: cleaning up: {e}");
            }
        }
    }
}
