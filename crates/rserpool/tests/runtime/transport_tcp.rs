//! Associations over TCP on loopback: framing, both directions, errors.
#![allow(clippy::unwrap_used)]

use rserpool::transport::{Carrier, Listener, Ppid, TransportMode, connect};
use tokio::io::AsyncWriteExt;

fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, 0];
    m.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    m.extend_from_slice(body);
    m
}

#[tokio::test]
async fn messages_cross_in_both_directions_intact() {
    let l = Listener::bind(&["127.0.0.1:0".parse().unwrap()], Carrier::Tcp, Ppid::Asap).unwrap();
    let addr = l.local_addrs().unwrap()[0];
    let server = tokio::spawn(async move {
        let (mut a, _) = l.accept().await.unwrap();
        let mut got = Vec::new();
        while let Some(m) = a.recv().await.unwrap() {
            got.push(m.to_vec());
            let echo = got.last().unwrap().clone();
            a.send(&echo).await.unwrap();
        }
        got
    });
    let mut c = connect(addr, Carrier::Tcp, Ppid::Asap).await.unwrap();
    let sent: Vec<Vec<u8>> = (0..50u8)
        .map(|i| msg(i % 14 + 1, &vec![i; usize::from(i) * 7]))
        .collect();
    for m in &sent {
        c.send(m).await.unwrap();
        assert_eq!(c.recv().await.unwrap(), Some(&m[..]));
    }
    c.writer.shutdown().await.unwrap();
    assert_eq!(c.recv().await.unwrap(), None);
    assert_eq!(server.await.unwrap(), sent);
}

#[tokio::test]
async fn a_message_split_over_many_writes_arrives_whole() {
    let l = Listener::bind(&["127.0.0.1:0".parse().unwrap()], Carrier::Tcp, Ppid::Enrp).unwrap();
    let addr = l.local_addrs().unwrap()[0];
    let m = msg(4, &[0xab; 1000]);
    let m2 = m.clone();
    let client = tokio::spawn(async move {
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        for piece in m2.chunks(3) {
            raw.write_all(piece).await.unwrap();
            raw.flush().await.unwrap();
            tokio::task::yield_now().await;
        }
        raw
    });
    let (mut a, _) = l.accept().await.unwrap();
    assert_eq!(a.recv().await.unwrap(), Some(&m[..]));
    drop(client.await.unwrap());
    assert_eq!(a.recv().await.unwrap(), None);
}

#[tokio::test]
async fn a_broken_length_field_is_a_framing_error() {
    let l = Listener::bind(&["127.0.0.1:0".parse().unwrap()], Carrier::Tcp, Ppid::Asap).unwrap();
    let addr = l.local_addrs().unwrap()[0];
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(&[1, 0, 0, 2, 9, 9]).await.unwrap();
    let (mut a, _) = l.accept().await.unwrap();
    let err = a.recv().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(
        err.to_string().contains("smaller than the 4-byte header"),
        "{err}"
    );
}

#[tokio::test]
async fn closing_mid_message_is_reported() {
    let l = Listener::bind(&["127.0.0.1:0".parse().unwrap()], Carrier::Tcp, Ppid::Asap).unwrap();
    let addr = l.local_addrs().unwrap()[0];
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(&msg(1, &[0; 20])[..10]).await.unwrap();
    drop(raw);
    let (mut a, _) = l.accept().await.unwrap();
    let err = a.recv().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[tokio::test]
async fn listens_on_several_addresses() {
    let addrs = [
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.2:0".parse().unwrap(),
    ];
    let l = Listener::bind(&addrs, Carrier::Tcp, Ppid::Asap).unwrap();
    let bound = l.local_addrs().unwrap();
    assert_eq!(bound.len(), 2);
    for target in bound {
        let mut c = connect(target, Carrier::Tcp, Ppid::Asap).await.unwrap();
        c.send(&msg(5, b"x")).await.unwrap();
        let (mut a, _) = l.accept().await.unwrap();
        assert_eq!(a.recv().await.unwrap(), Some(&msg(5, b"x")[..]));
    }
}

#[test]
fn transport_mode_parses_and_tcp_always_resolves() {
    assert_eq!("tcp".parse::<TransportMode>(), Ok(TransportMode::Tcp));
    assert_eq!("sctp".parse::<TransportMode>(), Ok(TransportMode::Sctp));
    assert_eq!("auto".parse::<TransportMode>(), Ok(TransportMode::Auto));
    assert!("udp".parse::<TransportMode>().is_err());
    assert_eq!(TransportMode::Tcp.resolve().unwrap(), Carrier::Tcp);
}
