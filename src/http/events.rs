//! Server-sent events: a run's events (replayed, then live; resumable with
//! `Last-Event-ID`) and the run-change feed of dashboards. Steps are named here, at the edge.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use conveyor_core::run::LogBatch;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use crate::service::Service;
use crate::store::logs::LogItem;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this sequence number (the `Last-Event-ID` header wins when both are given).
    pub after: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), EventsQuery,
           ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    responses((status = 200, description = "Server-sent events: `logs` (a LogBatch: consecutive lines of one step, `id:` the last line's `seq`), `step`, `run`, and a final `end` with the run's outcome (a RunEvent, `id:` its `seq`). Lines are sent as they are committed, in batches at most every 50 ms while a run writes.", content_type = "text/event-stream", body = LogBatch),
              (status = 400, description = "Bad Last-Event-ID", body = ErrorBody),
              (status = 404, description = "No such run", body = ErrorBody)))]
pub(super) async fn run_events(
    State(service): State<Arc<Service>>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Last-Event-ID must be an event sequence number",
                    "Last-Event-ID",
                )
            })?,
        None => query.after.unwrap_or(0),
    };
    let following = service.follow(id, after).await?;
    let names = following.names;
    let watching = service.metrics().watching();
    let events = following.events.filter_map(move |item| {
        // Counted as a live client for as long as the stream is open.
        let _ = &watching;
        let event = match item {
            LogItem::Event(event) => event.named(&names).map(|event| {
                Event::default()
                    .id(event.seq.to_string())
                    .event(event.sse_name())
                    .data(serde_json::to_string(&event).unwrap_or_default())
            }),
            LogItem::Lines(batch) => names.get(batch.step).map(|name| {
                let batch = batch.with_step(name.as_str());
                Event::default()
                    .id(batch.last_seq().to_string())
                    .event("logs")
                    .data(serde_json::to_string(&batch).unwrap_or_default())
            }),
        };
        std::future::ready(event.map(Ok))
    });
    Ok(Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    ))
}

#[utoipa::path(get, path = "/api/v1/changes", tag = "runs",
    responses((status = 200, description = "Server-sent events: `ready` once subscribed (nothing after it is missed), then `run` (a RunSummary) whenever a run is created or changes status, and `resync` when the feed fell behind and the reader should reload", content_type = "text/event-stream")))]
pub(super) async fn run_changes(
    State(service): State<Arc<Service>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("ready")) });
    let watching = service.metrics().watching();
    let changes = service.watch_runs().map(move |change| {
        let _ = &watching;
        Ok(match change {
            Some(run) => Event::default()
                .event("run")
                .data(serde_json::to_string(&run).unwrap_or_default()),
            None => Event::default().event("resync").data("resync"),
        })
    });
    Sse::new(ready.chain(changes)).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    )
}
