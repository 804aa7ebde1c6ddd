//! Finds registrars by their ENRP Presence announces.

use rserpool::announce::{AnnounceListener, MulticastConfig};
use rserpool_proto::wire::{DecodeOptions, EnrpMessage, ServerId};
use std::io;
use std::net::SocketAddr;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A registrar heard by multicast: its ID and its ENRP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    pub id: ServerId,
    pub enrp: SocketAddr,
}

/// The ENRP address an announce names: its Server Information endpoint,
/// or the datagram's source when the endpoint's address is unspecified
/// (a registrar bound to 0.0.0.0).
pub fn heard(bytes: &[u8], from: SocketAddr) -> Option<Heard> {
    let EnrpMessage::Presence(p) = EnrpMessage::decode(bytes, &DecodeOptions::default())
        .ok()?
        .message
    else {
        return None;
    };
    if p.sender.0 == 0 {
        return None;
    }
    let t = &p.server_info.transport;
    let ip = t
        .addresses()
        .iter()
        .copied()
        .find(|a| !a.is_unspecified())
        .unwrap_or(from.ip());
    Some(Heard {
        id: p.sender,
        enrp: SocketAddr::new(ip, t.port()),
    })
}

/// Listens in the background; every announce goes to `tx` (the receiver
/// dedupes). Ends when the receiver is gone.
pub fn spawn(cfg: &MulticastConfig, tx: mpsc::Sender<Heard>) -> io::Result<JoinHandle<()>> {
    let listener = AnnounceListener::new(cfg)?;
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            match listener.recv(&mut buf).await {
                Ok((bytes, from)) => {
                    if let Some(h) = heard(bytes, from) {
                        if tx.send(h).await.is_err() {
                            return;
                        }
                    }
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rserpool_proto::wire::enrp::Presence;
    use rserpool_proto::wire::{ServerInformation, TransportParam, TransportUse};

    fn presence(sender: u32, address: [u8; 4]) -> Vec<u8> {
        EnrpMessage::from(Presence {
            reply_required: false,
            sender: ServerId(sender),
            receiver: ServerId(0),
            checksum: None,
            server_info: ServerInformation {
                server_id: ServerId(sender),
                transport: TransportParam::Tcp {
                    port: 9901,
                    transport_use: TransportUse::DataOnly,
                    address: address.into(),
                },
            },
        })
        .to_bytes()
        .unwrap()
    }

    #[test]
    fn an_unspecified_endpoint_takes_the_source_address() {
        let from: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert_eq!(
            heard(&presence(7, [0, 0, 0, 0]), from),
            Some(Heard {
                id: ServerId(7),
                enrp: "10.1.2.3:9901".parse().unwrap()
            })
        );
        assert_eq!(
            heard(&presence(7, [127, 0, 0, 9]), from).map(|h| h.enrp),
            Some("127.0.0.9:9901".parse().unwrap())
        );
    }

    #[test]
    fn anything_but_a_presence_is_ignored() {
        let from: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert_eq!(heard(&presence(0, [127, 0, 0, 1]), from), None);
        assert_eq!(heard(b"\x01\x00\x00\x04", from), None);
        assert_eq!(heard(&[], from), None);
    }
}
