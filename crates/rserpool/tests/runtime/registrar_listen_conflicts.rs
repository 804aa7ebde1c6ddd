//! A registrar refuses to start on a listening address another registrar
//! holds, and names the listener (ASAP, ENRP, metrics/HTTP) and the
//! address in its error.
#![allow(clippy::unwrap_used)]

use crate::common::{local, placeholder};
use std::io;
use std::net::SocketAddr;

use rserpool::registrar::{DaemonConfig, start};
use rserpool::transport::TransportMode;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::ServerId;

fn config(id: u32, asap: SocketAddr, enrp: SocketAddr) -> DaemonConfig {
    let placeholder = placeholder();
    let mut d = DaemonConfig::new(
        Config::new(ServerId(id), placeholder),
        vec![asap],
        vec![enrp],
    );
    d.transport = TransportMode::Tcp;
    d.seed = u64::from(id);
    d
}

fn assert_names(e: &io::Error, role: &str, addr: SocketAddr) {
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
    let want = format!("{role} address {addr} is already in use");
    assert!(e.to_string().contains(&want), "{e:?} should say {want:?}");
}

#[tokio::test]
async fn a_taken_enrp_address_is_refused_and_named() {
    let first = start(config(1, local(), local())).await.unwrap();
    let enrp = first.enrp_addrs()[0];
    let e = start(config(2, local(), enrp)).await.unwrap_err();
    assert_names(&e, "ENRP", enrp);
    first.stop().await.unwrap();
    // Once the first is gone, the address is free again.
    let again = start(config(3, local(), enrp)).await.unwrap();
    assert_eq!(again.enrp_addrs(), [enrp]);
    again.stop().await.unwrap();
}

#[tokio::test]
async fn a_taken_asap_address_is_refused_and_named() {
    let first = start(config(1, local(), local())).await.unwrap();
    let asap = first.asap_addrs()[0];
    let e = start(config(2, asap, local())).await.unwrap_err();
    assert_names(&e, "ASAP", asap);
    first.stop().await.unwrap();
}

#[tokio::test]
async fn a_taken_metrics_address_is_refused_and_named() {
    let mut c = config(1, local(), local());
    c.metrics = Some(local());
    let first = start(c).await.unwrap();
    let metrics = first.metrics_addr().unwrap();
    let mut c = config(2, local(), local());
    c.metrics = Some(metrics);
    let e = start(c).await.unwrap_err();
    assert_names(&e, "metrics/HTTP", metrics);
    first.stop().await.unwrap();
}
