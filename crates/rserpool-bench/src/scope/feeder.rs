//! The generator peer of the `sync` and `takeover` scenarios: an ENRP
//! speaker on loopback that plays a registrar homing N PEs, and the host
//! of those PEs' ASAP endpoint.
//!
//! Registrars started with `--peer` at it learn its PEs the way they learn
//! any peer's: it answers PRESENCE with its own (with the checksum of its
//! PEs, so their audits agree) and HANDLE_TABLE_REQUESTs with blocks of
//! [`BLOCK`] entries, as this project's registrars do by default. Its PEs
//! are not processes: each is an entry with a distinct PE ID and user port,
//! and every [`PES_PER_HOST`] of them name one ASAP endpoint of the
//! feeder's (as PEs sharing a host), where a registrar that took them over
//! sends its Endpoint Keep-Alives (H flag), which are acknowledged and
//! counted (each PE once per registrar, so that periodic Keep-Alives to
//! PEs that answered do not stand in for those not reached yet). (A registrar queues at most 4096 messages for one ASAP
//! association; one endpoint for all N PEs would overflow it.) [`Feeder::fail`] plays the peer's death: every
//! ENRP association closes with a reset and the listener goes, while the
//! PEs' ASAP endpoint stays up (the PEs' host did not fail).

use rserpool_proto::handlespace::checksum::{ChecksumSum, handle_sum, pe_part};
use rserpool_proto::wire::asap::{AsapMessage, EndpointKeepAliveAck};
use rserpool_proto::wire::enrp::{
    EnrpMessage, HandleTableResponse, ListResponse, PoolEntries, Presence,
};
use rserpool_proto::wire::{
    DecodeOptions, PeId, Policy, PoolElement, PoolHandle, ServerId, ServerInformation,
    TransportParam, TransportUse,
};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Entries per Handle Table Response (a registrar's default
/// `--max-elements-per-htr`).
pub const BLOCK: usize = 128;
/// The pool of the feeder's PEs.
pub const POOL: &str = "scope-scale";
/// PEs that share one ASAP endpoint.
pub const PES_PER_HOST: usize = 1000;
/// Registration lifetime of the feeder's PEs: an hour, so none expires
/// during a run.
const LIFETIME_MS: i32 = 3_600_000;

/// What the ASAP endpoint of the PEs saw.
#[derive(Debug, Default)]
pub struct KeepAlives {
    /// Endpoint Keep-Alives received (each answered with an Ack).
    pub count: AtomicU64,
    /// Microseconds from the feeder's start to the last one received.
    pub last_us: AtomicU64,
    /// Per registrar, the PEs its Keep-Alives with the H flag reached.
    /// A taker's periodic Keep-Alives (no H flag) to PEs that answered, or
    /// a Keep-Alive sent twice, must not count as reaching another PE.
    reached: Mutex<HashMap<ServerId, Reached>>,
}

/// The PEs one registrar reached with a Keep-Alive with the H flag.
#[derive(Debug, Default)]
struct Reached {
    /// One bit per PE of the table, by its index.
    seen: Vec<u64>,
    /// PEs reached.
    count: u64,
    /// Microseconds from the feeder's start to the first Keep-Alive of
    /// the last PE reached.
    last_us: u64,
}

impl KeepAlives {
    /// Counts a Keep-Alive with the H flag from `from` to the PE at
    /// `index` of the table (of `n`).
    fn reach(&self, from: ServerId, index: usize, n: usize, at_us: u64) {
        let Ok(mut reached) = self.reached.lock() else {
            return;
        };
        let r = reached.entry(from).or_default();
        if r.seen.is_empty() {
            r.seen = vec![0; n.div_ceil(64)];
        }
        let Some(word) = r.seen.get_mut(index / 64) else {
            return;
        };
        let bit = 1u64 << (index % 64);
        if *word & bit == 0 {
            *word |= bit;
            r.count += 1;
            r.last_us = r.last_us.max(at_us);
        }
    }

    /// How many distinct PEs `from`'s Keep-Alives with the H flag reached,
    /// and the microseconds from the feeder's start to the last PE's first.
    pub fn reached_by(&self, from: ServerId) -> (u64, u64) {
        self.reached
            .lock()
            .ok()
            .and_then(|r| r.get(&from).map(|r| (r.count, r.last_us)))
            .unwrap_or((0, 0))
    }
}

/// A running feeder; stops (as if failed) on drop.
#[derive(Debug)]
pub struct Feeder {
    /// Its ENRP endpoint (the registrars' `--peer`).
    pub enrp: SocketAddr,
    /// When it started (the origin of [`KeepAlives::last_us`]).
    pub started: Instant,
    /// Keep-alives at the PEs' ASAP endpoint.
    pub keep_alives: Arc<KeepAlives>,
    fail: watch::Sender<bool>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The N PEs and their encoded facts, shared by every association.
#[derive(Debug)]
struct Table {
    id: ServerId,
    /// The first PE's ID; the others follow it.
    first_pe: u32,
    pool: PoolHandle,
    elements: Vec<PoolElement>,
    checksum: u16,
    info: ServerInformation,
}

impl Table {
    /// `asap`: the ASAP endpoints, one per [`PES_PER_HOST`] PEs.
    fn new(id: ServerId, n: usize, first_pe: u32, enrp: SocketAddr, asap: &[SocketAddr]) -> Table {
        let pool = PoolHandle::from(POOL);
        let hsum = handle_sum(&pool.0);
        let mut sum = ChecksumSum::EMPTY;
        let asap_transport = |i: usize| {
            let a = asap[(i / PES_PER_HOST).min(asap.len() - 1)];
            TransportParam::Tcp {
                port: a.port(),
                transport_use: TransportUse::DataOnly,
                address: a.ip(),
            }
        };
        let elements = (0..n)
            .map(|i| {
                let pe_id = PeId(first_pe.wrapping_add(i as u32));
                sum.add(pe_part(hsum, pe_id));
                PoolElement {
                    pe_id,
                    home_server_id: id,
                    registration_life: LIFETIME_MS,
                    user_transport: TransportParam::Tcp {
                        port: 1024 + (i % 60_000) as u16,
                        transport_use: TransportUse::DataOnly,
                        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    },
                    policy: Policy::RoundRobin,
                    asap_transport: Some(asap_transport(i)),
                }
            })
            .collect();
        Table {
            id,
            first_pe,
            pool,
            elements,
            checksum: sum.finish().0,
            info: ServerInformation {
                server_id: id,
                transport: TransportParam::Tcp {
                    port: enrp.port(),
                    transport_use: TransportUse::DataOnly,
                    address: enrp.ip(),
                },
            },
        }
    }

    fn presence(&self, to: ServerId) -> EnrpMessage {
        Presence {
            reply_required: false,
            sender: self.id,
            receiver: to,
            checksum: Some(self.checksum),
            server_info: self.info.clone(),
        }
        .into()
    }

    /// The block from `at`, and where the next one starts.
    fn block(&self, to: ServerId, at: usize) -> (EnrpMessage, Option<usize>) {
        let end = (at + BLOCK).min(self.elements.len());
        let next = (end < self.elements.len()).then_some(end);
        let m = HandleTableResponse {
            reject: false,
            more_to_send: next.is_some(),
            sender: self.id,
            receiver: to,
            pools: if at < end {
                vec![PoolEntries {
                    pool_handle: self.pool.clone(),
                    pool_elements: self.elements[at..end].to_vec(),
                }]
            } else {
                Vec::new()
            },
        };
        (m.into(), next)
    }
}

impl Feeder {
    /// Starts a feeder with `n` PEs, IDs from `first_pe` on, on loopback.
    pub fn start(id: ServerId, n: usize, first_pe: u32) -> Result<Feeder, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("the feeder's runtime: {e}"))?;
        let hosts = n.div_ceil(PES_PER_HOST).max(1);
        let (enrp_l, asap_l) = rt
            .block_on(async {
                let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
                let enrp = TcpListener::bind(any).await?;
                let mut asap = Vec::with_capacity(hosts);
                for _ in 0..hosts {
                    asap.push(TcpListener::bind(any).await?);
                }
                Ok::<_, std::io::Error>((enrp, asap))
            })
            .map_err(|e| format!("the feeder's listeners: {e}"))?;
        let enrp = enrp_l.local_addr().map_err(|e| e.to_string())?;
        let asap = asap_l
            .iter()
            .map(TcpListener::local_addr)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let table = Arc::new(Table::new(id, n, first_pe, enrp, &asap));
        let keep_alives = Arc::new(KeepAlives::default());
        let (fail, failed) = watch::channel(false);
        let (stop, stopped) = watch::channel(false);
        let started = Instant::now();
        let ka = keep_alives.clone();
        let thread = std::thread::Builder::new()
            .name("feeder".into())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&rt, async move {
                    tokio::task::spawn_local(serve_enrp(enrp_l, table.clone(), failed));
                    for l in asap_l {
                        tokio::task::spawn_local(serve_asap(l, table.clone(), ka.clone(), started));
                    }
                    let mut stopped = stopped;
                    let _ = stopped.wait_for(|s| *s).await;
                });
            })
            .map_err(|e| format!("the feeder's thread: {e}"))?;
        Ok(Feeder {
            enrp,
            started,
            keep_alives,
            fail,
            stop,
            thread: Some(thread),
        })
    }

    /// Dies as far as ENRP goes: every association reset, no listener.
    pub fn fail(&self) {
        let _ = self.fail.send(true);
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        let _ = self.fail.send(true);
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one message (4-byte common header with its 16-bit length).
async fn read_message<R: AsyncRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> Option<()> {
    buf.resize(4, 0);
    r.read_exact(&mut buf[..4]).await.ok()?;
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if len < 4 {
        return None;
    }
    // Padding to a multiple of 4 is not in the length; our peers send none.
    buf.resize(len, 0);
    r.read_exact(&mut buf[4..]).await.ok()?;
    Some(())
}

async fn serve_enrp(listener: TcpListener, table: Arc<Table>, failed: watch::Receiver<bool>) {
    let mut stop = failed.clone();
    loop {
        tokio::select! {
            _ = stop.wait_for(|f| *f) => return,
            a = listener.accept() => {
                let Ok((stream, _)) = a else { continue };
                tokio::task::spawn_local(enrp_association(stream, table.clone(), failed.clone()));
            }
        }
    }
}

/// One registrar's association: PRESENCE answered, the table served in
/// blocks, LIST_REQUEST answered with no peers, the rest ignored.
async fn enrp_association(stream: TcpStream, table: Arc<Table>, mut failed: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut cursor: Option<usize> = None;
    loop {
        let got = tokio::select! {
            _ = failed.wait_for(|f| *f) => None,
            r = read_message(&mut rd, &mut buf) => Some(r),
        };
        let Some(Some(())) = got else { break };
        let Ok(d) = EnrpMessage::decode(&buf, &DecodeOptions::default()) else {
            continue;
        };
        out.clear();
        let reply = match d.message {
            EnrpMessage::Presence(p) => Some(table.presence(p.sender)),
            EnrpMessage::HandleTableRequest(r) => {
                let (m, next) = table.block(r.sender, cursor.unwrap_or(0));
                cursor = next;
                Some(m)
            }
            EnrpMessage::ListRequest(r) => Some(
                ListResponse {
                    reject: false,
                    sender: table.id,
                    receiver: r.sender,
                    servers: Vec::new(),
                }
                .into(),
            ),
            _ => None,
        };
        if let Some(m) = reply {
            if m.encode(&mut out).is_err() || wr.write_all(&out).await.is_err() {
                break;
            }
        }
    }
    // A reset, as a killed process leaves it.
    if let Ok(stream) = rd.reunite(wr) {
        let _ = stream.set_zero_linger();
    }
}

async fn serve_asap(listener: TcpListener, table: Arc<Table>, ka: Arc<KeepAlives>, t0: Instant) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::task::spawn_local(asap_association(stream, table.clone(), ka.clone(), t0));
    }
}

/// A registrar reaching the PEs: every Endpoint Keep-Alive is counted and
/// acknowledged for its PE (a PE answers; it does not re-register).
async fn asap_association(stream: TcpStream, table: Arc<Table>, ka: Arc<KeepAlives>, t0: Instant) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while read_message(&mut rd, &mut buf).await.is_some() {
        let Ok(d) = AsapMessage::decode(&buf, &DecodeOptions::default()) else {
            continue;
        };
        if let AsapMessage::EndpointKeepAlive(k) = d.message {
            let at_us = t0.elapsed().as_micros() as u64;
            ka.count.fetch_add(1, Ordering::Relaxed);
            ka.last_us.fetch_max(at_us, Ordering::Relaxed);
            let Some(pe_id) = k.pe_id else { continue };
            let index = pe_id.0.wrapping_sub(table.first_pe) as usize;
            if k.home && index < table.elements.len() {
                ka.reach(k.server_id, index, table.elements.len(), at_us);
            }
            out.clear();
            let ack = AsapMessage::from(EndpointKeepAliveAck {
                pool_handle: table.pool.clone(),
                pe_id,
            });
            if ack.encode(&mut out).is_err() || wr.write_all(&out).await.is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rserpool_proto::handlespace::checksum;

    fn table(n: usize) -> Table {
        let a: SocketAddr = "127.0.0.1:9".parse().unwrap();
        Table::new(
            ServerId(77),
            n,
            1000,
            a,
            &[a, "127.0.0.1:10".parse().unwrap()],
        )
    }

    #[test]
    fn each_pe_counts_once_per_registrar() {
        let ka = KeepAlives::default();
        let (a, b) = (ServerId(1), ServerId(2));
        ka.reach(a, 0, 130, 10);
        ka.reach(a, 129, 130, 20);
        // Sent again: not another PE, and not a later one.
        ka.reach(a, 0, 130, 30);
        ka.reach(b, 0, 130, 40);
        assert_eq!(ka.reached_by(a), (2, 20));
        assert_eq!(ka.reached_by(b), (1, 40));
        assert_eq!(ka.reached_by(ServerId(3)), (0, 0));
    }

    #[test]
    fn blocks_cover_the_table_once_and_say_when_more_follow() {
        let t = table(BLOCK * 2 + 5);
        let mut at = Some(0);
        let mut seen = Vec::new();
        let mut blocks = 0;
        while let Some(a) = at {
            let (m, next) = t.block(ServerId(1), a);
            let EnrpMessage::HandleTableResponse(r) = m else {
                panic!("not a table response")
            };
            assert_eq!(r.more_to_send, next.is_some());
            for p in r.pools {
                assert_eq!(p.pool_handle.0, POOL.as_bytes());
                seen.extend(p.pool_elements.iter().map(|e| e.pe_id.0));
            }
            at = next;
            blocks += 1;
        }
        assert_eq!(blocks, 3);
        assert_eq!(
            seen,
            (1000..1000 + BLOCK as u32 * 2 + 5).collect::<Vec<_>>()
        );
    }

    #[test]
    fn presence_carries_the_checksum_of_its_pes() {
        let t = table(300);
        let pool = PoolHandle::from(POOL);
        let want = checksum::compute(t.elements.iter().map(|e| (&pool.0[..], e.pe_id)));
        let EnrpMessage::Presence(p) = t.presence(ServerId(2)) else {
            panic!("not a presence")
        };
        assert_eq!(p.checksum, Some(want.0));
        assert_eq!(p.sender, ServerId(77));
        assert!(t.elements.iter().all(|e| e.home_server_id == ServerId(77)));
        // PEs share ASAP endpoints by PES_PER_HOST.
        let port = |i: usize| {
            t.elements[i]
                .asap_transport
                .as_ref()
                .map(TransportParam::port)
        };
        assert_eq!(port(0), Some(9));
        assert_eq!(port(299), Some(9));
        let t = table(PES_PER_HOST + 1);
        let port = |i: usize| {
            t.elements[i]
                .asap_transport
                .as_ref()
                .map(TransportParam::port)
        };
        assert_eq!(port(PES_PER_HOST - 1), Some(9));
        assert_eq!(port(PES_PER_HOST), Some(10));
    }

    #[test]
    fn every_block_encodes_within_a_message() {
        let t = table(BLOCK);
        let (m, _) = t.block(ServerId(1), 0);
        let mut out = Vec::new();
        m.encode(&mut out).unwrap();
        assert!(out.len() < 65_535);
    }
}
