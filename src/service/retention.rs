//! Retention: each pipeline keeps its last N finished runs and/or those of its last D days
//! (its own `retention`, else the server's), and always its latest successful run. Pruning
//! runs beside everything else, in small batches, each its own short statement, and takes
//! the runs' events, steps, webhook records, decisions, kept workspaces and cluster objects
//! with them, then gives the space back.

use std::sync::{Arc, Weak};
use std::time::Duration;

use conveyor_core::audit::AuditAction;
use conveyor_core::definition::Retention;

use super::{stored, Service, ServiceResult};
use crate::store::{now_ms, Audit};

/// Runs deleted per transaction: writers wait for at most one small batch.
const BATCH: u32 = 100;

/// How the server prunes.
#[derive(Debug, Clone)]
pub struct Pruning {
    /// The policy of pipelines that have none; none: they keep every run.
    pub default: Option<Retention>,
    /// Between two passes.
    pub every: Duration,
}

impl Service {
    /// Prunes every pipeline's runs by its policy now; how many runs went.
    pub async fn prune_runs(&self, pruning: &Pruning) -> ServiceResult<u64> {
        let mut total = 0;
        for (row, _) in self.store.pipelines().await? {
            let Some((_, version)) = self.store.pipeline(&row.name).await? else {
                continue;
            };
            let Ok((pipeline, _)) = stored(&version) else {
                continue;
            };
            let Some(policy) = pipeline.retention.or(pruning.default) else {
                continue;
            };
            let before = policy
                .days
                .map(|days| now_ms() - i64::from(days) * 24 * 3600 * 1000);
            let mut pruned = 0;
            loop {
                let ids = self
                    .store
                    .prunable_runs(row.id, policy.runs, before, BATCH)
                    .await?;
                if ids.is_empty() {
                    break;
                }
                pruned += self.store.delete_finished_runs(&ids).await?;
                for engine in self.engines.iter() {
                    engine.forget(&row.name, &ids).await;
                }
                if ids.len() < BATCH as usize {
                    break;
                }
                // Let the writers that waited go first.
                tokio::task::yield_now().await;
            }
            if pruned > 0 {
                tracing::info!(
                    pipeline = row.name,
                    pruned,
                    "pruned runs by the retention policy"
                );
                let detail = format!("{pruned} runs pruned by the retention policy");
                self.audit(Audit::of(None, AuditAction::RunsPrune, &row.name).detail(&detail))
                    .await?;
                total += pruned;
            }
        }
        if total > 0 {
            self.store.reclaim_space().await?;
        }
        Ok(total)
    }

    /// Prunes at start and then every `pruning.every`, for as long as the service lives.
    pub fn keep_pruning(self: &Arc<Self>, pruning: Pruning) {
        let service: Weak<Service> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(live) = service.upgrade() else {
                    break;
                };
                if live.stopping.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                if let Err(err) = live.prune_runs(&pruning).await {
                    tracing::error!(error = %err, "could not prune runs");
                }
                drop(live);
                tokio::time::sleep(pruning.every).await;
            }
        });
    }
}
