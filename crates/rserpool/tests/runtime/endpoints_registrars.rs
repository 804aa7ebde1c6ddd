//! Pool elements through registrar failures, on loopback TCP: takeover of
//! a failed home registrar's PEs by a peer, and re-registration with a
//! restarted registrar.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{local, mode, placeholder};
use rserpool::pool_element::{self, PoolElementConfig, PoolElementHandle};
use rserpool::pool_user::{self, PoolUserConfig, PoolUserHandle, SessionEvent};
use rserpool::registrar::{DaemonConfig, start};
use rserpool::services::{self, Service, ServiceConfig};
use rserpool_proto::asap_endpoint::AsapTimers;
use rserpool_proto::pool_element::PeEvent;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::{PeId, Policy, ServerId};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn registrar_config(
    id: u32,
    asap: SocketAddr,
    enrp: SocketAddr,
    peers: Vec<SocketAddr>,
) -> DaemonConfig {
    let placeholder = placeholder();
    let mut c = Config::new(ServerId(id), placeholder);
    c.peers = peers;
    c.max_hres_items = 1000;
    c.keep_alive_transmission_interval = Duration::from_millis(300);
    c.keep_alive_timeout = Duration::from_millis(300);
    c.peer_heartbeat_cycle = Duration::from_millis(200);
    c.max_time_last_heard = Duration::from_millis(600);
    c.max_time_no_response = Duration::from_millis(300);
    c.mentor_discovery_timeout = Duration::from_millis(300);
    c.takeover_expiry = Duration::from_millis(2000);
    let mut d = DaemonConfig::new(c, vec![asap], vec![enrp]);
    d.transport = mode();
    d.seed = u64::from(id);
    d
}

fn timers() -> AsapTimers {
    let mut t = AsapTimers::DEFAULT;
    t.t1_enrp_request = Duration::from_millis(500);
    t.t2_registration = Duration::from_millis(500);
    t.t6_server_announce = Duration::from_millis(100);
    t.connect_timeout = Duration::from_millis(1000);
    // Every resolution asks a registrar (a zero value would keep
    // sessions from using the answer at all).
    t.stale_cache_value = Duration::from_millis(1);
    // A resolution without any registrar fails after a second.
    t.t5_server_hunt = Duration::from_secs(1);
    t
}

async fn pool_element(pool: &str, registrars: Vec<SocketAddr>) -> PoolElementHandle {
    let mut cfg = PoolElementConfig::new(pool, Policy::LeastUsed { load: 0 });
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.registrars = registrars;
    cfg.announces = None;
    cfg.transport = mode();
    cfg.timers = timers();
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(WAIT, pe.wait_registered())
        .await
        .expect("PE not registered");
    pe
}

async fn pool_user(registrar: SocketAddr) -> PoolUserHandle {
    let mut cfg = PoolUserConfig::new();
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg.transport = mode();
    cfg.timers = timers();
    pool_user::start(cfg).await.unwrap()
}

/// Waits until resolving `pool` through `pu` gives exactly `want`.
async fn resolves_to(pu: &PoolUserHandle, pool: &str, want: &[PeId]) {
    let mut want = want.to_vec();
    want.sort();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        match pu.resolve(pool).await {
            Ok(pes) => {
                let mut ids: Vec<PeId> = pes.iter().map(|p| p.pe_id).collect();
                ids.sort();
                if ids == want {
                    return;
                }
                last = Some(format!("{ids:?}"));
            }
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{pool} never resolved to {want:?}; last answer: {last:?}");
}

/// The next event matching `f`, skipping others.
async fn event(pe: &mut PoolElementHandle, what: &str, f: impl Fn(&PeEvent) -> bool) -> PeEvent {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, pe.next_event()).await {
            Ok(Some(e)) if f(&e) => return e,
            Ok(Some(_)) => {}
            Ok(None) => panic!("PE ended while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

#[tokio::test]
async fn a_peer_registrar_takes_over_the_pes_of_a_failed_home() {
    let pr1 = start(registrar_config(1, local(), local(), vec![]))
        .await
        .unwrap();
    let pr2 = start(registrar_config(
        2,
        local(),
        local(),
        vec![pr1.enrp_addrs()[0]],
    ))
    .await
    .unwrap();
    // The PEs know only PR1: after its failure they reach PR2 solely
    // through its takeover (Keep-Alive with the H flag on their control
    // endpoint).
    let mut a = pool_element("to", vec![pr1.asap_addrs()[0]]).await;
    let mut b = pool_element("to", vec![pr1.asap_addrs()[0]]).await;
    let host = services::spawn(ServiceConfig::new(Service::Echo), a.take_sessions());
    let ids = [a.pe_id(), b.pe_id()];
    let pu = pool_user(pr2.asap_addrs()[0]).await;
    resolves_to(&pu, "to", &ids).await;

    pr1.kill();
    for pe in [&mut a, &mut b] {
        match event(pe, "the takeover", |e| {
            matches!(e, PeEvent::HomeChanged { .. })
        })
        .await
        {
            PeEvent::HomeChanged { to, .. } => assert_eq!(to, ServerId(2)),
            _ => unreachable!(),
        }
        event(pe, "registration with the new home", |e| {
            matches!(e, PeEvent::Registered { .. })
        })
        .await;
        assert!(pe.state().registered);
        assert_eq!(pe.state().home, Some(ServerId(2)));
    }
    // Still resolvable (well past PR2's keep-alive timeout) and usable.
    tokio::time::sleep(Duration::from_millis(800)).await;
    resolves_to(&pu, "to", &ids).await;
    b.stop().await.unwrap();
    resolves_to(&pu, "to", &ids[..1]).await;
    let mut s = pu.open_session("to").await.unwrap();
    s.send(b"after takeover".to_vec()).await.unwrap();
    let f = tokio::time::timeout(WAIT, s.recv_data())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(f.payload, b"after takeover");
    drop(host);
}

#[tokio::test]
async fn a_restarted_registrar_gets_its_pes_back() {
    let pr = start(registrar_config(7, local(), local(), vec![]))
        .await
        .unwrap();
    let (asap, enrp) = (pr.asap_addrs()[0], pr.enrp_addrs()[0]);
    let mut a = pool_element("rs", vec![asap]).await;
    let mut b = pool_element("rs", vec![asap]).await;
    let ids = [a.pe_id(), b.pe_id()];
    let pu = pool_user(asap).await;
    resolves_to(&pu, "rs", &ids).await;

    pr.kill();
    for pe in [&mut a, &mut b] {
        event(pe, "the loss of the home", |e| {
            matches!(e, PeEvent::HomeLost { .. })
        })
        .await;
    }
    // Hunting: no registrar to be found for a while.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(pu.resolve("rs").await.is_err());

    let pr = start(registrar_config(7, asap, enrp, vec![]))
        .await
        .unwrap();
    for pe in [&mut a, &mut b] {
        event(pe, "registration with the restarted registrar", |e| {
            matches!(e, PeEvent::Registered { .. })
        })
        .await;
    }
    resolves_to(&pu, "rs", &ids).await;
    let mut s = pu.open_session("rs").await.unwrap();
    assert!(matches!(
        tokio::time::timeout(WAIT, s.recv()).await.unwrap(),
        Some(SessionEvent::Up { .. })
    ));
    drop(pr);
}

#[tokio::test]
async fn without_static_registrars_pes_and_pus_use_announces() {
    use rserpool::announce::MulticastConfig;
    use std::net::{Ipv4Addr, SocketAddrV4};
    // A group port of this test's own, so other tests and daemons do not meet.
    let group = MulticastConfig::new(
        SocketAddrV4::new(Ipv4Addr::new(239, 0, 0, 50), 38_652),
        Ipv4Addr::LOCALHOST,
    );
    let mut d = registrar_config(9, local(), local(), vec![]);
    d.registrar.announce = true;
    d.registrar.server_announce_cycle = Duration::from_millis(100);
    d.asap_announce = Some(group);
    let _pr = start(d).await.unwrap();

    let mut cfg = PoolElementConfig::new("announced", Policy::LeastUsed { load: 0 });
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.announces = Some(group);
    cfg.transport = mode();
    cfg.timers = timers();
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(WAIT, pe.wait_registered())
        .await
        .expect("PE not registered through an announced registrar");

    let mut cfg = PoolUserConfig::new();
    cfg.announces = Some(group);
    cfg.transport = mode();
    cfg.timers = timers();
    cfg.timers.t5_server_hunt = WAIT;
    let pu = pool_user::start(cfg).await.unwrap();
    resolves_to(&pu, "announced", &[pe.pe_id()]).await;

    // The load is registered again at once, and only adaptive policies have one.
    pe.set_load(0x4000_0000).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let pes = pu.resolve("announced").await.unwrap();
        if pes[0].policy == (Policy::LeastUsed { load: 0x4000_0000 }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "load not updated: {pes:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn set_load_needs_an_adaptive_policy() {
    let pr = start(registrar_config(10, local(), local(), vec![]))
        .await
        .unwrap();
    let mut cfg = PoolElementConfig::new("rr", Policy::RoundRobin);
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.registrars = vec![pr.asap_addrs()[0]];
    cfg.announces = None;
    cfg.transport = mode();
    let pe = pool_element::start(cfg).await.unwrap();
    assert!(matches!(
        pe.set_load(5).await,
        Err(pool_element::LoadError::Policy(_))
    ));
}

#[tokio::test]
async fn without_any_way_to_find_a_registrar_start_fails() {
    let mut cfg = PoolElementConfig::new("x", Policy::RoundRobin);
    cfg.announces = None;
    cfg.transport = mode();
    let e = pool_element::start(cfg).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    let mut cfg = PoolUserConfig::new();
    cfg.announces = None;
    cfg.transport = mode();
    let e = pool_user::start(cfg).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}
