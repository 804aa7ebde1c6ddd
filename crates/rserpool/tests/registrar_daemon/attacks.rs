//! Attacks from RFC 5355 on a real registrar, by a host that only reaches
//! its ports (loopback; the attacker speaks from 127.0.0.9 and further
//! 127/8 addresses). Each performs the attack and checks that it fails.

use super::*;
use rserpool::transport::connect_from;
use rserpool_proto::registrar::AddrPrefix;
use rserpool_proto::wire::asap::{EndpointUnreachable, RegistrationResponse};
use rserpool_proto::wire::enrp::{ListResponse, TakeoverServer};
use std::net::IpAddr;

const ATTACKER: ServerId = ServerId(0x666);

fn host(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// An ENRP association from `from` that introduces itself as `id`.
async fn enrp_peer(pr: SocketAddr, from: IpAddr, id: ServerId) -> Association {
    let mut a = connect_from(SocketAddr::new(from, 0), pr, carrier(), Ppid::Enrp)
        .await
        .unwrap();
    let me = a.local_addr().unwrap();
    let p = EnrpMessage::from(Presence {
        reply_required: false,
        sender: id,
        receiver: ServerId(0),
        checksum: Some(0xffff),
        server_info: ServerInformation {
            server_id: id,
            transport: TransportParam::Tcp {
                port: me.port(),
                transport_use: TransportUse::DataOnly,
                address: me.ip(),
            },
        },
    });
    a.send(&p.to_bytes().expect("encodes")).await.unwrap();
    a
}

/// Home registrar of each PE a registrar resolves the pool to.
async fn homes(pr: SocketAddr, pool: &str) -> Vec<(u32, u32)> {
    let mut c = Client::connect(pr).await;
    c.send(HandleResolution {
        pool_handle: pool.into(),
        items: Some(u32::MAX),
    })
    .await;
    match c.recv().await {
        AsapMessage::HandleResolutionResponse(r) => r
            .pool_elements
            .iter()
            .map(|p| (p.pe_id.0, p.home_server_id.0))
            .collect(),
        _ => Vec::new(),
    }
}

/// A PE that answers keep-alives until dropped.
fn keep_alive(mut c: Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            c.recv_answer().await;
        }
    })
}

#[tokio::test]
async fn attack_a_takeover_server_nobody_agreed_to_moves_no_pe() {
    let pr1 = registrar(0x11, vec![]).await;
    let pr2 = registrar(0x22, vec![pr1.enrp_addrs()[0]]).await;
    let (c, _l) = pe_with_listener(pr2.asap_addrs()[0], "victims", 0x77).await;
    let _k = keep_alive(c);
    let at1 = pr1.asap_addrs()[0];
    eventually("PR 1 knows the PE", || async move {
        homes(at1, "victims").await == vec![(0x77, 0x22)]
    })
    .await;
    let mut a = enrp_peer(pr1.enrp_addrs()[0], host(9), ATTACKER).await;
    let ts = EnrpMessage::from(TakeoverServer {
        sender: ATTACKER,
        receiver: ServerId(0x11),
        target_server_id: ServerId(0x22),
    });
    a.send(&ts.to_bytes().expect("encodes")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(homes(at1, "victims").await, vec![(0x77, 0x22)]);
}

#[tokio::test]
async fn attack_a_squatter_cannot_suppress_a_takeover() {
    let pr1 = registrar(0x11, vec![]).await;
    let pr2 = registrar(0x22, vec![pr1.enrp_addrs()[0]]).await;
    let (c, listener) = pe_with_listener(pr2.asap_addrs()[0], "victims", 0x77).await;
    let at1 = pr1.asap_addrs()[0];
    eventually("PR 1 knows the PE", || async move {
        homes(at1, "victims").await == vec![(0x77, 0x22)]
    })
    .await;
    pr2.kill();
    drop(c);
    // From another host, keep claiming to be the dead registrar.
    let enrp1 = pr1.enrp_addrs()[0];
    let squatter = tokio::spawn(async move {
        loop {
            if let Ok(Ok(mut a)) = tokio::time::timeout(
                Duration::from_secs(1),
                connect_from(SocketAddr::new(host(9), 0), enrp1, carrier(), Ppid::Enrp),
            )
            .await
            {
                let me = a.local_addr().unwrap();
                for _ in 0..5 {
                    let p = EnrpMessage::from(Presence {
                        reply_required: false,
                        sender: ServerId(0x22),
                        receiver: ServerId(0),
                        checksum: Some(0xffff),
                        server_info: ServerInformation {
                            server_id: ServerId(0x22),
                            transport: TransportParam::Tcp {
                                port: me.port(),
                                transport_use: TransportUse::DataOnly,
                                address: me.ip(),
                            },
                        },
                    });
                    if a.send(&p.to_bytes().expect("encodes")).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    // PR 1 takes the PE over all the same: it reaches the PE.
    let (mut a, _) = tokio::time::timeout(Duration::from_secs(20), listener.accept())
        .await
        .expect("no takeover despite the squatter")
        .unwrap();
    squatter.abort();
    let bytes = tokio::time::timeout(WAIT, a.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
        .to_vec();
    let m = AsapMessage::decode(&bytes, &DecodeOptions::default())
        .unwrap()
        .message;
    assert!(
        matches!(m, AsapMessage::EndpointKeepAlive(EndpointKeepAlive { home: true, server_id, .. }) if server_id == ServerId(0x11)),
        "{m:?}"
    );
}

#[tokio::test]
async fn attack_one_pool_user_cannot_evict_a_pe() {
    let pr = registrar(0x11, vec![]).await;
    let at = pr.asap_addrs()[0];
    let mut owner = Client::connect(at).await;
    assert!(matches!(
        register(&mut owner, "kept", pe(0x77, 7000, Policy::RoundRobin)).await,
        AsapMessage::RegistrationResponse(RegistrationResponse { reject: false, .. })
    ));
    let _k = keep_alive(owner);
    let report = |from: u8| async move {
        let mut a = connect_from(SocketAddr::new(host(from), 0), at, carrier(), Ppid::Asap)
            .await
            .unwrap();
        for _ in 0..10 {
            let m = AsapMessage::from(EndpointUnreachable {
                pool_handle: "kept".into(),
                pe_id: PeId(0x77),
            });
            a.send(&m.to_bytes().expect("encodes")).await.unwrap();
        }
        // A resolution on the same association: answered after the reports.
        let r = AsapMessage::from(HandleResolution {
            pool_handle: "kept".into(),
            items: None,
        });
        a.send(&r.to_bytes().expect("encodes")).await.unwrap();
        let _ = tokio::time::timeout(WAIT, a.recv()).await;
    };
    report(9).await;
    report(9).await;
    assert_eq!(resolve(at, "kept").await, BTreeSet::from([0x77]));
    // Reports from three hosts (MAX-BAD-PE-REPORT) still remove it.
    report(10).await;
    report(11).await;
    assert!(resolve(at, "kept").await.is_empty());
}

#[tokio::test]
async fn attack_a_list_response_does_not_make_the_registrar_connect_out() {
    let pr = registrar(0x11, vec![]).await;
    // Where the attacker wants connections to go.
    let target = Listener::bind(&[SocketAddr::new(host(9), 0)], carrier(), Ppid::Enrp).unwrap();
    let to = target.local_addrs().unwrap()[0];
    let counter = tokio::spawn(async move {
        let mut n = 0usize;
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(3), target.accept()).await {
            n += 1;
        }
        n
    });
    let mut a = enrp_peer(pr.enrp_addrs()[0], host(10), ATTACKER).await;
    let servers = (0..1000u32)
        .map(|i| ServerInformation {
            server_id: ServerId(0x1000 + i),
            transport: TransportParam::Tcp {
                port: to.port(),
                transport_use: TransportUse::DataOnly,
                address: to.ip(),
            },
        })
        .collect();
    let l = EnrpMessage::from(ListResponse {
        reject: false,
        sender: ATTACKER,
        receiver: ServerId(0x11),
        servers,
    });
    a.send(&l.to_bytes().expect("encodes")).await.unwrap();
    let n = counter.await.unwrap();
    assert!(
        n <= 1,
        "the registrar opened {n} associations to the named address"
    );
}

#[tokio::test]
async fn attack_registrations_at_group_addresses_or_for_weeks_are_refused() {
    let pr = registrar(0x11, vec![]).await;
    let mut c = Client::connect(pr.asap_addrs()[0]).await;
    let mut group = pe(0x70, 7000, Policy::RoundRobin);
    group.user_transport = TransportParam::Tcp {
        port: 7000,
        transport_use: TransportUse::DataPlusControl,
        address: [224, 0, 0, 1].into(),
    };
    let mut weeks = pe(0x71, 7000, Policy::RoundRobin);
    weeks.registration_life = 24 * 86_400 * 1000;
    for bad in [group, weeks] {
        match register(&mut c, "absurd", bad).await {
            AsapMessage::RegistrationResponse(r) => {
                assert!(r.reject);
                assert_eq!(
                    r.error.unwrap().causes[0].code,
                    ErrorCauseCode::InvalidValues
                );
            }
            m => panic!("{m:?}"),
        }
    }
    assert!(resolve(pr.asap_addrs()[0], "absurd").await.is_empty());
}

#[tokio::test]
async fn attack_with_an_allow_list_another_host_is_no_peer() {
    let mut cfg = config(0x11, vec![]);
    cfg.registrar.peer_allow = vec![AddrPrefix::new(host(1), 32)];
    let pr = start(cfg).await.unwrap();
    let mut a = enrp_peer(pr.enrp_addrs()[0], host(9), ATTACKER).await;
    // The association is closed without an answer.
    let r = tokio::time::timeout(WAIT, a.recv())
        .await
        .expect("not closed");
    assert!(matches!(r, Ok(None) | Err(_)), "{r:?}");
    // From the allowed host, the same is a peer (answered with a PRESENCE
    // and its requests).
    let mut ok = enrp_peer(pr.enrp_addrs()[0], host(1), ServerId(0x33)).await;
    let bytes = tokio::time::timeout(WAIT, ok.recv())
        .await
        .unwrap()
        .unwrap()
        .expect("closed");
    assert!(EnrpMessage::decode(bytes, &DecodeOptions::default()).is_ok());
}

#[tokio::test]
async fn attack_another_host_cannot_take_a_pe_id_over() {
    let pr = registrar(0x11, vec![]).await;
    let at = pr.asap_addrs()[0];
    let mut owner = Client::connect(at).await;
    let victim = pe(0x77, 7000, Policy::LeastUsed { load: 10 });
    assert!(matches!(
        register(&mut owner, "lu", victim).await,
        AsapMessage::RegistrationResponse(RegistrationResponse { reject: false, .. })
    ));
    let _k = keep_alive(owner);
    // What a handle resolution shows of the PE, registered from elsewhere
    // with the load set to the maximum.
    let mut c = Client::connect(at).await;
    c.send(HandleResolution {
        pool_handle: "lu".into(),
        items: None,
    })
    .await;
    let AsapMessage::HandleResolutionResponse(r) = c.recv().await else {
        panic!("no resolution")
    };
    let mut seized = r.pool_elements[0].clone();
    seized.home_server_id = ServerId(0);
    seized.policy = Policy::LeastUsed { load: u32::MAX };
    let mut attacker = Client {
        a: connect_from(SocketAddr::new(host(9), 0), at, carrier(), Ppid::Asap)
            .await
            .unwrap(),
    };
    match register(&mut attacker, "lu", seized).await {
        AsapMessage::RegistrationResponse(r) => {
            assert!(r.reject);
            assert_eq!(
                r.error.unwrap().causes[0].code,
                ErrorCauseCode::NonUniquePeId
            );
        }
        m => panic!("{m:?}"),
    }
    attacker
        .send(Deregistration {
            pool_handle: "lu".into(),
            pe_id: PeId(0x77),
        })
        .await;
    let _ = attacker.recv_answer().await;
    let mut c = Client::connect(at).await;
    c.send(HandleResolution {
        pool_handle: "lu".into(),
        items: None,
    })
    .await;
    let AsapMessage::HandleResolutionResponse(r) = c.recv().await else {
        panic!("no resolution")
    };
    assert_eq!(r.pool_elements.len(), 1, "still registered");
    assert_eq!(r.pool_elements[0].policy, Policy::LeastUsed { load: 10 });
}

#[tokio::test]
async fn attack_silent_and_stalled_associations_are_closed() {
    let mut cfg = config(0x11, vec![]);
    cfg.handshake_timeout = Duration::from_millis(500);
    let pr = start(cfg).await.unwrap();
    for addr in [pr.asap_addrs()[0], pr.enrp_addrs()[0]] {
        let ppid = if addr == pr.asap_addrs()[0] {
            Ppid::Asap
        } else {
            Ppid::Enrp
        };
        // Nothing at all.
        let mut silent = connect(addr, carrier(), ppid).await.unwrap();
        let r = tokio::time::timeout(WAIT, silent.recv()).await;
        assert!(
            matches!(r, Ok(Ok(None) | Err(_))),
            "silent association still open: {r:?}"
        );
        // A header promising 1,000 bytes, then nothing (a slow-loris).
        let mut stalled = connect(addr, carrier(), ppid).await.unwrap();
        stalled.writer.send(&[0x05, 0, 0x03, 0xe8]).await.unwrap();
        let r = tokio::time::timeout(WAIT, stalled.recv()).await;
        assert!(
            matches!(r, Ok(Ok(None) | Err(_))),
            "stalled association still open: {r:?}"
        );
    }
    // A pool user that talks is served as before.
    assert!(resolve(pr.asap_addrs()[0], "none").await.is_empty());
}

#[tokio::test]
async fn attack_a_client_that_never_reads_is_dropped_not_buffered() {
    let pr = registrar(0x11, vec![]).await;
    let at = pr.asap_addrs()[0];
    // Fifty PEs: each resolution answers a few kilobytes.
    let mut owner = Client::connect(at).await;
    for i in 0..50u32 {
        assert!(matches!(
            register(
                &mut owner,
                "big",
                pe(0x100 + i, 7000 + i as u16, Policy::RoundRobin)
            )
            .await,
            AsapMessage::RegistrationResponse(RegistrationResponse { reject: false, .. })
        ));
    }
    let _k = keep_alive(owner);
    let mut greedy = connect(at, carrier(), Ppid::Asap).await.unwrap();
    let ask = AsapMessage::from(HandleResolution {
        pool_handle: "big".into(),
        items: Some(u32::MAX),
    })
    .to_bytes()
    .expect("encodes");
    // 20,000 resolutions (about 50 MB of answers), none read.
    let mut sent = 0;
    for _ in 0..20_000 {
        match tokio::time::timeout(Duration::from_secs(2), greedy.writer.send(&ask)).await {
            Ok(Ok(())) => sent += 1,
            _ => break,
        }
    }
    // The registrar gave up on it: reading now ends well before all the
    // answers (they were not kept).
    let mut answers = 0;
    loop {
        match tokio::time::timeout(WAIT, greedy.recv()).await {
            Ok(Ok(Some(_))) => answers += 1,
            Ok(Ok(None) | Err(_)) => break,
            Err(_) => panic!("still open after {answers} answers"),
        }
    }
    assert!(answers < sent, "{answers} answers to {sent} requests");
    // Others are served.
    assert_eq!(resolve(at, "big").await.len(), 50);
}
