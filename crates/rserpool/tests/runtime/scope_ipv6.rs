//! Scopes over IPv6 and over both families, end to end: registrars
//! peered over `::1`, pool elements started as `rserpool pe` starts them
//! (data and control on the unspecified address), pool users reaching them
//! through either registrar. Needs `::1` on the loopback interface: a
//! test fails, saying so, where it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{mode, placeholder};
use rserpool::pool_element::{self, PoolElementConfig, PoolElementHandle};
use rserpool::pool_user::{self, PoolUserConfig, PoolUserHandle, SessionEvent};
use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::services::{self, Service, ServiceConfig, ServiceHost};
use rserpool_proto::asap_endpoint::AsapTimers;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::{PeId, Policy, PoolElement, ServerId};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn v6() -> SocketAddr {
    "[::1]:0".parse().unwrap()
}

/// Fails the test with a clear message when `::1` cannot be used.
fn require_ipv6_loopback() {
    if let Err(e) = std::net::TcpListener::bind(v6()) {
        panic!(
            "IPv6 loopback ::1 is not available on this machine ({e}): \
             these tests need it (see `ip -6 addr show lo`)"
        );
    }
}

async fn registrar(
    id: u32,
    asap: SocketAddr,
    enrp: SocketAddr,
    peers: Vec<SocketAddr>,
) -> RegistrarHandle {
    let placeholder = placeholder();
    let mut c = Config::new(ServerId(id), placeholder);
    c.peers = peers;
    c.max_hres_items = 1000;
    c.keep_alive_transmission_interval = Duration::from_millis(300);
    c.keep_alive_timeout = Duration::from_millis(1000);
    c.peer_heartbeat_cycle = Duration::from_millis(200);
    c.max_time_last_heard = Duration::from_millis(1000);
    c.max_time_no_response = Duration::from_millis(500);
    c.mentor_discovery_timeout = Duration::from_millis(300);
    let mut d = DaemonConfig::new(c, vec![asap], vec![enrp]);
    d.transport = mode();
    d.seed = u64::from(id);
    start(d).await.unwrap()
}

fn timers() -> AsapTimers {
    let mut t = AsapTimers::DEFAULT;
    t.t1_enrp_request = Duration::from_millis(500);
    t.t2_registration = Duration::from_millis(500);
    t.connect_timeout = Duration::from_millis(2000);
    t.stale_cache_value = Duration::from_millis(1);
    t.t5_server_hunt = Duration::from_secs(2);
    t
}

/// A PE as `rserpool pe --registrar <addr>` starts it: data and control
/// endpoints on the default (unspecified) address, an echo service.
async fn echo_pe(registrar: SocketAddr) -> (PoolElementHandle, ServiceHost) {
    let mut cfg = PoolElementConfig::new("echo", Policy::RoundRobin);
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg.transport = mode();
    cfg.timers = timers();
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(WAIT, pe.wait_registered())
        .await
        .expect("PE not registered");
    let host = services::spawn(ServiceConfig::new(Service::Echo), pe.take_sessions());
    (pe, host)
}

async fn pool_user(registrar: SocketAddr) -> PoolUserHandle {
    let mut cfg = PoolUserConfig::new();
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg.transport = mode();
    cfg.timers = timers();
    pool_user::start(cfg).await.unwrap()
}

/// Resolves until exactly `want` are listed (peers may still be syncing).
async fn resolve_all(pu: &PoolUserHandle, want: &[PeId]) -> Vec<PoolElement> {
    let mut want = want.to_vec();
    want.sort();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        if let Ok(pes) = pu.resolve("echo").await {
            let mut ids: Vec<PeId> = pes.iter().map(|p| p.pe_id).collect();
            ids.sort();
            if ids == want {
                return pes;
            }
            last = Some(ids);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("resolved {last:?}, wanted {want:?}");
}

/// Every address a PE is registered with accepts an association (of the
/// carrier under test).
async fn reachable(pes: &[PoolElement]) {
    for pe in pes {
        let t = &pe.user_transport;
        for a in t.addresses() {
            let to = SocketAddr::new(*a, t.port());
            let carrier = mode().resolve().unwrap();
            let c = tokio::time::timeout(
                WAIT,
                rserpool::transport::connect(to, carrier, rserpool::transport::Ppid::Asap),
            )
            .await;
            assert!(
                matches!(c, Ok(Ok(_))),
                "PE {} registered at {to} is not reachable there: {c:?}",
                pe.pe_id
            );
        }
    }
}

/// A session through `pu` comes up and echoes.
async fn echo_session(pu: &PoolUserHandle) {
    let mut s = pu.open_session("echo").await.unwrap();
    s.send(b"over IPv6?".to_vec()).await.unwrap();
    let mut up = false;
    loop {
        let e = tokio::time::timeout(WAIT, s.recv())
            .await
            .expect("no session event in time")
            .expect("pool user stopped");
        match e {
            SessionEvent::Up { .. } => up = true,
            SessionEvent::Data(f) => {
                assert!(up);
                assert_eq!(f.payload, b"over IPv6?");
                return;
            }
            e => panic!("unexpected {e:?}"),
        }
    }
}

#[tokio::test]
async fn scope_over_ipv6_loopback() {
    require_ipv6_loopback();
    let pr1 = registrar(1, v6(), v6(), Vec::new()).await;
    let pr2 = registrar(2, v6(), v6(), vec![pr1.enrp_addrs()[0]]).await;
    let (a, _ha) = echo_pe(pr1.asap_addrs()[0]).await;
    let (b, _hb) = echo_pe(pr2.asap_addrs()[0]).await;
    for pr in [&pr1, &pr2] {
        let pu = pool_user(pr.asap_addrs()[0]).await;
        let pes = resolve_all(&pu, &[a.pe_id(), b.pe_id()]).await;
        for pe in &pes {
            // Registered with the association's address: ::1.
            assert_eq!(
                pe.user_transport.addresses(),
                [IpAddr::V6(Ipv6Addr::LOCALHOST)],
                "{pe:?}"
            );
        }
        reachable(&pes).await;
        echo_session(&pu).await;
        echo_session(&pu).await;
    }
}

#[tokio::test]
async fn dual_stack_scope() {
    require_ipv6_loopback();
    // One registrar per family, peered across them.
    let pr4 = registrar(4, v4(), v4(), Vec::new()).await;
    let pr6 = registrar(6, v6(), v6(), vec![pr4.enrp_addrs()[0]]).await;
    let (a, _ha) = echo_pe(pr4.asap_addrs()[0]).await;
    let (b, _hb) = echo_pe(pr6.asap_addrs()[0]).await;
    for pr in [&pr4, &pr6] {
        // Pool users of either family see both PEs and reach each.
        let pu = pool_user(pr.asap_addrs()[0]).await;
        let pes = resolve_all(&pu, &[a.pe_id(), b.pe_id()]).await;
        let family = |id: PeId| {
            let pe = pes.iter().find(|p| p.pe_id == id).unwrap();
            pe.user_transport.addresses()[0].is_ipv6()
        };
        assert!(!family(a.pe_id()), "PE homed at the IPv4 registrar: IPv4");
        assert!(family(b.pe_id()), "PE homed at the IPv6 registrar: IPv6");
        reachable(&pes).await;
        for _ in 0..4 {
            echo_session(&pu).await;
        }
    }
}

/// A dual-stack control endpoint ([::]) opens its registrar associations
/// from its own port over either family, and a registrar that takes the
/// PE over reaches it back at the address it saw.
#[tokio::test]
async fn a_dual_stack_control_endpoint_shares_its_port_over_both_families() {
    use rserpool::transport::data::{bind_control, connect_from};
    use rserpool::transport::{Carrier, Listener, Ppid, connect};
    require_ipv6_loopback();
    let control = bind_control("[::]:0".parse().unwrap(), Carrier::Tcp).unwrap();
    let local = control.local_addrs().unwrap()[0];
    for registrar_addr in [v4(), v6()] {
        let registrar = Listener::bind(&[registrar_addr], Carrier::Tcp, Ppid::Asap).unwrap();
        let raddr = registrar.local_addrs().unwrap()[0];
        let (out, acc) = tokio::join!(connect_from(local, raddr, Carrier::Tcp), registrar.accept());
        let _out = out.unwrap();
        let (_, seen) = acc.unwrap();
        assert_eq!(seen.port(), local.port(), "from the control port");
        assert_eq!(seen.is_ipv4(), raddr.is_ipv4(), "in the registrar's family");
        let (back, acc) = tokio::join!(connect(seen, Carrier::Tcp, Ppid::Asap), control.accept());
        back.unwrap();
        acc.unwrap();
    }
}
