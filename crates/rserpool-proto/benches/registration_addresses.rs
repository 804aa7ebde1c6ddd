//! How long the registrar takes for a registration whose SCTP transport
//! holds 8,000 addresses (the most a 64 KB message holds): decoding,
//! address de-duplication and the answer. Prints figures; asserts nothing.
//!
//! `cargo bench -p rserpool-proto --bench registration_addresses`

// A benchmark measures wall time, which the core itself never reads.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use rserpool_proto::Time;
use rserpool_proto::registrar::{Config, Registrar};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{
    AddressList, PeId, Policy, PoolElement, PoolHandle, ServerId, TransportParam, TransportUse,
};

fn registration(n: u32) -> Vec<u8> {
    let addresses: AddressList = (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
        .collect();
    AsapMessage::from(asap::Registration {
        pool_handle: PoolHandle::from("bench"),
        pool_element: PoolElement {
            pe_id: PeId(1),
            home_server_id: ServerId(0),
            registration_life: 30_000,
            user_transport: TransportParam::Sctp {
                port: 7,
                transport_use: TransportUse::DataOnly,
                addresses,
            },
            policy: Policy::RoundRobin,
            asap_transport: None,
        },
    })
    .to_bytes()
    .expect("8,000 addresses fit in one message")
}

fn main() {
    let n = 8_000;
    let bytes = registration(n);
    let enrp = TransportParam::Tcp {
        port: 9901,
        transport_use: TransportUse::DataOnly,
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut pr: Registrar = Registrar::new(Config::new(ServerId(1), enrp), Time::ZERO, 1);
    let remote = SocketAddr::from(([127, 0, 0, 1], 40000));
    let rounds = 20;
    let mut best = f64::INFINITY;
    let mut total = 0.0;
    for _ in 0..rounds {
        let a = pr.asap_accepted(Time::ZERO, remote);
        let t = Instant::now();
        pr.asap_received(Time::ZERO, a, &bytes);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        best = best.min(ms);
        total += ms;
        while pr.poll_transmit().is_some() {}
        while pr.poll_event().is_some() {}
        pr.asap_closed(Time::ZERO, a);
    }
    println!(
        "registration with {n} addresses ({} bytes): best {best:.3} ms, mean {:.3} ms over {rounds}",
        bytes.len(),
        total / f64::from(rounds)
    );
}
