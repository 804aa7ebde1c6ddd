//! `rserpool bench` through the binary. The scope benchmark end to end with
//! tiny numbers: real registrar processes on loopback, PEs and PUs from the
//! generator process (both started as this binary), and the CSV it writes.
//! The handlespace benchmark's streams: CSV on stdout, progress on stderr.
//! Nothing here judges speed: rates must only be positive, and every update
//! must have reached the peer registrar. (The handlespace benchmark's own
//! tests are in the rserpool-bench crate.)

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

fn rserpool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rserpool"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rserpool-scope-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The CSV as maps from column name to value.
fn rows(csv: &str) -> Vec<HashMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(header.starts_with(&["scenario", "mode", "transport", "registrars"]));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), header.len(), "{l}");
            header
                .iter()
                .zip(f)
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn num(row: &HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = {:?}", row[col]))
}

#[test]
fn two_registrars_on_loopback() {
    let dir = scratch("loopback");
    let csv = dir.join("scope.csv");
    let out = rserpool()
        .args(["bench", "scope", "--loopback", "--registrars", "2"])
        .args(["--pes", "20", "--rereg-interval", "200ms"])
        .args(["--pus", "5", "--resolve-interval", "200ms"])
        .args(["--duration", "2s", "--warmup", "500ms", "--reps", "1"])
        .arg("--output")
        .arg(&csv)
        .arg("--plot")
        .arg(dir.join("figs"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows = rows(&text);
    assert_eq!(rows.len(), 1, "{text}");
    let r = &rows[0];
    assert_eq!(r["mode"], "loopback");
    assert_eq!(r["registrars"], "2");
    assert_eq!(r["pes"], "20");
    assert!(num(r, "rereg_per_s") > 0.0, "{text}");
    assert!(num(r, "resolutions_per_s") > 0.0, "{text}");
    // 20 PEs every 200 ms offer 100/s
    assert_eq!(num(r, "offered_rereg_per_s"), 100.0);
    // only the window's requests count (a PE may land one tick more in it)
    assert!(num(r, "rereg_per_s") <= 100.0 * 1.2, "{text}");
    assert!(num(r, "reg_p99_ms") > 0.0);
    assert!(num(r, "cpu_pr1_pct") > 0.0, "{text}");
    assert!(num(r, "cpu_pr2_pct") >= 0.0, "{text}");
    assert!(num(r, "cpu_generator_pct") >= 0.0, "{text}");
    // The whole machine did at least what the first registrar did (up to
    // a clock tick, the two being read one after the other).
    assert!(
        num(r, "cpu_system_pct") >= num(r, "cpu_pr1_pct") * 0.8,
        "{text}"
    );
    // every accepted registration at PR 1 reached PR 2 as a Handle Update
    assert_eq!(r["updates_missing"], "0", "{text}");
    assert_eq!(r["verified"], "yes", "{text}");
    assert_eq!(r["errors"], "0", "{text}");
    for f in ["figure7.png", "figure7.svg", "figure8.png", "figure8.svg"] {
        assert!(dir.join("figs").join(f).exists(), "{f} missing");
    }

    // The CSV reads back for plotting only.
    let out = rserpool()
        .args(["bench", "scope", "--replot"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success());
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.lines().nth(1).unwrap().starts_with("2   20 "),
        "{summary}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A registrar started by hand, as a user would; killed on drop.
struct Registrar {
    child: Child,
    asap: String,
    enrp: String,
    metrics: String,
}

impl Registrar {
    fn start(id: u32, peer: Option<&str>) -> Registrar {
        let group = format!("239.0.0.51:{}", 50000 + std::process::id() % 10000);
        let mut cmd = rserpool();
        cmd.args(["registrar", "--identifier", &id.to_string()])
            .args(["--asap", "127.0.0.1:0", "--enrp", "127.0.0.1:0"])
            .args(["--metrics", "127.0.0.1:0", "--transport", "tcp"])
            .args(["--no-announce", "--enrp-announce-group", &group])
            .args(["--mentor-discovery-timeout", "300ms"]);
        if let Some(p) = peer {
            cmd.args(["--peer", p]);
        }
        let mut child = cmd
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut word = |prefix: &str| {
            let l = lines.next().unwrap().unwrap();
            assert!(l.starts_with(prefix), "{l}");
            l.rsplit(' ').next().unwrap().to_string()
        };
        let asap = word("ASAP");
        let enrp = word("ENRP");
        let metrics = word("metrics")
            .trim_start_matches("http://")
            .trim_end_matches("/metrics")
            .to_string();
        Registrar {
            child,
            asap,
            enrp,
            metrics,
        }
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn running_registrars_as_targets_with_resolutions_at_the_peer() {
    let pr1 = Registrar::start(1, None);
    let pr2 = Registrar::start(2, Some(&pr1.enrp));
    let pid1 = pr1.child.id().to_string();
    let out = rserpool()
        .args([
            "bench", "scope", "--target", &pr1.asap, "--target", &pr2.asap,
        ])
        .args(["--target-pid", &pid1])
        .args([
            "--target-metrics",
            &pr1.metrics,
            "--target-metrics",
            &pr2.metrics,
        ])
        .args([
            "--pes",
            "10",
            "--rereg-interval",
            "250ms",
            "--policy",
            "least-used",
        ])
        .args([
            "--pus",
            "4",
            "--resolve-interval",
            "100ms",
            "--pu-registrar",
            "2",
        ])
        .args(["--duration", "1500ms", "--warmup", "500ms", "--reps", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    let rows = rows(&text);
    let r = &rows[0];
    assert_eq!(r["mode"], "target");
    assert_eq!(r["policy"], "LeastUsed");
    assert_eq!(r["pu_registrar"], "2");
    assert!(num(r, "rereg_per_s") > 0.0, "{text}");
    // PR 2 resolves the pool it only knows through ENRP
    assert!(num(r, "resolutions_per_s") > 0.0, "{text}");
    assert!(num(r, "cpu_pr1_pct") >= 0.0, "{text}");
    // no PID given for PR 2: its load is unknown, not zero
    assert_eq!(r["cpu_pr2_pct"], "", "{text}");
    assert_eq!(r["verified"], "yes", "{text}");
}

#[test]
fn nonsense_is_refused_before_anything_starts() {
    let out = rserpool()
        .args(["bench", "scope", "--registrars", "1", "--pu-registrar", "2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pu-registrar 2"));
}

#[test]
fn handlespace_csv_on_stdout_progress_and_comparison_on_stderr() {
    let out = rserpool()
        .args([
            "bench",
            "handlespace",
            "--sizes",
            "30",
            "--duration",
            "20ms",
        ])
        .args(["--reps", "1", "--ops", "sync", "--set", "btree,treap"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "impl,operation,policy,variant,pool_size,ops_per_sec,repetition"
    );
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[1].starts_with("rserpool,sync,RoundRobin,-,30,"),
        "{stdout}"
    );
    assert!(lines[2].starts_with("rserpool-treap,sync,"), "{stdout}");
    assert!(
        stderr.contains("[2/2]"),
        "progress goes to stderr: {stderr}"
    );

    // --compare reads that CSV back; the table against RSPLIB's goes to stdout.
    let dir = scratch("handlespace");
    let ours = dir.join("ours.csv");
    std::fs::write(&ours, &stdout).unwrap();
    let rsplib = dir.join("rsplib.csv");
    std::fs::write(
        &rsplib,
        format!(
            "{},ops,wall_s,cpu_s\nrsplib,sync,RoundRobin,-,30,10.0,1,20,2.0,2.0\n",
            lines[0]
        ),
    )
    .unwrap();
    let out = rserpool()
        .args(["bench", "handlespace", "--compare"])
        .arg(&ours)
        .arg("--rsplib")
        .arg(&rsplib)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    let sync = table.lines().find(|l| l.contains(" sync ")).unwrap();
    // RSPLIB's 10 traversals a second at N = 30: ours are far above, ratio > 1
    let ratio: f64 = sync.split_whitespace().last().unwrap().parse().unwrap();
    assert!(ratio > 1.0, "{sync}");

    // A bad option: status 1 and the flag named on stderr.
    let out = rserpool()
        .args(["bench", "handlespace", "--sizes", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sizes"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Rows of the sync/takeover CSV as (metric, value), checking the header
/// and that every row is of `scenario` and `pes`.
fn scale_rows(csv: &str, scenario: &str, pes: &str) -> HashMap<String, f64> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("scenario,pes,repetition,metric,value"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 5, "{l}");
            assert_eq!((f[0], f[1], f[2]), (scenario, pes, "1"), "{l}");
            (f[3].to_string(), f[4].parse::<f64>().unwrap())
        })
        .collect()
}

#[test]
fn scope_sync_new_registrars_pull_the_generators_handlespace() {
    let dir = scratch("sync");
    let csv = dir.join("sync.csv");
    let out = rserpool()
        .args(["bench", "scope", "--scenario", "sync", "--sizes", "300"])
        .args(["--reps", "1", "--output"])
        .arg(&csv)
        .arg("--plot")
        .arg(dir.join("figs"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let m = scale_rows(&text, "sync", "300");
    assert!(m["sync_from_generator_s"] > 0.0, "{text}");
    assert!(m["sync_s"] > 0.0, "{text}");
    // 300 PEs in blocks of at most 128: at least three requests
    assert!(m["pr2_table_requests"] >= 3.0, "{text}");
    for pr in [1, 2] {
        assert!(m[&format!("pr{pr}_rss_mb")] > 0.0, "{text}");
        assert!(
            m[&format!("pr{pr}_hwm_mb")] >= m[&format!("pr{pr}_rss_mb")],
            "{text}"
        );
    }
    assert!(dir.join("figs").join("scale.png").exists());
    assert!(stderr.contains("sync sync_s"), "the summary: {stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scope_takeover_survivors_rehome_every_pe_of_the_failed_peer() {
    let out = rserpool()
        .args(["bench", "scope", "--scenario", "takeover", "--sizes", "300"])
        .args(["--reps", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    let m = scale_rows(&text, "takeover", "300");
    // One of the two survivors takes over (the lower ID, unless the other
    // asked first and was acknowledged).
    assert!([1.0, 2.0].contains(&m["generator_taker"]), "{text}");
    // Declared dead after --max-time-no-response (500 ms), not before.
    assert!(m["generator_detect_s"] >= 0.4, "{text}");
    assert!(m["generator_notice_s"] <= m["generator_detect_s"], "{text}");
    assert!(m["generator_takeover_s"] >= 0.0, "{text}");
    // The taker's keep-alives reach the PEs only after the peer was
    // declared dead.
    assert!(m["generator_keepalives_s"] >= 0.4, "{text}");
    assert!(m.contains_key("pr2_rss_mb"), "{text}");
}
