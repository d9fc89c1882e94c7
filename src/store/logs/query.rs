//! What the service asks of the log store: a run's events and lines after a sequence number
//! (for the event stream and its replay), the last lines of a run (the page's tail) and the
//! raw log, page by page.

use conveyor_core::dto::LogLine;
use conveyor_core::run::{Event, LogBatch};

use super::read::{moved, Batcher, From, Located, Scan, Take};
use super::{Layout, LogDir};
use crate::store::{Store, StoreResult};

/// Status events read per query when merging them with lines.
const EVENTS_PAGE: u32 = 1000;

/// An entry of a run's stream: a status event, or a batch of log lines.
#[derive(Debug, Clone, PartialEq)]
pub enum LogItem {
    Event(Event),
    Lines(LogBatch<usize>),
}

impl LogItem {
    pub fn first_seq(&self) -> i64 {
        match self {
            LogItem::Event(event) => event.seq,
            LogItem::Lines(batch) => batch.seq,
        }
    }

    pub fn last_seq(&self) -> i64 {
        match self {
            LogItem::Event(event) => event.seq,
            LogItem::Lines(batch) => batch.last_seq(),
        }
    }
}

/// Runs a blocking read of a run's log on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| crate::store::corrupt(format!("a log read failed: {err}")))?
}

impl Store {
    /// A run's events and log lines with sequences in `(after, upto]`, in order, about
    /// `budget` bytes of lines at most (at least one item when there is one); the sequence
    /// read up to (`after` again when there was nothing). `layout` is what is committed up
    /// to `upto` (the live layout of a running run, or the stored one); `last_event`, when
    /// known, the sequence of the run's last status event. `scan` carries the read position
    /// from one page to the next (a follower keeps it; `None` starts afresh at `after`).
    pub async fn items_after(
        &self,
        run_id: i64,
        layout: &Layout,
        (after, upto): (i64, i64),
        last_event: Option<i64>,
        budget: usize,
        scan: &mut Option<Scan>,
    ) -> StoreResult<(Vec<LogItem>, i64)> {
        // Without a status event past `after` (a follower of a live run knows), no query.
        let events = if last_event.is_some_and(|last| last <= after) {
            Vec::new()
        } else {
            self.events_after(run_id, after, upto, EVENTS_PAGE).await?
        };
        // With a full page of events, lines may go only as far as its last one.
        let bound = match events.last() {
            Some(last) if events.len() == EVENTS_PAGE as usize => last.seq,
            _ => upto,
        };
        let mut layout = layout.clone();
        let mut kept = scan.take();
        let (batches, read_to, kept_scan) = loop {
            let dir = self.logs.clone();
            let steps = layout.clone();
            let previous = kept.take();
            let read = blocking(move || {
                let mut scan = match previous {
                    Some(mut scan) => {
                        scan.extend(&dir, run_id, &steps, after)?;
                        scan
                    }
                    None => Scan::open(&dir, run_id, &steps, None, From::After(after))?,
                };
                let mut batcher = Batcher::default();
                let mut last = None;
                let done = scan.visit(|hit| {
                    if hit.record.seq > bound {
                        return Take::Stop;
                    }
                    batcher.push(hit);
                    last = Some(hit.record.seq);
                    if batcher.bytes >= budget {
                        Take::Last
                    } else {
                        Take::More
                    }
                })?;
                // Stopped by the budget: nothing past the last line is read yet.
                let read_to = match (done, last) {
                    (false, Some(last)) if batcher.bytes >= budget => last,
                    _ => bound,
                };
                Ok((batcher.batches, read_to, scan))
            })
            .await;
            match read {
                Err(err) if moved(&err) => layout = self.moved_layout(run_id, &layout).await?,
                other => break other?,
            }
        };
        *scan = Some(kept_scan);
        let mut items: Vec<LogItem> = events
            .into_iter()
            .filter(|e| e.seq <= read_to)
            .map(LogItem::Event)
            .chain(batches.into_iter().map(LogItem::Lines))
            .collect();
        items.sort_by_key(LogItem::first_seq);
        Ok((items, read_to.max(after)))
    }

    /// The last `limit` log lines of a run, oldest first, numbered within their steps.
    pub async fn log_tail(&self, run_id: i64, limit: u32) -> StoreResult<Vec<LogLine>> {
        let names: Vec<String> = self
            .steps(run_id)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        let lines = self
            .read_stored(run_id, move |dir, steps| {
                let mut lines = Vec::new();
                for step in 0..steps.len() {
                    let mut scan =
                        Scan::open(dir, run_id, steps, Some(step), From::Last(u64::from(limit)))?;
                    scan.visit(|hit| {
                        lines.push(Located {
                            seq: hit.record.seq,
                            step: hit.step,
                            number: hit.number,
                            stream: hit.record.stream,
                            text: hit.text(),
                        });
                        Take::More
                    })?;
                }
                lines.sort_by_key(|line| line.seq);
                let skip = lines.len().saturating_sub(limit as usize);
                Ok(lines.split_off(skip))
            })
            .await?;
        Ok(lines
            .into_iter()
            .map(|line| LogLine {
                seq: line.seq,
                step: names.get(line.step).cloned().unwrap_or_default(),
                number: line.number as usize,
                stream: line.stream,
                text: line.text,
            })
            .collect())
    }

    /// A step's last line that is not blank (among its last 20), if any.
    pub async fn last_words(&self, run_id: i64, step: usize) -> StoreResult<Option<String>> {
        self.read_stored(run_id, move |dir, steps| {
            let mut said = None;
            if step < steps.len() {
                let mut scan = Scan::open(dir, run_id, steps, Some(step), From::Last(20))?;
                scan.visit(|hit| {
                    let text = hit.text();
                    if !text.trim().is_empty() {
                        said = Some(text);
                    }
                    Take::More
                })?;
            }
            Ok(said)
        })
        .await
    }

    /// The layout to read again after a segment was not where `stale` says: only a step
    /// compressed meanwhile explains that; a segment that is simply gone is an error.
    async fn moved_layout(&self, run_id: i64, stale: &Layout) -> StoreResult<Layout> {
        let fresh = self.log_layout(run_id).await?;
        let packed_since = stale
            .iter()
            .zip(&fresh)
            .any(|(old, new)| old.packed.is_none() && new.packed.is_some());
        if packed_since {
            Ok(fresh)
        } else {
            Err(crate::store::corrupt(format!(
                "a log segment of run {run_id} is missing"
            )))
        }
    }

    /// A scan of a run's whole log (or one step's), for the raw log.
    pub async fn log_scan(&self, run_id: i64, only: Option<usize>) -> StoreResult<Scan> {
        self.read_stored(run_id, move |dir, steps| {
            Scan::open(dir, run_id, steps, only, From::After(0))
        })
        .await
    }

    /// Runs `read` on the blocking pool over the run's stored layout, once more with the
    /// layout read again if a segment was compressed meanwhile.
    pub(crate) async fn read_stored<T: Send + 'static>(
        &self,
        run_id: i64,
        read: impl Fn(&LogDir, &Layout) -> StoreResult<T> + Clone + Send + 'static,
    ) -> StoreResult<T> {
        let mut layout = self.log_layout(run_id).await?;
        loop {
            let (dir, steps, read) = (self.logs.clone(), layout.clone(), read.clone());
            match blocking(move || read(&dir, &steps)).await {
                Err(err) if moved(&err) => layout = self.moved_layout(run_id, &layout).await?,
                other => return other,
            }
        }
    }
}
