//! The load generator: N pool elements re-registering every `a` ms and M
//! pool users resolving every `r` ms, each over its own ASAP association,
//! all on one single-threaded tokio runtime.
//!
//! It runs as its own process (so its CPU time is measured apart from the
//! registrars') and talks to the orchestrating process through stdout:
//! `ready` once every association is up, `measure` and `done` at the
//! edges of the measurement window, then `result ...` (see [`Outcome`]).

mod tcp;

use super::latency::Histogram;
use super::outcome::Outcome;
use super::promtext::{self, Counters};
use rserpool::transport::{self, AssocReader, AssocWriter, Association, Carrier, Ppid};
use rserpool_proto::wire::asap::{
    EndpointKeepAliveAck, HandleResolution, Registration, flags, msg_type,
};
use rserpool_proto::wire::{
    AsapMessage, DecodeOptions, PeId, Policy, PolicyType, PoolElement, PoolHandle, ServerId,
    TransportParam, TransportUse,
};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore};
use tokio::time::{Instant, sleep, sleep_until, timeout};

/// The pool every generated PE registers into.
pub const POOL: &str = "scope-bench";
/// Associations set up at once.
const SETUP_CONCURRENCY: usize = 128;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long answers to the last requests are waited for.
const DRAIN: Duration = Duration::from_secs(3);
/// How long the registrars get to agree after the load stops.
const SETTLE: Duration = Duration::from_secs(10);
const PEERING_TIMEOUT: Duration = Duration::from_secs(30);

/// One generator run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// ASAP address of each registrar.
    pub targets: Vec<SocketAddr>,
    /// Metrics endpoint of each registrar (all or none).
    pub metrics: Vec<SocketAddr>,
    pub carrier: Carrier,
    pub pes: usize,
    /// Indices into `targets`: PE i uses the (i mod n)-th.
    pub pe_registrars: Vec<usize>,
    pub rereg: Duration,
    pub pus: usize,
    /// Indices into `targets`: PU i uses the (i mod n)-th.
    pub pu_registrars: Vec<usize>,
    pub resolve: Duration,
    pub policy: PolicyType,
    pub warmup: Duration,
    pub duration: Duration,
    /// First PE identifier; distinct runs against the same registrars must
    /// not reuse identifiers.
    pub pe_id_base: u32,
    /// The address the PEs register, and over SCTP the only local address
    /// of every association; `None`: unspecified (the registrar fills in
    /// the association's address).
    pub endpoint_address: Option<IpAddr>,
}

/// A PE's policy of type `t`: weight 1, priority 0, degradation 0 and the
/// given load where the policy has these values.
pub fn policy_with_load(t: PolicyType, load: u32) -> Policy {
    use PolicyType as T;
    match t {
        T::RoundRobin => Policy::RoundRobin,
        T::WeightedRoundRobin => Policy::WeightedRoundRobin { weight: 1 },
        T::Random => Policy::Random,
        T::WeightedRandom => Policy::WeightedRandom { weight: 1 },
        T::Priority => Policy::Priority { priority: 0 },
        T::LeastUsed => Policy::LeastUsed { load },
        T::LeastUsedDegradation => Policy::LeastUsedDegradation {
            load,
            degradation: 0,
        },
        T::PriorityLeastUsed => Policy::PriorityLeastUsed {
            load,
            degradation: 0,
        },
        T::RandomizedLeastUsed => Policy::RandomizedLeastUsed { load },
        T::RandomizedPriorityLeastUsed => Policy::RandomizedPriorityLeastUsed {
            load,
            degradation: 0,
        },
        T::RandomizedLeastUsedDegradation => Policy::RandomizedLeastUsedDegradation {
            load,
            degradation: 0,
        },
        T::PriorityLeastUsedDegradation => Policy::PriorityLeastUsedDegradation {
            load,
            degradation: 0,
        },
        T::RandomizedPriorityLeastUsedDegradation => {
            Policy::RandomizedPriorityLeastUsedDegradation {
                load,
                degradation: 0,
            }
        }
        T::WeightedRandomDpf => Policy::WeightedRandomDpf {
            weight: 1,
            weight_dpf: 0,
            distance: 0,
        },
        T::LeastUsedDpf => Policy::LeastUsedDpf {
            load,
            load_dpf: 0,
            distance: 0,
        },
        T::LeastUsedDegradationDpf => Policy::LeastUsedDegradationDpf {
            load,
            degradation: 0,
            load_dpf: 0,
            distance: 0,
        },
    }
}

/// The steady-state window: requests sent inside it are counted.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

impl Window {
    fn contains(&self, t: Instant) -> bool {
        t >= self.start && t < self.end
    }
}

#[derive(Debug, Default)]
struct Stats {
    reg_sent: u64,
    reg_ok: u64,
    reg_rejected: u64,
    res_sent: u64,
    res_ok: u64,
    res_failed: u64,
    reg_latency: Histogram,
    res_latency: Histogram,
    closed: u64,
    skipped: u64,
    keepalives: u64,
    /// All rejected registrations (not only in the window), per registrar.
    rejected_by_registrar: Vec<u64>,
}

impl Stats {
    /// Counted before sending: the answer may arrive while the send waits
    /// for socket space.
    fn count_sent(&mut self, is_registration: bool, window: &Window, at: Instant) {
        if window.contains(at) {
            if is_registration {
                self.reg_sent += 1;
            } else {
                self.res_sent += 1;
            }
        }
    }

    /// A Registration Response to the request sent at `sent`.
    fn registration_answered(
        &mut self,
        window: &Window,
        sent: Option<Instant>,
        rejected: bool,
        registrar: usize,
        now: Instant,
    ) {
        if rejected {
            if let Some(n) = self.rejected_by_registrar.get_mut(registrar) {
                *n += 1;
            }
        }
        if let Some(t) = sent.filter(|t| window.contains(*t)) {
            if rejected {
                self.reg_rejected += 1;
            } else {
                self.reg_ok += 1;
                self.reg_latency.record(now - t);
            }
        }
    }

    /// A Handle Resolution Response (`ok`: with PEs) to the request sent
    /// at `sent`.
    fn resolution_answered(
        &mut self,
        window: &Window,
        sent: Option<Instant>,
        ok: bool,
        now: Instant,
    ) {
        if let Some(t) = sent.filter(|t| window.contains(*t)) {
            if ok {
                self.res_ok += 1;
                self.res_latency.record(now - t);
            } else {
                self.res_failed += 1;
            }
        }
    }

    /// The tick after `at`; far behind schedule, ticks are skipped rather
    /// than sent in a burst.
    fn next_tick(&mut self, at: Instant, every: Duration, now: Instant) -> Instant {
        let next = at + every;
        if next + every < now {
            let behind = (now - next).as_nanos() / every.as_nanos().max(1);
            self.skipped += u64::try_from(behind).unwrap_or(u64::MAX);
            now
        } else {
            next
        }
    }

    fn outstanding(&self) -> u64 {
        let reg = self
            .reg_sent
            .saturating_sub(self.reg_ok + self.reg_rejected);
        reg + self.res_sent.saturating_sub(self.res_ok + self.res_failed)
    }
}

type Shared<T> = Rc<RefCell<T>>;

/// One association in the run phase: its writer is shared by the timer
/// task and the reader (which answers keep-alives); `pending` holds the
/// send times of unanswered requests, answered in order.
struct Endpoint {
    writer: Mutex<AssocWriter>,
    pending: RefCell<VecDeque<Instant>>,
}

/// A PE's Registration, re-encoded with a new load when the policy is
/// adaptive, else encoded once.
struct RegistrationMessage {
    pool_handle: PoolHandle,
    element: PoolElement,
    adaptive: bool,
    bytes: Vec<u8>,
    rng: u64,
}

impl RegistrationMessage {
    fn new(id: u32, policy: PolicyType, lifetime_ms: i32, transport: TransportParam) -> Self {
        let element = PoolElement {
            pe_id: PeId(id),
            home_server_id: ServerId(0),
            registration_life: lifetime_ms,
            user_transport: transport,
            policy: policy_with_load(policy, 0),
            asap_transport: None,
        };
        let mut m = RegistrationMessage {
            pool_handle: PoolHandle::from(POOL),
            element,
            adaptive: policy.is_adaptive(),
            bytes: Vec::new(),
            rng: u64::from(id) | 1,
        };
        m.encode();
        m
    }

    fn encode(&mut self) {
        self.bytes.clear();
        AsapMessage::from(Registration {
            pool_handle: self.pool_handle.clone(),
            pool_element: self.element.clone(),
        })
        .encode(&mut self.bytes)
        .expect("a registration with one address fits in a message");
    }

    /// The message for the next re-registration.
    fn next(&mut self) -> &[u8] {
        if self.adaptive {
            // xorshift64: a changing load without a shared generator.
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            self.element.policy =
                policy_with_load(self.element.policy.policy_type(), (self.rng >> 32) as u32);
            self.encode();
        }
        &self.bytes
    }
}

/// The user transport of PE `id`: SCTP at `address` over SCTP (as RSPLIB's
/// PEs register), else TCP; without an address the unspecified one, which
/// the registrar replaces with the association's address.
fn user_transport(id: u32, carrier: Carrier, address: Option<IpAddr>) -> TransportParam {
    let port = 1024 + (id % 60000) as u16;
    let transport_use = TransportUse::DataOnly;
    match (carrier, address) {
        (Carrier::Tcp, a) | (_, a @ None) => TransportParam::Tcp {
            port,
            transport_use,
            address: a.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        },
        (_, Some(a)) => TransportParam::Sctp {
            port,
            transport_use,
            addresses: [a].into_iter().collect(),
        },
    }
}

/// Runs the generator to the end and prints its protocol lines.
pub fn run(spec: LoadSpec) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let outcome = local.block_on(&rt, generate(spec))?;
    println!("result {outcome}");
    Ok(())
}

async fn snapshot(metrics: &[SocketAddr]) -> Result<Vec<Counters>, String> {
    let mut out = Vec::with_capacity(metrics.len());
    for m in metrics {
        out.push(Counters::parse(&promtext::scrape(*m).await?));
    }
    Ok(out)
}

async fn wait_for_peering(metrics: &[SocketAddr]) -> Result<(), String> {
    let want = metrics.len().saturating_sub(1) as f64;
    let deadline = Instant::now() + PEERING_TIMEOUT;
    loop {
        let c = snapshot(metrics).await;
        if let Ok(c) = &c {
            if c.iter().all(|c| c.peers >= want) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the registrars did not all see their {want} peers within {} s: {:?}",
                PEERING_TIMEOUT.as_secs(),
                c.map(|c| c.iter().map(|c| c.peers).collect::<Vec<_>>())
            ));
        }
        sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(
    target: SocketAddr,
    carrier: Carrier,
    local: Option<IpAddr>,
) -> Result<Association, String> {
    let open = async {
        match local {
            Some(ip) => {
                let from = SocketAddr::new(ip, 0);
                transport::connect_from(from, target, carrier, Ppid::Asap).await
            }
            None => transport::connect(target, carrier, Ppid::Asap).await,
        }
    };
    timeout(CONNECT_TIMEOUT, open)
        .await
        .map_err(|_| format!("connecting to {target}: timed out"))?
        .map_err(|e| format!("connecting to {target}: {e}"))
}

/// Connects a PE and registers it once.
/// An association after setup.
enum Conn {
    /// TCP: one task per association.
    Tcp(tcp::Link),
    /// Through `rserpool::transport` (kernel SCTP): a reader task and a
    /// timer task sharing the writer.
    Assoc(AssocReader, AssocWriter),
}

async fn setup_pe(
    target: SocketAddr,
    carrier: Carrier,
    local: Option<IpAddr>,
    first: Vec<u8>,
    ack: Vec<u8>,
    gate: Rc<Semaphore>,
) -> Result<Conn, String> {
    let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
    if carrier == Carrier::Tcp {
        let mut link = tcp::Link::connect(target, CONNECT_TIMEOUT).await?;
        link.register(&first, &ack, CONNECT_TIMEOUT)
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        return Ok(Conn::Tcp(link));
    }
    let Association {
        mut reader,
        mut writer,
        ..
    } = connect(target, carrier, local).await?;
    let io = |e: std::io::Error| format!("registering at {target}: {e}");
    writer.send(&first).await.map_err(io)?;
    loop {
        let m = timeout(CONNECT_TIMEOUT, reader.recv())
            .await
            .map_err(|_| format!("registering at {target}: no answer"))?
            .map_err(io)?
            .ok_or_else(|| format!("registering at {target}: association closed"))?;
        match (m.first().copied(), m.get(1).copied()) {
            (Some(msg_type::REGISTRATION_RESPONSE), Some(f)) if f & flags::REJECT != 0 => {
                return Err(format!("registering at {target}: rejected"));
            }
            (Some(msg_type::REGISTRATION_RESPONSE), _) => break,
            (Some(msg_type::ENDPOINT_KEEP_ALIVE), _) => writer.send(&ack).await.map_err(io)?,
            _ => {}
        }
    }
    Ok(Conn::Assoc(reader, writer))
}

async fn setup_pu(
    target: SocketAddr,
    carrier: Carrier,
    local: Option<IpAddr>,
    gate: Rc<Semaphore>,
) -> Result<Conn, String> {
    let _permit = gate.acquire().await.map_err(|e| e.to_string())?;
    if carrier == Carrier::Tcp {
        return Ok(Conn::Tcp(
            tcp::Link::connect(target, CONNECT_TIMEOUT).await?,
        ));
    }
    let Association { reader, writer, .. } = connect(target, carrier, local).await?;
    Ok(Conn::Assoc(reader, writer))
}

/// Whether `m` is a Handle Resolution Response with PEs; `None` when it is
/// no such response.
fn resolution_ok(m: &[u8]) -> Option<bool> {
    match AsapMessage::decode(m, &DecodeOptions::default()).map(|d| d.message) {
        Ok(AsapMessage::HandleResolutionResponse(r)) => {
            Some(r.error.is_none() && !r.pool_elements.is_empty())
        }
        _ => None,
    }
}

/// Sends what `next` writes at `first`, `first + every`, ... until the
/// window ends.
async fn ticker(
    endpoint: Rc<Endpoint>,
    stats: Shared<Stats>,
    window: Window,
    first: Instant,
    every: Duration,
    is_registration: bool,
    mut next: impl FnMut(&mut Vec<u8>),
) {
    let mut at = first;
    let mut bytes = Vec::new();
    while at < window.end {
        sleep_until(at).await;
        let now = Instant::now();
        bytes.clear();
        next(&mut bytes);
        endpoint.pending.borrow_mut().push_back(now);
        stats.borrow_mut().count_sent(is_registration, &window, now);
        if endpoint.writer.lock().await.send(&bytes).await.is_err() {
            return; // the reader counts the closed association
        }
        at = stats.borrow_mut().next_tick(at, every, now);
    }
}

async fn pe_reader(
    mut reader: AssocReader,
    endpoint: Rc<Endpoint>,
    stats: Shared<Stats>,
    window: Window,
    ack: Vec<u8>,
    registrar: usize,
) {
    loop {
        let (ty, fl) = match reader.recv().await {
            Ok(Some(m)) => (m.first().copied(), m.get(1).copied().unwrap_or(0)),
            _ => {
                stats.borrow_mut().closed += 1;
                return;
            }
        };
        let now = Instant::now();
        match ty {
            Some(msg_type::REGISTRATION_RESPONSE) => {
                let sent = endpoint.pending.borrow_mut().pop_front();
                let rejected = fl & flags::REJECT != 0;
                stats
                    .borrow_mut()
                    .registration_answered(&window, sent, rejected, registrar, now);
            }
            Some(msg_type::ENDPOINT_KEEP_ALIVE) => {
                stats.borrow_mut().keepalives += 1;
                let _ = endpoint.writer.lock().await.send(&ack).await;
            }
            _ => {}
        }
    }
}

async fn pu_reader(
    mut reader: AssocReader,
    endpoint: Rc<Endpoint>,
    stats: Shared<Stats>,
    window: Window,
) {
    loop {
        let ok = match reader.recv().await {
            Ok(Some(m)) => match resolution_ok(m) {
                Some(ok) => ok,
                None => continue,
            },
            _ => {
                stats.borrow_mut().closed += 1;
                return;
            }
        };
        let sent = endpoint.pending.borrow_mut().pop_front();
        stats
            .borrow_mut()
            .resolution_answered(&window, sent, ok, Instant::now());
    }
}

/// Offset of endpoint `i` of `n` within one period: phases spread evenly.
fn phase(i: usize, n: usize, every: Duration) -> Duration {
    every.mul_f64(i as f64 / n.max(1) as f64)
}

async fn generate(spec: LoadSpec) -> Result<Outcome, String> {
    let before = if spec.metrics.is_empty() {
        None
    } else {
        wait_for_peering(&spec.metrics).await?;
        Some(snapshot(&spec.metrics).await?)
    };
    let stats: Shared<Stats> = Rc::new(RefCell::new(Stats {
        rejected_by_registrar: vec![0; spec.targets.len()],
        ..Stats::default()
    }));
    let set_up = set_up(&spec).await?;
    println!("ready");

    let t0 = Instant::now() + Duration::from_millis(20);
    let window = Window {
        start: t0 + spec.warmup,
        end: t0 + spec.warmup + spec.duration,
    };
    let phases = tokio::task::spawn_local(async move {
        sleep_until(window.start).await;
        println!("measure");
        sleep_until(window.end).await;
        println!("done");
    });
    let n_pes = set_up.pes.len();
    let load = start_load(&spec, set_up.pes, set_up.pus, &stats, window, t0);
    for t in load.tickers {
        let _ = t.await;
    }
    let _ = phases.await;
    let drained = Instant::now() + DRAIN;
    while Instant::now() < drained && stats.borrow().outstanding() > 0 {
        sleep(Duration::from_millis(10)).await;
    }

    // Compare the registrars while every PE is still registered.
    let (updates_missing, pe_counts) = match &before {
        Some(before) => {
            let rejected = stats.borrow().rejected_by_registrar.clone();
            let (m, c) = settle(&spec.metrics, before, &rejected, n_pes as u64).await?;
            (Some(m), Some(c))
        }
        None => (None, None),
    };
    for r in &load.readers {
        r.abort();
    }
    drop(load.readers);
    let s = stats.borrow();
    if s.keepalives > 0 {
        eprintln!(
            "rserpool bench scope: answered {} Endpoint Keep-Alives of the registrars",
            s.keepalives
        );
    }
    Ok(outcome(
        &s,
        &spec,
        set_up.errors,
        updates_missing,
        pe_counts,
    ))
}

/// A PE ready to run: its registration message, its keep-alive ack, the
/// index of its registrar and its association.
type ReadyPe = (RegistrationMessage, Vec<u8>, usize, Conn);

/// Every association, set up before the clock starts.
struct SetUp {
    pes: Vec<ReadyPe>,
    pus: Vec<Conn>,
    errors: u64,
}

/// Registrar index and address of endpoint `i` of those assigned `list`.
fn assign(spec: &LoadSpec, list: &[usize], i: usize) -> Result<(usize, SocketAddr), String> {
    let r = *list
        .get(i % list.len().max(1))
        .ok_or("no registrar assigned")?;
    let addr = *spec
        .targets
        .get(r)
        .ok_or_else(|| format!("registrar {} is not among the targets", r + 1))?;
    Ok((r, addr))
}

/// Opens every PE's and PU's association (at most [`SETUP_CONCURRENCY`] at
/// a time), each PE registered once; fails only if none could be opened.
async fn set_up(spec: &LoadSpec) -> Result<SetUp, String> {
    let gate = Rc::new(Semaphore::new(SETUP_CONCURRENCY));
    let lifetime_ms = i32::try_from(spec.rereg.as_millis().saturating_mul(3))
        .unwrap_or(i32::MAX)
        .max(5000);
    let pool = PoolHandle::from(POOL);
    let mut pe_setups = Vec::with_capacity(spec.pes);
    for i in 0..spec.pes {
        let id = spec.pe_id_base.wrapping_add(i as u32);
        let transport = user_transport(id, spec.carrier, spec.endpoint_address);
        let mut msg = RegistrationMessage::new(id, spec.policy, lifetime_ms, transport);
        let first = msg.next().to_vec();
        let ack = AsapMessage::from(EndpointKeepAliveAck {
            pool_handle: pool.clone(),
            pe_id: PeId(id),
        })
        .to_bytes()
        .expect("a keep-alive ack fits in a message");
        let (registrar, target) = assign(spec, &spec.pe_registrars, i)?;
        let setup = setup_pe(
            target,
            spec.carrier,
            spec.endpoint_address,
            first,
            ack.clone(),
            gate.clone(),
        );
        pe_setups.push((msg, ack, registrar, tokio::task::spawn_local(setup)));
    }
    let mut pu_setups = Vec::with_capacity(spec.pus);
    for i in 0..spec.pus {
        let (_, target) = assign(spec, &spec.pu_registrars, i)?;
        pu_setups.push(tokio::task::spawn_local(setup_pu(
            target,
            spec.carrier,
            spec.endpoint_address,
            gate.clone(),
        )));
    }
    let mut errors = 0u64;
    let mut first_error = None;
    let mut failed = |e: String| {
        errors += 1;
        first_error.get_or_insert(e);
    };
    let mut pes = Vec::with_capacity(spec.pes);
    for (msg, ack, registrar, h) in pe_setups {
        match h.await.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(assoc) => pes.push((msg, ack, registrar, assoc)),
            Err(e) => failed(e),
        }
    }
    let mut pus = Vec::with_capacity(spec.pus);
    for h in pu_setups {
        match h.await.map_err(|e| e.to_string()).and_then(|r| r) {
            Ok(assoc) => pus.push(assoc),
            Err(e) => failed(e),
        }
    }
    if pes.len() + pus.len() == 0 && spec.pes + spec.pus > 0 {
        return Err(format!(
            "no association could be set up: {}",
            first_error.unwrap_or_default()
        ));
    }
    if let Some(e) = &first_error {
        eprintln!("rserpool bench scope: {errors} associations failed, the first: {e}");
    }
    Ok(SetUp { pes, pus, errors })
}

/// The tasks of a running load: tickers end with the window, readers are
/// aborted once the registrars have been compared.
struct Load {
    tickers: Vec<tokio::task::JoinHandle<()>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Starts one endpoint: over TCP one task that sends and reads; else a
    /// reader task (`reader` makes it) and a ticker sharing the writer.
    #[allow(clippy::too_many_arguments)]
    fn spawn<R, F>(
        &mut self,
        conn: Conn,
        role: tcp::Role,
        stats: &Shared<Stats>,
        window: Window,
        first: Instant,
        every: Duration,
        next: impl FnMut(&mut Vec<u8>) + 'static,
        reader: R,
    ) where
        R: FnOnce(AssocReader, Rc<Endpoint>) -> F,
        F: std::future::Future<Output = ()> + 'static,
    {
        let is_registration = matches!(role, tcp::Role::Pe { .. });
        let (r, w) = match conn {
            Conn::Tcp(link) => {
                let run = link.run(role, stats.clone(), window, first, every, next);
                self.readers.push(tokio::task::spawn_local(run));
                return;
            }
            Conn::Assoc(r, w) => (r, w),
        };
        let endpoint = Rc::new(Endpoint {
            writer: Mutex::new(w),
            pending: RefCell::new(VecDeque::new()),
        });
        self.readers
            .push(tokio::task::spawn_local(reader(r, endpoint.clone())));
        self.tickers.push(tokio::task::spawn_local(ticker(
            endpoint,
            stats.clone(),
            window,
            first,
            every,
            is_registration,
            next,
        )));
    }
}

/// Starts every PE re-registering every `spec.rereg` and every PU resolving
/// every `spec.resolve`, their first sends spread over one interval.
fn start_load(
    spec: &LoadSpec,
    pes: Vec<ReadyPe>,
    pus: Vec<Conn>,
    stats: &Shared<Stats>,
    window: Window,
    t0: Instant,
) -> Load {
    let mut load = Load {
        tickers: Vec::with_capacity(pes.len() + pus.len()),
        readers: Vec::with_capacity(pes.len() + pus.len()),
    };
    let n_pes = pes.len();
    for (i, (mut msg, ack, registrar, conn)) in pes.into_iter().enumerate() {
        let first = t0 + phase(i, n_pes, spec.rereg);
        let next = move |out: &mut Vec<u8>| out.extend_from_slice(msg.next());
        let role = tcp::Role::Pe {
            ack: ack.clone(),
            registrar,
        };
        let st = stats.clone();
        let reader = move |r, e| pe_reader(r, e, st, window, ack, registrar);
        load.spawn(conn, role, stats, window, first, spec.rereg, next, reader);
    }
    let resolution = AsapMessage::from(HandleResolution {
        pool_handle: PoolHandle::from(POOL),
        items: None,
    })
    .to_bytes()
    .expect("a handle resolution fits in a message");
    let n_pus = pus.len();
    for (i, conn) in pus.into_iter().enumerate() {
        let first = t0 + phase(i, n_pus, spec.resolve);
        let msg = resolution.clone();
        let next = move |out: &mut Vec<u8>| out.extend_from_slice(&msg);
        let st = stats.clone();
        let reader = move |r, e| pu_reader(r, e, st, window);
        let role = tcp::Role::Pu;
        load.spawn(conn, role, stats, window, first, spec.resolve, next, reader);
    }
    load
}

/// The figures of a run from its counters.
fn outcome(
    s: &Stats,
    spec: &LoadSpec,
    setup_errors: u64,
    updates_missing: Option<Vec<i64>>,
    pe_counts: Option<Vec<u64>>,
) -> Outcome {
    Outcome {
        window_s: spec.duration.as_secs_f64(),
        reg_sent: s.reg_sent,
        reg_ok: s.reg_ok,
        reg_rejected: s.reg_rejected,
        reg_lost: s.reg_sent.saturating_sub(s.reg_ok + s.reg_rejected),
        res_sent: s.res_sent,
        res_ok: s.res_ok,
        res_failed: s.res_failed,
        res_lost: s.res_sent.saturating_sub(s.res_ok + s.res_failed),
        reg_p50_ms: s.reg_latency.quantile_ms(0.5),
        reg_p99_ms: s.reg_latency.quantile_ms(0.99),
        res_p50_ms: s.res_latency.quantile_ms(0.5),
        res_p99_ms: s.res_latency.quantile_ms(0.99),
        setup_errors,
        closed: s.closed,
        skipped: s.skipped,
        keepalives: s.keepalives,
        updates_missing,
        pe_counts,
    }
}

/// Per registrar: Handle Updates expected from its peers (their accepted
/// registrations) minus those received, and the PE entries added since
/// `before`. Polls until they agree or [`SETTLE`] runs out.
async fn settle(
    metrics: &[SocketAddr],
    before: &[Counters],
    rejected: &[u64],
    pes: u64,
) -> Result<(Vec<i64>, Vec<u64>), String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let now = snapshot(metrics).await?;
        let accepted: Vec<f64> = now
            .iter()
            .zip(before)
            .zip(rejected)
            .map(|((n, b), r)| n.registrations_in - b.registrations_in - *r as f64)
            .collect();
        let total: f64 = accepted.iter().sum();
        let missing: Vec<i64> = now
            .iter()
            .zip(before)
            .zip(&accepted)
            .map(|((n, b), own)| ((total - own) - (n.updates_in - b.updates_in)) as i64)
            .collect();
        let counts: Vec<u64> = now
            .iter()
            .zip(before)
            .map(|(n, b)| (n.pool_elements - b.pool_elements).max(0.0) as u64)
            .collect();
        let agreed = missing.iter().all(|m| *m == 0) && counts.iter().all(|c| *c == pes);
        if agreed || Instant::now() >= deadline {
            return Ok((missing, counts));
        }
        sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tcp_any(id: u32) -> TransportParam {
        user_transport(id, Carrier::Tcp, None)
    }

    #[test]
    fn pe_addresses_follow_the_endpoint_address() {
        let ip: IpAddr = "10.255.255.9".parse().unwrap();
        match user_transport(7, Carrier::Tcp, None) {
            TransportParam::Tcp { address, port, .. } => {
                assert!(address.is_unspecified());
                assert_eq!(port, 1031);
            }
            t => panic!("{t:?}"),
        }
        match user_transport(7, Carrier::Tcp, Some(ip)) {
            TransportParam::Tcp { address, .. } => assert_eq!(address, ip),
            t => panic!("{t:?}"),
        }
        match user_transport(7, Carrier::Sctp, Some(ip)) {
            TransportParam::Sctp { addresses, .. } => assert_eq!(addresses.as_slice(), [ip]),
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn every_policy_type_round_trips() {
        for t in PolicyType::ALL {
            assert_eq!(policy_with_load(t, 7).policy_type(), t);
        }
    }

    #[test]
    fn adaptive_registrations_change_their_load() {
        let mut m = RegistrationMessage::new(5, PolicyType::LeastUsed, 3000, tcp_any(5));
        let a = m.next().to_vec();
        let b = m.next().to_vec();
        assert_ne!(a, b);
        let decoded = AsapMessage::decode(&b, &DecodeOptions::default()).unwrap();
        match decoded.message {
            AsapMessage::Registration(r) => {
                assert_eq!(r.pool_element.pe_id, PeId(5));
                assert!(matches!(r.pool_element.policy, Policy::LeastUsed { .. }));
            }
            m => panic!("{m:?}"),
        }
        let mut rr = RegistrationMessage::new(5, PolicyType::RoundRobin, 3000, tcp_any(5));
        let a = rr.next().to_vec();
        assert_eq!(a, rr.next());
    }

    #[test]
    fn phases_spread_over_one_period() {
        let a = Duration::from_millis(1000);
        assert_eq!(phase(0, 4, a), Duration::ZERO);
        assert_eq!(phase(2, 4, a), Duration::from_millis(500));
        assert_eq!(phase(0, 0, a), Duration::ZERO);
    }
}
