//! Walking the TLVs of bytes that are not decoded (again): the registrar
//! quotes the offending parameter of a message it refuses as the info of
//! its error cause, as RFC 5352 asks.

use super::super::HEADER_LEN;
use super::super::param::param_type;
use super::be16;

/// The TLVs (type, bytes without padding) of a parameter sequence,
/// stopping at the first one whose length is bad.
pub(crate) fn tlvs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let t = be16(b, 0);
        let len = usize::from(be16(b, 2));
        if len < 4 {
            return None;
        }
        let tlv = b.get(..len)?;
        b = b.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((t, tlv))
    })
}

/// The raw TLV (without padding) of the first parameter whose type
/// satisfies `want` inside the Pool Element parameter of the raw ASAP
/// message `msg`; empty if there is none.
pub(crate) fn pool_element_param(msg: &[u8], want: impl Fn(u16) -> bool) -> Vec<u8> {
    let Some(body) = msg.get(HEADER_LEN..) else {
        return Vec::new();
    };
    for (t, tlv) in tlvs(body) {
        if t == param_type::POOL_ELEMENT {
            // PE ID, home server ID, registration life: 12 bytes.
            let inner = tlv.get(4 + 12..).unwrap_or(&[]);
            for (t, tlv) in tlvs(inner) {
                if want(t) {
                    return tlv.to_vec();
                }
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::{
        AsapMessage, PeId, Policy, PoolElement, PoolHandle, ServerId, TransportParam, asap,
    };

    #[test]
    fn finds_a_parameter_inside_the_pool_element_and_stops_at_bad_lengths() {
        let transport = TransportParam::Udp {
            port: 7,
            address: [127, 0, 0, 1].into(),
        };
        let m = AsapMessage::from(asap::Registration {
            pool_handle: PoolHandle::from("echo"),
            pool_element: PoolElement {
                pe_id: PeId(1),
                home_server_id: ServerId(0),
                registration_life: 30_000,
                user_transport: transport.clone(),
                policy: Policy::RoundRobin,
                asap_transport: None,
            },
        });
        let bytes = m.to_bytes().unwrap();
        let got = pool_element_param(&bytes, param_type::is_transport);
        let want = crate::wire::Parameter::Transport(transport)
            .to_bytes()
            .unwrap();
        assert_eq!(got, want);
        let policy = pool_element_param(&bytes, |t| t == param_type::POOL_MEMBER_SELECTION_POLICY);
        assert_eq!(be16(&policy, 0), param_type::POOL_MEMBER_SELECTION_POLICY);
        assert!(pool_element_param(&bytes, |t| t == param_type::COOKIE).is_empty());
        assert!(pool_element_param(&bytes[..3], |_| true).is_empty());
        // A length below 4 ends the walk.
        assert_eq!(tlvs(&[0, 1, 0, 2, 0, 1, 0, 4]).count(), 0);
        assert_eq!(tlvs(&[0, 1, 0, 4, 0, 1, 0, 3]).count(), 1);
    }
}
