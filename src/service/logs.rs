//! Reading runs as they happen: a run's events (replayed, then live), the run-change feed
//! of dashboards, the raw log and the log's tail.

use std::sync::Arc;

use conveyor_core::dto::{LogLine, RunSummary};
use conveyor_core::run::Event;
use futures::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{Service, ServiceError, ServiceResult};
use crate::hub::Hub;
use crate::store::{Store, StoreError};

/// Events read from the store per query when replaying.
const REPLAY_PAGE: u32 = 2000;

/// A run's events as a reader follows them, and its step names (by index) to show them with.
pub struct Following<S> {
    pub names: Vec<String>,
    pub events: S,
}

impl Service {
    /// The last `limit` lines of a run's log, numbered as the log viewer numbers them (none
    /// for an unknown run: the run page reads the run itself first, and 404s there).
    pub async fn log_tail(&self, id: i64, limit: u32) -> ServiceResult<Vec<LogLine>> {
        Ok(self.store.log_tail(id, limit).await?)
    }

    /// The run's log as plain text (every step's lines prefixed by its name, or one step's
    /// alone), produced page by page.
    pub async fn raw_log(
        &self,
        id: i64,
        step: Option<&str>,
    ) -> ServiceResult<impl Stream<Item = Result<String, StoreError>>> {
        let steps = self.store.steps(id).await?;
        if steps.is_empty() && self.store.run(id).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no run with id {id}")));
        }
        let only = match step {
            Some(name) => Some(
                steps
                    .iter()
                    .find(|s| s.name == name)
                    .map(|s| s.index)
                    .ok_or_else(|| {
                        ServiceError::NotFound(format!("run {id} has no step \"{name}\""))
                    })?,
            ),
            None => None,
        };
        let names: Vec<String> = steps.into_iter().map(|s| s.name).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        let store = self.store.clone();
        Ok(futures::stream::try_unfold(Some(0i64), move |after| {
            let (store, names) = (store.clone(), names.clone());
            async move {
                let Some(after) = after else { return Ok(None) };
                let lines = store.log_lines(id, only, after, REPLAY_PAGE).await?;
                let Some(last) = lines.last().map(|l| l.0) else {
                    return Ok(None);
                };
                let mut text = String::new();
                for (_, step, line, partial) in &lines {
                    if only.is_none() {
                        let name = names.get(*step).map_or("", String::as_str);
                        text.push_str(&format!("{name:<width$} | "));
                    }
                    text.push_str(line);
                    if !*partial {
                        text.push('\n');
                    }
                }
                Ok(Some((text, Some(last))))
            }
        }))
    }

    /// Runs as they are created and change status, for live dashboards: `None` means the
    /// feed fell behind and the reader should reload. Ends when the server shuts down.
    pub fn watch_runs(&self) -> impl Stream<Item = Option<RunSummary>> {
        let (tx, rx) = mpsc::channel(64);
        let store = self.store.clone();
        if let Some(mut changes) = self.hub.watch_changes() {
            tokio::spawn(async move {
                loop {
                    let received = tokio::select! {
                        received = changes.recv() => received,
                        _ = tx.closed() => return,
                    };
                    let item = match received {
                        Ok(id) => match store.run(id).await {
                            Ok(Some(run)) => Some(run),
                            Ok(None) => continue,
                            Err(err) => {
                                tracing::warn!(run = id, error = %err, "could not read a changed run");
                                None
                            }
                        },
                        Err(broadcast::error::RecvError::Lagged(_)) => None,
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    if tx.send(item).await.is_err() {
                        return;
                    }
                }
            });
        }
        ReceiverStream::new(rx)
    }

    /// The run's events after `after`: a replay of what is stored, then, while the run is
    /// live, what happens next. Ends after the run's final event.
    pub async fn follow(
        &self,
        id: i64,
        after: i64,
    ) -> ServiceResult<Following<impl Stream<Item = Event>>> {
        self.run_summary(id).await?;
        let names = self
            .store
            .steps(id)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let (tx, rx) = mpsc::channel(256);
        // Subscribing before reading the store means an event is either in the store read or
        // in the subscription (or both, and then skipped by seq): no gap, no duplicate.
        let live = self.hub.subscribe(id);
        tokio::spawn(stream_events(
            self.store.clone(),
            self.hub.clone(),
            id,
            after,
            live,
            tx,
        ));
        Ok(Following {
            names,
            events: ReceiverStream::new(rx),
        })
    }
}

/// Feeds one follower: store replay, then live events, re-reading the store after a lag.
async fn stream_events(
    store: Store,
    hub: Arc<Hub>,
    run_id: i64,
    mut after: i64,
    mut live: Option<broadcast::Receiver<Arc<Event>>>,
    tx: mpsc::Sender<Event>,
) {
    loop {
        loop {
            let page = match store.events_after(run_id, after, REPLAY_PAGE).await {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(run = run_id, error = %err, "could not replay run events");
                    return;
                }
            };
            if page.is_empty() {
                break;
            }
            for event in page {
                after = event.seq;
                let end = event.is_end();
                if tx.send(event).await.is_err() || end {
                    return;
                }
            }
        }
        let Some(receiver) = live.as_mut() else {
            return;
        };
        loop {
            let received = tokio::select! {
                received = receiver.recv() => received,
                _ = tx.closed() => return,
            };
            match received {
                Ok(event) if event.seq <= after => continue,
                Ok(event) => {
                    after = event.seq;
                    let event = Arc::unwrap_or_clone(event);
                    let end = event.is_end();
                    if tx.send(event).await.is_err() || end {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    live = hub.subscribe(run_id);
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    live = None;
                    break;
                }
            }
        }
    }
}
