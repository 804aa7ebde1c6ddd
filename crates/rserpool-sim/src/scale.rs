//! Scale runs in virtual time: the protocol's own timers and the
//! simulated network's latencies decide the figures, not the host.

use std::time::Duration;

use rserpool_proto::Time;
use rserpool_proto::pool_element::PeEvent;
use rserpool_proto::pool_user::PuConfig;
use rserpool_proto::registrar::Event;
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{PeId, Policy, PoolElement, ServerId, TransportParam, TransportUse};

use crate::world::{Machine, Obs, Role, World, pr_asap_addr};

fn ms(d: Time, from: Time) -> f64 {
    (d.as_micros().saturating_sub(from.as_micros())) as f64 / 1000.0
}

/// Failover of a PU session after its PE's process crashes: milliseconds
/// from the crash to the session's failover, and to the next reply.
pub fn failover(seed: u64) -> Option<(f64, f64)> {
    let mut w = World::new(seed, 0);
    w.observe = true;
    w.pe_actions = false;
    let pr = w.add_pr(0, ServerId(0x100), &[0], false);
    w.start(pr);
    let regs = vec![pr_asap_addr(0)];
    let mut pes = Vec::new();
    for j in 0..5 {
        let c = w.pe_config(j, Policy::RoundRobin, regs.clone());
        let n = w.add_pe(j, c);
        w.start(n);
        pes.push(n);
    }
    w.run_until(Time::from_millis(2_000));
    let pu = w.add_pu(0, PuConfig::new(regs));
    w.start(pu);
    w.run_until(Time::from_millis(20_000));
    // The PE the session talks to: the one whose data association is open.
    let victim = pes.iter().copied().find(|n| {
        w.nodes[*n]
            .handles
            .keys()
            .any(|h| matches!(h, crate::net::Handle::Data(_)))
    })?;
    let crash = w.now;
    w.observed.clear();
    w.stop(victim, false);
    w.run_until(crash + Duration::from_secs(60));
    let f = w.observed.iter().find(|(_, _, o)| *o == Obs::Failover)?.0;
    let r = w
        .observed
        .iter()
        .find(|(t, _, o)| *o == Obs::Reply && *t >= f)?
        .0;
    Some((ms(f, crash), ms(r, crash)))
}

/// A registrar homing `pes` PEs crashes (process): milliseconds until its
/// peer completed the takeover, and until every PE registered with it.
pub fn takeover(seed: u64, pes: usize) -> Option<(f64, f64)> {
    let mut w = World::new(seed, 0);
    w.observe = false;
    w.pe_actions = false;
    let a = w.add_pr(0, ServerId(0x100), &[0, 1], false);
    let b = w.add_pr(1, ServerId(0x101), &[0, 1], false);
    w.start(a);
    w.start(b);
    let regs = vec![pr_asap_addr(0), pr_asap_addr(1)];
    for j in 0..pes {
        let c = w.pe_config(j, Policy::RoundRobin, regs.clone());
        let n = w.add_pe(j, c);
        let at = Time::from_millis(1_000 + w.between(0, 5_000));
        w.push(at, crate::world::Ev::Restart { node: n });
    }
    w.run_until(Time::from_millis(15_000));
    while w.now < Time::from_millis(60_000)
        && w.pr_machine(a)?.handlespace().owner_len(ServerId(0x100)) != pes
    {
        w.run_until(w.now + Duration::from_secs(1));
    }
    let homed = w.pr_machine(a)?.handlespace().owner_len(ServerId(0x100));
    if homed != pes {
        eprintln!("takeover: {homed} of {pes} PEs registered at the first registrar");
    }
    w.observe = true;
    let crash = w.now;
    w.stop(a, true);
    let mut moved = 0;
    let mut done = None;
    let mut last = None;
    while w.now < crash + Duration::from_secs(120) && last.is_none() {
        if w.now > crash + Duration::from_secs(110) {
            eprintln!("takeover: {moved} of {pes} PEs moved, takeover done {done:?}");
        }
        w.run_until(w.now + Duration::from_millis(500));
        for (t, n, o) in w.observed.drain(..) {
            match o {
                Obs::Registrar(Event::TakeoverCompleted { .. }) if n == b => done = Some(t),
                Obs::Pe(PeEvent::HomeChanged { .. } | PeEvent::Registered { .. }) => {
                    moved += 1;
                    if moved >= homed {
                        last = Some(t);
                    }
                }
                _ => {}
            }
        }
    }
    Some((ms(done?, crash), ms(last?, crash)))
}

/// A new registrar synchronises a handlespace of `pes` PEs from its
/// mentor: virtual milliseconds from its start to SyncCompleted, and the
/// entries it received.
pub fn sync(seed: u64, pes: usize) -> Option<(f64, usize)> {
    let mut w = World::new(seed, 0);
    w.pe_actions = false;
    let a = w.add_pr(0, ServerId(0x100), &[0, 1], false);
    if let Role::Pr(c) = &mut w.nodes[a].role {
        // The bulk client's PEs are not kept alive: only the sync is measured.
        c.keep_alive_transmission_interval = Duration::from_secs(1 << 20);
        // One bulk association feeds every PE, for as long as the run.
        c.max_pes_per_association = usize::MAX;
    }
    w.start(a);
    let bulk = w.add_bulk();
    w.start(bulk);
    let h = w.bulk_connect(bulk, pr_asap_addr(0));
    w.run_until(Time::from_millis(1_000));
    for i in 0..pes {
        let ip = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i as u32));
        let m = AsapMessage::from(asap::Registration {
            pool_handle: w.pool.clone(),
            pool_element: PoolElement {
                pe_id: PeId(i as u32 + 1),
                home_server_id: ServerId(0),
                // The registrar's maximum: an hour, longer than the run.
                registration_life: 3_600_000,
                user_transport: TransportParam::Tcp {
                    port: 7000,
                    transport_use: TransportUse::DataOnly,
                    address: ip,
                },
                policy: Policy::RoundRobin,
                asap_transport: None,
            },
        });
        let Ok(bytes) = m.to_bytes() else {
            return None;
        };
        w.bulk_send(bulk, h, bytes);
    }
    w.run_until(w.now + Duration::from_secs(60));
    if w.pr_machine(a)?.handlespace().len() != pes {
        return None;
    }
    let b = w.add_pr(1, ServerId(0x101), &[0], false);
    w.observe = true;
    let start = w.now;
    w.start(b);
    for _ in 0..100_000 {
        w.run_until(w.now + Duration::from_millis(100));
        for (t, n, o) in w.observed.drain(..) {
            if let Obs::Registrar(Event::SyncCompleted { entries, .. }) = o {
                if n == b {
                    return Some((ms(t, start), entries));
                }
            }
        }
    }
    None
}

/// How often each of 100 PEs (equal policy values) is a resolution's first
/// choice over `n` resolutions by a pool user that does not cache:
/// (min, max, coefficient of variation).
pub fn spread(seed: u64, policy: Policy, n: usize) -> Option<(u64, u64, f64)> {
    let mut w = World::new(seed, 0);
    w.pe_actions = false;
    w.pu_loop = false;
    let pr = w.add_pr(0, ServerId(0x100), &[0], false);
    w.start(pr);
    let regs = vec![pr_asap_addr(0)];
    for j in 0..100 {
        let mut c = w.pe_config(j, policy, regs.clone());
        c.pe_id = Some(PeId(j as u32 + 1));
        let p = w.add_pe(j, c);
        w.start(p);
    }
    w.run_until(Time::from_millis(3_000));
    let mut c = PuConfig::new(regs);
    c.timers.stale_cache_value = Duration::ZERO;
    let pu = w.add_pu(0, c);
    w.start(pu);
    if let Machine::Pu(a) = &mut w.nodes[pu].m {
        // The request loop is off; close its sessions.
        let ids: Vec<_> = a.sessions.iter().map(|s| s.id).collect();
        for id in ids {
            a.sm.close_session(Time::ZERO, id);
        }
    }
    w.observe = true;
    let mut counts = vec![0u64; 101];
    for _ in 0..n {
        let lt = w.local(pu);
        let pool = w.pool.clone();
        w.pu_machine_mut(pu)?.resolve(lt, &pool);
        w.drain(pu);
        w.run_until(w.now + Duration::from_millis(50));
        for (_, _, o) in w.observed.drain(..) {
            if let Obs::Resolved(id) = o {
                if let Some(c) = counts.get_mut(id as usize) {
                    *c += 1;
                }
            }
        }
    }
    let c = &counts[1..];
    let total: u64 = c.iter().sum();
    if total == 0 {
        return None;
    }
    let mean = total as f64 / 100.0;
    let var = c.iter().map(|x| (*x as f64 - mean).powi(2)).sum::<f64>() / 100.0;
    Some((*c.iter().min()?, *c.iter().max()?, var.sqrt() / mean))
}
