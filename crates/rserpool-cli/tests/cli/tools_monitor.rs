//! `rserpool monitor --once` against real registrars on loopback.
#![allow(clippy::unwrap_used)]

use rserpool::announce::MulticastConfig;
use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::transport::{Association, Carrier, Ppid, TransportMode, connect};
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::asap::Registration;
use rserpool_proto::wire::{
    AsapMessage, DecodeOptions, PeId, Policy, PoolElement, ServerId, TransportParam, TransportUse,
};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::Output;
use std::time::Duration;

fn config(id: u32, peers: Vec<SocketAddr>) -> DaemonConfig {
    let placeholder = TransportParam::Tcp {
        port: 0,
        transport_use: TransportUse::DataOnly,
        address: [127, 0, 0, 1].into(),
    };
    let mut c = Config::new(ServerId(id), placeholder);
    c.peers = peers;
    c.keep_alive_transmission_interval = Duration::from_secs(120);
    c.keep_alive_timeout = Duration::from_secs(120);
    c.mentor_discovery_timeout = Duration::from_millis(200);
    c.peer_heartbeat_cycle = Duration::from_millis(200);
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut d = DaemonConfig::new(c, vec![local], vec![local]);
    d.transport = TransportMode::Tcp;
    d.seed = u64::from(id);
    d
}

async fn register(pr: SocketAddr, pool: &str, id: u32, policy: Policy) -> Association {
    let mut a = connect(pr, Carrier::Tcp, Ppid::Asap).await.unwrap();
    let m = AsapMessage::from(Registration {
        pool_handle: pool.into(),
        pool_element: PoolElement {
            pe_id: PeId(id),
            home_server_id: ServerId(0),
            registration_life: 30_000,
            user_transport: TransportParam::Tcp {
                port: 7000,
                transport_use: TransportUse::DataOnly,
                address: [127, 0, 0, 1].into(),
            },
            policy,
            asap_transport: None,
        },
    });
    a.send(&m.to_bytes().expect("encodes")).await.unwrap();
    let bytes = tokio::time::timeout(Duration::from_secs(5), a.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let m = AsapMessage::decode(bytes, &DecodeOptions::default()).unwrap();
    assert!(matches!(m.message, AsapMessage::RegistrationResponse(r) if !r.reject));
    a
}

async fn monitor(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rserpool"))
            .arg("monitor")
            .arg("--once")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Runs `monitor --once` until its frame contains every one of `want`.
async fn frame_until(args: Vec<String>, want: &[&str]) -> String {
    let mut last = String::new();
    for _ in 0..50 {
        let out = monitor(args.clone()).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        last = String::from_utf8(out.stdout).unwrap();
        if want.iter().all(|w| last.contains(w)) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the frame never showed all of {want:?}:\n{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_shows_every_registrar_pool_and_pe_without_terminal_codes() {
    let pr1: RegistrarHandle = start(config(0x51, vec![])).await.unwrap();
    let pr2 = start(config(0x52, vec![pr1.enrp_addrs()[0]]))
        .await
        .unwrap();
    let _a = register(pr1.asap_addrs()[0], "EchoPool", 0xa1, Policy::RoundRobin).await;
    let _b = register(pr2.asap_addrs()[0], "EchoPool", 0xa2, Policy::RoundRobin).await;
    let _c = register(
        pr2.asap_addrs()[0],
        "Load",
        0xb1,
        Policy::LeastUsed {
            load: u32::MAX / 4 + 1,
        },
    )
    .await;
    // Only the first registrar is named: the second is found as its peer.
    let args = vec![
        "--peer".to_string(),
        pr1.enrp_addrs()[0].to_string(),
        "--transport".to_string(),
        "tcp".to_string(),
    ];
    let frame = frame_until(
        args,
        &[
            "Registrars: 2 (2 answering)  Pools: 2  PEs: 3",
            "0x000000a1  0x00000051  tcp 127.0.0.1:7000",
            "0x000000a2  0x00000052",
            "0x000000b1  0x00000052",
        ],
    )
    .await;
    assert!(!frame.contains('\x1b'), "{frame}");
    let e1 = pr1.enrp_addrs()[0].to_string();
    assert!(
        frame
            .lines()
            .any(|l| l.contains("0x00000051") && l.contains(&e1) && l.contains("up (")),
        "{frame}"
    );
    assert!(
        frame.contains("Pool \"EchoPool\"  RoundRobin  2 PE(s)"),
        "{frame}"
    );
    assert!(
        frame.contains("Pool \"Load\"  LeastUsed  1 PE(s)"),
        "{frame}"
    );
    let b1 = frame.lines().find(|l| l.contains("0x000000b1")).unwrap();
    assert!(b1.contains("load=25.0%"), "{frame}");
    assert!(
        b1.trim_end().ends_with("2/2"),
        "every registrar knows it: {frame}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_reports_a_dead_registrar_and_fails_if_none_answers() {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = monitor(vec![
        "--peer".into(),
        free.to_string(),
        "--transport".into(),
        "tcp".into(),
    ])
    .await;
    assert!(!out.status.success());
    let frame = String::from_utf8(out.stdout).unwrap();
    assert!(frame.contains("Registrars: 1 (0 answering)"), "{frame}");
    assert!(frame.contains("DOWN: cannot connect to"), "{frame}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_discovers_a_registrar_by_its_presence_announces() {
    // A group port of our own, so other tests and daemons do not interfere.
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 0, 0, 51), 39_917);
    let mut c = config(0x61, vec![]);
    c.registrar.announce = true;
    c.enrp_announce = Some(MulticastConfig::new(group, Ipv4Addr::LOCALHOST));
    let pr = start(c).await.unwrap();
    let _a = register(pr.asap_addrs()[0], "Found", 0xc1, Policy::Random).await;
    let out = monitor(vec![
        "--enrp-announce-group".into(),
        group.to_string(),
        "--announce-interface".into(),
        "127.0.0.1".into(),
        "--discovery".into(),
        "5000ms".into(),
        "--transport".into(),
        "tcp".into(),
    ])
    .await;
    let frame = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}{frame}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(frame.contains("Registrars: 1 (1 answering)"), "{frame}");
    assert!(frame.contains(&pr.enrp_addrs()[0].to_string()), "{frame}");
    assert!(frame.contains("0x000000c1  0x00000061"), "{frame}");
}

/// A monitor is a peer to the registrars it watches, so a takeover waits
/// for its INIT_TAKEOVER_ACK: it must answer promptly, even between two
/// refreshes. The takeover expiry is far longer than the test waits, so a
/// takeover that waited for a silent monitor would not complete in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watching_monitor_does_not_hold_up_a_takeover() {
    use rserpool::pool_element::{self, PoolElementConfig};
    use rserpool_proto::pool_element::PeEvent;

    let slow = |mut c: DaemonConfig| {
        c.registrar.takeover_expiry = Duration::from_secs(120);
        c.registrar.max_time_no_response = Duration::from_millis(200);
        c.registrar.keep_alive_transmission_interval = Duration::from_millis(500);
        c.registrar.keep_alive_timeout = Duration::from_millis(500);
        c
    };
    let pr1 = start(slow(config(0x81, vec![]))).await.unwrap();
    let pr2 = start(slow(config(0x82, vec![pr1.enrp_addrs()[0]])))
        .await
        .unwrap();

    let mut cfg = PoolElementConfig::new("watched", Policy::RoundRobin);
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    cfg.data_addr = local;
    cfg.control_addr = local;
    cfg.registrars = vec![pr1.asap_addrs()[0]];
    cfg.announces = None;
    cfg.transport = TransportMode::Tcp;
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), pe.wait_registered())
        .await
        .unwrap();
    let pe_id = format!("{}", pe.pe_id());

    // The monitor refreshes rarely: its answers must not wait for a refresh.
    let mut monitor = std::process::Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args([
            "monitor",
            "--peer",
            &pr2.enrp_addrs()[0].to_string(),
            "--interval",
            "60000ms",
            "--transport",
            "tcp",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // PR2 knows the PE and the monitor is one of its peers by now.
    let e2 = pr2.enrp_addrs()[0].to_string();
    frame_until(
        vec!["--peer".into(), e2, "--transport".into(), "tcp".into()],
        &[&pe_id],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    pr1.kill();
    let taken = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match pe.next_event().await {
                Some(PeEvent::HomeChanged { to, .. }) => return to,
                Some(_) => {}
                None => panic!("the PE stopped"),
            }
        }
    })
    .await;
    let _ = monitor.kill();
    let _ = monitor.wait();
    assert_eq!(
        taken.expect("no takeover while a monitor watched"),
        ServerId(0x82)
    );
    pe.stop().await.unwrap();
}

/// Without a terminal the live view prints plain frames one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_refreshes_and_writes_plain_frames_to_a_pipe() {
    use std::io::Read;

    let pr = start(config(0x91, vec![])).await.unwrap();
    let _a = register(pr.asap_addrs()[0], "Live", 0xd1, Policy::RoundRobin).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args([
            "monitor",
            "--peer",
            &pr.enrp_addrs()[0].to_string(),
            "--interval",
            "100ms",
            "--transport",
            "tcp",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    // Ten refreshes' time; three frames are enough even on a busy machine.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let text = reader.join().unwrap();
    assert!(!text.contains('\x1b'), "{text}");
    let frames = text.matches("RSerPool monitor").count();
    assert!(frames >= 3, "{frames} frames:\n{text}");
    assert!(
        text.contains("0x000000d1  0x00000091"),
        "the PE is shown:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_one_snapshot_of_every_registrar() {
    let pr = start(config(0x71, vec![])).await.unwrap();
    let _a = register(pr.asap_addrs()[0], "Json", 0xd1, Policy::RoundRobin).await;
    let out = monitor(vec![
        "--json".into(),
        "--peer".into(),
        pr.enrp_addrs()[0].to_string(),
        "--transport".into(),
        "tcp".into(),
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let regs = doc["registrars"].as_array().unwrap();
    assert_eq!(regs.len(), 1, "{doc}");
    assert_eq!(regs[0]["registrar"]["id"], 0x71);
    assert!(doc.to_string().contains("\"Json\""), "{doc}");
}

/// The live view in a real 80x24 terminal (tmux): nothing wraps or
/// scrolls, and q quits with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_fits_80x24_and_q_quits() {
    let pr = start(config(0x72, vec![])).await.unwrap();
    let mut pes = Vec::new();
    for i in 0..8u32 {
        pes.push(
            register(
                pr.asap_addrs()[0],
                &format!("Pool{i}"),
                0xe0 + i,
                Policy::RoundRobin,
            )
            .await,
        );
    }
    let session = format!("rserpool-monitor-test-{}", std::process::id());
    let done = std::env::temp_dir().join(format!("{session}.rc"));
    let _ = std::fs::remove_file(&done);
    let cmd = format!(
        "{} monitor --peer {} --transport tcp; echo $? > {}",
        env!("CARGO_BIN_EXE_rserpool"),
        pr.enrp_addrs()[0],
        done.display()
    );
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux is needed for this test (.ci/run installs it)")
    };
    let started = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    assert!(started.status.success(), "{started:?}");
    let mut screen = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        screen = String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout)
            .into_owned();
        if screen.contains("more lines") {
            break;
        }
    }
    assert!(
        screen.starts_with("RSerPool monitor"),
        "the first line stays on top:\n{screen}"
    );
    assert!(screen.contains("... "), "{screen}");
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");
    tmux(&["send-keys", "-t", &session, "q"]);
    let mut rc = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(s) = std::fs::read_to_string(&done) {
            rc = Some(s.trim().to_string());
            break;
        }
    }
    let _ = tmux(&["kill-session", "-t", &session]);
    assert_eq!(rc.as_deref(), Some("0"), "q did not quit the monitor");
}
