//! One run on Tekton: which steps go into which PipelineRun (segments split at approval
//! gates, decided by the gate policy every engine shares), what the cluster says about
//! them (`observe`), their logs (`logs`) and the run's workspace claim (`claims`).

mod claims;
mod logs;
mod observe;
mod secrets;

use std::collections::BTreeMap;
use std::sync::Arc;

use conveyor_core::run::StepStatus;
use conveyor_core::schedule::{Batching, Progress, Schedule};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::mpsc;

use super::compile::{
    compile, pipeline_run_name, TektonSettings, LABEL_MANAGED_BY, LABEL_RUN, MANAGED_BY,
};
use super::{Kind, Signal};
use crate::engine::{report, Control, EngineEvent, RunRequest};
use logs::{LogEnd, LogState};

/// What the driver knows of one step on the cluster.
#[derive(Debug, Default)]
struct StepTrack {
    /// The PipelineRun (segment) it went into.
    segment: Option<usize>,
    pod: Option<String>,
    log: LogState,
    /// Pieces of log already recorded (by this process or an earlier one).
    lines: u64,
    /// A final status seen while the log was still being read: recorded once it is read.
    held: Option<(StepStatus, Option<i32>, Option<String>)>,
    container_ended: bool,
    /// Times the log was reopened after its stream broke while the container ran.
    reopened: u32,
}

#[derive(Debug)]
struct Segment {
    name: String,
    steps: Vec<usize>,
    done: bool,
}

pub(crate) struct Driver {
    runs: Api<DynamicObject>,
    task_runs: Api<DynamicObject>,
    pods: Api<Pod>,
    claims: Api<PersistentVolumeClaim>,
    secrets: Api<Secret>,
    settings: Arc<TektonSettings>,
    run: RunRequest,
    events: mpsc::Sender<EngineEvent>,
    schedule: Schedule,
    tracks: Vec<StepTrack>,
    segments: BTreeMap<usize, Segment>,
    /// The run's workspace: a PVC of its own (made before its first PipelineRun, so that
    /// segments after approval gates see the files of those before), or the one it took
    /// over from the run whose failed steps it re-runs.
    claim: String,
    /// The claim is known to exist (made or taken over by this run).
    claim_created: bool,
    logs_tx: mpsc::UnboundedSender<LogEnd>,
    logs_rx: mpsc::UnboundedReceiver<LogEnd>,
    /// TaskRuns seen before what their steps need is on record (a need's final status waits
    /// for its log): looked at again once it is, so the record keeps the cluster's order.
    deferred: BTreeMap<usize, DynamicObject>,
}

impl Driver {
    pub(crate) fn new(
        client: Client,
        settings: Arc<TektonSettings>,
        run: RunRequest,
        progress: Progress,
        events: mpsc::Sender<EngineEvent>,
    ) -> Driver {
        let namespace = settings.namespace.as_str();
        let tracks = (0..run.resolved.steps.len())
            .map(|step| StepTrack {
                lines: progress.log_lines.get(step).copied().unwrap_or(0),
                ..Default::default()
            })
            .collect();
        let claim = format!("conveyor-run-{}", run.run_id);
        let (logs_tx, logs_rx) = mpsc::unbounded_channel();
        Driver {
            runs: Api::namespaced_with(client.clone(), namespace, &Kind::PipelineRun.resource()),
            task_runs: Api::namespaced_with(client.clone(), namespace, &Kind::TaskRun.resource()),
            pods: Api::namespaced(client.clone(), namespace),
            claims: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client, namespace),
            settings,
            schedule: Schedule::new(&run.resolved.plan, &progress),
            tracks,
            segments: BTreeMap::new(),
            claim,
            claim_created: false,
            run,
            events,
            logs_tx,
            logs_rx,
            deferred: BTreeMap::new(),
        }
    }

    pub(crate) fn run_id(&self) -> i64 {
        self.run.run_id
    }

    pub(crate) async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Signal>,
        mut control: mpsc::Receiver<Control>,
    ) {
        let mut control_open = true;
        loop {
            self.settle().await;
            if self.is_finished() {
                break;
            }
            tokio::select! {
                Some(signal) = inbox.recv() => match signal {
                    Signal::Seen(Kind::TaskRun, object) => self.observe_task_run(&object).await,
                    Signal::Seen(Kind::PipelineRun, object) => self.observe_pipeline_run(&object, false).await,
                    Signal::Deleted(Kind::PipelineRun, object) => self.observe_pipeline_run(&object, true).await,
                    Signal::Deleted(Kind::TaskRun, _) => {}
                },
                Some(end) = self.logs_rx.recv() => self.log_ended(end).await,
                message = control.recv(), if control_open => match message {
                    None => control_open = false,
                    Some(Control::Shutdown) => {
                        self.detach();
                        let _ = self.events.send(EngineEvent::Detached).await;
                        return;
                    }
                    Some(Control::Cancel) => self.cancel().await,
                    Some(Control::Approve(step, by)) => {
                        let decision = self.schedule.approve(step, &by);
                        report(&self.events, decision).await;
                    }
                    Some(Control::Refuse(step, by)) => {
                        let decision = self.schedule.refuse(step, &by);
                        report(&self.events, decision).await;
                    }
                },
            }
        }
        // A run that did not succeed keeps its workspace for a re-run of its failed steps.
        if self.schedule.succeeded() {
            self.delete_claim().await;
        }
        if self.uses_secrets() {
            self.delete_run_secret().await;
        }
        let _ = self.events.send(EngineEvent::Finished).await;
    }

    fn is_finished(&self) -> bool {
        self.schedule.ended() && self.segments.values().all(|s| s.done)
    }

    /// The step whose pipeline task is `name`.
    fn step_index(&self, name: &str) -> Option<usize> {
        self.run
            .resolved
            .plan
            .steps
            .iter()
            .position(|s| conveyor_core::definition::kubernetes_name(&s.name) == name)
    }

    async fn emit(&self, event: EngineEvent) {
        let _ = self.events.send(event).await;
    }

    /// Records what the cluster says became of a step; a step that never showed as running
    /// does so first.
    async fn set(
        &mut self,
        step: usize,
        to: StepStatus,
        exit_code: Option<i32>,
        message: Option<String>,
    ) {
        let from = self.schedule.status(step);
        if from == to || from.is_terminal() {
            return;
        }
        if matches!(to, StepStatus::Succeeded | StepStatus::Failed) && from != StepStatus::Running {
            self.schedule.record(step, StepStatus::Running);
            self.emit(EngineEvent::Step {
                step,
                status: StepStatus::Running,
                exit_code: None,
                message: None,
            })
            .await;
        }
        self.schedule.record(step, to);
        self.emit(EngineEvent::Step {
            step,
            status: to,
            exit_code,
            message,
        })
        .await;
    }

    /// Skips, holds and cancels what waits, and starts a PipelineRun for every batch of
    /// steps that can run now, until nothing changes.
    async fn settle(&mut self) {
        self.replay_deferred().await;
        loop {
            let decisions = self.schedule.settle();
            report(&self.events, decisions).await;
            let ready = self.schedule.start(Batching::Together);
            if ready.is_empty() {
                return;
            }
            self.start_segment(ready).await;
        }
    }

    async fn start_segment(&mut self, steps: Vec<usize>) {
        let number = self.segments.keys().next_back().map_or(0, |n| n + 1);
        let name = pipeline_run_name(self.run.pipeline(), self.run.run_id, number);
        for &step in &steps {
            self.tracks[step].segment = Some(number);
        }
        self.segments.insert(
            number,
            Segment {
                name: name.clone(),
                steps: steps.clone(),
                done: false,
            },
        );
        if let Err(message) = self.create_segment(&steps, number).await {
            tracing::error!(
                run = self.run.run_id,
                pipeline_run = name,
                error = message,
                "could not start a PipelineRun"
            );
            if let Some(segment) = self.segments.get_mut(&number) {
                segment.done = true;
            }
            for step in steps {
                self.set(step, StepStatus::Failed, None, Some(message.clone()))
                    .await;
            }
        }
    }

    async fn create_segment(&mut self, steps: &[usize], number: usize) -> Result<(), String> {
        if !self.claim_created {
            self.create_claim().await?;
            self.claim_created = true;
        }
        let object = compile(&self.run, steps, number, &self.claim, &self.settings)
            .map_err(|err| err.to_string())?;
        let object: DynamicObject = serde_json::from_value(object)
            .map_err(|err| format!("the compiled PipelineRun is malformed: {err}"))?;
        let name = object.metadata.name.clone().unwrap_or_default();
        match self.runs.create(&PostParams::default(), &object).await {
            Ok(created) => {
                self.observe_pipeline_run(&created, false).await;
                Ok(())
            }
            // Made by an earlier attempt of this very run: follow it.
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
            Err(err) => Err(format!("could not create PipelineRun {name}: {err}")),
        }
    }

    async fn cancel(&mut self) {
        let Some(cancelled) = self.schedule.cancel() else {
            return;
        };
        self.emit(EngineEvent::Cancelling).await;
        report(&self.events, cancelled).await;
        let active: Vec<(usize, String)> = self
            .segments
            .iter()
            .filter(|(_, s)| !s.done)
            .map(|(n, s)| (*n, s.name.clone()))
            .collect();
        for (number, name) in active {
            let patch = Patch::Merge(json!({"spec": {"status": "Cancelled"}}));
            match self
                .runs
                .patch(&name, &PatchParams::default(), &patch)
                .await
            {
                Ok(object) => self.observe_pipeline_run(&object, false).await,
                Err(kube::Error::Api(status)) if status.is_not_found() => {
                    self.segment_gone(number, "its PipelineRun is gone").await
                }
                Err(err) => {
                    tracing::error!(run = self.run.run_id, pipeline_run = name, error = %err, "could not cancel")
                }
            }
        }
    }

    /// Lets go of the run, leaving it to the cluster (and to a later server process).
    fn detach(&mut self) {
        for track in &mut self.tracks {
            if let LogState::Streaming(task) = std::mem::take(&mut track.log) {
                task.abort();
            }
        }
    }
}

/// Conveyor's objects of one run.
fn run_selector(run_id: i64) -> ListParams {
    ListParams::default().labels(&format!(
        "{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_RUN}={run_id}"
    ))
}
