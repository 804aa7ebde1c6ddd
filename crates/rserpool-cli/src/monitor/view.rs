//! One frame of the monitor: the registrars, then every pool with its PEs
//! merged over all registrars' views, so disagreements show.

use crate::dump::format;
use rserpool::probe::Snapshot;
use rserpool_proto::wire::{PoolElement, PoolHandle, ServerId};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

/// What the monitor knows about one registrar.
#[derive(Debug)]
pub struct Target {
    pub address: SocketAddr,
    pub status: Status,
}

#[derive(Debug)]
pub enum Status {
    /// Not asked yet.
    Waiting,
    /// The last dump, and how long it took.
    Up { snapshot: Snapshot, took: Duration },
    /// Why the last attempt failed.
    Down(String),
}

impl Target {
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match &self.status {
            Status::Up { snapshot, .. } => Some(snapshot),
            _ => None,
        }
    }
}

/// One PE as the answering registrars see it.
struct Merged<'a> {
    /// The entry from its home registrar's view if that one answered,
    /// else from the first view that has it.
    element: &'a PoolElement,
    /// Registrars whose view has it.
    known_by: usize,
    /// Views disagree about its home.
    home_disputed: bool,
}

fn merge(targets: &[Target]) -> BTreeMap<&PoolHandle, BTreeMap<u32, Merged<'_>>> {
    let mut pools: BTreeMap<&PoolHandle, BTreeMap<u32, Merged<'_>>> = BTreeMap::new();
    for s in targets.iter().filter_map(Target::snapshot) {
        let me = s.registrar.server_id;
        for pool in &s.pools {
            let pes = pools.entry(&pool.handle).or_default();
            for e in &pool.elements {
                match pes.get_mut(&e.pe_id.0) {
                    None => {
                        pes.insert(
                            e.pe_id.0,
                            Merged {
                                element: e,
                                known_by: 1,
                                home_disputed: false,
                            },
                        );
                    }
                    Some(m) => {
                        m.known_by += 1;
                        if m.element.home_server_id != e.home_server_id {
                            m.home_disputed = true;
                        }
                        if e.home_server_id == me {
                            m.element = e;
                        }
                    }
                }
            }
        }
    }
    pools
}

/// The frame as plain text (no terminal codes), with at most
/// `pes_per_pool` PE rows per pool (the rest counted).
pub fn render(
    targets: &[Target],
    clock: &str,
    interval: Duration,
    pes_per_pool: Option<usize>,
) -> String {
    let mut out = String::new();
    let answering = targets.iter().filter(|t| t.snapshot().is_some()).count();
    let pools = merge(targets);
    let pe_count: usize = pools.values().map(BTreeMap::len).sum();
    let _ = writeln!(
        out,
        "RSerPool monitor  {clock}  refresh {} ms",
        interval.as_millis()
    );
    let _ = writeln!(
        out,
        "Registrars: {} ({answering} answering)  Pools: {}  PEs: {pe_count}",
        targets.len(),
        pools.len()
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "  {:<10}  {:<21}  {:>5}  {:>5}  {:>5}  {:<8}  STATUS",
        "REGISTRAR", "ENRP ADDRESS", "PEERS", "PES", "OWN", "CHECKSUM"
    );
    for t in targets {
        match &t.status {
            Status::Up { snapshot: s, took } => {
                let checksum = s
                    .checksum
                    .map_or_else(|| "-".to_string(), |c| format!("{c:#06x}"));
                let _ = writeln!(
                    out,
                    "  {:<10}  {:<21}  {:>5}  {:>5}  {:>5}  {checksum:<8}  up ({} ms)",
                    s.registrar.server_id.to_string(),
                    t.address.to_string(),
                    s.peers.len(),
                    s.element_count(),
                    s.owned_count(),
                    took.as_millis()
                );
            }
            Status::Waiting => {
                let _ = writeln!(
                    out,
                    "  {:<10}  {:<21}  {:>5}  {:>5}  {:>5}  {:<8}  connecting",
                    "?",
                    t.address.to_string(),
                    "-",
                    "-",
                    "-",
                    "-"
                );
            }
            Status::Down(why) => {
                let _ = writeln!(
                    out,
                    "  {:<10}  {:<21}  {:>5}  {:>5}  {:>5}  {:<8}  DOWN: {why}",
                    "?",
                    t.address.to_string(),
                    "-",
                    "-",
                    "-",
                    "-"
                );
            }
        }
    }
    for (handle, pes) in &pools {
        out.push('\n');
        let mut types = pes.values().map(|m| m.element.policy.policy_type());
        let policy = match types.next() {
            Some(first) if types.all(|t| t == first) => first.name(),
            _ => "mixed policies",
        };
        let _ = writeln!(
            out,
            "Pool {}  {policy}  {} PE(s)",
            format::handle(handle),
            pes.len()
        );
        let shown = pes_per_pool.unwrap_or(usize::MAX);
        let rows: Vec<[String; 6]> = pes
            .values()
            .take(shown)
            .map(|m| {
                let e = m.element;
                let home = if m.home_disputed {
                    format!("{}!", e.home_server_id)
                } else {
                    e.home_server_id.to_string()
                };
                [
                    e.pe_id.to_string(),
                    home,
                    format::user_endpoint(&e.user_transport),
                    format::policy_values_text(&e.policy),
                    format!("{} ms", e.registration_life),
                    format!("{}/{answering}", m.known_by),
                ]
            })
            .collect();
        let head = [
            "PE",
            "HOME",
            "USER TRANSPORT",
            "POLICY VALUES",
            "LIFETIME",
            "KNOWN BY",
        ];
        let mut widths = head.map(str::len);
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let line = |out: &mut String, cells: [&str; 6]| {
            out.push(' ');
            for (c, w) in cells.iter().zip(widths) {
                let _ = write!(out, " {c:<w$} ");
            }
            let trimmed = out.trim_end().len();
            out.truncate(trimmed);
            out.push('\n');
        };
        line(&mut out, head);
        for r in &rows {
            line(&mut out, r.each_ref().map(String::as_str));
        }
        if pes.len() > rows.len() {
            let _ = writeln!(out, "  ... and {} more", pes.len() - rows.len());
        }
    }
    if pools.is_empty() && answering > 0 {
        out.push_str("\n(no pools)\n");
    }
    out
}

/// Registrars a view names as peers, by ID and ENRP address (unspecified
/// addresses left out: nobody can connect there).
pub fn peer_addresses(s: &Snapshot) -> Vec<(ServerId, SocketAddr)> {
    s.peers
        .iter()
        .filter_map(|p| {
            let t = &p.transport;
            let ip = t
                .addresses()
                .iter()
                .copied()
                .find(|a| !a.is_unspecified())?;
            Some((p.server_id, SocketAddr::new(ip, t.port())))
        })
        .collect()
}

/// `HH:MM:SS UTC` of the system clock.
pub fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let day = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02} UTC",
        day / 3600,
        day % 3600 / 60,
        day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rserpool::probe::{Pool, Snapshot};
    use rserpool_proto::wire::TransportKind;
    use rserpool_proto::wire::{PeId, Policy, ServerInformation, TransportParam, TransportUse};

    fn tcp(port: u16) -> TransportParam {
        TransportParam::Tcp {
            port,
            transport_use: TransportUse::DataOnly,
            address: [127, 0, 0, 1].into(),
        }
    }

    fn pe(id: u32, home: u32, load: u32) -> PoolElement {
        PoolElement {
            pe_id: PeId(id),
            home_server_id: ServerId(home),
            registration_life: 5000,
            user_transport: tcp(7000 + id as u16),
            policy: Policy::LeastUsed { load },
            asap_transport: None,
        }
    }

    fn up(id: u32, port: u16, elements: Vec<PoolElement>) -> Target {
        Target {
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            status: Status::Up {
                snapshot: Snapshot {
                    registrar: ServerInformation {
                        server_id: ServerId(id),
                        transport: tcp(port),
                    },
                    address: SocketAddr::from(([127, 0, 0, 1], port)),
                    transport: TransportKind::Tcp,
                    checksum: Some(0x1234),
                    peers: vec![],
                    pools: vec![Pool {
                        handle: "p".into(),
                        elements,
                    }],
                },
                took: Duration::from_millis(3),
            },
        }
    }

    #[test]
    fn views_merge_and_disagreements_show() {
        let targets = vec![
            // Registrar 1 is home of PE 1 and says it has load 50 %.
            up(1, 9901, vec![pe(1, 1, u32::MAX / 2 + 1), pe(2, 2, 0)]),
            // Registrar 2 has an older load for PE 1, and claims PE 2 for
            // itself while registrar 1 agrees; PE 3 only it knows.
            up(2, 9902, vec![pe(1, 1, 0), pe(2, 2, 0), pe(3, 1, 0)]),
            Target {
                address: SocketAddr::from(([127, 0, 0, 1], 9903)),
                status: Status::Down("cannot connect".into()),
            },
        ];
        let f = render(&targets, "12:00:00 UTC", Duration::from_millis(500), None);
        assert!(
            f.contains("Registrars: 3 (2 answering)  Pools: 1  PEs: 3"),
            "{f}"
        );
        assert!(f.contains("DOWN: cannot connect"), "{f}");
        assert!(f.contains("  0x1234  "), "{f}");
        // PE rows, not registrar rows (IDs overlap here).
        let row = |id: &str| {
            f.lines()
                .find(|l| l.trim_start().starts_with(id) && l.contains(":70"))
                .unwrap()
        };
        // The home registrar's entry wins: its load is the current one.
        assert!(row("0x00000001").contains("load=50.0%"), "{f}");
        assert!(row("0x00000001").trim_end().ends_with("2/2"), "{f}");
        assert!(row("0x00000003").trim_end().ends_with("1/2"), "{f}");
        assert!(!row("0x00000002").contains('!'), "{f}");
    }

    #[test]
    fn a_disputed_home_is_marked() {
        let targets = vec![
            up(1, 9901, vec![pe(5, 1, 0)]),
            up(2, 9902, vec![pe(5, 2, 0)]),
        ];
        let f = render(&targets, "12:00:00 UTC", Duration::from_millis(500), None);
        let row = f
            .lines()
            .find(|l| l.trim_start().starts_with("0x00000005"))
            .unwrap();
        assert!(row.contains('!'), "{f}");
    }

    #[test]
    fn long_pools_are_cut_and_counted() {
        let targets = vec![up(1, 9901, (1..=5).map(|i| pe(i, 1, 0)).collect())];
        let f = render(
            &targets,
            "12:00:00 UTC",
            Duration::from_millis(500),
            Some(2),
        );
        assert!(f.contains("Pools: 1  PEs: 5"), "{f}");
        assert!(f.contains("  ... and 3 more\n"), "{f}");
        assert!(f.contains(":7002") && !f.contains(":7003"), "{f}");
    }
}
