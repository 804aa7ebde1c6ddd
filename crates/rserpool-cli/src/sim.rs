//! `rserpool sim`: the deterministic whole-scope simulator over many seeds.

use std::time::{Duration, Instant};

use clap::Parser;
use rserpool_sim::{FaultSet, SimConfig, Timers};

#[derive(Debug, Parser)]
pub struct Args {
    /// Run this one seed (prints the violation report in full).
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run seeds 0..N.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Registrars at the start.
    #[arg(long, default_value_t = 3)]
    registrars: usize,
    /// Pool elements.
    #[arg(long, default_value_t = 6)]
    pes: usize,
    /// Pool users.
    #[arg(long, default_value_t = 3)]
    pus: usize,
    /// Fault kinds: all, none, or a list of loss,abort,partition,oneway,crash,pause,drift,churn.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Length of the fault phase in virtual seconds (the run then settles).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Registrar timers: rsplib (short) or rfc (RFC 5353 defaults).
    #[arg(long, default_value = "rsplib")]
    timers: String,
    /// Print only failing seeds and the summary.
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: &Args) -> i32 {
    let faults = match FaultSet::parse(&args.faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rserpool sim: {e}");
            return 2;
        }
    };
    let timers = match args.timers.as_str() {
        "rfc" => Timers::Rfc,
        "rsplib" => Timers::Rsplib,
        other => {
            eprintln!("rserpool sim: unknown timers {other:?} (rfc or rsplib)");
            return 2;
        }
    };
    let cfg = SimConfig {
        registrars: args.registrars,
        pes: args.pes,
        pus: args.pus,
        faults,
        duration: Duration::from_secs(args.duration),
        timers,
        ..SimConfig::default()
    };
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (0..args.seeds).collect(),
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut events = 0u64;
    let mut virt = 0u64;
    for &seed in &seeds {
        let o = rserpool_sim::run(seed, &cfg);
        events += o.events;
        virt += o.stats.end_ms;
        if !args.quiet || !o.passed() {
            println!(
                "seed {seed}: {} digest {:016x} events {} messages {} requests {} replies {} failovers {} takeovers {} faults {}",
                if o.passed() { "ok  " } else { "FAIL" },
                o.digest,
                o.events,
                o.stats.messages,
                o.stats.requests,
                o.stats.replies,
                o.stats.failovers,
                o.stats.takeovers,
                o.stats.faults
            );
        }
        if let Some(r) = &o.report {
            if args.seed.is_some() || failed.len() < 3 {
                print!("{r}");
            }
        }
        if !o.passed() {
            failed.push((seed, o.violations.first().cloned().unwrap_or_default()));
        }
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "summary: {} seeds, {} passed, {} failed; faults {}; {} events, {:.0} virtual hours in {:.1} s",
        seeds.len(),
        seeds.len() - failed.len(),
        failed.len(),
        faults,
        events,
        virt as f64 / 3.6e6,
        wall
    );
    if let Some((seed, v)) = failed.first() {
        eprintln!(
            "rserpool sim: {} seed(s) violated an invariant; the first, seed {seed}: {v} (replay with --seed {seed})",
            failed.len()
        );
        return 1;
    }
    0
}
