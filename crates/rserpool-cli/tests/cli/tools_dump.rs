//! `rserpool dump` against real registrars on loopback.
#![allow(clippy::unwrap_used)]

use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::transport::{Association, Ppid, TransportMode, connect};
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::asap::Registration;
use rserpool_proto::wire::{
    AsapMessage, DecodeOptions, PeId, Policy, PoolElement, ServerId, TransportParam, TransportUse,
};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Keep-alives far apart, so the raw PEs of the test need not answer them.
fn config(id: u32, peers: Vec<SocketAddr>, max_per_block: usize) -> DaemonConfig {
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
    c.max_elements_per_htr = max_per_block;
    let mut d = DaemonConfig::new(c, vec![local()], vec![local()]);
    d.transport = TransportMode::Tcp;
    d.seed = u64::from(id);
    d
}

async fn registrar(id: u32, peers: Vec<SocketAddr>, max_per_block: usize) -> RegistrarHandle {
    start(config(id, peers, max_per_block)).await.unwrap()
}

fn pe(id: u32, port: u16, policy: Policy) -> PoolElement {
    PoolElement {
        pe_id: PeId(id),
        home_server_id: ServerId(0),
        registration_life: 30_000,
        user_transport: TransportParam::Tcp {
            port,
            transport_use: TransportUse::DataPlusControl,
            address: [127, 0, 0, 1].into(),
        },
        policy,
        asap_transport: None,
    }
}

/// Registers a PE over its own association, which must stay open.
async fn register(pr: SocketAddr, pool: &str, element: PoolElement) -> Association {
    let mut a = connect(pr, rserpool::transport::Carrier::Tcp, Ppid::Asap)
        .await
        .unwrap();
    let m = AsapMessage::from(Registration {
        pool_handle: pool.into(),
        pool_element: element,
    });
    a.send(&m.to_bytes().expect("encodes")).await.unwrap();
    let bytes = tokio::time::timeout(Duration::from_secs(5), a.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    match AsapMessage::decode(bytes, &DecodeOptions::default())
        .unwrap()
        .message
    {
        AsapMessage::RegistrationResponse(r) => assert!(!r.reject, "{r:?}"),
        m => panic!("{m:?}"),
    }
    a
}

async fn dump(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_rserpool"))
            .arg("dump")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// (pool, PE ID, home ID) triples in a JSON dump.
fn json_elements(doc: &serde_json::Value) -> BTreeSet<(String, u64, u64)> {
    let mut out = BTreeSet::new();
    for pool in doc["pools"].as_array().unwrap() {
        let handle = pool["handle"].as_str().unwrap().to_string();
        for e in pool["elements"].as_array().unwrap() {
            out.insert((
                handle.clone(),
                e["id"].as_u64().unwrap(),
                e["home"].as_u64().unwrap(),
            ));
        }
    }
    out
}

/// Polls the JSON dump until it shows `want` (the peer learns by ENRP).
async fn json_until(addr: SocketAddr, want: &BTreeSet<(String, u64, u64)>) -> serde_json::Value {
    let mut last = None;
    for _ in 0..100 {
        let out = dump(&["--peer", &addr.to_string(), "--json", "--transport", "tcp"]).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if &json_elements(&doc) == want {
            return doc;
        }
        last = Some(doc);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dump never showed {want:?}; last: {last:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_lists_exactly_the_registered_pes_in_text_and_json() {
    // Blocks of two PEs force the M-flag continuation.
    let pr1 = registrar(0x11, vec![], 2).await;
    let pr2 = registrar(0x22, vec![pr1.enrp_addrs()[0]], 2).await;
    let a1 = pr1.asap_addrs()[0];
    let a2 = pr2.asap_addrs()[0];
    let _pes = [
        register(a1, "EchoPool", pe(0x101, 7001, Policy::RoundRobin)).await,
        register(a1, "EchoPool", pe(0x102, 7002, Policy::RoundRobin)).await,
        register(a2, "EchoPool", pe(0x103, 7003, Policy::RoundRobin)).await,
        register(
            a1,
            "LoadPool",
            pe(0x201, 7101, Policy::LeastUsed { load: u32::MAX / 2 }),
        )
        .await,
        register(
            a2,
            "LoadPool",
            pe(0x202, 7102, Policy::LeastUsed { load: 0 }),
        )
        .await,
    ];
    let want: BTreeSet<(String, u64, u64)> = [
        ("EchoPool", 0x101, 0x11),
        ("EchoPool", 0x102, 0x11),
        ("EchoPool", 0x103, 0x22),
        ("LoadPool", 0x201, 0x11),
        ("LoadPool", 0x202, 0x22),
    ]
    .into_iter()
    .map(|(p, i, h)| (p.to_string(), i, h))
    .collect();

    let e1 = pr1.enrp_addrs()[0];
    let doc = json_until(e1, &want).await;
    assert_eq!(doc["registrar"]["id"], 0x11);
    let peers: Vec<u64> = doc["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(peers, [0x22], "the probe itself is not listed as a peer");
    let load_pool = &doc["pools"][1];
    assert_eq!(load_pool["policy"], "LeastUsed");
    assert_eq!(load_pool["elements"][0]["policy"]["load"], u32::MAX / 2);
    assert_eq!(load_pool["elements"][0]["transport"]["port"], 7101);
    assert_eq!(load_pool["elements"][0]["lifetime_ms"], 30_000);
    // The peer's view is the same handlespace.
    json_until(pr2.enrp_addrs()[0], &want).await;

    let out = dump(&["--peer", &e1.to_string(), "--transport", "tcp"]).await;
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("Registrar 0x00000011 at "), "{text}");
    assert!(
        text.contains("Peers: 1\n  0x00000022  tcp 127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("Handlespace: 2 pool(s), 5 pool element(s), 3 owned by this registrar"),
        "{text}"
    );
    assert!(
        text.contains("Pool \"EchoPool\": 3 PE(s), RoundRobin"),
        "{text}"
    );
    assert!(
        text.contains("Pool \"LoadPool\": 2 PE(s), LeastUsed"),
        "{text}"
    );
    let pe_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  PE ")).collect();
    assert_eq!(pe_lines.len(), 5, "{text}");
    assert!(
        pe_lines.iter().any(|l| l.starts_with(
            "  PE 0x00000201  home 0x00000011  tcp 127.0.0.1:7101 +ctrl  LeastUsed load=50.0%  lifetime 30000 ms"
        )),
        "{text}"
    );
    assert!(
        pe_lines.iter().any(|l| l
            .starts_with("  PE 0x00000103  home 0x00000022  tcp 127.0.0.1:7003 +ctrl  RoundRobin")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_registrar_dumps_an_empty_handlespace() {
    let pr = registrar(0x33, vec![], 128).await;
    let e = pr.enrp_addrs()[0].to_string();
    let out = dump(&["--peer", &e, "--json", "--transport", "tcp"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["registrar"]["id"], 0x33);
    assert_eq!(doc["pools"], serde_json::json!([]));
    assert_eq!(doc["peers"], serde_json::json!([]));
    // Repeated dumps work: the registrar does not hold the last probe against the next.
    let out = dump(&["--peer", &e, "--transport", "tcp"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("0 pool element(s)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registrar_fails_with_a_reason() {
    // A port that was free a moment ago: nothing listens there.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = dump(&[
        "--peer",
        &free.to_string(),
        "--transport",
        "tcp",
        "--timeout",
        "2000ms",
    ])
    .await;
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect"), "{err}");

    // Something that accepts but never speaks ENRP: a timeout, not a hang.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let out = dump(&[
        "--peer",
        &addr.to_string(),
        "--transport",
        "tcp",
        "--timeout",
        "500ms",
    ])
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("timed out waiting for the registrar's PRESENCE"),
        "{err}"
    );
    keep.abort();
}
