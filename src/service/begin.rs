//! Handing a recorded run to its engine and a supervisor: what every start does, whether
//! the run was just made or waited in its pipeline's queue.

use std::sync::Arc;

use conveyor_core::dto::RunSummary;
use conveyor_core::resolve::ResolvedRun;
use conveyor_core::run::RunStatus;
use tokio::sync::mpsc;

use super::{Service, ServiceResult};
use crate::engine::{Engine, RegistryAccess, Retry, RunRequest, RunSecrets};
use crate::supervisor::{ReleasePlan, RunHooks, RunState};

/// A recorded run handed to its engine and a supervisor.
pub(super) struct Begin {
    pub run: RunSummary,
    pub engine: Arc<dyn Engine>,
    pub resolved: ResolvedRun,
    pub secrets: Arc<RunSecrets>,
    pub service_account: Option<String>,
    pub registry: Option<RegistryAccess>,
    pub release: Option<ReleasePlan>,
    pub retry: Option<Retry>,
}

impl Service {
    /// Hands a recorded run to its engine and a supervisor. When the engine cannot take
    /// it, the run ends on record with the reason (and the queue moves on).
    pub(super) async fn begin(self: &Arc<Self>, begin: Begin) -> ServiceResult<RunSummary> {
        let Begin {
            run,
            engine,
            resolved,
            secrets,
            service_account,
            registry,
            release,
            retry,
        } = begin;
        let reused = retry.as_ref().map(|r| r.reused.clone()).unwrap_or_default();
        self.hub.open(run.id);
        self.hub.announce(run.id);
        let resolved = Arc::new(resolved);
        let names: Vec<String> = resolved.plan.steps.iter().map(|s| s.name.clone()).collect();
        let hooks = RunHooks::new(&run, &resolved, &secrets);
        let image = registry.as_ref().and_then(|r| r.image.clone());
        let (events_tx, events_rx) = mpsc::channel(1024);
        let request = RunRequest {
            run_id: run.id,
            tag: run.tag.clone(),
            resolved,
            service_account,
            registry,
            retry,
            secrets,
        };
        match engine.start(request, events_tx).await {
            Ok(control) => {
                let mut state = RunState::new(run.id, names, &reused, hooks);
                state.set_run(RunStatus::Running, None);
                state.image = image;
                state.release = release;
                self.supervision.spawn(state, control, events_rx);
                Ok(run)
            }
            Err(err) => {
                tracing::error!(run = run.id, error = %err, "engine could not start the run");
                // Nothing ran: the run ends on record, and no webhook hears of it.
                let mut state = RunState::new(run.id, names, &reused, RunHooks::default());
                state.abandon(&format!(
                    "the {} engine could not start the run: {err}",
                    engine.kind()
                ));
                self.supervision.commit_unstarted(&mut state).await?;
                self.hub.close(run.id);
                self.supervision.ended(run.id);
                Ok(self.get_run(run.id).await?.run)
            }
        }
    }
}
