//! The human-readable dump, in the spirit of RSPLIB's hsdump.

use super::format;
use rserpool::probe::Snapshot;
use std::fmt::Write;

pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let checksum = s
        .checksum
        .map_or_else(String::new, |c| format!(", own-PE checksum {c:#06x}"));
    let _ = writeln!(
        out,
        "Registrar {} at {} ({}), ENRP endpoint {}{checksum}",
        s.registrar.server_id,
        s.address,
        format::carrier(s.transport),
        format::endpoint(&s.registrar.transport),
    );
    let _ = writeln!(out, "Peers: {}", s.peers.len());
    for p in &s.peers {
        let _ = writeln!(out, "  {}  {}", p.server_id, format::endpoint(&p.transport));
    }
    let _ = writeln!(
        out,
        "Handlespace: {} pool(s), {} pool element(s), {} owned by this registrar",
        s.pools.len(),
        s.element_count(),
        s.owned_count()
    );
    for pool in &s.pools {
        let policy = pool.policy().map_or("mixed policies", |t| t.name());
        let _ = writeln!(
            out,
            "Pool {}: {} PE(s), {policy}",
            format::handle(&pool.handle),
            pool.elements.len()
        );
        for e in &pool.elements {
            let _ = write!(
                out,
                "  PE {}  home {}  {}  {}  lifetime {} ms",
                e.pe_id,
                e.home_server_id,
                format::user_endpoint(&e.user_transport),
                format::policy(&e.policy),
                e.registration_life,
            );
            if let Some(a) = &e.asap_transport {
                let _ = write!(out, "  asap {}", format::endpoint(a));
            }
            out.push('\n');
        }
    }
    out
}
