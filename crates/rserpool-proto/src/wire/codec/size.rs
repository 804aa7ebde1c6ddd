//! Encoded sizes computed without encoding, for budgeting a message before
//! it is built (a Handle Resolution Response, a Handle Table Response, a
//! List Response must stay within the 16-bit message length). Each is the
//! exact padded size or, where said, an upper bound; the tests compare
//! them with the encoder.

use super::super::ids::PoolHandle;
use super::super::param::{PoolElement, ServerInformation};
use super::super::transport::TransportParam;

/// Header and the sending and receiving server IDs of every ENRP message.
pub(crate) const ENRP_HEADER_LEN: usize = 12;

/// The largest Pool Member Selection Policy parameter: TLV header, policy
/// type and up to four values.
pub(crate) const MAX_POLICY_LEN: usize = 4 + 4 + 4 * 4;

/// Encoded size of a transport parameter (padded).
pub(crate) fn transport_len(t: &TransportParam) -> usize {
    let addrs: usize = t
        .addresses()
        .iter()
        .map(|a| if a.is_ipv4() { 8 } else { 20 })
        .sum();
    let extra = if matches!(t, TransportParam::Dccp { .. }) {
        4
    } else {
        0
    };
    8 + extra + addrs
}

/// Encoded size of a Server Information parameter.
pub(crate) fn server_information_len(si: &ServerInformation) -> usize {
    8 + transport_len(&si.transport)
}

/// Encoded size of a Pool Handle parameter (padded).
pub(crate) fn pool_handle_len(h: &PoolHandle) -> usize {
    4 + h.0.len().next_multiple_of(4)
}

/// Encoded size of a Pool Element parameter (an upper bound: the policy
/// counts its values at 4 bytes each plus 8).
pub(crate) fn pool_element_len(pe: &PoolElement) -> usize {
    4 + 12
        + transport_len(&pe.user_transport)
        + 8
        + 4 * pe.policy.values().1
        + pe.asap_transport.as_ref().map_or(0, transport_len)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::{
        AddressList, EnrpMessage, Parameter, PeId, Policy, ServerId, TransportUse, enrp,
    };

    fn transports() -> Vec<TransportParam> {
        vec![
            TransportParam::Udp {
                port: 7,
                address: [127, 0, 0, 1].into(),
            },
            TransportParam::Tcp {
                port: 7,
                transport_use: TransportUse::DataOnly,
                address: "::1".parse().unwrap(),
            },
            TransportParam::Dccp {
                port: 7,
                service_code: 3,
                address: [10, 0, 0, 1].into(),
            },
            TransportParam::Sctp {
                port: 7,
                transport_use: TransportUse::DataPlusControl,
                addresses: AddressList::from_slice(&[
                    [10, 0, 0, 1].into(),
                    "fe80::1".parse().unwrap(),
                    [10, 0, 0, 2].into(),
                ]),
            },
        ]
    }

    #[test]
    fn sizes_match_the_encoder() {
        for t in transports() {
            let p = Parameter::Transport(t.clone());
            assert_eq!(transport_len(&t), p.encoded_len(), "{t:?}");
            let si = ServerInformation {
                server_id: ServerId(1),
                transport: t.clone(),
            };
            let n = server_information_len(&si);
            assert_eq!(n, Parameter::ServerInformation(si).encoded_len());
            for policy in [
                Policy::RoundRobin,
                Policy::LeastUsed { load: 1 },
                Policy::LeastUsedDegradation {
                    load: 1,
                    degradation: 2,
                },
            ] {
                let pe = PoolElement {
                    pe_id: PeId(1),
                    home_server_id: ServerId(2),
                    registration_life: 30_000,
                    user_transport: t.clone(),
                    policy,
                    asap_transport: Some(t.clone()),
                };
                let bound = pool_element_len(&pe);
                assert!(bound >= Parameter::PoolElement(pe).encoded_len());
                assert!(
                    Parameter::PoolMemberSelectionPolicy(policy).encoded_len() <= MAX_POLICY_LEN
                );
            }
        }
        for name in ["", "a", "echo", "EchoPool!"] {
            let h = PoolHandle::from(name);
            assert_eq!(pool_handle_len(&h), Parameter::PoolHandle(h).encoded_len());
        }
        let empty = EnrpMessage::from(enrp::ListRequest {
            sender: ServerId(1),
            receiver: ServerId(2),
        });
        assert_eq!(empty.encoded_len(), ENRP_HEADER_LEN);
    }
}
