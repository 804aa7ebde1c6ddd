//! Routes and handlers: each handler asks the registrar task one
//! [`Query`] and turns the [`Answer`] into JSON.

use super::hub::{Answer, Call, MAX_LIMIT, Query};
use super::views::ErrorView;
use super::{ANSWER_TIMEOUT, Channels, MAX_WATCHES, sse};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rserpool_proto::wire::{PeId, PoolHandle};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::{Semaphore, oneshot};

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");
const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    channels: Channels,
    pub(super) watches: Arc<Semaphore>,
}

impl AppState {
    pub fn new(channels: Channels) -> AppState {
        AppState {
            channels,
            watches: Arc::new(Semaphore::new(MAX_WATCHES)),
        }
    }

    /// Asks the registrar task; None when it does not answer in time.
    pub(super) async fn ask(&self, query: Query) -> Option<Answer> {
        let (reply, rx) = oneshot::channel();
        let call = Call { query, reply };
        tokio::time::timeout(ANSWER_TIMEOUT, async {
            self.channels.calls.send(call).await.ok()?;
            rx.await.ok()
        })
        .await
        .ok()
        .flatten()
    }
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/ui/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route(
            "/openapi.json",
            get(|| async { asset("application/json", OPENAPI) }),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/api/v1/scope", get(scope))
        .route("/api/v1/pools", get(pools))
        .route("/api/v1/pools/{handle}", get(pool))
        .route("/api/v1/pools/{handle}/resolve", get(resolve))
        .route("/api/v1/pools/{handle}/elements/{pe}/history", get(history))
        .route("/api/v1/pools/{handle}/watch", get(sse::watch_pool))
        .route("/api/v1/watch", get(sse::watch_all))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such resource") })
        .with_state(state)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A JSON error answer.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(ErrorView {
            error: message.to_string(),
        }),
    )
        .into_response()
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the registrar did not answer in time",
    )
}

fn json<T: serde::Serialize>(v: T) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let (tx, rx) = oneshot::channel();
    let body = tokio::time::timeout(ANSWER_TIMEOUT, async {
        s.channels.metrics.send(tx).await.ok()?;
        rx.await.ok()
    })
    .await
    .ok()
    .flatten();
    match body {
        Some(body) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response(),
        None => unavailable(),
    }
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.ask(Query::Ready).await {
        Some(Answer::Ready { synchronised }) => json(serde_json::json!({
            "ready": true,
            "synchronised": synchronised,
        })),
        _ => unavailable(),
    }
}

async fn scope(State(s): State<AppState>) -> Response {
    match s.ask(Query::Scope).await {
        Some(Answer::Scope(v)) => json(v),
        _ => unavailable(),
    }
}

/// `?limit=N`: most entries in a list.
#[derive(Debug, Deserialize)]
pub struct LimitParams {
    limit: Option<usize>,
}

impl LimitParams {
    fn get(&self) -> usize {
        self.limit.unwrap_or(1000).min(MAX_LIMIT)
    }
}

async fn pools(
    State(s): State<AppState>,
    axum::extract::Query(p): axum::extract::Query<LimitParams>,
) -> Response {
    match s.ask(Query::Pools { limit: p.get() }).await {
        Some(Answer::Pools(v)) => json(v),
        _ => unavailable(),
    }
}

/// A pool handle from a path segment (percent-decoded by the router).
fn handle(raw: &str) -> PoolHandle {
    PoolHandle::new(raw.as_bytes().to_vec())
}

fn unknown_pool() -> Response {
    error(StatusCode::NOT_FOUND, "unknown pool handle")
}

async fn pool(
    State(s): State<AppState>,
    Path(h): Path<String>,
    axum::extract::Query(p): axum::extract::Query<LimitParams>,
) -> Response {
    let query = Query::Pool {
        handle: handle(&h),
        limit: p.get(),
    };
    match s.ask(query).await {
        Some(Answer::Pool(Some(v))) => json(v),
        Some(Answer::Pool(None)) => unknown_pool(),
        _ => unavailable(),
    }
}

/// `?items=N`: how many PEs the client wants (as ASAP's Handle
/// Resolution option; capped at MaxHResItems, 0 or absent for the most).
#[derive(Debug, Deserialize)]
pub struct ResolveParams {
    items: Option<u32>,
}

async fn resolve(
    State(s): State<AppState>,
    Path(h): Path<String>,
    axum::extract::Query(p): axum::extract::Query<ResolveParams>,
) -> Response {
    let query = Query::Resolve {
        handle: handle(&h),
        items: p.items,
    };
    match s.ask(query).await {
        Some(Answer::Resolve(Some(v))) => json(v),
        Some(Answer::Resolve(None)) => unknown_pool(),
        _ => unavailable(),
    }
}

/// A PE ID in decimal or with `0x` in hex.
fn pe_id(raw: &str) -> Option<PeId> {
    let n = match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => raw.parse().ok()?,
    };
    Some(PeId(n))
}

async fn history(State(s): State<AppState>, Path((h, pe)): Path<(String, String)>) -> Response {
    let Some(pe) = pe_id(&pe) else {
        return error(StatusCode::BAD_REQUEST, "bad PE identifier");
    };
    match s
        .ask(Query::History {
            handle: handle(&h),
            pe,
        })
        .await
    {
        Some(Answer::History(v)) => json(v),
        _ => unavailable(),
    }
}

/// The `Last-Event-ID` header of a resuming watcher.
pub(super) fn last_event_id(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pe_ids_in_decimal_and_hex() {
        assert_eq!(pe_id("42"), Some(PeId(42)));
        assert_eq!(pe_id("0x2a"), Some(PeId(42)));
        assert_eq!(pe_id("0xffffffff"), Some(PeId(u32::MAX)));
        assert_eq!(pe_id("0x1ffffffff"), None);
        assert_eq!(pe_id("-1"), None);
        assert_eq!(pe_id(""), None);
    }

    #[test]
    fn the_openapi_description_is_json() {
        let v: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(v["openapi"].as_str().map(|s| &s[..2]), Some("3."));
    }
}
