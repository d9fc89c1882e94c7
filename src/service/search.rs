//! Searching every log, and the indexer that keeps the search index: it follows the runs
//! whose lines the index lacks (noted when a run's log is opened, and at start), indexing a
//! live run's lines as they gather and an ended run's rest, off the runs' own path.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use conveyor_core::definition::Problem;
use conveyor_core::search::{SearchPage, SearchQuery};

use super::{Service, ServiceError, ServiceResult};
use crate::store::Indexed;

/// Between two indexing passes while runs are pending and none had lines ready.
const PASS: Duration = Duration::from_millis(500);
/// A live run's waiting lines are indexed, however few, once its last lines were indexed
/// this long ago.
const FLUSH_AFTER: Duration = Duration::from_secs(3);
/// A run whose log could not be indexed is tried again after this, doubling each time up
/// to [`RETRY_MOST`].
const RETRY_FIRST: Duration = Duration::from_secs(2);
const RETRY_MOST: Duration = Duration::from_secs(600);

impl Service {
    /// A page of log lines that contain the query, newest run first. Without the index
    /// (`--search-index false`) only one run's log can be searched.
    pub async fn search(&self, query: &SearchQuery) -> ServiceResult<SearchPage> {
        let problems = query.filter_problems();
        if let Some(problem) = problems.first() {
            return Err(ServiceError::BadRequest(filter_message(problem)));
        }
        let problems = query.problems();
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        if query.run.is_none() && !self.store.search_index().is_enabled() {
            return Err(ServiceError::Conflict(
                "this server keeps no search index (--search-index false): search one run's log with \"run\""
                    .into(),
            ));
        }
        let pipeline_id = match &query.pipeline {
            Some(name) => Some(self.pipeline_row(name).await?.0.id),
            None => None,
        };
        if let Some(run) = query.run {
            self.run_summary(run).await?;
        }
        Ok(self.store.search_logs(query, pipeline_id).await?)
    }

    /// Starts the indexer (after noting the runs the index lacks), for as long as the
    /// service lives.
    pub async fn keep_index(self: &Arc<Self>) -> ServiceResult<()> {
        self.store.search_backlog().await?;
        self.store.search_index().enable();
        let service: Weak<Service> = Arc::downgrade(self);
        tokio::spawn(async move {
            // When each pending run last had lines indexed.
            let mut written: HashMap<i64, Instant> = HashMap::new();
            // Runs whose log could not be indexed: how often, and when to try again.
            let mut failed: HashMap<i64, (u32, Instant)> = HashMap::new();
            loop {
                let Some(live) = service.upgrade() else {
                    break;
                };
                if live.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let index = live.store.search_index();
                let pending = index.pending();
                written.retain(|run, _| pending.contains(run));
                failed.retain(|run, _| pending.contains(run));
                let mut wrote = false;
                for run_id in pending {
                    if failed
                        .get(&run_id)
                        .is_some_and(|(_, next)| Instant::now() < *next)
                    {
                        continue;
                    }
                    let last = *written.entry(run_id).or_insert_with(Instant::now);
                    let flush = last.elapsed() >= FLUSH_AFTER;
                    loop {
                        match live.store.index_run(run_id, flush).await {
                            Ok(Indexed::More) => {
                                wrote = true;
                                written.insert(run_id, Instant::now());
                                tokio::task::yield_now().await;
                            }
                            Ok(Indexed::Partly) => {
                                wrote = true;
                                written.insert(run_id, Instant::now());
                                break;
                            }
                            Ok(Indexed::Waiting) => break,
                            Ok(Indexed::Complete | Indexed::Gone) => {
                                wrote = true;
                                written.remove(&run_id);
                                break;
                            }
                            Err(err) => {
                                let (count, next) =
                                    failed.entry(run_id).or_insert((0, Instant::now()));
                                *count += 1;
                                let wait = RETRY_FIRST * 2u32.pow((*count - 1).min(8));
                                *next = Instant::now() + wait.min(RETRY_MOST);
                                tracing::warn!(run = run_id, error = %err, retry_in = ?wait.min(RETRY_MOST), "could not index the run's log");
                                break;
                            }
                        }
                    }
                    if failed
                        .get(&run_id)
                        .is_none_or(|(_, next)| *next <= Instant::now())
                    {
                        failed.remove(&run_id);
                    }
                }
                let idle = index.pending().is_empty();
                let store = live.store.clone();
                drop(live);
                if idle {
                    // Woken when a run is noted; now and then to see whether to stop.
                    let _ =
                        tokio::time::timeout(Duration::from_secs(5), store.search_index().noted())
                            .await;
                } else if wrote {
                    // Lines keep coming: another pass at once.
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(PASS).await;
                }
            }
        });
        Ok(())
    }
}

/// A filter in the wrong form, named.
fn filter_message(problem: &Problem) -> String {
    format!("{}: {}", problem.path, problem.message)
}
