//! Engines run whole planned runs and report what happens as [`EngineEvent`]s. The
//! supervisor (in `service`) is the only owner of run state: engines never touch the store.

pub mod lines;
pub mod local;
pub mod tekton;

use std::sync::Arc;

use conveyor_core::definition::EngineKind;
use conveyor_core::resolve::ResolvedRun;
use conveyor_core::run::{LogStream, StepStatus};
use tokio::sync::mpsc;

use conveyor_core::schedule::Decision;
pub use conveyor_core::schedule::Progress;

/// A run ready to execute.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub run_id: i64,
    pub tag: String,
    /// Its steps as resolved when it was created (the pipeline's name, the plan, what each
    /// step runs): engines take everything about a step from here.
    pub resolved: Arc<ResolvedRun>,
    /// The account a cluster runs the steps as (a workflow's own), over the engine's.
    pub service_account: Option<String>,
    /// Registry credentials some steps push with (a workflow's build).
    pub registry: Option<RegistryAccess>,
    /// Set when this run re-runs another's failed steps.
    pub retry: Option<Retry>,
    /// The values of the secrets its steps get.
    pub secrets: Arc<RunSecrets>,
}

/// The values of the secrets a run's steps get, by secret name, and the masker that hides
/// every one of them in the run's output. Taken from the secrets store when the run starts
/// (or is picked up again); never on record.
#[derive(Clone, Default)]
pub struct RunSecrets {
    values: std::collections::BTreeMap<String, String>,
    masker: Arc<conveyor_core::secrets::Masker>,
}

impl RunSecrets {
    pub fn new(values: std::collections::BTreeMap<String, String>) -> RunSecrets {
        let masker = conveyor_core::secrets::Masker::new(values.values().map(String::as_str));
        RunSecrets {
            values,
            masker: Arc::new(masker),
        }
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn masker(&self) -> Arc<conveyor_core::secrets::Masker> {
        self.masker.clone()
    }
}

impl std::fmt::Debug for RunSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a value never reaches a log by way of a debug print.
        f.debug_list().entries(self.values.keys()).finish()
    }
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
    /// The image the run pushes, whose digest is recorded with the run once it is pushed.
    pub image: Option<crate::registry::ImageLookup>,
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
    /// The pipeline's name.
    pub fn pipeline(&self) -> &str {
        &self.resolved.pipeline
    }

    /// A step's name.
    pub fn step_name(&self, step: usize) -> &str {
        self.resolved.name(step)
    }

    /// A step's variables, the same on every engine (see [`ResolvedRun::environment`]).
    pub fn step_environment(&self, step: usize, workspace: &str) -> Vec<(String, String)> {
        self.resolved
            .environment(step, self.run_id, &self.tag, workspace)
    }

    /// A step's secrets as variables: name and value (on this host's engine).
    pub fn step_secrets(&self, step: usize) -> Vec<(String, String)> {
        let Some(resolved) = self.resolved.steps.get(step) else {
            return Vec::new();
        };
        resolved
            .secrets
            .iter()
            .filter_map(|use_| {
                let value = self.secrets.value(&use_.name)?;
                Some((use_.variable().to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// What is on record for a run that has not started: the steps a re-run takes over have
    /// succeeded already.
    pub fn fresh_progress(&self) -> Progress {
        let reused = self.retry.as_ref().map_or(&[][..], |r| r.reused.as_slice());
        Progress::fresh(self.resolved.steps.len(), reused)
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
    /// Several lines of one step's output at once (what one read gave): `(text, partial)`.
    Lines {
        step: usize,
        stream: LogStream,
        lines: Vec<(String, bool)>,
    },
    /// A cancel request was accepted; steps are being stopped.
    Cancelling,
    /// Every step has ended; nothing follows.
    Finished,
    /// The engine let go of the run without ending it (the server is stopping and the run
    /// goes on elsewhere); a later server process resumes it. Nothing follows.
    Detached,
}

impl From<Decision> for EngineEvent {
    fn from(decision: Decision) -> Self {
        EngineEvent::Step {
            step: decision.step,
            status: decision.status,
            exit_code: None,
            message: Some(decision.message),
        }
    }
}

/// Reports what the schedule decided, in order. A closed channel means the supervisor is
/// gone (the server is shutting down): nothing to tell.
pub(crate) async fn report(
    events: &mpsc::Sender<EngineEvent>,
    decisions: impl IntoIterator<Item = Decision>,
) {
    for decision in decisions {
        let _ = events.send(decision.into()).await;
    }
}

/// What the service may ask of a running run.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Cancel,
    /// A person decided a waiting step (its index): their account name goes in the step's
    /// message.
    Approve(usize, String),
    Refuse(usize, String),
    /// The server is stopping: the engine ends the run (its steps cannot outlive the server)
    /// or lets go of it (they can) and says which.
    Shutdown,
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
    fn kind(&self) -> EngineKind;

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

    /// Whether the engine can take runs now (on a cluster: its API answers); why not.
    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }

    /// Stops what the engine runs beside its runs (watchers); called last at shutdown.
    async fn shutdown(&self) {}

    /// Removes what the engine keeps of ended runs of `pipeline` that were pruned or
    /// emptied (workspaces; on a cluster their objects).
    async fn forget(&self, _pipeline: &str, _runs: &[i64]) {}

    /// What this engine cannot do for `run`: per step (its index), why. Checked when a
    /// version is saved (`starting` false: what it can never do) and again when a run
    /// starts (`starting`: also what it cannot do now).
    fn refusals(&self, _run: &ResolvedRun, _starting: bool) -> Vec<(usize, String)> {
        Vec::new()
    }
}

/// The engines a server has: the default, and any other a pipeline may ask for by name.
#[derive(Clone)]
pub struct Engines {
    all: Vec<Arc<dyn Engine>>,
}

impl Engines {
    pub fn new(default: Arc<dyn Engine>) -> Engines {
        Engines { all: vec![default] }
    }

    /// Adds an engine pipelines may choose with `engine:`.
    pub fn with(mut self, engine: Arc<dyn Engine>) -> Engines {
        self.all.push(engine);
        self
    }

    pub fn default_engine(&self) -> &Arc<dyn Engine> {
        &self.all[0]
    }

    pub fn get(&self, kind: EngineKind) -> Option<&Arc<dyn Engine>> {
        self.all.iter().find(|engine| engine.kind() == kind)
    }

    pub fn kinds(&self) -> Vec<EngineKind> {
        self.all.iter().map(|engine| engine.kind()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Engine>> {
        self.all.iter()
    }
}
