//! Engines run whole planned runs and report what happens as [`EngineEvent`]s. The
//! supervisor (in `service`) is the only owner of run state: engines never touch the store.

pub mod local;

use app::definition::{Params, Pipeline};
use app::model::{LogStream, StepStatus};
use app::plan::Plan;
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
}

/// What an engine reports about a run, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    Step { step: usize, status: StepStatus, exit_code: Option<i32>, message: Option<String> },
    Log { step: usize, stream: LogStream, text: String, partial: bool },
    /// A cancel request was accepted; steps are being stopped.
    Cancelling,
    /// Every step has ended; nothing follows.
    Finished,
}

/// What the service may ask of a running run.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    Cancel,
    Approve(usize),
    Refuse(usize),
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("could not prepare the run's workspace at {path}")]
    Workspace { path: String, #[source] source: std::io::Error },
}

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    fn name(&self) -> &'static str;

    /// Starts a run. Events flow into `events` until [`EngineEvent::Finished`]; the returned
    /// sender takes cancel and approval decisions.
    async fn start(&self, run: RunRequest, events: mpsc::Sender<EngineEvent>) -> Result<mpsc::Sender<Control>, EngineError>;
}
