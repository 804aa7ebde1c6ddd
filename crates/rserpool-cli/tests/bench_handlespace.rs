//! `rserpool bench handlespace` end to end with tiny pools and short
//! measurements: the CSV's shape and that every requested cell is there.
//! Nothing here judges speed.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::process::Command;

const HEADER: &str = "impl,operation,policy,variant,pool_size,ops_per_sec,repetition";

/// The 17 (operation, policy, variant) rows of RSPLIB's CSV.
fn rsplib_cells() -> BTreeSet<(String, String, String)> {
    let mut cells = BTreeSet::new();
    let mut add = |o: &str, p: &str, v: &str| cells.insert((o.into(), p.into(), v.into()));
    add("regdereg", "RoundRobin", "-");
    add("regdereg", "Random", "-");
    add("rereg", "RoundRobin", "-");
    add("rereg", "Random", "-");
    add("rereg", "LeastUsed", "-");
    add("timer", "RoundRobin", "owned=0");
    add("timer", "RoundRobin", "owned=100");
    for p in ["RoundRobin", "Random", "LeastUsed"] {
        for h in 1..=3 {
            add("handleresolution", p, &format!("h={h}"));
        }
    }
    add("sync", "RoundRobin", "-");
    cells
}

fn rserpool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rserpool"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rserpool-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn every_requested_cell_has_a_positive_rate() {
    let out = rserpool()
        .args([
            "bench",
            "handlespace",
            "--sizes",
            "40,64",
            "--seconds",
            "0.05",
        ])
        .args(["--reps", "1", "--set", "btree,rbtree,treap", "--seed", "7"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let mut seen = BTreeSet::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f.len(), 7, "{line}");
        let rate: f64 = f[5].parse().unwrap();
        assert!(rate.is_finite() && rate > 0.0, "{line}");
        assert_eq!(f[6], "1", "{line}");
        let key = (f[0], f[1], f[2], f[3], f[4].parse::<usize>().unwrap());
        assert!(seen.insert(key), "duplicate row {line}");
    }
    for implementation in ["rserpool", "rserpool-rbtree", "rserpool-treap"] {
        for (o, p, v) in rsplib_cells() {
            for n in [40, 64] {
                assert!(
                    seen.contains(&(implementation, &o, &p, &v, n)),
                    "missing {implementation} {o} {p} {v} {n}"
                );
            }
        }
    }
    assert_eq!(seen.len(), 3 * 17 * 2);
    assert!(
        stderr.contains("[102/102]"),
        "progress goes to stderr: {stderr}"
    );
}

#[test]
fn output_file_then_compare_against_rsplib() {
    let dir = scratch("compare");
    let ours = dir.join("ours.csv");
    let status = rserpool()
        .args(["bench", "handlespace", "--sizes", "30", "--seconds", "0.02"])
        .args([
            "--reps",
            "3",
            "--ops",
            "sync,timer",
            "--set",
            "treap",
            "--output",
        ])
        .arg(&ours)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&ours).unwrap();
    // sync once, timer with owned=0 and owned=100; three repetitions each
    assert_eq!(text.lines().count(), 1 + 3 * 3, "{text}");
    assert!(
        text.lines()
            .skip(1)
            .all(|l| l.starts_with("rserpool-treap,"))
    );

    let rsplib = dir.join("rsplib.csv");
    std::fs::write(
        &rsplib,
        format!("{HEADER},ops,wall_s,cpu_s\nrsplib,sync,RoundRobin,-,30,10.0,1,20,2.0,2.0\n"),
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
    let timer = table.lines().find(|l| l.contains("owned=100")).unwrap();
    assert!(
        timer.ends_with('-'),
        "no RSPLIB figure for this cell: {timer}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_options_fail_with_a_message() {
    let out = rserpool()
        .args(["bench", "handlespace", "--sizes", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sizes"));
    let out = rserpool()
        .args(["bench", "handlespace", "--compare", "/nonexistent/x.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.csv"));
}
