//! One run on Tekton: which steps go into which PipelineRun (segments split at approval
//! gates), what the cluster says about them, and their logs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use app::model::{LogStream, StepStatus};
use futures::AsyncBufReadExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{
    DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams,
};
use kube::core::ObjectMeta;
use kube::{Api, Client};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::compile::{
    compile, pipeline_run_name, workspace_claim, TektonSettings, LABEL_MANAGED_BY, LABEL_PIPELINE,
    LABEL_RUN, LABEL_SEGMENT, MANAGED_BY,
};
use super::{Kind, Signal};
use crate::engine::lines::{LineSplitter, MAX_LINE_BYTES};
use crate::engine::{Control, EngineError, EngineEvent, Progress, RunRequest};

/// Tekton's label on a TaskRun naming its pipeline task (our step).
const LABEL_PIPELINE_TASK: &str = "tekton.dev/pipelineTask";
/// Before reopening a step's log whose stream ended while its container still ran.
const LOG_REOPEN_DELAY: Duration = Duration::from_millis(500);
/// Reopens of one step's log before giving up on the rest of it (its status still comes).
const LOG_REOPEN_MAX: u32 = 10;

/// What the cluster said about one step's TaskRun.
#[derive(Debug, Clone, PartialEq)]
struct TaskRunState {
    pod: Option<String>,
    /// The step's container has started (it may have ended since).
    started: bool,
    /// The step's container has ended.
    ended: bool,
    /// The TaskRun's outcome, once it has one.
    outcome: Option<(StepStatus, Option<i32>, Option<String>)>,
}

#[derive(Debug, Default)]
enum LogState {
    #[default]
    NotStarted,
    Streaming(JoinHandle<()>),
    /// The stream ended (the count is in the step's `lines`).
    Ended,
}

#[derive(Debug, Default)]
struct StepTrack {
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

/// A log stream's report to the driver.
struct LogEnd {
    step: usize,
    lines: u64,
}

pub(crate) struct Driver {
    runs: Api<DynamicObject>,
    task_runs: Api<DynamicObject>,
    pods: Api<Pod>,
    claims: Api<PersistentVolumeClaim>,
    settings: Arc<TektonSettings>,
    run: RunRequest,
    events: mpsc::Sender<EngineEvent>,
    status: Vec<StepStatus>,
    approved: Vec<bool>,
    cancel_requested: bool,
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
        let count = run.plan.steps.len();
        let tracks = (0..count)
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
            claims: Api::namespaced(client, namespace),
            settings,
            status: progress.steps,
            approved: progress.approved,
            cancel_requested: progress.cancel_requested,
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

    fn run_selector(&self) -> ListParams {
        run_selector(self.run.run_id)
    }

    /// Before a new run's first PipelineRun. A re-run of failed steps takes the earlier
    /// run's claim over (relabelled as its own); any other claim the pipeline's runs kept is
    /// deleted, as only the latest run that did not succeed keeps its workspace (a pipeline
    /// has one run at a time, so none is in use).
    pub(crate) async fn prepare(&mut self) {
        if let Some(retry) = self.run.retry.clone() {
            let carried = match self.take_over_claim(retry.origin).await {
                Ok(carried) => carried,
                Err(err) => {
                    tracing::warn!(run = self.run.run_id, origin = retry.origin, error = %err, "could not take over a workspace claim");
                    false
                }
            };
            if let Some(first) = self.status.iter().position(|s| *s == StepStatus::Pending) {
                let text = if carried {
                    format!("{} (claim {})", retry.notice(true), self.claim)
                } else {
                    retry.notice(false)
                };
                self.emit(EngineEvent::Log {
                    step: first,
                    stream: LogStream::System,
                    text,
                    partial: false,
                })
                .await;
            }
        }
        let kept = ListParams::default().labels(&format!(
            "{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_PIPELINE}={}",
            self.run.pipeline.name
        ));
        match self.claims.list(&kept).await {
            Ok(list) => {
                for name in list
                    .items
                    .into_iter()
                    .filter_map(|c| c.metadata.name)
                    .filter(|name| *name != self.claim)
                {
                    if let Err(err) = self.claims.delete(&name, &DeleteParams::default()).await {
                        tracing::warn!(run = self.run.run_id, claim = name, error = %err, "could not delete a kept workspace claim");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(run = self.run.run_id, error = %err, "could not list the pipeline's kept workspace claims")
            }
        }
    }

    /// The workspace claim labelled as run `run_id`'s.
    async fn claim_of(&self, run_id: i64) -> Result<Option<String>, kube::Error> {
        Ok(self
            .claims
            .list(&run_selector(run_id))
            .await?
            .items
            .into_iter()
            .find_map(|c| c.metadata.name))
    }

    /// Makes the claim run `origin` kept this run's own; false if there is none.
    async fn take_over_claim(&mut self, origin: i64) -> Result<bool, kube::Error> {
        let Some(name) = self.claim_of(origin).await? else {
            return Ok(false);
        };
        let relabel =
            Patch::Merge(json!({"metadata": {"labels": {LABEL_RUN: self.run.run_id.to_string()}}}));
        self.claims
            .patch(&name, &PatchParams::default(), &relabel)
            .await?;
        self.claim = name;
        self.claim_created = true;
        Ok(true)
    }

    /// After a restart: reads the run's PipelineRuns and TaskRuns from the cluster and
    /// takes up where the record ends.
    pub(crate) async fn recover(&mut self) -> Result<(), EngineError> {
        let list = |err: kube::Error| {
            EngineError::Cluster(format!("cannot list the run's PipelineRuns: {err}"))
        };
        let runs = self.runs.list(&self.run_selector()).await.map_err(list)?;
        let claim = self.claim_of(self.run.run_id).await.map_err(|err| {
            EngineError::Cluster(format!("cannot list the run's workspace claim: {err}"))
        })?;
        if let Some(name) = claim {
            self.claim = name;
            self.claim_created = true;
        }
        for object in &runs.items {
            let Some(number) = label(object, LABEL_SEGMENT).and_then(|v| v.parse::<usize>().ok())
            else {
                continue;
            };
            let name = object.metadata.name.clone().unwrap_or_default();
            let steps: Vec<usize> = object.data["spec"]["pipelineSpec"]["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|task| task["name"].as_str())
                .filter_map(|name| self.step_index(name))
                .collect();
            for &step in &steps {
                self.tracks[step].segment = Some(number);
            }
            self.segments.insert(
                number,
                Segment {
                    name,
                    steps,
                    done: false,
                },
            );
        }
        let task_runs = self
            .task_runs
            .list(&self.run_selector())
            .await
            .map_err(list)?;
        for object in task_runs.items {
            self.observe_task_run(&object).await;
        }
        for object in runs.items {
            self.observe_pipeline_run(&object, false).await;
        }
        // Running on record but in no PipelineRun: it cannot be followed any more.
        for step in 0..self.status.len() {
            if self.status[step] == StepStatus::Running && self.tracks[step].segment.is_none() {
                self.set(
                    step,
                    StepStatus::Failed,
                    None,
                    Some("its PipelineRun is gone from the cluster".into()),
                )
                .await;
            }
        }
        Ok(())
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
                    Some(Control::Approve(step)) if self.status.get(step) == Some(&StepStatus::WaitingApproval) => {
                        self.approved[step] = true;
                        self.set(step, StepStatus::Pending, None, Some("approved".into())).await;
                    }
                    Some(Control::Refuse(step)) if self.status.get(step) == Some(&StepStatus::WaitingApproval) => {
                        self.set(step, StepStatus::Refused, None, Some("refused".into())).await;
                    }
                    Some(_) => {}
                },
            }
        }
        // A run that did not succeed keeps its workspace for a re-run of its failed steps.
        if self.claim_created && self.status.iter().all(|s| *s == StepStatus::Succeeded) {
            if let Err(err) = self
                .claims
                .delete(&self.claim, &DeleteParams::default())
                .await
            {
                tracing::warn!(run = self.run.run_id, claim = self.claim, error = %err, "could not delete the run's workspace claim");
            }
        }
        let _ = self.events.send(EngineEvent::Finished).await;
    }

    fn is_finished(&self) -> bool {
        self.status.iter().all(|s| s.is_terminal()) && self.segments.values().all(|s| s.done)
    }

    fn step_index(&self, name: &str) -> Option<usize> {
        self.run.plan.steps.iter().position(|s| s.name == name)
    }

    async fn emit(&self, event: EngineEvent) {
        let _ = self.events.send(event).await;
    }

    /// Records a step's new status; a step that never showed as running does so first.
    async fn set(
        &mut self,
        step: usize,
        to: StepStatus,
        exit_code: Option<i32>,
        message: Option<String>,
    ) {
        if self.status[step] == to || self.status[step].is_terminal() {
            return;
        }
        if matches!(to, StepStatus::Succeeded | StepStatus::Failed)
            && self.status[step] != StepStatus::Running
        {
            self.status[step] = StepStatus::Running;
            self.emit(EngineEvent::Step {
                step,
                status: StepStatus::Running,
                exit_code: None,
                message: None,
            })
            .await;
        }
        self.status[step] = to;
        self.emit(EngineEvent::Step {
            step,
            status: to,
            exit_code,
            message,
        })
        .await;
    }

    /// Skips, holds and cancels what waits, and starts a PipelineRun for every step that
    /// can run now, repeating until nothing changes.
    async fn settle(&mut self) {
        self.replay_deferred().await;
        loop {
            let mut changed = false;
            for step in 0..self.status.len() {
                if self.status[step] != StepStatus::Pending || self.tracks[step].segment.is_some() {
                    continue;
                }
                let needs = self.run.plan.steps[step].needs.clone();
                let blocker = needs.iter().copied().find(|&n| {
                    matches!(
                        self.status[n],
                        StepStatus::Failed
                            | StepStatus::Skipped
                            | StepStatus::Refused
                            | StepStatus::Cancelled
                    )
                });
                if self.cancel_requested {
                    self.set(
                        step,
                        StepStatus::Cancelled,
                        None,
                        Some("run cancelled".into()),
                    )
                    .await;
                    changed = true;
                } else if let Some(blocker) = blocker {
                    let message = format!(
                        "skipped: \"{}\" {}",
                        self.run.plan.steps[blocker].name, self.status[blocker]
                    );
                    self.set(step, StepStatus::Skipped, None, Some(message))
                        .await;
                    changed = true;
                } else if self.run.plan.steps[step].approval
                    && !self.approved[step]
                    && needs
                        .iter()
                        .all(|&n| self.status[n] == StepStatus::Succeeded)
                {
                    self.set(
                        step,
                        StepStatus::WaitingApproval,
                        None,
                        Some("waiting for approval".into()),
                    )
                    .await;
                    changed = true;
                }
            }
            if self.cancel_requested {
                if !changed {
                    return;
                }
                continue;
            }
            let ready = self.ready();
            if !ready.is_empty() {
                self.start_segment(ready).await;
                changed = true;
            }
            if !changed {
                return;
            }
        }
    }

    /// The steps that can go into a new PipelineRun now: pending, not gated, not in one
    /// yet, and whose needs have succeeded or are in the same set.
    fn ready(&self) -> Vec<usize> {
        let mut ready = BTreeSet::new();
        loop {
            let before = ready.len();
            for step in 0..self.status.len() {
                let planned = &self.run.plan.steps[step];
                if self.status[step] != StepStatus::Pending
                    || self.tracks[step].segment.is_some()
                    || ready.contains(&step)
                    || (planned.approval && !self.approved[step])
                {
                    continue;
                }
                if planned
                    .needs
                    .iter()
                    .all(|&n| self.status[n] == StepStatus::Succeeded || ready.contains(&n))
                {
                    ready.insert(step);
                }
            }
            if ready.len() == before {
                return ready.into_iter().collect();
            }
        }
    }

    async fn start_segment(&mut self, steps: Vec<usize>) {
        let number = self.segments.keys().next_back().map_or(0, |n| n + 1);
        let name = pipeline_run_name(&self.run.pipeline.name, self.run.run_id, number);
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
            self.segments.get_mut(&number).expect("just inserted").done = true;
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

    async fn create_claim(&self) -> Result<(), String> {
        let name = &self.claim;
        let claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(
                    [
                        (LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned()),
                        (LABEL_RUN.to_owned(), self.run.run_id.to_string()),
                        (LABEL_PIPELINE.to_owned(), self.run.pipeline.name.clone()),
                    ]
                    .into(),
                ),
                ..Default::default()
            },
            spec: Some(workspace_claim(&self.settings)),
            ..Default::default()
        };
        match self.claims.create(&PostParams::default(), &claim).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
            Err(err) => Err(format!(
                "could not create the run's workspace claim {name}: {err}"
            )),
        }
    }

    async fn cancel(&mut self) {
        if self.cancel_requested {
            return;
        }
        self.cancel_requested = true;
        self.emit(EngineEvent::Cancelling).await;
        for step in 0..self.status.len() {
            if self.status[step] == StepStatus::WaitingApproval {
                self.set(
                    step,
                    StepStatus::Cancelled,
                    None,
                    Some("run cancelled".into()),
                )
                .await;
            }
        }
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

    async fn replay_deferred(&mut self) {
        loop {
            let ready: Vec<usize> = self
                .deferred
                .keys()
                .copied()
                .filter(|&step| self.needs_recorded(step))
                .collect();
            if ready.is_empty() {
                return;
            }
            for step in ready {
                if let Some(object) = self.deferred.remove(&step) {
                    self.observe_task_run(&object).await;
                }
            }
        }
    }

    fn needs_recorded(&self, step: usize) -> bool {
        self.run.plan.steps[step]
            .needs
            .iter()
            .all(|&need| self.status[need].is_terminal())
    }

    async fn observe_task_run(&mut self, object: &DynamicObject) {
        let Some(step) = label(object, LABEL_PIPELINE_TASK).and_then(|name| self.step_index(name))
        else {
            return;
        };
        if self.tracks[step].segment.is_none()
            || self.status[step].is_terminal()
            || self.tracks[step].held.is_some()
        {
            return;
        }
        if !self.needs_recorded(step) {
            self.deferred.insert(step, object.clone());
            return;
        }
        let state = task_run_state(object, &self.run.plan.steps[step].name);
        if let Some(pod) = state.pod {
            self.tracks[step].pod = Some(pod);
        }
        self.tracks[step].container_ended |= state.ended;
        if state.started {
            if self.status[step] == StepStatus::Pending {
                self.set(step, StepStatus::Running, None, None).await;
            }
            if matches!(self.tracks[step].log, LogState::NotStarted) {
                self.stream_log(step, Duration::ZERO);
            }
        }
        if let Some((status, exit_code, message)) = state.outcome {
            if matches!(self.tracks[step].log, LogState::Streaming(_)) {
                self.tracks[step].held = Some((status, exit_code, message));
            } else {
                self.set(step, status, exit_code, message).await;
            }
        }
    }

    /// A PipelineRun changed (or was deleted): when it is done, every step of it that did
    /// not get a final status from its TaskRun gets one from the PipelineRun.
    async fn observe_pipeline_run(&mut self, object: &DynamicObject, deleted: bool) {
        let Some(number) = label(object, LABEL_SEGMENT).and_then(|v| v.parse::<usize>().ok())
        else {
            return;
        };
        let Some(segment) = self.segments.get(&number) else {
            return;
        };
        if segment.done {
            return;
        }
        let condition = succeeded_condition(&object.data);
        let finished = condition.as_ref().is_some_and(|c| c.status != "Unknown");
        if !finished && !deleted {
            return;
        }
        // TaskRuns arrive on their own watch, possibly after their PipelineRun: read the
        // final state of each child now so no step is mistaken for skipped.
        let children: Vec<(String, String)> = object.data["status"]["childReferences"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c["pipelineTaskName"].as_str()?.to_owned(),
                    c["name"].as_str()?.to_owned(),
                ))
            })
            .collect();
        for (task, child) in &children {
            let Some(step) = self.step_index(task) else {
                continue;
            };
            if self.status[step].is_terminal() || self.tracks[step].held.is_some() {
                continue;
            }
            match self.task_runs.get(child).await {
                Ok(task_run) => self.observe_task_run(&task_run).await,
                Err(err) => {
                    tracing::warn!(run = self.run.run_id, task_run = child, error = %err, "could not read a TaskRun")
                }
            }
        }
        let skipped: Vec<(String, String)> = object.data["status"]["skippedTasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["name"].as_str()?.to_owned(),
                    s["reason"].as_str().unwrap_or("skipped").to_owned(),
                ))
            })
            .collect();
        let cancelled = condition
            .as_ref()
            .is_some_and(|c| c.reason.contains("Cancelled"));
        let reason = match (&condition, deleted) {
            (_, true) => "its PipelineRun was deleted".to_owned(),
            (Some(c), _) => format!("PipelineRun {}: {}", c.reason, c.message),
            (None, _) => "PipelineRun ended".to_owned(),
        };
        self.segments
            .get_mut(&number)
            .expect("looked up above")
            .done = true;
        let steps = self.segments[&number].steps.clone();
        for step in steps {
            // A final status on its way (held for its log, or deferred behind a need's) wins.
            if self.status[step].is_terminal()
                || self.tracks[step].held.is_some()
                || self.deferred.contains_key(&step)
            {
                continue;
            }
            let name = &self.run.plan.steps[step].name;
            let never_ran = self.status[step] == StepStatus::Pending;
            if let Some((_, why)) = skipped
                .iter()
                .find(|(task, _)| task == name)
                .filter(|_| never_ran)
            {
                let message = format!("skipped by Tekton: {why}");
                self.set(step, StepStatus::Skipped, None, Some(message))
                    .await;
            } else if cancelled || self.cancel_requested || (never_ran && deleted) {
                let message = if deleted {
                    reason.clone()
                } else {
                    "run cancelled".to_owned()
                };
                self.set(step, StepStatus::Cancelled, None, Some(message))
                    .await;
            } else {
                // Ran (or should have) and has no outcome of its own: the PipelineRun's says why.
                self.set(step, StepStatus::Failed, None, Some(reason.clone()))
                    .await;
            }
        }
    }

    async fn segment_gone(&mut self, number: usize, reason: &str) {
        let Some(segment) = self.segments.get_mut(&number) else {
            return;
        };
        segment.done = true;
        for step in segment.steps.clone() {
            let to = if self.cancel_requested {
                StepStatus::Cancelled
            } else {
                StepStatus::Failed
            };
            self.tracks[step].held = None;
            self.set(step, to, None, Some(reason.to_owned())).await;
        }
    }

    /// Follows a step's container log from where the record ends.
    fn stream_log(&mut self, step: usize, delay: Duration) {
        let Some(pod) = self.tracks[step].pod.clone() else {
            return;
        };
        let container = format!("step-{}", self.run.plan.steps[step].name);
        let (pods, events, done, skip) = (
            self.pods.clone(),
            self.events.clone(),
            self.logs_tx.clone(),
            self.tracks[step].lines,
        );
        let task = tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let lines = read_log(&pods, &pod, &container, step, skip, &events).await;
            let _ = done.send(LogEnd { step, lines });
        });
        self.tracks[step].log = LogState::Streaming(task);
    }

    async fn log_ended(&mut self, end: LogEnd) {
        let step = end.step;
        self.tracks[step].lines = end.lines;
        self.tracks[step].log = LogState::Ended;
        if let Some((status, exit_code, message)) = self.tracks[step].held.take() {
            self.set(step, status, exit_code, message).await;
        } else if !self.tracks[step].container_ended
            && !self.status[step].is_terminal()
            && self.tracks[step].reopened < LOG_REOPEN_MAX
        {
            // The stream broke while the container still runs: pick up where it stopped.
            self.tracks[step].reopened += 1;
            self.stream_log(step, LOG_REOPEN_DELAY);
        }
    }
}

/// Conveyor's objects of one run.
fn run_selector(run_id: i64) -> ListParams {
    ListParams::default().labels(&format!(
        "{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_RUN}={run_id}"
    ))
}

fn label<'a>(object: &'a DynamicObject, key: &str) -> Option<&'a str> {
    object
        .metadata
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    status: String,
    reason: String,
    message: String,
}

fn succeeded_condition(data: &Value) -> Option<Condition> {
    let condition = data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Succeeded")?;
    Some(Condition {
        status: condition["status"].as_str().unwrap_or("Unknown").to_owned(),
        reason: condition["reason"].as_str().unwrap_or_default().to_owned(),
        message: condition["message"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Maps a TaskRun's status to ours: its one step's container state and its condition.
fn task_run_state(object: &DynamicObject, step: &str) -> TaskRunState {
    let status = &object.data["status"];
    let container = status["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == step || s["container"] == format!("step-{step}"));
    let terminated = container
        .map(|c| &c["terminated"])
        .filter(|t| t.is_object());
    let running = container.is_some_and(|c| c["running"].is_object());
    let exit_code = terminated
        .and_then(|t| t["exitCode"].as_i64())
        .map(|code| code as i32);
    let outcome = succeeded_condition(&object.data).and_then(|c| match c.status.as_str() {
        "True" => Some((StepStatus::Succeeded, exit_code, None)),
        "False" => Some(match c.reason.as_str() {
            "TaskRunCancelled" => (
                StepStatus::Cancelled,
                exit_code,
                Some("cancelled".to_owned()),
            ),
            "TaskRunTimeout" => (StepStatus::Failed, exit_code, Some("timed out".to_owned())),
            _ => {
                let message = match exit_code {
                    Some(code) => format!("exited with code {code}"),
                    None if c.message.is_empty() => c.reason.clone(),
                    None => format!("{}: {}", c.reason, c.message),
                };
                (StepStatus::Failed, exit_code, Some(message))
            }
        }),
        _ => None,
    });
    TaskRunState {
        pod: status["podName"]
            .as_str()
            .filter(|p| !p.is_empty())
            .map(str::to_owned),
        // A container that ended with a start time ran; one ended before it started did not.
        started: running
            || terminated.is_some_and(|t| t.get("startedAt").is_some_and(|s| !s.is_null())),
        ended: terminated.is_some(),
        outcome,
    }
}

/// Reads one container's log to its end (follow), skipping the first `skip` pieces that are
/// already on record; returns how many pieces the log has in all.
async fn read_log(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    step: usize,
    skip: u64,
    events: &mpsc::Sender<EngineEvent>,
) -> u64 {
    let params = LogParams {
        container: Some(container.to_owned()),
        follow: true,
        ..Default::default()
    };
    let mut count = 0u64;
    let mut attempt = 0u32;
    let mut reader = loop {
        match pods.log_stream(pod, &params).await {
            Ok(reader) => break Box::pin(reader),
            // 400: the container is still waiting to start.
            Err(kube::Error::Api(status)) if status.code == 400 && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
            }
            Err(err) => {
                let text = format!("could not read the log of {container} in pod {pod}: {err}");
                let _ = events
                    .send(EngineEvent::Log {
                        step,
                        stream: LogStream::System,
                        text,
                        partial: false,
                    })
                    .await;
                return skip;
            }
        }
    };
    let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
    let mut emit = |pieces: Vec<(String, bool)>| {
        let mut out = Vec::new();
        for (text, partial) in pieces {
            count += 1;
            if count > skip {
                out.push(EngineEvent::Log {
                    step,
                    stream: LogStream::Stdout,
                    text,
                    partial,
                });
            }
        }
        out
    };
    loop {
        let chunk = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(chunk) => chunk,
        };
        let length = chunk.len();
        let pieces = splitter.push(chunk);
        reader.consume_unpin(length);
        for event in emit(pieces) {
            if events.send(event).await.is_err() {
                return count;
            }
        }
    }
    for event in emit(splitter.finish().into_iter().collect()) {
        let _ = events.send(event).await;
    }
    count.max(skip)
}
