//! Every use case, in one place: REST handlers, server functions and the CLI call these,
//! one file per family (pipelines, runs, logs and live streams, crash recovery,
//! workflows). Run state itself is the supervisor's.

mod accounts;
mod actions;
mod begin;
mod deploys;
mod forge;
mod health;
mod host;
mod logs;
mod pipelines;
mod queue;
mod recovery;
mod retention;
mod runs;
mod schedules;
mod search;
mod secrets;
mod sso;
mod stats;
mod statuses;
mod watches;
mod workflows;

use std::sync::Arc;
use std::time::Duration;

use conveyor_core::audit::{AuditPage, AuditQuery};
use conveyor_core::check::problems_text;
use conveyor_core::definition::{EngineKind, Pipeline, Problem};
use conveyor_core::plan::{plan, Plan};
use conveyor_core::resolve::ResolvedRun;
use tokio_util::task::TaskTracker;

use crate::cluster::Cluster;
use crate::engine::{Control, Engine, EngineError, Engines};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::notify::{WebhookConfig, Webhooks};
use crate::secrets::SecretBox;
use crate::store::{Audit, Store, StoreError, VersionRow};
use crate::supervisor::{Controls, Supervision};

pub use accounts::{
    initial_password_file, principal, token_lifetime, AccountSettings, Accounts, Credential,
    FIRST_ADMIN,
};
pub use forge::Received;
pub use host::HostTools;
pub use retention::Pruning;
pub use secrets::Secrets;
pub use sso::SsoSession;

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
    /// Who is asking is not known (a wrong password, an ended session, a bad token).
    #[error("{0}")]
    Unauthorized(String),
    /// Who is asking may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The input is larger than this use allows.
    #[error("{0}")]
    TooLarge(String),
    /// The input cannot be read at all (broken JSON, a missing header).
    #[error("{0}")]
    BadRequest(String),
    /// Too many failed sign-ins: try again after this many seconds.
    #[error("too many failed sign-ins for this account or address; try again in {0} s")]
    Throttled(u64),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// What workflows need besides the store: the key that seals their credentials, the cluster
/// their objects go to (none on a server without one), and this host's tools.
pub struct Workflows {
    pub secrets: SecretBox,
    pub cluster: Option<Cluster>,
    pub host: HostTools,
}

pub struct Service {
    /// What the server counts for Prometheus.
    metrics: Arc<Metrics>,
    store: Store,
    engines: Engines,
    hub: Arc<Hub>,
    controls: Arc<Controls>,
    supervision: Supervision,
    deliveries: TaskTracker,
    secrets: Secrets,
    workflows: Workflows,
    accounts: Accounts,
    /// Held while a queue moves: taking a queued run and cancelling one never cross.
    queue: tokio::sync::Mutex<()>,
    /// Set when the server stops: queued runs stay queued for the next process.
    stopping: std::sync::atomic::AtomicBool,
    /// Outgoing calls off the runs' path (commit statuses; steps' webhooks go through the
    /// supervisors).
    webhooks: Webhooks,
    /// Where people open Conveyor (links in commit statuses), once the server listens.
    public_url: std::sync::OnceLock<String>,
    /// The watchers of Kubernetes objects pipelines' triggers name (with a cluster).
    watchers: std::sync::Mutex<Option<watches::Watchers>>,
    /// Held while the watchers are made to match the pipelines.
    refreshing: tokio::sync::Mutex<()>,
}

impl Service {
    /// Builds the service and settles runs a previous process left in flight.
    pub async fn start(
        store: Store,
        engines: Engines,
        webhooks: WebhookConfig,
        workflows: Workflows,
        accounts: AccountSettings,
    ) -> ServiceResult<Arc<Service>> {
        let deliveries = TaskTracker::new();
        let store_for_accounts = store.clone();
        let hub = Arc::new(Hub::default());
        let controls = Arc::new(Controls::default());
        let metrics = Arc::new(Metrics::default());
        let webhooks =
            Webhooks::start(store.clone(), webhooks, deliveries.clone(), metrics.clone());
        let (ended, ended_runs) = tokio::sync::mpsc::unbounded_channel();
        let supervision = Supervision::new(
            store.clone(),
            hub.clone(),
            webhooks.clone(),
            controls.clone(),
            ended,
            metrics.clone(),
        );
        let service = Arc::new(Service {
            metrics,
            store,
            engines,
            hub,
            controls,
            supervision,
            deliveries,
            accounts: Accounts::new(store_for_accounts.clone(), accounts),
            secrets: Secrets::new(store_for_accounts, workflows.secrets.clone()),
            workflows,
            queue: tokio::sync::Mutex::new(()),
            stopping: std::sync::atomic::AtomicBool::new(false),
            webhooks,
            public_url: std::sync::OnceLock::new(),
            watchers: std::sync::Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        });
        service.accounts.ensure_first_admin().await?;
        service.recover().await?;
        service.keep_queues(ended_runs).await?;
        Ok(service)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Says where people open Conveyor (the public URL, or the address it listens on).
    pub fn set_public_url(&self, url: String) {
        let _ = self.public_url.set(url);
    }

    fn public_url(&self) -> &str {
        self.public_url.get().map_or("", String::as_str)
    }

    /// Signing in, tokens and users.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The secrets steps get.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Records what someone did in the audit log.
    async fn audit(&self, entry: Audit<'_>) -> ServiceResult<()> {
        Ok(self.store.record_audit(entry).await?)
    }

    /// A page of the audit log, newest first.
    pub async fn audit_log(&self, query: &AuditQuery) -> ServiceResult<AuditPage> {
        Ok(self.store.audit(query).await?)
    }

    /// The engine runs go to unless their pipeline asks for another.
    pub fn default_engine(&self) -> EngineKind {
        self.engines.default_engine().kind()
    }

    /// The engine a pipeline's runs go to: its own choice, or the server's default.
    fn engine_for(&self, pipeline: &Pipeline) -> ServiceResult<Arc<dyn Engine>> {
        let Some(choice) = pipeline.engine else {
            return Ok(self.engines.default_engine().clone());
        };
        self.engines.get(choice).cloned().ok_or_else(|| {
            let has: Vec<&str> = self.engines.kinds().into_iter().map(EngineKind::as_str).collect();
            ServiceError::Invalid(vec![Problem::new(
                "engine",
                format!(
                    "pipeline \"{}\" asks for the {choice} engine, which this server does not have (it has: {}); \
                     start the server with --kubeconfig (or --engine tekton) to add it",
                    pipeline.name,
                    has.join(", ")
                ),
            )])
        })
    }

    /// Refuses what `engine` cannot do for `run` of `pipeline` (see [`Engine::refusals`]),
    /// each problem at its step.
    fn check_engine(
        engine: &dyn Engine,
        pipeline: &Pipeline,
        run: &ResolvedRun,
        starting: bool,
    ) -> ServiceResult<()> {
        let problems: Vec<Problem> = engine
            .refusals(run, starting)
            .into_iter()
            .map(|(index, message)| {
                Problem::new(
                    conveyor_core::check::path_of_step(pipeline, run.name(index)),
                    message,
                )
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Invalid(problems))
        }
    }

    /// Ends (local engine) or lets go of (Tekton: the cluster goes on running them) every
    /// run in flight, and waits (up to `grace` in all) for them to be recorded and for the
    /// webhook calls they caused.
    pub async fn shutdown(&self, grace: Duration) {
        {
            // No queued run starts from here on; taking the lock waits out one starting now.
            let _turn = self.queue.lock().await;
            self.stopping
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.hub.close_changes();
        for control in self.controls.all() {
            let _ = control.send(Control::Shutdown).await;
        }
        self.deliveries.close();
        let _ = tokio::time::timeout(grace, async {
            self.supervision.wait().await;
            self.deliveries.wait().await;
        })
        .await;
        for engine in self.engines.iter() {
            engine.shutdown().await;
        }
    }
}

/// A saved version's pipeline and plan, as they were checked and planned when it was
/// saved (a version from before plans were kept is planned now).
fn stored(version: &VersionRow) -> ServiceResult<(Pipeline, Plan)> {
    let pipeline: Pipeline = serde_json::from_str(&version.definition)
        .map_err(|err| StoreError::Corrupt(format!("stored definition: {err}")))?;
    let plan = match &version.plan {
        Some(json) => serde_json::from_str(json)
            .map_err(|err| StoreError::Corrupt(format!("stored plan: {err}")))?,
        None => plan(&pipeline).map_err(|problems| {
            StoreError::Corrupt(format!("stored definition: {}", problems_text(&problems)))
        })?,
    };
    Ok((pipeline, plan))
}

/// JSON of what a version stores.
fn to_json(value: &impl serde::Serialize) -> ServiceResult<String> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Corrupt(format!("to JSON: {err}")).into())
}
