//! Engines run whole planned runs and report what happens as [`EngineEvent`]s. The
//! supervisor (in `service`) is the only owner of run state: engines never touch the store.

pub mod lines;
pub mod local;
pub mod tekton;

use app::definition::{Params, Pipeline, Step};
use app::model::{LogStream, StepStatus};
use app::plan::Plan;
use app::plan::{merge_params, run_params};
use tokio::sync::mpsc;

/// A run ready to execute.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run_id: i64,
    pub pipeline: Pipeline,
    pub plan: Plan,
    pub tag: String,
    /// Run-time params given when the run was created.
    pub params: Params,
    /// The account a cluster runs the steps as (a workflow's own), over the engine's.
    pub service_account: Option<String>,
    /// Registry credentials some steps push with (a workflow's build).
    pub registry: Option<RegistryAccess>,
    /// Set when this run re-runs another's failed steps.
    pub retry: Option<Retry>,
}

/// A re-run of the steps that did not succeed in an earlier run of the same version: the
/// steps that did are on record as succeeded already and are not run again, and the
/// earlier run's workspace is carried over.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub origin: i64,
    /// The earlier run's number, for messages.
    pub number: i64,
    /// Per planned step: whether it succeeded in the earlier run.
    pub reused: Vec<bool>,
}

impl Retry {
    /// The system line a re-run opens its first step's log with, on every engine: whether
    /// the earlier run's workspace was carried over.
    pub fn notice(&self, carried: bool) -> String {
        if carried {
            format!(
                "re-running the steps that did not succeed in run #{}, in its workspace",
                self.number
            )
        } else {
            format!(
                "the workspace of run #{} is gone: the steps re-run without its files",
                self.number
            )
        }
    }
}

/// How steps reach a workflow's registry credentials; never stored with the run.
#[derive(Clone, PartialEq)]
pub struct RegistryAccess {
    /// Steps that get `DOCKER_CONFIG` pointing at a directory holding `config.json`.
    pub steps: Vec<String>,
    /// On a cluster: the `kubernetes.io/dockerconfigjson` secret, mounted as a workspace.
    pub secret: String,
    /// On this host: the `config.json` itself.
    pub docker_config: String,
}

// The docker config holds a password: never in a log line.
impl std::fmt::Debug for RegistryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAccess")
            .field("steps", &self.steps)
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl RunRequest {
    /// A step's variables, the same on every engine: params merged by the seeds' precedence
    /// (with the run's `TAG`), then the step's `env` over them, then Conveyor's own. What the
    /// host (local engine) or the image (Tekton) provides comes before these.
    pub fn step_environment(&self, step: &Step, workspace: &str) -> Vec<(String, String)> {
        let mut vars = merge_params(&self.pipeline, step, &run_params(&self.params, &self.tag));
        vars.extend(step.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut env: Vec<(String, String)> = vars.into_iter().collect();
        env.extend([
            ("CONVEYOR_RUN_ID".to_owned(), self.run_id.to_string()),
            ("CONVEYOR_TAG".to_owned(), self.tag.clone()),
            ("CONVEYOR_WORKSPACE".to_owned(), workspace.to_owned()),
            ("CONVEYOR_PIPELINE".to_owned(), self.pipeline.name.clone()),
            ("CONVEYOR_STEP".to_owned(), step.name.clone()),
        ]);
        env
    }
}

/// What an engine reports about a run, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Step {
        step: usize,
        status: StepStatus,
        exit_code: Option<i32>,
        message: Option<String>,
    },
    Log {
        step: usize,
        stream: LogStream,
        text: String,
        partial: bool,
    },
    /// A cancel request was accepted; steps are being stopped.
    Cancelling,
    /// Every step has ended; nothing follows.
    Finished,
    /// The engine let go of the run without ending it (the server is stopping and the run
    /// goes on elsewhere); a later server process resumes it. Nothing follows.
    Detached,
}

/// What the service may ask of a running run.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Cancel,
    Approve(usize),
    Refuse(usize),
    /// The server is stopping: the engine ends the run (its steps cannot outlive the server)
    /// or lets go of it (they can) and says which.
    Shutdown,
}

/// What is on record about a run a previous server process left in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub steps: Vec<StepStatus>,
    /// Approval steps already approved.
    pub approved: Vec<bool>,
    /// Log lines (and pieces of long lines) already recorded per step, engine system lines
    /// not counted: a resumed engine skips this many so no line is repeated.
    pub log_lines: Vec<u64>,
    pub cancel_requested: bool,
}

impl Progress {
    /// A run that has not started; the steps a re-run takes over have succeeded already.
    pub fn fresh(run: &RunRequest) -> Progress {
        let count = run.plan.steps.len();
        let reused = |step: usize| {
            run.retry
                .as_ref()
                .is_some_and(|r| r.reused.get(step) == Some(&true))
        };
        Progress {
            steps: (0..count)
                .map(|step| {
                    if reused(step) {
                        StepStatus::Succeeded
                    } else {
                        StepStatus::Pending
                    }
                })
                .collect(),
            approved: vec![false; count],
            log_lines: vec![0; count],
            cancel_requested: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("could not prepare the run's workspace at {path}")]
    Workspace {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("Kubernetes: {0}")]
    Cluster(String),
}

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    fn name(&self) -> &'static str;

    /// Starts a run. Events flow into `events` until [`EngineEvent::Finished`]; the returned
    /// sender takes cancel and approval decisions.
    async fn start(
        &self,
        run: RunRequest,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<mpsc::Sender<Control>, EngineError>;

    /// Picks up a run a previous server process left in flight, from what is on record.
    /// `None`: this engine's runs end with the process that ran them.
    async fn resume(
        &self,
        _run: RunRequest,
        _progress: Progress,
        _events: mpsc::Sender<EngineEvent>,
    ) -> Result<Option<mpsc::Sender<Control>>, EngineError> {
        Ok(None)
    }

    /// Stops what the engine runs beside its runs (watchers); called last at shutdown.
    async fn shutdown(&self) {}
}

/// The engines a server has: the default, and any other a pipeline may ask for by name.
#[derive(Clone)]
pub struct Engines {
    all: Vec<std::sync::Arc<dyn Engine>>,
}

impl Engines {
    pub fn new(default: std::sync::Arc<dyn Engine>) -> Engines {
        Engines { all: vec![default] }
    }

    /// Adds an engine pipelines may choose with `engine:`.
    pub fn with(mut self, engine: std::sync::Arc<dyn Engine>) -> Engines {
        self.all.push(engine);
        self
    }

    pub fn default_engine(&self) -> &std::sync::Arc<dyn Engine> {
        &self.all[0]
    }

    pub fn named(&self, name: &str) -> Option<&std::sync::Arc<dyn Engine>> {
        self.all.iter().find(|engine| engine.name() == name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.all.iter().map(|engine| engine.name()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &std::sync::Arc<dyn Engine>> {
        self.all.iter()
    }
}
