//! The watch: changes of the handlespace (or of one pool) as
//! Server-Sent Events.
//!
//! Each change is one `message` event whose id is its position; a watcher
//! that reconnects with `Last-Event-ID` (browsers do so by themselves) or
//! `?after=N` gets what it missed from the kept history. The stream
//! starts with a `ready` event: `{"last": N, "reset": bool}`; `reset`
//! says the position asked for is no longer kept, so the watcher must
//! reload the state it shows. A watcher that falls more than
//! [`WATCH_BUFFER`](super::hub::WATCH_BUFFER) changes behind gets a
//! `lagged` event and the stream ends; it may resume from its position.

use super::api::{AppState, error, last_event_id};
use super::hub::{Answer, Query};
use super::views::ChangeView;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use rserpool_proto::wire::PoolHandle;
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// A comment this often keeps proxies and the idle timeout content.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `?after=N`: resume after change N (as `Last-Event-ID`).
#[derive(Debug, Deserialize)]
pub struct WatchParams {
    after: Option<u64>,
}

/// `GET /api/v1/watch`
pub async fn watch_all(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(p): axum::extract::Query<WatchParams>,
) -> Response {
    watch(s, headers, p, None).await
}

/// `GET /api/v1/pools/{handle}/watch`
pub async fn watch_pool(
    State(s): State<AppState>,
    Path(h): Path<String>,
    headers: HeaderMap,
    axum::extract::Query(p): axum::extract::Query<WatchParams>,
) -> Response {
    watch(s, headers, p, Some(PoolHandle::new(h.into_bytes()))).await
}

async fn watch(
    s: AppState,
    headers: HeaderMap,
    p: WatchParams,
    pool: Option<PoolHandle>,
) -> Response {
    let Ok(permit) = s.watches.clone().try_acquire_owned() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "too many watches");
    };
    let after = last_event_id(&headers).or(p.after);
    let Some(Answer::Watch(start)) = s.ask(Query::Watch { after }).await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the registrar did not answer in time",
        );
    };
    let ready = serde_json::json!({ "last": start.last, "reset": start.reset }).to_string();
    let mut first = Event::default().event("ready").data(ready);
    if after.is_none() || start.reset {
        // A fresh watcher's position: reconnecting resumes from here.
        first = first.id(start.last.to_string());
    }
    let mut pending: VecDeque<Event> = VecDeque::from([first]);
    pending.extend(
        start
            .backlog
            .iter()
            .filter(|c| wanted(c, pool.as_ref()))
            .map(|c| message(c)),
    );
    let state = Watch {
        pending,
        changes: start.changes,
        pool,
        done: false,
        _permit: permit,
    };
    let stream = stream::unfold(state, |mut w| async move {
        let e = w.next().await?;
        Some((Ok::<_, Infallible>(e), w))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// One watcher's stream state.
struct Watch {
    pending: VecDeque<Event>,
    changes: Receiver<Arc<ChangeView>>,
    pool: Option<PoolHandle>,
    done: bool,
    /// Counts against the watch limit while the stream lives.
    _permit: OwnedSemaphorePermit,
}

impl Watch {
    async fn next(&mut self) -> Option<Event> {
        if let Some(e) = self.pending.pop_front() {
            return Some(e);
        }
        if self.done {
            return None;
        }
        loop {
            match self.changes.recv().await {
                Ok(c) if wanted(&c, self.pool.as_ref()) => return Some(message(&c)),
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    self.done = true;
                    return Some(Event::default().event("lagged").data(n.to_string()));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

fn wanted(c: &ChangeView, pool: Option<&PoolHandle>) -> bool {
    pool.is_none_or(|p| c.handle.as_ref() == Some(p))
}

fn message(c: &ChangeView) -> Event {
    let data = serde_json::to_string(c).unwrap_or_default();
    Event::default().id(c.id.to_string()).data(data)
}
