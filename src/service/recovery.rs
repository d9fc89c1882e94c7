//! Runs a previous server process left in flight: picked up again by an engine whose steps
//! outlived that process (Tekton), or ended with the reason on record.

use std::sync::Arc;

use conveyor_core::resolve::ResolvedRun;
use conveyor_core::run::{RunStatus, StepStatus};
use conveyor_core::schedule::Progress;
use tokio::sync::mpsc;

use super::{stored, Service, ServiceResult};
use crate::engine::RunRequest;
use crate::store::StoreError;
use crate::supervisor::{RunHooks, RunState};

impl Service {
    /// Puts the log store in order, then settles every run a previous server process left
    /// in flight; the logs of ended runs not compressed yet are compressed in the background.
    pub(super) async fn recover(self: &Arc<Self>) -> ServiceResult<()> {
        let mut unpacked = self.store.tidy_logs().await?;
        for run_id in self.store.unfinished_runs().await? {
            if !self.resume(run_id).await? {
                self.settle_interrupted(run_id).await?;
                unpacked.push(run_id);
            }
        }
        for run_id in unpacked {
            self.supervision.pack(run_id);
        }
        // Runs that ended under an earlier version (or whose count a stop interrupted)
        // join the dashboard's aggregates.
        if let Err(err) = self.store.count_ended_runs().await {
            // The panel lags; the server still starts.
            tracing::warn!(error = %err, "could not count ended runs into the dashboard's aggregates");
        }
        Ok(())
    }

    /// Hands a run a previous server process left in flight back to the engine, which
    /// picks it up if it can (its steps ran somewhere that outlived that process).
    async fn resume(self: &Arc<Self>, run_id: i64) -> ServiceResult<bool> {
        let run = self.run_summary(run_id).await?;
        let Some(engine) = run
            .engine
            .parse()
            .ok()
            .and_then(|kind| self.engines.get(kind))
            .cloned()
        else {
            return Ok(false);
        };
        let resolved = self.resolved_of(run_id, &run.tag).await?;
        let steps = self.store.steps(run_id).await?;
        if steps.len() != resolved.steps.len() {
            return Ok(false);
        }
        let (log_lines, waited) = self.store.step_progress(run_id, steps.len()).await?;
        let statuses: Vec<StepStatus> = steps.iter().map(|s| s.status).collect();
        let progress = Progress {
            approved: waited
                .iter()
                .zip(&statuses)
                .map(|(&w, &s)| w && s != StepStatus::WaitingApproval)
                .collect(),
            steps: statuses,
            log_lines,
            cancel_requested: run.status == RunStatus::Cancelling,
        };
        // A workflow's pods run as its own account. Its registry access is not needed again:
        // a workflow has no approval gates, so a resumed run makes no new PipelineRun.
        let (pipeline_id, _, _) = self.store.run_origin(run_id).await?;
        let workflow = self.store.is_workflow(pipeline_id).await?;
        let service_account = workflow.then(|| resolved.pipeline.clone());
        // What it pushes and deploys, recorded (the image by digest, the release) at its end.
        let (image, release) = if workflow {
            let image = self.resumed_image(&run, pipeline_id).await.unwrap_or_else(|err| {
                tracing::warn!(run = run_id, error = %err, "a resumed workflow run will record no pushed image");
                None
            });
            let release = self.resumed_release(&run).await.unwrap_or_else(|err| {
                tracing::warn!(run = run_id, error = %err, "a resumed workflow run will record no release");
                None
            });
            (image, release)
        } else {
            (None, None)
        };
        // Its steps run with the secrets they were given; their values are needed again to
        // mask what they print from here on.
        let secrets = match self.secrets.for_run(&resolved).await {
            Ok(secrets) => secrets,
            Err(err) => {
                tracing::warn!(run = run_id, error = %err, "a secret of a resumed run is gone: its value cannot be masked");
                Default::default()
            }
        };
        let hooks = RunHooks::new(&run, &resolved, &secrets);
        let request = RunRequest {
            run_id,
            tag: run.tag.clone(),
            resolved: Arc::new(resolved),
            service_account,
            registry: None,
            retry: None,
            secrets: Arc::new(secrets),
        };
        let (events_tx, events_rx) = mpsc::channel(1024);
        let control = match engine.resume(request, progress, events_tx).await {
            Ok(Some(control)) => control,
            Ok(None) => return Ok(false),
            Err(err) => {
                tracing::error!(run = run_id, error = %err, "could not resume a run left in flight");
                return Ok(false);
            }
        };
        let mut state = RunState::restore(&run, &steps, self.store.last_seq(run_id).await?, hooks);
        // The deploy's last words so far: why it failed, or that it had begun when cancelled.
        if let Some(step) = release
            .as_ref()
            .and_then(|plan| steps.iter().position(|s| s.name == plan.step))
        {
            state.deploy_said = self.store.last_words(run_id, step).await.unwrap_or_else(|err| {
                tracing::warn!(run = run_id, error = %err, "could not read what a resumed run's deploy step said");
                None
            });
        }
        state.image = image;
        state.release = release;
        tracing::info!(
            run = run_id,
            engine = %engine.kind(),
            "resumed a run left in flight by a previous server process"
        );
        self.hub.open(run_id);
        self.supervision.spawn(state, control, events_rx);
        Ok(true)
    }

    /// A run's steps as resolved when it started (a run from before they were kept is
    /// resolved again from its version, the same way).
    pub(super) async fn resolved_of(&self, run_id: i64, tag: &str) -> ServiceResult<ResolvedRun> {
        let (pipeline_id, version, resolved) = self.store.run_origin(run_id).await?;
        let corrupt =
            |what: String| StoreError::Corrupt(format!("run {run_id}'s resolved steps: {what}"));
        if let Some(json) = resolved {
            let resolved: ResolvedRun =
                serde_json::from_str(&json).map_err(|err| corrupt(err.to_string()))?;
            if resolved.steps.len() != resolved.plan.steps.len() {
                return Err(corrupt(format!(
                    "{} resolved for {} planned",
                    resolved.steps.len(),
                    resolved.plan.steps.len()
                ))
                .into());
            }
            return Ok(resolved);
        }
        let stored_version = self
            .store
            .version(pipeline_id, version)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("run {run_id} names a missing pipeline version"))
            })?;
        let (pipeline, plan) = stored(&stored_version)?;
        let params = self.store.run_params(run_id).await?;
        Ok(ResolvedRun::resolve(&pipeline, plan, tag, &params))
    }

    /// A run that a previous server process left in flight cannot be followed any more:
    /// its unfinished steps and the run itself are ended, with the reason recorded.
    async fn settle_interrupted(&self, run_id: i64) -> ServiceResult<()> {
        let run = self.run_summary(run_id).await?;
        let steps = self.store.steps(run_id).await?;
        let last_seq = self.store.last_seq(run_id).await?;
        let mut state = RunState::restore(&run, &steps, last_seq, RunHooks::default());
        state.abandon("the server stopped while this run was in flight");
        tracing::warn!(
            run = run_id,
            "settled a run left in flight by a previous server process"
        );
        Ok(self.supervision.commit_unstarted(&mut state).await?)
    }
}
