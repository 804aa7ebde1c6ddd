//! Pool elements and pool users on loopback TCP with a real registrar:
//! sessions, failover with cookie replay, and a compute job resumed from
//! its cookie.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{local, mode, placeholder};
use rserpool::pool_element::{self, PoolElementConfig, PoolElementHandle, SessionMessage};
use rserpool::pool_user::{self, PoolUserConfig, PoolUserHandle, Session, SessionEvent};
use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::services::{self, Service, ServiceConfig, ServiceHost};
use rserpool::transport::TransportMode;
use rserpool_proto::asap_endpoint::AsapTimers;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::{PeId, Policy, ServerId, TransportParam, TransportUse};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

async fn registrar(id: u32) -> RegistrarHandle {
    let placeholder = placeholder();
    let mut c = Config::new(ServerId(id), placeholder);
    c.max_hres_items = 1000;
    c.keep_alive_transmission_interval = Duration::from_millis(300);
    c.keep_alive_timeout = Duration::from_millis(300);
    let mut d = DaemonConfig::new(c, vec![local()], vec![local()]);
    d.transport = mode();
    d.seed = u64::from(id);
    start(d).await.unwrap()
}

fn timers() -> AsapTimers {
    let mut t = AsapTimers::DEFAULT;
    t.t1_enrp_request = Duration::from_millis(500);
    t.t2_registration = Duration::from_millis(500);
    t.t6_server_announce = Duration::from_millis(100);
    t.connect_timeout = Duration::from_millis(1000);
    t
}

async fn pool_element(pool: &str, registrar: SocketAddr) -> PoolElementHandle {
    let mut cfg = PoolElementConfig::new(pool, Policy::RoundRobin);
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.registrars = vec![registrar];
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

async fn next(s: &mut Session) -> SessionEvent {
    tokio::time::timeout(WAIT, s.recv())
        .await
        .expect("no session event in time")
        .expect("pool user stopped")
}

/// An echo application on the library API: every message comes back,
/// followed by a COOKIE counting the session's messages; COOKIE_ECHOes
/// are reported with the PE's ID.
fn echo_with_cookies(
    mut pe: PoolElementHandle,
    echoes: mpsc::UnboundedSender<(PeId, Vec<u8>)>,
) -> (PoolElementHandle, tokio::task::JoinHandle<()>) {
    let id = pe.pe_id();
    let mut acceptor = pe.take_sessions();
    let task = tokio::spawn(async move {
        while let Some(mut s) = acceptor.accept().await {
            let echoes = echoes.clone();
            tokio::spawn(async move {
                let mut count = 0u32;
                while let Ok(Some(m)) = s.recv().await {
                    match m {
                        SessionMessage::Data(f) => {
                            count += 1;
                            if s.send(f.ppid, f.payload).await.is_err()
                                || s.send_cookie(format!("n={count}").as_bytes())
                                    .await
                                    .is_err()
                            {
                                return;
                            }
                        }
                        SessionMessage::CookieEcho(c) => {
                            assert_eq!(s.echoed_cookie(), Some(&c[..]));
                            let _ = echoes.send((id, c));
                        }
                        SessionMessage::BusinessCard(_) => {}
                    }
                }
            });
        }
    });
    (pe, task)
}

#[tokio::test]
async fn failover_replays_the_cookie_and_loses_no_message() {
    let pr = registrar(1).await;
    let asap = pr.asap_addrs()[0];
    let (echo_tx, mut echo_rx) = mpsc::unbounded_channel();
    let (a, a_task) = echo_with_cookies(pool_element("echo", asap).await, echo_tx.clone());
    let (b, b_task) = echo_with_cookies(pool_element("echo", asap).await, echo_tx);
    let pu = pool_user(asap).await;
    let resolved = pu.resolve("echo").await.unwrap();
    let mut ids: Vec<PeId> = resolved.iter().map(|p| p.pe_id).collect();
    ids.sort();
    let mut want = vec![a.pe_id(), b.pe_id()];
    want.sort();
    assert_eq!(ids, want);

    let mut s = pu.open_session("echo").await.unwrap();
    let mut sent = Vec::new();
    for i in 0..5 {
        let m = format!("message {i}");
        s.send(m.clone().into_bytes()).await.unwrap();
        sent.push(m);
    }
    let first = match next(&mut s).await {
        SessionEvent::Up { pe_id } => pe_id,
        e => panic!("expected the session to come up, got {e:?}"),
    };
    let mut got = Vec::new();
    while got.len() < 5 {
        match next(&mut s).await {
            SessionEvent::Data(f) => got.push(String::from_utf8(f.payload).unwrap()),
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(got, sent);
    // The cookie of the fifth message has arrived once the PU has it.
    for _ in 0..100 {
        if s.cookie().await.unwrap().as_deref() == Some(b"n=5") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(s.cookie().await.unwrap().as_deref(), Some(&b"n=5"[..]));

    // Kill the serving PE (crash: no deregistration).
    let (survivor, _survivor_task) = if first == a.pe_id() {
        a.kill();
        a_task.abort();
        (b, b_task)
    } else {
        b.kill();
        b_task.abort();
        (a, a_task)
    };
    // The session notices the closed data channel and moves on at once,
    // replaying the last cookie.
    match next(&mut s).await {
        SessionEvent::Failover {
            from,
            to,
            cookie_replayed,
        } => {
            assert_eq!(from, first);
            assert_eq!(to, survivor.pe_id());
            assert!(cookie_replayed);
        }
        e => panic!("expected a failover, got {e:?}"),
    }
    // (Messages written into the dying association before the failure
    // shows cannot be saved: ASAP sessions have no acknowledgements. The
    // first five messages above were queued before the session was up.)
    for i in 5..10 {
        let m = format!("message {i}");
        s.send(m.clone().into_bytes()).await.unwrap();
        sent.push(m);
    }
    while got.len() < 10 {
        match next(&mut s).await {
            SessionEvent::Data(f) => got.push(String::from_utf8(f.payload).unwrap()),
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(got, sent, "every message, in order, exactly once");
    let (pe, cookie) = tokio::time::timeout(WAIT, echo_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pe, survivor.pe_id());
    assert_eq!(cookie, b"n=5", "the new PE saw the last cookie");
    // The dead PE is gone from the handlespace (its association closed).
    let after: Vec<PeId> = pu
        .resolve("echo")
        .await
        .unwrap()
        .iter()
        .map(|p| p.pe_id)
        .collect();
    assert!(!after.contains(&first), "{after:?}");
    s.close().await;
    survivor.stop().await.unwrap();
}

fn compute_pe(pe: &mut PoolElementHandle) -> ServiceHost {
    let mut cfg = ServiceConfig::new(Service::Compute);
    cfg.compute_step = Duration::from_millis(40);
    services::spawn(cfg, pe.take_sessions())
}

#[tokio::test]
async fn a_compute_job_resumes_from_its_cookie_after_failover() {
    let pr = registrar(2).await;
    let asap = pr.asap_addrs()[0];
    let mut a = pool_element("compute", asap).await;
    let mut b = pool_element("compute", asap).await;
    let a_host = compute_pe(&mut a);
    let b_host = compute_pe(&mut b);
    let pu = pool_user(asap).await;
    let mut s = pu.open_session("compute").await.unwrap();
    s.send(b"compute 25".to_vec()).await.unwrap();
    let first = match next(&mut s).await {
        SessionEvent::Up { pe_id } => pe_id,
        e => panic!("{e:?}"),
    };
    // Let the job make progress, then crash its PE.
    let mut progress = 0;
    for _ in 0..200 {
        if let Some(c) = s.cookie().await.unwrap() {
            let text = String::from_utf8(c).unwrap();
            progress = text.rsplit(' ').next().unwrap().parse().unwrap_or(0);
            if progress >= 8 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(progress >= 8, "no progress cookie");
    let (survivor, _host) = if first == a.pe_id() {
        a.kill();
        drop(a_host);
        (b, b_host)
    } else {
        b.kill();
        drop(b_host);
        (a, a_host)
    };
    match next(&mut s).await {
        SessionEvent::Failover {
            from,
            to,
            cookie_replayed,
        } => {
            assert_eq!((from, to), (first, survivor.pe_id()));
            assert!(cookie_replayed);
        }
        e => panic!("expected a failover, got {e:?}"),
    }
    let result = match next(&mut s).await {
        SessionEvent::Data(f) => String::from_utf8(f.payload).unwrap(),
        e => panic!("{e:?}"),
    };
    let resumed: u64 = result
        .strip_prefix("result 25 resumed_from=")
        .unwrap_or_else(|| panic!("unexpected answer {result:?}"))
        .parse()
        .unwrap();
    assert!(
        resumed >= progress && resumed < 25,
        "resumed from {resumed}, progress seen {progress}"
    );
    // The job is over: its cookie says so, so a later failover redoes nothing.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(s.cookie().await.unwrap().as_deref(), Some(&b"idle"[..]));
}

#[tokio::test]
async fn services_answer_as_documented() {
    let pr = registrar(3).await;
    let asap = pr.asap_addrs()[0];
    let mut hosts = Vec::new();
    let mut pes = Vec::new();
    for svc in [Service::PingPong, Service::Chargen, Service::Daytime] {
        let mut pe = pool_element(svc.name(), asap).await;
        hosts.push(services::spawn(ServiceConfig::new(svc), pe.take_sessions()));
        pes.push(pe);
    }
    let pu = pool_user(asap).await;

    let mut s = pu.open_session("ping-pong").await.unwrap();
    for i in 1..=3 {
        s.send(b"ping".to_vec()).await.unwrap();
        let f = tokio::time::timeout(WAIT, s.recv_data())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.payload, format!("pong {i}").into_bytes());
    }

    let mut s = pu.open_session("chargen").await.unwrap();
    s.send(b"3".to_vec()).await.unwrap();
    let f = tokio::time::timeout(WAIT, s.recv_data())
        .await
        .unwrap()
        .unwrap();
    let lines: Vec<&[u8]> = f
        .payload
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l.len() == 72));

    let mut s = pu.open_session("daytime").await.unwrap();
    s.send(b"?".to_vec()).await.unwrap();
    let f = tokio::time::timeout(WAIT, s.recv_data())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(f.payload).unwrap();
    assert!(text.ends_with(" UTC") && text.len() == 23, "{text:?}");
}

#[tokio::test]
async fn a_business_card_names_the_failover_target() {
    use rserpool_proto::wire::PoolElement;
    let pr = registrar(4).await;
    let asap = pr.asap_addrs()[0];
    let mut main = pool_element("card", asap).await;
    // The backup is in another pool: only the card leads the session there.
    let mut backup = pool_element("card-backup", asap).await;
    let backup_host = services::spawn(ServiceConfig::new(Service::Echo), backup.take_sessions());
    let card = PoolElement {
        pe_id: backup.pe_id(),
        home_server_id: ServerId(0),
        registration_life: 30_000,
        user_transport: match mode() {
            TransportMode::Sctp => TransportParam::Sctp {
                port: backup.data_addr().port(),
                transport_use: TransportUse::DataPlusControl,
                addresses: [backup.data_addr().ip()].into_iter().collect(),
            },
            _ => TransportParam::Tcp {
                port: backup.data_addr().port(),
                transport_use: TransportUse::DataPlusControl,
                address: backup.data_addr().ip(),
            },
        },
        policy: Policy::RoundRobin,
        asap_transport: None,
    };
    let mut acceptor = main.take_sessions();
    let main_task = tokio::spawn(async move {
        let mut s = acceptor.accept().await.unwrap();
        while let Ok(Some(m)) = s.recv().await {
            if let SessionMessage::Data(f) = m {
                s.send_business_card(None, vec![card.clone()])
                    .await
                    .unwrap();
                s.send(f.ppid, f.payload).await.unwrap();
            }
        }
    });
    let pu = pool_user(asap).await;
    let mut s = pu.open_session("card").await.unwrap();
    s.send(b"one".to_vec()).await.unwrap();
    assert!(matches!(next(&mut s).await, SessionEvent::Up { pe_id } if pe_id == main.pe_id()));
    assert_eq!(s.recv_data().await.unwrap().payload, b"one");
    let from = main.pe_id();
    main.kill();
    main_task.abort();
    match next(&mut s).await {
        SessionEvent::Failover { from: f, to, .. } => {
            assert_eq!(f, from);
            assert_eq!(to, backup.pe_id());
        }
        e => panic!("expected a failover to the card's PE, got {e:?}"),
    }
    s.send(b"two".to_vec()).await.unwrap();
    assert_eq!(s.recv_data().await.unwrap().payload, b"two");
    drop(backup_host);
}

#[tokio::test]
async fn a_burst_of_messages_arrives_in_order_without_failover() {
    let pr = registrar(5).await;
    let asap = pr.asap_addrs()[0];
    let mut pe = pool_element("burst", asap).await;
    let _host = services::spawn(ServiceConfig::new(Service::Echo), pe.take_sessions());
    let pu = pool_user(asap).await;
    let mut s = pu.open_session("burst").await.unwrap();
    const N: u32 = 5_000;
    let payload = vec![7u8; 1000];
    let sender = async {
        for i in 0..N {
            let mut m = i.to_be_bytes().to_vec();
            m.extend_from_slice(&payload);
            s.send(m).await.unwrap();
        }
    };
    sender.await;
    let mut next_seq = 0u32;
    while next_seq < N {
        match next(&mut s).await {
            SessionEvent::Data(f) => {
                assert_eq!(f.payload[..4], next_seq.to_be_bytes());
                next_seq += 1;
            }
            SessionEvent::Up { .. } => {}
            e => panic!("unexpected {e:?} after {next_seq} echoes"),
        }
    }
}

#[tokio::test]
async fn sealed_cookies_survive_failover_and_forged_ones_are_refused() {
    use rserpool::cookie::CookieKey;
    use rserpool::pool_element::CookieSealing;
    use rserpool::transport::data::connect_data;
    use rserpool_proto::data_channel::Frame;
    use rserpool_proto::wire::asap::{AsapMessage, CookieEcho};

    let pr = registrar(3).await;
    let asap = pr.asap_addrs()[0];
    let sealed_pe = || async {
        let mut cfg = PoolElementConfig::new("sealed", Policy::RoundRobin);
        cfg.data_addr = local();
        cfg.control_addr = local();
        cfg.registrars = vec![asap];
        cfg.announces = None;
        cfg.transport = mode();
        cfg.timers = timers();
        cfg.cookies = Some(CookieSealing {
            key: CookieKey::new(*b"a pool secret, 32 bytes long...!").unwrap(),
            max_age: Duration::from_secs(3600),
        });
        let mut pe = pool_element::start(cfg).await.unwrap();
        tokio::time::timeout(WAIT, pe.wait_registered())
            .await
            .expect("PE not registered");
        pe
    };
    let (echo_tx, mut echo_rx) = mpsc::unbounded_channel();
    let (a, a_task) = echo_with_cookies(sealed_pe().await, echo_tx.clone());
    let (b, b_task) = echo_with_cookies(sealed_pe().await, echo_tx);
    let pu = pool_user(asap).await;
    let mut s = pu.open_session("sealed").await.unwrap();
    s.send(b"one".to_vec()).await.unwrap();
    let first = match next(&mut s).await {
        SessionEvent::Up { pe_id } => pe_id,
        e => panic!("{e:?}"),
    };
    assert!(matches!(next(&mut s).await, SessionEvent::Data(_)));
    // The pool user holds a sealed cookie: not the plain state.
    let mut cookie = None;
    for _ in 0..100 {
        cookie = s.cookie().await.unwrap();
        if cookie.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let cookie = cookie.expect("no cookie");
    assert!(
        cookie.starts_with(b"RSC1") && cookie.len() > 20,
        "{cookie:?}"
    );
    let (survivor, _t) = if first == a.pe_id() {
        a.kill();
        a_task.abort();
        (b, b_task)
    } else {
        b.kill();
        b_task.abort();
        (a, a_task)
    };
    assert!(matches!(
        next(&mut s).await,
        SessionEvent::Failover {
            cookie_replayed: true,
            ..
        }
    ));
    // The other PE of the pool opened it to the state the first one sealed.
    let (at, state) = tokio::time::timeout(WAIT, echo_rx.recv())
        .await
        .expect("no cookie echo")
        .unwrap();
    assert_eq!((at, &state[..]), (survivor.pe_id(), &b"n=1"[..]));

    // A forged and an altered cookie are refused: the application never
    // sees them.
    let mut altered = cookie.clone();
    altered[22] ^= 1;
    for bad in [b"RSC1 plain text state, no tag...".to_vec(), altered] {
        let mut ch = connect_data(survivor.data_addr(), survivor_carrier())
            .await
            .unwrap();
        let echo = AsapMessage::from(CookieEcho { cookie: bad });
        ch.writer
            .send(&Frame::new(
                rserpool_proto::wire::PPID_ASAP,
                echo.to_bytes().expect("encodes"),
            ))
            .await
            .unwrap();
        assert!(
            tokio::time::timeout(Duration::from_millis(500), echo_rx.recv())
                .await
                .is_err(),
            "a forged cookie reached the application"
        );
    }
}

fn survivor_carrier() -> rserpool::transport::Carrier {
    match mode() {
        TransportMode::Sctp => rserpool::transport::Carrier::Sctp,
        _ => rserpool::transport::Carrier::Tcp,
    }
}
