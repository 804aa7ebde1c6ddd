//! `rserpool bench handlespace` end to end with tiny pools and short
//! measurements, through the library as the `rserpool` binary calls it: the
//! CSV's shape and that every requested cell is there. Nothing here judges
//! speed.
#![allow(clippy::unwrap_used)]

use clap::Parser;
use rserpool_bench::BenchCommand;
use std::collections::BTreeSet;

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

/// `rserpool bench` as the binary parses it.
#[derive(Debug, Parser)]
struct Bench {
    #[command(subcommand)]
    command: BenchCommand,
}

/// Runs `rserpool bench ARGS...` as the binary does; the error is the
/// message the binary prints before exiting with status 1.
fn bench(args: &[&str]) -> Result<(), String> {
    let cli = Bench::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    rserpool_bench::run(cli.command)
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rserpool-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_requested_cell_has_a_positive_rate() {
    let dir = scratch("cells");
    let csv = dir.join("cells.csv");
    bench(&[
        "handlespace",
        "--sizes",
        "40,64",
        "--duration",
        "50ms",
        "--reps",
        "1",
        "--set",
        "btree,rbtree,treap",
        "--seed",
        "7",
        "--output",
        path(&csv),
    ])
    .unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
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
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn output_file_then_compare_against_rsplib_and_plot() {
    let dir = scratch("compare");
    let ours = dir.join("ours.csv");
    bench(&[
        "handlespace",
        "--sizes",
        "30",
        "--duration",
        "20ms",
        "--reps",
        "3",
        "--ops",
        "sync,timer",
        "--set",
        "treap",
        "--output",
        path(&ours),
    ])
    .unwrap();
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
    let figs = dir.join("figs");
    bench(&[
        "handlespace",
        "--compare",
        path(&ours),
        "--rsplib",
        path(&rsplib),
        "--plot",
        path(&figs),
    ])
    .unwrap();
    for f in ["figure5.png", "figure5.svg", "figure6.png", "figure6.svg"] {
        assert!(figs.join(f).exists(), "{f} missing");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_options_fail_with_a_message() {
    let e = bench(&["handlespace", "--sizes", "0"]).unwrap_err();
    assert!(e.contains("--sizes"), "{e}");
    let e = bench(&["handlespace", "--compare", "/nonexistent/x.csv"]).unwrap_err();
    assert!(e.contains("/nonexistent/x.csv"), "{e}");
    let e = bench(&["handlespace", "--set", "skiplist"]).unwrap_err();
    assert!(e.contains("skiplist"), "{e}");
}
