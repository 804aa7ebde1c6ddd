//! One JSON object per message, for scripts (`--json`).

use rserpool_capture::{CapturedMessage, Carrier};
use rserpool_proto::wire::{Decoded, Message, to_hex};
use serde_json::{Map, Value, json};

use super::verify::Difference;
use super::{Outcome, relative_time};

/// The decoded body: the wire types serialise as `{"type": Variant, "body": {...}}`,
/// of which the body is the message.
fn body(message: &Message) -> Value {
    let value = match message {
        Message::Asap(m) => serde_json::to_value(m),
        Message::Enrp(m) => serde_json::to_value(m),
    };
    match value {
        Ok(Value::Object(mut o)) => o.remove("body").unwrap_or(Value::Null),
        Ok(other) => other,
        Err(e) => json!({ "serialisation_error": e.to_string() }),
    }
}

fn difference(d: &Difference) -> Value {
    json!({
        "offset": d.offset,
        "expected": d.expected,
        "actual": d.actual,
        "expected_len": d.expected_len,
        "actual_len": d.actual_len,
    })
}

/// The JSON object for one captured message and what became of it.
pub fn object(
    m: &CapturedMessage,
    first: rserpool_capture::Timestamp,
    outcome: &Outcome,
    verify: Option<&Option<Difference>>,
) -> Value {
    let mut o = Map::new();
    o.insert("frame".into(), json!(m.frame));
    o.insert("time".into(), json!(m.timestamp.to_string()));
    o.insert(
        "time_relative".into(),
        json!(relative_time(m.timestamp, first)),
    );
    o.insert("src".into(), json!(m.src.to_string()));
    o.insert("dst".into(), json!(m.dst.to_string()));
    o.insert("carrier".into(), json!(m.carrier.as_str()));
    if let Carrier::Sctp { ppid, stream } = m.carrier {
        o.insert("ppid".into(), json!(ppid));
        o.insert("stream".into(), json!(stream));
    }
    o.insert("protocol".into(), json!(m.protocol.as_str()));
    o.insert("length".into(), json!(m.bytes.len()));
    match outcome {
        Outcome::Decoded(Decoded {
            message,
            unrecognized,
        }) => {
            o.insert("type".into(), json!(message.type_name()));
            o.insert("flags".into(), json!(message.flags()));
            o.insert("message".into(), body(message));
            if !unrecognized.is_empty() {
                let raw: Vec<Value> = unrecognized
                    .iter()
                    .map(|p| json!({ "offset": p.offset, "tlv": to_hex(&p.tlv) }))
                    .collect();
                o.insert("unrecognized".into(), Value::Array(raw));
            }
        }
        Outcome::Malformed { type_name, error } => {
            o.insert("type".into(), json!(type_name));
            o.insert("error".into(), json!(error.to_string()));
            o.insert("bytes".into(), json!(to_hex(&m.bytes)));
        }
    }
    if let Some(v) = verify {
        o.insert(
            "verify".into(),
            match v {
                None => json!("ok"),
                Some(d) => difference(d),
            },
        );
    }
    Value::Object(o)
}
