//! Real registrars on loopback, driven by raw ASAP and ENRP messages.
#![allow(clippy::unwrap_used)]

use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::transport::{Association, Carrier, Listener, Ppid, TransportMode, connect};
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::asap::{
    Deregistration, EndpointKeepAlive, EndpointKeepAliveAck, HandleResolution, Registration,
};
use rserpool_proto::wire::enrp::{HandleTableResponse, PoolEntries, Presence};
use rserpool_proto::wire::{
    AsapMessage, DecodeOptions, EnrpMessage, ErrorCauseCode, PeId, Policy, PoolElement, PoolHandle,
    ServerId, ServerInformation, TransportParam, TransportUse,
};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

#[path = "registrar_daemon/attacks.rs"]
mod attacks;

const WAIT: Duration = Duration::from_secs(10);

/// The carrier under test: TCP, or kernel SCTP with `RSERPOOL_TEST_TRANSPORT=sctp`
/// (the lab VM runs this suite that way).
fn carrier() -> Carrier {
    match std::env::var("RSERPOOL_TEST_TRANSPORT").as_deref() {
        Ok("sctp") => Carrier::Sctp,
        _ => Carrier::Tcp,
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A registrar with short timers so failures show within a second.
fn config(id: u32, peers: Vec<SocketAddr>) -> DaemonConfig {
    let placeholder = TransportParam::Tcp {
        port: 0,
        transport_use: TransportUse::DataOnly,
        address: [127, 0, 0, 1].into(),
    };
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
    let mut d = DaemonConfig::new(c, vec![local()], vec![local()]);
    d.transport = match carrier() {
        Carrier::Sctp => TransportMode::Sctp,
        Carrier::Tcp => TransportMode::Tcp,
    };
    // Over SCTP: one-to-many ASAP (the default) unless this says
    // one-to-one (the lab runs part of the suite both ways).
    if let Ok(style) = std::env::var("RSERPOOL_TEST_SCTP_SOCKETS") {
        d.sctp_sockets = style.parse().expect("one-to-many or one-to-one");
    }
    d.seed = u64::from(id);
    d
}

async fn registrar(id: u32, peers: Vec<SocketAddr>) -> RegistrarHandle {
    start(config(id, peers)).await.unwrap()
}

struct Client {
    a: Association,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            a: connect(addr, carrier(), Ppid::Asap).await.unwrap(),
        }
    }
    async fn send(&mut self, m: impl Into<AsapMessage>) {
        self.a
            .send(&m.into().to_bytes().expect("encodes"))
            .await
            .unwrap();
    }
    async fn recv(&mut self) -> AsapMessage {
        let bytes = tokio::time::timeout(WAIT, self.a.recv())
            .await
            .expect("no answer in time")
            .unwrap()
            .expect("closed");
        AsapMessage::decode(bytes, &DecodeOptions::default())
            .unwrap()
            .message
    }
    /// The next message that is not a keep-alive (which it acknowledges).
    async fn recv_answer(&mut self) -> AsapMessage {
        loop {
            match self.recv().await {
                AsapMessage::EndpointKeepAlive(k) => {
                    if let Some(pe) = k.pe_id {
                        self.send(EndpointKeepAliveAck {
                            pool_handle: k.pool_handle,
                            pe_id: pe,
                        })
                        .await;
                    }
                }
                m => return m,
            }
        }
    }
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

async fn register(c: &mut Client, pool: &str, element: PoolElement) -> AsapMessage {
    c.send(Registration {
        pool_handle: pool.into(),
        pool_element: element,
    })
    .await;
    c.recv_answer().await
}

/// PE IDs a registrar resolves the pool to (empty if it knows no such pool).
async fn resolve(pr: SocketAddr, pool: &str) -> BTreeSet<u32> {
    let mut c = Client::connect(pr).await;
    c.send(HandleResolution {
        pool_handle: pool.into(),
        items: Some(u32::MAX),
    })
    .await;
    match c.recv().await {
        AsapMessage::HandleResolutionResponse(r) => {
            r.pool_elements.iter().map(|p| p.pe_id.0).collect()
        }
        m => panic!("unexpected answer {m:?}"),
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test]
async fn register_resolve_deregister() {
    let pr = registrar(1, vec![]).await;
    let asap = pr.asap_addrs()[0];
    let mut p = Client::connect(asap).await;
    match register(&mut p, "echo", pe(0x42, 7, Policy::RoundRobin)).await {
        AsapMessage::RegistrationResponse(r) => {
            assert!(!r.reject, "{r:?}");
            assert_eq!(r.pe_id, PeId(0x42));
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(resolve(asap, "echo").await, BTreeSet::from([0x42]));

    p.send(Deregistration {
        pool_handle: "echo".into(),
        pe_id: PeId(0x42),
    })
    .await;
    match p.recv_answer().await {
        AsapMessage::DeregistrationResponse(r) => assert!(r.error.is_none(), "{r:?}"),
        m => panic!("{m:?}"),
    }
    let mut c = Client::connect(asap).await;
    c.send(HandleResolution {
        pool_handle: "echo".into(),
        items: None,
    })
    .await;
    match c.recv().await {
        AsapMessage::HandleResolutionResponse(r) => {
            assert!(r.pool_elements.is_empty());
            let causes: Vec<_> = r.error.unwrap().causes.iter().map(|c| c.code).collect();
            assert_eq!(causes, vec![ErrorCauseCode::UnknownPoolHandle]);
        }
        m => panic!("{m:?}"),
    }
    pr.stop().await.unwrap();
}

#[tokio::test]
async fn an_inconsistent_policy_is_rejected() {
    let pr = registrar(2, vec![]).await;
    let asap = pr.asap_addrs()[0];
    let mut a = Client::connect(asap).await;
    assert!(
        matches!(register(&mut a, "p", pe(1, 7, Policy::RoundRobin)).await,
        AsapMessage::RegistrationResponse(r) if !r.reject)
    );
    let mut b = Client::connect(asap).await;
    match register(&mut b, "p", pe(2, 8, Policy::LeastUsed { load: 0 })).await {
        AsapMessage::RegistrationResponse(r) => {
            assert!(r.reject);
            let causes: Vec<_> = r.error.unwrap().causes.iter().map(|c| c.code).collect();
            assert_eq!(causes, vec![ErrorCauseCode::InconsistentPoolingPolicy]);
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(resolve(asap, "p").await, BTreeSet::from([1]));
}

#[tokio::test]
async fn an_unanswered_keep_alive_removes_the_pe() {
    let pr = registrar(3, vec![]).await;
    let asap = pr.asap_addrs()[0];
    let mut live = Client::connect(asap).await;
    register(&mut live, "ka", pe(1, 7, Policy::RoundRobin)).await;
    let mut silent = Client::connect(asap).await;
    register(&mut silent, "ka", pe(2, 8, Policy::RoundRobin)).await;
    // `live` answers keep-alives in the background; `silent` never reads.
    let keeper = tokio::spawn(async move {
        loop {
            live.recv_answer().await;
        }
    });
    eventually("the silent PE is removed", || async {
        resolve(asap, "ka").await == BTreeSet::from([1])
    })
    .await;
    // And the answering one stays through several keep-alive rounds.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(resolve(asap, "ka").await, BTreeSet::from([1]));
    keeper.abort();
    drop(silent);
}

#[tokio::test]
async fn a_lost_association_removes_its_pes() {
    let pr = registrar(4, vec![]).await;
    let asap = pr.asap_addrs()[0];
    let mut p = Client::connect(asap).await;
    register(&mut p, "gone", pe(9, 7, Policy::Random)).await;
    assert_eq!(resolve(asap, "gone").await, BTreeSet::from([9]));
    drop(p);
    eventually("the PE is gone", || async {
        resolve(asap, "gone").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn malformed_input_is_answered_and_others_keep_working() {
    let pr = registrar(5, vec![]).await;
    let asap = pr.asap_addrs()[0];
    let mut good = Client::connect(asap).await;
    register(&mut good, "ok", pe(1, 7, Policy::RoundRobin)).await;

    // An unknown message type: an ASAP Error with Unrecognized Message.
    let mut bad = Client::connect(asap).await;
    bad.a.send(&[0x7f, 0, 0, 8, 1, 2, 3, 4]).await.unwrap();
    match bad.recv().await {
        AsapMessage::Error(e) => {
            assert_eq!(e.error.causes[0].code, ErrorCauseCode::UnrecognizedMessage);
        }
        m => panic!("{m:?}"),
    }
    // A length that cannot be framed: the association is closed.
    let mut broken = Client::connect(asap).await;
    broken.a.send(&[0x01, 0, 0, 2]).await.unwrap();
    let end = tokio::time::timeout(WAIT, broken.a.recv()).await.unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    // A registration with a truncated parameter: an answer, no crash.
    let mut raw = AsapMessage::from(Registration {
        pool_handle: "ok".into(),
        pool_element: pe(2, 8, Policy::RoundRobin),
    })
    .to_bytes()
    .unwrap();
    raw.truncate(raw.len() - 8);
    let len = u16::try_from(raw.len()).unwrap();
    raw[2..4].copy_from_slice(&len.to_be_bytes());
    bad.a.send(&raw).await.unwrap();
    match bad.recv().await {
        AsapMessage::Error(_) => {}
        AsapMessage::RegistrationResponse(r) => assert!(r.reject, "{r:?}"),
        m => panic!("{m:?}"),
    }

    // The good client and the registrar are unaffected.
    assert_eq!(resolve(asap, "ok").await, BTreeSet::from([1]));
    let mut again = Client::connect(asap).await;
    assert!(
        matches!(register(&mut again, "ok", pe(3, 9, Policy::RoundRobin)).await,
        AsapMessage::RegistrationResponse(r) if !r.reject)
    );
    drop(good);
}

#[tokio::test]
async fn three_registrars_converge() {
    let pr1 = registrar(0x11, vec![]).await;
    let pr2 = registrar(0x22, vec![pr1.enrp_addrs()[0]]).await;
    let pr3 = registrar(0x33, vec![pr1.enrp_addrs()[0], pr2.enrp_addrs()[0]]).await;
    let mut clients = Vec::new();
    for (i, pr) in [&pr1, &pr2, &pr3].into_iter().enumerate() {
        for j in 0..5u32 {
            let mut c = Client::connect(pr.asap_addrs()[0]).await;
            let id = (i as u32 + 1) * 100 + j;
            assert!(
                matches!(register(&mut c, "conv", pe(id, 1000 + id as u16, Policy::RoundRobin)).await,
                AsapMessage::RegistrationResponse(r) if !r.reject)
            );
            clients.push(c);
        }
    }
    let keepers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                loop {
                    c.recv_answer().await;
                }
            })
        })
        .collect();
    let all: BTreeSet<u32> = (1..=3)
        .flat_map(|i| (0..5).map(move |j| i * 100 + j))
        .collect();
    for pr in [&pr1, &pr2, &pr3] {
        let addr = pr.asap_addrs()[0];
        let all = all.clone();
        eventually("every registrar knows every PE", || {
            let all = all.clone();
            async move { resolve(addr, "conv").await == all }
        })
        .await;
    }
    for k in keepers {
        k.abort();
    }
}

/// A PE that registers and also listens for associations from a registrar
/// that takes it over.
async fn pe_with_listener(pr: SocketAddr, pool: &str, id: u32) -> (Client, Listener) {
    let l = Listener::bind(&[local()], carrier(), Ppid::Asap).unwrap();
    let port = l.local_addrs().unwrap()[0].port();
    let mut c = Client::connect(pr).await;
    // The PE names its ASAP endpoint, where a registrar that takes it over
    // connects (its association's own port cannot be connected to over TCP).
    let element = PoolElement {
        asap_transport: Some(TransportParam::Tcp {
            port,
            transport_use: TransportUse::DataOnly,
            address: [127, 0, 0, 1].into(),
        }),
        ..pe(id, port, Policy::RoundRobin)
    };
    assert!(matches!(register(&mut c, pool, element).await,
        AsapMessage::RegistrationResponse(r) if !r.reject));
    (c, l)
}

async fn takeover(peers: usize) {
    let pr1 = registrar(0x101, vec![]).await;
    let mut others = Vec::new();
    for i in 0..peers - 1 {
        let mut known = vec![pr1.enrp_addrs()[0]];
        known.extend(others.iter().map(|o: &RegistrarHandle| o.enrp_addrs()[0]));
        others.push(registrar(0x102 + i as u32, known).await);
    }
    let (mut home, listener) = pe_with_listener(pr1.asap_addrs()[0], "to", 0x77).await;
    for o in &others {
        let addr = o.asap_addrs()[0];
        eventually("the peer knows the PE", || async move {
            resolve(addr, "to").await == BTreeSet::from([0x77])
        })
        .await;
    }
    let keeper = tokio::spawn(async move {
        loop {
            home.recv_answer().await;
        }
    });
    pr1.kill();
    keeper.abort();
    // A surviving registrar connects to the PE and claims it with a
    // Keep-Alive carrying the H flag.
    let (mut a, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .expect("no takeover")
        .unwrap();
    let bytes = tokio::time::timeout(WAIT, a.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .to_vec();
    match AsapMessage::decode(&bytes, &DecodeOptions::default())
        .unwrap()
        .message
    {
        AsapMessage::EndpointKeepAlive(EndpointKeepAlive {
            home: true,
            server_id,
            pool_handle,
            ..
        }) => {
            assert_ne!(server_id, ServerId(0x101));
            assert_eq!(pool_handle, PoolHandle::from("to"));
        }
        m => panic!("{m:?}"),
    }
    a.send(
        &AsapMessage::from(EndpointKeepAliveAck {
            pool_handle: "to".into(),
            pe_id: PeId(0x77),
        })
        .to_bytes()
        .unwrap(),
    )
    .await
    .unwrap();
    for o in &others {
        let addr = o.asap_addrs()[0];
        eventually("the PE stays resolvable", || async move {
            resolve(addr, "to").await == BTreeSet::from([0x77])
        })
        .await;
    }
}

#[tokio::test]
async fn takeover_with_two_registrars() {
    takeover(2).await;
}

#[tokio::test]
async fn takeover_with_three_registrars() {
    takeover(3).await;
}

#[tokio::test]
async fn a_restarted_registrar_synchronises_again() {
    let pr1 = registrar(0x201, vec![]).await;
    let mut c = Client::connect(pr1.asap_addrs()[0]).await;
    register(&mut c, "rs", pe(5, 7, Policy::RoundRobin)).await;
    let keeper = tokio::spawn(async move {
        loop {
            c.recv_answer().await;
        }
    });
    let pr2 = registrar(0x202, vec![pr1.enrp_addrs()[0]]).await;
    let a2 = pr2.asap_addrs()[0];
    eventually("the peer learns the PE", || async move {
        resolve(a2, "rs").await == BTreeSet::from([5])
    })
    .await;
    pr2.stop().await.unwrap();
    let pr2 = registrar(0x202, vec![pr1.enrp_addrs()[0]]).await;
    let a2 = pr2.asap_addrs()[0];
    eventually("the restarted peer learns the PE again", || async move {
        resolve(a2, "rs").await == BTreeSet::from([5])
    })
    .await;
    keeper.abort();
}

#[tokio::test]
async fn a_checksum_mismatch_is_repaired() {
    let pr = registrar(0x301, vec![]).await;
    // A fake peer announces one PE by checksum but never sent it: the
    // registrar must ask for the peer's own entries (W flag) and take them.
    let mut peer = connect(pr.enrp_addrs()[0], carrier(), Ppid::Enrp)
        .await
        .unwrap();
    let me = ServerId(0x399);
    let info = ServerInformation {
        server_id: me,
        transport: TransportParam::Tcp {
            port: 9,
            transport_use: TransportUse::DataOnly,
            address: [127, 0, 0, 1].into(),
        },
    };
    let element = PoolElement {
        home_server_id: me,
        ..pe(0x55, 7, Policy::RoundRobin)
    };
    let sum = rserpool_proto::handlespace::checksum::compute([(&b"cs"[..], PeId(0x55))]);
    let presence = Presence {
        reply_required: false,
        sender: me,
        receiver: ServerId(0),
        checksum: Some(sum.0),
        server_info: info,
    };
    let asap = pr.asap_addrs()[0];
    let mut answered = false;
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline && !answered {
        // Like a live peer, announce the checksum again and again.
        let p = EnrpMessage::from(presence.clone())
            .to_bytes()
            .expect("encodes");
        peer.send(&p).await.unwrap();
        let Ok(Ok(Some(bytes))) =
            tokio::time::timeout(Duration::from_millis(200), peer.recv()).await
        else {
            continue;
        };
        let m = EnrpMessage::decode(bytes, &DecodeOptions::default())
            .unwrap()
            .message;
        if let EnrpMessage::HandleTableRequest(r) = m {
            // A start-up synchronisation asks for everything: the fake peer
            // says it has nothing there, so only the checksum audit can
            // find its PE.
            let pools = if r.own_children_only {
                answered = true;
                vec![PoolEntries {
                    pool_handle: "cs".into(),
                    pool_elements: vec![element.clone()],
                }]
            } else {
                vec![]
            };
            let resp = HandleTableResponse {
                reject: false,
                more_to_send: false,
                sender: me,
                receiver: ServerId(0x301),
                pools,
            };
            let bytes = EnrpMessage::from(resp).to_bytes().expect("encodes");
            peer.send(&bytes).await.unwrap();
        }
    }
    assert!(
        answered,
        "no Handle Table Request after the checksum mismatch"
    );
    eventually("the peer's PE is known", || async move {
        resolve(asap, "cs").await == BTreeSet::from([0x55])
    })
    .await;
}

#[tokio::test]
async fn handle_resolutions_beyond_the_rate_limit_get_lack_of_resources() {
    let mut cfg = config(0x401, vec![]);
    cfg.registrar.max_hr_rate = Some(5);
    let pr = start(cfg).await.unwrap();
    let asap = pr.asap_addrs()[0];
    let mut p = Client::connect(asap).await;
    register(&mut p, "rl", pe(1, 7, Policy::RoundRobin)).await;
    let mut c = Client::connect(asap).await;
    for _ in 0..50 {
        c.send(HandleResolution {
            pool_handle: "rl".into(),
            items: None,
        })
        .await;
    }
    let mut served = 0;
    let mut refused = 0;
    while let Ok(Ok(Some(bytes))) =
        tokio::time::timeout(Duration::from_millis(500), c.a.recv()).await
    {
        match AsapMessage::decode(bytes, &DecodeOptions::default()).map(|d| d.message) {
            Ok(AsapMessage::HandleResolutionResponse(r)) if r.error.is_none() => served += 1,
            Ok(AsapMessage::HandleResolutionResponse(r)) => {
                assert_eq!(
                    r.error.unwrap().causes[0].code,
                    ErrorCauseCode::LackOfResources
                );
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // A burst beyond the rate: about one second's worth is served, the
    // rest refused with Lack of Resources; none goes unanswered.
    assert!((1..=10).contains(&served), "{served} of 50 served");
    assert_eq!(served + refused, 50);
}

#[tokio::test]
async fn associations_beyond_the_limit_get_lack_of_resources() {
    let mut cfg = config(0x501, vec![]);
    cfg.max_associations = 2;
    // The global limit under test, not the per-host one (all on loopback).
    cfg.max_associations_per_host = Some(10);
    let pr = start(cfg).await.unwrap();
    let asap = pr.asap_addrs()[0];
    let mut a = Client::connect(asap).await;
    let mut b = Client::connect(asap).await;
    register(&mut a, "lim", pe(1, 7, Policy::RoundRobin)).await;
    register(&mut b, "lim", pe(2, 8, Policy::RoundRobin)).await;
    let mut c = Client::connect(asap).await;
    match c.recv().await {
        AsapMessage::Error(e) => {
            assert_eq!(e.error.causes[0].code, ErrorCauseCode::LackOfResources)
        }
        m => panic!("{m:?}"),
    }
    let end = tokio::time::timeout(WAIT, c.a.recv()).await.unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    // The two within the limit are served as before.
    assert_eq!(resolve_on(&mut a, "lim").await, BTreeSet::from([1, 2]));
}

/// Resolves over an existing association (a new one would exceed a limit).
async fn resolve_on(c: &mut Client, pool: &str) -> BTreeSet<u32> {
    c.send(HandleResolution {
        pool_handle: pool.into(),
        items: Some(u32::MAX),
    })
    .await;
    match c.recv_answer().await {
        AsapMessage::HandleResolutionResponse(r) => {
            r.pool_elements.iter().map(|p| p.pe_id.0).collect()
        }
        m => panic!("unexpected answer {m:?}"),
    }
}

#[tokio::test]
async fn messages_over_the_size_limit_get_lack_of_resources() {
    let mut cfg = config(0x601, vec![]);
    cfg.registrar.decode.max_message_size = 256;
    let pr = start(cfg).await.unwrap();
    let asap = pr.asap_addrs()[0];
    let mut c = Client::connect(asap).await;
    // A registration whose pool handle alone is over the limit.
    let big = "x".repeat(400);
    c.send(Registration {
        pool_handle: big.as_str().into(),
        pool_element: pe(1, 7, Policy::RoundRobin),
    })
    .await;
    match c.recv().await {
        AsapMessage::Error(e) => {
            assert_eq!(e.error.causes[0].code, ErrorCauseCode::LackOfResources)
        }
        m => panic!("{m:?}"),
    }
    // The association is still usable.
    assert!(matches!(
        register(&mut c, "small", pe(2, 8, Policy::RoundRobin)).await,
        AsapMessage::RegistrationResponse(r) if !r.reject
    ));
}

#[tokio::test]
async fn serves_over_ipv6() {
    let any6: SocketAddr = "[::1]:0".parse().unwrap();
    let mut cfg = config(0x701, vec![]);
    cfg.asap_addrs = vec![any6];
    cfg.enrp_addrs = vec![any6];
    let pr = start(cfg).await.unwrap();
    let asap = pr.asap_addrs()[0];
    assert!(asap.is_ipv6());
    let mut p = Client::connect(asap).await;
    let element = PoolElement {
        user_transport: TransportParam::Tcp {
            port: 7,
            transport_use: TransportUse::DataOnly,
            address: "::1".parse().unwrap(),
        },
        ..pe(0x66, 7, Policy::RoundRobin)
    };
    assert!(matches!(
        register(&mut p, "v6", element).await,
        AsapMessage::RegistrationResponse(r) if !r.reject
    ));
    let mut c = Client::connect(asap).await;
    c.send(HandleResolution {
        pool_handle: "v6".into(),
        items: None,
    })
    .await;
    match c.recv().await {
        AsapMessage::HandleResolutionResponse(r) => {
            assert_eq!(r.pool_elements.len(), 1);
            assert_eq!(
                r.pool_elements[0].user_transport.addresses(),
                ["::1".parse::<std::net::IpAddr>().unwrap()]
            );
        }
        m => panic!("{m:?}"),
    }
}
