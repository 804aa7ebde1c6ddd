//! Text forms of wire values shared by `dump` and `monitor`.

use rserpool_proto::wire::{
    Policy, PolicyType, PoolHandle, TransportKind, TransportParam, TransportUse,
};
use std::net::SocketAddr;

/// The names of a policy's values, in wire order.
pub fn value_names(t: PolicyType) -> &'static [&'static str] {
    use PolicyType as T;
    match t {
        T::RoundRobin | T::Random => &[],
        T::WeightedRoundRobin | T::WeightedRandom => &["weight"],
        T::Priority => &["priority"],
        T::LeastUsed | T::RandomizedLeastUsed => &["load"],
        T::LeastUsedDegradation
        | T::PriorityLeastUsed
        | T::RandomizedPriorityLeastUsed
        | T::RandomizedLeastUsedDegradation
        | T::PriorityLeastUsedDegradation
        | T::RandomizedPriorityLeastUsedDegradation => &["load", "degradation"],
        T::WeightedRandomDpf => &["weight", "weight_dpf", "distance"],
        T::LeastUsedDpf => &["load", "load_dpf", "distance"],
        T::LeastUsedDegradationDpf => &["load", "degradation", "load_dpf", "distance"],
    }
}

/// A policy's values by name.
pub fn policy_values(p: &Policy) -> Vec<(&'static str, u32)> {
    let (values, n) = p.values();
    value_names(p.policy_type())
        .iter()
        .copied()
        .zip(values.into_iter().take(n))
        .collect()
}

/// Loads, degradations and DPF factors are fractions of `u32::MAX`;
/// weights, priorities and distances are plain numbers.
fn is_fraction(name: &str) -> bool {
    !matches!(name, "weight" | "priority" | "distance")
}

/// `u32::MAX` as 100 %, with one decimal.
pub fn percent(v: u32) -> String {
    format!("{:.1}%", f64::from(v) * 100.0 / f64::from(u32::MAX))
}

/// E.g. `LeastUsed load=25.0%` or `RoundRobin`.
pub fn policy(p: &Policy) -> String {
    let mut s = p.policy_type().name().to_string();
    for (name, v) in policy_values(p) {
        let v = if is_fraction(name) {
            percent(v)
        } else {
            v.to_string()
        };
        s.push_str(&format!(" {name}={v}"));
    }
    s
}

/// Only the values, e.g. `load=25.0%`, or `-` for a policy without any.
pub fn policy_values_text(p: &Policy) -> String {
    let full = policy(p);
    match full.split_once(' ') {
        Some((_, values)) => values.to_string(),
        None => "-".to_string(),
    }
}

/// The transport of a probe's association, as `rserpool dump` names it.
pub fn carrier(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Sctp => "sctp",
        _ => "tcp",
    }
}

pub fn protocol(t: &TransportParam) -> &'static str {
    match t {
        TransportParam::Sctp { .. } => "sctp",
        TransportParam::Tcp { .. } => "tcp",
        TransportParam::Udp { .. } => "udp",
        TransportParam::Dccp { .. } => "dccp",
        TransportParam::UdpLite { .. } => "udplite",
    }
}

/// E.g. `tcp 127.0.0.1:7001` or `sctp 10.0.0.1:7001,10.0.1.1:7001`.
pub fn endpoint(t: &TransportParam) -> String {
    let addrs: Vec<String> = t
        .addresses()
        .iter()
        .map(|a| SocketAddr::new(*a, t.port()).to_string())
        .collect();
    format!("{} {}", protocol(t), addrs.join(","))
}

/// Like [`endpoint`], plus `+ctrl` when ASAP control is multiplexed with data.
pub fn user_endpoint(t: &TransportParam) -> String {
    match t.transport_use() {
        TransportUse::DataPlusControl => format!("{} +ctrl", endpoint(t)),
        TransportUse::DataOnly => endpoint(t),
    }
}

/// A handle in quotes when it is printable text, else as `0x` hex.
pub fn handle(h: &PoolHandle) -> String {
    let b = h.as_bytes();
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        format!("\"{h}\"")
    } else {
        h.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_show_their_values_by_name() {
        assert_eq!(policy(&Policy::RoundRobin), "RoundRobin");
        assert_eq!(policy_values_text(&Policy::RoundRobin), "-");
        assert_eq!(
            policy(&Policy::LeastUsed {
                load: u32::MAX / 4 + 1
            }),
            "LeastUsed load=25.0%"
        );
        assert_eq!(
            policy(&Policy::WeightedRoundRobin { weight: 7 }),
            "WeightedRoundRobin weight=7"
        );
        assert_eq!(
            policy_values_text(&Policy::LeastUsedDpf {
                load: 0,
                load_dpf: u32::MAX,
                distance: 20
            }),
            "load=0.0% load_dpf=100.0% distance=20"
        );
    }

    #[test]
    fn every_policy_type_names_all_its_values() {
        for t in PolicyType::ALL {
            assert_eq!(value_names(t).len(), Policy::value_count(t), "{t:?}");
        }
    }

    #[test]
    fn endpoints_and_handles() {
        let t = TransportParam::Sctp {
            port: 7,
            transport_use: TransportUse::DataPlusControl,
            addresses: [[10, 0, 0, 1].into(), "::1".parse().unwrap()].into(),
        };
        assert_eq!(user_endpoint(&t), "sctp 10.0.0.1:7,[::1]:7 +ctrl");
        assert_eq!(handle(&"Echo Pool".into()), "\"Echo Pool\"");
        assert_eq!(handle(&PoolHandle::new(vec![0, 0xff])), "0x00ff");
    }
}
