//! The simulated world: nodes running the protocol state machines, the
//! network between them, the applications on top (echo service, request
//! loop), and the event loop in virtual time.

use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use rserpool_proto::asap_endpoint::{RegConn, RegTransmit};
use rserpool_proto::data_channel::Frame;
use rserpool_proto::pool_element::{
    PeConfig, PeEvent, PePhase, PeSession, PoolElement, SessionInput,
};
use rserpool_proto::pool_user::{
    PeConn, PoolUser, PuConfig, PuEvent, PuTransmit, SessionId, SessionState,
};
use rserpool_proto::registrar::{Config, ConnId, Event, Registrar, Transmit};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{DecodeOptions, PoolHandle, ServerId, TransportParam, TransportUse};
use rserpool_proto::{Rng, Time, Xoshiro256};

use crate::faults::FaultItem;
use crate::net::{Assoc, End, Handle, Input, Kind, Partition, Payload, Queued};
use crate::trace::Trace;
use crate::{Outcome, RunStats, SimConfig};

pub(crate) const PORT_ASAP: u16 = 3863;
pub(crate) const PORT_ENRP: u16 = 9901;
pub(crate) const PORT_DATA: u16 = 7000;
/// The application's PPID for requests and replies.
const PPID_ECHO: u32 = 1;
/// An association that cannot pass a message for this long aborts (SCTP
/// retransmissions and heartbeats give up).
pub(crate) const ABORT_AFTER: Duration = Duration::from_secs(10);
/// A connect that gets no answer fails after this long (INIT retries).
const CONNECT_FAIL: Duration = Duration::from_secs(3);
/// After a host crash, the peers' SCTP heartbeats notice within this long.
pub(crate) const HOST_DETECT: Duration = Duration::from_secs(10);
/// A pool user's application gives up on a PE that does not answer a
/// request within this long and fails over.
const APP_TIMEOUT: Duration = Duration::from_secs(30);

/// The application on a pool element: an echo service that counts the
/// requests of each session and hands the count out as a cookie.
#[derive(Debug)]
pub(crate) struct PeApp {
    pub sm: PoolElement,
    next_data: u64,
    sessions: BTreeMap<u64, PeSess>,
}

#[derive(Debug)]
struct PeSess {
    s: PeSession,
    served: u64,
}

/// A pool user's request loop: one request outstanding per session.
#[derive(Debug)]
pub(crate) struct PuApp {
    pub sm: PoolUser,
    pub sessions: Vec<PuSess>,
    by_conn: BTreeMap<PeConn, usize>,
}

#[derive(Debug)]
pub(crate) struct PuSess {
    pub id: SessionId,
    next_seq: u64,
    pub out: Option<Outstanding>,
    pub replies: u64,
    /// The session state the next reply must at least show (the cookie
    /// replayed at the last failover, or the last reply's).
    floor: u64,
    pub last_reply: Time,
    idle_since: Option<Time>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Outstanding {
    seq: u64,
    pub sent_at: Time,
    /// The data association it went out on, once it did.
    sent_on: Option<PeConn>,
}

/// A node's protocol machine (and application).
#[derive(Debug)]
pub(crate) enum Machine {
    Off,
    Pr(Box<Registrar>),
    Pe(Box<PeApp>),
    Pu(Box<PuApp>),
    /// A bulk ASAP client: registers many PEs on one association and
    /// answers keep-alives (for scale runs).
    Bulk,
}

/// What a node is.
#[derive(Clone, Debug)]
pub(crate) enum Role {
    Pr(Config),
    Pe(PeConfig),
    Pu(PuConfig),
    Bulk,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NState {
    Up,
    Paused,
    Down,
}

#[derive(Debug)]
pub(crate) struct Node {
    pub name: String,
    pub ip: IpAddr,
    pub role: Role,
    pub state: NState,
    pub inc: u32,
    /// Clock rate error in parts per million, and the clock's origin.
    ppm: i64,
    offset: u64,
    wake_gen: u64,
    wake_at: Option<Time>,
    pending: VecDeque<Input>,
    pub handles: BTreeMap<Handle, usize>,
    pub m: Machine,
    /// One-way latency to the node's switch, in microseconds.
    site_us: u64,
    spin_at: Time,
    spin: u32,
    /// Left for good (a registrar that shut down): never restarted.
    pub gone: bool,
}

/// Events of the loop.
#[derive(Debug)]
pub(crate) enum Ev {
    Deliver { node: usize, inc: u32, input: Input },
    Wake { node: usize, generation: u64 },
    Fault(usize),
    Restart { node: usize },
    Resume { node: usize },
    AbortCrossing { assoc: usize, part: usize },
    PeAction { node: usize, inc: u32 },
    PuTick { node: usize, inc: u32, s: usize },
    Check,
}

/// Something a scale run watches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Obs {
    Registrar(Event),
    Pe(PeEvent),
    Failover,
    Reply,
    /// A resolution's first PE.
    Resolved(u32),
}

/// The world.
pub(crate) struct World {
    pub now: Time,
    pub rng: Xoshiro256,
    queue: BinaryHeap<Queued<Ev>>,
    seq: u64,
    pub nodes: Vec<Node>,
    by_ip: BTreeMap<IpAddr, usize>,
    pub assocs: Vec<Assoc>,
    pub partitions: Vec<Partition>,
    /// Announce loss, per mille.
    pub loss: u64,
    pub drift_ppm: i64,
    pub trace: Trace,
    pub stats: RunStats,
    pub schedule: Vec<FaultItem>,
    pub violations: Vec<String>,
    /// PE IDs that died (and are not back), with when.
    pub dead: BTreeMap<u32, Time>,
    pub pool: PoolHandle,
    /// The end of the fault phase: no fault and no workload churn after it.
    pub heal: Time,
    pub dead_bound: Duration,
    pub observe: bool,
    pub observed: Vec<(Time, usize, Obs)>,
    /// Serialisation delay per byte, in nanoseconds (1 Gbit/s: 8).
    pub ns_per_byte: u64,
    pub next_pr_id: u32,
    pub events: u64,
    /// The pool users run their request loop (off in scale runs that
    /// drive them directly).
    pub pu_loop: bool,
    pub pe_actions: bool,
}

fn ip_of(class: u8, i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        10,
        class + (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
    ))
}

pub(crate) fn pr_asap_addr(i: usize) -> SocketAddr {
    SocketAddr::new(ip_of(1, i + 1), PORT_ASAP)
}

fn sctp(ip: IpAddr, port: u16, tu: TransportUse) -> TransportParam {
    TransportParam::Sctp {
        port,
        transport_use: tu,
        addresses: std::iter::once(ip).collect(),
    }
}

impl World {
    pub fn new(seed: u64, keep: usize) -> World {
        World {
            now: Time::ZERO,
            rng: Xoshiro256::seed_from_u64(seed),
            queue: BinaryHeap::new(),
            seq: 0,
            nodes: Vec::new(),
            by_ip: BTreeMap::new(),
            assocs: Vec::new(),
            partitions: Vec::new(),
            loss: 0,
            drift_ppm: 0,
            trace: Trace::new(keep),
            stats: RunStats::default(),
            schedule: Vec::new(),
            violations: Vec::new(),
            dead: BTreeMap::new(),
            pool: PoolHandle::from("echo"),
            heal: Time::ZERO,
            dead_bound: Duration::from_secs(3600),
            observe: false,
            observed: Vec::new(),
            ns_per_byte: 8,
            next_pr_id: 0x1000,
            events: 0,
            pu_loop: true,
            pe_actions: true,
        }
    }

    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.rng.below(hi.saturating_sub(lo) + 1)
    }

    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.rng.below(1000) < per_mille
    }

    pub fn push(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued {
            at: at.max(self.now),
            seq: self.seq,
            ev,
        });
    }

    // ---- nodes ----

    fn add_node(&mut self, name: String, ip: IpAddr, role: Role) -> usize {
        let n = self.nodes.len();
        let ppm = if self.drift_ppm > 0 {
            self.rng.below(2 * self.drift_ppm as u64 + 1) as i64 - self.drift_ppm
        } else {
            0
        };
        let offset = self.rng.below(1 << 40);
        let site_us = self.between(50, 2_000);
        self.nodes.push(Node {
            name,
            ip,
            role,
            state: NState::Down,
            inc: 0,
            ppm,
            offset,
            wake_gen: 0,
            wake_at: None,
            pending: VecDeque::new(),
            handles: BTreeMap::new(),
            m: Machine::Off,
            site_us,
            spin_at: Time::ZERO,
            spin: 0,
            gone: false,
        });
        self.by_ip.insert(ip, n);
        n
    }

    /// Registrar slot `i` (its address is fixed by `i`); not started.
    pub fn add_pr(&mut self, i: usize, id: ServerId, peers: &[usize], rfc: bool) -> usize {
        let ip = ip_of(1, i + 1);
        let mut c = Config::new(id, sctp(ip, PORT_ENRP, TransportUse::DataOnly));
        c.asap_transport = Some(sctp(ip, PORT_ASAP, TransportUse::DataOnly));
        c.peers = peers
            .iter()
            .filter(|p| **p != i)
            .map(|p| SocketAddr::new(ip_of(1, p + 1), PORT_ENRP))
            .collect();
        c.announce = true;
        if !rfc {
            c.peer_heartbeat_cycle = Duration::from_micros(2_444_444);
            c.max_time_last_heard = Duration::from_secs(5);
            c.max_time_no_response = Duration::from_secs(5);
            c.server_announce_cycle = Duration::from_secs(1);
        }
        self.add_node(format!("PR{i}"), ip, Role::Pr(c))
    }

    pub fn add_pe(&mut self, j: usize, c: PeConfig) -> usize {
        self.add_node(format!("PE{j}"), ip_of(2, j), Role::Pe(c))
    }

    /// A PE's configuration: user transport on its own address.
    pub fn pe_config(
        &self,
        j: usize,
        policy: rserpool_proto::wire::Policy,
        regs: Vec<SocketAddr>,
    ) -> PeConfig {
        let t = sctp(ip_of(2, j), PORT_DATA, TransportUse::DataPlusControl);
        PeConfig::new(self.pool.clone(), policy, t, regs)
    }

    pub fn add_pu(&mut self, k: usize, c: PuConfig) -> usize {
        self.add_node(format!("PU{k}"), ip_of(4, k), Role::Pu(c))
    }

    pub fn add_bulk(&mut self) -> usize {
        self.add_node("BULK".into(), ip_of(6, 1), Role::Bulk)
    }

    /// The node's clock.
    pub fn local(&self, n: usize) -> Time {
        let node = &self.nodes[n];
        let g = u128::from(self.now.as_micros());
        let scaled = g * (1_000_000 + node.ppm) as u128 / 1_000_000;
        Time::from_micros(node.offset + scaled as u64)
    }

    /// The global time at which the node's clock shows `local`.
    fn global_of(&self, n: usize, local: Time) -> Time {
        let node = &self.nodes[n];
        let l = local.as_micros().saturating_sub(node.offset);
        let rate = (1_000_000 + node.ppm) as u128;
        let g = (u128::from(l) * 1_000_000).div_ceil(rate);
        Time::from_micros(u64::try_from(g).unwrap_or(u64::MAX))
    }

    /// Starts (or restarts) a node with a fresh state machine.
    pub fn start(&mut self, n: usize) {
        let seed = self.rng.next_u64();
        let lt = self.local(n);
        self.nodes[n].inc += 1;
        self.nodes[n].state = NState::Up;
        self.nodes[n].pending.clear();
        self.nodes[n].handles.clear();
        self.nodes[n].wake_at = None;
        let inc = self.nodes[n].inc;
        let m = match self.nodes[n].role.clone() {
            Role::Pr(c) => {
                self.trace
                    .rec(self.now, n, "start PR", u64::from(c.id.0), 0, &[]);
                Machine::Pr(Box::new(Registrar::new(c, lt, seed)))
            }
            Role::Pe(c) => {
                let sm = PoolElement::new(c, lt, seed);
                let id = sm.pe_id().0;
                self.dead.remove(&id);
                self.trace
                    .rec(self.now, n, "start PE", u64::from(id), 0, &[]);
                if self.pe_actions {
                    let at = self.now + Duration::from_millis(self.between(5_000, 20_000));
                    self.push(at, Ev::PeAction { node: n, inc });
                }
                Machine::Pe(Box::new(PeApp {
                    sm,
                    next_data: 1,
                    sessions: BTreeMap::new(),
                }))
            }
            Role::Pu(c) => {
                let mut sm = PoolUser::new(c, lt, seed);
                let count = if self.rng.below(3) == 0 { 2 } else { 1 };
                let mut sessions = Vec::new();
                for s in 0..count {
                    let id = sm.open_session(lt, self.pool.clone());
                    sessions.push(PuSess {
                        id,
                        next_seq: 1,
                        out: None,
                        replies: 0,
                        floor: 0,
                        last_reply: self.now,
                        idle_since: None,
                    });
                    if self.pu_loop {
                        let at = self.now + Duration::from_millis(self.between(100, 1_000));
                        self.push(at, Ev::PuTick { node: n, inc, s });
                    }
                }
                self.trace
                    .rec(self.now, n, "start PU", count as u64, 0, &[]);
                Machine::Pu(Box::new(PuApp {
                    sm,
                    sessions,
                    by_conn: BTreeMap::new(),
                }))
            }
            Role::Bulk => Machine::Bulk,
        };
        self.nodes[n].m = m;
        self.drain(n);
    }

    /// The node stops: a crash (`graceful` false: its associations abort;
    /// a host crash is noticed by the peers only after HOST_DETECT) or an
    /// exit after closing everything.
    pub fn stop(&mut self, n: usize, host: bool) {
        if self.nodes[n].state == NState::Down {
            return;
        }
        if let Machine::Pe(app) = &self.nodes[n].m {
            self.dead.insert(app.sm.pe_id().0, self.now);
        }
        let handles: Vec<usize> = self.nodes[n].handles.values().copied().collect();
        for a in handles {
            let delay = if host { Some(HOST_DETECT) } else { None };
            self.abort_assoc(a, delay);
        }
        let node = &mut self.nodes[n];
        node.handles.clear();
        node.pending.clear();
        node.state = NState::Down;
        node.m = Machine::Off;
        node.inc += 1;
        node.wake_at = None;
        self.trace.rec(self.now, n, "stop", u64::from(host), 0, &[]);
    }

    pub fn pause(&mut self, n: usize) {
        if self.nodes[n].state == NState::Up {
            self.nodes[n].state = NState::Paused;
            self.trace.rec(self.now, n, "pause", 0, 0, &[]);
        }
    }

    pub fn resume(&mut self, n: usize) {
        if self.nodes[n].state != NState::Paused {
            return;
        }
        self.nodes[n].state = NState::Up;
        self.trace.rec(self.now, n, "resume", 0, 0, &[]);
        while let Some(input) = self.nodes[n].pending.pop_front() {
            self.dispatch(n, input);
            if self.nodes[n].state != NState::Up {
                return;
            }
        }
        self.nodes[n].wake_at = None;
        self.reschedule(n);
    }

    // ---- network ----

    /// One-way latency from `a` to `b` for `bytes`, in microseconds: both
    /// sites' delays, jitter, rare spikes, and serialisation.
    fn latency(&mut self, a: usize, b: usize, bytes: usize) -> Duration {
        let base = self.nodes[a].site_us + self.nodes[b].site_us;
        let mut us = base + self.rng.below(base / 2 + 1);
        if self.rng.below(100) == 0 {
            us += self.rng.below(200_000);
        }
        us += (bytes as u64 * self.ns_per_byte) / 1000;
        Duration::from_micros(us)
    }

    /// When the direction `a` to `b` is open again, if blocked now.
    fn blocked_until(&self, a: usize, b: usize, t: Time) -> Option<Time> {
        let mut until = None;
        let mut at = t;
        // Partitions may overlap: follow them until a gap.
        loop {
            let next = self
                .partitions
                .iter()
                .filter(|p| p.blocks(a, b, at))
                .map(|p| p.end)
                .max();
            match next {
                Some(e) => {
                    until = Some(e);
                    at = e;
                }
                None => return until,
            }
        }
    }

    fn separated_until(&self, a: usize, b: usize, t: Time) -> Option<Time> {
        match (self.blocked_until(a, b, t), self.blocked_until(b, a, t)) {
            (None, None) => None,
            (x, y) => x.max(y),
        }
    }

    fn node_for(&self, to: &[SocketAddr]) -> Option<(usize, SocketAddr)> {
        to.iter()
            .find_map(|a| self.by_ip.get(&a.ip()).map(|n| (*n, *a)))
    }

    fn out_connect(&mut self, n: usize, h: Handle, to: &[SocketAddr], kind: Kind) {
        let idx = self.assocs.len();
        let inc = self.nodes[n].inc;
        self.nodes[n].handles.insert(h, idx);
        let target = self.node_for(to);
        let (m, addr) = target.unwrap_or((n, SocketAddr::from(([0, 0, 0, 0], 0))));
        self.assocs.push(Assoc {
            ends: [
                End {
                    node: n,
                    inc,
                    handle: Some(h),
                    open: true,
                },
                End {
                    node: m,
                    inc: self.nodes[m].inc,
                    handle: None,
                    open: false,
                },
            ],
            aborted: false,
            last: [self.now; 2],
        });
        let fits = target.is_some()
            && self.nodes[m].state != NState::Down
            && match (&self.nodes[m].role, kind, addr.port()) {
                (Role::Pr(_), Kind::Asap, PORT_ASAP) => true,
                (Role::Pr(_), Kind::Enrp, PORT_ENRP) => true,
                (Role::Pe(_), Kind::Data, PORT_DATA) => true,
                (Role::Pe(_), Kind::Asap, p) => p != PORT_DATA,
                _ => false,
            };
        let fail = |w: &mut World, at: Time| {
            w.assocs[idx].aborted = true;
            w.push(
                at,
                Ev::Deliver {
                    node: n,
                    inc,
                    input: Input::Closed { assoc: idx },
                },
            );
        };
        if !fits {
            // Refused (or no route): the initiator hears at once.
            let at = self.now + self.latency(n, n, 0) * 2;
            fail(self, at);
            return;
        }
        let mut start = self.now;
        if let Some(until) = self.separated_until(n, m, self.now) {
            if until > self.now + CONNECT_FAIL {
                fail(self, self.now + CONNECT_FAIL);
                return;
            }
            start = until;
        }
        let l1 = self.latency(n, m, 64);
        let l2 = self.latency(m, n, 64);
        let accept_at = start + l1;
        self.assocs[idx].ends[1].open = true;
        self.assocs[idx].last = [accept_at, accept_at];
        let remote = SocketAddr::new(self.nodes[n].ip, 30_000 + (idx % 30_000) as u16);
        let minc = self.nodes[m].inc;
        self.push(
            accept_at,
            Ev::Deliver {
                node: m,
                inc: minc,
                input: Input::Accept {
                    assoc: idx,
                    remote,
                    kind,
                },
            },
        );
        self.push(
            accept_at + l2,
            Ev::Deliver {
                node: n,
                inc,
                input: Input::Connected { assoc: idx },
            },
        );
        // A partition that starts later is handled when it starts.
    }

    fn end_of(&self, n: usize, idx: usize) -> Option<usize> {
        let a = &self.assocs[idx];
        (0..2).find(|e| a.ends[*e].node == n && a.ends[*e].inc == self.nodes[n].inc)
    }

    fn out_send(&mut self, n: usize, h: Handle, payload: Payload) {
        let Some(&idx) = self.nodes[n].handles.get(&h) else {
            return;
        };
        let Some(e) = self.end_of(n, idx) else {
            return;
        };
        if self.assocs[idx].aborted || !self.assocs[idx].ends[1 - e].open {
            return;
        }
        let m = self.assocs[idx].ends[1 - e].node;
        let minc = self.assocs[idx].ends[1 - e].inc;
        let mut t = self.now + self.latency(n, m, payload.len());
        if let Some(until) = self.blocked_until(n, m, self.now) {
            t = t.max(until + self.latency(n, m, payload.len()));
        }
        let t = t.max(self.assocs[idx].last[e]);
        self.assocs[idx].last[e] = t;
        self.push(
            t,
            Ev::Deliver {
                node: m,
                inc: minc,
                input: Input::Msg {
                    assoc: idx,
                    payload,
                },
            },
        );
    }

    fn out_close(&mut self, n: usize, h: Handle) {
        let Some(idx) = self.nodes[n].handles.remove(&h) else {
            return;
        };
        let Some(e) = self.end_of(n, idx) else {
            return;
        };
        self.assocs[idx].ends[e].open = false;
        if self.assocs[idx].aborted || !self.assocs[idx].ends[1 - e].open {
            return;
        }
        let m = self.assocs[idx].ends[1 - e].node;
        let minc = self.assocs[idx].ends[1 - e].inc;
        let t = (self.now + self.latency(n, m, 0)).max(self.assocs[idx].last[e]);
        self.assocs[idx].last[e] = t;
        self.push(
            t,
            Ev::Deliver {
                node: m,
                inc: minc,
                input: Input::Closed { assoc: idx },
            },
        );
    }

    /// Aborts an association: nothing more is delivered; each open end
    /// hears of it after a latency (or `delay`, for the far end of a
    /// crashed host).
    pub fn abort_assoc(&mut self, idx: usize, delay: Option<Duration>) {
        if self.assocs[idx].aborted {
            return;
        }
        self.assocs[idx].aborted = true;
        for e in 0..2 {
            let end = self.assocs[idx].ends[e];
            if !end.open || self.nodes[end.node].inc != end.inc {
                continue;
            }
            let d = match delay {
                Some(d) => d + Duration::from_millis(self.rng.below(5_000)),
                None => self.latency(end.node, end.node, 0),
            };
            self.push(
                self.now + d,
                Ev::Deliver {
                    node: end.node,
                    inc: end.inc,
                    input: Input::Closed { assoc: idx },
                },
            );
        }
    }

    fn out_announce(&mut self, n: usize, bytes: Vec<u8>, enrp: bool) {
        let bytes = Rc::new(bytes);
        let from = SocketAddr::new(self.nodes[n].ip, if enrp { PORT_ENRP } else { PORT_ASAP });
        for m in 0..self.nodes.len() {
            if m == n || self.nodes[m].state == NState::Down {
                continue;
            }
            let wants = match self.nodes[m].role {
                Role::Pr(_) => enrp,
                Role::Pe(_) | Role::Pu(_) => !enrp,
                Role::Bulk => false,
            };
            if !wants || self.blocked_until(n, m, self.now).is_some() {
                continue;
            }
            if self.loss > 0 && self.chance(self.loss) {
                continue;
            }
            let t = self.now + self.latency(n, m, bytes.len());
            let inc = self.nodes[m].inc;
            self.push(
                t,
                Ev::Deliver {
                    node: m,
                    inc,
                    input: Input::Announce {
                        from,
                        bytes: bytes.clone(),
                        enrp,
                    },
                },
            );
        }
    }

    // ---- the loop ----

    /// Runs events until `until` (or the queue is empty).
    pub fn run_until(&mut self, until: Time) {
        while let Some(q) = self.queue.peek() {
            if q.at > until {
                break;
            }
            let Some(q) = self.queue.pop() else {
                break;
            };
            self.now = q.at;
            self.events += 1;
            self.handle(q.ev);
            if self.queue.len() > 5_000_000 {
                self.violation("the event queue grew beyond 5,000,000 events".into());
                break;
            }
        }
        if self.now < until {
            self.now = until;
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { node, inc, input } => {
                if self.nodes[node].inc != inc {
                    return;
                }
                if !self.deliverable(node, &input) {
                    return;
                }
                match self.nodes[node].state {
                    NState::Down => {}
                    NState::Paused => self.nodes[node].pending.push_back(input),
                    NState::Up => self.dispatch(node, input),
                }
            }
            Ev::Wake { node, generation } => {
                if self.nodes[node].wake_gen != generation || self.nodes[node].state != NState::Up {
                    return;
                }
                self.nodes[node].wake_at = None;
                if self.nodes[node].spin_at == self.now {
                    self.nodes[node].spin += 1;
                    if self.nodes[node].spin == 10_000 {
                        let name = self.nodes[node].name.clone();
                        self.violation(format!(
                            "{name} asks for its timeout 10,000 times at one instant"
                        ));
                    }
                    if self.nodes[node].spin >= 10_000 {
                        return;
                    }
                } else {
                    self.nodes[node].spin_at = self.now;
                    self.nodes[node].spin = 0;
                }
                let lt = self.local(node);
                match &mut self.nodes[node].m {
                    Machine::Pr(r) => r.handle_timeout(lt),
                    Machine::Pe(a) => a.sm.handle_timeout(lt),
                    Machine::Pu(a) => a.sm.handle_timeout(lt),
                    Machine::Bulk | Machine::Off => {}
                }
                self.drain(node);
            }
            Ev::Fault(i) => self.fault(i),
            Ev::Restart { node } => {
                if self.nodes[node].state == NState::Down && !self.nodes[node].gone {
                    self.start(node);
                }
            }
            Ev::Resume { node } => self.resume(node),
            Ev::AbortCrossing { assoc, part } => {
                let a = &self.assocs[assoc];
                let (x, y) = (a.ends[0].node, a.ends[1].node);
                let p = &self.partitions[part];
                let t = self.sub(self.now, Duration::from_micros(1));
                if a.live() && p.separates(x, y, t.max(p.start)) {
                    self.trace.rec(
                        self.now,
                        x,
                        "abort (partition)",
                        assoc as u64,
                        y as u64,
                        &[],
                    );
                    self.abort_assoc(assoc, None);
                }
            }
            Ev::PeAction { node, inc } => self.pe_action(node, inc),
            Ev::PuTick { node, inc, s } => self.pu_tick(node, inc, s),
            Ev::Check => {
                self.check_continuous();
                let at = self.now + Duration::from_secs(5);
                self.push(at, Ev::Check);
            }
        }
    }

    /// Whether an input still concerns the node (its end of the
    /// association is still open, nothing aborted in between).
    fn deliverable(&self, node: usize, input: &Input) -> bool {
        let idx = match input {
            Input::Accept { assoc, .. } => return !self.assocs[*assoc].aborted,
            Input::Connected { assoc } | Input::Msg { assoc, .. } => *assoc,
            Input::Closed { assoc } => {
                let a = &self.assocs[*assoc];
                return (0..2).any(|e| a.ends[e].node == node && a.ends[e].open);
            }
            Input::Announce { .. } => return true,
        };
        let a = &self.assocs[idx];
        !a.aborted && (0..2).any(|e| a.ends[e].node == node && a.ends[e].open)
    }

    pub fn sub(&self, t: Time, d: Duration) -> Time {
        Time::from_micros(t.as_micros().saturating_sub(d.as_micros() as u64))
    }

    fn dispatch(&mut self, n: usize, input: Input) {
        let lt = self.local(n);
        let now = self.now;
        match input {
            Input::Accept {
                assoc,
                remote,
                kind,
            } => {
                let h = match (&mut self.nodes[n].m, kind) {
                    (Machine::Pr(r), Kind::Asap) => Handle::Asap(r.asap_accepted(lt, remote)),
                    (Machine::Pr(r), Kind::Enrp) => Handle::Enrp(r.enrp_accepted(lt, remote).0),
                    (Machine::Pe(a), Kind::Asap) => {
                        Handle::Reg(a.sm.registrar_accepted(lt, remote).0)
                    }
                    (Machine::Pe(a), Kind::Data) => {
                        let id = a.next_data;
                        a.next_data += 1;
                        a.sessions.insert(
                            id,
                            PeSess {
                                s: PeSession::new(TransportUse::DataPlusControl),
                                served: 0,
                            },
                        );
                        Handle::Data(id)
                    }
                    _ => {
                        self.abort_assoc(assoc, None);
                        return;
                    }
                };
                self.assocs[assoc].ends[1].handle = Some(h);
                self.assocs[assoc].ends[1].inc = self.nodes[n].inc;
                self.nodes[n].handles.insert(h, assoc);
                self.trace.rec(now, n, "accept", assoc as u64, 0, &[]);
            }
            Input::Connected { assoc } => {
                let Some(h) = self.assocs[assoc].ends[0].handle else {
                    return;
                };
                self.trace.rec(now, n, "connected", assoc as u64, 0, &[]);
                match (&mut self.nodes[n].m, h) {
                    (Machine::Pr(r), Handle::Asap(a)) => r.asap_connected(lt, a),
                    (Machine::Pr(r), Handle::Enrp(c)) => r.enrp_connected(lt, ConnId(c)),
                    (Machine::Pe(a), Handle::Reg(c)) => a.sm.registrar_connected(lt, RegConn(c)),
                    (Machine::Pu(a), Handle::Reg(c)) => a.sm.registrar_connected(lt, RegConn(c)),
                    (Machine::Pu(a), Handle::Data(c)) => a.sm.pe_connected(lt, PeConn(c)),
                    _ => {}
                }
            }
            Input::Msg { assoc, payload } => {
                let Some(e) = self.end_of(n, assoc) else {
                    return;
                };
                let Some(h) = self.assocs[assoc].ends[e].handle else {
                    return;
                };
                self.stats.messages += 1;
                match &payload {
                    Payload::Bytes(b) => self.trace.rec(
                        now,
                        n,
                        "msg",
                        assoc as u64,
                        b.first().copied().unwrap_or(0).into(),
                        b,
                    ),
                    Payload::Frame(f) => {
                        self.trace
                            .rec(now, n, "frame", assoc as u64, f.ppid.into(), &f.payload)
                    }
                }
                match (&mut self.nodes[n].m, h, payload) {
                    (Machine::Pr(r), Handle::Asap(a), Payload::Bytes(b)) => {
                        r.asap_received(lt, a, &b)
                    }
                    (Machine::Pr(r), Handle::Enrp(c), Payload::Bytes(b)) => {
                        r.enrp_received(lt, ConnId(c), &b)
                    }
                    (Machine::Pe(a), Handle::Reg(c), Payload::Bytes(b)) => {
                        a.sm.registrar_received(lt, RegConn(c), &b)
                    }
                    (Machine::Pe(_), Handle::Data(id), Payload::Frame(f)) => {
                        self.pe_frame(n, id, f)
                    }
                    (Machine::Pu(a), Handle::Reg(c), Payload::Bytes(b)) => {
                        a.sm.registrar_received(lt, RegConn(c), &b)
                    }
                    (Machine::Pu(a), Handle::Data(c), Payload::Frame(f)) => {
                        a.sm.pe_received(lt, PeConn(c), f)
                    }
                    (Machine::Bulk, h, Payload::Bytes(b)) => self.bulk_msg(n, h, &b),
                    _ => {}
                }
            }
            Input::Closed { assoc } => {
                let Some(e) = self.end_of(n, assoc) else {
                    return;
                };
                self.assocs[assoc].ends[e].open = false;
                let Some(h) = self.assocs[assoc].ends[e].handle else {
                    return;
                };
                self.nodes[n].handles.remove(&h);
                self.trace.rec(now, n, "closed", assoc as u64, 0, &[]);
                match (&mut self.nodes[n].m, h) {
                    (Machine::Pr(r), Handle::Asap(a)) => r.asap_closed(lt, a),
                    (Machine::Pr(r), Handle::Enrp(c)) => r.enrp_closed(lt, ConnId(c)),
                    (Machine::Pe(a), Handle::Reg(c)) => a.sm.registrar_closed(lt, RegConn(c)),
                    (Machine::Pe(a), Handle::Data(id)) => {
                        a.sessions.remove(&id);
                    }
                    (Machine::Pu(a), Handle::Reg(c)) => a.sm.registrar_closed(lt, RegConn(c)),
                    (Machine::Pu(a), Handle::Data(c)) => a.sm.pe_closed(lt, PeConn(c)),
                    _ => {}
                }
            }
            Input::Announce { from, bytes, enrp } => {
                self.stats.messages += 1;
                self.trace
                    .rec(now, n, "announce", u64::from(enrp), 0, &bytes);
                match &mut self.nodes[n].m {
                    Machine::Pr(r) if enrp => r.enrp_announce_received(lt, from, &bytes),
                    Machine::Pe(a) if !enrp => a.sm.announce_received(lt, from, &bytes),
                    Machine::Pu(a) if !enrp => a.sm.announce_received(lt, from, &bytes),
                    _ => {}
                }
            }
        }
        self.drain(n);
    }

    /// Runs everything the node's machine asks for, then its timer.
    pub fn drain(&mut self, n: usize) {
        loop {
            if self.nodes[n].state == NState::Down {
                return;
            }
            let mut did = false;
            match &mut self.nodes[n].m {
                Machine::Pr(r) => {
                    let mut out = Vec::new();
                    while let Some(t) = r.poll_transmit() {
                        out.push(t);
                    }
                    let mut evs = Vec::new();
                    while let Some(e) = r.poll_event() {
                        evs.push(e);
                    }
                    did = !out.is_empty() || !evs.is_empty();
                    for t in out {
                        self.pr_transmit(n, t);
                    }
                    for e in evs {
                        self.pr_event(n, e);
                    }
                }
                Machine::Pe(a) => {
                    let mut out = Vec::new();
                    while let Some(t) = a.sm.poll_transmit() {
                        out.push(t);
                    }
                    let mut evs = Vec::new();
                    while let Some(e) = a.sm.poll_event() {
                        evs.push(e);
                    }
                    did = !out.is_empty() || !evs.is_empty();
                    for t in out {
                        self.reg_transmit(n, t);
                    }
                    for e in evs {
                        self.pe_event(n, e);
                    }
                }
                Machine::Pu(a) => {
                    let mut out = Vec::new();
                    while let Some(t) = a.sm.poll_transmit() {
                        out.push(t);
                    }
                    let mut evs = Vec::new();
                    while let Some(e) = a.sm.poll_event() {
                        evs.push(e);
                    }
                    did = !out.is_empty() || !evs.is_empty();
                    for t in out {
                        self.pu_transmit(n, t);
                    }
                    for e in evs {
                        self.pu_event(n, e);
                    }
                }
                Machine::Bulk | Machine::Off => {}
            }
            if !did {
                break;
            }
        }
        self.reschedule(n);
    }

    fn reschedule(&mut self, n: usize) {
        if self.nodes[n].state != NState::Up {
            return;
        }
        let local = match &self.nodes[n].m {
            Machine::Pr(r) => r.poll_timeout(),
            Machine::Pe(a) => a.sm.poll_timeout(),
            Machine::Pu(a) => a.sm.poll_timeout(),
            Machine::Bulk | Machine::Off => None,
        };
        let at = local.map(|l| self.global_of(n, l).max(self.now));
        if at == self.nodes[n].wake_at {
            return;
        }
        self.nodes[n].wake_at = at;
        self.nodes[n].wake_gen += 1;
        if let Some(at) = at {
            let generation = self.nodes[n].wake_gen;
            self.push(
                at,
                Ev::Wake {
                    node: n,
                    generation,
                },
            );
        }
    }

    fn pr_transmit(&mut self, n: usize, t: Transmit) {
        match t {
            Transmit::Asap { assoc, bytes } => {
                self.out_send(n, Handle::Asap(assoc), Payload::Bytes(bytes))
            }
            Transmit::CloseAsap { assoc } => self.out_close(n, Handle::Asap(assoc)),
            Transmit::Enrp { conn, bytes } => {
                self.out_send(n, Handle::Enrp(conn.0), Payload::Bytes(bytes))
            }
            Transmit::ConnectEnrp { conn, to } => {
                self.out_connect(n, Handle::Enrp(conn.0), &[to], Kind::Enrp)
            }
            Transmit::CloseEnrp { conn } => self.out_close(n, Handle::Enrp(conn.0)),
            Transmit::AnnounceAsap { bytes } => self.out_announce(n, bytes, false),
            Transmit::AnnounceEnrp { bytes } => self.out_announce(n, bytes, true),
            Transmit::ConnectAsap { assoc, to } => {
                self.out_connect(n, Handle::Asap(assoc), &to, Kind::Asap)
            }
        }
    }

    fn reg_transmit(&mut self, n: usize, t: RegTransmit) {
        match t {
            RegTransmit::Connect { conn, to } => {
                self.out_connect(n, Handle::Reg(conn.0), &to, Kind::Asap)
            }
            RegTransmit::Send { conn, bytes } => {
                self.out_send(n, Handle::Reg(conn.0), Payload::Bytes(bytes))
            }
            RegTransmit::Close { conn } => self.out_close(n, Handle::Reg(conn.0)),
        }
    }

    fn pr_event(&mut self, n: usize, e: Event) {
        let (what, a, b) = match &e {
            Event::PeRegistered { pe, .. } => ("PE registered", u64::from(pe.0), 0),
            Event::PeReregistered { pe, .. } => ("PE reregistered", u64::from(pe.0), 0),
            Event::PeRemoved { pe, reason, .. } => ("PE removed", u64::from(pe.0), *reason as u64),
            Event::PeerUp { peer, .. } => ("peer up", u64::from(peer.0), 0),
            Event::PeerDown { peer, reason } => ("peer down", u64::from(peer.0), *reason as u64),
            Event::SyncStarted { peer } => ("sync started", u64::from(peer.0), 0),
            Event::SyncCompleted { peer, entries } => {
                ("sync completed", u64::from(peer.0), *entries as u64)
            }
            Event::ChecksumMismatch { peer, .. } => ("checksum mismatch", u64::from(peer.0), 0),
            Event::TakeoverStarted { target } => ("takeover started", u64::from(target.0), 0),
            Event::TakeoverCompleted { target, pes } => {
                self.stats.takeovers += 1;
                ("takeover done", u64::from(target.0), *pes as u64)
            }
            Event::TakeoverAbandoned { target } => ("takeover abandoned", u64::from(target.0), 0),
            Event::ProtocolError { detail, .. } => {
                let d = detail.clone();
                self.trace.note(self.now, n, "protocol error", d);
                ("", 0, 0)
            }
            Event::RateLimited { .. } => ("rate limited", 0, 0),
            Event::PeLearned { pe, home, .. } => ("PE learned", u64::from(pe.0), u64::from(home.0)),
            Event::PeHomeChanged { pe, to, .. } => {
                ("PE home changed", u64::from(pe.0), u64::from(to.0))
            }
            Event::PeerError { peer, causes, .. } => {
                ("peer error", u64::from(peer.0), causes.len() as u64)
            }
            Event::Unsent { error, .. } => {
                // Every message a registrar builds must fit: this is a bug.
                self.violation(format!("registrar {n} could not send a message: {error}"));
                ("", 0, 0)
            }
        };
        if !what.is_empty() {
            self.trace.rec(self.now, n, what, a, b, &[]);
        }
        if self.observe {
            self.observed.push((self.now, n, Obs::Registrar(e)));
        }
    }

    // ---- pool element ----

    fn pe_event(&mut self, n: usize, e: PeEvent) {
        let (what, a) = match &e {
            PeEvent::Registered { registrar, .. } => {
                ("PE: registered", registrar.map_or(0, |r| r.0.into()))
            }
            PeEvent::RegistrationFailed { .. } => ("PE: reg failed", 0),
            PeEvent::HomeLost { .. } => ("PE: home lost", 0),
            PeEvent::HomeChanged { to, .. } => ("PE: home changed", to.0.into()),
            PeEvent::Deregistered { confirmed } => ("PE: deregistered", u64::from(*confirmed)),
            PeEvent::BadMessage { .. } => ("PE: bad message", 0),
            PeEvent::PeerError { .. } => ("PE: peer error", 0),
        };
        self.trace.rec(self.now, n, what, a, 0, &[]);
        if let PeEvent::Deregistered { .. } = e {
            // The process exits after deregistering and comes back later.
            let data: Vec<Handle> = self.nodes[n].handles.keys().copied().collect();
            for h in data {
                self.out_close(n, h);
            }
            self.stop(n, false);
            let at = self.now + Duration::from_millis(self.between(1_000, 5_000));
            self.push(at, Ev::Restart { node: n });
        }
        if self.observe {
            self.observed.push((self.now, n, Obs::Pe(e)));
        }
    }

    fn pe_frame(&mut self, n: usize, id: u64, f: Frame) {
        let Machine::Pe(a) = &mut self.nodes[n].m else {
            return;
        };
        let Some(s) = a.sessions.get_mut(&id) else {
            return;
        };
        let mut out = Vec::new();
        match s.s.receive(f) {
            Ok(SessionInput::Data(f)) if f.ppid == PPID_ECHO && f.payload.len() == 8 => {
                s.served += 1;
                let mut p = f.payload.clone();
                p.extend_from_slice(&s.served.to_be_bytes());
                out.push(Frame::new(PPID_ECHO, p));
                if let Ok(c) = s.s.cookie(&s.served.to_be_bytes()) {
                    out.push(c);
                }
            }
            Ok(SessionInput::CookieEcho(c)) => {
                if let Ok(b) = <[u8; 8]>::try_from(c.as_slice()) {
                    s.served = u64::from_be_bytes(b);
                }
            }
            Ok(_) => {}
            Err(e) => self.trace.note(self.now, n, "PE: bad frame", e.to_string()),
        }
        for f in out {
            self.out_send(n, Handle::Data(id), Payload::Frame(f));
        }
    }

    fn pe_action(&mut self, n: usize, inc: u32) {
        if self.nodes[n].inc != inc || self.now >= self.sub(self.heal, Duration::from_secs(15)) {
            return;
        }
        if self.nodes[n].state == NState::Up {
            let lt = self.local(n);
            let r = self.rng.below(100);
            let load = self.rng.below(1_000_000) as u32;
            if let Machine::Pe(a) = &mut self.nodes[n].m {
                if a.sm.state().phase == PePhase::Registered {
                    if r < 15 {
                        a.sm.deregister(lt);
                    } else if r < 65 && a.sm.set_load(lt, load).is_ok() {
                        self.trace
                            .rec(self.now, n, "PE: set load", load.into(), 0, &[]);
                    }
                }
            }
            self.drain(n);
        }
        if self.nodes[n].inc == inc {
            let at = self.now + Duration::from_millis(self.between(5_000, 20_000));
            self.push(at, Ev::PeAction { node: n, inc });
        }
    }

    // ---- pool user ----

    fn pu_transmit(&mut self, n: usize, t: PuTransmit) {
        match t {
            PuTransmit::Registrar(t) => self.reg_transmit(n, t),
            PuTransmit::ConnectPe {
                conn,
                session,
                transport,
                ..
            } => {
                if let Machine::Pu(a) = &mut self.nodes[n].m {
                    if let Some(i) = a.sessions.iter().position(|s| s.id == session) {
                        a.by_conn.insert(conn, i);
                    }
                }
                let to: Vec<SocketAddr> = transport
                    .addresses()
                    .iter()
                    .map(|ip| SocketAddr::new(*ip, transport.port()))
                    .collect();
                self.out_connect(n, Handle::Data(conn.0), &to, Kind::Data);
            }
            PuTransmit::SendPe { conn, frame } => {
                if frame.ppid == PPID_ECHO {
                    if let (Machine::Pu(a), Ok(b)) = (
                        &mut self.nodes[n].m,
                        <[u8; 8]>::try_from(frame.payload.as_slice()),
                    ) {
                        let seq = u64::from_be_bytes(b);
                        if let Some(&i) = a.by_conn.get(&conn) {
                            if let Some(o) = a.sessions[i].out.as_mut().filter(|o| o.seq == seq) {
                                o.sent_on = Some(conn);
                            }
                        }
                    }
                }
                self.out_send(n, Handle::Data(conn.0), Payload::Frame(frame));
            }
            PuTransmit::ClosePe { conn } => {
                if let Machine::Pu(a) = &mut self.nodes[n].m {
                    a.by_conn.remove(&conn);
                }
                self.out_close(n, Handle::Data(conn.0));
            }
        }
    }

    fn pu_event(&mut self, n: usize, e: PuEvent) {
        let now = self.now;
        let lt = self.local(n);
        let name = self.nodes[n].name.clone();
        let mut problem = None;
        let Machine::Pu(a) = &mut self.nodes[n].m else {
            return;
        };
        let find = |a: &PuApp, id: SessionId| a.sessions.iter().position(|s| s.id == id);
        match e {
            PuEvent::SessionUp { session, pe_id } => {
                self.trace.rec(
                    now,
                    n,
                    "PU: session up",
                    session.0.into(),
                    pe_id.0.into(),
                    &[],
                );
                if let Some(i) = find(a, session) {
                    a.sessions[i].idle_since = None;
                    a.sessions[i].floor = 0;
                }
            }
            PuEvent::Failover {
                session,
                to,
                cookie_replayed,
                ..
            } => {
                self.stats.failovers += 1;
                self.trace
                    .rec(now, n, "PU: failover", session.0.into(), to.0.into(), &[]);
                if self.observe {
                    self.observed.push((now, n, Obs::Failover));
                }
                if let Some(i) = find(a, session) {
                    let cookie =
                        a.sm.session_cookie(session)
                            .and_then(|c| <[u8; 8]>::try_from(c).ok())
                            .map(u64::from_be_bytes);
                    let s = &mut a.sessions[i];
                    s.idle_since = None;
                    s.floor = if cookie_replayed {
                        cookie.unwrap_or(0)
                    } else {
                        0
                    };
                    let current = match a.sm.session_state(session) {
                        Some(SessionState::Up { conn, .. }) => Some(conn),
                        _ => None,
                    };
                    // A request that went to the old PE may be lost with
                    // it: the application sends it again.
                    if let Some(o) = s.out.as_mut() {
                        if o.sent_on.is_some() && o.sent_on != current {
                            o.sent_on = None;
                            o.sent_at = now;
                            let seq = o.seq;
                            let _ =
                                a.sm.send(lt, session, PPID_ECHO, seq.to_be_bytes().to_vec());
                        }
                    }
                }
            }
            PuEvent::Data { session, frame } => {
                if let Some(i) = find(a, session) {
                    let s = &mut a.sessions[i];
                    let parsed =
                        (frame.ppid == PPID_ECHO && frame.payload.len() == 16).then(|| {
                            let seq =
                                u64::from_be_bytes(frame.payload[..8].try_into().unwrap_or([0; 8]));
                            let served =
                                u64::from_be_bytes(frame.payload[8..].try_into().unwrap_or([0; 8]));
                            (seq, served)
                        });
                    match parsed {
                        Some((seq, served)) if s.out.is_some_and(|o| o.seq == seq) => {
                            if served > s.replies + 1 || served < s.floor + 1 {
                                problem = Some(format!(
                                    "{name} session {}: reply {seq} shows session state {served}, but {} replies were received and the state replayed was {}",
                                    session.0, s.replies, s.floor
                                ));
                            }
                            s.replies += 1;
                            s.floor = served;
                            s.out = None;
                            s.last_reply = now;
                            self.stats.replies += 1;
                            self.trace.rec(now, n, "PU: reply", seq, served, &[]);
                            if self.observe {
                                self.observed.push((now, n, Obs::Reply));
                            }
                        }
                        Some((seq, _)) => {
                            problem = Some(format!(
                                "{name} session {}: reply to request {seq}, which is not outstanding (answered twice, or never sent)",
                                session.0
                            ));
                        }
                        None => {
                            problem = Some(format!(
                                "{name} session {}: a frame that is no reply",
                                session.0
                            ));
                        }
                    }
                }
            }
            PuEvent::SessionFailed { session, .. } => {
                self.trace
                    .rec(now, n, "PU: session failed", session.0.into(), 0, &[]);
                if let Some(i) = find(a, session) {
                    a.sessions[i].idle_since.get_or_insert(now);
                }
            }
            PuEvent::Resolved { pool_elements, .. } => {
                if self.observe {
                    let first = pool_elements.first().map_or(0, |p| p.pe_id.0);
                    self.observed.push((now, n, Obs::Resolved(first)));
                }
                self.trace
                    .rec(now, n, "PU: resolved", pool_elements.len() as u64, 0, &[]);
            }
            PuEvent::ResolutionFailed { .. } => {
                self.trace.rec(now, n, "PU: resolution failed", 0, 0, &[])
            }
            PuEvent::BadMessage { .. } => self.trace.rec(now, n, "PU: bad message", 0, 0, &[]),
            PuEvent::PeerError { .. } => self.trace.rec(now, n, "PU: peer error", 0, 0, &[]),
        }
        if let Some(p) = problem {
            self.violation(p);
        }
    }

    fn pu_tick(&mut self, n: usize, inc: u32, s: usize) {
        if self.nodes[n].inc != inc {
            return;
        }
        let now = self.now;
        if self.nodes[n].state == NState::Up {
            let lt = self.local(n);
            let mut sent = false;
            if let Machine::Pu(a) = &mut self.nodes[n].m {
                let id = a.sessions[s].id;
                let state = a.sm.session_state(id);
                let sess = &mut a.sessions[s];
                if state == Some(SessionState::Idle) {
                    let since = *sess.idle_since.get_or_insert(now);
                    if now >= since + Duration::from_secs(3) {
                        sess.idle_since = None;
                        a.sm.failover(lt, id);
                    }
                } else if let Some(o) = sess.out {
                    if matches!(state, Some(SessionState::Up { .. }))
                        && now >= o.sent_at + APP_TIMEOUT
                    {
                        // The PE does not answer: the application fails over.
                        if let Some(o) = sess.out.as_mut() {
                            o.sent_at = now;
                        }
                        a.sm.failover(lt, id);
                    }
                }
                let sess = &mut a.sessions[s];
                if sess.out.is_none() {
                    let seq = sess.next_seq;
                    sess.next_seq += 1;
                    sess.out = Some(Outstanding {
                        seq,
                        sent_at: now,
                        sent_on: None,
                    });
                    sent =
                        a.sm.send(lt, id, PPID_ECHO, seq.to_be_bytes().to_vec())
                            .is_ok();
                }
            }
            if sent {
                self.stats.requests += 1;
            }
            self.drain(n);
        }
        let at = self.now + Duration::from_millis(self.between(200, 2_000));
        self.push(at, Ev::PuTick { node: n, inc, s });
    }

    // ---- bulk client ----

    fn bulk_msg(&mut self, n: usize, h: Handle, b: &[u8]) {
        if let Ok(d) = AsapMessage::decode(b, &DecodeOptions::DEFAULT) {
            if let AsapMessage::EndpointKeepAlive(k) = d.message {
                if let Some(pe_id) = k.pe_id {
                    let ack = AsapMessage::from(asap::EndpointKeepAliveAck {
                        pool_handle: k.pool_handle,
                        pe_id,
                    });
                    if let Ok(bytes) = ack.to_bytes() {
                        self.out_send(n, h, Payload::Bytes(bytes));
                    }
                }
            }
        }
    }

    /// The bulk client connects to a registrar and sends raw messages.
    pub fn bulk_connect(&mut self, n: usize, to: SocketAddr) -> Handle {
        let h = Handle::Reg(1);
        self.out_connect(n, h, &[to], Kind::Asap);
        h
    }

    pub fn bulk_send(&mut self, n: usize, h: Handle, bytes: Vec<u8>) {
        self.out_send(n, h, Payload::Bytes(bytes));
    }

    pub fn violation(&mut self, v: String) {
        self.trace
            .note(self.now, usize::MAX, "VIOLATION", v.clone());
        if self.violations.len() < 20 {
            self.violations.push(v);
        }
    }

    pub fn node_name(&self, n: usize) -> String {
        self.nodes
            .get(n)
            .map_or_else(|| "-".into(), |x| x.name.clone())
    }

    pub fn pr_machine(&self, n: usize) -> Option<&Registrar> {
        match (&self.nodes[n].m, self.nodes[n].state) {
            (Machine::Pr(r), NState::Up | NState::Paused) => Some(r),
            _ => None,
        }
    }

    pub fn pe_machine(&self, n: usize) -> Option<&PoolElement> {
        match (&self.nodes[n].m, self.nodes[n].state) {
            (Machine::Pe(a), NState::Up | NState::Paused) => Some(&a.sm),
            _ => None,
        }
    }

    pub fn pu_machine_mut(&mut self, n: usize) -> Option<&mut PoolUser> {
        match &mut self.nodes[n].m {
            Machine::Pu(a) => Some(&mut a.sm),
            _ => None,
        }
    }
}

/// Runs one seed with the given configuration.
pub fn run(seed: u64, cfg: &SimConfig) -> Outcome {
    let mut w = crate::faults::build(seed, cfg);
    let settle = crate::settle_time(cfg.timers);
    let end = w.heal + settle;
    w.run_until(end);
    w.check_final();
    let report = (!w.violations.is_empty()).then(|| w.report(seed, cfg));
    w.stats.end_ms = w.now.as_micros() / 1000;
    w.stats.faults = w.schedule.len() as u64;
    Outcome {
        seed,
        digest: w.trace.digest(),
        events: w.events,
        stats: w.stats.clone(),
        violations: w.violations.clone(),
        report,
    }
}
