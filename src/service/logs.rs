//! Reading runs as they happen: a run's events (replayed, then live), the run-change feed
//! of dashboards, the raw log and the log's tail.

use std::sync::Arc;

use conveyor_core::dto::{LogLine, RunSummary};
use futures::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::{Service, ServiceError, ServiceResult};
use crate::store::logs::read::Take;
use crate::store::logs::{Layout, LogItem};
use crate::store::{Store, StoreError};

/// Text per page of the raw log.
const RAW_PAGE: usize = 256 * 1024;
/// Lines per event-stream read (about; at least one line).
const PAGE_BYTES: usize = 256 * 1024;
/// Lines per read while the run writes, one read per [`LIVE_EVERY`].
const LIVE_PAGE_BYTES: usize = 32 * 1024;
/// How often a live follower is sent what was committed since it last read.
pub const LIVE_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

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
    /// alone), or with `json` as JSON Lines (a [`LogLine`] each), produced page by page
    /// from the log store.
    pub async fn raw_log(
        &self,
        id: i64,
        step: Option<&str>,
        json: bool,
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
        let names: Arc<Vec<String>> = Arc::new(steps.into_iter().map(|s| s.name).collect());
        let width = names.iter().map(String::len).max().unwrap_or(0);
        let scan = self.store.log_scan(id, only).await?;
        Ok(futures::stream::try_unfold(Some(scan), move |scan| {
            let names = names.clone();
            async move {
                let Some(mut scan) = scan else {
                    return Ok(None);
                };
                let (scan, text) = tokio::task::spawn_blocking(move || {
                    let mut text = String::with_capacity(RAW_PAGE + 1024);
                    let done = scan.visit(|hit| {
                        if json {
                            let line = LogLine {
                                seq: hit.record.seq,
                                step: names.get(hit.step).cloned().unwrap_or_default(),
                                number: hit.number as usize,
                                stream: hit.record.stream,
                                text: hit.text(),
                            };
                            if let Ok(line) = serde_json::to_string(&line) {
                                text.push_str(&line);
                                text.push('\n');
                            }
                        } else if only.is_none() {
                            let name = names.get(hit.step).map_or("", String::as_str);
                            text.push_str(name);
                            text.extend(std::iter::repeat_n(' ', width - name.len()));
                            text.push_str(" | ");
                        }
                        if !json {
                            text.push_str(&String::from_utf8_lossy(hit.text));
                            if !hit.record.partial {
                                text.push('\n');
                            }
                        }
                        if text.len() >= RAW_PAGE {
                            Take::Last
                        } else {
                            Take::More
                        }
                    })?;
                    Ok::<_, StoreError>(((!done).then_some(scan), text))
                })
                .await
                .map_err(|err| StoreError::Corrupt(format!("reading a log failed: {err}")))??;
                if text.is_empty() {
                    return Ok(None);
                }
                Ok(Some((text, scan)))
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

    /// The run's events and log lines after `after`: what is stored, then, while the run is
    /// live, what is committed next, in batches at most every [`LIVE_EVERY`]. Ends after the
    /// run's final event.
    pub async fn follow(
        &self,
        id: i64,
        after: i64,
    ) -> ServiceResult<Following<impl Stream<Item = LogItem>>> {
        self.run_summary(id).await?;
        let names = self
            .store
            .steps(id)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let (tx, rx) = mpsc::channel(16);
        // Subscribing before reading the store: what is committed later is announced.
        let live = self.hub.subscribe(id);
        tokio::spawn(stream_items(self.store.clone(), id, after, live, tx));
        Ok(Following {
            names,
            events: ReceiverStream::new(rx),
        })
    }
}

/// Feeds one follower from the store: everything up to what is committed, page by page,
/// then waits for more while the run is live (no more often than every [`LIVE_EVERY`], so
/// that a burst of lines goes out in few events, whatever the number of followers).
async fn stream_items(
    store: Store,
    run_id: i64,
    mut after: i64,
    mut live: Option<crate::hub::Following>,
    tx: mpsc::Sender<LogItem>,
) {
    let mut stored: Option<(i64, Layout)> = None;
    // Where this follower is in each step's segment, from one read to the next.
    let mut scan = None;
    loop {
        let read_at = tokio::time::Instant::now();
        let (upto, layout, last_event) = match &mut live {
            Some(committed) => {
                let committed = committed.borrow_and_update().clone();
                let known = (committed.last_event > 0).then_some(committed.last_event);
                (committed.seq, Layout::clone(&committed.layout), known)
            }
            None => match &stored {
                Some((upto, layout)) => (*upto, layout.clone(), None),
                None => {
                    let read = async {
                        Ok::<_, StoreError>((
                            store.last_seq(run_id).await?,
                            store.log_layout(run_id).await?,
                        ))
                    };
                    match read.await {
                        Ok(read) => {
                            let (upto, layout) = stored.insert(read).clone();
                            (upto, layout, None)
                        }
                        Err(err) => {
                            tracing::warn!(run = run_id, error = %err, "could not read the run's log");
                            return;
                        }
                    }
                }
            },
        };
        // While the run writes, one page per tick: followers of a fast step fall behind and
        // catch up once it ends, instead of taking the machine from it.
        let paced = live.is_some();
        while after < upto {
            let budget = if paced { LIVE_PAGE_BYTES } else { PAGE_BYTES };
            let (items, read_to) = match store
                .items_after(
                    run_id,
                    &layout,
                    (after, upto),
                    last_event,
                    budget,
                    &mut scan,
                )
                .await
            {
                Ok(read) => read,
                Err(err) => {
                    tracing::warn!(run = run_id, error = %err, "could not read the run's log");
                    return;
                }
            };
            after = read_to;
            for item in items {
                let end = matches!(&item, LogItem::Event(event) if event.is_end());
                if tx.send(item).await.is_err() || end {
                    return;
                }
            }
            if paced {
                break;
            }
        }
        let Some(committed) = live.as_mut() else {
            return;
        };
        if after >= upto {
            tokio::select! {
                changed = committed.changed() => if changed.is_err() {
                    // The run's fan-out closed: what is left is on record.
                    live = None;
                    continue;
                },
                _ = tx.closed() => return,
            }
        } else if committed.has_changed().is_err() {
            live = None;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(read_at + LIVE_EVERY) => {}
            _ = tx.closed() => return,
        }
    }
}
