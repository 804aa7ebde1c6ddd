//! The dump as one JSON document. Numbers stay numbers (IDs, ports, raw
//! policy values) so scripts need not parse hex or percentages; keys come
//! in the order the text dump shows them.

use super::format;
use rserpool::probe::{Pool, Snapshot};
use rserpool_proto::wire::{Policy, PoolElement, ServerInformation, TransportParam, TransportUse};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

#[derive(Serialize)]
struct Document<'a> {
    registrar: Registrar<'a>,
    peers: Vec<Peer<'a>>,
    pools: Vec<PoolDoc<'a>>,
}

#[derive(Serialize)]
struct Registrar<'a> {
    id: u32,
    address: String,
    carrier: String,
    endpoint: Transport<'a>,
    checksum: Option<u16>,
}

#[derive(Serialize)]
struct Peer<'a> {
    id: u32,
    endpoint: Transport<'a>,
}

#[derive(Serialize)]
struct PoolDoc<'a> {
    handle: String,
    policy: Option<&'static str>,
    elements: Vec<Element<'a>>,
}

#[derive(Serialize)]
struct Element<'a> {
    id: u32,
    home: u32,
    transport: Transport<'a>,
    asap_transport: Option<Transport<'a>>,
    policy: PolicyDoc<'a>,
    lifetime_ms: i32,
}

struct Transport<'a>(&'a TransportParam);

impl Serialize for Transport<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("protocol", format::protocol(t))?;
        let addresses: Vec<String> = t.addresses().iter().map(ToString::to_string).collect();
        m.serialize_entry("addresses", &addresses)?;
        m.serialize_entry("port", &t.port())?;
        let usage = match t.transport_use() {
            TransportUse::DataOnly => "data",
            TransportUse::DataPlusControl => "data+control",
        };
        m.serialize_entry("use", usage)?;
        m.end()
    }
}

/// `{"type": "LeastUsed", "load": 123}`: the type, then the values by name.
struct PolicyDoc<'a>(&'a Policy);

impl Serialize for PolicyDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let values = format::policy_values(self.0);
        let mut m = s.serialize_map(Some(1 + values.len()))?;
        m.serialize_entry("type", self.0.policy_type().name())?;
        for (name, v) in values {
            m.serialize_entry(name, &v)?;
        }
        m.end()
    }
}

fn peer(p: &ServerInformation) -> Peer<'_> {
    Peer {
        id: p.server_id.0,
        endpoint: Transport(&p.transport),
    }
}

fn element(e: &PoolElement) -> Element<'_> {
    Element {
        id: e.pe_id.0,
        home: e.home_server_id.0,
        transport: Transport(&e.user_transport),
        asap_transport: e.asap_transport.as_ref().map(Transport),
        policy: PolicyDoc(&e.policy),
        lifetime_ms: e.registration_life,
    }
}

fn pool(p: &Pool) -> PoolDoc<'_> {
    PoolDoc {
        handle: p.handle.to_string(),
        policy: p.policy().map(|t| t.name()),
        elements: p.elements.iter().map(element).collect(),
    }
}

/// The document, pretty-printed.
pub fn render(s: &Snapshot) -> Result<String, serde_json::Error> {
    let doc = Document {
        registrar: Registrar {
            id: s.registrar.server_id.0,
            address: s.address.to_string(),
            carrier: format::carrier(s.transport).to_string(),
            endpoint: Transport(&s.registrar.transport),
            checksum: s.checksum,
        },
        peers: s.peers.iter().map(peer).collect(),
        pools: s.pools.iter().map(pool).collect(),
    };
    serde_json::to_string_pretty(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_list_the_type_first_then_values_in_wire_order() {
        let p = Policy::LeastUsedDegradation {
            load: 7,
            degradation: 9,
        };
        let text = serde_json::to_string(&PolicyDoc(&p)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"LeastUsedDegradation","load":7,"degradation":9}"#
        );
        let t = TransportParam::Tcp {
            port: 80,
            transport_use: TransportUse::DataPlusControl,
            address: [127, 0, 0, 1].into(),
        };
        assert_eq!(
            serde_json::to_string(&Transport(&t)).unwrap(),
            r#"{"protocol":"tcp","addresses":["127.0.0.1"],"port":80,"use":"data+control"}"#
        );
    }
}
