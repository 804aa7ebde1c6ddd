//! `--scenario sync` and `--scenario takeover`: a scope's handlespace of N
//! PEs, fed by ENRP from a generator peer ([`Feeder`]), held by real
//! `rserpool registrar` processes on loopback.
//!
//! sync: registrar 1 starts with the feeder as its peer and pulls the N
//! PEs by Handle Table Request/Response in blocks; then registrar 2
//! starts with registrar 1 as its only peer and pulls them from it. Each
//! time runs from the process start until its metrics count N PEs.
//!
//! takeover: K registrars (default 2) peered with each other and with the
//! feeder hold its N PEs; the feeder fails (its associations reset). Each
//! survivor notices when its association closes and declares the peer
//! dead after `--max-time-no-response` (500 ms here); the lowest ID's
//! Init Takeover, the others' Acks and its Takeover Server make it the
//! home. Measured: failure to every survivor noticing (its count of ENRP
//! associations drops), failure to the first Init Takeover (detection), then detection
//! to every survivor showing the new home for all N (the taker homing N,
//! each other survivor counting N PEs at the taker), and failure to the
//! last of the taker's N Endpoint Keep-Alives (H flag, each PE counted
//! once) reaching the PEs' host. With
//! three or more registrars the taker is then killed (SIGKILL) and the
//! same is measured among the rest.
//!
//! Each registrar's resident memory (VmRSS, VmHWM) and CPU time come from
//! /proc. Results are long CSV rows `scenario,pes,repetition,metric,value`.

use super::cpu::{self, CpuTicks};
use super::feeder::Feeder;
use super::fleet;
use crate::stats::median;
use plotters::prelude::*;
use rserpool_proto::wire::ServerId;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The CSV header of these scenarios.
pub const HEADER: &str = "scenario,pes,repetition,metric,value";
/// The feeder's server ID (registrars are 1..=K).
const FEEDER_ID: u32 = 1000;
/// How often the registrars' state is read while waiting.
const POLL: Duration = Duration::from_millis(5);
/// How a peer's death is noticed: this long after its association closed.
const NO_RESPONSE: &str = "500ms";

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub scenario: String,
    pub pes: usize,
    pub repetition: u32,
    pub metric: String,
    pub value: f64,
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{},{},{},{},{}",
            self.scenario, self.pes, self.repetition, self.metric, self.value
        )
    }
}

/// Parses rows written with [`HEADER`].
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(format!("not a sync/takeover CSV (header {HEADER})"));
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let f: Vec<&str> = l.split(',').collect();
            let bad = || format!("line {}: {l}", i + 2);
            if f.len() != 5 {
                return Err(bad());
            }
            Ok(Sample {
                scenario: f[0].to_string(),
                pes: f[1].parse().map_err(|_| bad())?,
                repetition: f[2].parse().map_err(|_| bad())?,
                metric: f[3].to_string(),
                value: f[4].parse().map_err(|_| bad())?,
            })
        })
        .collect()
}

/// What a run of these scenarios needs.
#[derive(Debug)]
pub struct Plan {
    /// `true` for takeover, `false` for sync.
    pub takeover: bool,
    pub sizes: Vec<usize>,
    pub reps: u32,
    /// Registrars of a takeover run.
    pub registrars: usize,
    pub logdir: PathBuf,
}

/// A registrar process of a run; killed on drop.
#[derive(Debug)]
struct Pr {
    id: u32,
    child: Child,
    enrp: SocketAddr,
    http: SocketAddr,
}

impl Drop for Pr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pr {
    fn start(id: u32, peers: &[SocketAddr], logdir: &Path) -> Result<Pr, String> {
        let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
        let group_port = 20000 + (std::process::id() % 30000);
        let mut cmd = Command::new(exe);
        cmd.args(["registrar", "--identifier", &id.to_string()])
            .args(["--asap", "127.0.0.1:0", "--enrp", "127.0.0.1:0"])
            .args(["--metrics", "127.0.0.1:0", "--transport", "tcp"])
            .args(["--no-announce", "--enrp-announce-group"])
            .arg(format!("239.0.0.51:{group_port}"))
            .args(["--mentor-discovery-timeout", "500ms"])
            .args(["--max-time-no-response", NO_RESPONSE]);
        for p in peers {
            cmd.args(["--peer", &p.to_string()]);
        }
        let log = logdir.join(format!("pr{id}.log"));
        let (child, (_, enrp, http)) = fleet::spawn(cmd, &log, id as usize)?;
        Ok(Pr {
            id,
            child,
            enrp,
            http,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn metrics(&self) -> Result<String, String> {
        http_get(self.http, "/metrics")
    }

    /// (pool elements, owned pool elements, INIT_TAKEOVERs sent, open ENRP
    /// associations).
    fn counts(&self) -> Result<(f64, f64, f64, f64), String> {
        let text = self.metrics()?;
        let g = |n| super::promtext::sample(&text, n, &[]).unwrap_or(0.0);
        let it = super::promtext::sample(
            &text,
            "rserpool_enrp_messages_total",
            &[("type", "INIT_TAKEOVER"), ("direction", "out")],
        )
        .unwrap_or(0.0);
        Ok((
            g("rserpool_pool_elements"),
            g("rserpool_owned_pool_elements"),
            it,
            g("rserpool_enrp_associations"),
        ))
    }

    /// PEs homed at `home` as this registrar sees them (its own when
    /// `home` is itself), from its HTTP API.
    fn homed_at(&self, home: u32) -> Result<u64, String> {
        let text = http_get(self.http, "/api/v1/scope")?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("/api/v1/scope: {e}"))?;
        if home == self.id {
            return Ok(v["registrar"]["owned_pool_elements"].as_u64().unwrap_or(0));
        }
        Ok(v["peers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["id"].as_u64() == Some(u64::from(home)))
            .and_then(|p| p["pool_elements"].as_u64())
            .unwrap_or(0))
    }
}

/// A GET over HTTP/1.0 (the connection closes after the answer); the body.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let err = |e: std::io::Error| format!("GET http://{addr}{path}: {e}");
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(err)?;
    // One write: `write!` would send the request in pieces.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    s.write_all(request.as_bytes()).map_err(err)?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(err)?;
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            Ok(body.to_string())
        }
        _ => Err(format!(
            "GET http://{addr}{path}: {}",
            text.lines().next().unwrap_or("no answer")
        )),
    }
}

/// Resident and peak resident memory of a process, in MB.
fn memory_mb(pid: u32) -> (f64, f64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

/// CPU seconds between two samples.
fn cpu_s(a: Option<CpuTicks>, b: Option<CpuTicks>) -> f64 {
    match (a, b) {
        (Some(a), Some(b)) => {
            cpu::utilisation(a, b, Duration::from_secs(1)).map_or(f64::NAN, |pct| pct / 100.0)
        }
        _ => f64::NAN,
    }
}

/// Waits until `done` says yes; the error names what did not happen.
fn wait_for(
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> Result<bool, String>,
) -> Result<Instant, String> {
    let start = Instant::now();
    loop {
        if done()? {
            return Ok(Instant::now());
        }
        if start.elapsed() > limit {
            return Err(format!("{what}: not within {} s", limit.as_secs()));
        }
        std::thread::sleep(POLL);
    }
}

/// A generous bound for anything that moves N PEs.
fn limit_for(n: usize) -> Duration {
    Duration::from_secs(60 + (n / 5_000) as u64)
}

/// Records the samples of one run and prints them.
struct Recorder<'a> {
    scenario: &'static str,
    pes: usize,
    repetition: u32,
    out: &'a mut dyn Write,
    all: &'a mut Vec<Sample>,
}

impl Recorder<'_> {
    fn put(&mut self, metric: &str, value: f64) -> Result<(), String> {
        let s = Sample {
            scenario: self.scenario.into(),
            pes: self.pes,
            repetition: self.repetition,
            metric: metric.into(),
            value,
        };
        writeln!(self.out, "{s}").map_err(|e| format!("writing the CSV: {e}"))?;
        self.out
            .flush()
            .map_err(|e| format!("writing the CSV: {e}"))?;
        self.all.push(s);
        Ok(())
    }

    fn memory(&mut self, pr: &Pr) -> Result<(), String> {
        let (rss, hwm) = memory_mb(pr.pid());
        self.put(&format!("pr{}_rss_mb", pr.id), rss)?;
        self.put(&format!("pr{}_hwm_mb", pr.id), hwm)
    }
}

/// Runs the plan; writes rows to `out` and returns them.
pub fn run(plan: &Plan, out: &mut dyn Write) -> Result<Vec<Sample>, String> {
    writeln!(out, "{HEADER}").map_err(|e| format!("writing the CSV: {e}"))?;
    let mut all = Vec::new();
    let scenario = if plan.takeover { "takeover" } else { "sync" };
    for &n in &plan.sizes {
        for repetition in 1..=plan.reps {
            let mut rec = Recorder {
                scenario,
                pes: n,
                repetition,
                out: &mut *out,
                all: &mut all,
            };
            let first = all_len(&rec);
            let result = if plan.takeover {
                takeover(plan, n, &mut rec)
            } else {
                sync(plan, n, &mut rec)
            };
            result.map_err(|e| format!("{scenario} N={n} rep {repetition}: {e}"))?;
            let got: Vec<String> = rec.all[first..]
                .iter()
                .filter(|s| s.metric.ends_with("_s"))
                .map(|s| format!("{} {:.3}", s.metric, s.value))
                .collect();
            eprintln!("{scenario} N={n} rep {repetition}: {}", got.join(", "));
        }
    }
    Ok(all)
}

fn all_len(rec: &Recorder<'_>) -> usize {
    rec.all.len()
}

/// Registrar 1 from the feeder, then registrar 2 from registrar 1.
fn sync(plan: &Plan, n: usize, rec: &mut Recorder<'_>) -> Result<(), String> {
    let feeder = Feeder::start(ServerId(FEEDER_ID), n, 1)?;
    let t0 = Instant::now();
    let pr1 = Pr::start(1, &[feeder.enrp], &plan.logdir)?;
    let t1 = wait_for("registrar 1 holding every PE", limit_for(n), || {
        pr1.counts().map(|c| c.0 as usize >= n)
    })?;
    let c1_synced = cpu::read_ticks(pr1.pid()).ok();
    rec.put("sync_from_generator_s", (t1 - t0).as_secs_f64())?;
    rec.put("pr1_sync_cpu_s", cpu_s(Some(CpuTicks(0)), c1_synced))?;

    let t2 = Instant::now();
    let pr2 = Pr::start(2, &[pr1.enrp], &plan.logdir)?;
    let t3 = wait_for("registrar 2 holding every PE", limit_for(n), || {
        pr2.counts().map(|c| c.0 as usize >= n)
    })?;
    let c2 = cpu::read_ticks(pr2.pid()).ok();
    let c1 = cpu::read_ticks(pr1.pid()).ok();
    rec.put("sync_s", (t3 - t2).as_secs_f64())?;
    rec.put("pr2_sync_cpu_s", cpu_s(Some(CpuTicks(0)), c2))?;
    rec.put("pr1_serving_cpu_s", cpu_s(c1_synced, c1))?;
    let text = pr2.metrics()?;
    let requests = super::promtext::sample(
        &text,
        "rserpool_enrp_messages_total",
        &[("type", "HANDLE_TABLE_REQUEST"), ("direction", "out")],
    )
    .unwrap_or(f64::NAN);
    rec.put("pr2_table_requests", requests)?;
    rec.memory(&pr1)?;
    rec.memory(&pr2)
}

/// The feeder fails, then (with three or more registrars) the taker.
fn takeover(plan: &Plan, n: usize, rec: &mut Recorder<'_>) -> Result<(), String> {
    let k = plan.registrars;
    let feeder = Feeder::start(ServerId(FEEDER_ID), n, 1)?;
    let mut prs: Vec<Pr> = Vec::new();
    for id in 1..=k as u32 {
        let mut peers = vec![feeder.enrp];
        peers.extend(prs.iter().map(|p| p.enrp));
        prs.push(Pr::start(id, &peers, &plan.logdir)?);
    }
    for pr in &prs {
        wait_for(
            &format!("registrar {} holding every PE", pr.id),
            limit_for(n),
            || Ok(pr.homed_at(FEEDER_ID)? as usize >= n),
        )?;
    }
    // Every registrar must know every other before one fails.
    for pr in &prs {
        wait_for(
            &format!("registrar {} peered with all", pr.id),
            Duration::from_secs(30),
            || {
                let text = pr.metrics()?;
                let peers = super::promtext::sample(&text, "rserpool_peers", &[]).unwrap_or(0.0);
                Ok(peers as usize >= k)
            },
        )?;
    }
    for pr in &prs {
        rec.memory(pr)?;
    }

    let fail_feeder = || {
        feeder.fail();
        Ok(())
    };
    let (taker, failed_at) = measure_takeover(&prs, FEEDER_ID, n, fail_feeder, "generator", rec)?;
    keep_alives(&feeder, taker, n, failed_at, "generator", rec)?;
    if k < 3 {
        return Ok(());
    }
    // Then the taker, a registrar process, is killed.
    let pos = prs.iter().position(|p| p.id == taker).ok_or("no taker")?;
    let mut dead = prs.remove(pos);
    let kill = || {
        dead.child
            .kill()
            .map_err(|e| format!("killing registrar {taker}: {e}"))?;
        let _ = dead.child.wait();
        Ok(())
    };
    let (second, failed_at) = measure_takeover(&prs, taker, n, kill, "registrar", rec)?;
    keep_alives(&feeder, second, n, failed_at, "registrar", rec)?;
    for pr in &prs {
        rec.memory(pr)?;
    }
    Ok(())
}

/// Fails `failed` by `fail`, then waits for every survivor to show one of
/// them as the home of all N; returns the taker and the failure's time.
fn measure_takeover(
    survivors: &[Pr],
    failed: u32,
    n: usize,
    fail: impl FnOnce() -> Result<(), String>,
    phase: &str,
    rec: &mut Recorder<'_>,
) -> Result<(u32, Instant), String> {
    let before: Vec<(f64, f64)> = survivors
        .iter()
        .map(|p| p.counts().map(|c| (c.2, c.3)))
        .collect::<Result<_, _>>()?;
    let ticks_before: Vec<Option<CpuTicks>> = survivors
        .iter()
        .map(|p| cpu::read_ticks(p.pid()).ok())
        .collect();
    let failed_at = Instant::now();
    fail()?;
    let mut detected = None;
    let mut noticed = vec![None; survivors.len()];
    let mut taker = None;
    let done = wait_for(
        &format!("the takeover of registrar {failed}'s PEs"),
        limit_for(n),
        || {
            for ((p, (sent0, peers0)), seen) in survivors.iter().zip(&before).zip(&mut noticed) {
                let (_, owned, sent, peers) = p.counts()?;
                if detected.is_none() && sent > *sent0 {
                    detected = Some(Instant::now());
                }
                if seen.is_none() && peers < *peers0 {
                    *seen = Some(Instant::now());
                }
                if owned as usize >= n {
                    taker = Some(p.id);
                }
            }
            let Some(t) = taker else { return Ok(false) };
            for p in survivors {
                if (p.homed_at(t)? as usize) < n {
                    return Ok(false);
                }
            }
            Ok(true)
        },
    )?;
    let taker = taker.ok_or("no taker")?;
    // A takeover faster than one poll: detected when seen done.
    let detected = detected.unwrap_or(done);
    let noticed = noticed.into_iter().map(|t| t.unwrap_or(detected)).max();
    if let Some(t) = noticed {
        rec.put(
            &format!("{phase}_notice_s"),
            t.saturating_duration_since(failed_at).as_secs_f64(),
        )?;
    }
    rec.put(
        &format!("{phase}_detect_s"),
        (detected - failed_at).as_secs_f64(),
    )?;
    rec.put(
        &format!("{phase}_takeover_s"),
        (done - detected).as_secs_f64(),
    )?;
    for (p, t) in survivors.iter().zip(ticks_before) {
        let now = cpu::read_ticks(p.pid()).ok();
        rec.put(&format!("{phase}_pr{}_cpu_s", p.id), cpu_s(t, now))?;
    }
    rec.put(&format!("{phase}_taker"), f64::from(taker))?;
    Ok((taker, failed_at))
}

/// Waits for the taker's Keep-Alives (H flag) to reach all N PEs at
/// their host; the time is that of the last PE's first one.
fn keep_alives(
    feeder: &Feeder,
    taker: u32,
    n: usize,
    failed_at: Instant,
    phase: &str,
    rec: &mut Recorder<'_>,
) -> Result<(), String> {
    let ka = &feeder.keep_alives;
    let taker = ServerId(taker);
    wait_for("the taker's keep-alives to every PE", limit_for(n), || {
        Ok(ka.reached_by(taker).0 >= n as u64)
    })?;
    let last = feeder.started + Duration::from_micros(ka.reached_by(taker).1);
    rec.put(
        &format!("{phase}_keepalives_s"),
        last.saturating_duration_since(failed_at).as_secs_f64(),
    )
}

/// The medians per N of each metric, as a text table.
pub fn summary(samples: &[Sample]) -> String {
    let mut by: BTreeMap<(&str, &str), BTreeMap<usize, Vec<f64>>> = BTreeMap::new();
    for s in samples {
        by.entry((&s.scenario, &s.metric))
            .or_default()
            .entry(s.pes)
            .or_default()
            .push(s.value);
    }
    let sizes: Vec<usize> = {
        let mut v: Vec<usize> = samples.iter().map(|s| s.pes).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut out = format!("{:<36}", "median of the repetitions");
    for n in &sizes {
        out += &format!(" {:>12}", format!("N={n}"));
    }
    out.push('\n');
    for ((scenario, metric), per_n) in &by {
        out += &format!("{:<36}", format!("{scenario} {metric}"));
        for n in &sizes {
            let cell = per_n
                .get(n)
                .and_then(|v| median(v))
                .map_or("-".to_string(), |m| format!("{m:.3}"));
            out += &format!(" {cell:>12}");
        }
        out.push('\n');
    }
    out
}

/// The lines of the figure: (metric, label).
const LINES: [(&str, &str); 6] = [
    ("sync_s", "sync: new registrar from a registrar"),
    (
        "sync_from_generator_s",
        "sync: new registrar from the generator peer",
    ),
    (
        "generator_takeover_s",
        "takeover (generator peer failed): detection to all survivors",
    ),
    (
        "generator_keepalives_s",
        "takeover (generator peer failed): failure to last keep-alive",
    ),
    (
        "registrar_takeover_s",
        "takeover (registrar killed): detection to all survivors",
    ),
    (
        "registrar_keepalives_s",
        "takeover (registrar killed): failure to last keep-alive",
    ),
];

/// Writes `scale.png` and `scale.svg` into `dir`: seconds against N.
pub fn plot(samples: &[Sample], dir: &Path) -> Result<Vec<PathBuf>, String> {
    crate::plot::ensure_font()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let svg = dir.join("scale.svg");
    draw(
        SVGBackend::new(&svg, (1200, 800)).into_drawing_area(),
        samples,
    )
    .map_err(|e| format!("{}: {e}", svg.display()))?;
    let png = dir.join("scale.png");
    draw(
        BitMapBackend::new(&png, (1200, 800)).into_drawing_area(),
        samples,
    )
    .map_err(|e| format!("{}: {e}", png.display()))?;
    Ok(vec![svg, png])
}

/// (N, median) per line that has data.
fn series(samples: &[Sample]) -> Vec<(&'static str, Vec<(f64, f64)>)> {
    LINES
        .iter()
        .filter_map(|(metric, label)| {
            let mut per_n: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
            for s in samples.iter().filter(|s| s.metric == *metric) {
                per_n.entry(s.pes).or_default().push(s.value);
            }
            let points: Vec<(f64, f64)> = per_n
                .into_iter()
                .filter_map(|(n, v)| median(&v).map(|m| (n as f64, m.max(1e-4))))
                .collect();
            (!points.is_empty()).then_some((*label, points))
        })
        .collect()
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    samples: &[Sample],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let lines = series(samples);
    let pts = lines.iter().flat_map(|l| l.1.iter());
    let x_max = pts.clone().map(|p| p.0).fold(1000.0, f64::max) * 1.5;
    let x_min = pts
        .clone()
        .map(|p| p.0)
        .fold(f64::INFINITY, f64::min)
        .min(1000.0)
        / 1.5;
    let y_max = pts.clone().map(|p| p.1).fold(1.0, f64::max) * 2.0;
    let y_min = pts.map(|p| p.1).fold(f64::INFINITY, f64::min).min(0.01) / 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Handlespace synchronisation and takeover across a scope (loopback, TCP)",
            ("sans-serif", 22),
        )
        .margin(16)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((x_min..x_max).log_scale(), (y_min..y_max).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("PEs in the handlespace (N)")
        .y_desc("seconds")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, (label, points)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 13))
            .margin(8)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample(metric: &str, pes: usize, rep: u32, value: f64) -> Sample {
        Sample {
            scenario: "sync".into(),
            pes,
            repetition: rep,
            metric: metric.into(),
            value,
        }
    }

    #[test]
    fn rows_read_back_as_written() {
        let rows = vec![
            sample("sync_s", 1000, 1, 0.25),
            sample("pr1_rss_mb", 1000, 1, 12.5),
        ];
        let text = std::iter::once(HEADER.to_string())
            .chain(rows.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(parse(&text).unwrap(), rows);
        assert!(parse("scenario,mode\n").is_err());
        assert!(
            parse(&format!("{HEADER}\nsync,x,1,sync_s,1"))
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn medians_per_size_in_the_summary_and_the_figure() {
        let rows = vec![
            sample("sync_s", 1000, 1, 0.1),
            sample("sync_s", 1000, 2, 0.3),
            sample("sync_s", 1000, 3, 0.2),
            sample("sync_s", 10_000, 1, 2.0),
        ];
        let table = summary(&rows);
        let line = table
            .lines()
            .find(|l| l.starts_with("sync sync_s"))
            .unwrap();
        assert!(line.contains("0.200") && line.contains("2.000"), "{table}");
        let s = series(&rows);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].1, vec![(1000.0, 0.2), (10_000.0, 2.0)]);
    }

    #[test]
    fn http_status_other_than_200_is_an_error() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            // Read the whole request head before answering and closing.
            let mut head = Vec::new();
            let mut buf = [0u8; 256];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy")
                .unwrap();
        });
        let e = http_get(addr, "/api/v1/scope").unwrap_err();
        assert!(e.contains("503"), "{e}");
        server.join().unwrap();
    }
}
