//! A small ASAP workload against a running registrar, to put real traffic
//! on the wire (scripts/tshark-tcp-check.sh captures it): registers a few
//! PEs, answers keep-alives for a while, resolves the pool (optionally at a
//! second, peered registrar too, which exercises ENRP), reports one PE
//! unreachable, deregisters them all and checks the pool is gone.
//!
//! Usage: `asap_workload [--transport tcp|sctp] [--pes N] [--linger-ms MS]
//! REGISTRAR:PORT [PEER_REGISTRAR:PORT]`

use rserpool::transport::{Association, Carrier, Ppid, TransportMode, connect};
use rserpool_proto::wire::asap::{
    Deregistration, EndpointKeepAliveAck, EndpointUnreachable, HandleResolution, Registration,
};
use rserpool_proto::wire::{
    AsapMessage, DecodeOptions, PeId, Policy, PoolElement, ServerId, TransportParam, TransportUse,
};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::{Instant, timeout};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const POOL: &str = "WorkloadPool";
const ANSWER_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Options {
    carrier: Carrier,
    pes: u32,
    linger: Duration,
    registrar: SocketAddr,
    peer: Option<SocketAddr>,
}

fn parse_args() -> Result<Options> {
    let mut transport = TransportMode::Tcp;
    let mut pes = 4;
    let mut linger = Duration::from_millis(1500);
    let mut addrs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--transport" => transport = value()?.parse()?,
            "--pes" => pes = value()?.parse()?,
            "--linger-ms" => linger = Duration::from_millis(value()?.parse()?),
            _ => addrs.push(a.parse::<SocketAddr>().map_err(|e| format!("{a:?}: {e}"))?),
        }
    }
    let (registrar, peer) = match addrs.as_slice() {
        [r] => (*r, None),
        [r, p] => (*r, Some(*p)),
        _ => return Err("usage: asap_workload [--transport tcp|sctp] [--pes N] [--linger-ms MS] REGISTRAR:PORT [PEER_REGISTRAR:PORT]".into()),
    };
    Ok(Options {
        carrier: transport.resolve()?,
        pes,
        linger,
        registrar,
        peer,
    })
}

/// One ASAP association and what crossed it.
struct Endpoint {
    assoc: Association,
    sent: u32,
    received: u32,
}

impl Endpoint {
    async fn open(to: SocketAddr, carrier: Carrier) -> Result<Endpoint> {
        Ok(Endpoint {
            assoc: connect(to, carrier, Ppid::Asap).await?,
            sent: 0,
            received: 0,
        })
    }

    async fn send(&mut self, m: impl Into<AsapMessage>) -> Result<()> {
        self.assoc.send(&m.into().to_bytes()?).await?;
        self.sent += 1;
        Ok(())
    }

    /// The next message, or `None` if none comes within `wait`.
    async fn recv_within(&mut self, wait: Duration) -> Result<Option<AsapMessage>> {
        let Ok(r) = timeout(wait, self.assoc.recv()).await else {
            return Ok(None);
        };
        let bytes = r?.ok_or("the registrar closed the association")?;
        let m = AsapMessage::decode(bytes, &DecodeOptions::default())?.message;
        self.received += 1;
        Ok(Some(m))
    }

    /// Acknowledges a keep-alive; true if `m` was one.
    async fn ack_keep_alive(&mut self, m: &AsapMessage) -> Result<bool> {
        if let AsapMessage::EndpointKeepAlive(k) = m {
            if let Some(pe_id) = k.pe_id {
                self.send(EndpointKeepAliveAck {
                    pool_handle: k.pool_handle.clone(),
                    pe_id,
                })
                .await?;
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The next message that is not a keep-alive (those are acknowledged).
    async fn answer(&mut self) -> Result<AsapMessage> {
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .recv_within(left)
                .await?
                .ok_or("no answer from the registrar in time")?;
            if !self.ack_keep_alive(&m).await? {
                return Ok(m);
            }
        }
    }
}

fn element(id: u32) -> PoolElement {
    PoolElement {
        pe_id: PeId(id),
        home_server_id: ServerId(0),
        registration_life: 30_000,
        user_transport: TransportParam::Tcp {
            port: 20_000 + u16::try_from(id % 1000).unwrap_or(0),
            transport_use: TransportUse::DataPlusControl,
            address: [127, 0, 0, 1].into(),
        },
        policy: Policy::RoundRobin,
        asap_transport: None,
    }
}

/// The PE IDs `registrar` resolves the pool to.
async fn resolve(registrar: SocketAddr, carrier: Carrier) -> Result<(BTreeSet<u32>, u32)> {
    let mut pu = Endpoint::open(registrar, carrier).await?;
    pu.send(HandleResolution {
        pool_handle: POOL.into(),
        items: Some(u32::MAX),
    })
    .await?;
    match pu.answer().await? {
        AsapMessage::HandleResolutionResponse(r) => Ok((
            r.pool_elements.iter().map(|p| p.pe_id.0).collect(),
            pu.sent + pu.received,
        )),
        m => Err(format!("unexpected answer to a handle resolution: {m:?}").into()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("asap_workload: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<()> {
    let o = parse_args()?;
    let ids: Vec<u32> = (1..=o.pes).map(|i| 0x1000 + i).collect();
    let mut pes = Vec::new();
    for &id in &ids {
        let mut pe = Endpoint::open(o.registrar, o.carrier).await?;
        pe.send(Registration {
            pool_handle: POOL.into(),
            pool_element: element(id),
        })
        .await?;
        match pe.answer().await? {
            AsapMessage::RegistrationResponse(r) if !r.reject && r.pe_id == PeId(id) => {}
            m => return Err(format!("registration of PE {id:#x} failed: {m:?}").into()),
        }
        pes.push(pe);
    }
    println!("registered {} PEs in {POOL} at {}", ids.len(), o.registrar);

    // Stay registered for a while, answering the registrar's keep-alives.
    let mut keep_alives = 0;
    let until = Instant::now() + o.linger;
    while Instant::now() < until {
        for pe in &mut pes {
            if let Some(m) = pe.recv_within(Duration::from_millis(20)).await? {
                if pe.ack_keep_alive(&m).await? {
                    keep_alives += 1;
                } else {
                    return Err(format!("unexpected message while registered: {m:?}").into());
                }
            }
        }
    }
    println!("answered {keep_alives} keep-alives");

    let want: BTreeSet<u32> = ids.iter().copied().collect();
    let mut other = 0;
    let (got, n) = resolve(o.registrar, o.carrier).await?;
    other += n;
    if got != want {
        return Err(format!("resolved {got:x?}, expected {want:x?}").into());
    }
    println!("resolved {} PEs at {}", got.len(), o.registrar);
    if let Some(peer) = o.peer {
        // The peer learns the PEs by ENRP; give it time.
        let deadline = Instant::now() + ANSWER_WAIT;
        loop {
            let (got, n) = resolve(peer, o.carrier).await?;
            other += n;
            if got == want {
                println!("resolved {} PEs at peer {peer}", got.len());
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("peer {peer} resolved {got:x?}, expected {want:x?}").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let mut pu = Endpoint::open(o.registrar, o.carrier).await?;
    if let Some(&first) = ids.first() {
        pu.send(EndpointUnreachable {
            pool_handle: POOL.into(),
            pe_id: PeId(first),
        })
        .await?;
    }
    other += pu.sent;

    for (pe, &id) in pes.iter_mut().zip(&ids) {
        pe.send(Deregistration {
            pool_handle: POOL.into(),
            pe_id: PeId(id),
        })
        .await?;
        match pe.answer().await? {
            AsapMessage::DeregistrationResponse(r) if r.error.is_none() => {}
            m => return Err(format!("deregistration of PE {id:#x} failed: {m:?}").into()),
        }
    }
    let (left, n) = resolve(o.registrar, o.carrier).await?;
    other += n;
    if !left.is_empty() {
        return Err(format!("PEs {left:x?} still resolve after deregistration").into());
    }
    let pe_messages: u32 = pes.iter().map(|p| p.sent + p.received).sum();
    println!(
        "deregistered all; ASAP messages exchanged: {} (PEs {pe_messages}, PUs {other})",
        pe_messages + other
    );
    Ok(())
}
