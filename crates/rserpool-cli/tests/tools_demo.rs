//! `rserpool demo --fast` runs the whole story and reports every step.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

#[test]
fn the_fast_demo_shows_failover_takeover_and_resynchronisation() {
    let start = Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args(["demo", "--fast"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "every registrar sees the other two as peers",
        "registered",
        "killing PE",
        "failed over to PE",
        "cookie",
        "killing registrar",
        "took over",
        "restarted registrar",
        "synchronised",
        "all components stopped",
    ] {
        assert!(text.contains(step), "no {step:?} in:\n{text}");
    }
    assert!(!text.contains("FAIL"), "{text}");
    // Every narrated line carries a timestamp.
    let narrated: Vec<&str> = text.lines().filter(|l| l.starts_with("[ ")).collect();
    assert!(narrated.len() >= 10, "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
}
