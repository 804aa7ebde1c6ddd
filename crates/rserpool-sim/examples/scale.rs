//! Prints the simulator's scale figures (run with --release).
//! `cargo run --release -p rserpool-sim --example scale [failover|takeover|sync|spread] [max]`

use rserpool_proto::wire::Policy;
use rserpool_sim::scale;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("all", String::as_str);
    let max: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let t0 = std::time::Instant::now();
    if what == "all" || what == "failover" {
        let mut f = Vec::new();
        let mut r = Vec::new();
        for seed in 0..50 {
            if let Some((a, b)) = scale::failover(seed) {
                f.push(a);
                r.push(b);
            }
        }
        f.sort_by(f64::total_cmp);
        r.sort_by(f64::total_cmp);
        println!(
            "failover after a PE process crash ({} runs): to failover median {:.1} ms max {:.1} ms; to the next reply median {:.1} ms max {:.1} ms",
            f.len(),
            f[f.len() / 2],
            f[f.len() - 1],
            r[r.len() / 2],
            r[r.len() - 1]
        );
    }
    if what == "all" || what == "takeover" {
        let mut n = 100;
        while n <= max {
            let w = std::time::Instant::now();
            match scale::takeover(1, n) {
                Some((d, all)) => println!(
                    "takeover of {n} PEs: takeover complete after {:.0} ms, all PEs re-homed after {:.0} ms (wall {:.1} s)",
                    d,
                    all,
                    w.elapsed().as_secs_f64()
                ),
                None => println!("takeover of {n} PEs: did not complete"),
            }
            n *= 10;
        }
    }
    if what == "all" || what == "sync" {
        let mut n = 1_000;
        while n <= max.max(1_000) * 10 {
            let w = std::time::Instant::now();
            match scale::sync(1, n) {
                Some((d, e)) => println!(
                    "sync of {n} PEs: {e} entries in {:.0} ms virtual (wall {:.1} s)",
                    d,
                    w.elapsed().as_secs_f64()
                ),
                None => println!("sync of {n} PEs: did not complete"),
            }
            n *= 10;
        }
    }
    if what == "all" || what == "spread" {
        for p in [
            Policy::RoundRobin,
            Policy::WeightedRoundRobin { weight: 1 },
            Policy::Random,
            Policy::WeightedRandom { weight: 1 },
            Policy::LeastUsed { load: 0 },
            Policy::LeastUsedDegradation {
                load: 0,
                degradation: 0,
            },
            Policy::Priority { priority: 1 },
            Policy::RandomizedLeastUsed { load: 0 },
        ] {
            match scale::spread(1, p, 10_000) {
                Some((lo, hi, cv)) => println!(
                    "spread {:<32} over 100 PEs, 10000 resolutions: min {lo} max {hi} cv {:.3}",
                    p.policy_type().name(),
                    cv
                ),
                None => println!("spread {:?}: no resolution", p),
            }
        }
    }
    eprintln!("wall {:.1} s", t0.elapsed().as_secs_f64());
}
