//! Every message the registrar emits decodes, whatever it is fed: random
//! registrations (up to thousands of addresses, duplicates, both
//! families), handle resolutions with thousands of unknown "skip and
//! report" parameters, messages of unknown type, random bytes, and ENRP
//! peers sending Presences, Handle Updates and Handle Table Responses with
//! huge PEs, Handle Table and List Requests. Each emitted message's length
//! field equals its size and it decodes; no message is left unsent for
//! being too long.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;
use rserpool_proto::Time;
use rserpool_proto::handlespace::AssocId;
use rserpool_proto::registrar::{Config, ConnId, Event, Registrar, Transmit};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::enrp::{self, EnrpMessage, UpdateAction};
use rserpool_proto::wire::{
    AddressList, DecodeOptions, Message, PeId, Policy, PoolElement, PoolHandle, Protocol, ServerId,
    ServerInformation, TransportParam, TransportUse,
};

const ME: ServerId = ServerId(0x100);

/// Addresses of a transport: how many, which family, how many distinct.
#[derive(Clone, Debug)]
struct Addrs {
    n: usize,
    v6: bool,
    distinct: usize,
}

impl Addrs {
    fn list(&self) -> AddressList {
        (0..self.n)
            .map(|i| {
                let k = (i % self.distinct.max(1)) as u32;
                if self.v6 {
                    IpAddr::V6(Ipv6Addr::from(
                        0xfd00_0000_0000_0000_0000_0000_0000_0000u128 + u128::from(k),
                    ))
                } else {
                    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + k))
                }
            })
            .collect()
    }
}

fn addrs() -> impl Strategy<Value = Addrs> {
    let n = prop_oneof![
        6 => 1usize..4,
        2 => 60usize..70,
        1 => 100usize..400,
        1 => 2000usize..8200,
    ];
    (n, any::<bool>(), 1usize..10_000).prop_map(|(n, v6, distinct)| Addrs { n, v6, distinct })
}

fn pool(i: u8) -> PoolHandle {
    PoolHandle::from(format!("pool-{}", i % 4).as_str())
}

fn pe(id: u32, user: &Addrs, asap: Option<&Addrs>) -> PoolElement {
    PoolElement {
        pe_id: PeId(id),
        home_server_id: ServerId(0),
        registration_life: 60_000,
        user_transport: TransportParam::Sctp {
            port: 7000,
            transport_use: TransportUse::DataOnly,
            addresses: user.list(),
        },
        policy: Policy::RoundRobin,
        asap_transport: asap.map(|a| TransportParam::Sctp {
            port: 3863,
            transport_use: TransportUse::DataOnly,
            addresses: a.list(),
        }),
    }
}

/// One stimulus for the registrar.
#[derive(Clone, Debug)]
enum Input {
    AsapOpen {
        v6: bool,
    },
    AsapClose(u8),
    Register {
        assoc: u8,
        pool: u8,
        pe: u32,
        user: Addrs,
        asap: Option<Addrs>,
    },
    Deregister {
        assoc: u8,
        pool: u8,
        pe: u32,
    },
    Resolve {
        assoc: u8,
        pool: u8,
        items: Option<u32>,
        junk: usize,
        junk_len: usize,
        handle_len: usize,
    },
    Unknown {
        assoc: u8,
        len: usize,
        enrp: bool,
    },
    AsapBytes {
        assoc: u8,
        bytes: Vec<u8>,
    },
    EnrpOpen,
    Presence {
        conn: u8,
        peer: u8,
        addrs: Addrs,
    },
    Update {
        conn: u8,
        peer: u8,
        pool: u8,
        pe: u32,
        user: Addrs,
        asap: Option<Addrs>,
        add: bool,
    },
    TableResponse {
        conn: u8,
        peer: u8,
        pes: Vec<(u8, u32, Addrs)>,
    },
    TableRequest {
        conn: u8,
        peer: u8,
        own: bool,
    },
    ListRequest {
        conn: u8,
        peer: u8,
    },
    EnrpBytes {
        conn: u8,
        bytes: Vec<u8>,
    },
    Advance(u64),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => any::<bool>().prop_map(|v6| Input::AsapOpen { v6 }),
        1 => any::<u8>().prop_map(Input::AsapClose),
        6 => (any::<u8>(), any::<u8>(), 1u32..40, addrs(), proptest::option::weighted(0.3, addrs()))
            .prop_map(|(assoc, pool, pe, user, asap)| Input::Register { assoc, pool, pe, user, asap }),
        1 => (any::<u8>(), any::<u8>(), 1u32..40)
            .prop_map(|(assoc, pool, pe)| Input::Deregister { assoc, pool, pe }),
        4 => (
            any::<u8>(),
            any::<u8>(),
            proptest::option::of(any::<u32>()),
            prop_oneof![0usize..4, 100usize..16_300],
            prop_oneof![0usize..8, 60_000usize..65_400],
            prop_oneof![0usize..1, 65_500usize..65_530],
        )
            .prop_map(|(assoc, pool, items, junk, junk_len, handle_len)| Input::Resolve {
                assoc, pool, items, junk, junk_len, handle_len,
            }),
        2 => (any::<u8>(), prop_oneof![4usize..64, 65_000usize..65_532], any::<bool>())
            .prop_map(|(assoc, len, enrp)| Input::Unknown { assoc, len, enrp }),
        2 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(assoc, bytes)| Input::AsapBytes { assoc, bytes }),
        2 => Just(Input::EnrpOpen),
        3 => (any::<u8>(), 1u8..6, addrs()).prop_map(|(conn, peer, addrs)| Input::Presence { conn, peer, addrs }),
        3 => (any::<u8>(), 1u8..6, any::<u8>(), 1u32..40, addrs(), proptest::option::weighted(0.3, addrs()), any::<bool>())
            .prop_map(|(conn, peer, pool, pe, user, asap, add)| Input::Update { conn, peer, pool, pe, user, asap, add }),
        1 => (any::<u8>(), 1u8..6, proptest::collection::vec((any::<u8>(), 100u32..200, addrs()), 1..6))
            .prop_map(|(conn, peer, pes)| Input::TableResponse { conn, peer, pes }),
        2 => (any::<u8>(), 1u8..6, any::<bool>()).prop_map(|(conn, peer, own)| Input::TableRequest { conn, peer, own }),
        2 => (any::<u8>(), 1u8..6).prop_map(|(conn, peer)| Input::ListRequest { conn, peer }),
        2 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(conn, bytes)| Input::EnrpBytes { conn, bytes }),
        2 => (0u64..20_000).prop_map(Input::Advance),
    ]
}

fn peer_id(p: u8) -> ServerId {
    ServerId(0x200 + u32::from(p))
}

struct Harness {
    pr: Registrar,
    now: Time,
    assocs: Vec<AssocId>,
    conns: Vec<ConnId>,
    next_port: u16,
    sent: usize,
}

impl Harness {
    fn new() -> Harness {
        let mut c = Config::new(
            ME,
            TransportParam::Tcp {
                port: 9901,
                transport_use: TransportUse::DataOnly,
                address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            },
        );
        c.max_hres_items = 1000;
        c.asap_transport = Some(TransportParam::Tcp {
            port: 3863,
            transport_use: TransportUse::DataOnly,
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        });
        c.announce = true;
        Harness {
            pr: Registrar::new(c, Time::ZERO, 7),
            now: Time::ZERO,
            assocs: Vec::new(),
            conns: Vec::new(),
            next_port: 1000,
            sent: 0,
        }
    }

    fn remote(&mut self, v6: bool) -> SocketAddr {
        self.next_port += 1;
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
        };
        SocketAddr::new(ip, self.next_port)
    }

    fn assoc(&mut self, i: u8) -> Option<AssocId> {
        if self.assocs.is_empty() {
            let r = self.remote(false);
            let a = self.pr.asap_accepted(self.now, r);
            self.assocs.push(a);
        }
        self.assocs.get(usize::from(i) % self.assocs.len()).copied()
    }

    fn conn(&mut self, i: u8) -> Option<ConnId> {
        if self.conns.is_empty() {
            let r = self.remote(false);
            let c = self.pr.enrp_accepted(self.now, r);
            self.conns.push(c);
        }
        self.conns.get(usize::from(i) % self.conns.len()).copied()
    }

    fn asap(&mut self, i: u8, m: impl Into<AsapMessage>) {
        // What our own encoder refuses cannot be sent by a peer either.
        if let (Some(a), Ok(b)) = (self.assoc(i), m.into().to_bytes()) {
            self.pr.asap_received(self.now, a, &b);
        }
    }

    fn enrp(&mut self, i: u8, m: impl Into<EnrpMessage>) {
        if let (Some(c), Ok(b)) = (self.conn(i), m.into().to_bytes()) {
            self.pr.enrp_received(self.now, c, &b);
        }
    }

    fn apply(&mut self, input: Input) {
        match input {
            Input::AsapOpen { v6 } => {
                let r = self.remote(v6);
                let a = self.pr.asap_accepted(self.now, r);
                self.assocs.push(a);
            }
            Input::AsapClose(i) => {
                if !self.assocs.is_empty() {
                    let a = self.assocs.remove(usize::from(i) % self.assocs.len());
                    self.pr.asap_closed(self.now, a);
                }
            }
            Input::Register {
                assoc,
                pool: p,
                pe: id,
                user,
                asap,
            } => {
                let m = asap::Registration {
                    pool_handle: pool(p),
                    pool_element: pe(id, &user, asap.as_ref()),
                };
                self.asap(assoc, m);
            }
            Input::Deregister {
                assoc,
                pool: p,
                pe: id,
            } => {
                self.asap(
                    assoc,
                    asap::Deregistration {
                        pool_handle: pool(p),
                        pe_id: PeId(id),
                    },
                );
            }
            Input::Resolve {
                assoc,
                pool: p,
                items,
                junk,
                junk_len,
                handle_len,
            } => {
                let handle = if handle_len > 0 {
                    PoolHandle(vec![b'h'; handle_len])
                } else {
                    pool(p)
                };
                let Ok(mut b) = AsapMessage::from(asap::HandleResolution {
                    pool_handle: handle,
                    items,
                })
                .to_bytes() else {
                    return;
                };
                // Unknown parameters with action "skip and report" (11):
                // many small ones, or one or two large ones.
                let value_len = if junk_len >= 8 {
                    junk_len
                } else {
                    junk_len % 8
                };
                let count = if junk_len >= 8 { junk.min(2) } else { junk };
                for i in 0..count {
                    let tlv_len = 4 + value_len;
                    if b.len() + tlv_len.next_multiple_of(4) > 65535 {
                        break;
                    }
                    b.extend_from_slice(&(0xc0aa_u16 + (i % 16) as u16).to_be_bytes());
                    b.extend_from_slice(&(tlv_len as u16).to_be_bytes());
                    b.extend(std::iter::repeat_n(0x5a, value_len));
                    b.resize(b.len().next_multiple_of(4), 0);
                }
                let len = b.len() as u16;
                b[2..4].copy_from_slice(&len.to_be_bytes());
                if let Some(a) = self.assoc(assoc) {
                    self.pr.asap_received(self.now, a, &b);
                }
            }
            Input::Unknown { assoc, len, enrp } => {
                let mut b = vec![0x7e, 0, 0, 0];
                b.resize(len.next_multiple_of(4).min(65532), 0x11);
                let l = b.len() as u16;
                b[2..4].copy_from_slice(&l.to_be_bytes());
                if enrp {
                    if let Some(c) = self.conn(assoc) {
                        self.pr.enrp_received(self.now, c, &b);
                    }
                } else if let Some(a) = self.assoc(assoc) {
                    self.pr.asap_received(self.now, a, &b);
                }
            }
            Input::AsapBytes { assoc, bytes } => {
                if let Some(a) = self.assoc(assoc) {
                    self.pr.asap_received(self.now, a, &bytes);
                }
            }
            Input::EnrpOpen => {
                let r = self.remote(false);
                let c = self.pr.enrp_accepted(self.now, r);
                self.conns.push(c);
            }
            Input::Presence { conn, peer, addrs } => {
                let m = enrp::Presence {
                    reply_required: true,
                    sender: peer_id(peer),
                    receiver: ME,
                    checksum: Some(0),
                    server_info: ServerInformation {
                        server_id: peer_id(peer),
                        transport: TransportParam::Sctp {
                            port: 9901,
                            transport_use: TransportUse::DataOnly,
                            addresses: addrs.list(),
                        },
                    },
                };
                self.enrp(conn, m);
            }
            Input::Update {
                conn,
                peer,
                pool: p,
                pe: id,
                user,
                asap,
                add,
            } => {
                let mut pe = pe(id + 1000, &user, asap.as_ref());
                pe.home_server_id = peer_id(peer);
                let m = enrp::HandleUpdate {
                    takeover_suggested: false,
                    sender: peer_id(peer),
                    receiver: ME,
                    action: if add {
                        UpdateAction::AddPe
                    } else {
                        UpdateAction::DelPe
                    },
                    pool_handle: pool(p),
                    pool_element: pe,
                };
                self.enrp(conn, m);
            }
            Input::TableResponse { conn, peer, pes } => {
                let pools = pes
                    .iter()
                    .map(|(p, id, a)| {
                        let mut e = pe(*id + 2000, a, None);
                        e.home_server_id = peer_id(peer);
                        enrp::PoolEntries {
                            pool_handle: pool(*p),
                            pool_elements: vec![e],
                        }
                    })
                    .collect();
                let m = enrp::HandleTableResponse {
                    reject: false,
                    more_to_send: false,
                    sender: peer_id(peer),
                    receiver: ME,
                    pools,
                };
                self.enrp(conn, m);
            }
            Input::TableRequest { conn, peer, own } => {
                let m = enrp::HandleTableRequest {
                    own_children_only: own,
                    sender: peer_id(peer),
                    receiver: ME,
                };
                self.enrp(conn, m);
            }
            Input::ListRequest { conn, peer } => {
                let m = enrp::ListRequest {
                    sender: peer_id(peer),
                    receiver: ME,
                };
                self.enrp(conn, m);
            }
            Input::EnrpBytes { conn, bytes } => {
                if let Some(c) = self.conn(conn) {
                    self.pr.enrp_received(self.now, c, &bytes);
                }
            }
            Input::Advance(ms) => {
                self.now = self.now + Duration::from_millis(ms);
                self.pr.handle_timeout(self.now);
            }
        }
    }

    /// Drains the registrar's output and checks every message in it.
    fn check(&mut self) -> Result<(), TestCaseError> {
        while let Some(t) = self.pr.poll_transmit() {
            let (protocol, bytes) = match t {
                Transmit::Asap { bytes, .. } | Transmit::AnnounceAsap { bytes } => {
                    (Protocol::Asap, bytes)
                }
                Transmit::Enrp { bytes, .. } | Transmit::AnnounceEnrp { bytes } => {
                    (Protocol::Enrp, bytes)
                }
                Transmit::CloseAsap { assoc } => {
                    self.assocs.retain(|a| *a != assoc);
                    continue;
                }
                Transmit::CloseEnrp { conn } => {
                    self.conns.retain(|c| *c != conn);
                    continue;
                }
                Transmit::ConnectEnrp { conn, .. } => {
                    self.pr.enrp_closed(self.now, conn);
                    continue;
                }
                Transmit::ConnectAsap { assoc, .. } => {
                    self.pr.asap_closed(self.now, assoc);
                    continue;
                }
            };
            self.sent += 1;
            prop_assert!(
                bytes.len() >= 4 && bytes.len() <= 65535,
                "{} bytes",
                bytes.len()
            );
            let declared = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            prop_assert_eq!(
                declared,
                bytes.len(),
                "length field of type {:#04x}",
                bytes[0]
            );
            let d = Message::decode(protocol, &bytes, &DecodeOptions::default());
            prop_assert!(
                d.is_ok(),
                "{protocol} type {:#04x}: {:?}",
                bytes[0],
                d.err()
            );
            // The decoded message encodes back to the very same bytes.
            let again = d.ok().and_then(|d| d.message.to_bytes().ok());
            prop_assert_eq!(again, Some(bytes));
        }
        while let Some(e) = self.pr.poll_event() {
            prop_assert!(!matches!(e, Event::Unsent { .. }), "{e:?}");
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn registrar_emits_only_decodable_messages(inputs in proptest::collection::vec(input(), 1..40)) {
        let mut h = Harness::new();
        h.check()?;
        for i in inputs {
            h.apply(i);
            h.check()?;
        }
    }
}

/// The cases the issue names, always run: a resolution with 16,000
/// unknown parameters, and resolutions of a pool whose PEs carry the most
/// addresses a registration may have.
#[test]
fn named_cases_decode() {
    let mut h = Harness::new();
    h.apply(Input::Resolve {
        assoc: 0,
        pool: 0,
        items: None,
        junk: 16_000,
        junk_len: 0,
        handle_len: 0,
    });
    h.check().unwrap();
    for enrp in [false, true] {
        h.apply(Input::Unknown {
            assoc: 0,
            len: 65_532,
            enrp,
        });
        h.check().unwrap();
    }
    for id in 1..=60 {
        let user = Addrs {
            n: 64,
            v6: true,
            distinct: 64,
        };
        h.apply(Input::Register {
            assoc: 0,
            pool: 1,
            pe: id,
            user: user.clone(),
            asap: Some(user),
        });
        h.check().unwrap();
    }
    h.apply(Input::Resolve {
        assoc: 0,
        pool: 1,
        items: Some(u32::MAX),
        junk: 0,
        junk_len: 0,
        handle_len: 0,
    });
    h.apply(Input::Presence {
        conn: 0,
        peer: 1,
        addrs: Addrs {
            n: 1,
            v6: false,
            distinct: 1,
        },
    });
    h.apply(Input::TableRequest {
        conn: 0,
        peer: 1,
        own: false,
    });
    h.check().unwrap();
    assert!(h.sent > 60, "{} messages checked", h.sent);
}

/// A registration keeps at most MAX_ADDRESSES distinct addresses per
/// transport: 64 (duplicates collapsed first) are stored, 65 are refused
/// with Invalid Values.
#[test]
fn address_cap() {
    use rserpool_proto::wire::MAX_ADDRESSES;
    let mut h = Harness::new();
    let answer = |h: &mut Harness, id: u32, user: Addrs| {
        h.apply(Input::Register {
            assoc: 0,
            pool: 0,
            pe: id,
            user,
            asap: None,
        });
        let mut reply = None;
        while let Some(t) = h.pr.poll_transmit() {
            if let Transmit::Asap { bytes, .. } = t {
                let d = AsapMessage::decode(&bytes, &DecodeOptions::default()).unwrap();
                if let AsapMessage::RegistrationResponse(r) = d.message {
                    reply = Some(r);
                }
            }
        }
        reply.expect("a registration response")
    };
    let ok = answer(
        &mut h,
        1,
        Addrs {
            n: 8000,
            v6: false,
            distinct: MAX_ADDRESSES,
        },
    );
    assert!(!ok.reject, "{ok:?}");
    let stored = h.pr.handlespace().pool_entries(&pool(0)).count();
    assert_eq!(stored, 1);
    let refused = answer(
        &mut h,
        2,
        Addrs {
            n: MAX_ADDRESSES + 1,
            v6: true,
            distinct: 10_000,
        },
    );
    assert!(refused.reject);
    let causes = refused.error.expect("an error").causes;
    assert_eq!(
        causes[0].code,
        rserpool_proto::wire::ErrorCauseCode::InvalidValues
    );
    assert_eq!(h.pr.handlespace().pool_entries(&pool(0)).count(), 1);
}
