//! A TLS scope on loopback (RFC 5352 section 9.2): registrars, PEs and
//! pool users with certificates from one scope CA, and what happens to
//! those without.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{local, placeholder};
use rserpool::pki::{self, Issued, Role};
use rserpool::pool_element::{self, PoolElementConfig, PoolElementHandle, SessionMessage};
use rserpool::pool_user::{self, PoolUserConfig};
use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::transport::tls::{Expect, TlsConfig};
use rserpool::transport::{Association, Carrier, Ppid, TransportMode, connect};
use rserpool_proto::asap_endpoint::AsapTimers;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::asap::{
    Deregistration, EndpointKeepAliveAck, HandleResolution, Registration,
};
use rserpool_proto::wire::enrp::Presence;
use rserpool_proto::wire::{
    AsapMessage, DecodeOptions, EnrpMessage, ErrorCauseCode, PeId, Policy, PoolElement, PoolHandle,
    ServerId, ServerInformation, TransportParam, TransportUse,
};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// A CA and a certificate of it as a TLS configuration.
fn tls(ca: &Issued, role: Option<(&Role, &str)>) -> TlsConfig {
    match role {
        None => TlsConfig::from_pem(ca.cert_pem.as_bytes(), None).unwrap(),
        Some((role, name)) => {
            let own = pki::issue(ca, role, name, &[]).unwrap();
            TlsConfig::from_pem(
                ca.cert_pem.as_bytes(),
                Some((own.cert_pem.as_bytes(), own.key_pem.as_bytes())),
            )
            .unwrap()
        }
    }
}

async fn registrar(ca: &Issued, id: u32, peers: Vec<SocketAddr>) -> RegistrarHandle {
    start(registrar_config(ca, id, peers)).await.unwrap()
}

fn registrar_config(ca: &Issued, id: u32, peers: Vec<SocketAddr>) -> DaemonConfig {
    let placeholder = placeholder();
    let mut c = Config::new(ServerId(id), placeholder);
    c.peers = peers;
    c.max_hres_items = 1000;
    c.mentor_discovery_timeout = Duration::from_millis(300);
    let mut d = DaemonConfig::new(c, vec![local()], vec![local()]);
    d.transport = TransportMode::Tcp;
    d.seed = u64::from(id);
    d.tls = Some(tls(ca, Some((&Role::Registrar(Some(ServerId(id))), "pr"))));
    d
}

fn timers() -> AsapTimers {
    let mut t = AsapTimers::DEFAULT;
    t.t1_enrp_request = Duration::from_millis(500);
    t.t2_registration = Duration::from_millis(500);
    t.connect_timeout = Duration::from_millis(2000);
    t
}

/// An echo PE with a certificate for its pool.
async fn echo_pe(ca: &Issued, pool: &str, registrar: SocketAddr) -> PoolElementHandle {
    let mut cfg = PoolElementConfig::new(pool, Policy::RoundRobin);
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg.transport = TransportMode::Tcp;
    cfg.timers = timers();
    let role = Role::PoolElement(vec![Some(PoolHandle::from(pool))]);
    cfg.tls = Some(tls(ca, Some((&role, "pe-echo"))));
    cfg.data_tls = true;
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(WAIT, pe.wait_registered())
        .await
        .expect("PE not registered over TLS");
    let mut sessions = pe.take_sessions();
    tokio::spawn(async move {
        while let Some(mut s) = sessions.accept().await {
            tokio::spawn(async move {
                while let Ok(Some(SessionMessage::Data(f))) = s.recv().await {
                    if s.send(f.ppid, f.payload).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    pe
}

/// An ASAP or ENRP association over TLS with the given configuration.
async fn tls_assoc(
    cfg: &TlsConfig,
    to: SocketAddr,
    expect: Expect,
) -> std::io::Result<Association> {
    let a = connect(to, Carrier::Tcp, Ppid::Asap).await?;
    tokio::time::timeout(WAIT, cfg.client()?.connect(a, expect))
        .await
        .expect("handshake hangs")
}

async fn send(a: &mut Association, m: impl Into<AsapMessage>) {
    a.send(&m.into().to_bytes().expect("encodes"))
        .await
        .unwrap();
}

/// The next ASAP message that is not a keep-alive (acknowledged).
async fn answer(a: &mut Association) -> AsapMessage {
    loop {
        let bytes = tokio::time::timeout(WAIT, a.recv())
            .await
            .expect("no answer in time")
            .unwrap()
            .expect("closed");
        let m = AsapMessage::decode(bytes, &DecodeOptions::default())
            .unwrap()
            .message;
        match m {
            AsapMessage::EndpointKeepAlive(k) => {
                if let Some(pe) = k.pe_id {
                    let ack = EndpointKeepAliveAck {
                        pool_handle: k.pool_handle,
                        pe_id: pe,
                    };
                    send(a, ack).await;
                }
            }
            m => return m,
        }
    }
}

/// True if the association ends (closed or failed) without a message.
async fn closed_without_answer(a: &mut Association) -> bool {
    match tokio::time::timeout(WAIT, a.recv()).await {
        Err(_) => false,
        Ok(Ok(Some(_))) => false,
        Ok(Ok(None)) | Ok(Err(_)) => true,
    }
}

fn element(id: u32, port: u16) -> PoolElement {
    PoolElement {
        pe_id: PeId(id),
        home_server_id: ServerId(0),
        registration_life: 30_000,
        user_transport: TransportParam::Tcp {
            port,
            transport_use: TransportUse::DataPlusControl,
            address: [127, 0, 0, 1].into(),
        },
        policy: Policy::RoundRobin,
        asap_transport: None,
    }
}

async fn register(a: &mut Association, pool: &str, e: PoolElement) -> AsapMessage {
    let m = Registration {
        pool_handle: pool.into(),
        pool_element: e,
    };
    send(a, m).await;
    answer(a).await
}

fn rejected_for(m: &AsapMessage) -> Option<ErrorCauseCode> {
    match m {
        AsapMessage::RegistrationResponse(r) if r.reject => r
            .error
            .as_ref()
            .and_then(|e| e.causes.first())
            .map(|c| c.code),
        AsapMessage::RegistrationResponse(_) => None,
        other => panic!("not a registration response: {other:?}"),
    }
}

#[tokio::test]
async fn a_tls_scope_of_two_registrars_a_pe_and_a_pu_works_end_to_end() {
    let ca = pki::new_ca().unwrap();
    let pr1 = registrar(&ca, 1, vec![]).await;
    let pr2 = registrar(&ca, 2, vec![pr1.enrp_addrs()[0]]).await;
    let pe = echo_pe(&ca, "echo", pr1.asap_addrs()[0]).await;

    // A pool user without a certificate at the other registrar: the PE
    // reached it over ENRP with TLS.
    let mut cfg = PoolUserConfig::new();
    cfg.registrars = vec![pr2.asap_addrs()[0]];
    cfg.announces = None;
    cfg.transport = TransportMode::Tcp;
    cfg.timers = timers();
    cfg.tls = Some(tls(&ca, None));
    cfg.data_tls = true;
    let pu = pool_user::start(cfg).await.unwrap();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(pes) = pu.resolve("echo").await {
                if pes.iter().any(|p| p.pe_id == pe.pe_id()) {
                    return pes;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the PE never reached the second registrar");
    assert_eq!(found.len(), 1);

    // The session runs over TLS too: the PE's certificate names the pool.
    let mut s = pu.open_session("echo").await.unwrap();
    s.send(b"over tls".to_vec()).await.unwrap();
    let f = tokio::time::timeout(WAIT, s.recv_data())
        .await
        .expect("no echo")
        .expect("pool user stopped");
    assert_eq!(f.payload, b"over tls");
}

#[tokio::test]
async fn plain_tcp_to_a_tls_listener_is_closed() {
    let ca = pki::new_ca().unwrap();
    let pr = registrar(&ca, 3, vec![]).await;
    let mut a = connect(pr.asap_addrs()[0], Carrier::Tcp, Ppid::Asap)
        .await
        .unwrap();
    send(
        &mut a,
        HandleResolution {
            pool_handle: "echo".into(),
            items: None,
        },
    )
    .await;
    assert!(
        closed_without_answer(&mut a).await,
        "ASAP in the clear answered"
    );

    let mut e = connect(pr.enrp_addrs()[0], Carrier::Tcp, Ppid::Enrp)
        .await
        .unwrap();
    let presence = presence(77, pr.enrp_addrs()[0]);
    e.send(&presence).await.unwrap();
    assert!(
        closed_without_answer(&mut e).await,
        "ENRP in the clear answered"
    );
}

fn presence(id: u32, addr: SocketAddr) -> Vec<u8> {
    EnrpMessage::from(Presence {
        sender: ServerId(id),
        receiver: ServerId(0),
        reply_required: true,
        checksum: Some(0),
        server_info: ServerInformation {
            server_id: ServerId(id),
            transport: TransportParam::Tcp {
                port: addr.port(),
                transport_use: TransportUse::DataPlusControl,
                address: addr.ip(),
            },
        },
    })
    .to_bytes()
    .expect("encodes")
}

#[tokio::test]
async fn enrp_needs_a_registrar_certificate_of_the_scope() {
    let ca = pki::new_ca().unwrap();
    let pr = registrar(&ca, 4, vec![]).await;
    let enrp = pr.enrp_addrs()[0];

    // A PE certificate of the right CA: TLS works, ENRP does not.
    let pe_role = Role::PoolElement(vec![None]);
    let mut a = tls_assoc(&tls(&ca, Some((&pe_role, "pe"))), enrp, Expect::Registrar)
        .await
        .unwrap();
    a.send(&presence(66, enrp)).await.unwrap();
    assert!(closed_without_answer(&mut a).await, "a PE became a peer");

    // A registrar certificate for another server ID than the PRESENCE's.
    let role = Role::Registrar(Some(ServerId(5)));
    let mut a = tls_assoc(&tls(&ca, Some((&role, "pr5"))), enrp, Expect::Registrar)
        .await
        .unwrap();
    a.send(&presence(6, enrp)).await.unwrap();
    assert!(
        closed_without_answer(&mut a).await,
        "a registrar spoke as another ID"
    );

    // A registrar certificate from another CA: no TLS session.
    let other = pki::new_ca().unwrap();
    let foreign = tls(&other, Some((&Role::Registrar(None), "intruder")));
    if let Ok(mut a) = tls_assoc(&foreign, enrp, Expect::Any).await {
        // TLS 1.3: the client finishes before the server checks it.
        let _ = a.send(&presence(7, enrp)).await;
        assert!(
            closed_without_answer(&mut a).await,
            "a foreign CA's registrar got in"
        );
    }

    // The right certificate is answered with a PRESENCE.
    let role = Role::Registrar(Some(ServerId(8)));
    let mut a = tls_assoc(&tls(&ca, Some((&role, "pr8"))), enrp, Expect::Registrar)
        .await
        .unwrap();
    a.send(&presence(8, enrp)).await.unwrap();
    let bytes = tokio::time::timeout(WAIT, a.recv())
        .await
        .expect("no answer")
        .unwrap()
        .expect("closed");
    let m = EnrpMessage::decode(bytes, &DecodeOptions::default())
        .unwrap()
        .message;
    assert!(matches!(m, EnrpMessage::Presence(p) if p.sender == ServerId(4)));
}

#[tokio::test]
async fn a_pe_certificate_registers_only_into_its_pools() {
    let ca = pki::new_ca().unwrap();
    let pr = registrar(&ca, 9, vec![]).await;
    let role = Role::PoolElement(vec![Some(PoolHandle::from("a"))]);
    let cfg = tls(&ca, Some((&role, "pe-a")));
    let mut a = tls_assoc(&cfg, pr.asap_addrs()[0], Expect::Registrar)
        .await
        .unwrap();
    let m = register(&mut a, "b", element(1, 4000)).await;
    assert_eq!(
        rejected_for(&m),
        Some(ErrorCauseCode::RejectionDueToSecurity)
    );
    let m = register(&mut a, "a", element(1, 4000)).await;
    assert_eq!(rejected_for(&m), None);

    // Without a certificate (a pool user's connection) nothing registers.
    let mut u = tls_assoc(&tls(&ca, None), pr.asap_addrs()[0], Expect::Registrar)
        .await
        .unwrap();
    let m = register(&mut u, "a", element(2, 4001)).await;
    assert_eq!(
        rejected_for(&m),
        Some(ErrorCauseCode::RejectionDueToSecurity)
    );
}

#[tokio::test]
async fn a_pool_user_that_does_not_trust_the_ca_cannot_connect() {
    let ca = pki::new_ca().unwrap();
    let pr = registrar(&ca, 10, vec![]).await;
    let other = pki::new_ca().unwrap();
    let r = tls_assoc(&tls(&other, None), pr.asap_addrs()[0], Expect::Registrar).await;
    assert!(r.is_err(), "a registrar of another CA was trusted");

    let mut cfg = PoolUserConfig::new();
    cfg.registrars = vec![pr.asap_addrs()[0]];
    cfg.announces = None;
    cfg.transport = TransportMode::Tcp;
    let mut t = timers();
    t.t5_server_hunt = Duration::from_millis(1500);
    cfg.timers = t;
    cfg.tls = Some(tls(&other, None));
    let pu = pool_user::start(cfg).await.unwrap();
    let r = tokio::time::timeout(WAIT, pu.resolve("echo"))
        .await
        .expect("resolution hangs");
    assert!(r.is_err(), "resolved through an untrusted registrar: {r:?}");

    // A server with a PE certificate of the right CA is no registrar.
    let pe_role = Role::PoolElement(vec![None]);
    let fake = tls(&ca, Some((&pe_role, "fake-registrar")))
        .server(rserpool::transport::tls::ClientAuth::Optional)
        .unwrap();
    let l = rserpool::transport::Listener::bind(&[local()], Carrier::Tcp, Ppid::Asap).unwrap();
    let addr = l.local_addrs().unwrap()[0];
    tokio::spawn(async move {
        if let Ok((a, _)) = l.accept().await {
            let _ = fake.accept(a).await;
        }
    });
    let r = tls_assoc(&tls(&ca, None), addr, Expect::Registrar).await;
    assert_eq!(
        r.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::PermissionDenied
    );
}

#[tokio::test]
async fn a_pe_id_belongs_to_the_identity_that_registered_it() {
    let ca = pki::new_ca().unwrap();
    let pr = registrar(&ca, 11, vec![]).await;
    let asap = pr.asap_addrs()[0];
    let role = Role::PoolElement(vec![Some(PoolHandle::from("p"))]);
    let mut x = tls_assoc(&tls(&ca, Some((&role, "pe-x"))), asap, Expect::Registrar)
        .await
        .unwrap();
    let mut y = tls_assoc(&tls(&ca, Some((&role, "pe-y"))), asap, Expect::Registrar)
        .await
        .unwrap();
    assert_eq!(
        rejected_for(&register(&mut x, "p", element(7, 5000)).await),
        None
    );

    // The same PE, host and transport from another identity: refused.
    let m = register(&mut y, "p", element(7, 5000)).await;
    assert_eq!(
        rejected_for(&m),
        Some(ErrorCauseCode::RejectionDueToSecurity)
    );
    send(
        &mut y,
        Deregistration {
            pool_handle: "p".into(),
            pe_id: PeId(7),
        },
    )
    .await;
    match answer(&mut y).await {
        AsapMessage::DeregistrationResponse(d) => {
            let cause = d.error.and_then(|e| e.causes.first().map(|c| c.code));
            assert_eq!(cause, Some(ErrorCauseCode::RejectionDueToSecurity));
        }
        other => panic!("{other:?}"),
    }
    // The same identity on a new association may take its PE back.
    let mut x2 = tls_assoc(&tls(&ca, Some((&role, "pe-x"))), asap, Expect::Registrar)
        .await
        .unwrap();
    assert_eq!(
        rejected_for(&register(&mut x2, "p", element(7, 5000)).await),
        None
    );
}

#[tokio::test]
async fn a_handshake_that_never_comes_is_cut_off() {
    let ca = pki::new_ca().unwrap();
    let mut cfg = registrar_config(&ca, 12, vec![]);
    cfg.handshake_timeout = Duration::from_millis(300);
    let pr = start(cfg).await.unwrap();
    // Connected, silent: no ClientHello.
    let mut a = connect(pr.asap_addrs()[0], Carrier::Tcp, Ppid::Asap)
        .await
        .unwrap();
    assert!(
        closed_without_answer(&mut a).await,
        "a silent connection was kept"
    );
    // A handshake started and stalled (the first bytes of a ClientHello).
    let mut e = connect(pr.enrp_addrs()[0], Carrier::Tcp, Ppid::Enrp)
        .await
        .unwrap();
    e.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
    assert!(
        closed_without_answer(&mut e).await,
        "a stalled handshake was kept"
    );
}

#[tokio::test]
async fn a_pe_without_a_certificate_does_not_start_over_tls() {
    let ca = pki::new_ca().unwrap();
    let mut cfg = PoolElementConfig::new("p", Policy::RoundRobin);
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.registrars = vec![local()];
    cfg.announces = None;
    cfg.tls = Some(tls(&ca, None));
    let e = pool_element::start(cfg).await.map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
}

#[tokio::test]
async fn a_data_channel_needs_a_pe_certificate_for_the_pool() {
    use rserpool::transport::tls::ClientAuth;
    let ca = pki::new_ca().unwrap();
    let pe_a = Role::PoolElement(vec![Some(PoolHandle::from("a"))]);
    let server = tls(&ca, Some((&pe_a, "pe-a")))
        .server(ClientAuth::Optional)
        .unwrap();
    let l = tokio::net::TcpListener::bind(local()).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = l.accept().await {
            let server = server.clone();
            tokio::spawn(async move {
                if let Ok(mut c) = server.accept_data(tcp).await {
                    // Echo one frame.
                    if let Ok(Some(f)) = c.reader.recv().await {
                        let _ = c.writer.send(&f).await;
                    }
                }
            });
        }
    });
    let client = tls(&ca, None).client().unwrap();
    // A session to pool b reaching a PE of pool a: refused.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let r = tokio::time::timeout(WAIT, client.connect_data(tcp, &PoolHandle::from("b")))
        .await
        .expect("handshake hangs");
    assert_eq!(
        r.map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::PermissionDenied
    );
    // Pool a: frames cross.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut c = client
        .connect_data(tcp, &PoolHandle::from("a"))
        .await
        .unwrap();
    let f = rserpool_proto::data_channel::Frame::new(7, b"sealed".to_vec());
    c.writer.send(&f).await.unwrap();
    let back = tokio::time::timeout(WAIT, c.reader.recv())
        .await
        .expect("no echo")
        .unwrap()
        .expect("closed");
    assert_eq!(back, f);
}

/// With a certificate the registrar's HTTP API is HTTPS: a client that
/// trusts the scope CA gets the health answer; plain HTTP gets nothing.
#[tokio::test]
async fn the_http_api_is_https_when_the_registrar_has_a_certificate() {
    let ca = pki::new_ca().unwrap();
    let mut cfg = registrar_config(&ca, 0x51, vec![]);
    cfg.metrics = Some(local());
    let pr = start(cfg).await.unwrap();
    let http = pr.http_addr().unwrap();
    let dir = std::env::temp_dir().join(format!("rserpool-https-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.cert_pem).unwrap();
    let curl = move |url: String, ca: Option<std::path::PathBuf>| {
        let mut c = std::process::Command::new("curl");
        c.args(["-s", "--max-time", "5"]);
        if let Some(ca) = ca {
            // The certificate names a role, not this address: check the
            // chain against the CA and not the host name.
            c.arg("--cacert").arg(ca).arg("--insecure");
        }
        c.arg(url).output().expect("curl is needed for this test")
    };
    let ok = tokio::task::spawn_blocking({
        let ca_file = ca_file.clone();
        move || curl(format!("https://{http}/healthz"), Some(ca_file))
    })
    .await
    .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    assert!(!ok.stdout.is_empty(), "{ok:?}");
    let plain = tokio::task::spawn_blocking(move || curl(format!("http://{http}/healthz"), None))
        .await
        .unwrap();
    assert!(
        !plain.status.success() || plain.stdout.is_empty(),
        "plain HTTP answered: {plain:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
