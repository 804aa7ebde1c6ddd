//! The registrar's HTTP API over loopback against a real registrar, with
//! PEs of the runtime library: JSON answers, resolution by the pool's
//! policy shared with ASAP, the watch, and every answer checked against
//! the OpenAPI description the server serves.
#![allow(clippy::unwrap_used)]

use crate::common::{local, placeholder};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rserpool::pool_element::{self, PoolElementConfig, PoolElementHandle};
use rserpool::registrar::{DaemonConfig, RegistrarHandle, start};
use rserpool::transport::{Carrier, Ppid, TransportMode, connect};
use rserpool_proto::asap_endpoint::AsapTimers;
use rserpool_proto::registrar::Config;
use rserpool_proto::wire::asap::HandleResolution;
use rserpool_proto::wire::{AsapMessage, DecodeOptions, PeId, Policy, PoolHandle, ServerId};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

async fn registrar(max_hres_items: u32) -> RegistrarHandle {
    let placeholder = placeholder();
    let mut c = Config::new(ServerId(0x51), placeholder);
    c.max_hres_items = max_hres_items;
    c.keep_alive_transmission_interval = Duration::from_millis(300);
    c.keep_alive_timeout = Duration::from_millis(300);
    c.mentor_discovery_timeout = Duration::from_millis(300);
    let mut d = DaemonConfig::new(c, vec![local()], vec![local()]);
    d.transport = TransportMode::Tcp;
    d.metrics = Some(local());
    d.seed = 7;
    start(d).await.unwrap()
}

async fn pool_element(pool: &str, policy: Policy, registrar: SocketAddr) -> PoolElementHandle {
    let mut cfg = PoolElementConfig::new(pool, policy);
    cfg.data_addr = local();
    cfg.control_addr = local();
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg.transport = TransportMode::Tcp;
    let mut t = AsapTimers::DEFAULT;
    t.connect_timeout = Duration::from_millis(1000);
    cfg.timers = t;
    let mut pe = pool_element::start(cfg).await.unwrap();
    tokio::time::timeout(WAIT, pe.wait_registered())
        .await
        .expect("PE not registered");
    pe
}

/// One HTTP/1.1 GET on a fresh connection; the response with its body
/// still streaming.
async fn get_streaming(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> hyper::Response<Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Empty::<Bytes>::new()).unwrap();
    tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .expect("no HTTP answer in time")
        .unwrap()
}

/// A whole answer: status, content type, body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    let resp = get_streaming(addr, path, &[]).await;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = tokio::time::timeout(WAIT, resp.into_body().collect())
        .await
        .expect("body not complete in time")
        .unwrap()
        .to_bytes();
    Answer {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// Server-Sent Events of one response, parsed as they arrive.
struct Events {
    body: Incoming,
    buf: String,
}

/// One event: name (empty for `message`), id, data.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<String>,
    data: String,
}

impl Events {
    async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Events {
        let resp = get_streaming(addr, path, headers).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers().get("content-type").unwrap(),
            "text/event-stream"
        );
        Events {
            body: resp.into_body(),
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut e = Sse {
                    event: String::new(),
                    id: None,
                    data: String::new(),
                };
                let mut fields = 0;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        e.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        e.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        e.data.push_str(v.trim_start());
                    } else {
                        continue;
                    }
                    fields += 1;
                }
                if fields > 0 {
                    return e;
                }
                continue; // a keep-alive comment
            }
            let frame = tokio::time::timeout(WAIT, self.body.frame())
                .await
                .expect("no event in time")
                .expect("stream ended")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buf.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    }

    /// The next change whose kind is `kind`, skipping others.
    async fn change(&mut self, kind: &str, spec: &Value) -> Value {
        loop {
            let e = self.next().await;
            assert_eq!(e.event, "", "{e:?}");
            let v: Value = serde_json::from_str(&e.data).unwrap();
            check(spec, &v, "Change");
            assert_eq!(e.id.as_deref(), Some(v["id"].to_string().as_str()));
            if v["kind"] == kind {
                return v;
            }
        }
    }
}

// ---- checking answers against the OpenAPI description ----

/// Fails with every difference between `v` and the named schema.
fn check(spec: &Value, v: &Value, schema: &str) {
    let mut errs = Vec::new();
    validate(
        spec,
        &spec["components"]["schemas"][schema],
        v,
        "$",
        &mut errs,
    );
    assert!(
        errs.is_empty(),
        "{schema} does not match the OpenAPI description: {errs:#?}\n{v:#}"
    );
}

/// The schema of `path`'s GET answer with `status`, as the spec says.
fn answer_schema<'a>(spec: &'a Value, path: &str, status: u16) -> &'a Value {
    let op = &spec["paths"][path]["get"];
    assert!(op.is_object(), "{path} is not in the OpenAPI description");
    let r = &op["responses"][status.to_string()];
    assert!(r.is_object(), "{path}: status {status} not described");
    &r["content"]["application/json"]["schema"]
}

/// Checks a real JSON answer of `template` (as the spec names the path).
fn check_answer(spec: &Value, template: &str, a: &Answer) {
    let schema = answer_schema(spec, template, a.status);
    let mut errs = Vec::new();
    validate(spec, schema, &a.json(), "$", &mut errs);
    assert!(
        errs.is_empty(),
        "{template} ({}) does not match the OpenAPI description: {errs:#?}\n{}",
        a.status,
        a.body
    );
}

/// A structural JSON Schema check: `$ref`, `oneOf`, `type` (one or a
/// list), `enum`, `minimum`/`maximum`, `required`, `properties`,
/// `additionalProperties: false`, `items`. Enough for this API's schema;
/// anything else in the schema fails loudly.
fn validate(spec: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        errs.push(format!("{at}: schema is not an object: {schema}"));
        return;
    };
    const KNOWN: &[&str] = &[
        "$ref",
        "oneOf",
        "type",
        "enum",
        "minimum",
        "maximum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "description",
        "default",
    ];
    for k in s.keys() {
        if !KNOWN.contains(&k.as_str()) {
            errs.push(format!(
                "{at}: the checker does not know schema keyword {k}"
            ));
        }
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        let target = &spec["components"]["schemas"][name];
        assert!(target.is_object(), "dangling $ref {r}");
        validate(spec, target, v, at, errs);
        return;
    }
    if let Some(alts) = s.get("oneOf").and_then(Value::as_array) {
        let ok = alts
            .iter()
            .filter(|a| {
                let mut e = Vec::new();
                validate(spec, a, v, at, &mut e);
                e.is_empty()
            })
            .count();
        if ok != 1 {
            errs.push(format!("{at}: matches {ok} of oneOf, not 1"));
        }
        return;
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = |t: &str| match t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "null" => v.is_null(),
            _ => false,
        };
        if !types.iter().any(|t| fits(t)) {
            errs.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64()) {
        if x < min {
            errs.push(format!("{at}: {x} below {min}"));
        }
    }
    if let (Some(max), Some(x)) = (s.get("maximum").and_then(Value::as_f64), v.as_f64()) {
        if x > max {
            errs.push(format!("{at}: {x} above {max}"));
        }
    }
    if let Some(o) = v.as_object() {
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let r = r.as_str().unwrap();
            if !o.contains_key(r) {
                errs.push(format!("{at}: required field {r} missing"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, x) in o {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => validate(spec, ps, x, &format!("{at}.{k}"), errs),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{at}: field {k} not in the description"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            validate(spec, items, x, &format!("{at}[{i}]"), errs);
        }
    }
}

/// The checker itself: a renamed, missing or mistyped field fails.
#[test]
fn the_checker_finds_renamed_fields() {
    let spec: Value = serde_json::from_str(rserpool::http::OPENAPI).unwrap();
    let good = serde_json::json!({"error": "x"});
    let mut errs = Vec::new();
    validate(
        &spec,
        &spec["components"]["schemas"]["Error"],
        &good,
        "$",
        &mut errs,
    );
    assert!(errs.is_empty(), "{errs:?}");
    for bad in [
        serde_json::json!({"message": "x"}),
        serde_json::json!({"error": 1}),
        serde_json::json!({"error": "x", "extra": 1}),
    ] {
        let mut errs = Vec::new();
        validate(
            &spec,
            &spec["components"]["schemas"]["Error"],
            &bad,
            "$",
            &mut errs,
        );
        assert!(!errs.is_empty(), "{bad} passed");
    }
}

fn pe_json(list: &Value, id: PeId) -> &Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.0)
        .unwrap_or_else(|| panic!("PE {id} not in {list}"))
}

/// Resolves by ASAP on its own association; the PE IDs in order.
async fn asap_resolve(registrar: SocketAddr, pool: &str) -> Vec<u32> {
    let mut a = connect(registrar, Carrier::Tcp, Ppid::Asap).await.unwrap();
    let m = AsapMessage::from(HandleResolution {
        pool_handle: PoolHandle::from(pool),
        items: None,
    });
    a.send(&m.to_bytes().expect("encodes")).await.unwrap();
    let bytes = tokio::time::timeout(WAIT, a.recv())
        .await
        .expect("no answer")
        .unwrap()
        .unwrap();
    match AsapMessage::decode(bytes, &DecodeOptions::default())
        .unwrap()
        .message
    {
        AsapMessage::HandleResolutionResponse(r) => {
            r.pool_elements.iter().map(|p| p.pe_id.0).collect()
        }
        m => panic!("unexpected {m:?}"),
    }
}

fn ids(resolution: &Value) -> Vec<u32> {
    resolution["pool_elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap() as u32)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_resolves_and_watches() {
    let r = registrar(2).await;
    let http = r.http_addr().unwrap();
    let asap = r.asap_addrs()[0];

    // The description the server serves is the one checked here.
    let a = get(http, "/openapi.json").await;
    assert_eq!(a.status, 200);
    let spec = a.json();
    assert_eq!(a.body, rserpool::http::OPENAPI);

    // A watch of everything, from before any PE.
    let mut all = Events::open(http, "/api/v1/watch", &[]).await;
    let ready = all.next().await;
    assert_eq!(ready.event, "ready");
    let rv: Value = serde_json::from_str(&ready.data).unwrap();
    check(&spec, &rv, "WatchReady");
    assert_eq!(rv["reset"], false);

    // Three round-robin PEs and one least-used PE in another pool.
    let mut rr = Vec::new();
    for _ in 0..3 {
        rr.push(pool_element("rr", Policy::RoundRobin, asap).await);
    }
    let lu = pool_element("lu", Policy::LeastUsed { load: 0x4000_0000 }, asap).await;

    let a = get(http, "/api/v1/scope").await;
    assert_eq!(a.status, 200);
    check_answer(&spec, "/api/v1/scope", &a);
    let scope = a.json();
    assert_eq!(scope["registrar"]["id"], 0x51);
    assert_eq!(scope["registrar"]["pools"], 2);
    assert_eq!(scope["registrar"]["pool_elements"], 4);
    assert_eq!(scope["registrar"]["owned_pool_elements"], 4);
    assert_eq!(scope["registrar"]["max_hres_items"], 2);
    assert_eq!(scope["registrar"]["asap"][0], asap.to_string());
    assert_eq!(scope["peers"], serde_json::json!([]));

    let a = get(http, "/api/v1/pools").await;
    check_answer(&spec, "/api/v1/pools", &a);
    let pools = a.json();
    assert_eq!(
        pools["pools"],
        serde_json::json!([
            {"handle": "lu", "policy": "LeastUsed", "pool_elements": 1},
            {"handle": "rr", "policy": "RoundRobin", "pool_elements": 3},
        ])
    );
    let a = get(http, "/api/v1/pools?limit=1").await;
    check_answer(&spec, "/api/v1/pools", &a);
    assert_eq!(a.json()["pools"].as_array().unwrap().len(), 1);
    assert_eq!(a.json()["truncated"], true);

    let a = get(http, "/api/v1/pools/lu").await;
    check_answer(&spec, "/api/v1/pools/{handle}", &a);
    let pool = a.json();
    let pe = pe_json(&pool["pool_elements"], lu.pe_id());
    assert_eq!(pe["home"], 0x51);
    assert_eq!(pe["policy"]["type"], "LeastUsed");
    assert_eq!(pe["policy"]["load"], 0x4000_0000);
    assert_eq!(pe["policy"]["load_percent"], 25.0);
    assert_eq!(pe["transport"]["protocol"], "tcp");
    assert_eq!(pe["transport"]["addresses"][0], lu.data_addr().to_string());
    assert!(pe["lifetime_ms"].as_i64().unwrap() > 0);

    let a = get(http, "/api/v1/pools/nothing").await;
    assert_eq!(a.status, 404);
    check_answer(&spec, "/api/v1/pools/{handle}", &a);
    let a = get(http, "/api/v1/pools/nothing/resolve").await;
    assert_eq!(a.status, 404);
    check_answer(&spec, "/api/v1/pools/{handle}/resolve", &a);

    // Resolution: MaxHResItems caps the answer, `items` asks for fewer.
    let a = get(http, "/api/v1/pools/rr/resolve").await;
    check_answer(&spec, "/api/v1/pools/{handle}/resolve", &a);
    assert_eq!(a.json()["policy"], "RoundRobin");
    let first = ids(&a.json());
    assert_eq!(first.len(), 2);
    let a = get(http, "/api/v1/pools/rr/resolve?items=1").await;
    assert_eq!(ids(&a.json()).len(), 1);
    let a = get(http, "/api/v1/pools/rr/resolve?items=100").await;
    assert_eq!(ids(&a.json()).len(), 2);
    // Round robin moves on by one per resolution, whether it comes by
    // HTTP or by ASAP: both go through the same selection state.
    let mut firsts = Vec::new();
    for i in 0..6 {
        let first = if i % 2 == 0 {
            ids(&get(http, "/api/v1/pools/rr/resolve").await.json())[0]
        } else {
            asap_resolve(asap, "rr").await[0]
        };
        firsts.push(first);
    }
    for w in firsts.windows(2) {
        assert_ne!(w[0], w[1], "round robin did not move on: {firsts:?}");
    }
    for w in firsts.windows(3) {
        let mut s = w.to_vec();
        s.sort_unstable();
        s.dedup();
        assert_eq!(s.len(), 3, "not a rotation over all PEs: {firsts:?}");
    }

    // The watch saw the PEs come, with their state.
    let mut seen = Vec::new();
    while seen.len() < 4 {
        let c = all.change("registered", &spec).await;
        assert_eq!(c["home"], 0x51);
        assert_eq!(c["element"]["id"], c["pe"]);
        seen.push(c["pe"].as_u64().unwrap() as u32);
    }
    let lu_id = lu.pe_id();
    assert!(seen.contains(&lu_id.0), "{seen:?}");

    // A watch of one pool only; then its PE dies.
    let mut one = Events::open(http, "/api/v1/pools/lu/watch", &[]).await;
    assert_eq!(one.next().await.event, "ready");
    let victim = rr.pop().unwrap();
    let victim_id = victim.pe_id();
    victim.kill();
    let c = all.change("removed", &spec).await;
    assert_eq!(c["pe"], victim_id.0);
    assert_eq!(c["pool"], "rr");
    assert_eq!(c["reason"], "AssociationLost");
    let removed_id = c["id"].as_u64().unwrap();
    lu.kill();
    let c = all.change("removed", &spec).await;
    assert_eq!(c["pe"], lu_id.0);
    // The pool watch saw only its own pool's removal.
    let c = one.change("removed", &spec).await;
    assert_eq!(c["pe"], lu_id.0);
    assert_eq!(c["pool"], "lu");

    // Resuming after the first removal replays the second.
    let last = (removed_id).to_string();
    let mut resumed = Events::open(http, "/api/v1/watch", &[("last-event-id", &last)]).await;
    let ready = resumed.next().await;
    assert_eq!(ready.event, "ready");
    assert_eq!(
        serde_json::from_str::<Value>(&ready.data).unwrap()["reset"],
        false
    );
    let c = resumed.change("removed", &spec).await;
    assert_eq!(c["pe"], lu_id.0);
    assert_eq!(c["id"].as_u64().unwrap(), removed_id + 1);
    // The same with ?after= (for clients without the header).
    let mut resumed = Events::open(http, &format!("/api/v1/watch?after={removed_id}"), &[]).await;
    resumed.next().await;
    let c = resumed.change("removed", &spec).await;
    assert_eq!(c["pe"], lu_id.0);
    // A position from the future: the watcher must reload.
    let mut reset = Events::open(http, "/api/v1/watch?after=999999", &[]).await;
    let ready = reset.next().await;
    assert_eq!(
        serde_json::from_str::<Value>(&ready.data).unwrap()["reset"],
        true
    );

    // The PE's history: registered, then removed.
    let path = format!("/api/v1/pools/rr/elements/{}/history", victim_id.0);
    let a = get(http, &path).await;
    check_answer(&spec, "/api/v1/pools/{handle}/elements/{pe}/history", &a);
    let kinds: Vec<String> = a.json()["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("registered"));
    assert_eq!(kinds.last().map(String::as_str), Some("removed"));
    let hex = format!("/api/v1/pools/rr/elements/{:#x}/history", victim_id.0);
    assert_eq!(get(http, &hex).await.body, a.body);
    let a = get(http, "/api/v1/pools/rr/elements/nope/history").await;
    assert_eq!(a.status, 400);
    check_answer(&spec, "/api/v1/pools/{handle}/elements/{pe}/history", &a);

    // The pool list follows.
    let a = get(http, "/api/v1/pools").await;
    assert_eq!(
        a.json()["pools"],
        serde_json::json!([{"handle": "rr", "policy": "RoundRobin", "pool_elements": 2}])
    );

    // Health, readiness, metrics, the dashboard, unknown paths.
    let a = get(http, "/healthz").await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok\n"));
    let a = get(http, "/readyz").await;
    check_answer(&spec, "/readyz", &a);
    assert_eq!(a.json()["ready"], true);
    let a = get(http, "/metrics").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "text/plain; version=0.0.4");
    assert!(
        a.body.contains("\nrserpool_pool_elements 2\n"),
        "{}",
        a.body
    );
    let a = get(http, "/").await;
    assert_eq!(a.status, 200);
    assert!(a.content_type.starts_with("text/html"));
    assert!(a.body.contains("/ui/app.js"));
    for asset in ["/ui/app.js", "/ui/style.css"] {
        let a = get(http, asset).await;
        assert_eq!(a.status, 200, "{asset}");
        assert!(!a.body.is_empty(), "{asset}");
    }
    let a = get(http, "/api/v2/nothing").await;
    assert_eq!(a.status, 404);
    assert!(a.json()["error"].is_string());

    drop(rr);
    r.stop().await.unwrap();
}

/// Every path the description names is served, and every JSON answer
/// path is one the description names.
#[tokio::test]
async fn every_described_path_is_served() {
    let r = registrar(3).await;
    let http = r.http_addr().unwrap();
    let _pe = pool_element("p", Policy::RoundRobin, r.asap_addrs()[0]).await;
    let spec: Value = serde_json::from_str(rserpool::http::OPENAPI).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    assert!(paths.len() >= 10, "{}", paths.len());
    for (template, item) in paths {
        let path = template
            .replace("{handle}", "p")
            .replace("{pe}", &_pe.pe_id().0.to_string());
        let resp = get_streaming(http, &path, &[]).await;
        let status = resp.status().as_u16();
        assert_eq!(status, 200, "{template}");
        let responses = &item["get"]["responses"]["200"]["content"];
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        let described = responses
            .as_object()
            .unwrap()
            .keys()
            .any(|k| ct.starts_with(k.as_str()));
        assert!(described, "{template}: {ct} not described");
    }
    r.stop().await.unwrap();
}

/// Watches are limited; a closed one frees its place.
#[tokio::test]
async fn watches_are_bounded() {
    let r = registrar(3).await;
    let http = r.http_addr().unwrap();
    let mut open = Vec::new();
    for _ in 0..rserpool::http::MAX_WATCHES {
        let mut w = Events::open(http, "/api/v1/watch", &[]).await;
        assert_eq!(w.next().await.event, "ready");
        open.push(w);
    }
    let a = get(http, "/api/v1/watch").await;
    assert_eq!(a.status, 503);
    assert!(a.json()["error"].is_string());
    // The API itself still answers.
    assert_eq!(get(http, "/api/v1/scope").await.status, 200);
    open.pop();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let resp = get_streaming(http, "/api/v1/watch", &[]).await;
        if resp.status() == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "place not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    r.stop().await.unwrap();
}
