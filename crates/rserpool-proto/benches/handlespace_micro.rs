//! A quick release-mode check of handlespace operation costs (the full
//! benchmark lives in the CLI). Run: `cargo bench -p rserpool-proto
//! --bench handlespace_micro -- [N ...]`; `HS_BENCH_FILTER=text` runs only
//! the operations whose name contains it.
#![allow(clippy::unwrap_used)]
// A benchmark times the core from outside: the clock is its own.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use rserpool_proto::handlespace::{
    Config, EntryRef, Handlespace, Registration, SyncCursor, TimerKind,
};
use rserpool_proto::wire::{PeId, Policy, PoolHandle, ServerId, TransportParam};
use rserpool_proto::{Rng, Time, Xoshiro256};

const RUN: Duration = Duration::from_millis(300);

fn reg(id: u32, policy: Policy) -> Registration {
    Registration {
        pe_id: PeId(id),
        home: ServerId(1),
        lifetime_ms: 30_000,
        transport: TransportParam::Udp {
            port: 9,
            address: [10, 0, 0, 1].into(),
        },
        policy,
        asap_transport: None,
        association: Some(u64::from(id % 64)),
    }
}

fn policy_of(name: &str, rng: &mut Xoshiro256) -> Policy {
    match name {
        "LeastUsed" => Policy::LeastUsed {
            load: rng.next_u64() as u32,
        },
        "Random" => Policy::Random,
        _ => Policy::RoundRobin,
    }
}

struct Fixture {
    hs: Handlespace,
    pool: PoolHandle,
    ids: Vec<u32>,
    refs: Vec<EntryRef>,
    rng: Xoshiro256,
}

fn build(n: usize, policy: &str) -> Fixture {
    let mut rng = Xoshiro256::seed_from_u64(42);
    // HS_BENCH_WINDOW=none keeps every ordered key in the ordered set, as
    // the paper's handlespace does.
    let window = match std::env::var("HS_BENCH_WINDOW").as_deref() {
        Ok("none") => None,
        Ok(w) => w.parse().ok().or(Config::default().ordered_window),
        Err(_) => Config::default().ordered_window,
    };
    let mut hs: Handlespace = Handlespace::new(Config {
        ordered_window: window,
        ..Config::default()
    });
    let pool = PoolHandle::from("benchmark-pool");
    let mut ids = Vec::with_capacity(n);
    let mut refs = Vec::with_capacity(n);
    while ids.len() < n {
        let id = rng.next_u64() as u32;
        let p = policy_of(policy, &mut rng);
        if hs.find(&pool, PeId(id)).is_none() {
            let r = hs.register(&pool, reg(id, p)).unwrap().entry;
            hs.schedule_timer(r, TimerKind::KeepAliveTransmission, Time(1_000_000));
            ids.push(id);
            refs.push(r);
        }
    }
    Fixture {
        hs,
        pool,
        ids,
        refs,
        rng,
    }
}

fn measure(name: &str, n: usize, mut op: impl FnMut()) {
    if let Ok(filter) = std::env::var("HS_BENCH_FILTER") {
        if !name.contains(filter.as_str()) {
            return;
        }
    }
    // The machine is shared: time on the CPU (from the kernel's schedstat)
    // rather than wall time, best of five runs.
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let cpu0 = cpu_ns();
        let mut ops = 0u64;
        while start.elapsed() < RUN / 5 {
            for _ in 0..256 {
                op();
            }
            ops += 256;
        }
        let cpu = cpu_ns().saturating_sub(cpu0);
        let ns = if cpu > 0 {
            cpu as f64
        } else {
            start.elapsed().as_nanos() as f64
        };
        best = best.min(ns / ops as f64);
    }
    println!(
        "{name:<28} N={n:<8} {:>12.0} ops/s {:>9.1} ns/op",
        1e9 / best,
        best
    );
}

/// This thread's CPU time in nanoseconds (0 where schedstat is missing).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 10_000, 30_000]
    } else {
        sizes
    };
    println!(
        "bytes per entry: {}",
        Handlespace::<rserpool_proto::handlespace::set::BTreeFamily>::bytes_per_entry()
    );
    for &n in &sizes {
        for policy in ["RoundRobin", "Random"] {
            let mut f = build(n, policy);
            measure(&format!("regdereg {policy}"), n, || {
                if f.hs.pool_len(&f.pool) >= n {
                    let i = f.rng.below(f.ids.len() as u64) as usize;
                    let id = f.ids.swap_remove(i);
                    f.hs.deregister(&f.pool, PeId(id)).unwrap();
                } else {
                    loop {
                        let id = f.rng.next_u64() as u32;
                        let p = policy_of(policy, &mut f.rng);
                        if let Ok(r) = f.hs.register(&f.pool, reg(id, p)) {
                            if !r.updated {
                                f.ids.push(id);
                                break;
                            }
                        }
                    }
                }
            });
        }
        for policy in ["LeastUsed", "Random", "RoundRobin"] {
            let mut f = build(n, policy);
            measure(&format!("rereg {policy}"), n, || {
                let id = f.ids[f.rng.below(f.ids.len() as u64) as usize];
                let p = policy_of(policy, &mut f.rng);
                black_box(f.hs.register(&f.pool, reg(id, p)).unwrap());
            });
        }
        {
            let mut f = build(n, "RoundRobin");
            let mut now = 1_000_000u64;
            measure("timer reschedule", n, || {
                let r = f.refs[f.rng.below(f.refs.len() as u64) as usize];
                now += 1;
                f.hs.schedule_timer(r, TimerKind::KeepAliveTimeout, Time(now + 5_000_000));
            });
        }
        for policy in ["RoundRobin", "LeastUsed", "Random"] {
            let mut f = build(n, policy);
            for h in 1..=3 {
                let mut out = [EntryRef::NONE; 3];
                measure(&format!("resolve {policy} h={h}"), n, || {
                    black_box(f.hs.resolve(&f.pool, &mut f.rng, &mut out[..h]).unwrap());
                });
            }
        }
        {
            let f = build(n, "RoundRobin");
            measure("sync (full traversals)", n, || {
                let mut c = Some(SyncCursor::START);
                let mut sum = 0u64;
                while let Some(at) = c {
                    let step = f.hs.sync_block(at, None, 128, |_, e| {
                        // What a Handle Table Response encoder reads.
                        sum = sum
                            .wrapping_add(u64::from(e.pe_id().0))
                            .wrapping_add(u64::from(e.lifetime_ms()))
                            .wrapping_add(u64::from(e.home().0));
                        black_box((e.policy(), e.transport()));
                    });
                    c = step.next;
                }
                black_box(sum);
            });
        }
    }
}
