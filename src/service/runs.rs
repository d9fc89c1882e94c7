//! Runs: start one (resolving its steps once), re-run one, re-run its failed steps, list,
//! read, cancel, approve or refuse a step, delete a pipeline's runs.

use std::sync::Arc;

use conveyor_core::access::Principal;
use conveyor_core::audit::AuditAction;

use conveyor_core::checkout::with_checkout;
use conveyor_core::definition::{Concurrency, Params, Pipeline, Problem};
use conveyor_core::dto::{RunDetail, RunPage, RunSummary, RunsQuery};
use conveyor_core::params::{check_param_names, run_params};
use conveyor_core::plan::Plan;
use conveyor_core::resolve::ResolvedRun;
use conveyor_core::run::{is_valid_tag, RunStatus, Start, StepStatus, Trigger, TAG_RULE};

use super::begin::Begin;
use super::{stored, to_json, Service, ServiceError, ServiceResult};
use crate::engine::{Control, RegistryAccess, Retry};
use crate::store::{Audit, NewRun, NewStep, PipelineRow, StoreError};
use crate::supervisor::ReleasePlan;

/// A run about to be created.
pub(super) struct Launch<'a> {
    pub row: &'a PipelineRow,
    pub version: i64,
    /// The definition it runs (a workflow's may differ from the stored one: same steps,
    /// other programs).
    pub pipeline: &'a Pipeline,
    pub plan: Plan,
    pub tag: &'a str,
    pub params: Params,
    pub start: Start,
    /// The account a cluster runs its steps as (a workflow's own).
    pub service_account: Option<String>,
    pub registry: Option<RegistryAccess>,
    /// A workflow's deploy, recorded as a release when the run ends.
    pub release: Option<ReleasePlan>,
    /// A re-run of another run's failed steps, and that run's resolved steps.
    pub retry: Option<(Retry, ResolvedRun)>,
    /// Whether it waits for the pipeline's runs in flight, cancels them, or is refused.
    pub concurrency: Concurrency,
}

impl Service {
    /// Starts a run of the pipeline's latest version with an image tag and params.
    pub async fn start_run(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        params: Params,
        start: Start,
    ) -> ServiceResult<RunSummary> {
        let (row, version) = self.pipeline_row(name).await?;
        // A workflow run needs its account, credentials and manifest, whichever way it starts.
        if let Some(sealed) = self.store.workflow_credentials(row.id).await? {
            return self
                .launch_workflow(&row, &version, &sealed, tag, params, start)
                .await;
        }
        let (pipeline, plan) = stored(&version)?;
        let launch = Launch {
            row: &row,
            version: version.version,
            pipeline: &pipeline,
            plan,
            tag,
            params,
            start,
            service_account: None,
            registry: None,
            release: None,
            retry: None,
            concurrency: pipeline.concurrency.unwrap_or_default(),
        };
        self.launch(launch).await
    }

    /// Checks a run's tag and params, records it with its resolved steps, and hands it to
    /// its engine and a supervisor.
    pub(super) async fn launch(self: &Arc<Self>, launch: Launch<'_>) -> ServiceResult<RunSummary> {
        let Launch {
            row,
            version,
            pipeline,
            plan,
            tag,
            params,
            start,
            service_account,
            registry,
            release,
            retry,
            concurrency,
        } = launch;
        // The catalog's actions its steps name, as they are now: one deleted since the
        // version was saved, or params its rules refuse, stop the run here.
        let mut attached = pipeline.clone();
        if !self.attach_catalog(&mut attached).await?.is_empty()
            || !attached.catalog_references().is_empty()
        {
            conveyor_core::plan::plan(&attached).map_err(ServiceError::Invalid)?;
        }
        let pipeline = &attached;
        let mut problems = Vec::new();
        if !is_valid_tag(tag) {
            problems.push(Problem::new(
                "tag",
                format!("\"{tag}\" is not a valid image tag: {TAG_RULE}"),
            ));
        }
        check_param_names("params", &params, &mut problems);
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let missing =
            conveyor_core::params::check_action_params(pipeline, Some(&run_params(&params, tag)));
        if !missing.is_empty() {
            return Err(ServiceError::Invalid(missing));
        }
        let engine = self.engine_for(pipeline)?;
        let (retry, resolved) = match retry {
            Some((retry, resolved)) => (Some(retry), resolved),
            None => {
                let resolved = ResolvedRun::resolve(pipeline, plan, tag, &params);
                let mut resolved = match &pipeline.repository {
                    Some(repo) => with_checkout(resolved, repo, start.commit.as_ref()),
                    None => resolved,
                };
                if start.commit.as_ref().is_some_and(|c| c.from_fork) {
                    // Someone else's code: none of the pipeline's secrets.
                    for step in &mut resolved.steps {
                        step.secrets.clear();
                    }
                }
                (None, resolved)
            }
        };
        Self::check_engine(engine.as_ref(), pipeline, &resolved, true)?;
        // Opened before anything is recorded: a secret gone since the definition was saved
        // stops the run here.
        let secrets = Arc::new(self.secrets.for_run(&resolved).await?);
        let steps = new_steps(&resolved, retry.as_ref());
        let release_plan = release.as_ref().map(to_json).transpose()?;
        let new_run = NewRun {
            pipeline_id: row.id,
            version,
            tag,
            params: &params,
            engine: engine.kind(),
            trigger: start.trigger,
            started_by: start.by.as_deref(),
            resolved: &to_json(&resolved)?,
            concurrency,
            commit: start.commit.as_ref(),
            release_plan: release_plan.as_deref(),
        };
        let run = match self.store.create_run(&new_run, &steps).await {
            Ok(run) => run,
            Err(StoreError::ActiveRun) => {
                let active = self.latest_run(row.id).await?;
                let which = active
                    .map(|r| format!(" (#{}, {})", r.number, r.status))
                    .unwrap_or_default();
                return Err(ServiceError::Conflict(format!(
                    "pipeline \"{}\" already has a run in flight{which}; wait for it to end or cancel it",
                    row.name
                )));
            }
            Err(err) => return Err(err.into()),
        };
        self.metrics.run_started(start.trigger);
        let target = format!("run {}", run.id);
        let detail = format!("{} #{} tag {tag} ({})", row.name, run.number, start.trigger);
        let entry = Audit::of(start.by.as_deref(), AuditAction::RunStart, &target).detail(&detail);
        self.audit(entry).await?;
        self.report_commit_status(run.id).await;
        if run.status == RunStatus::Queued {
            // Followers of the run page wait with it; the live feed shows it in line.
            self.hub.open(run.id);
            self.hub.announce(run.id);
            if concurrency == Concurrency::CancelPrevious {
                self.cancel_previous(&run, start.by.as_deref()).await?;
            }
            return Ok(run);
        }
        let begin = Begin {
            run,
            engine,
            resolved,
            secrets,
            service_account,
            registry,
            release,
            retry,
        };
        self.begin(begin).await
    }

    /// Starts a finished (or running) run again: its pipeline's latest version, with the
    /// same tag and params.
    pub async fn rerun(self: &Arc<Self>, id: i64, by: Option<&str>) -> ServiceResult<RunSummary> {
        let run = self.run_summary(id).await?;
        if run.trigger == Trigger::Rollback {
            return self.roll_back_again(&run, by).await;
        }
        let params = self.store.run_params(id).await?;
        let start = Start {
            trigger: Trigger::Rerun,
            by: by.map(str::to_owned),
            commit: run.commit.clone(),
        };
        self.start_run(&run.pipeline, &run.tag, params, start).await
    }

    /// Runs the steps of a finished run that did not succeed again, exactly as they were
    /// resolved (same version, tag and params); the steps that succeeded are taken over,
    /// with the run's workspace.
    pub async fn retry_failed(
        self: &Arc<Self>,
        id: i64,
        by: Option<&str>,
    ) -> ServiceResult<RunSummary> {
        let origin = self.run_summary(id).await?;
        if !origin.status.is_terminal() {
            return Err(ServiceError::Conflict(format!(
                "run #{} is still in flight; wait for it to end",
                origin.number
            )));
        }
        if origin.status == RunStatus::Succeeded {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "run",
                format!(
                    "every step of run #{} succeeded: nothing to re-run (Re-run runs it all again)",
                    origin.number
                ),
            )]));
        }
        let (row, _) = self.pipeline_row(&origin.pipeline).await?;
        if self.store.is_workflow(row.id).await? {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "run",
                "a workflow builds and deploys as one: re-run it whole",
            )]));
        }
        let version = self
            .store
            .version(row.id, origin.version)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "version {} of pipeline \"{}\"",
                    origin.version, origin.pipeline
                ))
            })?;
        let (pipeline, plan) = stored(&version)?;
        let params = self.store.run_params(id).await?;
        let resolved = self.resolved_of(id, &origin.tag).await?;
        let before = self.store.steps(id).await?;
        let reused = (0..plan.steps.len())
            .map(|step| {
                before
                    .get(step)
                    .is_some_and(|s| s.status == StepStatus::Succeeded)
            })
            .collect();
        let launch = Launch {
            row: &row,
            version: version.version,
            pipeline: &pipeline,
            plan,
            tag: &origin.tag,
            params,
            start: Start {
                trigger: Trigger::Rerun,
                by: by.map(str::to_owned),
                commit: origin.commit.clone(),
            },
            service_account: None,
            registry: None,
            release: None,
            retry: Some((
                Retry {
                    origin: id,
                    number: origin.number,
                    reused,
                },
                resolved,
            )),
            // It takes over its origin's workspace now, or not at all.
            concurrency: Concurrency::Refuse,
        };
        self.launch(launch).await
    }

    /// A page of runs (of one pipeline, or all), newest first. Bad dates and tags are
    /// refused with their place.
    pub async fn list_runs(
        &self,
        pipeline: Option<&str>,
        query: &RunsQuery,
    ) -> ServiceResult<RunPage> {
        let pipeline_id = match pipeline {
            Some(name) => Some(self.pipeline_row(name).await?.0.id),
            None => None,
        };
        let problems = query.problems();
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let (runs, next_before, next_after) = self.store.runs(pipeline_id, query).await?;
        Ok(RunPage {
            runs,
            next_before,
            next_after,
        })
    }

    pub(super) async fn run_summary(&self, id: i64) -> ServiceResult<RunSummary> {
        self.store
            .run(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no run with id {id}")))
    }

    pub async fn get_run(&self, id: i64) -> ServiceResult<RunDetail> {
        let run = self.run_summary(id).await?;
        let params = self.store.run_params(id).await?;
        let steps = self.store.steps(id).await?;
        let webhooks = self.store.deliveries(id).await?;
        let decisions = self.store.decisions(id).await?;
        let gates = if steps.iter().any(|s| s.approval) {
            let resolved = self.resolved_of(id, &run.tag).await?;
            steps
                .iter()
                .filter(|step| step.approval)
                .filter_map(|step| {
                    let rule = &resolved.steps.get(step.index)?.approval;
                    (*rule != Default::default()).then(|| (step.name.clone(), rule.clone()))
                })
                .collect()
        } else {
            Default::default()
        };
        let image = self.store.run_image(id).await?;
        Ok(RunDetail {
            run,
            params,
            steps,
            webhooks,
            decisions,
            gates,
            image,
        })
    }

    async fn control(&self, run: &RunSummary, control: Control) -> ServiceResult<()> {
        match self.controls.get(run.id) {
            Some(sender) if sender.send(control).await.is_ok() => Ok(()),
            _ => Err(ServiceError::Conflict(format!(
                "run {} is not in flight ({})",
                run.id, run.status
            ))),
        }
    }

    pub async fn cancel_run(&self, id: i64, by: &str) -> ServiceResult<()> {
        let run = self.run_summary(id).await?;
        if run.status.is_terminal() {
            return Err(ServiceError::Conflict(format!(
                "run {id} has already ended ({})",
                run.status
            )));
        }
        if !self.cancel_queued(id, Some(by)).await? {
            self.control(&run, Control::Cancel).await?;
        }
        let target = format!("run {id}");
        self.audit(Audit::of(Some(by), AuditAction::RunCancel, &target))
            .await
    }

    /// Approves or refuses a step that waits for approval, as `who`: one of its approvers,
    /// and with `four_eyes` not the person who started the run. Recorded with their name.
    pub async fn decide_step(
        &self,
        id: i64,
        step: &str,
        approve: bool,
        who: &Principal,
    ) -> ServiceResult<()> {
        let run = self.run_summary(id).await?;
        let steps = self.store.steps(id).await?;
        let state = steps
            .iter()
            .find(|s| s.name == step)
            .ok_or_else(|| ServiceError::NotFound(format!("run {id} has no step \"{step}\"")))?;
        if state.status != StepStatus::WaitingApproval {
            return Err(ServiceError::Conflict(format!(
                "step \"{step}\" is not waiting for approval (it is {})",
                state.status
            )));
        }
        let resolved = self.resolved_of(id, &run.tag).await?;
        let rule = resolved
            .steps
            .get(state.index)
            .map(|s| s.approval.clone())
            .unwrap_or_default();
        rule.may_decide(who, run.started_by.as_deref(), approve)
            .map_err(ServiceError::Forbidden)?;
        match self
            .store
            .record_decision(id, state.index, approve, &who.name)
            .await
        {
            Err(StoreError::Decided) => {
                return Err(ServiceError::Conflict(format!(
                    "step \"{step}\" was decided already"
                )))
            }
            other => other?,
        }
        let control = if approve {
            Control::Approve(state.index, who.name.clone())
        } else {
            Control::Refuse(state.index, who.name.clone())
        };
        if let Err(err) = self.control(&run, control).await {
            self.store.forget_decision(id, state.index).await?;
            return Err(err);
        }
        let target = format!("run {id}");
        let action = if approve {
            AuditAction::RunApprove
        } else {
            AuditAction::RunRefuse
        };
        let detail = format!("step {step}");
        self.audit(Audit::of(Some(&who.name), action, &target).detail(&detail))
            .await
    }

    /// Deletes all finished runs of a pipeline (seed 000's `emptytask`).
    pub async fn delete_runs(&self, name: &str, by: &str) -> ServiceResult<u64> {
        let (row, _) = self.pipeline_row(name).await?;
        let ids = self.store.run_ids(row.id).await?;
        match self.store.delete_runs(row.id).await {
            Err(StoreError::ActiveRun) => Err(ServiceError::Conflict(format!(
                "pipeline \"{name}\" has a run in flight; cancel it or wait for it to end first"
            ))),
            other => {
                let deleted = other?;
                // Their workspaces and cluster objects go too, beside the answer.
                let (engines, pipeline) = (self.engines.clone(), name.to_owned());
                tokio::spawn(async move {
                    for engine in engines.iter() {
                        engine.forget(&pipeline, &ids).await;
                    }
                });
                let detail = format!("{deleted} runs");
                let entry = Audit::of(Some(by), AuditAction::RunsDelete, name).detail(&detail);
                self.audit(entry).await?;
                Ok(deleted)
            }
        }
    }
}

/// The step rows of a new run; those a re-run takes over are on record as succeeded.
fn new_steps(resolved: &ResolvedRun, retry: Option<&Retry>) -> Vec<NewStep> {
    let plan = &resolved.plan;
    plan.steps
        .iter()
        .map(|s| NewStep {
            stage: plan.stages[s.stage].name.clone(),
            name: s.name.clone(),
            needs: s
                .needs
                .iter()
                .map(|&n| plan.steps[n].name.clone())
                .collect(),
            approval: s.approval,
            reused: retry
                .filter(|r| r.reused.get(s.index).copied().unwrap_or(false))
                .map(|r| format!("succeeded in run #{}; not run again", r.number)),
        })
        .collect()
}
