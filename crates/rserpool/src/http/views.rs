//! The JSON shapes of the HTTP API (version 1), as plain data.
//!
//! They are built in the registrar task from the handlespace and
//! serialised by the HTTP tasks, so the registrar never formats JSON.
//! `openapi.json` describes every one of them; the API test checks real
//! responses against it, so a renamed field fails there.

use rserpool_proto::handlespace::PeEntry;
use rserpool_proto::wire::{Policy, PoolElement, PoolHandle, TransportParam, TransportUse};
use serde::Serialize;

/// This registrar, its peers and the handlespace in numbers.
#[derive(Clone, Debug, Serialize)]
pub struct ScopeView {
    /// This registrar.
    pub registrar: RegistrarView,
    /// Its peers, by ID.
    pub peers: Vec<PeerView>,
}

/// The registrar answering.
#[derive(Clone, Debug, Serialize)]
pub struct RegistrarView {
    /// Server ID.
    pub id: u32,
    /// `tcp` or `sctp`.
    pub transport: String,
    /// Bound ASAP addresses.
    pub asap: Vec<String>,
    /// Bound ENRP addresses.
    pub enrp: Vec<String>,
    /// True once a mentor peer synchronised the handlespace to this PR.
    pub synchronised: bool,
    /// Pools in the handlespace.
    pub pools: usize,
    /// PEs in the handlespace.
    pub pool_elements: usize,
    /// PEs whose home is this PR.
    pub owned_pool_elements: usize,
    /// Open ASAP associations (PEs and PUs).
    pub asap_associations: usize,
    /// Open ENRP associations (peers and probes).
    pub enrp_associations: usize,
    /// MaxHResItems: most PEs in one handle resolution.
    pub max_hres_items: u32,
}

/// A peer registrar, or a PR named as home of some PEs.
#[derive(Clone, Debug, Serialize)]
pub struct PeerView {
    /// Server ID.
    pub id: u32,
    /// `up` (live ENRP peer), `suspect` (association lost, dead unless it
    /// comes back), `taking_over` (this PR takes over its PEs) or
    /// `unknown` (only known as home of PEs).
    pub state: &'static str,
    /// The ENRP association's remote address, when connected.
    pub address: Option<String>,
    /// PEs whose home it is.
    pub pool_elements: usize,
}

/// A pool in a list of pools.
#[derive(Clone, Debug, Serialize)]
pub struct PoolSummary {
    /// The pool handle as text.
    pub handle: String,
    /// The policy of its PEs.
    pub policy: String,
    /// How many PEs it has.
    pub pool_elements: usize,
}

/// The pools, sorted by handle.
#[derive(Clone, Debug, Serialize)]
pub struct PoolsView {
    /// The pools listed.
    pub pools: Vec<PoolSummary>,
    /// True when `limit` cut the list.
    pub truncated: bool,
}

/// One pool with its PEs (sorted by PE ID).
#[derive(Clone, Debug, Serialize)]
pub struct PoolView {
    /// The pool handle as text.
    pub handle: String,
    /// The policy of its PEs.
    pub policy: String,
    /// Its PEs, at most `limit`.
    pub pool_elements: Vec<PeView>,
    /// True when `limit` cut the list.
    pub truncated: bool,
}

/// A handle resolution's answer: the PEs the pool's policy chose, in order.
#[derive(Clone, Debug, Serialize)]
pub struct ResolutionView {
    /// The pool handle as text.
    pub handle: String,
    /// The pool's policy; `None` for an unknown pool.
    pub policy: Option<String>,
    /// The PEs chosen, in the order a pool user gets them.
    pub pool_elements: Vec<PeView>,
}

/// One PE entry.
#[derive(Clone, Debug, Serialize)]
pub struct PeView {
    /// PE ID.
    pub id: u32,
    /// Server ID of its home PR.
    pub home: u32,
    /// Its policy and values.
    pub policy: PolicyView,
    /// Registration lifetime.
    pub lifetime_ms: i64,
    /// Where PUs reach it.
    pub transport: TransportView,
    /// Where its home PR reaches it (ASAP), when known.
    pub asap_transport: Option<TransportView>,
}

/// A policy with its values; only the values the policy has are present.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PolicyView {
    #[serde(rename = "type")]
    /// The policy name (e.g. `RoundRobin`).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Weight (weighted policies).
    pub weight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Priority (priority policies).
    pub priority: Option<u32>,
    /// Load as on the wire: 0 idle, 2^32-1 full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<u32>,
    /// The same in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Load degradation (RSPLIB's LD policies).
    pub degradation: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Weight distance penalty factor.
    pub weight_dpf: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Load distance penalty factor.
    pub load_dpf: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Distance (distance-sensitive policies).
    pub distance: Option<u32>,
}

/// A transport address list.
#[derive(Clone, Debug, Serialize)]
pub struct TransportView {
    /// `sctp`, `tcp`, `udp`, `dccp` or `udp-lite`.
    pub protocol: &'static str,
    /// `address:port` for each address.
    pub addresses: Vec<String>,
    /// `data` or `data+control`.
    #[serde(rename = "use")]
    pub transport_use: &'static str,
}

/// One change of the handlespace or of the scope, as the watch stream and
/// a PE's history carry it.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeView {
    /// Position in the stream (also the SSE event id).
    pub id: u64,
    /// Wall-clock time, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What happened; see `openapi.json` for the list.
    pub kind: &'static str,
    /// The pool (its handle as text), for PE changes.
    #[serde(
        rename = "pool",
        skip_serializing_if = "Option::is_none",
        serialize_with = "handle_text"
    )]
    pub handle: Option<PoolHandle>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The PE ID, for PE changes.
    pub pe: Option<u32>,
    /// The PE's home after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<u32>,
    /// The PE's home before a takeover.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_home: Option<u32>,
    /// The peer PR a scope change is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why a PE was removed or a peer went down.
    pub reason: Option<&'static str>,
    /// The PE as it is after the change (registered and updated entries,
    /// while some watcher listens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element: Option<PeView>,
}

/// A pool handle as its display text: built when a change is sent, not
/// when the registrar records it.
fn handle_text<S: serde::Serializer>(h: &Option<PoolHandle>, s: S) -> Result<S::Ok, S::Error> {
    match h {
        Some(h) => s.collect_str(h),
        None => s.serialize_none(),
    }
}

/// The changes kept for one PE.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryView {
    /// The pool handle as text.
    pub handle: String,
    /// The PE ID.
    pub pe: u32,
    /// Oldest first; only what the bounded history still holds.
    pub changes: Vec<ChangeView>,
}

/// An error answer.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorView {
    /// What went wrong.
    pub error: String,
}

impl PeView {
    /// From a handlespace entry.
    pub fn from_entry(e: &PeEntry<'_>) -> PeView {
        PeView {
            id: e.pe_id().0,
            home: e.home().0,
            policy: PolicyView::from(&e.policy()),
            lifetime_ms: i64::from(e.lifetime_ms()),
            transport: TransportView::from(&e.transport()),
            asap_transport: e.asap_transport().as_ref().map(TransportView::from),
        }
    }

    /// From a PE as a Handle Resolution Response carries it.
    pub fn from_wire(p: &PoolElement) -> PeView {
        PeView {
            id: p.pe_id.0,
            home: p.home_server_id.0,
            policy: PolicyView::from(&p.policy),
            lifetime_ms: i64::from(p.registration_life),
            transport: TransportView::from(&p.user_transport),
            asap_transport: p.asap_transport.as_ref().map(TransportView::from),
        }
    }
}

impl From<&Policy> for PolicyView {
    fn from(p: &Policy) -> PolicyView {
        use Policy as P;
        let mut v = PolicyView {
            kind: p.policy_type().name().to_string(),
            ..PolicyView::default()
        };
        match *p {
            P::RoundRobin | P::Random => {}
            P::WeightedRoundRobin { weight } | P::WeightedRandom { weight } => {
                v.weight = Some(weight)
            }
            P::Priority { priority } => v.priority = Some(priority),
            P::LeastUsed { load } | P::RandomizedLeastUsed { load } => v.load = Some(load),
            P::LeastUsedDegradation { load, degradation }
            | P::PriorityLeastUsed { load, degradation }
            | P::RandomizedPriorityLeastUsed { load, degradation }
            | P::RandomizedLeastUsedDegradation { load, degradation }
            | P::PriorityLeastUsedDegradation { load, degradation }
            | P::RandomizedPriorityLeastUsedDegradation { load, degradation } => {
                v.load = Some(load);
                v.degradation = Some(degradation);
            }
            P::WeightedRandomDpf {
                weight,
                weight_dpf,
                distance,
            } => {
                v.weight = Some(weight);
                v.weight_dpf = Some(weight_dpf);
                v.distance = Some(distance);
            }
            P::LeastUsedDpf {
                load,
                load_dpf,
                distance,
            } => {
                v.load = Some(load);
                v.load_dpf = Some(load_dpf);
                v.distance = Some(distance);
            }
            P::LeastUsedDegradationDpf {
                load,
                degradation,
                load_dpf,
                distance,
            } => {
                v.load = Some(load);
                v.degradation = Some(degradation);
                v.load_dpf = Some(load_dpf);
                v.distance = Some(distance);
            }
        }
        v.load_percent = v
            .load
            .map(|l| (f64::from(l) * 10_000.0 / f64::from(u32::MAX)).round() / 100.0);
        v
    }
}

impl From<&TransportParam> for TransportView {
    fn from(t: &TransportParam) -> TransportView {
        let protocol = match t {
            TransportParam::Sctp { .. } => "sctp",
            TransportParam::Tcp { .. } => "tcp",
            TransportParam::Udp { .. } => "udp",
            TransportParam::Dccp { .. } => "dccp",
            TransportParam::UdpLite { .. } => "udp-lite",
        };
        let port = t.port();
        TransportView {
            protocol,
            addresses: t
                .addresses()
                .iter()
                .map(|a| std::net::SocketAddr::new(*a, port).to_string())
                .collect(),
            transport_use: match t.transport_use() {
                TransportUse::DataOnly => "data",
                TransportUse::DataPlusControl => "data+control",
            },
        }
    }
}
