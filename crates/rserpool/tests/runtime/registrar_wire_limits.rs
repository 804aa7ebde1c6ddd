//! The probe of the issue, over a real TCP stream: a Handle Resolution
//! carrying 16,000 unknown "skip and report" parameters is answered with
//! an Error that decodes, and the stream keeps its framing (the next
//! request is answered as usual).
#![allow(clippy::unwrap_used)]

use crate::common::placeholder;
use std::net::SocketAddr;
use std::time::Duration;

use rserpool::registrar::{DaemonConfig, start};
use rserpool::transport::{Association, Carrier, Ppid, TransportMode, connect};
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::asap::HandleResolution;
use rserpool_proto::wire::{AsapMessage, DecodeOptions, ErrorCauseCode, PoolHandle, ServerId};

const WAIT: Duration = Duration::from_secs(10);

async fn recv(a: &mut Association) -> Vec<u8> {
    tokio::time::timeout(WAIT, a.recv())
        .await
        .expect("no answer in time")
        .unwrap()
        .expect("closed")
        .to_vec()
}

#[tokio::test]
async fn sixteen_thousand_unknown_parameters_are_answered_within_one_frame() {
    let placeholder = placeholder();
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut d = DaemonConfig::new(
        Config::new(ServerId(1), placeholder),
        vec![local],
        vec![local],
    );
    d.transport = TransportMode::Tcp;
    d.seed = 1;
    let pr = start(d).await.unwrap();
    let mut a = connect(pr.asap_addrs()[0], Carrier::Tcp, Ppid::Asap)
        .await
        .unwrap();

    let hr = |name: &str| {
        AsapMessage::from(HandleResolution {
            pool_handle: PoolHandle::from(name),
            items: None,
        })
        .to_bytes()
        .unwrap()
    };
    let mut probe = hr("probe");
    for _ in 0..16_000 {
        probe.extend_from_slice(&[0xc0, 0x99, 0, 4]);
    }
    let len = u16::try_from(probe.len()).unwrap();
    probe[2..4].copy_from_slice(&len.to_be_bytes());
    a.send(&probe).await.unwrap();

    let mut errors = 0;
    let mut causes = 0;
    let mut resolutions = 0;
    a.send(&hr("after")).await.unwrap();
    while resolutions < 2 {
        let bytes = recv(&mut a).await;
        let declared = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
        assert_eq!(declared, bytes.len());
        match AsapMessage::decode(&bytes, &DecodeOptions::default())
            .unwrap()
            .message
        {
            AsapMessage::Error(e) => {
                errors += 1;
                causes += e.error.causes.len();
                assert!(
                    e.error
                        .causes
                        .iter()
                        .all(|c| c.code == ErrorCauseCode::UnrecognizedParameter)
                );
            }
            AsapMessage::HandleResolutionResponse(r) => {
                resolutions += 1;
                assert!(r.error.is_some(), "unknown pools: {r:?}");
            }
            m => panic!("unexpected {m:?}"),
        }
    }
    assert_eq!(errors, 1);
    assert!(causes > 8000 && causes < 16_000, "{causes} reported");
    pr.stop().await.unwrap();
}
