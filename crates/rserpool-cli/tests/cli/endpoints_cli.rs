//! `rserpool registrar`, `rserpool pe` and `rserpool pu` as processes on
//! loopback TCP: a line typed into the pool user comes back from an echo
//! pool element, and the pool element stops gracefully on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_rserpool");

/// Kills the process when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Proc {
    Proc(
        Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// Stdout lines, read by a thread so that waits can time out.
fn lines(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn line_where(rx: &mpsc::Receiver<String>, f: impl Fn(&str) -> bool) -> String {
    loop {
        let l = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("no such output line in time");
        if f(&l) {
            return l;
        }
    }
}

#[test]
fn a_line_typed_into_pu_comes_back_from_an_echo_pe() {
    let mut pr = spawn(&[
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
        "--no-announce",
        "--transport",
        "tcp",
    ]);
    let pr_out = lines(pr.0.stdout.take().unwrap());
    let asap = line_where(&pr_out, |l| l.starts_with("ASAP "))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();

    let mut pe = spawn(&[
        "pe",
        "--pool",
        "cli-echo",
        "--service",
        "echo",
        "--registrar",
        &asap,
        "--transport",
        "tcp",
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
    ]);
    let pe_out = lines(pe.0.stdout.take().unwrap());
    assert!(line_where(&pe_out, |l| l.starts_with("PE ")).contains(" data 127.0.0.1:"));

    let mut pu = spawn(&[
        "pu",
        "--pool",
        "cli-echo",
        "--registrar",
        &asap,
        "--transport",
        "tcp",
    ]);
    let pu_out = lines(pu.0.stdout.take().unwrap());
    let mut stdin = pu.0.stdin.take().unwrap();
    writeln!(stdin, "hello pool").unwrap();
    stdin.flush().unwrap();
    assert_eq!(line_where(&pu_out, |_| true), "hello pool");
    writeln!(stdin, "second line").unwrap();
    stdin.flush().unwrap();
    assert_eq!(line_where(&pu_out, |_| true), "second line");
    // End of input: the pool user closes its session and exits.
    drop(stdin);
    let status = wait(&mut pu.0, Duration::from_secs(10));
    assert!(status.success(), "pu: {status:?}");

    // SIGTERM: the pool element deregisters and exits cleanly.
    let term = Command::new("kill")
        .args(["-TERM", &pe.0.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = wait(&mut pe.0, Duration::from_secs(10));
    assert!(status.success(), "pe: {status:?}");
}

/// Runs `rserpool ARGS` to completion; its stdout.
fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "rserpool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_scope_made_with_rserpool_tls_carries_a_line_over_tls() {
    let dir = std::env::temp_dir().join(format!("rserpool-cli-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    run(&["tls", "ca", "create", "--dir", d]);
    run(&["tls", "cert", "create", "--dir", d, "--registrar", "0x11"]);
    run(&[
        "tls", "cert", "create", "--dir", d, "--pe", "cli-tls", "--name", "pe1",
    ]);
    // A CA is never overwritten.
    let again = Command::new(BIN)
        .args(["tls", "ca", "create", "--dir", d])
        .output()
        .unwrap();
    assert!(!again.status.success());
    let file = |name: &str| dir.join(name).to_str().unwrap().to_string();

    let mut pr = spawn(&[
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
        "--no-announce",
        "--identifier",
        "0x11",
        "--tls-ca",
        &file("ca.pem"),
        "--tls-cert",
        &file("registrar-00000011.pem"),
        "--tls-key",
        &file("registrar-00000011-key.pem"),
    ]);
    let pr_out = lines(pr.0.stdout.take().unwrap());
    let line = line_where(&pr_out, |l| l.starts_with("ASAP "));
    assert!(line.starts_with("ASAP tls "), "{line}");
    let asap = line.rsplit(' ').next().unwrap().to_string();

    let mut pe = spawn(&[
        "pe",
        "--pool",
        "cli-tls",
        "--registrar",
        &asap,
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--tls-ca",
        &file("ca.pem"),
        "--tls-cert",
        &file("pe1.pem"),
        "--tls-key",
        &file("pe1-key.pem"),
        "--tls-data",
    ]);
    let pe_out = lines(pe.0.stdout.take().unwrap());
    line_where(&pe_out, |l| l.starts_with("PE "));

    let mut pu = spawn(&[
        "pu",
        "--pool",
        "cli-tls",
        "--registrar",
        &asap,
        "--tls-ca",
        &file("ca.pem"),
        "--tls-data",
    ]);
    let pu_out = lines(pu.0.stdout.take().unwrap());
    let mut stdin = pu.0.stdin.take().unwrap();
    writeln!(stdin, "hello over tls").unwrap();
    stdin.flush().unwrap();
    assert_eq!(line_where(&pu_out, |_| true), "hello over tls");
    drop(stdin);
    let status = wait(&mut pu.0, Duration::from_secs(10));
    assert!(status.success(), "pu: {status:?}");
    drop(pe);
    drop(pr);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn wait(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(std::time::Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn resolve_prints_the_pools_pes_and_fails_on_an_unknown_pool() {
    let mut pr = spawn(&[
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
        "--no-announce",
        "--transport",
        "tcp",
    ]);
    let pr_out = lines(pr.0.stdout.take().unwrap());
    let asap = line_where(&pr_out, |l| l.starts_with("ASAP "))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let mut pe = spawn(&[
        "pe",
        "--pool",
        "cli-resolve",
        "--registrar",
        &asap,
        "--transport",
        "tcp",
        "--listen",
        "127.0.0.1:0",
    ]);
    let pe_out = lines(pe.0.stdout.take().unwrap());
    let pe_line = line_where(&pe_out, |l| l.starts_with("PE "));
    let pe_id = pe_line.split(' ').nth(1).unwrap().to_string();
    let resolve = |pool: &str| {
        Command::new(BIN)
            .args(["resolve", "--pool", pool, "--registrar", &asap])
            .args(["--transport", "tcp", "--timeout", "5s"])
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    // The registration may still be on its way: ask until it is there.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = resolve("cli-resolve");
        if out.status.success() || std::time::Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.starts_with(&format!("PE {pe_id} ")),
        "{stdout:?} should name {pe_id}"
    );
    let unknown = resolve("no-such-pool");
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("Unknown Pool Handle"), "{stderr:?}");
    assert!(
        !stderr.contains("OperationError"),
        "no Debug text: {stderr:?}"
    );
}

/// Runs `rserpool pu` with `input` on stdin; (exit code, stdout, stderr).
fn pu_with_input(args: &[&str], input: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(BIN)
        .arg("pu")
        .args(args)
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn pu_fails_with_one_sentence_when_nothing_can_be_reached() {
    // No registrar at all.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (code, out, err) = pu_with_input(
        &[
            "--pool",
            "p",
            "--registrar",
            &free,
            "--transport",
            "tcp",
            "--reply-timeout",
            "1500ms",
        ],
        "hello\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("1 line(s) not delivered"), "{err}");
    assert!(
        !err.contains("Error {") && !err.contains("Resolution("),
        "no Debug text: {err}"
    );

    // A registrar that does not know the pool: said once, not at every retry.
    let mut pr = spawn(&[
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
        "--no-announce",
        "--transport",
        "tcp",
    ]);
    let pr_out = lines(pr.0.stdout.take().unwrap());
    let asap = line_where(&pr_out, |l| l.starts_with("ASAP "))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let (code, _, err) = pu_with_input(
        &[
            "--pool",
            "nope",
            "--registrar",
            &asap,
            "--transport",
            "tcp",
            "--reply-timeout",
            "2500ms",
        ],
        "hello\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        err.matches("Unknown Pool Handle; still trying").count(),
        1,
        "{err}"
    );
    assert!(!err.contains("OperationError"), "no Debug text: {err}");
}

#[test]
fn pu_waits_for_a_slow_answer_after_end_of_input() {
    let mut pr = spawn(&[
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
        "--no-announce",
        "--transport",
        "tcp",
    ]);
    let pr_out = lines(pr.0.stdout.take().unwrap());
    let asap = line_where(&pr_out, |l| l.starts_with("ASAP "))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let mut pe = spawn(&[
        "pe",
        "--pool",
        "slow",
        "--service",
        "compute",
        "--compute-step",
        "100ms",
        "--registrar",
        &asap,
        "--transport",
        "tcp",
        "--listen",
        "127.0.0.1:0",
    ]);
    let pe_out = lines(pe.0.stdout.take().unwrap());
    line_where(&pe_out, |l| l.starts_with("PE "));
    // 15 steps of 100 ms: the answer comes 1.5 s after the line, well
    // after the 1 s linger that used to end the pool user first.
    let (code, out, err) = pu_with_input(
        &["--pool", "slow", "--registrar", &asap, "--transport", "tcp"],
        "compute 15\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("result 15"), "{out:?} {err}");
    // Discard answers nothing: waiting for a reply is opted out of.
    let mut d = spawn(&[
        "pe",
        "--pool",
        "sink",
        "--service",
        "discard",
        "--registrar",
        &asap,
        "--transport",
        "tcp",
        "--listen",
        "127.0.0.1:0",
    ]);
    let d_out = lines(d.0.stdout.take().unwrap());
    line_where(&d_out, |l| l.starts_with("PE "));
    let (code, _, err) = pu_with_input(
        &[
            "--pool",
            "sink",
            "--registrar",
            &asap,
            "--transport",
            "tcp",
            "--reply-timeout",
            "0ms",
        ],
        "into the void\n",
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_pe_whose_registration_is_refused_exits_1_and_says_why() {
    let mut pr = spawn(&[
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
        "--no-announce",
        "--transport",
        "tcp",
    ]);
    let pr_out = lines(pr.0.stdout.take().unwrap());
    let asap = line_where(&pr_out, |l| l.starts_with("ASAP "))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let mut first = spawn(&[
        "pe",
        "--pool",
        "mixed",
        "--registrar",
        &asap,
        "--transport",
        "tcp",
        "--listen",
        "127.0.0.1:0",
    ]);
    let first_out = lines(first.0.stdout.take().unwrap());
    line_where(&first_out, |l| l.starts_with("PE "));
    std::thread::sleep(Duration::from_millis(500));
    // Another policy in the same pool: refused (Inconsistent Pooling Policy).
    let out = Command::new(BIN)
        .args([
            "pe",
            "--pool",
            "mixed",
            "--policy",
            "least-used",
            "--registrar",
            &asap,
        ])
        .args(["--transport", "tcp", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the registration"), "{err}");
    assert!(err.contains("Inconsistent Pooling Policy"), "{err}");
}

#[test]
fn host_names_are_addresses_and_logs_can_be_json() {
    let mut pr = Proc(
        Command::new(BIN)
            .args(["--log-format", "json", "registrar", "--asap", "localhost:0"])
            .args([
                "--enrp",
                "localhost:0",
                "--no-announce",
                "--transport",
                "tcp",
            ])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = lines(pr.0.stdout.take().unwrap());
    let asap = line_where(&out, |l| l.starts_with("ASAP "));
    assert!(
        asap.contains("127.0.0.1:") || asap.contains("[::1]:"),
        "{asap}"
    );
    let err = lines_of_stderr(pr.0.stderr.take().unwrap());
    let started = line_where(&err, |l| l.contains("registrar started"));
    let v: serde_json::Value = serde_json::from_str(&started).expect("a JSON log line");
    assert_eq!(v["level"], "INFO");
    assert_eq!(v["fields"]["message"], "registrar started");
}

fn lines_of_stderr(err: std::process::ChildStderr) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Spawns with stdout and stderr piped and the given log filter.
fn spawn_logged(
    args: &[&str],
    log: &str,
) -> (Proc, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut p = Proc(
        Command::new(BIN)
            .args(args)
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = lines(p.0.stdout.take().unwrap());
    let err = lines_of_stderr(p.0.stderr.take().unwrap());
    (p, out, err)
}

/// The address a registrar printed on its `ASAP ...` or `ENRP ...` line.
fn printed(out: &mpsc::Receiver<String>, kind: &str) -> String {
    line_where(out, |l| l.starts_with(kind))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string()
}

/// A loopback port nobody listens on (bound, then freed).
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A multicast group of its own per test (239.255.x.y), so that tests
/// running at once do not hear each other.
fn own_group(salt: u16) -> String {
    let n = (std::process::id() as u16).wrapping_add(salt);
    format!("239.255.{}.{}:{}", n >> 8, n & 0xff, 20_000 + (n % 20_000))
}

#[test]
fn the_registrar_file_takes_the_flag_names_and_print_config_shows_the_result() {
    let dir = std::env::temp_dir().join(format!("rserpool-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("registrar.toml");
    std::fs::write(
        &file,
        "peer = [\"127.0.0.1:19901\"]\nkeep-alive-timeout = \"2s\"\nmax-hres-items = 7\nno-announce = true\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["registrar", "--config"])
        .arg(&file)
        .args(["--print-config", "--max-hres-items", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    for line in [
        "peer = [\"127.0.0.1:19901\"]",
        "keep-alive-timeout = \"2s\"",
        "max-hres-items = 5",
        "no-announce = true",
        "keep-alive-transmission-interval = \"5s\"",
        "max-time-last-heard = \"1m 1s\"",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    // What it prints is a file it reads back.
    std::fs::write(&file, &text).unwrap();
    let again = Command::new(BIN)
        .args(["registrar", "--config"])
        .arg(&file)
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), text);

    // Durations need units; old spellings are refused with a sentence.
    let out = Command::new(BIN)
        .args([
            "registrar",
            "--keep-alive-timeout",
            "5000",
            "--print-config",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no unit"));
    std::fs::write(&file, "keep-alive-timeout-ms = 5000\n").unwrap();
    let out = Command::new(BIN)
        .args(["registrar", "--print-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown field") && err.contains("keep-alive-timeout-ms"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn policies_are_read_in_either_spelling_everywhere() {
    for spelling in ["least-used", "LeastUsed"] {
        let out = Command::new(BIN)
            .args(["pe", "--pool", "p", "--policy", spelling, "--help"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{spelling}: {out:?}");
    }
    let out = Command::new(BIN)
        .args([
            "pe",
            "--pool",
            "p",
            "--policy",
            "least-loved",
            "--registrar",
            "127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown policy"));
}

#[test]
fn the_version_names_the_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    let v = String::from_utf8(out.stdout).unwrap();
    assert!(v.starts_with("rserpool ") && v.contains("(commit "), "{v}");
}

#[test]
fn a_taken_address_is_named_and_the_registrar_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .args(["registrar", "--asap", &addr, "--enrp", "127.0.0.1:0"])
        .args(["--no-announce", "--transport", "tcp"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&addr) && err.contains("already in use"),
        "{err}"
    );
}

/// A PE told which registrar to use does not register elsewhere, even when
/// another registrar announces itself on its announce group.
#[test]
fn a_pe_given_a_registrar_uses_only_that_one() {
    let group = own_group(1);
    let (_pr, pr_out, _pr_err) = spawn_logged(
        &[
            "registrar",
            "--asap",
            "127.0.0.1:0",
            "--enrp",
            "127.0.0.1:0",
            "--transport",
            "tcp",
            "--asap-announce-group",
            &group,
            "--server-announce-cycle",
            "200ms",
        ],
        "off",
    );
    let asap = printed(&pr_out, "ASAP ");
    let dead = format!("127.0.0.1:{}", dead_port());
    let (_pe, _pe_out, pe_err) = spawn_logged(
        &[
            "pe",
            "--pool",
            "explicit",
            "--registrar",
            &dead,
            "--asap-announce-group",
            &group,
            "--transport",
            "tcp",
            "--listen",
            "127.0.0.1:0",
        ],
        "info",
    );
    // It says it cannot reach the registrar it was given...
    line_where(&pe_err, |l| l.contains(&dead));
    // ...and over several announce cycles it never registers at the other.
    std::thread::sleep(Duration::from_secs(2));
    let out = Command::new(BIN)
        .args(["resolve", "--pool", "explicit", "--registrar", &asap])
        .args(["--transport", "tcp", "--timeout", "3s"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(0),
        "the PE registered elsewhere: {out:?}"
    );
}

/// Peer up and down, takeover and resynchronisation are INFO lines, and
/// an unreachable --peer is named at INFO.
#[test]
fn peers_takeover_and_unreachable_peers_are_logged_at_info() {
    let dead = format!("127.0.0.1:{}", dead_port());
    let fast = [
        "--transport",
        "tcp",
        "--no-announce",
        "--peer-heartbeat-cycle",
        "300ms",
        "--max-time-last-heard",
        "1s",
        "--max-time-no-response",
        "500ms",
        "--mentor-discovery-timeout",
        "300ms",
    ];
    let mut a_args = vec![
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
    ];
    a_args.extend(["--identifier", "0xa1", "--peer", &dead]);
    a_args.extend(fast);
    let (mut a, a_out, a_err) = spawn_logged(&a_args, "info");
    let a_asap = printed(&a_out, "ASAP ");
    let a_enrp = printed(&a_out, "ENRP ");
    line_where(&a_err, |l| {
        l.contains("cannot reach peer registrar") && l.contains(&dead)
    });

    let mut b_args = vec![
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
    ];
    b_args.extend(["--identifier", "0xb2", "--peer", &a_enrp]);
    b_args.extend(fast);
    let (_b, _b_out, b_err) = spawn_logged(&b_args, "info");
    line_where(&b_err, |l| l.contains("peer up"));
    line_where(&b_err, |l| l.contains("handlespace synchronised"));

    let (_pe, pe_out, _pe_err) = spawn_logged(
        &[
            "pe",
            "--pool",
            "logged",
            "--registrar",
            &a_asap,
            "--transport",
            "tcp",
            "--listen",
            "127.0.0.1:0",
        ],
        "off",
    );
    line_where(&pe_out, |l| l.starts_with("PE "));
    std::thread::sleep(Duration::from_millis(500));
    a.0.kill().unwrap();
    line_where(&b_err, |l| l.contains("peer down"));
    line_where(&b_err, |l| l.contains("takeover started"));
    line_where(&b_err, |l| l.contains("takeover completed"));
}

#[test]
fn health_and_readiness_answer_beside_the_metrics() {
    let (_pr, out, _err) = spawn_logged(
        &[
            "registrar",
            "--asap",
            "127.0.0.1:0",
            "--enrp",
            "127.0.0.1:0",
            "--no-announce",
            "--transport",
            "tcp",
            "--http",
            "127.0.0.1:0",
            "--mentor-discovery-timeout",
            "200ms",
        ],
        "off",
    );
    let metrics = line_where(&out, |l| l.starts_with("metrics "));
    let base = metrics
        .trim_start_matches("metrics http://")
        .trim_end_matches("/metrics")
        .to_string();
    let get = |path: &str| -> String {
        let mut s = std::net::TcpStream::connect(&base).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut r = String::new();
        std::io::Read::read_to_string(&mut s, &mut r).unwrap();
        r
    };
    assert!(get("/healthz").starts_with("HTTP/1.0 200"), "healthz");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = get("/readyz");
        if r.starts_with("HTTP/1.0 200") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(get("/metrics").contains("rserpool_"));
}

/// `--no-announce` also stops joining by multicast: a registrar that hears
/// another's Presence announces joins it only when it announces itself.
#[test]
fn a_registrar_with_no_announce_does_not_join_by_multicast() {
    let group = own_group(2);
    let fast = ["--transport", "tcp", "--peer-heartbeat-cycle", "300ms"];
    let mut a_args = vec![
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
    ];
    a_args.extend(["--identifier", "0xa1", "--enrp-announce-group", &group]);
    a_args.extend(fast);
    let (_a, a_out, _a_err) = spawn_logged(&a_args, "off");
    let a_enrp = printed(&a_out, "ENRP ");
    let mut b_args = vec![
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
    ];
    b_args.extend(["--identifier", "0xb2", "--no-announce"]);
    b_args.extend(["--enrp-announce-group", &group]);
    b_args.extend(fast);
    let (_b, _b_out, _b_err) = spawn_logged(&b_args, "off");
    // One that announces itself joins, which shows the multicast works here.
    let mut c_args = vec![
        "registrar",
        "--asap",
        "127.0.0.1:0",
        "--enrp",
        "127.0.0.1:0",
    ];
    c_args.extend(["--identifier", "0xc3", "--enrp-announce-group", &group]);
    c_args.extend(fast);
    let (_c, _c_out, _c_err) = spawn_logged(&c_args, "off");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let peers = loop {
        let out = Command::new(BIN)
            .args(["dump", "--peer", &a_enrp, "--transport", "tcp"])
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("0x000000c3") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        peers.contains("0x000000c3"),
        "the announcing registrar did not join:\n{peers}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let out = Command::new(BIN)
        .args(["dump", "--peer", &a_enrp, "--transport", "tcp"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("0x000000b2"),
        "--no-announce joined by multicast:\n{text}"
    );
}
