//! Runs that wait their turn: when a run ends, the oldest queued run of its pipeline starts;
//! at start, queues a previous process left behind move on; a queued run can be cancelled;
//! `cancel-previous` cancels the older runs of a branch.

use std::sync::{Arc, Weak};

use conveyor_core::audit::AuditAction;
use conveyor_core::dto::RunSummary;
use conveyor_core::run::RunStatus;
use tokio::sync::mpsc;

use super::begin::Begin;
use super::{Service, ServiceError, ServiceResult};
use crate::engine::Control;
use crate::store::Audit;
use crate::supervisor::{RunHooks, RunState};

impl Service {
    /// Moves the queues a previous process left, then keeps each pipeline's queue moving
    /// as its runs end (for as long as the service lives).
    pub(super) async fn keep_queues(
        self: &Arc<Self>,
        mut ended: mpsc::UnboundedReceiver<i64>,
    ) -> ServiceResult<()> {
        let queued = self.store.queued_runs().await?;
        // Their pages follow them live until they have run.
        for &(run_id, _) in &queued {
            self.hub.open(run_id);
        }
        let mut pipelines: Vec<i64> = queued.iter().map(|&(_, pipeline)| pipeline).collect();
        pipelines.sort_unstable();
        pipelines.dedup();
        for pipeline_id in pipelines {
            self.advance(pipeline_id).await?;
        }
        let service: Weak<Service> = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(run_id) = ended.recv().await {
                let Some(service) = service.upgrade() else {
                    break;
                };
                service.report_commit_status(run_id).await;
                if let Err(err) = service.advance_after(run_id).await {
                    tracing::error!(run = run_id, error = %err, "could not start the next queued run");
                }
            }
        });
        Ok(())
    }

    async fn advance_after(self: &Arc<Self>, run_id: i64) -> ServiceResult<()> {
        let (pipeline_id, _, _) = self.store.run_origin(run_id).await?;
        self.advance(pipeline_id).await
    }

    /// Starts the pipeline's oldest queued run when none of its runs is in flight. A run
    /// that cannot start (its secret is gone, its engine refuses it) ends with the reason,
    /// and the next one gets its turn.
    async fn advance(self: &Arc<Self>, pipeline_id: i64) -> ServiceResult<()> {
        let _turn = self.queue.lock().await;
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        while let Some(run_id) = self.store.take_queued(pipeline_id).await? {
            match self.start_queued(run_id).await {
                Ok(run) if run.status.is_terminal() => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(run = run_id, error = %err, "a queued run could not start");
                    self.end_unstarted(run_id, &format!("could not start: {err}"), false)
                        .await?;
                }
            }
        }
        Ok(())
    }

    async fn start_queued(self: &Arc<Self>, run_id: i64) -> ServiceResult<RunSummary> {
        let run = self.run_summary(run_id).await?;
        let resolved = self.resolved_of(run_id, &run.tag).await?;
        let engine = run
            .engine
            .parse()
            .ok()
            .and_then(|kind| self.engines.get(kind))
            .cloned()
            .ok_or_else(|| {
                ServiceError::Conflict(format!("this server has no {} engine", run.engine))
            })?;
        let secrets = Arc::new(self.secrets.for_run(&resolved).await?);
        let begin = Begin {
            run,
            engine,
            resolved,
            secrets,
            service_account: None,
            registry: None,
            release: None,
            retry: None,
        };
        self.begin(begin).await
    }

    /// Ends a run that never started (queued, or taken from the queue and refused): its
    /// steps are skipped and the run is cancelled or fails with `reason`.
    async fn end_unstarted(&self, run_id: i64, reason: &str, cancel: bool) -> ServiceResult<()> {
        let run = self.run_summary(run_id).await?;
        let steps = self.store.steps(run_id).await?;
        let last_seq = self.store.last_seq(run_id).await?;
        let mut state = RunState::restore(&run, &steps, last_seq, RunHooks::default());
        if cancel {
            state.request_cancel();
        }
        state.abandon(reason);
        self.supervision.commit_unstarted(&mut state).await?;
        self.hub.close(run_id);
        // It ended on record: its commit hears of it (and the queue moves on, if it can).
        self.supervision.ended(run_id);
        Ok(())
    }

    /// Cancels a queued run: it leaves the queue and never starts. `false` when it is not
    /// queued (any more).
    pub(super) async fn cancel_queued(&self, run_id: i64, by: Option<&str>) -> ServiceResult<bool> {
        let _turn = self.queue.lock().await;
        self.cancel_queued_in_turn(run_id, by).await
    }

    /// [`Service::cancel_queued`], with the queue's lock held by the caller.
    async fn cancel_queued_in_turn(&self, run_id: i64, by: Option<&str>) -> ServiceResult<bool> {
        if self.run_summary(run_id).await?.status != RunStatus::Queued {
            return Ok(false);
        }
        let reason = match by {
            Some(who) => format!("cancelled by {who} while queued"),
            None => "cancelled while queued".to_owned(),
        };
        self.end_unstarted(run_id, &reason, true).await?;
        Ok(true)
    }

    /// `cancel-previous`: the older runs of the new run's branch (a pull request's runs:
    /// of that pull request) are cancelled, those in flight through their engine and those
    /// queued at once. Under the queue's lock, so a run being started has its control.
    pub(super) async fn cancel_previous(
        &self,
        newer: &RunSummary,
        by: Option<&str>,
    ) -> ServiceResult<()> {
        let _turn = self.queue.lock().await;
        let (pipeline_id, _, _) = self.store.run_origin(newer.id).await?;
        let commit = newer.commit.as_ref();
        let branch = commit.and_then(|c| c.branch.as_deref());
        let pull_request = commit.and_then(|c| c.pull_request);
        let older = self
            .store
            .older_unfinished(pipeline_id, branch, pull_request, newer.id)
            .await?;
        for (run_id, status) in older {
            let cancelled = if status == RunStatus::Queued {
                self.cancel_queued_in_turn(run_id, by).await?
            } else {
                match self.controls.get(run_id) {
                    Some(control) => control.send(Control::Cancel).await.is_ok(),
                    None => false,
                }
            };
            if cancelled {
                let target = format!("run {run_id}");
                let detail = format!("superseded by run #{}", newer.number);
                let entry = Audit::of(by, AuditAction::RunCancel, &target).detail(&detail);
                self.store.record_audit(entry).await?;
            }
        }
        Ok(())
    }
}
