//! Searching every log, and the indexer that keeps the search index: it follows the runs
//! whose lines the index lacks (noted when a run's log is opened, and at start), indexing a
//! live run's lines as they gather and an ended run's rest, off the runs' own path.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use conveyor_core::definition::Problem;
use conveyor_core::search::{SearchPage, SearchQuery};

use super::{Service, ServiceError, ServiceResult};
use crate::store::Indexed;

/// Between two indexing passes while runs are pending.
const PASS: Duration = Duration::from_secs(1);
/// A live run's waiting lines are indexed, however few, every this many passes.
const FLUSH_EVERY: u32 = 3;

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
            let mut passes: HashMap<i64, u32> = HashMap::new();
            loop {
                let Some(live) = service.upgrade() else {
                    break;
                };
                if live.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let index = live.store.search_index();
                let pending = index.pending();
                passes.retain(|run, _| pending.contains(run));
                for run_id in pending {
                    let pass = passes.entry(run_id).or_default();
                    *pass += 1;
                    let flush = (*pass).is_multiple_of(FLUSH_EVERY);
                    loop {
                        match live.store.index_run(run_id, flush).await {
                            Ok(Indexed::More) => tokio::task::yield_now().await,
                            Ok(Indexed::Partly) => break,
                            Ok(Indexed::Complete | Indexed::Gone) => {
                                passes.remove(&run_id);
                                break;
                            }
                            Err(err) => {
                                tracing::warn!(run = run_id, error = %err, "could not index the run's log");
                                break;
                            }
                        }
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
