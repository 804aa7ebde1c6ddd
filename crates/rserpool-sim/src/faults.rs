//! The scope and the fault schedule of a run, drawn from its seed.

use std::time::Duration;

use rserpool_proto::pool_user::PuConfig;
use rserpool_proto::wire::{Policy, ServerId};
use rserpool_proto::{Rng, Time};

use crate::net::Partition;
use crate::world::{Ev, NState, Role, World, pr_asap_addr};
use crate::{Fault, SimConfig, Timers};

/// Registrar slots kept for registrars joining during the run.
const JOINERS: usize = 2;

/// One scheduled fault.
#[derive(Clone, Debug)]
pub struct FaultItem {
    pub at: Time,
    pub what: What,
}

#[derive(Clone, Debug)]
pub enum What {
    Crash {
        node: usize,
        host: bool,
        down: Duration,
        new_id: bool,
    },
    Pause {
        node: usize,
        dur: Duration,
    },
    Partition(usize),
    Abort,
    Leave(usize),
    Join(usize),
}

fn secs(w: &World, t: Time) -> f64 {
    let _ = w;
    t.as_micros() as f64 / 1e6
}

/// Builds the world of one seed: nodes, workload and fault schedule.
pub(crate) fn build(seed: u64, cfg: &SimConfig) -> World {
    let mut w = World::new(seed, cfg.trace_tail);
    let rfc = cfg.timers == Timers::Rfc;
    if cfg.faults.contains(Fault::Drift) {
        w.drift_ppm = 10_000;
    }
    if cfg.faults.contains(Fault::Loss) {
        w.loss = w.between(10, 500);
    }
    w.heal = Time::ZERO + cfg.duration;
    w.dead_bound = crate::check::dead_pe_bound(cfg.timers);
    let k = cfg.registrars.max(1);
    let slots = k + if cfg.faults.contains(Fault::Churn) {
        JOINERS
    } else {
        0
    };
    let initial: Vec<usize> = (0..k).collect();
    let mut prs = Vec::new();
    for i in 0..slots {
        let n = w.add_pr(i, ServerId(0x100 + i as u32), &initial, rfc);
        prs.push(n);
    }
    let regs: Vec<std::net::SocketAddr> = (0..slots).map(pr_asap_addr).collect();
    let policy = match w.rng.below(6) {
        0 => Policy::RoundRobin,
        1 => Policy::Random,
        2 => Policy::LeastUsed { load: 0 },
        3 => Policy::WeightedRandom { weight: 1 },
        4 => Policy::LeastUsedDegradation {
            load: 0,
            degradation: 0,
        },
        _ => Policy::WeightedRoundRobin { weight: 2 },
    };
    let mut pes = Vec::new();
    for j in 0..cfg.pes {
        let mut c = w.pe_config(j, policy, regs.clone());
        c.pe_id = Some(rserpool_proto::wire::PeId(1000 + j as u32));
        // Each PE tries the registrars in its own order.
        let r = w.rng.below(slots as u64) as usize;
        c.registrars.static_registrars.rotate_left(r);
        pes.push(w.add_pe(j, c));
    }
    let mut pus = Vec::new();
    for p in 0..cfg.pus {
        let mut c = PuConfig::new(regs.clone());
        let r = w.rng.below(slots as u64) as usize;
        c.registrars.static_registrars.rotate_left(r);
        pus.push(w.add_pu(p, c));
    }
    for &n in prs.iter().take(k) {
        w.start(n);
    }
    for &n in pes.iter().chain(&pus) {
        let at = Time::ZERO + Duration::from_millis(w.between(500, 5_000));
        w.push(at, Ev::Restart { node: n });
    }
    w.push(Time::ZERO + Duration::from_secs(5), Ev::Check);

    // The fault schedule.
    let f = cfg.faults;
    let phase = cfg.duration.as_millis() as u64;
    let count = phase / 8_000;
    let all: Vec<usize> = prs
        .iter()
        .take(k)
        .chain(&pes)
        .chain(&pus)
        .copied()
        .collect();
    let mut kinds = Vec::new();
    for x in [
        Fault::Crash,
        Fault::Pause,
        Fault::Partition,
        Fault::OneWay,
        Fault::Abort,
        Fault::Churn,
    ] {
        if f.contains(x) {
            kinds.push(x);
        }
    }
    let mut joined = 0;
    let mut left = 0;
    for _ in 0..count {
        if kinds.is_empty() || phase < 10_000 {
            break;
        }
        let kind = kinds[w.rng.below(kinds.len() as u64) as usize];
        let at_ms = w.between(3_000, phase - 2_000);
        let at = Time::ZERO + Duration::from_millis(at_ms);
        let room = phase.saturating_sub(at_ms).max(500);
        let what = match kind {
            Fault::Crash => {
                let node = all[w.rng.below(all.len() as u64) as usize];
                What::Crash {
                    node,
                    host: w.rng.below(2) == 0,
                    down: Duration::from_millis(w.between(500, 30_000).min(room)),
                    new_id: w.rng.below(2) == 0,
                }
            }
            Fault::Pause => {
                let node = all[w.rng.below(all.len() as u64) as usize];
                What::Pause {
                    node,
                    dur: Duration::from_millis(w.between(500, 25_000).min(room)),
                }
            }
            Fault::Partition | Fault::OneWay => {
                let mut side = vec![false; w.nodes.len()];
                for s in side.iter_mut() {
                    *s = w.rng.below(2) == 0;
                }
                let end = at + Duration::from_millis(w.between(500, 30_000).min(room));
                w.partitions.push(Partition {
                    side,
                    start: at,
                    end,
                    one_way: kind == Fault::OneWay,
                });
                What::Partition(w.partitions.len() - 1)
            }
            Fault::Abort => What::Abort,
            _ => {
                if w.rng.below(2) == 0 && joined < JOINERS {
                    joined += 1;
                    What::Join(prs[k + joined - 1])
                } else if left + 1 < k {
                    left += 1;
                    What::Leave(prs[w.rng.below(k as u64) as usize])
                } else {
                    What::Abort
                }
            }
        };
        w.schedule.push(FaultItem { at, what });
    }
    w.schedule.sort_by_key(|x| x.at);
    for i in 0..w.schedule.len() {
        let at = w.schedule[i].at;
        w.push(at, Ev::Fault(i));
    }
    w
}

impl World {
    pub(crate) fn fault(&mut self, i: usize) {
        let item = self.schedule[i].clone();
        match item.what {
            What::Crash {
                node,
                host,
                down,
                new_id,
            } => {
                if self.nodes[node].gone || self.nodes[node].state == NState::Down {
                    return;
                }
                self.stop(node, host);
                if new_id {
                    match &mut self.nodes[node].role {
                        Role::Pr(c) => {
                            c.id = ServerId(self.next_pr_id);
                            self.next_pr_id += 1;
                        }
                        Role::Pe(c) => {
                            if let Some(id) = c.pe_id.as_mut() {
                                id.0 += 100_000;
                            }
                        }
                        _ => {}
                    }
                }
                self.push(self.now + down, Ev::Restart { node });
            }
            What::Pause { node, dur } => {
                self.pause(node);
                self.push(self.now + dur, Ev::Resume { node });
            }
            What::Partition(p) => {
                self.trace.rec(self.now, 0, "partition", p as u64, 0, &[]);
                let part = self.partitions[p].clone();
                if part.end < part.start + crate::world::ABORT_AFTER {
                    return;
                }
                for a in 0..self.assocs.len() {
                    let x = &self.assocs[a];
                    if x.live() && part.separates(x.ends[0].node, x.ends[1].node, self.now) {
                        self.push(
                            self.now + crate::world::ABORT_AFTER,
                            Ev::AbortCrossing { assoc: a, part: p },
                        );
                    }
                }
            }
            What::Abort => {
                let live: Vec<usize> = (0..self.assocs.len())
                    .filter(|a| self.assocs[*a].live() && self.assocs[*a].ends[1].handle.is_some())
                    .collect();
                if !live.is_empty() {
                    let a = live[self.rng.below(live.len() as u64) as usize];
                    self.trace.rec(self.now, 0, "abort", a as u64, 0, &[]);
                    self.abort_assoc(a, None);
                }
            }
            What::Leave(n) => {
                let live = (0..self.nodes.len())
                    .filter(|m| matches!(self.nodes[*m].role, Role::Pr(_)) && !self.nodes[*m].gone)
                    .filter(|m| self.nodes[*m].state != NState::Down || self.nodes[*m].inc > 0)
                    .count();
                if self.nodes[n].gone || live < 2 {
                    return;
                }
                let lt = self.local(n);
                if let crate::world::Machine::Pr(r) = &mut self.nodes[n].m {
                    r.shutdown(lt);
                }
                self.drain(n);
                self.stop(n, false);
                self.nodes[n].gone = true;
            }
            What::Join(n) => {
                if self.nodes[n].state == NState::Down && !self.nodes[n].gone {
                    self.start(n);
                }
            }
        }
    }

    /// The violation report: seed, scope, fault schedule, trace tail.
    pub(crate) fn report(&self, seed: u64, cfg: &SimConfig) -> String {
        let mut s = format!(
            "seed {seed}: registrars {} pes {} pus {} faults {} duration {} s timers {:?}\n",
            cfg.registrars,
            cfg.pes,
            cfg.pus,
            cfg.faults,
            cfg.duration.as_secs(),
            cfg.timers
        );
        s.push_str("violations:\n");
        for v in &self.violations {
            s.push_str(&format!("  {v}\n"));
        }
        s.push_str(&format!(
            "fault schedule (heal at {:.3} s, announce loss {} per mille, drift up to {} ppm):\n",
            secs(self, self.heal),
            self.loss,
            self.drift_ppm
        ));
        for f in &self.schedule {
            let d = match &f.what {
                What::Crash {
                    node,
                    host,
                    down,
                    new_id,
                } => format!(
                    "crash {} ({}) for {:.3} s, back with {} ID",
                    self.node_name(*node),
                    if *host { "host" } else { "process" },
                    down.as_secs_f64(),
                    if *new_id { "a new" } else { "the same" }
                ),
                What::Pause { node, dur } => {
                    format!(
                        "pause {} for {:.3} s",
                        self.node_name(*node),
                        dur.as_secs_f64()
                    )
                }
                What::Partition(p) => {
                    let part = &self.partitions[*p];
                    let side: Vec<String> = (0..self.nodes.len())
                        .filter(|n| part.side.get(*n).copied().unwrap_or(false))
                        .map(|n| self.node_name(n))
                        .collect();
                    format!(
                        "{} partition of [{}] from the rest until {:.3} s",
                        if part.one_way { "one-way" } else { "two-way" },
                        side.join(" "),
                        secs(self, part.end)
                    )
                }
                What::Abort => "abort a random association".into(),
                What::Leave(n) => format!("{} leaves", self.node_name(*n)),
                What::Join(n) => format!("{} joins", self.node_name(*n)),
            };
            s.push_str(&format!("  {:>8.3} s  {d}\n", secs(self, f.at)));
        }
        s.push_str("trace tail:\n");
        s.push_str(&self.trace.format_tail(&|n| self.node_name(n)));
        s
    }
}
