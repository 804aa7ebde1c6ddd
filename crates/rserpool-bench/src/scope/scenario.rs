//! One measurement point, and the presets of the paper's sections 5.3-5.5.

use super::assignment::Assignment;
use rserpool_proto::wire::PolicyType;

/// What one run offers the registrars. Registrar numbers are 1-based, as
/// on the command line and in the paper ("PR #1").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub registrars: usize,
    pub pes: usize,
    pub rereg_ms: u64,
    pub pus: usize,
    pub resolve_ms: u64,
    pub policy: PolicyType,
    pub pe_registrar: Assignment,
    pub pu_registrar: Assignment,
}

impl Point {
    /// Re-registrations per second the PEs send.
    pub fn offered_rereg_per_s(&self) -> f64 {
        self.pes as f64 * 1000.0 / self.rereg_ms.max(1) as f64
    }

    pub fn offered_res_per_s(&self) -> f64 {
        self.pus as f64 * 1000.0 / self.resolve_ms.max(1) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum Scenario {
    /// Section 5.3: PEs 100..5000 at a = 250, 500, 1000 ms, all at PR 1.
    Pes,
    /// Section 5.4: 1 to 6 registrars, 1000 PEs at PR 1.
    Registrars,
    /// Section 5.5: up to 2000 PUs, r = 100..500 ms, at PR 1 or PR 2.
    Pus,
    /// The largest N each registrar sustains at a = 1000 and 250 ms.
    Max,
    /// A new registrar pulling a handlespace of N PEs (`--sizes`), fed by
    /// ENRP from a generator peer, by Handle Table Request/Response.
    Sync,
    /// The takeover of N PEs (`--sizes`) of a failed peer by the survivors.
    Takeover,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Pes => "pes",
            Scenario::Registrars => "registrars",
            Scenario::Pus => "pus",
            Scenario::Max => "max",
            Scenario::Sync => "sync",
            Scenario::Takeover => "takeover",
        }
    }

    /// Whether it is a scale scenario (`sync`, `takeover`), run by
    /// `scale.rs` rather than as load points.
    pub fn is_scale(self) -> bool {
        matches!(self, Scenario::Sync | Scenario::Takeover)
    }
}

/// Inter-reregistration times of sections 5.3 and 5.4.
pub const REREG_MS: [u64; 3] = [250, 500, 1000];
/// Largest number of registrars of section 5.4.
pub const MAX_REGISTRARS: usize = 6;

pub fn scaled(n: usize, scale: f64) -> usize {
    ((n as f64 * scale).round() as usize).max(1)
}

/// The points of a preset (the `max` search is driven separately, see
/// [`max_start`]). `scale` multiplies PE and PU counts for reduced runs.
pub fn points(s: Scenario, scale: f64) -> Vec<Point> {
    let base = Point {
        registrars: 2,
        pes: 1000,
        rereg_ms: 1000,
        pus: 0,
        resolve_ms: 1000,
        policy: PolicyType::RoundRobin,
        pe_registrar: Assignment::PR1,
        pu_registrar: Assignment::PR1,
    };
    match s {
        Scenario::Pes => REREG_MS
            .iter()
            .flat_map(|&a| {
                [100, 250, 500, 1000, 1500, 2000, 2500, 3000, 4000, 5000].map(|n| Point {
                    pes: scaled(n, scale),
                    rereg_ms: a,
                    ..base
                })
            })
            .collect(),
        Scenario::Registrars => REREG_MS
            .iter()
            .flat_map(|&a| {
                (1..=MAX_REGISTRARS).map(move |k| Point {
                    registrars: k,
                    pes: scaled(1000, scale),
                    rereg_ms: a,
                    ..base
                })
            })
            .collect(),
        Scenario::Pus => {
            let mut v = Vec::new();
            for pu_registrar in [Assignment::PR1, Assignment::PR2] {
                for policy in [PolicyType::RoundRobin, PolicyType::Random] {
                    for r in [100, 250, 500] {
                        for m in [100, 250, 500, 1000, 1500, 2000] {
                            v.push(Point {
                                pes: scaled(1000, scale),
                                pus: scaled(m, scale),
                                resolve_ms: r,
                                policy,
                                pu_registrar,
                                ..base
                            });
                        }
                    }
                }
            }
            v
        }
        Scenario::Max | Scenario::Sync | Scenario::Takeover => Vec::new(),
    }
}

/// Starting points of the `max` search, one per inter-reregistration time.
pub fn max_start(scale: f64) -> Vec<Point> {
    [1000, 250]
        .map(|a| Point {
            registrars: 2,
            pes: scaled(1000, scale),
            rereg_ms: a,
            pus: 0,
            resolve_ms: 1000,
            policy: PolicyType::RoundRobin,
            pe_registrar: Assignment::PR1,
            pu_registrar: Assignment::PR1,
        })
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_the_paper() {
        let pes = points(Scenario::Pes, 1.0);
        assert_eq!(pes.len(), 30);
        assert!(
            pes.iter()
                .all(|p| p.registrars == 2 && p.pe_registrar == Assignment::PR1)
        );
        assert!(pes.iter().any(|p| p.pes == 3000 && p.rereg_ms == 250));
        let prs = points(Scenario::Registrars, 1.0);
        assert_eq!(prs.iter().map(|p| p.registrars).max(), Some(6));
        assert!(prs.iter().all(|p| p.pes == 1000));
        let pus = points(Scenario::Pus, 1.0);
        assert!(
            pus.iter()
                .any(|p| p.pus == 2000 && p.pu_registrar == Assignment::PR2)
        );
        assert!(pus.iter().any(|p| p.policy == PolicyType::Random));
        assert!(pus.iter().all(|p| p.pes == 1000 && p.rereg_ms == 1000));
    }

    #[test]
    fn scale_shrinks_counts_but_keeps_one() {
        let small = points(Scenario::Pes, 0.01);
        assert_eq!(small[0].pes, 1);
        assert_eq!(small[9].pes, 50);
        assert_eq!(max_start(0.5)[0].pes, 500);
    }

    #[test]
    fn offered_rates() {
        let p = points(Scenario::Pes, 1.0)[3]; // 1000 PEs, a = 250 ms
        assert_eq!(p.offered_rereg_per_s(), 4000.0);
        assert_eq!(p.offered_res_per_s(), 0.0);
    }
}
