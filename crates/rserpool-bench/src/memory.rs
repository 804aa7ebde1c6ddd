//! `rserpool bench memory`: what a registrar keeps per PE.
//!
//! A sans-IO [`Registrar`] is fed N real ASAP REGISTRATION messages, each
//! over an association of its own (one PE process per association, the
//! common case), so everything it keeps per PE is counted: the entry, its
//! transports, the index, selection, timer, ownership and association
//! sets, and the registrar's own association record. The figure is the
//! growth of jemalloc's allocated bytes (`stats.allocated`, read after an
//! epoch advance) divided by N; the growth of resident memory is printed
//! beside it for reference (it includes allocator slack and page-level
//! effects, and depends on what the process had mapped before).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use rserpool_proto::Time;
use rserpool_proto::registrar::{Config, Registrar};
use rserpool_proto::wire::asap::{AsapMessage, Registration};
use rserpool_proto::wire::{
    AddressList, PeId, Policy, PolicyType, PoolElement, PoolHandle, ServerId, TransportParam,
    TransportUse,
};

/// The transport the PEs register with (their ASAP association uses the
/// same protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum MemTransport {
    /// SCTP, one IPv4 address per PE (RSPLIB's PEs).
    Sctp,
    /// TCP, one IPv4 address.
    Tcp,
}

/// The options of `rserpool bench memory`.
#[derive(Debug, clap::Args)]
pub struct MemoryArgs {
    /// Number of PEs, each registered over an association of its own.
    #[arg(long, default_value_t = 1_000_000)]
    pub pes: u32,
    /// Number of pools the PEs are spread over.
    #[arg(long, default_value_t = 1)]
    pub pools: u32,
    /// The PEs' transport.
    #[arg(long, value_enum, default_value_t = MemTransport::Sctp)]
    pub transport: MemTransport,
    /// The pools' policy (round-robin, random, least-used, ...; a load
    /// policy's PEs get loads spread over 0-999)
    #[arg(long, default_value = "round-robin", value_parser = crate::units::policy)]
    pub policy: PolicyType,
}

/// jemalloc's count of bytes allocated by the program, brought up to date.
fn allocated() -> Result<usize, String> {
    tikv_jemalloc_ctl::epoch::advance().map_err(|e| format!("jemalloc epoch: {e}"))?;
    tikv_jemalloc_ctl::stats::allocated::read().map_err(|e| format!("jemalloc stats: {e}"))
}

/// Resident memory of this process in bytes (Linux), if readable.
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The remote address of PE `i`'s association: distinct hosts in 10/8.
fn host(i: u32) -> Ipv4Addr {
    let [_, a, b, c] = i.to_be_bytes();
    Ipv4Addr::new(10, a, b, c)
}

fn policy(p: PolicyType, i: u32) -> Policy {
    crate::scope::generator::policy_with_load(p, i % 1000)
}

/// The REGISTRATION PE `i` sends.
fn registration(args: &MemoryArgs, i: u32) -> Registration {
    let ip = IpAddr::V4(host(i));
    let user_transport = match args.transport {
        MemTransport::Sctp => TransportParam::Sctp {
            port: 7000,
            transport_use: TransportUse::DataOnly,
            addresses: AddressList::from_slice(&[ip]),
        },
        MemTransport::Tcp => TransportParam::Tcp {
            port: 7000,
            transport_use: TransportUse::DataOnly,
            address: ip,
        },
    };
    Registration {
        pool_handle: PoolHandle::from(format!("pool-{}", i % args.pools.max(1)).as_str()),
        pool_element: PoolElement {
            pe_id: PeId(i + 1),
            home_server_id: ServerId(0),
            registration_life: 30_000,
            user_transport,
            policy: policy(args.policy, i),
            asap_transport: None,
        },
    }
}

/// What one measurement found.
#[derive(Debug)]
struct Measured {
    before: usize,
    after: usize,
    resident: Option<u64>,
    seconds: f64,
}

/// Runs the measurement; prints figures, the last line `bytes per PE: X`.
pub fn run(args: &MemoryArgs) -> Result<(), String> {
    let m = measure(args)?;
    let n = f64::from(args.pes);
    let grown = m.after.saturating_sub(m.before);
    println!(
        "registrar: {} PEs in {} pool(s), {:?}, {:?}, one association each ({:.1} s)",
        args.pes, args.pools, args.transport, args.policy, m.seconds
    );
    println!(
        "allocated: {} B before, {} B after, {grown} B more",
        m.before, m.after
    );
    if let Some(d) = m.resident {
        println!(
            "resident: {d} B more ({:.1} B per PE, for reference)",
            d as f64 / n
        );
    }
    println!("bytes per PE: {:.1}", grown as f64 / n);
    Ok(())
}

/// Registers `args.pes` PEs into a fresh registrar, measuring allocated
/// bytes before and after.
fn measure(args: &MemoryArgs) -> Result<Measured, String> {
    if args.pes == 0 || args.pools == 0 {
        return Err("--pes and --pools must be at least 1".into());
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build (use cargo run --release)");
    }
    let now = Time::from_millis(1_000);
    let mut config = Config::new(
        ServerId(1),
        TransportParam::Tcp {
            port: 9901,
            transport_use: TransportUse::DataOnly,
            address: Ipv4Addr::LOCALHOST.into(),
        },
    );
    config.asap_transport = Some(match args.transport {
        MemTransport::Sctp => TransportParam::Sctp {
            port: 3863,
            transport_use: TransportUse::DataOnly,
            addresses: AddressList::from_slice(&[Ipv4Addr::LOCALHOST.into()]),
        },
        MemTransport::Tcp => TransportParam::Tcp {
            port: 3863,
            transport_use: TransportUse::DataOnly,
            address: Ipv4Addr::LOCALHOST.into(),
        },
    });
    // Encoded before the measurement starts, so that the messages'
    // buffers do not count (nor their allocation's time).
    let started = Instant::now();
    let messages: Vec<Vec<u8>> = (0..args.pes)
        .map(|i| AsapMessage::from(registration(args, i)).to_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("encoding a registration: {e}"))?;
    let mut registrar: Registrar = Registrar::new(config, now, 1);
    // Drained after each message: the queue would otherwise count.
    let drain = |r: &mut Registrar| {
        while r.poll_transmit().is_some() {}
        while r.poll_event().is_some() {}
    };
    drain(&mut registrar);
    let rss_before = resident();
    let before = allocated()?;
    for (i, bytes) in (0..args.pes).zip(&messages) {
        let remote = SocketAddr::new(IpAddr::V4(host(i)), 40_000 + (i % 20_000) as u16);
        let assoc = registrar.asap_accepted(now, remote);
        registrar.asap_received(now, assoc, bytes);
        drain(&mut registrar);
    }
    let after = allocated()?;
    let rss_after = resident();
    let elapsed = started.elapsed();
    let held = registrar.handlespace().len();
    if held != args.pes as usize {
        return Err(format!(
            "only {held} of {} registrations were accepted",
            args.pes
        ));
    }
    drop(registrar);
    if after <= before {
        // jemalloc counts only what it allocates: in a program whose
        // global allocator is another, it sees nothing.
        return Err(
            "jemalloc counted no allocation: it is not this program's global \
                    allocator (run it as `rserpool bench memory`)"
                .into(),
        );
    }
    Ok(Measured {
        before,
        after,
        resident: rss_before.zip(rss_after).map(|(b, a)| a.saturating_sub(b)),
        seconds: elapsed.as_secs_f64(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_the_registrations_allocate() {
        for transport in [MemTransport::Sctp, MemTransport::Tcp] {
            let args = MemoryArgs {
                pes: 20_000,
                pools: 3,
                transport,
                policy: PolicyType::LeastUsed,
            };
            // Fails unless every registration was accepted.
            let m = measure(&args).unwrap();
            // Other tests allocate and free meanwhile (the count is the
            // process's), so only the direction is checked: 20,000 PEs
            // take megabytes.
            assert!(m.after > m.before, "{m:?}");
        }
    }

    #[test]
    fn refuses_zero() {
        let args = MemoryArgs {
            pes: 0,
            pools: 1,
            transport: MemTransport::Sctp,
            policy: PolicyType::RoundRobin,
        };
        assert!(run(&args).is_err());
    }
}
