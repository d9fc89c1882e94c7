//! Every use case, in one place: REST handlers, server functions and the CLI call these.
//! The supervisor half of this module is the only writer of run state: it applies engine
//! events through the pure status transitions, persists them, then publishes them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::definition::{Params, Pipeline, Problem, Webhook};
use app::model::{
    day_start_ms, is_valid_tag, EventBody, PipelineDetail, PipelineSummary, PipelineVersion,
    RunDetail, RunEvent, RunPage, RunStatus, RunSummary, RunsQuery, StepState, StepStatus, Trigger,
    Validation, TAG_RULE,
};
use app::plan::{
    check_document, check_param_names, check_required_params, plan, run_params, step_definition,
    Plan,
};
use futures::Stream;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::task::TaskTracker;

use crate::cluster::Cluster;
use crate::engine::{
    Control, Engine, EngineError, EngineEvent, Engines, Progress, RegistryAccess, Retry, RunRequest,
};
use crate::hub::Hub;
use crate::secrets::SecretBox;
use crate::store::{now_ms, Batch, NewStep, PipelineRow, RunFilter, Store, StoreError};
use crate::webhooks::{Notice, WebhookConfig, Webhooks};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The input is well-formed but wrong; each problem names its place.
    #[error("{}", problems_text(.0))]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The cluster refused or could not be reached; nothing was changed here.
    #[error("{0}")]
    Cluster(String),
}

mod workflows;

pub use workflows::HostTools;

/// What a workflow adds to a run.
#[derive(Debug, Default)]
struct RunOptions {
    /// The account a cluster runs its steps as.
    service_account: Option<String>,
    registry: Option<RegistryAccess>,
    /// What runs in place of the stored definition (same steps, other programs).
    definition: Option<Pipeline>,
    trigger: Trigger,
    retry: Option<Retry>,
}

/// What workflows need besides the store: the key that seals their credentials, and the
/// cluster their objects go to (none on a server without one).
pub struct Workflows {
    pub secrets: SecretBox,
    pub cluster: Option<Cluster>,
    pub host: HostTools,
}

pub(crate) fn problems_text(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Finished runs per pipeline behind the dashboard's sparkline and success rate.
/// Events read from the store per query when replaying.
const REPLAY_PAGE: u32 = 2000;
/// Most events the supervisor persists in one transaction.
const BATCH_MAX: usize = 1024;
/// Why a run ends when its engine stops reporting before it finished.
const ENGINE_GONE: &str = "the engine stopped reporting on this run";
/// How long the supervisor gathers events before writing them: the most a live log lags.
const COMMIT_WINDOW: Duration = Duration::from_millis(4);

pub struct Service {
    store: Store,
    engines: Engines,
    hub: Arc<Hub>,
    controls: Mutex<HashMap<i64, mpsc::Sender<Control>>>,
    supervisors: TaskTracker,
    webhooks: Webhooks,
    deliveries: TaskTracker,
    workflows: Workflows,
}

impl Service {
    /// Builds the service and settles runs a previous process left in flight.
    pub async fn start(
        store: Store,
        engines: Engines,
        webhooks: WebhookConfig,
        workflows: Workflows,
    ) -> ServiceResult<Arc<Service>> {
        let deliveries = TaskTracker::new();
        let service = Arc::new(Service {
            webhooks: Webhooks::start(store.clone(), webhooks, deliveries.clone()),
            deliveries,
            store,
            engines,
            hub: Arc::new(Hub::default()),
            controls: Mutex::new(HashMap::new()),
            supervisors: TaskTracker::new(),
            workflows,
        });
        for run_id in service.store.unfinished_runs().await? {
            if !service.resume(run_id).await? {
                service.settle_interrupted(run_id).await?;
            }
        }
        Ok(service)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine runs go to unless their pipeline asks for another.
    pub fn default_engine(&self) -> &'static str {
        self.engines.default_engine().name()
    }

    /// The engine a pipeline's runs go to: its own choice, or the server's default.
    fn engine_for(&self, pipeline: &Pipeline) -> ServiceResult<Arc<dyn Engine>> {
        let Some(choice) = pipeline.engine else {
            return Ok(self.engines.default_engine().clone());
        };
        self.engines.named(choice.as_str()).cloned().ok_or_else(|| {
            ServiceError::Invalid(vec![Problem::new(
                "engine",
                format!(
                    "pipeline \"{}\" asks for the {} engine, which this server does not have (it has: {}); \
                     start the server with --kubeconfig (or --engine tekton) to add it",
                    pipeline.name,
                    choice.as_str(),
                    self.engines.names().join(", ")
                ),
            )])
        })
    }

    fn controls(&self) -> std::sync::MutexGuard<'_, HashMap<i64, mpsc::Sender<Control>>> {
        self.controls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends (local engine) or lets go of (Tekton: the cluster goes on running them) every
    /// run in flight, and waits (up to `grace` in all) for them to be recorded and for the
    /// webhook calls they caused.
    pub async fn shutdown(&self, grace: Duration) {
        self.hub.close_changes();
        let controls: Vec<_> = self.controls().values().cloned().collect();
        for control in controls {
            let _ = control.send(Control::Shutdown).await;
        }
        self.supervisors.close();
        self.deliveries.close();
        let _ = tokio::time::timeout(grace, async {
            self.supervisors.wait().await;
            self.deliveries.wait().await;
        })
        .await;
        for engine in self.engines.iter() {
            engine.shutdown().await;
        }
    }

    // ---- pipelines ----

    pub fn validate(&self, source: &str) -> Validation {
        Validation::of(source)
    }

    pub async fn list_pipelines(&self) -> ServiceResult<Vec<PipelineSummary>> {
        let mut recent = self
            .store
            .recent_runs(app::model::RECENT_RUNS as u32)
            .await?;
        Ok(self
            .store
            .pipelines()
            .await?
            .into_iter()
            .map(|(row, latest_run)| PipelineSummary {
                recent: recent.remove(&row.id).unwrap_or_default(),
                name: row.name,
                description: row.description,
                version: row.version,
                updated_at: row.updated_at,
                latest_run,
            })
            .collect())
    }

    async fn pipeline_row(&self, name: &str) -> ServiceResult<PipelineRow> {
        self.store
            .pipeline(name)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no pipeline named \"{name}\"")))
    }

    pub async fn get_pipeline(&self, name: &str) -> ServiceResult<PipelineDetail> {
        let row = self.pipeline_row(name).await?;
        let definition = stored_definition(&row.definition)?;
        let plan = stored_plan(&definition)?;
        let latest_run = self.latest_run(row.id).await?;
        let workflow = self.store.is_workflow(row.id).await?;
        Ok(PipelineDetail {
            workflow,
            name: row.name,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
            source: row.source,
            engine: definition
                .engine
                .map_or(self.default_engine(), |choice| choice.as_str())
                .to_owned(),
            definition,
            plan,
            latest_run,
        })
    }

    async fn latest_run(&self, pipeline_id: i64) -> ServiceResult<Option<RunSummary>> {
        let filter = RunFilter {
            pipeline_id: Some(pipeline_id),
            limit: 1,
            ..Default::default()
        };
        Ok(self.store.runs(&filter).await?.0.into_iter().next())
    }

    pub async fn create_pipeline(&self, source: &str) -> ServiceResult<PipelineDetail> {
        let (pipeline, _) = check_document(source).map_err(ServiceError::Invalid)?;
        let definition = definition_json(&pipeline)?;
        match self
            .store
            .create_pipeline(
                &pipeline.name,
                pipeline.description.as_deref(),
                source,
                &definition,
            )
            .await
        {
            Ok(_) => self.get_pipeline(&pipeline.name).await,
            Err(StoreError::PipelineExists(name)) => Err(ServiceError::Conflict(format!(
                "a pipeline named \"{name}\" already exists; save a new version of it instead"
            ))),
            Err(err) => Err(err.into()),
        }
    }

    /// Saves a new version; the name in the document must be the pipeline's own.
    pub async fn update_pipeline(&self, name: &str, source: &str) -> ServiceResult<PipelineDetail> {
        let row = self.pipeline_row(name).await?;
        self.refuse_workflow(&row, "edit").await?;
        let (pipeline, _) = check_document(source).map_err(ServiceError::Invalid)?;
        if pipeline.name != row.name {
            return Err(ServiceError::Invalid(vec![Problem::new(
                "name",
                format!(
                    "a pipeline's name cannot change: this is \"{}\", the document says \"{}\"",
                    row.name, pipeline.name
                ),
            )]));
        }
        let definition = definition_json(&pipeline)?;
        self.store
            .add_version(row.id, pipeline.description.as_deref(), source, &definition)
            .await?;
        self.get_pipeline(name).await
    }

    pub async fn delete_pipeline(&self, name: &str) -> ServiceResult<()> {
        let row = self.pipeline_row(name).await?;
        self.refuse_workflow(&row, "delete").await?;
        match self.store.delete_pipeline(row.id).await {
            Err(StoreError::ActiveRun) => Err(ServiceError::Conflict(format!(
                "pipeline \"{name}\" has a run in flight; cancel it before deleting the pipeline"
            ))),
            other => Ok(other?),
        }
    }

    pub async fn versions(&self, name: &str) -> ServiceResult<Vec<PipelineVersion>> {
        let row = self.pipeline_row(name).await?;
        Ok(self
            .store
            .versions(row.id)
            .await?
            .into_iter()
            .map(|v| PipelineVersion {
                version: v.version,
                created_at: v.created_at,
                source: v.source,
            })
            .collect())
    }

    pub async fn version(&self, name: &str, version: i64) -> ServiceResult<PipelineVersion> {
        let row = self.pipeline_row(name).await?;
        let v = self.store.version(row.id, version).await?.ok_or_else(|| {
            ServiceError::NotFound(format!("pipeline \"{name}\" has no version {version}"))
        })?;
        Ok(PipelineVersion {
            version: v.version,
            created_at: v.created_at,
            source: v.source,
        })
    }

    // ---- runs ----

    /// Starts a run of the pipeline's latest version with an image tag and params.
    pub async fn start_run(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        params: Params,
        trigger: Trigger,
    ) -> ServiceResult<RunSummary> {
        let row = self.pipeline_row(name).await?;
        // A workflow run needs its account, credentials and manifest, whichever way it starts.
        match self.store.workflow_credentials(row.id).await? {
            Some(sealed) => {
                self.launch_workflow(row, &sealed, tag, params, trigger)
                    .await
            }
            None => {
                self.start_run_with(
                    row,
                    tag,
                    params,
                    RunOptions {
                        trigger,
                        ..RunOptions::default()
                    },
                )
                .await
            }
        }
    }

    /// Starts a run of the pipeline in `row` (read once by the caller).
    async fn start_run_with(
        self: &Arc<Self>,
        row: PipelineRow,
        tag: &str,
        params: Params,
        options: RunOptions,
    ) -> ServiceResult<RunSummary> {
        let RunOptions {
            service_account,
            registry,
            definition,
            trigger,
            retry,
        } = options;
        let name = row.name.as_str();
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
        let pipeline = match definition {
            Some(pipeline) => pipeline,
            None => stored_definition(&row.definition)?,
        };
        let plan = stored_plan(&pipeline)?;
        let missing = check_required_params(&pipeline, &run_params(&params, tag));
        if !missing.is_empty() {
            return Err(ServiceError::Invalid(missing));
        }
        let engine = self.engine_for(&pipeline)?;
        let steps: Vec<NewStep> = plan
            .steps
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
                    .as_ref()
                    .filter(|r| r.reused.get(s.index).copied().unwrap_or(false))
                    .map(|r| format!("succeeded in run #{}; not run again", r.number)),
            })
            .collect();
        let run = match self
            .store
            .create_run(
                row.id,
                row.version,
                tag,
                &params,
                &steps,
                engine.name(),
                trigger,
            )
            .await
        {
            Ok(run) => run,
            Err(StoreError::ActiveRun) => {
                let active = self.latest_run(row.id).await?;
                let which = active
                    .map(|r| format!(" (#{}, {})", r.number, r.status))
                    .unwrap_or_default();
                return Err(ServiceError::Conflict(format!(
                    "pipeline \"{name}\" already has a run in flight{which}; wait for it to end or cancel it"
                )));
            }
            Err(err) => return Err(err.into()),
        };

        self.hub.open(run.id);
        self.hub.announce(run.id);
        let (events_tx, events_rx) = mpsc::channel(1024);
        let request = RunRequest {
            run_id: run.id,
            pipeline,
            plan: plan.clone(),
            tag: tag.to_owned(),
            params,
            service_account,
            registry,
            retry: retry.clone(),
        };
        let step_names: Vec<String> = plan.steps.iter().map(|s| s.name.clone()).collect();
        let hooks = RunHooks::new(&run, &request.pipeline, &plan);
        match engine.start(request, events_tx).await {
            Ok(control) => {
                self.controls().insert(run.id, control);
                let service = self.clone();
                let reused = retry.map(|r| r.reused).unwrap_or_default();
                self.supervisors.spawn(async move {
                    service
                        .supervise(run.id, step_names, reused, hooks, events_rx)
                        .await
                });
                Ok(run)
            }
            Err(err) => {
                tracing::error!(run = run.id, error = %err, "engine could not start the run");
                let mut supervisor = Supervisor::new(run.id, step_names, 0);
                supervisor.abandon(&format!(
                    "the {} engine could not start the run: {err}",
                    engine.name()
                ));
                self.commit(&mut supervisor).await?;
                self.hub.close(run.id);
                Ok(self.get_run(run.id).await?.run)
            }
        }
    }

    /// Runs the steps of a finished run that did not succeed again, with the same version,
    /// tag and params; the steps that succeeded are taken over, with the run's workspace.
    pub async fn retry_failed(self: &Arc<Self>, id: i64) -> ServiceResult<RunSummary> {
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
        let row = self.pipeline_row(&origin.pipeline).await?;
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
        let row = PipelineRow {
            version: version.version,
            source: version.source,
            definition: version.definition,
            ..row
        };
        let pipeline = stored_definition(&row.definition)?;
        let plan = stored_plan(&pipeline)?;
        let before = self.store.steps(id).await?;
        let reused = plan
            .steps
            .iter()
            .map(|s| {
                before
                    .iter()
                    .any(|b| b.name == s.name && b.status == StepStatus::Succeeded)
            })
            .collect();
        let params = self.store.run_params(id).await?;
        let options = RunOptions {
            trigger: Trigger::Rerun,
            retry: Some(Retry {
                origin: id,
                number: origin.number,
                reused,
            }),
            definition: Some(pipeline),
            ..RunOptions::default()
        };
        self.start_run_with(row, &origin.tag, params, options).await
    }

    /// A page of runs, newest first. Bad dates and tags are refused with their place.
    pub async fn list_runs(&self, query: &RunsQuery) -> ServiceResult<RunPage> {
        let pipeline_id = match query.pipeline.as_deref().filter(|p| !p.is_empty()) {
            Some(name) => Some(self.pipeline_row(name).await?.id),
            None => None,
        };
        let mut problems = Vec::new();
        let mut day = |field: &str, value: &Option<String>, days_after: i64| match value
            .as_deref()
            .filter(|d| !d.is_empty())
        {
            None => None,
            Some(text) => match day_start_ms(text) {
                Some(ms) => Some(ms + days_after * 86_400_000),
                None => {
                    problems.push(Problem::new(
                        field,
                        format!("\"{text}\" is not a date like 2026-11-21"),
                    ));
                    None
                }
            },
        };
        let since = day("since", &query.since, 0);
        // `until` names the last day included.
        let until = day("until", &query.until, 1);
        let tag = query.tag.clone().filter(|t| !t.is_empty());
        if let Some(tag) = &tag {
            if !is_valid_tag(tag) {
                problems.push(Problem::new(
                    "tag",
                    format!("\"{tag}\" is not a valid image tag: {TAG_RULE}"),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(ServiceError::Invalid(problems));
        }
        let filter = RunFilter {
            pipeline_id,
            status: query.status,
            tag,
            since,
            until,
            trigger: query.trigger,
            before: query.before,
            limit: query.limit,
        };
        let (runs, next_before) = self.store.runs(&filter).await?;
        Ok(RunPage { runs, next_before })
    }

    async fn run_summary(&self, id: i64) -> ServiceResult<RunSummary> {
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
        Ok(RunDetail {
            run,
            params,
            steps,
            webhooks,
        })
    }

    async fn control(&self, run: &RunSummary, control: Control) -> ServiceResult<()> {
        let sender = self.controls().get(&run.id).cloned();
        match sender {
            Some(sender) if sender.send(control).await.is_ok() => Ok(()),
            _ => Err(ServiceError::Conflict(format!(
                "run {} is not in flight ({})",
                run.id, run.status
            ))),
        }
    }

    pub async fn cancel_run(&self, id: i64) -> ServiceResult<()> {
        let run = self.run_summary(id).await?;
        if run.status.is_terminal() {
            return Err(ServiceError::Conflict(format!(
                "run {id} has already ended ({})",
                run.status
            )));
        }
        self.control(&run, Control::Cancel).await
    }

    /// Approves or refuses a step that waits for approval.
    pub async fn decide_step(&self, id: i64, step: &str, approve: bool) -> ServiceResult<()> {
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
        let control = if approve {
            Control::Approve(state.index)
        } else {
            Control::Refuse(state.index)
        };
        self.control(&run, control).await
    }

    /// Deletes all finished runs of a pipeline (seed 000's `emptytask`).
    pub async fn delete_runs(&self, name: &str) -> ServiceResult<u64> {
        let row = self.pipeline_row(name).await?;
        match self.store.delete_runs(row.id).await {
            Err(StoreError::ActiveRun) => Err(ServiceError::Conflict(format!(
                "pipeline \"{name}\" has a run in flight; cancel it or wait for it to end first"
            ))),
            other => Ok(other?),
        }
    }

    /// The last `limit` lines of a run's log, numbered as the log viewer numbers them (none
    /// for an unknown run: the run page reads the run itself first, and 404s there).
    pub async fn log_tail(&self, id: i64, limit: u32) -> ServiceResult<Vec<app::model::LogLine>> {
        Ok(self.store.log_tail(id, limit).await?)
    }

    /// The run's log as plain text, produced page by page.
    pub async fn raw_log(
        &self,
        id: i64,
        step: Option<&str>,
    ) -> ServiceResult<impl Stream<Item = Result<String, StoreError>>> {
        let steps = self.store.steps(id).await?;
        if steps.is_empty() && self.store.run(id).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no run with id {id}")));
        }
        let step_index = match step {
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
        let width = steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
        let store = self.store.clone();
        Ok(futures::stream::try_unfold(Some(0i64), move |after| {
            let store = store.clone();
            async move {
                let Some(after) = after else { return Ok(None) };
                let lines = store.log_lines(id, step_index, after, REPLAY_PAGE).await?;
                let Some(last) = lines.last().map(|l| l.0) else {
                    return Ok(None);
                };
                let mut text = String::new();
                for (_, step, line, partial) in &lines {
                    if step_index.is_none() {
                        text.push_str(&format!("{step:<width$} | "));
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

    /// The run's events after `after`: a replay of what is stored, then, while the run is
    /// live, what happens next. Ends after the run's final event.
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

    pub async fn follow(&self, id: i64, after: i64) -> ServiceResult<impl Stream<Item = RunEvent>> {
        self.run_summary(id).await?;
        let (tx, rx) = mpsc::channel(256);
        let store = self.store.clone();
        // Subscribing before reading the store means an event is either in the store read or
        // in the subscription (or both, and then skipped by seq): no gap, no duplicate.
        let live = self.hub.subscribe(id);
        tokio::spawn(stream_events(store, self.hub.clone(), id, after, live, tx));
        Ok(ReceiverStream::new(rx))
    }

    // ---- supervision ----

    async fn supervise(
        self: Arc<Self>,
        run_id: i64,
        step_names: Vec<String>,
        reused: Vec<bool>,
        hooks: RunHooks,
        events: mpsc::Receiver<EngineEvent>,
    ) {
        let mut supervisor = Supervisor::new(run_id, step_names, 0);
        // Steps a retry takes over from the earlier run are on record as succeeded.
        for (status, reused) in supervisor.steps.iter_mut().zip(reused) {
            if reused {
                *status = StepStatus::Succeeded;
            }
        }
        supervisor.hooks = hooks;
        supervisor.set_run(RunStatus::Running, None);
        self.supervise_from(supervisor, events).await;
    }

    async fn supervise_from(
        self: Arc<Self>,
        mut supervisor: Supervisor,
        mut events: mpsc::Receiver<EngineEvent>,
    ) {
        let run_id = supervisor.run_id;
        loop {
            match events.recv().await {
                None => supervisor.abandon(ENGINE_GONE),
                Some(event) => {
                    supervisor.apply(event);
                    // Group commit: gather what arrives within a short window, so that a burst
                    // of small events costs one transaction instead of one each. The run's
                    // end and a full batch are written at once.
                    let deadline = tokio::time::Instant::now() + COMMIT_WINDOW;
                    while !supervisor.finished
                        && !supervisor.detached
                        && supervisor.batch.events.len() < BATCH_MAX
                    {
                        let next = match events.try_recv() {
                            Ok(event) => Some(event),
                            Err(mpsc::error::TryRecvError::Disconnected) => None,
                            Err(mpsc::error::TryRecvError::Empty) => tokio::select! {
                                next = events.recv() => next,
                                _ = tokio::time::sleep_until(deadline) => break,
                            },
                        };
                        match next {
                            Some(event) => supervisor.apply(event),
                            None => {
                                supervisor.abandon(ENGINE_GONE);
                                break;
                            }
                        }
                    }
                }
            }
            if let Err(err) = self.commit(&mut supervisor).await {
                // The run cannot be recorded any more; stop it rather than run unrecorded.
                tracing::error!(run = run_id, error = %err, "could not persist run events; cancelling the run");
                let control = self.controls().get(&run_id).cloned();
                if let Some(control) = control {
                    let _ = control.send(Control::Cancel).await;
                }
            }
            if supervisor.finished || supervisor.detached {
                break;
            }
        }
        self.controls().remove(&run_id);
        self.hub.close(run_id);
    }

    /// Persists what the supervisor gathered, then publishes it.
    async fn commit(&self, supervisor: &mut Supervisor) -> ServiceResult<()> {
        let batch = std::mem::take(&mut supervisor.batch);
        if batch.events.is_empty() && batch.run_status.is_none() {
            return Ok(());
        }
        self.store
            .append(supervisor.run_id, &supervisor.step_names, &batch)
            .await?;
        self.hub.publish(supervisor.run_id, batch.events);
        // Webhooks only hear of changes that are on record.
        for change in std::mem::take(&mut supervisor.notices) {
            for notice in
                supervisor
                    .hooks
                    .notices(supervisor.run_id, &supervisor.step_names, change)
            {
                self.webhooks.notify(notice);
            }
        }
        Ok(())
    }

    /// Hands a run a previous server process left in flight back to the engine, which
    /// picks it up if it can (its steps ran somewhere that outlived that process).
    async fn resume(self: &Arc<Self>, run_id: i64) -> ServiceResult<bool> {
        let run = self.run_summary(run_id).await?;
        let Some(engine) = self.engines.named(&run.engine).cloned() else {
            return Ok(false);
        };
        let (pipeline_id, version) = self.store.run_origin(run_id).await?;
        let stored = self
            .store
            .version(pipeline_id, version)
            .await?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("run {run_id} names a missing pipeline version"))
            })?;
        let pipeline = stored_definition(&stored.definition)?;
        let plan = stored_plan(&pipeline)?;
        let steps = self.store.steps(run_id).await?;
        if steps.len() != plan.steps.len() {
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
            steps: statuses.clone(),
            log_lines,
            cancel_requested: run.status == RunStatus::Cancelling,
        };
        let params = self.store.run_params(run_id).await?;
        let hooks = RunHooks::new(&run, &pipeline, &plan);
        // A workflow's pods run as its own account. Its registry access is not needed again:
        // a workflow has no approval gates, so a resumed run makes no new PipelineRun.
        let service_account = self
            .store
            .is_workflow(pipeline_id)
            .await?
            .then(|| pipeline.name.clone());
        let request = RunRequest {
            run_id,
            pipeline,
            plan,
            tag: run.tag.clone(),
            params,
            service_account,
            registry: None,
            retry: None,
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
        let mut supervisor = Supervisor::restore(&run, &steps, self.store.last_seq(run_id).await?);
        supervisor.hooks = hooks;
        tracing::info!(
            run = run_id,
            engine = engine.name(),
            "resumed a run left in flight by a previous server process"
        );
        self.hub.open(run_id);
        self.controls().insert(run_id, control);
        let service = self.clone();
        self.supervisors
            .spawn(async move { service.supervise_from(supervisor, events_rx).await });
        Ok(true)
    }

    /// A run that a previous server process left in flight cannot be followed any more:
    /// its unfinished steps and the run itself are ended, with the reason recorded.
    async fn settle_interrupted(&self, run_id: i64) -> ServiceResult<()> {
        let run = self.run_summary(run_id).await?;
        let steps = self.store.steps(run_id).await?;
        let mut supervisor = Supervisor::restore(&run, &steps, self.store.last_seq(run_id).await?);
        supervisor.abandon("the server stopped while this run was in flight");
        tracing::warn!(
            run = run_id,
            "settled a run left in flight by a previous server process"
        );
        self.commit(&mut supervisor).await
    }
}

fn is_end(event: &RunEvent) -> bool {
    matches!(event.body, EventBody::Run { status, .. } if status.is_terminal())
}

/// Feeds one follower: store replay, then live events, re-reading the store after a lag.
async fn stream_events(
    store: Store,
    hub: Arc<Hub>,
    run_id: i64,
    mut after: i64,
    mut live: Option<broadcast::Receiver<Arc<RunEvent>>>,
    tx: mpsc::Sender<RunEvent>,
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
                let end = is_end(&event);
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
                    let end = is_end(&event);
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

/// The state of one run as its supervisor knows it; every change goes through the pure
/// transitions in `app::model` and becomes an event in `batch`.
struct Supervisor {
    run_id: i64,
    step_names: Vec<String>,
    steps: Vec<StepStatus>,
    run: RunStatus,
    cancel_requested: bool,
    seq: i64,
    batch: Batch,
    finished: bool,
    /// The engine let go of the run without ending it; a later process resumes it.
    detached: bool,
    hooks: RunHooks,
    /// Step changes some webhook listens for, to announce once they are committed.
    notices: Vec<StepChange>,
}

/// A step status change, as webhooks are told of it.
struct StepChange {
    step: usize,
    status: StepStatus,
    exit_code: Option<i32>,
    message: Option<String>,
    at: i64,
}

/// The webhooks of a run's steps, and what their calls say about the run.
#[derive(Default)]
struct RunHooks {
    pipeline: String,
    run_number: i64,
    tag: String,
    /// Per step (plan order): its stage name and its webhooks.
    steps: Vec<(String, Vec<Webhook>)>,
}

impl RunHooks {
    fn new(run: &RunSummary, pipeline: &Pipeline, plan: &Plan) -> RunHooks {
        let steps = (0..plan.steps.len())
            .map(|index| {
                let stage = plan.stages[plan.steps[index].stage].name.clone();
                let hooks = step_definition(pipeline, plan, index)
                    .map(|s| s.webhooks.clone())
                    .unwrap_or_default();
                (stage, hooks)
            })
            .collect();
        RunHooks {
            pipeline: run.pipeline.clone(),
            run_number: run.number,
            tag: run.tag.clone(),
            steps,
        }
    }

    fn listens(&self, step: usize, status: StepStatus) -> bool {
        let Some(event) = status.webhook_event() else {
            return false;
        };
        self.steps
            .get(step)
            .is_some_and(|(_, hooks)| hooks.iter().any(|h| h.events.iter().any(|e| e == event)))
    }

    /// The calls one change makes: one per webhook that listens for it.
    fn notices(&self, run_id: i64, step_names: &[String], change: StepChange) -> Vec<Notice> {
        let (Some(event), Some((stage, hooks)), Some(name)) = (
            change.status.webhook_event(),
            self.steps.get(change.step),
            step_names.get(change.step),
        ) else {
            return Vec::new();
        };
        let payload = serde_json::json!({
            "event": event,
            "text": format!("{} #{} ({}): step {name} {}", self.pipeline, self.run_number, self.tag, change.status),
            "pipeline": self.pipeline,
            "run": {"id": run_id, "number": self.run_number, "tag": self.tag},
            "step": {
                "name": name,
                "stage": stage,
                "status": change.status,
                "exit_code": change.exit_code,
                "message": change.message,
            },
            "at": change.at,
        });
        hooks
            .iter()
            .filter(|hook| hook.events.iter().any(|e| e == event))
            .map(|hook| Notice {
                run_id,
                step: name.clone(),
                event,
                url: hook.url.clone(),
                payload: payload.clone(),
            })
            .collect()
    }
}

impl Supervisor {
    fn new(run_id: i64, step_names: Vec<String>, last_seq: i64) -> Self {
        Supervisor {
            run_id,
            steps: vec![StepStatus::Pending; step_names.len()],
            step_names,
            run: RunStatus::Pending,
            cancel_requested: false,
            seq: last_seq,
            batch: Batch::default(),
            finished: false,
            detached: false,
            hooks: RunHooks::default(),
            notices: Vec::new(),
        }
    }

    /// A supervisor for a run on record, taking up where its events end.
    fn restore(run: &RunSummary, steps: &[StepState], last_seq: i64) -> Self {
        let mut supervisor = Supervisor::new(
            run.id,
            steps.iter().map(|s| s.name.clone()).collect(),
            last_seq,
        );
        supervisor.steps = steps.iter().map(|s| s.status).collect();
        supervisor.run = run.status;
        supervisor.cancel_requested = run.status == RunStatus::Cancelling;
        supervisor
    }

    fn push(&mut self, body: EventBody) {
        self.seq += 1;
        self.batch.events.push(RunEvent {
            seq: self.seq,
            ts: now_ms(),
            body,
        });
    }

    fn set_run(&mut self, to: RunStatus, message: Option<String>) {
        if to == self.run {
            return;
        }
        match self.run.transition(to) {
            Ok(to) => {
                self.run = to;
                self.push(EventBody::Run {
                    status: to,
                    message: message.clone(),
                });
                self.batch.run_status = Some((to, message));
            }
            Err(err) => {
                tracing::warn!(run = self.run_id, error = %err, "ignored run status change")
            }
        }
    }

    fn set_step(
        &mut self,
        step: usize,
        to: StepStatus,
        exit_code: Option<i32>,
        message: Option<String>,
    ) {
        let Some(&from) = self.steps.get(step) else {
            tracing::warn!(run = self.run_id, step, "event for an unknown step");
            return;
        };
        match from.transition(to) {
            Ok(to) => {
                self.steps[step] = to;
                if self.hooks.listens(step, to) {
                    self.notices.push(StepChange {
                        step,
                        status: to,
                        exit_code,
                        message: message.clone(),
                        at: now_ms(),
                    });
                }
                let name = self.step_names[step].clone();
                self.push(EventBody::Step {
                    step: name,
                    status: to,
                    exit_code,
                    message,
                });
            }
            Err(err) => {
                tracing::warn!(run = self.run_id, step, error = %err, "ignored step status change")
            }
        }
    }

    /// Folds one engine event in; each change of the run's status is recorded on its own,
    /// even when several arrive in one batch.
    fn apply(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Log {
                step,
                stream,
                text,
                partial,
            } => match self.step_names.get(step) {
                Some(name) => {
                    let step = name.clone();
                    self.push(EventBody::Log {
                        step,
                        stream,
                        text,
                        partial,
                    });
                }
                None => tracing::warn!(run = self.run_id, step, "log line for an unknown step"),
            },
            EngineEvent::Step {
                step,
                status,
                exit_code,
                message,
            } => {
                self.set_step(step, status, exit_code, message);
                self.refresh_run();
            }
            EngineEvent::Cancelling => {
                self.cancel_requested = true;
                self.refresh_run();
            }
            EngineEvent::Finished => {
                self.finished = true;
                self.refresh_run();
            }
            EngineEvent::Detached => self.detached = true,
        }
    }

    /// Brings the run status in line with the steps.
    fn refresh_run(&mut self) {
        if self.finished {
            let outcome = RunStatus::outcome(&self.steps, self.cancel_requested);
            let message = self.outcome_message(outcome);
            self.set_run(outcome, message);
        } else {
            let status = RunStatus::in_flight(&self.steps, self.cancel_requested);
            self.set_run(status, None);
        }
    }

    fn outcome_message(&self, outcome: RunStatus) -> Option<String> {
        let first = |wanted: StepStatus| {
            self.steps
                .iter()
                .position(|&s| s == wanted)
                .map(|i| self.step_names[i].clone())
        };
        match outcome {
            RunStatus::Failed => {
                first(StepStatus::Failed).map(|name| format!("step \"{name}\" failed"))
            }
            RunStatus::Refused => {
                first(StepStatus::Refused).map(|name| format!("step \"{name}\" was refused"))
            }
            RunStatus::Cancelled => Some("cancelled".into()),
            _ => None,
        }
    }

    /// Ends the run without its engine: unfinished steps are closed and the run fails
    /// (or, if a cancel was under way, is cancelled) with the reason given.
    fn abandon(&mut self, reason: &str) {
        for step in 0..self.steps.len() {
            let to = match self.steps[step] {
                StepStatus::Pending => StepStatus::Skipped,
                StepStatus::Running | StepStatus::WaitingApproval => StepStatus::Cancelled,
                _ => continue,
            };
            self.set_step(step, to, None, Some(reason.to_owned()));
        }
        self.finished = true;
        let outcome = if self.cancel_requested {
            RunStatus::Cancelled
        } else {
            RunStatus::Failed
        };
        self.set_run(outcome, Some(reason.to_owned()));
    }
}

fn stored_definition(json: &str) -> ServiceResult<Pipeline> {
    serde_json::from_str(json)
        .map_err(|err| StoreError::Corrupt(format!("stored definition: {err}")).into())
}

fn stored_plan(pipeline: &Pipeline) -> ServiceResult<Plan> {
    plan(pipeline).map_err(|problems| {
        StoreError::Corrupt(format!("stored definition: {}", problems_text(&problems))).into()
    })
}

fn definition_json(pipeline: &Pipeline) -> ServiceResult<String> {
    serde_json::to_string(pipeline)
        .map_err(|err| StoreError::Corrupt(format!("definition: {err}")).into())
}
