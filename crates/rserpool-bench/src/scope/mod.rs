//! `rserpool bench scope`: registrar CPU load against PEs, registrars and
//! PUs (the paper's sections 4.2 and 5.3-5.5, figures 7 and 8).
//!
//! A generator process plays N PEs and M PUs against k registrar processes
//! peered by ENRP, in a lab of network namespaces where the machine allows
//! it, else on loopback. Each registrar's CPU utilisation over the steady
//! state comes from `/proc/PID/stat`; the generator checks through the
//! registrars' metrics endpoints that every update reached every peer.
//!
//! ```text
//! rserpool bench scope --registrars 2 --pes 2000 --rereg-interval 250ms --reps 3
//! rserpool bench scope --pes 1000 --pus 500 --resolve-interval 100ms --pu-registrar 2
//! rserpool bench scope --scenario pes --output pes.csv --plot figs
//! rserpool bench scope --target 10.0.0.1:3863 --target-pid 4242 --pes 500
//! rserpool bench scope --replot pes.csv --plot figs
//! ```

mod assignment;
mod cpu;
mod feeder;
mod fleet;
pub(crate) mod generator;
mod lab;
mod latency;
mod outcome;
mod plot;
mod promtext;
mod report;
mod runner;
mod scale;
mod scenario;

use assignment::Assignment;
use fleet::Placement;
use report::Row;
use rserpool::transport::TransportMode;
use rserpool_proto::wire::PolicyType;
use runner::{Registrars, Setup};
use scenario::{Point, Scenario};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::units;

/// The transport names of `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum TransportName {
    /// TCP, one connection per association.
    Tcp,
    /// Kernel SCTP.
    Sctp,
}

impl TransportName {
    fn name(self) -> &'static str {
        match self {
            TransportName::Tcp => "tcp",
            TransportName::Sctp => "sctp",
        }
    }
}

/// The options of `rserpool bench scope`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScopeArgs {
    /// Registrars to start, peered by ENRP [default: 2; with --target: their number]
    #[arg(long)]
    pub registrars: Option<usize>,
    /// Pool elements, each on its own ASAP association.
    #[arg(long, default_value_t = 1000)]
    pub pes: usize,
    /// Time between a PE's re-registrations (the paper's a; `250ms`, `1s`).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = units::duration)]
    pub rereg_interval: Duration,
    /// Pool users, each on its own ASAP association.
    #[arg(long, default_value_t = 0)]
    pub pus: usize,
    /// Time between a PU's handle resolutions (the paper's r; `100ms`, `1s`).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = units::duration)]
    pub resolve_interval: Duration,
    /// Pool policy of the PEs (round-robin, random, least-used, ...; `RoundRobin`
    /// is read too); adaptive ones re-register with a new load.
    #[arg(long, default_value = "round-robin", value_parser = units::policy)]
    pub policy: PolicyType,
    /// The registrar (1-based) the PEs register at; several (`1,2`) take turns.
    #[arg(long, value_name = "N[,N...]", default_value = "1")]
    pub pe_registrar: Assignment,
    /// The registrar (1-based) the PUs resolve at; several (`1,2`) take turns.
    #[arg(long, value_name = "N[,N...]", default_value = "1")]
    pub pu_registrar: Assignment,
    /// Steady state measured per repetition (`10s`).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = units::duration)]
    pub duration: Duration,
    /// Load before the measurement starts (`3s`; `0s` for none).
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = units::duration)]
    pub warmup: Duration,
    /// Repetitions per point (means and 95 % confidence intervals).
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// Transport of every association (registrars included).
    #[arg(long, default_value = "tcp")]
    pub transport: TransportName,
    /// Run on 127.0.0.1 even where network namespaces are available.
    #[arg(long)]
    pub loopback: bool,
    /// Threads of each registrar started (`rserpool registrar --threads`).
    #[arg(long, default_value_t = 1)]
    pub registrar_threads: usize,
    /// A preset of the paper (overrides the load options above).
    #[arg(long)]
    pub scenario: Option<Scenario>,
    /// Multiplies the PE and PU counts of --scenario (e.g. 0.1 for a quick run).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Handlespace sizes (PEs) of --scenario sync and takeover.
    #[arg(
        long,
        value_name = "N[,N...]",
        value_delimiter = ',',
        default_value = "1000,10000,100000"
    )]
    pub sizes: Vec<usize>,
    /// Registrars that run already.
    #[command(flatten)]
    pub remote: Box<RemoteArgs>,
    /// Where results go, or come from.
    #[command(flatten)]
    pub files: Box<FileArgs>,
    /// Internal: be the load generator of one run.
    #[arg(long, hide = true)]
    pub generator: bool,
    /// Internal: the first PE identifier of a generator run.
    #[arg(long, hide = true, default_value_t = 1)]
    pub pe_id_base: u32,
}

/// Registrars that run already (boxed: rarely used, and keeps the
/// command enum small).
#[derive(Debug, Clone, clap::Args)]
pub struct RemoteArgs {
    /// ASAP address of an already running registrar (repeat; in order PR 1, 2, ...)
    #[arg(long, value_name = "ADDR:PORT")]
    pub target: Vec<SocketAddr>,
    /// PID of each --target registrar, for its CPU load (repeat, same order)
    #[arg(long, value_name = "PID")]
    pub target_pid: Vec<u32>,
    /// Metrics endpoint of each --target registrar, for the propagation check
    #[arg(long, value_name = "ADDR:PORT")]
    pub target_metrics: Vec<SocketAddr>,
    /// Address of this host the generated PEs register as their user
    /// transport (and, over SCTP, the only address of every generated
    /// association). Registrars that check PE addresses against the
    /// association, as RSPLIB's does, need it [default: unspecified, the
    /// registrar fills in the association's address]
    #[arg(long, value_name = "IP")]
    pub endpoint_address: Option<IpAddr>,
}

/// Where results go, or come from.
#[derive(Debug, Clone, clap::Args)]
pub struct FileArgs {
    /// Write figure7/figure8 (PNG and SVG) into this directory.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Write the CSV here instead of to standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Measure nothing: read rows from this CSV, summarise and plot them.
    #[arg(long, value_name = "CSV")]
    pub replot: Option<PathBuf>,
}

/// Most registrars: lab hosts are numbered below the generator's.
const MAX_REGISTRARS: usize = 50;

/// The longest --duration or --warmup: a day.
const MAX_TIME: Duration = Duration::from_secs(86_400);

fn bounded(what: &str, v: Duration, zero_ok: bool) -> Result<Duration, String> {
    if (zero_ok || !v.is_zero()) && v <= MAX_TIME {
        Ok(v)
    } else {
        Err(format!(
            "--{what} {}: must be more than 0s and at most a day",
            units::format(v)
        ))
    }
}

/// An interval in whole milliseconds, at least one.
fn millis(flag: &str, v: Duration) -> Result<u64, String> {
    match u64::try_from(v.as_millis()) {
        Ok(ms) if ms >= 1 && Duration::from_millis(ms) == v => Ok(ms),
        _ => Err(format!(
            "{flag} {}: a whole number of milliseconds, at least 1ms",
            units::format(v)
        )),
    }
}

/// The single point of the command line (without --scenario).
fn point_of(args: &ScopeArgs) -> Result<Point, String> {
    let k = match (args.registrars, args.remote.target.len()) {
        (Some(k), 0) => k,
        (None, 0) => 2,
        (None, n) => n,
        (Some(k), n) if k == n => k,
        (Some(k), n) => {
            return Err(format!("--registrars {k} but {n} --target addresses given"));
        }
    };
    if k == 0 || k > MAX_REGISTRARS {
        return Err(format!("--registrars {k}: between 1 and {MAX_REGISTRARS}"));
    }
    if args.pes + args.pus == 0 {
        return Err("--pes and --pus are both 0: nothing to generate".into());
    }
    let rereg_ms = millis("--rereg-interval", args.rereg_interval)?;
    let resolve_ms = millis("--resolve-interval", args.resolve_interval)?;
    for (flag, v) in [
        ("--pe-registrar", args.pe_registrar),
        ("--pu-registrar", args.pu_registrar),
    ] {
        if v.highest() > k {
            return Err(format!("{flag} {v}: registrars are numbered 1 to {k}"));
        }
    }
    Ok(Point {
        registrars: k,
        pes: args.pes,
        rereg_ms,
        pus: args.pus,
        resolve_ms,
        policy: args.policy,
        pe_registrar: args.pe_registrar,
        pu_registrar: args.pu_registrar,
    })
}

/// Checks everything that does not need the machine.
fn validate(args: &ScopeArgs) -> Result<(), String> {
    bounded("duration", args.duration, false)?;
    bounded("warmup", args.warmup, true)?;
    if args.reps == 0 {
        return Err("--reps: at least one repetition".into());
    }
    if !(args.scale.is_finite() && args.scale > 0.0) {
        return Err(format!("--scale {}: must be positive", args.scale));
    }
    if args.scenario.is_some_and(Scenario::is_scale) {
        if args.sizes.is_empty() || args.sizes.contains(&0) {
            return Err("--sizes: every handlespace size must be at least 1".into());
        }
        if args.scenario == Some(Scenario::Takeover) && args.registrars.is_some_and(|k| k < 2) {
            return Err(
                "--registrars: a takeover needs at least 2 (survivors of the failed peer)".into(),
            );
        }
        if args.transport != TransportName::Tcp {
            return Err("--scenario sync and takeover run over TCP on loopback".into());
        }
    }
    if !args.remote.target.is_empty() {
        if args.scenario.is_some() {
            return Err("--scenario starts its own registrars; it cannot use --target".into());
        }
        if args.remote.target_pid.len() > args.remote.target.len() {
            return Err("more --target-pid than --target".into());
        }
        if !args.remote.target_metrics.is_empty()
            && args.remote.target_metrics.len() != args.remote.target.len()
        {
            return Err("give --target-metrics for every --target or for none".into());
        }
    } else if !args.remote.target_pid.is_empty()
        || !args.remote.target_metrics.is_empty()
        || args.remote.endpoint_address.is_some()
    {
        return Err("--target-pid, --target-metrics and --endpoint-address need --target".into());
    }
    if args.scenario.is_none() {
        point_of(args)?;
    }
    Ok(())
}

/// The soft limit on open files, from /proc/self/limits.
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Associations (one descriptor each) a generator or registrar process
/// must hold, against the descriptor limit.
fn check_descriptors(p: &Point) -> Result<(), String> {
    let need = p.pes + p.pus + 64;
    match open_files_limit() {
        Some(limit) if need > limit => Err(format!(
            "{} PEs and {} PUs need about {need} open files; the limit here is {limit} \
             (raise it with `ulimit -n`)",
            p.pes, p.pus
        )),
        _ => Ok(()),
    }
}

/// Runs a bench scope command; the error is the message for the user.
pub fn run(args: ScopeArgs) -> Result<(), String> {
    validate(&args)?;
    if args.generator {
        return generate(&args);
    }
    if let Some(csv) = &args.files.replot {
        let text = std::fs::read_to_string(csv).map_err(|e| format!("{}: {e}", csv.display()))?;
        if text.starts_with(scale::HEADER) {
            let samples = scale::parse(&text).map_err(|e| format!("{}: {e}", csv.display()))?;
            eprint!("{}", scale::summary(&samples));
            if let Some(dir) = &args.files.plot {
                for f in scale::plot(&samples, dir)? {
                    eprintln!("wrote {}", f.display());
                }
            }
            return Ok(());
        }
        let rows = report::parse(&text).map_err(|e| format!("{}: {e}", csv.display()))?;
        eprint!("{}", report::summary(&rows));
        if let Some(dir) = &args.files.plot {
            for f in plot::plot_figures(&rows, dir)? {
                eprintln!("wrote {}", f.display());
            }
        }
        return Ok(());
    }
    if let Some(s) = args.scenario.filter(|s| s.is_scale()) {
        return measure_scale(&args, s);
    }
    measure(&args)
}

/// Runs `--scenario sync` or `takeover` (see `scale.rs`).
fn measure_scale(args: &ScopeArgs, s: Scenario) -> Result<(), String> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; its figures mean little (use --release)");
    }
    let logdir = std::env::temp_dir().join(format!("rserpool-scope-{}", std::process::id()));
    std::fs::create_dir_all(&logdir).map_err(|e| format!("{}: {e}", logdir.display()))?;
    eprintln!("registrars: loopback (logs in {})", logdir.display());
    let plan = scale::Plan {
        takeover: s == Scenario::Takeover,
        sizes: args
            .sizes
            .iter()
            .map(|&n| scenario::scaled(n, args.scale))
            .collect(),
        reps: args.reps,
        registrars: args.registrars.unwrap_or(2),
        logdir,
    };
    let mut out: Box<dyn Write> = match &args.files.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let samples = scale::run(&plan, &mut out)?;
    eprint!("{}", scale::summary(&samples));
    if let Some(dir) = &args.files.plot {
        for f in scale::plot(&samples, dir)? {
            eprintln!("wrote {}", f.display());
        }
    }
    Ok(())
}

fn generate(args: &ScopeArgs) -> Result<(), String> {
    let p = point_of(args)?;
    if args.remote.target.is_empty() {
        return Err("the generator needs --target addresses".into());
    }
    let mode = match args.transport {
        TransportName::Tcp => TransportMode::Tcp,
        TransportName::Sctp => TransportMode::Sctp,
    };
    let carrier = mode.resolve().map_err(|e| format!("--transport: {e}"))?;
    generator::run(generator::LoadSpec {
        targets: args.remote.target.clone(),
        metrics: args.remote.target_metrics.clone(),
        carrier,
        pes: p.pes,
        pe_registrars: p.pe_registrar.members().map(|n| n - 1).collect(),
        rereg: Duration::from_millis(p.rereg_ms),
        pus: p.pus,
        pu_registrars: p.pu_registrar.members().map(|n| n - 1).collect(),
        resolve: Duration::from_millis(p.resolve_ms),
        policy: p.policy,
        warmup: args.warmup,
        duration: args.duration,
        pe_id_base: args.pe_id_base,
        endpoint_address: args.remote.endpoint_address,
    })
}

/// Writes rows as they come, and keeps them for the summary and figures.
struct Sink {
    out: Box<dyn Write>,
    rows: Vec<Row>,
}

impl Sink {
    fn push(&mut self, row: Row) -> Result<(), String> {
        let io = |e: std::io::Error| format!("writing the CSV: {e}");
        writeln!(self.out, "{row}").map_err(io)?;
        self.out.flush().map_err(io)?;
        self.rows.push(row);
        Ok(())
    }
}

fn measure(args: &ScopeArgs) -> Result<(), String> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; its figures mean little (use --release)");
    }
    if args.transport == TransportName::Sctp {
        TransportMode::Sctp
            .resolve()
            .map_err(|e| format!("--transport sctp: {e}"))?;
    }
    let fixed = match args.scenario {
        None => vec![point_of(args)?],
        Some(s) => scenario::points(s, args.scale),
    };
    let max_search = args.scenario == Some(Scenario::Max);
    let starts = if max_search {
        scenario::max_start(args.scale)
    } else {
        Vec::new()
    };
    let most_registrars = fixed
        .iter()
        .chain(&starts)
        .map(|p| p.registrars)
        .max()
        .unwrap_or(1);
    for p in &fixed {
        check_descriptors(p)?;
    }

    let mut _lab = None;
    let registrars = if !args.remote.target.is_empty() {
        Registrars::Target {
            asap: args.remote.target.clone(),
            pids: args.remote.target_pid.clone(),
            metrics: args.remote.target_metrics.clone(),
        }
    } else if args.loopback {
        Registrars::Own(Placement::Loopback)
    } else if lab::available() {
        _lab = Some(lab::Lab::create(most_registrars)?);
        Registrars::Own(Placement::Lab(_lab.as_ref().ok_or("no lab")?))
    } else {
        eprintln!(
            "network namespaces are not available here (needs root and `ip netns`): running on loopback"
        );
        Registrars::Own(Placement::Loopback)
    };
    let logdir = std::env::temp_dir().join(format!("rserpool-scope-{}", std::process::id()));
    std::fs::create_dir_all(&logdir).map_err(|e| format!("{}: {e}", logdir.display()))?;
    let setup = Setup {
        registrars,
        transport: args.transport.name(),
        registrar_threads: args.registrar_threads,
        warmup: args.warmup,
        duration: args.duration,
        logdir: logdir.clone(),
        scenario: args.scenario.map_or("custom", Scenario::name).to_string(),
        endpoint_address: args.remote.endpoint_address,
    };
    eprintln!(
        "registrars: {} (logs in {})",
        setup.registrars.mode(),
        logdir.display()
    );
    let out: Box<dyn Write> = match &args.files.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut sink = Sink {
        out,
        rows: Vec::new(),
    };
    writeln!(sink.out, "{}", report::HEADER).map_err(|e| format!("writing the CSV: {e}"))?;

    let mut failures = Vec::new();
    let total = fixed.len() * args.reps as usize;
    for (i, p) in fixed.iter().enumerate() {
        for rep in 1..=args.reps {
            let n = i * args.reps as usize + rep as usize;
            match runner::run_once(&setup, p, rep) {
                Ok(row) => {
                    eprintln!("[{n}/{total}] {}", progress(&row));
                    sink.push(row)?;
                }
                Err(e) => {
                    eprintln!("[{n}/{total}] {}: {e}", describe(p));
                    failures.push(format!("{}: {e}", describe(p)));
                }
            }
        }
    }
    let mut maxima = Vec::new();
    for start in starts {
        maxima.push(search_max(
            &setup,
            start,
            args.reps,
            &mut sink,
            &mut failures,
        )?);
    }

    eprint!("{}", report::summary(&sink.rows));
    for m in &maxima {
        eprintln!("{m}");
    }
    if let Some(dir) = &args.files.plot {
        for f in plot::plot_figures(&sink.rows, dir)? {
            eprintln!("wrote {}", f.display());
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "{} runs failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ));
    }
    Ok(())
}

fn describe(p: &Point) -> String {
    format!(
        "k={} N={} a={}ms M={} r={}ms {} PE@{} PU@{}",
        p.registrars,
        p.pes,
        p.rereg_ms,
        p.pus,
        p.resolve_ms,
        p.policy.name(),
        p.pe_registrar,
        p.pu_registrar
    )
}

fn progress(r: &Row) -> String {
    let pct = |c: Option<f64>| c.map_or("?".to_string(), |c| format!("{c:.1}%"));
    format!(
        "{} rep {}: {:.0} rereg/s, {:.0} res/s, CPU PR1 {} PR2 {} generator {} system {}, reg p99 {} ms, errors {}, verified {}",
        describe(&r.point),
        r.repetition,
        r.rereg_per_s,
        r.resolutions_per_s,
        pct(r.cpu_of(1)),
        pct(r.cpu_of(2)),
        pct(r.generator_cpu),
        pct(r.system_cpu),
        r.reg_p99_ms.map_or("-".into(), |v| format!("{v:.2}")),
        r.errors,
        match r.verified {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "unknown",
        }
    )
}

/// Whether a run kept up: at least 95 % of the offered rate, no error,
/// every update propagated, and 99 % of registrations answered within a
/// quarter of the re-registration interval.
fn sustained(r: &Row) -> bool {
    let p = &r.point;
    r.errors == 0
        && r.verified != Some(false)
        && r.rereg_per_s >= 0.95 * p.offered_rereg_per_s()
        && r.reg_p99_ms.is_some_and(|ms| ms <= p.rereg_ms as f64 / 4.0)
}

/// Steps of bisection after the doubling phase: the maximum is then known
/// to within 1/2^3 = 12.5 % of the last sustained N.
const MAX_BISECT_STEPS: u32 = 3;

/// How the runs at one N went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trial {
    KeptUp,
    Broke,
    OutOfDescriptors,
}

/// The search of [`search_max`] over N alone: doubles N from `start` while
/// `trial` keeps up, then bisects between the last N that kept up and the
/// first that did not. Returns the largest N that kept up and the trial
/// (and its N) that bounded it from above.
fn search_n<E>(
    start: usize,
    mut trial: impl FnMut(usize) -> Result<Trial, E>,
) -> Result<(Option<usize>, (usize, Trial)), E> {
    let mut n = start.max(1);
    let mut best = None;
    let mut bound = loop {
        match trial(n)? {
            Trial::KeptUp => {
                best = Some(n);
                n *= 2;
            }
            t => break (n, t),
        }
    };
    if let Some(mut lo) = best {
        for _ in 0..MAX_BISECT_STEPS {
            let mid = lo + (bound.0 - lo) / 2;
            if mid == lo {
                break;
            }
            match trial(mid)? {
                Trial::KeptUp => lo = mid,
                t => bound = (mid, t),
            }
        }
        best = Some(lo);
    }
    Ok((best, bound))
}

/// Finds the largest number of PEs that keeps up from `start` on (see
/// [`search_n`]); returns the verdict line.
fn search_max(
    setup: &Setup<'_>,
    start: Point,
    reps: u32,
    sink: &mut Sink,
    failures: &mut Vec<String>,
) -> Result<String, String> {
    let at = |pes| Point { pes, ..start };
    let (best, (bound, why)) = search_n(start.pes, |pes| {
        let p = at(pes);
        if check_descriptors(&p).is_err() {
            return Ok(Trial::OutOfDescriptors);
        }
        for rep in 1..=reps {
            match runner::run_once(setup, &p, rep) {
                Ok(row) => {
                    eprintln!("[max] {}", progress(&row));
                    let ok = sustained(&row);
                    sink.push(row)?;
                    if !ok {
                        return Ok(Trial::Broke);
                    }
                }
                Err(e) => {
                    eprintln!("[max] {}: {e}", describe(&p));
                    failures.push(format!("{}: {e}", describe(&p)));
                    return Ok(Trial::Broke);
                }
            }
        }
        Ok::<_, String>(Trial::KeptUp)
    })?;
    let verdict = match why {
        Trial::OutOfDescriptors => format!("the open-file limit (N = {bound})"),
        _ => format!("N = {bound} did not keep up"),
    };
    Ok(match best {
        Some(n) => {
            let b = at(n);
            format!(
                "max at a = {} ms: N = {} sustained ({:.0} re-registrations/s); stopped by {verdict}",
                b.rereg_ms,
                b.pes,
                b.offered_rereg_per_s()
            )
        }
        None => format!(
            "max at a = {} ms: not even N = {} sustained ({verdict})",
            start.rereg_ms, start.pes
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: ScopeArgs,
    }

    fn parse(args: &[&str]) -> Result<ScopeArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("scope").chain(args.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn the_command_line_of_the_issue() {
        let a = parse(&[
            "--registrars",
            "3",
            "--pes",
            "500",
            "--rereg-interval",
            "250ms",
            "--pus",
            "20",
            "--resolve-interval",
            "100ms",
            "--policy",
            "least-used",
            "--duration",
            "5s",
            "--warmup",
            "1s",
            "--reps",
            "4",
            "--transport",
            "tcp",
            "--pe-registrar",
            "1",
            "--pu-registrar",
            "2",
            "--output",
            "x.csv",
            "--plot",
            "figs",
        ])
        .unwrap();
        validate(&a).unwrap();
        let p = point_of(&a).unwrap();
        assert_eq!(
            p,
            Point {
                registrars: 3,
                pes: 500,
                rereg_ms: 250,
                pus: 20,
                resolve_ms: 100,
                policy: PolicyType::LeastUsed,
                pe_registrar: Assignment::PR1,
                pu_registrar: Assignment::PR2,
            }
        );
        assert_eq!(a.reps, 4);
        assert_eq!(a.files.output, Some(PathBuf::from("x.csv")));
    }

    #[test]
    fn defaults_are_two_registrars_everything_at_the_first() {
        let a = parse(&[]).unwrap();
        let p = point_of(&a).unwrap();
        assert_eq!(p.registrars, 2);
        assert_eq!(
            (p.pe_registrar, p.pu_registrar),
            (Assignment::PR1, Assignment::PR1)
        );
        assert_eq!(p.policy, PolicyType::RoundRobin);
        assert_eq!(a.transport, TransportName::Tcp);
        assert!(!a.loopback && a.scenario.is_none());
    }

    #[test]
    fn targets_set_the_number_of_registrars() {
        let a = parse(&[
            "--target",
            "127.0.0.1:3863",
            "--target",
            "127.0.0.1:3864",
            "--target-pid",
            "77",
        ])
        .unwrap();
        validate(&a).unwrap();
        assert_eq!(point_of(&a).unwrap().registrars, 2);
        let a = parse(&["--target", "127.0.0.1:3863", "--registrars", "2"]).unwrap();
        assert!(validate(&a).unwrap_err().contains("--target"));
        let a = parse(&[
            "--target",
            "127.0.0.1:3863",
            "--target-metrics",
            "127.0.0.1:1",
            "--target-metrics",
            "127.0.0.1:2",
        ])
        .unwrap();
        assert!(validate(&a).unwrap_err().contains("--target-metrics"));
        let a = parse(&["--target-pid", "5"]).unwrap();
        assert!(validate(&a).unwrap_err().contains("need --target"));
        let a = parse(&["--target", "127.0.0.1:3863", "--scenario", "pes"]).unwrap();
        assert!(validate(&a).unwrap_err().contains("--scenario"));
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        assert!(parse(&["--policy", "fastest"]).is_err());
        assert!(parse(&["--transport", "udp"]).is_err());
        assert!(parse(&["--scenario", "everything"]).is_err());
        assert!(parse(&["--target", "localhost"]).is_err());
        let check = |args: &[&str], flag: &str| {
            let e = validate(&parse(args).unwrap()).unwrap_err();
            assert!(e.contains(flag), "{e}");
        };
        check(&["--registrars", "0"], "--registrars");
        check(&["--pe-registrar", "3"], "--pe-registrar");
        check(
            &["--registrars", "1", "--pu-registrar", "2"],
            "--pu-registrar",
        );
        check(&["--pes", "0"], "--pes");
        check(&["--rereg-interval", "0ms"], "--rereg-interval");
        check(&["--resolve-interval", "1500us"], "--resolve-interval");
        check(&["--duration", "0s"], "--duration");
        check(&["--warmup", "2days"], "--warmup");
        // durations need a unit
        assert!(parse(&["--duration", "10"]).is_err());
        assert!(parse(&["--warmup=-1s"]).is_err());
        // the RSPLIB spelling of a policy is read too
        let a = parse(&["--policy", "RoundRobin"]).unwrap();
        assert_eq!(a.policy, PolicyType::RoundRobin);
        check(&["--reps", "0"], "--reps");
        check(&["--scenario", "pes", "--scale", "0"], "--scale");
    }

    #[test]
    fn endpoints_can_take_turns_among_registrars() {
        let a = parse(&[
            "--registrars",
            "3",
            "--pe-registrar",
            "1,3",
            "--pu-registrar",
            "2",
        ])
        .unwrap();
        let p = point_of(&a).unwrap();
        assert_eq!(p.pe_registrar.members().collect::<Vec<_>>(), [1, 3]);
        assert_eq!(p.pu_registrar.only(), Some(2));
        let a = parse(&["--registrars", "2", "--pe-registrar", "1,3"]).unwrap();
        assert!(validate(&a).unwrap_err().contains("--pe-registrar 1+3"));
        assert!(parse(&["--pe-registrar", "0"]).is_err());
    }

    #[test]
    fn the_max_search_doubles_then_bisects() {
        // A registrar that keeps up to 13,000 PEs.
        let mut tried = Vec::new();
        let (best, bound) = search_n(1000, |n| {
            tried.push(n);
            Ok::<_, ()>(if n <= 13_000 {
                Trial::KeptUp
            } else {
                Trial::Broke
            })
        })
        .unwrap();
        assert_eq!(
            tried,
            [1000, 2000, 4000, 8000, 16_000, 12_000, 14_000, 13_000]
        );
        assert_eq!(best, Some(13_000));
        assert_eq!(bound, (14_000, Trial::Broke));
        // Nothing keeps up: no bisection.
        let (best, bound) = search_n(1000, |_| Ok::<_, ()>(Trial::Broke)).unwrap();
        assert_eq!((best, bound), (None, (1000, Trial::Broke)));
        // The descriptor limit bounds the search like a breakdown does.
        let (best, bound) = search_n(1000, |n| {
            Ok::<_, ()>(if n > 19_000 {
                Trial::OutOfDescriptors
            } else {
                Trial::KeptUp
            })
        })
        .unwrap();
        assert_eq!(best, Some(18_000));
        assert_eq!(bound, (20_000, Trial::OutOfDescriptors));
    }

    #[test]
    fn scale_scenarios_check_their_sizes_registrars_and_transport() {
        let a = parse(&["--scenario", "sync"]).unwrap();
        validate(&a).unwrap();
        assert_eq!(a.sizes, [1000, 10_000, 100_000]);
        let a = parse(&["--scenario", "takeover", "--sizes", "10,1000000"]).unwrap();
        validate(&a).unwrap();
        assert_eq!(a.sizes, [10, 1_000_000]);
        let check = |args: &[&str], flag: &str| {
            let e = validate(&parse(args).unwrap()).unwrap_err();
            assert!(e.contains(flag), "{e}");
        };
        check(&["--scenario", "sync", "--sizes", "0"], "--sizes");
        check(
            &["--scenario", "takeover", "--registrars", "1"],
            "--registrars",
        );
        check(&["--scenario", "sync", "--transport", "sctp"], "TCP");
    }

    #[test]
    fn scenarios_ignore_the_single_point_options() {
        let a = parse(&["--scenario", "registrars", "--pes", "0"]).unwrap();
        validate(&a).unwrap();
        assert_eq!(a.scenario, Some(Scenario::Registrars));
    }

    #[test]
    fn keeping_up_needs_rate_latency_and_propagation() {
        let mut r = report::tests::row(1000, 1, 50.0); // 4000/s offered, 4000/s done
        assert!(sustained(&r));
        r.rereg_per_s = 3000.0;
        assert!(!sustained(&r));
        let mut r = report::tests::row(1000, 1, 50.0);
        r.reg_p99_ms = Some(80.0); // a = 250 ms
        assert!(!sustained(&r));
        let mut r = report::tests::row(1000, 1, 50.0);
        r.verified = Some(false);
        assert!(!sustained(&r));
    }

    #[test]
    fn descriptor_limit_is_read() {
        assert!(open_files_limit().is_some_and(|n| n > 0));
    }
}
