//! One repetition of one point: start the registrars (unless given), run
//! the generator process, read CPU times at the edges of its measurement
//! window, and make a result row.

use super::cpu::{self, CpuTicks};
use super::fleet::{Fleet, Placement};
use super::lab::Lab;
use super::outcome::Outcome;
use super::report::Row;
use super::scenario::Point;
use crate::units;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The registrars a run drives.
#[derive(Debug)]
pub enum Registrars<'a> {
    /// Started for each run, on loopback or in the lab.
    Own(Placement<'a>),
    /// Already running: their ASAP addresses, PIDs (for CPU) and metrics
    /// endpoints (for the propagation check), as far as known.
    Target {
        asap: Vec<SocketAddr>,
        pids: Vec<u32>,
        metrics: Vec<SocketAddr>,
    },
}

impl Registrars<'_> {
    pub fn mode(&self) -> &'static str {
        match self {
            Registrars::Own(Placement::Loopback) => "loopback",
            Registrars::Own(Placement::Lab(_)) => "netns",
            Registrars::Target { .. } => "target",
        }
    }
}

/// Settings shared by all runs.
#[derive(Debug)]
pub struct Setup<'a> {
    pub registrars: Registrars<'a>,
    pub transport: &'static str,
    /// `--threads` of each registrar started.
    pub registrar_threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub logdir: PathBuf,
    pub scenario: String,
    /// The generator's `--endpoint-address`, if any.
    pub endpoint_address: Option<IpAddr>,
}

/// The CPU time of each process, then of the whole machine.
fn sample(pids: &[Option<u32>]) -> Vec<Option<CpuTicks>> {
    pids.iter()
        .map(|p| p.and_then(|p| cpu::read_ticks(p).ok()))
        .chain(std::iter::once(cpu::read_system_ticks().ok()))
        .collect()
}

/// Runs one repetition of `point`.
pub fn run_once(setup: &Setup<'_>, point: &Point, repetition: u32) -> Result<Row, String> {
    let mut fleet = None;
    let (asap, pids, metrics) = match &setup.registrars {
        Registrars::Own(placement) => {
            let f = Fleet::start(
                point.registrars,
                setup.transport,
                setup.registrar_threads,
                *placement,
                &setup.logdir,
            )?;
            let v = (
                f.asap.clone(),
                f.pids.iter().copied().map(Some).collect::<Vec<_>>(),
                f.metrics.clone(),
            );
            fleet = Some(f);
            v
        }
        Registrars::Target {
            asap,
            pids,
            metrics,
        } => (
            asap.clone(),
            (0..asap.len()).map(|i| pids.get(i).copied()).collect(),
            metrics.clone(),
        ),
    };

    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let mut cmd = match &setup.registrars {
        Registrars::Own(Placement::Lab(lab)) => {
            let mut c = Command::new("ip");
            c.args(Lab::exec_in(&lab.generator_ns()).iter().skip(1))
                .arg(&exe);
            c
        }
        _ => Command::new(&exe),
    };
    cmd.args(["bench", "scope", "--generator"]);
    for a in &asap {
        cmd.args(["--target", &a.to_string()]);
    }
    for m in &metrics {
        cmd.args(["--target-metrics", &m.to_string()]);
    }
    let id_base = (rserpool::random_seed() as u32 & 0x7fff_ffff) | 1;
    cmd.args(["--registrars", &asap.len().to_string()])
        .args(["--pes", &point.pes.to_string()])
        .args(["--rereg-interval", &format!("{}ms", point.rereg_ms)])
        .args(["--pus", &point.pus.to_string()])
        .args(["--resolve-interval", &format!("{}ms", point.resolve_ms)])
        .args(["--policy", &units::kebab(point.policy)])
        .args(["--pe-registrar", &point.pe_registrar.to_string()])
        .args(["--pu-registrar", &point.pu_registrar.to_string()])
        .args(["--duration", &units::format(setup.duration)])
        .args(["--warmup", &units::format(setup.warmup)])
        .args(["--transport", setup.transport])
        .args(["--pe-id-base", &id_base.to_string()]);
    if let Some(ip) = setup.endpoint_address {
        cmd.args(["--endpoint-address", &ip.to_string()]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting the generator: {e}"))?;
    let gen_pid = child.id();
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
    }

    let mut all_pids = pids.clone();
    all_pids.push(Some(gen_pid));
    let quiet_limit = setup.warmup + setup.duration + Duration::from_secs(120);
    let mut start: Option<(Instant, Vec<Option<CpuTicks>>)> = None;
    let mut end: Option<(Instant, Vec<Option<CpuTicks>>)> = None;
    let mut outcome = None;
    loop {
        match rx.recv_timeout(quiet_limit) {
            Ok((_, line)) if line == "measure" => start = Some((Instant::now(), sample(&all_pids))),
            Ok((_, line)) if line == "done" => end = Some((Instant::now(), sample(&all_pids))),
            Ok((_, line)) => {
                if let Some(rest) = line.strip_prefix("result ") {
                    outcome = Some(Outcome::parse(rest)?);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the generator said nothing for {} s: killed",
                    quiet_limit.as_secs()
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the generator: {e}"))?;
    let registrars_alive = fleet.as_mut().is_none_or(Fleet::alive);
    let logs = fleet
        .as_ref()
        .map(|f| {
            f.logs
                .iter()
                .map(|l| l.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    drop(fleet);
    if !registrars_alive {
        return Err(format!("a registrar exited during the run (logs: {logs})"));
    }
    let outcome = outcome.ok_or_else(|| format!("the generator failed ({status})"))?;

    let utilisation: Vec<Option<f64>> = match (&start, &end) {
        (Some((t0, a)), Some((t1, b))) => a
            .iter()
            .zip(b)
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => cpu::utilisation(*a, *b, *t1 - *t0),
                _ => None,
            })
            .collect(),
        _ => vec![None; all_pids.len() + 1],
    };
    let (registrar_cpu, rest) = utilisation.split_at(asap.len());
    Ok(Row {
        scenario: setup.scenario.clone(),
        mode: setup.registrars.mode().to_string(),
        transport: setup.transport.to_string(),
        point: *point,
        repetition,
        window_s: outcome.window_s,
        rereg_per_s: outcome.reg_per_s(),
        resolutions_per_s: outcome.res_per_s(),
        reg_p50_ms: outcome.reg_p50_ms,
        reg_p99_ms: outcome.reg_p99_ms,
        res_p50_ms: outcome.res_p50_ms,
        res_p99_ms: outcome.res_p99_ms,
        errors: outcome.errors(),
        skipped: outcome.skipped,
        cpu: registrar_cpu.to_vec(),
        generator_cpu: rest.first().copied().flatten(),
        system_cpu: rest.get(1).copied().flatten(),
        updates_missing: outcome
            .updates_missing
            .as_ref()
            .map(|m| m.iter().map(|x| x.unsigned_abs()).sum()),
        verified: outcome.verified(point.pes),
    })
}
