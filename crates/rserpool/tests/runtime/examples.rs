//! The examples' own code (echo_pe, pu_client, cookie_service), included
//! as modules and run against an in-process registrar on loopback TCP:
//! an echo session fails over when its PE dies, a sum service resumes
//! from its sealed cookie on another PE, and `probe::dump` shows the pool.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../examples/cookie_service.rs"]
#[allow(dead_code)]
mod cookie_service;
#[path = "../../examples/echo_pe.rs"]
#[allow(dead_code)]
mod echo_pe;
#[path = "../../examples/pu_client.rs"]
#[allow(dead_code)]
mod pu_client;

use crate::common::{local, placeholder};
use rserpool::pool_element::{self, PoolElementConfig, PoolElementHandle};
use rserpool::pool_user::{self, PoolUserHandle};
use rserpool::probe::{self, DumpOptions};
use rserpool::proto::asap_endpoint::AsapTimers;
use rserpool::proto::registrar::Config;
use rserpool::proto::wire::ServerId;
use rserpool::registrar::{self, DaemonConfig, RegistrarHandle};
use rserpool::transport::TransportMode;
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn registrar() -> RegistrarHandle {
    let placeholder = placeholder();
    let mut c = Config::new(ServerId(0x51), placeholder);
    c.keep_alive_transmission_interval = Duration::from_millis(300);
    c.keep_alive_timeout = Duration::from_millis(300);
    let mut d = DaemonConfig::new(c, vec![local()], vec![local()]);
    d.transport = TransportMode::Tcp;
    registrar::start(d).await.unwrap()
}

fn timers() -> AsapTimers {
    let mut t = AsapTimers::DEFAULT;
    t.t1_enrp_request = Duration::from_millis(500);
    t.t2_registration = Duration::from_millis(500);
    t.connect_timeout = Duration::from_millis(1000);
    t
}

/// The example's configuration, on loopback TCP with short timers.
async fn start_pe(mut cfg: PoolElementConfig) -> PoolElementHandle {
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.transport = TransportMode::Tcp;
    cfg.timers = timers();
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(WAIT, pe.wait_registered())
        .await
        .expect("PE not registered");
    pe
}

async fn start_pu(asap: SocketAddr) -> PoolUserHandle {
    let mut cfg = pu_client::config(asap);
    cfg.transport = TransportMode::Tcp;
    cfg.timers = timers();
    pool_user::start(cfg).await.unwrap()
}

/// Kills the PE with `id` among `pes`: a crash, no deregistration.
fn kill(pes: &mut Vec<PoolElementHandle>, id: rserpool::proto::wire::PeId) {
    let i = pes
        .iter()
        .position(|p| p.pe_id() == id)
        .expect("a known PE");
    pes.remove(i).kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_client_fails_over_to_the_other_echo_pe() {
    let pr = registrar().await;
    let asap = pr.asap_addrs()[0];
    let mut pes = Vec::new();
    for _ in 0..2 {
        let mut pe = start_pe(echo_pe::config(asap, "echo")).await;
        tokio::spawn(echo_pe::serve(pe.take_sessions()));
        pes.push(pe);
    }
    let mut ids: Vec<_> = pes.iter().map(PoolElementHandle::pe_id).collect();
    ids.sort();

    // The library's probe sees what the PEs registered.
    let mut options = DumpOptions::default();
    options.transport = TransportMode::Tcp;
    let snapshot = probe::dump(pr.enrp_addrs()[0], &options).await.unwrap();
    assert_eq!(snapshot.registrar.server_id, ServerId(0x51));
    assert_eq!(snapshot.pools.len(), 1);
    assert_eq!(snapshot.pools[0].handle.to_string(), "echo");
    let dumped: Vec<_> = snapshot.pools[0].elements.iter().map(|e| e.pe_id).collect();
    assert_eq!(dumped, ids);

    let pu = start_pu(asap).await;
    let mut resolved: Vec<_> = pu
        .resolve("echo")
        .await
        .unwrap()
        .iter()
        .map(|e| e.pe_id)
        .collect();
    resolved.sort();
    assert_eq!(resolved, ids);

    let mut client = pu_client::Client::open(&pu, "echo").await.unwrap();
    assert_eq!(client.echo("one").await.unwrap(), "one");
    let first = client.pe().expect("the session is up");
    assert!(ids.contains(&first));
    assert_eq!(client.echo("two").await.unwrap(), "two");
    assert_eq!(client.pe(), Some(first), "no failover while the PE lives");

    kill(&mut pes, first);
    assert_eq!(client.echo("three").await.unwrap(), "three");
    let second = client.pe().expect("the session is up");
    assert_ne!(second, first, "the session moved");
    assert_eq!(second, pes[0].pe_id());
    assert_eq!(client.echo("four").await.unwrap(), "four");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sum_goes_on_from_the_cookie_on_another_pe() {
    let pr = registrar().await;
    let asap = pr.asap_addrs()[0];
    let mut pes = Vec::new();
    for _ in 0..2 {
        let mut pe = start_pe(cookie_service::pe_config(asap, "sum")).await;
        tokio::spawn(cookie_service::serve(pe.take_sessions()));
        pes.push(pe);
    }
    let pu = start_pu(asap).await;
    let mut sum = cookie_service::Sum::open(pu.open_session("sum").await.unwrap());
    let mut want = 0;
    for n in 1..=4 {
        want += n;
        assert_eq!(sum.add(n).await.unwrap(), want);
    }
    let first = sum.pe().expect("the session is up");

    // The new PE knows nothing of this session but what the cookie says.
    kill(&mut pes, first);
    for n in 5..=7 {
        want += n;
        assert_eq!(sum.add(n).await.unwrap(), want, "after adding {n}");
    }
    assert_eq!(want, 28);
    assert_eq!(sum.pe(), Some(pes[0].pe_id()), "the session moved");
}
