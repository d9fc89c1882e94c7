//! The embedded engine: steps run as processes on this host, each in its own process group,
//! in a workspace directory shared by all steps of the run.

mod container;
mod files;
mod output;
mod process;
mod runtime;

pub use runtime::{ContainerRuntime, RuntimeError, RuntimeKind};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use conveyor_core::definition::{EngineKind, Runner};
use conveyor_core::resolve::ResolvedRun;
use conveyor_core::run::{LogStream, StepStatus};
use conveyor_core::schedule::{Batching, Schedule};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use super::lines::MAX_LINE_BYTES;
use super::{report, Control, Engine, EngineError, EngineEvent, RunRequest};
use process::{execute, inherited_env};

#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Run workspaces and step scripts live under here.
    pub data_dir: PathBuf,
    /// Steps running at once, across all runs.
    pub max_parallel: usize,
    /// Keep each run's workspace after it ends (for debugging).
    pub keep_workspaces: bool,
    /// Between SIGTERM and SIGKILL when a step is cancelled or times out.
    pub kill_grace: Duration,
    /// Longer lines are split into pieces marked `partial`.
    pub max_line_bytes: usize,
    /// Output kept per step; the rest is counted and reported in one system line.
    pub max_step_log_bytes: u64,
    /// How long output is still read after a step's processes are gone. Only a process that
    /// left the step's group (with `setsid`) can hold the pipes open longer; it is not waited for.
    pub drain_grace: Duration,
    /// What runs the steps that name an image; none: such steps are refused.
    pub runtime: Option<Arc<ContainerRuntime>>,
}

impl LocalConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        LocalConfig {
            data_dir,
            max_parallel: std::thread::available_parallelism().map_or(4, |n| n.get() * 2),
            keep_workspaces: false,
            kill_grace: Duration::from_secs(3),
            max_line_bytes: MAX_LINE_BYTES,
            max_step_log_bytes: 256 * 1024 * 1024,
            drain_grace: Duration::from_secs(2),
            runtime: None,
        }
    }
}

pub struct LocalEngine {
    config: Arc<LocalConfig>,
    slots: Arc<Semaphore>,
    base_env: Arc<Vec<(String, String)>>,
}

impl LocalEngine {
    pub fn new(config: LocalConfig) -> Self {
        // This engine's runs end with the process that ran them: the step files (scripts,
        // variables, registry credentials) a killed process left are no one's.
        let _ = std::fs::remove_dir_all(config.data_dir.join("scripts"));
        let slots = Arc::new(Semaphore::new(config.max_parallel.max(1)));
        LocalEngine {
            config: Arc::new(config),
            slots,
            base_env: Arc::new(inherited_env()),
        }
    }

    /// Each pipeline's run workspaces live side by side: at most one is kept after its run
    /// (the latest that did not succeed, for a retry of its failed steps).
    pub fn workspace_dir(data_dir: &Path, pipeline: &str, run_id: i64) -> PathBuf {
        data_dir
            .join("workspaces")
            .join(pipeline)
            .join(format!("run-{run_id}"))
    }

    fn scripts_dir(data_dir: &Path, run_id: i64) -> PathBuf {
        data_dir.join("scripts").join(format!("run-{run_id}"))
    }
}

#[async_trait::async_trait]
impl Engine for LocalEngine {
    fn kind(&self) -> EngineKind {
        EngineKind::Local
    }

    fn refusals(&self, run: &ResolvedRun, starting: bool) -> Vec<(usize, String)> {
        let mut refused = Vec::new();
        for (index, step) in run.steps.iter().enumerate() {
            let name = run.name(index);
            if !step.node_selector.is_empty() {
                refused.push((
                    index,
                    format!(
                        "step \"{name}\" has a node_selector, which places it on a Kubernetes node: \
                         only the Tekton engine honours it, and this pipeline runs on the local engine \
                         (choose `engine: tekton`, or remove node_selector)"
                    ),
                ));
            }
            if step.runner == Runner::Kubernetes {
                refused.push((
                    index,
                    format!(
                        "step \"{name}\" runs on Kubernetes (runner: kubernetes, its own or its action's): \
                         only the Tekton engine runs it, and this pipeline runs on the local engine \
                         (choose `engine: tekton`)"
                    ),
                ));
            }
            if let (true, Runner::Container, Some(image), None) =
                (starting, step.runner, &step.image, &self.config.runtime)
            {
                refused.push((index, process::no_runtime(name, image)));
            }
        }
        refused
    }

    /// With a container runtime, whether it still answers (steps naming an image need it).
    async fn ready(&self) -> Result<(), String> {
        match &self.config.runtime {
            Some(runtime) => runtime.answers().await.map_err(|reason| {
                format!(
                    "the container runtime ({}) does not answer: {reason}",
                    runtime.name()
                )
            }),
            None => Ok(()),
        }
    }

    async fn forget(&self, pipeline: &str, runs: &[i64]) {
        for run in runs {
            let kept = Self::workspace_dir(&self.config.data_dir, pipeline, *run);
            let _ = tokio::fs::remove_dir_all(kept).await;
        }
    }

    async fn start(
        &self,
        run: RunRequest,
        events: mpsc::Sender<EngineEvent>,
    ) -> Result<mpsc::Sender<Control>, EngineError> {
        let workspace = Self::workspace_dir(&self.config.data_dir, run.pipeline(), run.run_id);
        let scripts = Self::scripts_dir(&self.config.data_dir, run.run_id);
        // A retry takes the earlier run's workspace over; any other kept workspace of the
        // pipeline is dropped (one run at a time per pipeline: none is in use).
        let carried = match &run.retry {
            Some(retry) => {
                let earlier =
                    Self::workspace_dir(&self.config.data_dir, run.pipeline(), retry.origin);
                tokio::fs::rename(&earlier, &workspace).await.is_ok()
            }
            None => false,
        };
        if let Some(kept) = workspace.parent() {
            if let Ok(mut entries) = tokio::fs::read_dir(kept).await {
                while let Ok(Some(entry)) = entries.next_entry().await {
                    if entry.path() != workspace
                        && entry.file_name().to_string_lossy().starts_with("run-")
                    {
                        let _ = tokio::fs::remove_dir_all(entry.path()).await;
                    }
                }
            }
        }
        for dir in [&workspace, &scripts] {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|source| EngineError::Workspace {
                    path: dir.display().to_string(),
                    source,
                })?;
        }
        let (control_tx, control_rx) = mpsc::channel(16);
        let context = Arc::new(RunContext {
            run,
            workspace,
            scripts,
            events,
            config: self.config.clone(),
            slots: self.slots.clone(),
            base_env: self.base_env.clone(),
        });
        tokio::spawn(schedule(context, control_rx, carried));
        Ok(control_tx)
    }
}

struct RunContext {
    run: RunRequest,
    workspace: PathBuf,
    scripts: PathBuf,
    events: mpsc::Sender<EngineEvent>,
    config: Arc<LocalConfig>,
    slots: Arc<Semaphore>,
    /// The part of the server's environment steps see, read once at start.
    base_env: Arc<Vec<(String, String)>>,
}

impl RunContext {
    async fn emit(&self, event: EngineEvent) {
        // A closed channel means the supervisor is gone (server shutting down): nothing to tell.
        let _ = self.events.send(event).await;
    }

    async fn emit_step(
        &self,
        step: usize,
        status: StepStatus,
        exit_code: Option<i32>,
        message: Option<String>,
    ) {
        self.emit(EngineEvent::Step {
            step,
            status,
            exit_code,
            message,
        })
        .await;
    }
}

struct Outcome {
    status: StepStatus,
    exit_code: Option<i32>,
    message: Option<String>,
}

impl Outcome {
    fn new(status: StepStatus, message: impl Into<String>) -> Self {
        Outcome {
            status,
            exit_code: None,
            message: Some(message.into()),
        }
    }
}

/// Drives one run by the gate policy every engine shares: starts steps whose needs
/// succeeded (each a process of its own), skips those whose needs did not, holds approval
/// steps, and reacts to cancel and approval decisions.
async fn schedule(context: Arc<RunContext>, mut control: mpsc::Receiver<Control>, carried: bool) {
    let mut schedule = Schedule::new(&context.run.resolved.plan, &context.run.fresh_progress());
    // Steps that succeeded in the earlier run of a re-run are on record as succeeded already.
    if let Some(retry) = &context.run.retry {
        if let Some(first) = schedule
            .statuses()
            .iter()
            .position(|s| *s == StepStatus::Pending)
        {
            let text = retry.notice(carried);
            context
                .emit(EngineEvent::Log {
                    step: first,
                    stream: LogStream::System,
                    text,
                    partial: false,
                })
                .await;
        }
    }
    let mut control_open = true;
    let mut tokens: HashMap<usize, CancellationToken> = HashMap::new();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(usize, Outcome)>();

    loop {
        report(&context.events, schedule.settle()).await;
        for index in schedule.start(Batching::Alone) {
            let token = CancellationToken::new();
            tokens.insert(index, token.clone());
            let (context, done) = (context.clone(), done_tx.clone());
            tokio::spawn(async move {
                let outcome = execute(&context, index, token).await;
                let _ = done.send((index, outcome));
            });
        }
        if schedule.ended() {
            break;
        }
        tokio::select! {
            Some((index, outcome)) = done_rx.recv() => {
                tokens.remove(&index);
                schedule.record(index, outcome.status);
                context.emit_step(index, outcome.status, outcome.exit_code, outcome.message).await;
            }
            message = control.recv(), if control_open => match message {
                None => control_open = false,
                Some(Control::Cancel | Control::Shutdown) => {
                    if let Some(cancelled) = schedule.cancel() {
                        context.emit(EngineEvent::Cancelling).await;
                        for token in tokens.values() {
                            token.cancel();
                        }
                        report(&context.events, cancelled).await;
                    }
                }
                Some(Control::Approve(index, by)) => report(&context.events, schedule.approve(index, &by)).await,
                Some(Control::Refuse(index, by)) => report(&context.events, schedule.refuse(index, &by)).await,
            },
        }
    }

    let _ = tokio::fs::remove_dir_all(&context.scripts).await;
    // A run that did not succeed keeps its workspace for a retry of its failed steps.
    if !context.config.keep_workspaces && schedule.succeeded() {
        let _ = tokio::fs::remove_dir_all(&context.workspace).await;
    }
    context.emit(EngineEvent::Finished).await;
}
