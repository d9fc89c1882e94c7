//! What the cluster says about a run: its TaskRuns' and PipelineRuns' conditions mapped to
//! step statuses, in the order the record needs; and, after a restart, what is there.

use conveyor_core::run::StepStatus;
use kube::api::DynamicObject;
use serde_json::Value;

use super::logs::LogState;
use super::{Driver, Segment};
use crate::engine::tekton::compile::LABEL_SEGMENT;
use crate::engine::EngineError;

/// Tekton's label on a TaskRun naming its pipeline task (our step).
const LABEL_PIPELINE_TASK: &str = "tekton.dev/pipelineTask";

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

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    status: String,
    reason: String,
    message: String,
}

impl Driver {
    /// After a restart: reads the run's PipelineRuns and TaskRuns from the cluster and
    /// takes up where the record ends.
    pub(crate) async fn recover(&mut self) -> Result<(), EngineError> {
        let list = |err: kube::Error| {
            EngineError::Cluster(format!("cannot list the run's PipelineRuns: {err}"))
        };
        let selector = super::run_selector(self.run.run_id);
        let runs = self.runs.list(&selector).await.map_err(list)?;
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
            self.schedule.place(&steps);
            self.segments.insert(
                number,
                Segment {
                    name,
                    steps,
                    done: false,
                },
            );
        }
        let task_runs = self.task_runs.list(&selector).await.map_err(list)?;
        for object in task_runs.items {
            self.observe_task_run(&object).await;
        }
        for object in runs.items {
            self.observe_pipeline_run(&object, false).await;
        }
        // Running on record but in no PipelineRun: it cannot be followed any more.
        for step in 0..self.schedule.len() {
            if self.schedule.status(step) == StepStatus::Running
                && self.tracks[step].segment.is_none()
            {
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

    pub(super) async fn replay_deferred(&mut self) {
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
        self.schedule
            .needs(step)
            .iter()
            .all(|&need| self.schedule.status(need).is_terminal())
    }

    pub(super) async fn observe_task_run(&mut self, object: &DynamicObject) {
        let Some(step) = label(object, LABEL_PIPELINE_TASK).and_then(|name| self.step_index(name))
        else {
            return;
        };
        if self.tracks[step].segment.is_none()
            || self.schedule.status(step).is_terminal()
            || self.tracks[step].held.is_some()
        {
            return;
        }
        if !self.needs_recorded(step) {
            self.deferred.insert(step, object.clone());
            return;
        }
        let task = conveyor_core::definition::kubernetes_name(self.run.step_name(step));
        let state = task_run_state(object, &task);
        if let Some(pod) = state.pod {
            self.tracks[step].pod = Some(pod);
        }
        self.tracks[step].container_ended |= state.ended;
        if state.started {
            if self.schedule.status(step) == StepStatus::Pending {
                self.set(step, StepStatus::Running, None, None).await;
            }
            if matches!(self.tracks[step].log, LogState::NotStarted) {
                self.stream_log(step, std::time::Duration::ZERO);
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
    pub(super) async fn observe_pipeline_run(&mut self, object: &DynamicObject, deleted: bool) {
        let Some(number) = label(object, LABEL_SEGMENT).and_then(|v| v.parse::<usize>().ok())
        else {
            return;
        };
        if self
            .segments
            .get(&number)
            .is_none_or(|segment| segment.done)
        {
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
            if self.schedule.status(step).is_terminal() || self.tracks[step].held.is_some() {
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
        let Some(segment) = self.segments.get_mut(&number) else {
            return;
        };
        segment.done = true;
        for step in segment.steps.clone() {
            // A final status on its way (held for its log, or deferred behind a need's) wins.
            if self.schedule.status(step).is_terminal()
                || self.tracks[step].held.is_some()
                || self.deferred.contains_key(&step)
            {
                continue;
            }
            // Tekton's skippedTasks name pipeline tasks.
            let name = conveyor_core::definition::kubernetes_name(self.run.step_name(step));
            let never_ran = self.schedule.status(step) == StepStatus::Pending;
            if let Some((_, why)) = skipped
                .iter()
                .find(|(task, _)| *task == name)
                .filter(|_| never_ran)
            {
                let message = format!("skipped by Tekton: {why}");
                self.set(step, StepStatus::Skipped, None, Some(message))
                    .await;
            } else if cancelled || self.schedule.cancel_requested() || (never_ran && deleted) {
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

    pub(super) async fn segment_gone(&mut self, number: usize, reason: &str) {
        let Some(segment) = self.segments.get_mut(&number) else {
            return;
        };
        segment.done = true;
        for step in segment.steps.clone() {
            let to = if self.schedule.cancel_requested() {
                StepStatus::Cancelled
            } else {
                StepStatus::Failed
            };
            self.tracks[step].held = None;
            self.set(step, to, None, Some(reason.to_owned())).await;
        }
    }
}

fn label<'a>(object: &'a DynamicObject, key: &str) -> Option<&'a str> {
    object
        .metadata
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
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
