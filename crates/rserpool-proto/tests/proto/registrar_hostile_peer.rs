//! Attacks on a registrar that need no TLS to fail (RFC 5355): a peer that
//! announces a takeover nobody agreed to, a squatter naming a known peer's
//! ID from another host, registrations with addresses that are no PE's,
//! absurd lifetimes. Each test performs the attack and checks that it fails.
#![allow(clippy::unwrap_used)]

use crate::registrar_net as net;

use net::*;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rserpool_proto::Time;
use rserpool_proto::registrar::{ConnId, Event, Registrar, Transmit};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::enrp::{self, EnrpMessage, UpdateAction};
use rserpool_proto::wire::{
    ErrorCauseCode, PeId, Policy, PoolElement, PoolHandle, ServerId, ServerInformation,
};

const VICTIM: ServerId = ServerId(77);
const ATTACKER: ServerId = ServerId(66);

fn host(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::from([10, 9, 0, last]), 9901)
}

fn ms(t: u64) -> Time {
    Time::from_millis(t)
}

fn presence(id: ServerId, at: SocketAddr) -> Vec<u8> {
    EnrpMessage::from(enrp::Presence {
        reply_required: false,
        sender: id,
        receiver: ServerId(0),
        checksum: Some(0xffff),
        server_info: ServerInformation {
            server_id: id,
            transport: tcp(at.ip(), at.port()),
        },
    })
    .to_bytes()
    .expect("encodes")
}

/// A peer association from `at` that names itself `id`.
fn peer(r: &mut Registrar, now: Time, id: ServerId, at: SocketAddr) -> ConnId {
    let c = r.enrp_accepted(now, at);
    r.enrp_received(now, c, &presence(id, at));
    c
}

fn add_pe(r: &mut Registrar, now: Time, conn: ConnId, from: ServerId, pe: PoolElement) {
    let u = EnrpMessage::from(enrp::HandleUpdate {
        takeover_suggested: false,
        sender: from,
        receiver: pr_id(0),
        action: UpdateAction::AddPe,
        pool_handle: PoolHandle::from("pool"),
        pool_element: pe,
    });
    r.enrp_received(now, conn, &u.to_bytes().expect("encodes"));
}

fn victim_pe(id: u32) -> PoolElement {
    let mut pe = pe_param(id, IpAddr::from([10, 9, 1, 1]), Policy::RoundRobin);
    pe.home_server_id = VICTIM;
    pe
}

fn home_of(r: &Registrar, id: u32) -> Option<ServerId> {
    r.handlespace()
        .get(&PoolHandle::from("pool"), PeId(id))
        .map(|e| e.home())
}

fn events(r: &mut Registrar) -> Vec<Event> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn drain(r: &mut Registrar) -> Vec<Transmit> {
    std::iter::from_fn(|| r.poll_transmit()).collect()
}

fn takeover_msg(m: EnrpMessage) -> Vec<u8> {
    m.to_bytes().expect("encodes")
}

#[test]
fn a_takeover_server_nobody_agreed_to_moves_no_pe() {
    let mut r = Registrar::new(pr_config(0, &[]), ms(0), 1);
    let v = peer(&mut r, ms(1), VICTIM, host(7));
    add_pe(&mut r, ms(2), v, VICTIM, victim_pe(1));
    assert_eq!(home_of(&r, 1), Some(VICTIM));
    let a = peer(&mut r, ms(3), ATTACKER, host(6));
    // No INIT_TAKEOVER, the victim alive: refused.
    let ts = takeover_msg(
        enrp::TakeoverServer {
            sender: ATTACKER,
            receiver: pr_id(0),
            target_server_id: VICTIM,
        }
        .into(),
    );
    r.enrp_received(ms(4), a, &ts);
    assert_eq!(home_of(&r, 1), Some(VICTIM));
    assert!(events(&mut r).iter().any(
        |e| matches!(e, Event::ProtocolError { detail, .. } if detail.contains("TAKEOVER_SERVER"))
    ));
    // An INIT_TAKEOVER of a live peer is not acknowledged, so the same
    // TAKEOVER_SERVER after it is refused too.
    let it = takeover_msg(
        enrp::InitTakeover {
            sender: ATTACKER,
            receiver: pr_id(0),
            target_server_id: VICTIM,
        }
        .into(),
    );
    r.enrp_received(ms(5), a, &it);
    assert!(!drain(&mut r).iter().any(|t| matches!(t, Transmit::Enrp { bytes, .. }
        if matches!(EnrpMessage::decode(bytes, &Default::default()).unwrap().message, EnrpMessage::InitTakeoverAck(_)))));
    r.enrp_received(ms(6), a, &ts);
    assert_eq!(home_of(&r, 1), Some(VICTIM));

    // The real procedure: the victim is gone, the attacker (now a genuine
    // peer taking over) asks, we agree, it takes the PEs.
    r.enrp_closed(ms(10), v);
    r.enrp_received(ms(11), a, &it);
    r.enrp_received(ms(12), a, &ts);
    assert_eq!(home_of(&r, 1), Some(ATTACKER));
}

#[test]
fn a_squatter_cannot_take_a_known_peers_id_from_another_host() {
    let mut cfg = pr_config(0, &[]);
    cfg.max_time_no_response = Duration::from_secs(5);
    let mut r = Registrar::new(cfg, ms(0), 1);
    let v = peer(&mut r, ms(1), VICTIM, host(7));
    add_pe(&mut r, ms(2), v, VICTIM, victim_pe(1));
    // While the victim is live: the squatter's association is closed and
    // the victim keeps its own.
    let s = peer(&mut r, ms(3), VICTIM, host(9));
    assert_eq!(r.peers().collect::<Vec<_>>(), vec![(VICTIM, v)]);
    assert!(drain(&mut r).contains(&Transmit::CloseEnrp { conn: s }));
    // The victim dies; the squatter keeps naming its ID to suppress the
    // takeover: refused, and the takeover happens when it is due.
    r.enrp_closed(ms(1_000), v);
    for t in [1_500u64, 3_000, 4_500] {
        let s = peer(&mut r, ms(t), VICTIM, host(9));
        assert!(r.peers().next().is_none(), "squatter accepted at {t} ms");
        assert!(drain(&mut r).contains(&Transmit::CloseEnrp { conn: s }));
    }
    r.handle_timeout(ms(6_100));
    assert_eq!(home_of(&r, 1), Some(pr_id(0)), "taken over by this PR");
    // The ID is free again: a registrar restarted elsewhere may use it.
    let back = peer(&mut r, ms(7_000), VICTIM, host(9));
    assert_eq!(r.peers().collect::<Vec<_>>(), vec![(VICTIM, back)]);
    // The victim restarting on its own host is always welcome.
    let mut r2 = Registrar::new(pr_config(0, &[]), ms(0), 1);
    let v = peer(&mut r2, ms(1), VICTIM, host(7));
    r2.enrp_closed(ms(2), v);
    let again = peer(&mut r2, ms(3), VICTIM, host(7));
    assert_eq!(r2.peers().collect::<Vec<_>>(), vec![(VICTIM, again)]);
}

fn register(
    r: &mut Registrar,
    now: Time,
    assoc: u64,
    pe: PoolElement,
) -> asap::RegistrationResponse {
    let m = AsapMessage::from(asap::Registration {
        pool_handle: PoolHandle::from("pool"),
        pool_element: pe,
    });
    r.asap_received(now, assoc, &m.to_bytes().expect("encodes"));
    for t in drain(r) {
        if let Transmit::Asap { bytes, .. } = t {
            if let AsapMessage::RegistrationResponse(rr) =
                AsapMessage::decode(&bytes, &Default::default())
                    .unwrap()
                    .message
            {
                return rr;
            }
        }
    }
    panic!("no registration response")
}

#[test]
fn registrations_naming_no_reachable_pe_or_absurd_lifetimes_are_refused() {
    let mut r = Registrar::new(pr_config(0, &[]), ms(0), 1);
    let a = r.asap_accepted(ms(1), "10.9.2.2:4000".parse().unwrap());
    let bad_addresses: [IpAddr; 4] = [
        IpAddr::from([224, 0, 0, 1]),
        IpAddr::from([255, 255, 255, 255]),
        "ff02::1".parse().unwrap(),
        IpAddr::from([239, 1, 2, 3]),
    ];
    for (i, ip) in bad_addresses.into_iter().enumerate() {
        let rr = register(
            &mut r,
            ms(2),
            a,
            pe_param(10 + i as u32, ip, Policy::RoundRobin),
        );
        assert!(rr.reject, "{ip} accepted");
        let e = rr.error.unwrap();
        assert_eq!(e.causes[0].code, ErrorCauseCode::InvalidValues);
    }
    let mut port0 = pe_param(20, IpAddr::from([10, 9, 2, 2]), Policy::RoundRobin);
    port0.user_transport = tcp(IpAddr::from([10, 9, 2, 2]), 0);
    assert!(register(&mut r, ms(3), a, port0).reject);
    // 24 days, as an attacker would keep a PE alive: refused (the
    // default maximum is an hour).
    let mut long = pe_param(21, IpAddr::from([10, 9, 2, 2]), Policy::RoundRobin);
    long.registration_life = 24 * 86_400 * 1000;
    assert!(register(&mut r, ms(4), a, long).reject);
    assert!(r.handlespace().is_empty());
    // An hour is fine.
    let mut hour = pe_param(22, IpAddr::from([10, 9, 2, 2]), Policy::RoundRobin);
    hour.registration_life = 3_600_000;
    assert!(!register(&mut r, ms(5), a, hour).reject);

    // From a peer: the multicast PE is not stored, the long life is cut.
    let v = peer(&mut r, ms(6), VICTIM, host(7));
    let mut group = victim_pe(30);
    group.user_transport = tcp(IpAddr::from([224, 0, 0, 1]), 7000);
    add_pe(&mut r, ms(7), v, VICTIM, group);
    assert_eq!(home_of(&r, 30), None);
    let mut forever = victim_pe(31);
    forever.registration_life = i32::MAX;
    add_pe(&mut r, ms(8), v, VICTIM, forever);
    let hs = r.handlespace();
    let e = hs.get(&PoolHandle::from("pool"), PeId(31)).unwrap();
    assert_eq!(e.lifetime_ms(), 3_600_000);
}

fn connects(out: &[Transmit]) -> Vec<SocketAddr> {
    out.iter()
        .filter_map(|t| match t {
            Transmit::ConnectEnrp { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

#[test]
fn a_list_response_opens_few_associations_and_none_to_groups() {
    let mut r = Registrar::new(pr_config(0, &[]), ms(0), 1);
    let a = peer(&mut r, ms(1), ATTACKER, host(6));
    drain(&mut r);
    let target = host(200);
    let list = |servers: Vec<ServerInformation>| {
        EnrpMessage::from(enrp::ListResponse {
            reject: false,
            sender: ATTACKER,
            receiver: pr_id(0),
            servers,
        })
        .to_bytes()
        .expect("encodes")
    };
    // 1,000 IDs at one address: one association.
    let same: Vec<ServerInformation> = (1..=1000)
        .map(|i| ServerInformation {
            server_id: ServerId(1000 + i),
            transport: tcp(target.ip(), target.port()),
        })
        .collect();
    r.enrp_received(ms(2), a, &list(same));
    assert_eq!(connects(&drain(&mut r)), vec![target]);
    // 1,000 addresses: a handful at a time, never a group address.
    let many: Vec<ServerInformation> = (0..1000u32)
        .map(|i| ServerInformation {
            server_id: ServerId(5000 + i),
            transport: tcp(
                if i % 2 == 0 {
                    IpAddr::from([224, 0, 0, 1])
                } else {
                    IpAddr::from([10, 8, (i >> 8) as u8, i as u8])
                },
                9901,
            ),
        })
        .collect();
    r.enrp_received(ms(3), a, &list(many));
    let out = connects(&drain(&mut r));
    assert!(out.len() < 10, "{} associations opened", out.len());
    assert!(out.iter().all(|t| !t.ip().is_multicast()), "{out:?}");
}

#[test]
fn with_an_allow_list_only_allowed_hosts_are_peers() {
    let mut cfg = pr_config(0, &[5]);
    cfg.peer_allow = vec!["10.9.0.0/24".parse().unwrap()];
    let mut r = Registrar::new(cfg, ms(0), 1);
    drain(&mut r);
    // Another network: closed at once.
    let out = r.enrp_accepted(ms(1), "10.8.0.1:40000".parse().unwrap());
    assert!(drain(&mut r).contains(&Transmit::CloseEnrp { conn: out }));
    assert!(events(&mut r).iter().any(
        |e| matches!(e, Event::ProtocolError { detail, closed: true, .. } if detail.contains("not an allowed peer host"))
    ));
    // The allowed network and the static peer's host are welcome.
    let inside = peer(&mut r, ms(2), VICTIM, host(7));
    let static_peer = peer(&mut r, ms(3), ServerId(5), enrp_addr(5));
    let mut peers: Vec<_> = r.peers().collect();
    peers.sort();
    assert_eq!(peers, vec![(ServerId(5), static_peer), (VICTIM, inside)]);
    // A list naming a host outside: not contacted.
    let l = EnrpMessage::from(enrp::ListResponse {
        reject: false,
        sender: VICTIM,
        receiver: pr_id(0),
        servers: vec![ServerInformation {
            server_id: ServerId(9),
            transport: tcp(IpAddr::from([10, 8, 0, 9]), 9901),
        }],
    });
    r.enrp_received(ms(4), inside, &l.to_bytes().expect("encodes"));
    assert!(connects(&drain(&mut r)).is_empty());
}

#[test]
fn address_prefixes_parse_and_match() {
    use rserpool_proto::registrar::AddrPrefix;
    let p: AddrPrefix = "10.9.0.0/16".parse().unwrap();
    assert!(p.contains(IpAddr::from([10, 9, 200, 1])));
    assert!(!p.contains(IpAddr::from([10, 10, 0, 1])));
    assert!(
        p.contains("::ffff:10.9.1.1".parse().unwrap()),
        "IPv4-mapped"
    );
    let one: AddrPrefix = "fd00::5".parse().unwrap();
    assert!(one.contains("fd00::5".parse().unwrap()));
    assert!(!one.contains("fd00::6".parse().unwrap()));
    let all: AddrPrefix = "::/0".parse().unwrap();
    assert!(all.contains("2001:db8::1".parse().unwrap()));
    assert!(!all.contains(IpAddr::from([1, 2, 3, 4])));
    assert!("10.0.0.0/33".parse::<AddrPrefix>().is_err());
    assert!("nonsense".parse::<AddrPrefix>().is_err());
}

#[test]
fn a_peer_cannot_rewrite_or_delete_another_peers_pe() {
    let mut r = Registrar::new(pr_config(0, &[]), ms(0), 1);
    let v = peer(&mut r, ms(1), VICTIM, host(7));
    // The victim is the mentor: its (empty) table ends the synchronisation,
    // after which audits run.
    let table = EnrpMessage::from(enrp::HandleTableResponse {
        reject: false,
        more_to_send: false,
        sender: VICTIM,
        receiver: pr_id(0),
        pools: vec![],
    });
    r.enrp_received(ms(1), v, &table.to_bytes().expect("encodes"));
    assert!(r.is_synchronised());
    add_pe(&mut r, ms(2), v, VICTIM, victim_pe(1));
    let original = r
        .handlespace()
        .get(&PoolHandle::from("pool"), PeId(1))
        .unwrap()
        .transport();
    let a = r.enrp_accepted(ms(3), host(6));
    // A checksum that differs from its (empty) share: we ask for its table.
    let p = EnrpMessage::from(enrp::Presence {
        reply_required: false,
        sender: ATTACKER,
        receiver: ServerId(0),
        checksum: Some(0x1234),
        server_info: ServerInformation {
            server_id: ATTACKER,
            transport: tcp(host(6).ip(), 9901),
        },
    });
    r.enrp_received(ms(3), a, &p.to_bytes().expect("encodes"));
    let asked = drain(&mut r).iter().any(|t| {
        matches!(t, Transmit::Enrp { conn, bytes } if *conn == a
            && matches!(EnrpMessage::decode(bytes, &Default::default()).unwrap().message,
                EnrpMessage::HandleTableRequest(_)))
    });
    assert!(asked, "the audit asks the attacker for its table");
    let mut forged = victim_pe(1);
    forged.user_transport = tcp(IpAddr::from([10, 66, 66, 66]), 6666);
    // In a Handle Update (not its PE) ...
    add_pe(&mut r, ms(4), a, ATTACKER, forged.clone());
    // ... in a table response ...
    let t = EnrpMessage::from(enrp::HandleTableResponse {
        reject: false,
        more_to_send: false,
        sender: ATTACKER,
        receiver: pr_id(0),
        pools: vec![enrp::PoolEntries {
            pool_handle: PoolHandle::from("pool"),
            pool_elements: vec![forged],
        }],
    });
    r.enrp_received(ms(5), a, &t.to_bytes().expect("encodes"));
    // ... and a deletion.
    let del = EnrpMessage::from(enrp::HandleUpdate {
        takeover_suggested: false,
        sender: ATTACKER,
        receiver: pr_id(0),
        action: UpdateAction::DelPe,
        pool_handle: PoolHandle::from("pool"),
        pool_element: victim_pe(1),
    });
    r.enrp_received(ms(6), a, &del.to_bytes().expect("encodes"));
    let hs = r.handlespace();
    let e = hs.get(&PoolHandle::from("pool"), PeId(1)).unwrap();
    assert_eq!(e.home(), VICTIM);
    assert_eq!(e.transport(), original);
}

#[test]
fn one_association_cannot_fill_the_handlespace() {
    let mut cfg = pr_config(0, &[]);
    cfg.max_pes_per_association = 3;
    let mut r = Registrar::new(cfg, ms(0), 1);
    let a = r.asap_accepted(ms(1), "10.9.2.2:4000".parse().unwrap());
    let ip = IpAddr::from([10, 9, 2, 2]);
    for id in 1..=3 {
        assert!(!register(&mut r, ms(2), a, pe_param(id, ip, Policy::RoundRobin)).reject);
    }
    let fourth = register(&mut r, ms(3), a, pe_param(4, ip, Policy::RoundRobin));
    assert!(fourth.reject);
    assert_eq!(
        fourth.error.unwrap().causes[0].code,
        ErrorCauseCode::LackOfResources
    );
    // Re-registrations of its PEs go on; another association has its own.
    assert!(!register(&mut r, ms(4), a, pe_param(2, ip, Policy::RoundRobin)).reject);
    let b = r.asap_accepted(ms(5), "10.9.2.3:4000".parse().unwrap());
    let ip_b = IpAddr::from([10, 9, 2, 3]);
    assert!(!register(&mut r, ms(6), b, pe_param(4, ip_b, Policy::RoundRobin)).reject);
    assert_eq!(r.handlespace().len(), 4);
}

#[test]
fn a_pe_id_copied_to_another_registrar_does_not_move_the_pe() {
    let mut r = Registrar::new(pr_config(0, &[]), ms(0), 1);
    let v = peer(&mut r, ms(1), VICTIM, host(7));
    // The victim PR's PE at 10.9.1.1, learnt by ENRP.
    add_pe(&mut r, ms(2), v, VICTIM, victim_pe(1));
    // Its pool and PE ID from elsewhere, with the attacker's address.
    let a = r.asap_accepted(ms(3), "10.66.0.1:4000".parse().unwrap());
    let mut copy = pe_param(1, IpAddr::from([10, 66, 0, 1]), Policy::RoundRobin);
    copy.home_server_id = ServerId(0);
    let rr = register(&mut r, ms(4), a, copy);
    assert!(rr.reject);
    assert_eq!(
        rr.error.unwrap().causes[0].code,
        ErrorCauseCode::NonUniquePeId
    );
    assert_eq!(home_of(&r, 1), Some(VICTIM));
    // The PE itself moving here (from its own address) is welcome.
    let own = r.asap_accepted(ms(5), "10.9.1.1:4000".parse().unwrap());
    let rr = register(&mut r, ms(6), own, victim_pe(1));
    assert!(!rr.reject, "{rr:?}");
    assert_eq!(home_of(&r, 1), Some(pr_id(0)));
}
