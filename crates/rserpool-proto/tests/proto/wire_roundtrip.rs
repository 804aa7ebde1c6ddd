//! Property tests: `decode(encode(m)) == m` for generated messages of every
//! ASAP and ENRP type and for every parameter; and a bounded fuzz run:
//! random bytes and mutated valid encodings never make the decoder panic,
//! and whatever decodes re-encodes to something that decodes the same.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::enrp::{self, EnrpMessage, UpdateAction};
use rserpool_proto::wire::*;

// ------------------------------------------------------------- strategies

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
}

fn transport_use() -> impl Strategy<Value = TransportUse> {
    prop_oneof![
        Just(TransportUse::DataOnly),
        Just(TransportUse::DataPlusControl)
    ]
}

fn transport() -> impl Strategy<Value = TransportParam> {
    prop_oneof![
        (any::<u16>(), transport_use(), vec(ip(), 1..4)).prop_map(
            |(port, transport_use, addresses)| TransportParam::Sctp {
                port,
                transport_use,
                addresses: addresses.into()
            }
        ),
        (any::<u16>(), transport_use(), ip()).prop_map(|(port, transport_use, address)| {
            TransportParam::Tcp {
                port,
                transport_use,
                address,
            }
        }),
        (any::<u16>(), ip()).prop_map(|(port, address)| TransportParam::Udp { port, address }),
        (any::<u16>(), ip()).prop_map(|(port, address)| TransportParam::UdpLite { port, address }),
        (any::<u16>(), any::<u32>(), ip()).prop_map(|(port, service_code, address)| {
            TransportParam::Dccp {
                port,
                service_code,
                address,
            }
        }),
    ]
}

fn enrp_transport() -> impl Strategy<Value = TransportParam> {
    transport().prop_filter("SCTP or TCP", |t| {
        matches!(t.kind(), TransportKind::Sctp | TransportKind::Tcp)
    })
}

fn policy() -> impl Strategy<Value = Policy> {
    (0..PolicyType::ALL.len(), any::<[u32; 4]>())
        .prop_map(|(i, v)| Policy::from_values(PolicyType::ALL[i], &v).unwrap())
}

fn pool_handle() -> impl Strategy<Value = PoolHandle> {
    prop_oneof![
        vec(any::<u8>(), 0..24).prop_map(PoolHandle),
        "[A-Za-z]{1,12}".prop_map(|s| PoolHandle::from(s.as_str())),
    ]
}

fn pe_id() -> impl Strategy<Value = PeId> {
    any::<u32>().prop_map(PeId)
}

fn server_id() -> impl Strategy<Value = ServerId> {
    any::<u32>().prop_map(ServerId)
}

fn pool_element() -> impl Strategy<Value = PoolElement> {
    (
        pe_id(),
        server_id(),
        any::<i32>(),
        transport(),
        policy(),
        proptest::option::of(transport()),
    )
        .prop_map(
            |(pe_id, home_server_id, registration_life, user_transport, policy, asap_transport)| {
                PoolElement {
                    pe_id,
                    home_server_id,
                    registration_life,
                    user_transport,
                    policy,
                    asap_transport,
                }
            },
        )
}

fn server_info() -> impl Strategy<Value = ServerInformation> {
    (server_id(), enrp_transport()).prop_map(|(server_id, transport)| ServerInformation {
        server_id,
        transport,
    })
}

fn error_cause() -> impl Strategy<Value = ErrorCause> {
    (
        prop_oneof![1u16..=10, any::<u16>()],
        vec(any::<u8>(), 0..24),
    )
        .prop_map(|(c, info)| ErrorCause::new(ErrorCauseCode::from_code(c), info))
}

fn operation_error() -> impl Strategy<Value = OperationError> {
    vec(error_cause(), 1..4).prop_map(|causes| OperationError { causes })
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..40)
}

fn pes() -> impl Strategy<Value = Vec<PoolElement>> {
    vec(pool_element(), 0..4)
}

fn asap_message() -> impl Strategy<Value = AsapMessage> {
    use AsapMessage as M;
    prop_oneof![
        (pool_handle(), pool_element()).prop_map(|(pool_handle, pool_element)| {
            M::Registration(asap::Registration {
                pool_handle,
                pool_element,
            })
        }),
        (pool_handle(), pe_id()).prop_map(|(pool_handle, pe_id)| {
            M::Deregistration(asap::Deregistration { pool_handle, pe_id })
        }),
        (
            any::<bool>(),
            pool_handle(),
            pe_id(),
            proptest::option::of(operation_error())
        )
            .prop_map(|(reject, pool_handle, pe_id, error)| {
                M::RegistrationResponse(asap::RegistrationResponse {
                    reject,
                    pool_handle,
                    pe_id,
                    error,
                })
            }),
        (
            pool_handle(),
            pe_id(),
            proptest::option::of(operation_error())
        )
            .prop_map(|(pool_handle, pe_id, error)| {
                M::DeregistrationResponse(asap::DeregistrationResponse {
                    pool_handle,
                    pe_id,
                    error,
                })
            }),
        (pool_handle(), proptest::option::of(any::<u32>())).prop_map(|(pool_handle, items)| {
            M::HandleResolution(asap::HandleResolution { pool_handle, items })
        }),
        (
            pool_handle(),
            proptest::option::of(policy()),
            pes(),
            proptest::option::of(operation_error())
        )
            .prop_map(|(pool_handle, policy, pool_elements, error)| {
                M::HandleResolutionResponse(asap::HandleResolutionResponse {
                    pool_handle,
                    policy,
                    pool_elements,
                    error,
                })
            }),
        (
            any::<bool>(),
            server_id(),
            pool_handle(),
            proptest::option::of(pe_id())
        )
            .prop_map(|(home, server_id, pool_handle, pe_id)| {
                M::EndpointKeepAlive(asap::EndpointKeepAlive {
                    home,
                    server_id,
                    pool_handle,
                    pe_id,
                })
            }),
        (pool_handle(), pe_id()).prop_map(|(pool_handle, pe_id)| {
            M::EndpointKeepAliveAck(asap::EndpointKeepAliveAck { pool_handle, pe_id })
        }),
        (pool_handle(), pe_id()).prop_map(|(pool_handle, pe_id)| {
            M::EndpointUnreachable(asap::EndpointUnreachable { pool_handle, pe_id })
        }),
        (server_id(), vec(transport(), 0..3)).prop_map(|(server_id, transports)| {
            M::ServerAnnounce(asap::ServerAnnounce {
                server_id,
                transports,
            })
        }),
        bytes().prop_map(|cookie| M::Cookie(asap::Cookie { cookie })),
        bytes().prop_map(|cookie| M::CookieEcho(asap::CookieEcho { cookie })),
        (pool_handle(), proptest::option::of(policy()), pes()).prop_map(
            |(pool_handle, policy, pool_elements)| {
                M::BusinessCard(asap::BusinessCard {
                    pool_handle,
                    policy,
                    pool_elements,
                })
            }
        ),
        operation_error().prop_map(|error| M::Error(asap::Error { error })),
    ]
}

fn ids() -> (BoxedStrategy<ServerId>, BoxedStrategy<ServerId>) {
    (server_id().boxed(), server_id().boxed())
}

fn enrp_message() -> impl Strategy<Value = EnrpMessage> {
    use EnrpMessage as M;
    prop_oneof![
        (
            any::<bool>(),
            ids(),
            proptest::option::of(any::<u16>()),
            server_info()
        )
            .prop_map(
                |(reply_required, (sender, receiver), checksum, server_info)| {
                    M::Presence(enrp::Presence {
                        reply_required,
                        sender,
                        receiver,
                        checksum,
                        server_info,
                    })
                }
            ),
        (any::<bool>(), ids()).prop_map(|(own_children_only, (sender, receiver))| {
            M::HandleTableRequest(enrp::HandleTableRequest {
                own_children_only,
                sender,
                receiver,
            })
        }),
        (
            any::<bool>(),
            any::<bool>(),
            ids(),
            vec(
                (pool_handle(), vec(pool_element(), 1..3)).prop_map(
                    |(pool_handle, pool_elements)| enrp::PoolEntries {
                        pool_handle,
                        pool_elements,
                    }
                ),
                0..3
            )
        )
            .prop_map(|(reject, more_to_send, (sender, receiver), pools)| {
                M::HandleTableResponse(enrp::HandleTableResponse {
                    reject,
                    more_to_send,
                    sender,
                    receiver,
                    pools,
                })
            }),
        (
            any::<bool>(),
            ids(),
            prop_oneof![Just(UpdateAction::AddPe), Just(UpdateAction::DelPe)],
            pool_handle(),
            pool_element()
        )
            .prop_map(
                |(takeover_suggested, (sender, receiver), action, pool_handle, pool_element)| {
                    M::HandleUpdate(enrp::HandleUpdate {
                        takeover_suggested,
                        sender,
                        receiver,
                        action,
                        pool_handle,
                        pool_element,
                    })
                }
            ),
        ids().prop_map(|(sender, receiver)| M::ListRequest(enrp::ListRequest { sender, receiver })),
        (any::<bool>(), ids(), vec(server_info(), 0..4)).prop_map(
            |(reject, (sender, receiver), servers)| {
                M::ListResponse(enrp::ListResponse {
                    reject,
                    sender,
                    receiver,
                    servers,
                })
            }
        ),
        (ids(), server_id()).prop_map(|((sender, receiver), target_server_id)| {
            M::InitTakeover(enrp::InitTakeover {
                sender,
                receiver,
                target_server_id,
            })
        }),
        (ids(), server_id()).prop_map(|((sender, receiver), target_server_id)| {
            M::InitTakeoverAck(enrp::InitTakeoverAck {
                sender,
                receiver,
                target_server_id,
            })
        }),
        (ids(), server_id()).prop_map(|((sender, receiver), target_server_id)| {
            M::TakeoverServer(enrp::TakeoverServer {
                sender,
                receiver,
                target_server_id,
            })
        }),
        (ids(), operation_error()).prop_map(|((sender, receiver), error)| {
            M::Error(enrp::Error {
                sender,
                receiver,
                error,
            })
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        asap_message().prop_map(Message::Asap),
        enrp_message().prop_map(Message::Enrp),
    ]
}

fn parameter() -> impl Strategy<Value = Parameter> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| Parameter::Ipv4Address(b.into())),
        any::<[u8; 16]>().prop_map(|b| Parameter::Ipv6Address(b.into())),
        transport().prop_map(Parameter::Transport),
        policy().prop_map(Parameter::PoolMemberSelectionPolicy),
        pool_handle().prop_map(Parameter::PoolHandle),
        pool_element().prop_map(Parameter::PoolElement),
        server_info().prop_map(Parameter::ServerInformation),
        operation_error().prop_map(Parameter::OperationError),
        bytes().prop_map(Parameter::Cookie),
        pe_id().prop_map(Parameter::PeIdentifier),
        any::<u16>().prop_map(Parameter::PeChecksum),
        any::<u32>().prop_map(Parameter::HandleResolutionOption),
    ]
}

// ------------------------------------------------------------- properties

fn opts() -> DecodeOptions {
    DecodeOptions::default()
}

/// Decoding must not panic; if it succeeds, the re-encoding must decode to
/// the same message (decoding is a function of the message's meaning).
fn decode_is_stable(protocol: Protocol, bytes: &[u8]) {
    if let Ok(d) = Message::decode(protocol, bytes, &opts()) {
        let again = d.message.to_bytes().expect("encodes");
        assert_eq!(again.len() % 4, 0);
        let d2 = Message::decode(protocol, &again, &opts())
            .unwrap_or_else(|e| panic!("re-encoding of {:?} fails: {e}", d.message));
        assert_eq!(d2.message, d.message);
        assert!(d2.unrecognized.is_empty());
        assert_eq!(
            message_length(protocol, &again, &opts()).unwrap(),
            Some(again.len())
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn message_round_trip(m in message()) {
        let bytes = m.to_bytes().expect("encodes");
        prop_assert_eq!(bytes.len() % 4, 0);
        prop_assert_eq!(usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), bytes.len());
        prop_assert_eq!(bytes[0], m.msg_type());
        let d = Message::decode(m.protocol(), &bytes, &opts()).unwrap();
        prop_assert!(d.unrecognized.is_empty());
        prop_assert_eq!(&d.message, &m);
        // The other protocol's decoder never panics on it either.
        let other = match m.protocol() { Protocol::Asap => Protocol::Enrp, Protocol::Enrp => Protocol::Asap };
        decode_is_stable(other, &bytes);
    }

    #[test]
    fn parameter_round_trip(p in parameter()) {
        let bytes = p.to_bytes().expect("encodes");
        prop_assert_eq!(bytes.len() % 4, 0);
        prop_assert_eq!(u16::from_be_bytes([bytes[0], bytes[1]]), p.param_type());
        let d = Parameter::decode(&bytes, Protocol::Asap, &opts()).unwrap();
        prop_assert_eq!(d.message, p);
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..96)) {
        decode_is_stable(Protocol::Asap, &bytes);
        decode_is_stable(Protocol::Enrp, &bytes);
        let _ = Parameter::decode(&bytes, Protocol::Asap, &opts());
        let _ = message_length(Protocol::Asap, &bytes, &opts());
    }

    /// Random bodies behind a plausible header reach the parameter parser.
    #[test]
    fn random_bodies_never_panic(ty in 0u8..16, flags in any::<u8>(), body in vec(any::<u8>(), 0..96)) {
        let mut bytes = vec![ty, flags];
        bytes.extend_from_slice(&u16::try_from(body.len() + 4).unwrap().to_be_bytes());
        bytes.extend_from_slice(&body);
        decode_is_stable(Protocol::Asap, &bytes);
        decode_is_stable(Protocol::Enrp, &bytes);
    }

    /// Mutations of valid encodings: byte changes, truncation, insertion,
    /// with the length field fixed up half the time.
    #[test]
    fn mutated_messages_never_panic(
        m in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..6),
        fix_length in any::<bool>(),
    ) {
        let mut bytes = m.to_bytes().expect("encodes");
        for (i, b, op) in edits {
            if bytes.is_empty() { break; }
            let at = i.index(bytes.len());
            match op {
                0 => bytes[at] = b,
                1 => bytes[at] ^= 1 << (b % 8),
                2 => bytes.truncate(at),
                _ => bytes.insert(at, b),
            }
        }
        if fix_length && bytes.len() >= 4 {
            let l = u16::try_from(bytes.len()).unwrap_or(u16::MAX).to_be_bytes();
            bytes[2] = l[0];
            bytes[3] = l[1];
        }
        decode_is_stable(m.protocol(), &bytes);
    }
}

#[test]
fn every_message_type_is_generated() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = message();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert((m.protocol(), m.type_name()));
    }
    assert_eq!(seen.len(), 24, "{seen:?}");
}
