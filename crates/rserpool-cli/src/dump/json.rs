//! The dump as one JSON document: numbers stay numbers (IDs, ports, raw
//! policy values) so scripts need not parse hex or percentages.

use super::format;
use super::snapshot::Snapshot;
use rserpool_proto::wire::{Policy, PoolElement, TransportParam, TransportUse};
use serde_json::{Map, Value, json};

pub fn render(s: &Snapshot) -> Value {
    json!({
        "registrar": {
            "id": s.registrar.server_id.0,
            "address": s.address.to_string(),
            "carrier": s.carrier.to_string(),
            "endpoint": transport(&s.registrar.transport),
            "checksum": s.checksum,
        },
        "peers": s.peers.iter().map(|p| json!({
            "id": p.server_id.0,
            "endpoint": transport(&p.transport),
        })).collect::<Vec<_>>(),
        "pools": s.pools.iter().map(|p| json!({
            "handle": p.handle.to_string(),
            "policy": p.policy().map(|t| t.name()),
            "elements": p.elements.iter().map(element).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn element(e: &PoolElement) -> Value {
    json!({
        "id": e.pe_id.0,
        "home": e.home_server_id.0,
        "transport": transport(&e.user_transport),
        "asap_transport": e.asap_transport.as_ref().map(transport),
        "policy": policy(&e.policy),
        "lifetime_ms": e.registration_life,
    })
}

pub fn transport(t: &TransportParam) -> Value {
    json!({
        "protocol": format::protocol(t),
        "addresses": t.addresses().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "port": t.port(),
        "use": match t.transport_use() {
            TransportUse::DataOnly => "data",
            TransportUse::DataPlusControl => "data+control",
        },
    })
}

pub fn policy(p: &Policy) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::from(p.policy_type().name()));
    for (name, v) in format::policy_values(p) {
        m.insert(name.into(), Value::from(v));
    }
    Value::Object(m)
}
