//! What TLS costs the registrar: CPU per re-registration and per handle
//! resolution, over plain TCP and over TLS, on loopback.
//!
//! A registrar runs on a thread of its own (a current-thread runtime:
//! every task of the daemon, TLS included, runs there); clients on other
//! threads keep `--assocs` associations busy, each with one request in
//! flight. The figure is the registrar thread's CPU time (from
//! /proc/self/task/TID/schedstat) divided by the operations; the TLS
//! handshakes are counted apart, per association.
//!
//! `cargo run --release -p rserpool --example tls_cost -- [--assocs N] [--ops N]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rserpool::pki::{self, Role};
use rserpool::registrar::{DaemonConfig, start};
use rserpool::transport::tls::{Expect, TlsClient, TlsConfig};
use rserpool::transport::{Association, Carrier, Ppid, TransportMode, connect};
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::asap::{HandleResolution, Registration};
use rserpool_proto::wire::{
    AsapMessage, PeId, Policy, PoolElement, PoolHandle, ServerId, TransportParam, TransportUse,
};
use std::net::SocketAddr;
use std::time::Duration;

const POOL: &str = "bench";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// CPU nanoseconds the thread has run (first field of schedstat).
fn thread_cpu_ns(task: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/self/task/{task}/schedstat")).unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

struct Registrar {
    asap: SocketAddr,
    task: String,
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

fn registrar(tls: Option<TlsConfig>) -> Registrar {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let task = std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let placeholder = TransportParam::Tcp {
                port: 0,
                transport_use: TransportUse::DataOnly,
                address: [127, 0, 0, 1].into(),
            };
            let mut c = Config::new(ServerId(1), placeholder);
            c.max_hres_items = 3;
            // No keep-alives during the run: only the measured requests.
            c.keep_alive_transmission_interval = Duration::from_secs(3600);
            c.mentor_discovery_timeout = Duration::from_millis(1);
            let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let mut d = DaemonConfig::new(c, vec![local], vec![local]);
            d.transport = TransportMode::Tcp;
            d.tls = tls;
            let h = start(d).await.unwrap();
            tx.send((h.asap_addrs()[0], task)).unwrap();
            tokio::task::spawn_blocking(move || stopped.recv())
                .await
                .unwrap()
                .ok();
            h.stop().await.unwrap();
        });
    });
    let (asap, task) = rx.recv().unwrap();
    Registrar {
        asap,
        task,
        stop,
        thread,
    }
}

async fn open(to: SocketAddr, tls: Option<&TlsClient>) -> Association {
    let a = connect(to, Carrier::Tcp, Ppid::Asap).await.unwrap();
    match tls {
        Some(t) => t.connect(a, Expect::Registrar).await.unwrap(),
        None => a,
    }
}

fn registration(id: u32) -> Vec<u8> {
    AsapMessage::from(Registration {
        pool_handle: PoolHandle::from(POOL),
        pool_element: PoolElement {
            pe_id: PeId(id),
            home_server_id: ServerId(0),
            registration_life: 600_000,
            user_transport: TransportParam::Tcp {
                port: 10_000 + (id % 50_000) as u16,
                transport_use: TransportUse::DataPlusControl,
                address: [127, 0, 0, 1].into(),
            },
            policy: Policy::RoundRobin,
            asap_transport: None,
        },
    })
    .to_bytes()
    .expect("encodes")
}

fn resolution() -> Vec<u8> {
    AsapMessage::from(HandleResolution {
        pool_handle: PoolHandle::from(POOL),
        items: None,
    })
    .to_bytes()
    .expect("encodes")
}

/// `ops` request/answer rounds spread over the associations; every
/// association keeps one request in flight. The associations come back.
async fn drive(assocs: Vec<(Association, Vec<u8>)>, ops: usize) -> Vec<(Association, Vec<u8>)> {
    let per = ops.div_ceil(assocs.len().max(1));
    let mut tasks = Vec::new();
    for (mut a, request) in assocs {
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                a.send(&request).await.unwrap();
                a.recv().await.unwrap().expect("registrar closed");
            }
            (a, request)
        }));
    }
    let mut back = Vec::new();
    for t in tasks {
        back.push(t.await.unwrap());
    }
    back
}

struct Figures {
    handshake_us: f64,
    reregistration_us: f64,
    resolution_us: f64,
}

fn measure(tls: bool, n: usize, ops: usize) -> Figures {
    let ca = pki::new_ca().unwrap();
    let own = |role: Role, name: &str| {
        let i = pki::issue(&ca, &role, name, &[]).unwrap();
        TlsConfig::from_pem(
            ca.cert_pem.as_bytes(),
            Some((i.cert_pem.as_bytes(), i.key_pem.as_bytes())),
        )
        .unwrap()
    };
    let (server, pe_client, pu_client) = if tls {
        let pe = own(Role::PoolElement(vec![Some(POOL.into())]), "bench-pe");
        let pu = TlsConfig::from_pem(ca.cert_pem.as_bytes(), None).unwrap();
        (
            Some(own(Role::Registrar(Some(ServerId(1))), "pr")),
            Some(pe.client().unwrap()),
            Some(pu.client().unwrap()),
        )
    } else {
        (None, None, None)
    };
    let r = registrar(server);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let per_op = |ns: u64, ops: usize| ns as f64 / 1e3 / ops as f64;
    let figures = rt.block_on(async {
        let c0 = thread_cpu_ns(&r.task);
        let mut pes = Vec::new();
        let mut pus = Vec::new();
        for i in 0..n {
            pes.push((
                open(r.asap, pe_client.as_ref()).await,
                registration(i as u32 + 1),
            ));
            pus.push((open(r.asap, pu_client.as_ref()).await, resolution()));
        }
        // One round trip each: every association is in (and registered).
        let pes = drive(pes, n).await;
        let pus = drive(pus, n).await;
        let c1 = thread_cpu_ns(&r.task);
        drive(pes, ops).await;
        let c2 = thread_cpu_ns(&r.task);
        drive(pus, ops).await;
        let c3 = thread_cpu_ns(&r.task);
        Figures {
            // Accepting, the handshake and one request, per association.
            handshake_us: per_op(c1 - c0, 2 * n),
            reregistration_us: per_op(c2 - c1, ops.div_ceil(n) * n),
            resolution_us: per_op(c3 - c2, ops.div_ceil(n) * n),
        }
    });
    drop(rt);
    let _ = r.stop.send(());
    r.thread.join().unwrap();
    figures
}

fn main() {
    let n = arg("--assocs", 32);
    let ops = arg("--ops", 40_000);
    println!("registrar thread CPU per operation, {n} associations, {ops} operations each kind");
    println!(
        "{:<10} {:>24} {:>22} {:>18}",
        "", "new association (us)", "re-registration (us)", "resolution (us)"
    );
    for tls in [false, true] {
        let f = measure(tls, n, ops);
        println!(
            "{:<10} {:>24.1} {:>22.2} {:>18.2}",
            if tls { "TLS" } else { "plain TCP" },
            f.handshake_us,
            f.reregistration_us,
            f.resolution_us
        );
    }
}
