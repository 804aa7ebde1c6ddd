//! A deterministic in-memory network for registrar tests: several
//! registrars, scripted PE/PU endpoints speaking raw ASAP, virtual time
//! advanced by the test, every transmit delivered at once (in order).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use rserpool_proto::Time;
use rserpool_proto::handlespace::AssocId;
use rserpool_proto::registrar::{Config, ConnId, Event, Registrar, Transmit};
use rserpool_proto::wire::asap::{self, AsapMessage};
use rserpool_proto::wire::{
    DecodeOptions, EnrpMessage, PeId, Policy, PoolElement, PoolHandle, ServerId, TransportParam,
    TransportUse,
};

/// A PE or PU: its messages arrive in `inbox`.
#[derive(Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub alive: bool,
    /// Answer Endpoint Keep-Alives (with an Ack, a re-registration or both).
    pub auto_ack: bool,
    /// With `auto_ack`, the answer includes an Ack (false: a Keep-Alive
    /// with H is answered by the re-registration alone).
    pub ack: bool,
    /// On a Keep-Alive with H, re-register on that association.
    pub follow_home: bool,
    pub links: Vec<(usize, AssocId)>,
    pub inbox: Vec<(usize, AssocId, AsapMessage)>,
    /// Registrations sent, for re-registration.
    pub registrations: Vec<asap::Registration>,
    /// Associations the registrar aborted.
    pub aborted: Vec<(usize, AssocId)>,
}

/// What reaches a registrar from a PE endpoint in deferred mode.
#[derive(Debug)]
enum Reply {
    /// A `Transmit::ConnectAsap` of the registrar succeeded.
    Connected(usize, AssocId),
    /// An ASAP message from the endpoint.
    Message(usize, AssocId, Vec<u8>),
}

/// Decides whether an ENRP message from one PR to another is dropped.
pub type EnrpFilter = Box<dyn FnMut(usize, usize, &EnrpMessage) -> bool>;

pub struct Net {
    pub now: Time,
    pub prs: Vec<Option<Registrar>>,
    pub configs: Vec<Config>,
    pub events: Vec<Vec<Event>>,
    pub endpoints: Vec<Endpoint>,
    enrp_links: HashMap<(usize, ConnId), (usize, ConnId)>,
    asap_links: HashMap<(usize, AssocId), usize>,
    /// ENRP messages delivered: (from PR, to PR, message).
    pub enrp_log: Vec<(usize, usize, EnrpMessage)>,
    pub announces: Vec<(usize, Transmit)>,
    /// Deliver ENRP Presence announces to every other PR.
    pub multicast: bool,
    pub enrp_filter: Option<EnrpFilter>,
    /// Deliver what PE endpoints send back (connections completing, Acks,
    /// re-registrations) only once every registrar's transmits are
    /// drained, in the order sent, as a runtime does: its outgoing
    /// associations connect later, and a PE's answers come back in a later
    /// wake-up. Virtual time does not move meanwhile.
    pub deferred: bool,
    replies: VecDeque<Reply>,
    restarts: u64,
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn pr_id(i: usize) -> ServerId {
    ServerId(0x100 + i as u32)
}

pub fn enrp_addr(i: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + i as u8)), 9901)
}

/// A config for PR `i` with the given static peers.
pub fn pr_config(i: usize, peers: &[usize]) -> Config {
    let mut c = Config::new(
        pr_id(i),
        TransportParam::Tcp {
            port: 9901,
            transport_use: TransportUse::DataOnly,
            address: enrp_addr(i).ip(),
        },
    );
    c.peers = peers.iter().map(|p| enrp_addr(*p)).collect();
    c
}

pub fn tcp(ip: IpAddr, port: u16) -> TransportParam {
    TransportParam::Tcp {
        port,
        transport_use: TransportUse::DataOnly,
        address: ip,
    }
}

pub fn pe_param(id: u32, ip: IpAddr, policy: Policy) -> PoolElement {
    PoolElement {
        pe_id: PeId(id),
        home_server_id: ServerId(0),
        registration_life: 300_000,
        user_transport: tcp(ip, 7000),
        policy,
        asap_transport: None,
    }
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

impl Net {
    pub fn new() -> Net {
        Net {
            now: Time::from_millis(1_000),
            prs: Vec::new(),
            configs: Vec::new(),
            events: Vec::new(),
            endpoints: Vec::new(),
            enrp_links: HashMap::new(),
            asap_links: HashMap::new(),
            enrp_log: Vec::new(),
            announces: Vec::new(),
            multicast: false,
            enrp_filter: None,
            deferred: false,
            replies: VecDeque::new(),
            restarts: 0,
        }
    }

    /// Adds a registrar (it starts at once).
    pub fn add_pr(&mut self, config: Config) -> usize {
        let i = self.prs.len();
        self.prs
            .push(Some(Registrar::new(config.clone(), self.now, i as u64)));
        self.configs.push(config);
        self.events.push(Vec::new());
        self.pump();
        i
    }

    pub fn pr(&self, i: usize) -> &Registrar {
        self.prs[i].as_ref().expect("PR is running")
    }

    pub fn pr_mut(&mut self, i: usize) -> &mut Registrar {
        self.prs[i].as_mut().expect("PR is running")
    }

    /// Crashes a PR: its associations break.
    pub fn kill(&mut self, i: usize) {
        self.prs[i] = None;
        let now = self.now;
        let links: Vec<_> = self
            .enrp_links
            .iter()
            .filter(|(from, _)| from.0 == i)
            .map(|(a, b)| (*a, *b))
            .collect();
        for (a, b) in links {
            self.enrp_links.remove(&a);
            self.enrp_links.remove(&b);
            if let Some(r) = self.prs[b.0].as_mut() {
                r.enrp_closed(now, b.1);
            }
        }
        let assocs: Vec<_> = self
            .asap_links
            .keys()
            .filter(|(p, _)| *p == i)
            .copied()
            .collect();
        for key in assocs {
            if let Some(k) = self.asap_links.remove(&key) {
                self.endpoints[k].links.retain(|l| *l != key);
            }
        }
        self.pump();
    }

    /// Starts a crashed PR again, empty, with its old configuration.
    pub fn restart(&mut self, i: usize) {
        self.restarts += 1;
        let seed = 1000 * self.restarts + i as u64;
        self.prs[i] = Some(Registrar::new(self.configs[i].clone(), self.now, seed));
        self.pump();
    }

    pub fn add_endpoint(&mut self, last_octet: u8) -> usize {
        self.endpoints.push(Endpoint {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 168, 1, last_octet)), 3863),
            alive: true,
            auto_ack: true,
            ack: true,
            follow_home: true,
            links: Vec::new(),
            inbox: Vec::new(),
            registrations: Vec::new(),
            aborted: Vec::new(),
        });
        self.endpoints.len() - 1
    }

    pub fn ip(&self, k: usize) -> IpAddr {
        self.endpoints[k].addr.ip()
    }

    /// Endpoint `k` opens an ASAP association to PR `i`.
    pub fn connect(&mut self, k: usize, i: usize) -> AssocId {
        let now = self.now;
        let addr = self.endpoints[k].addr;
        let a = self.pr_mut(i).asap_accepted(now, addr);
        self.asap_links.insert((i, a), k);
        self.endpoints[k].links.push((i, a));
        a
    }

    /// The endpoint closes its association.
    pub fn disconnect(&mut self, k: usize, i: usize, a: AssocId) {
        let now = self.now;
        self.asap_links.remove(&(i, a));
        self.endpoints[k].links.retain(|l| *l != (i, a));
        if let Some(r) = self.prs[i].as_mut() {
            r.asap_closed(now, a);
        }
        self.pump();
    }

    pub fn send_raw(&mut self, i: usize, a: AssocId, bytes: &[u8]) {
        let now = self.now;
        self.pr_mut(i).asap_received(now, a, bytes);
        self.pump();
    }

    pub fn send(&mut self, k: usize, i: usize, a: AssocId, m: impl Into<AsapMessage>) {
        let m = m.into();
        if let AsapMessage::Registration(r) = &m {
            let reg = &mut self.endpoints[k].registrations;
            reg.retain(|x| {
                (x.pool_handle.clone(), x.pool_element.pe_id)
                    != (r.pool_handle.clone(), r.pool_element.pe_id)
            });
            reg.push(r.clone());
        }
        self.send_raw(i, a, &m.to_bytes().expect("encodes"));
    }

    /// Takes the endpoint's inbox.
    pub fn take_inbox(&mut self, k: usize) -> Vec<(usize, AssocId, AsapMessage)> {
        std::mem::take(&mut self.endpoints[k].inbox)
    }

    /// Registers PE `pe` of endpoint `k` into `pool` at PR `i` over `a`;
    /// returns the response.
    pub fn register(
        &mut self,
        k: usize,
        i: usize,
        a: AssocId,
        pool: &str,
        pe: PoolElement,
    ) -> asap::RegistrationResponse {
        self.send(
            k,
            i,
            a,
            asap::Registration {
                pool_handle: PoolHandle::from(pool),
                pool_element: pe,
            },
        );
        let inbox = self.take_inbox(k);
        inbox
            .into_iter()
            .rev()
            .find_map(|(_, _, m)| match m {
                AsapMessage::RegistrationResponse(r) => Some(r),
                _ => None,
            })
            .expect("registration response")
    }

    /// Resolves `pool` at PR `i` over association `a` of endpoint `k`.
    pub fn resolve(
        &mut self,
        k: usize,
        i: usize,
        a: AssocId,
        pool: &str,
        items: Option<u32>,
    ) -> Option<asap::HandleResolutionResponse> {
        self.send(
            k,
            i,
            a,
            asap::HandleResolution {
                pool_handle: PoolHandle::from(pool),
                items,
            },
        );
        let inbox = self.take_inbox(k);
        inbox.into_iter().find_map(|(_, _, m)| match m {
            AsapMessage::HandleResolutionResponse(r) => Some(r),
            _ => None,
        })
    }

    /// Delivers everything queued, until quiet.
    pub fn pump(&mut self) {
        let mut budget = 2_000_000usize;
        loop {
            let mut progressed = false;
            for i in 0..self.prs.len() {
                while let Some(t) = self.prs[i].as_mut().and_then(|r| r.poll_transmit()) {
                    progressed = true;
                    budget = budget.checked_sub(1).expect("network does not quiesce");
                    self.route(i, t);
                }
                if let Some(r) = self.prs[i].as_mut() {
                    while let Some(e) = r.poll_event() {
                        self.events[i].push(e);
                    }
                }
            }
            if !progressed && !self.deliver_replies() {
                break;
            }
        }
    }

    /// Delivers the replies held in deferred mode; false if there were none.
    fn deliver_replies(&mut self) -> bool {
        if self.replies.is_empty() {
            return false;
        }
        let now = self.now;
        for reply in std::mem::take(&mut self.replies) {
            match reply {
                Reply::Connected(i, a) => {
                    if let Some(r) = self.prs[i].as_mut() {
                        r.asap_connected(now, a);
                    }
                }
                Reply::Message(i, a, bytes) => {
                    if !self.asap_links.contains_key(&(i, a)) {
                        continue;
                    }
                    if let Some(r) = self.prs[i].as_mut() {
                        r.asap_received(now, a, &bytes);
                    }
                }
            }
        }
        true
    }

    fn route(&mut self, i: usize, t: Transmit) {
        let now = self.now;
        match t {
            Transmit::Enrp { conn, bytes } => {
                let Some(&(j, c)) = self.enrp_links.get(&(i, conn)) else {
                    return;
                };
                let m = EnrpMessage::decode(&bytes, &DecodeOptions::default())
                    .expect("registrars send valid ENRP")
                    .message;
                if let Some(f) = self.enrp_filter.as_mut() {
                    if f(i, j, &m) {
                        return;
                    }
                }
                self.enrp_log.push((i, j, m));
                if let Some(r) = self.prs[j].as_mut() {
                    r.enrp_received(now, c, &bytes);
                }
            }
            Transmit::ConnectEnrp { conn, to } => {
                let j = (0..self.prs.len())
                    .find(|j| enrp_addr(*j) == to && self.prs[*j].is_some() && *j != i);
                match j {
                    Some(j) => {
                        let from = enrp_addr(i);
                        let c = self.pr_mut(j).enrp_accepted(now, from);
                        self.enrp_links.insert((i, conn), (j, c));
                        self.enrp_links.insert((j, c), (i, conn));
                        self.pr_mut(i).enrp_connected(now, conn);
                    }
                    None => self.pr_mut(i).enrp_closed(now, conn),
                }
            }
            Transmit::CloseEnrp { conn } => {
                if let Some((j, c)) = self.enrp_links.remove(&(i, conn)) {
                    self.enrp_links.remove(&(j, c));
                    if let Some(r) = self.prs[j].as_mut() {
                        r.enrp_closed(now, c);
                    }
                }
            }
            Transmit::Asap { assoc, bytes } => {
                let Some(&k) = self.asap_links.get(&(i, assoc)) else {
                    return;
                };
                let m = AsapMessage::decode(&bytes, &DecodeOptions::default())
                    .expect("registrars send valid ASAP")
                    .message;
                self.endpoint_receives(k, i, assoc, m);
            }
            Transmit::CloseAsap { assoc } => {
                if let Some(k) = self.asap_links.remove(&(i, assoc)) {
                    self.endpoints[k].links.retain(|l| *l != (i, assoc));
                    self.endpoints[k].aborted.push((i, assoc));
                }
                self.pr_mut(i).asap_closed(now, assoc);
            }
            Transmit::ConnectAsap { assoc, to } => {
                let k = self
                    .endpoints
                    .iter()
                    .position(|e| e.alive && to.contains(&e.addr));
                match k {
                    Some(k) => {
                        self.asap_links.insert((i, assoc), k);
                        self.endpoints[k].links.push((i, assoc));
                        if self.deferred {
                            self.replies.push_back(Reply::Connected(i, assoc));
                        } else {
                            self.pr_mut(i).asap_connected(now, assoc);
                        }
                    }
                    None => self.pr_mut(i).asap_closed(now, assoc),
                }
            }
            Transmit::AnnounceEnrp { bytes } => {
                if self.multicast {
                    let from = enrp_addr(i);
                    for j in 0..self.prs.len() {
                        if j != i {
                            if let Some(r) = self.prs[j].as_mut() {
                                r.enrp_announce_received(now, from, &bytes);
                            }
                        }
                    }
                }
                self.announces.push((i, Transmit::AnnounceEnrp { bytes }));
            }
            t @ Transmit::AnnounceAsap { .. } => self.announces.push((i, t)),
        }
    }

    fn endpoint_receives(&mut self, k: usize, i: usize, a: AssocId, m: AsapMessage) {
        let now = self.now;
        let e = &self.endpoints[k];
        if !e.alive {
            return;
        }
        if let AsapMessage::EndpointKeepAlive(ka) = &m {
            if e.auto_ack {
                let pe_id = ka.pe_id.expect("keep-alive names the PE");
                let ack = AsapMessage::from(asap::EndpointKeepAliveAck {
                    pool_handle: ka.pool_handle.clone(),
                    pe_id,
                });
                let rereg = if ka.home && e.follow_home {
                    e.registrations
                        .iter()
                        .find(|r| r.pool_handle == ka.pool_handle && r.pool_element.pe_id == pe_id)
                        .cloned()
                } else {
                    None
                };
                let mut answers = Vec::new();
                if e.ack {
                    answers.push(ack.to_bytes().expect("encodes"));
                }
                if let Some(reg) = rereg {
                    answers.push(AsapMessage::from(reg).to_bytes().expect("encodes"));
                }
                for bytes in answers {
                    if self.deferred {
                        self.replies.push_back(Reply::Message(i, a, bytes));
                    } else if let Some(r) = self.prs[i].as_mut() {
                        r.asap_received(now, a, &bytes);
                    }
                }
            }
        }
        self.endpoints[k].inbox.push((i, a, m));
    }

    /// Advances virtual time by `d`, running every timer on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        let mut budget = 10_000_000usize;
        loop {
            let next = self
                .prs
                .iter()
                .flatten()
                .filter_map(|r| r.poll_timeout())
                .min();
            match next {
                Some(t) if t <= target => {
                    if t > self.now {
                        self.now = t;
                    }
                    let now = self.now;
                    for r in self.prs.iter_mut().flatten() {
                        if r.poll_timeout().is_some_and(|t| t <= now) {
                            r.handle_timeout(now);
                        }
                    }
                    self.pump();
                    budget = budget.checked_sub(1).expect("timers do not settle");
                }
                _ => break,
            }
        }
        self.now = target;
    }

    /// Every PE a PR holds as sorted (pool, PE ID, home).
    pub fn view(&self, i: usize) -> Vec<(PoolHandle, PeId, ServerId)> {
        let hs = self.pr(i).handlespace();
        let mut v = Vec::new();
        for pool in hs.pools() {
            for r in hs.pool_entries(pool) {
                let e = hs.entry(r).expect("listed entry");
                v.push((pool.clone(), e.pe_id(), e.home()));
            }
        }
        v.sort();
        v
    }

    /// Events of PR `i` so far, taken.
    pub fn take_events(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.events[i])
    }

    /// Number of live ENRP links between running PRs (each counted once).
    pub fn enrp_link_count(&self) -> usize {
        self.enrp_links.len() / 2
    }
}
