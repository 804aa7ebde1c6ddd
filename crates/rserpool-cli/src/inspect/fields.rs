//! The key fields of a message, on one line.

use std::fmt::Write;

use rserpool_proto::wire::asap::AsapMessage as A;
use rserpool_proto::wire::enrp::{EnrpMessage as E, UpdateAction};
use rserpool_proto::wire::{
    Message, OperationError, Policy, PoolElement, ServerInformation, TransportParam,
};

/// `sctp:10.0.0.1,10.0.0.2:3863` (IPv6 addresses in brackets).
pub fn transport(t: &TransportParam) -> String {
    let kind = match t {
        TransportParam::Sctp { .. } => "sctp",
        TransportParam::Tcp { .. } => "tcp",
        TransportParam::Udp { .. } => "udp",
        TransportParam::Dccp { .. } => "dccp",
        TransportParam::UdpLite { .. } => "udplite",
    };
    let addrs: Vec<String> = t
        .addresses()
        .iter()
        .map(|a| match a {
            std::net::IpAddr::V4(a) => a.to_string(),
            std::net::IpAddr::V6(a) => format!("[{a}]"),
        })
        .collect();
    format!("{kind}:{}:{}", addrs.join(","), t.port())
}

/// A load-like value as a percentage of `u32::MAX`.
fn percent(v: u32) -> String {
    format!("{:.1}%", f64::from(v) * 100.0 / f64::from(u32::MAX))
}

/// `LeastUsed(load=12.0%)`, `WeightedRandom(weight=3)`, `RoundRobin`.
pub fn policy(p: &Policy) -> String {
    use Policy as P;
    let name = p.policy_type().name();
    let values = match *p {
        P::RoundRobin | P::Random => return name.to_string(),
        P::WeightedRoundRobin { weight } | P::WeightedRandom { weight } => {
            format!("weight={weight}")
        }
        P::Priority { priority } => format!("priority={priority}"),
        P::LeastUsed { load } | P::RandomizedLeastUsed { load } => {
            format!("load={}", percent(load))
        }
        P::LeastUsedDegradation { load, degradation }
        | P::PriorityLeastUsed { load, degradation }
        | P::RandomizedPriorityLeastUsed { load, degradation }
        | P::RandomizedLeastUsedDegradation { load, degradation }
        | P::PriorityLeastUsedDegradation { load, degradation }
        | P::RandomizedPriorityLeastUsedDegradation { load, degradation } => format!(
            "load={},degradation={}",
            percent(load),
            percent(degradation)
        ),
        P::WeightedRandomDpf {
            weight,
            weight_dpf,
            distance,
        } => format!("weight={weight},weight_dpf={weight_dpf},distance={distance}"),
        P::LeastUsedDpf {
            load,
            load_dpf,
            distance,
        } => format!(
            "load={},load_dpf={},distance={distance}",
            percent(load),
            percent(load_dpf)
        ),
        P::LeastUsedDegradationDpf {
            load,
            degradation,
            load_dpf,
            distance,
        } => format!(
            "load={},degradation={},load_dpf={},distance={distance}",
            percent(load),
            percent(degradation),
            percent(load_dpf)
        ),
    };
    format!("{name}({values})")
}

/// `causes=[Unknown Pool Handle]`.
pub fn causes(e: &OperationError) -> String {
    let names: Vec<String> = e
        .causes
        .iter()
        .map(|c| format!("{} ({:#x})", c.code.name(), c.code.code()))
        .collect();
    format!("causes=[{}]", names.join(", "))
}

fn pe_list(pes: &[PoolElement]) -> String {
    let ids: Vec<String> = pes.iter().map(|pe| pe.pe_id.to_string()).collect();
    format!("pes={} [{}]", pes.len(), ids.join(" "))
}

fn pe(pe: &PoolElement) -> String {
    let mut s = format!(
        "pe={} home={} life={}ms policy={} transport={}",
        pe.pe_id,
        pe.home_server_id,
        pe.registration_life,
        policy(&pe.policy),
        transport(&pe.user_transport)
    );
    if let Some(t) = &pe.asap_transport {
        let _ = write!(s, " asap={}", transport(t));
    }
    s
}

fn server(s: &ServerInformation) -> String {
    format!("server={} at {}", s.server_id, transport(&s.transport))
}

/// The fields that tell this message apart from others of its type.
pub fn key_fields(m: &Message) -> String {
    match m {
        Message::Asap(a) => asap(a),
        Message::Enrp(e) => enrp(e),
    }
}

fn asap(m: &A) -> String {
    let mut s = String::new();
    if let Some(h) = m.pool_handle() {
        let _ = write!(s, "handle={h} ");
    }
    match m {
        A::Registration(r) => s += &pe(&r.pool_element),
        A::Deregistration(d) => {
            let _ = write!(s, "pe={}", d.pe_id);
        }
        A::RegistrationResponse(r) => {
            let _ = write!(s, "pe={}", r.pe_id);
            if r.reject {
                s += " REJECTED";
            }
            if let Some(e) = &r.error {
                let _ = write!(s, " {}", causes(e));
            }
        }
        A::DeregistrationResponse(r) => {
            let _ = write!(s, "pe={}", r.pe_id);
            if let Some(e) = &r.error {
                let _ = write!(s, " {}", causes(e));
            }
        }
        A::HandleResolution(r) => match r.items {
            Some(u32::MAX) => s += "items=all",
            Some(n) => {
                let _ = write!(s, "items={n}");
            }
            None => {}
        },
        A::HandleResolutionResponse(r) => {
            if let Some(p) = &r.policy {
                let _ = write!(s, "policy={} ", policy(p));
            }
            s += &pe_list(&r.pool_elements);
            if let Some(e) = &r.error {
                let _ = write!(s, " {}", causes(e));
            }
        }
        A::EndpointKeepAlive(k) => {
            let _ = write!(s, "server={}", k.server_id);
            if let Some(id) = k.pe_id {
                let _ = write!(s, " pe={id}");
            }
            if k.home {
                s += " HOME";
            }
        }
        A::EndpointKeepAliveAck(k) => {
            let _ = write!(s, "pe={}", k.pe_id);
        }
        A::EndpointUnreachable(u) => {
            let _ = write!(s, "pe={}", u.pe_id);
        }
        A::ServerAnnounce(a) => {
            let _ = write!(s, "server={}", a.server_id);
            for t in &a.transports {
                let _ = write!(s, " {}", transport(t));
            }
        }
        A::Cookie(c) => {
            let _ = write!(s, "cookie={} bytes", c.cookie.len());
        }
        A::CookieEcho(c) => {
            let _ = write!(s, "cookie={} bytes", c.cookie.len());
        }
        A::BusinessCard(b) => {
            if let Some(p) = &b.policy {
                let _ = write!(s, "policy={} ", policy(p));
            }
            s += &pe_list(&b.pool_elements);
        }
        A::Error(e) => s += &causes(&e.error),
    }
    s.trim_end().to_string()
}

fn enrp(m: &E) -> String {
    let mut s = format!("{} -> {}", m.sender(), m.receiver());
    match m {
        E::Presence(p) => {
            if let Some(c) = p.checksum {
                let _ = write!(s, " checksum={c:#06x}");
            }
            let _ = write!(s, " {}", server(&p.server_info));
            if p.reply_required {
                s += " REPLY_REQUIRED";
            }
        }
        E::HandleTableRequest(r) => {
            if r.own_children_only {
                s += " OWN_CHILDREN_ONLY";
            }
        }
        E::HandleTableResponse(r) => {
            let pes: usize = r.pools.iter().map(|p| p.pool_elements.len()).sum();
            let _ = write!(s, " pools={} pes={pes}", r.pools.len());
            for p in &r.pools {
                let _ = write!(s, " {}:{}", p.pool_handle, p.pool_elements.len());
            }
            if r.more_to_send {
                s += " MORE_TO_SEND";
            }
            if r.reject {
                s += " REJECTED";
            }
        }
        E::HandleUpdate(u) => {
            let action = match u.action {
                UpdateAction::AddPe => "ADD_PE",
                UpdateAction::DelPe => "DEL_PE",
            };
            let _ = write!(
                s,
                " {action} handle={} {}",
                u.pool_handle,
                pe(&u.pool_element)
            );
            if u.takeover_suggested {
                s += " TAKEOVER_SUGGESTED";
            }
        }
        E::ListRequest(_) => {}
        E::ListResponse(r) => {
            let ids: Vec<String> = r.servers.iter().map(|i| i.server_id.to_string()).collect();
            let _ = write!(s, " servers={} [{}]", r.servers.len(), ids.join(" "));
            if r.reject {
                s += " REJECTED";
            }
        }
        E::InitTakeover(t) => {
            let _ = write!(s, " target={}", t.target_server_id);
        }
        E::InitTakeoverAck(t) => {
            let _ = write!(s, " target={}", t.target_server_id);
        }
        E::TakeoverServer(t) => {
            let _ = write!(s, " target={}", t.target_server_id);
        }
        E::Error(e) => {
            let _ = write!(s, " {}", causes(&e.error));
        }
    }
    s
}
