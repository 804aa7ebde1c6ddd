//! `rserpool demo --fast` runs the whole story and reports every step.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far beyond the few seconds the fast demo takes: only a hang gets here.
const HANG: Duration = Duration::from_secs(180);

#[test]
fn the_fast_demo_shows_failover_takeover_and_resynchronisation() {
    let text = fast_demo(&[]);
    assert!(text.contains("127.0.0.1 (TCP)"), "{text}");
}

#[test]
fn the_fast_demo_runs_the_same_story_over_tls() {
    let text = fast_demo(&["--tls"]);
    assert!(text.contains("127.0.0.1 (TLS over TCP)"), "{text}");
    assert!(
        text.contains("TLS: scope CA and certificates made in"),
        "{text}"
    );
}

/// Runs `rserpool demo --fast EXTRA`, checks every step; its output.
fn fast_demo(extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args(["demo", "--fast"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo hung:\n{}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = reader.join().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "exit {status:?}\n{text}\n{stderr}");
    for step in [
        "every registrar sees the other two as peers",
        "registered",
        "killing PE",
        "failed over to PE",
        "cookie replayed",
        "got the session's cookie echo",
        "killing registrar",
        "took over PE",
        "new home",
        "restarted registrar",
        "synchronised from its peers",
        "all components stopped",
        "Summary",
    ] {
        assert!(text.contains(step), "no {step:?} in:\n{text}");
    }
    assert!(!text.contains("FAIL"), "{text}");
    for check in [
        "failover",
        "cookie",
        "takeover",
        "resolvable",
        "service",
        "resynchronisation",
    ] {
        assert!(
            text.contains(&format!("[ok  ] {check}: ")),
            "check {check} not passed:\n{text}"
        );
    }
    // Every step line carries a timestamp, in order.
    let stamps: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.split_once(" s]"))
        .map(|(t, _)| t.trim().parse().unwrap())
        .collect();
    assert!(stamps.len() >= 15, "{text}");
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{text}");
    text
}
