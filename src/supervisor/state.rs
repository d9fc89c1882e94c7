//! One run as its supervisor knows it. Every change goes through the pure transitions of
//! `conveyor_core::run` and becomes an event of the batch to persist.

use conveyor_core::dto::RunSummary;
use conveyor_core::run::{Event, EventBody, LogStream, RunStatus, StepState, StepStatus};

use super::hooks::{RunHooks, StepChange};
use crate::engine::EngineEvent;
use crate::registry::ImageLookup;
use crate::store::logs::Line;
use crate::store::{now_ms, Batch};

pub struct RunState {
    pub(super) run_id: i64,
    /// Step names, for the run's outcome message.
    names: Vec<String>,
    steps: Vec<StepStatus>,
    run: RunStatus,
    cancel_requested: bool,
    seq: i64,
    /// The sequence number of the last status event committed (0: unknown, on a resumed
    /// run: followers then ask the store).
    pub(super) last_event: i64,
    pub(super) batch: Batch,
    pub(super) finished: bool,
    /// The engine let go of the run without ending it; a later process resumes it.
    pub(super) detached: bool,
    pub(super) hooks: RunHooks,
    /// Step changes some webhook listens for, to announce once they are committed.
    pub(super) notices: Vec<StepChange>,
    /// The image the run pushes (a workflow's build), recorded by digest at its end.
    pub image: Option<ImageLookup>,
    /// The digest the registry gave for it.
    pub(super) pushed: Option<String>,
    /// The deploy the run makes (a workflow's), recorded as a release at its end.
    pub release: Option<ReleasePlan>,
    /// The deploy step's last line: why it failed, when it did.
    pub deploy_said: Option<String>,
}

/// A workflow run's deploy, recorded as a release when the run ends (kept with the run, for
/// a server that resumes it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReleasePlan {
    /// The step that deploys.
    pub step: String,
    /// The image the manifest names (`name:tag`), pinned once the build's digest is known.
    pub image: String,
    /// A rollback: the release it deploys again, and that release's digest.
    pub rollback: Option<(i64, String)>,
}

impl RunState {
    /// A run about to start; the steps a re-run takes over (`reused`) have succeeded.
    pub fn new(run_id: i64, names: Vec<String>, reused: &[bool], hooks: RunHooks) -> RunState {
        let steps = (0..names.len())
            .map(|step| match reused.get(step) {
                Some(true) => StepStatus::Succeeded,
                _ => StepStatus::Pending,
            })
            .collect();
        RunState {
            run_id,
            names,
            steps,
            run: RunStatus::Pending,
            cancel_requested: false,
            seq: 0,
            last_event: 0,
            batch: Batch::default(),
            finished: false,
            detached: false,
            hooks,
            notices: Vec::new(),
            image: None,
            pushed: None,
            release: None,
            deploy_said: None,
        }
    }

    /// The image the run pushed, once the step that pushes it has succeeded (its index).
    pub(super) fn pushed_image(&self) -> Option<(usize, ImageLookup)> {
        let lookup = self.image.as_ref()?;
        let step = self.names.iter().position(|n| *n == lookup.step)?;
        (self.steps[step] == StepStatus::Succeeded).then(|| (step, lookup.clone()))
    }

    /// The outcome of the run's deploy once it ended (none when it never ran, or was
    /// cancelled), with the step's last words when it failed.
    pub(super) fn deploy_outcome(&self) -> Option<(bool, Option<String>)> {
        let plan = self.release.as_ref()?;
        let step = self.names.iter().position(|n| *n == plan.step)?;
        match self.steps[step] {
            StepStatus::Succeeded => Some((true, None)),
            StepStatus::Failed => Some((false, self.deploy_said.clone())),
            // Cancelled once it had begun (it said something): the cluster may hold the
            // new image, half rolled out.
            StepStatus::Cancelled if self.deploy_said.is_some() => {
                Some((false, Some("cancelled while deploying".to_owned())))
            }
            _ => None,
        }
    }

    /// A run on record, taken up where its events end.
    pub fn restore(
        run: &RunSummary,
        steps: &[StepState],
        last_seq: i64,
        hooks: RunHooks,
    ) -> RunState {
        let names = steps.iter().map(|s| s.name.clone()).collect();
        let mut state = RunState::new(run.id, names, &[], hooks);
        state.steps = steps.iter().map(|s| s.status).collect();
        state.run = run.status;
        state.cancel_requested = run.status == RunStatus::Cancelling;
        state.seq = last_seq;
        state
    }

    /// Whether the run has ended (its status is final).
    pub(super) fn ended(&self) -> bool {
        self.run.is_terminal()
    }

    /// The last sequence number given out.
    pub(super) fn seq(&self) -> i64 {
        self.seq
    }

    fn push_lines(
        &mut self,
        step: usize,
        stream: LogStream,
        lines: impl IntoIterator<Item = (String, bool)>,
    ) {
        if step >= self.steps.len() {
            tracing::warn!(run = self.run_id, step, "log line for an unknown step");
            return;
        }
        let ts = now_ms();
        let deploys = self
            .release
            .as_ref()
            .is_some_and(|plan| plan.step == self.names[step]);
        for (text, partial) in lines {
            if deploys && !text.trim().is_empty() {
                self.deploy_said = Some(text.clone());
            }
            self.seq += 1;
            self.batch.lines.push((
                step,
                Line {
                    seq: self.seq,
                    ts,
                    stream,
                    partial,
                    text,
                },
            ));
        }
    }

    fn push(&mut self, body: EventBody<usize>) {
        self.seq += 1;
        self.batch.events.push(Event {
            seq: self.seq,
            ts: now_ms(),
            body,
        });
    }

    pub fn set_run(&mut self, to: RunStatus, message: Option<String>) {
        if to == self.run {
            return;
        }
        match self.run.transition(to) {
            Ok(to) => {
                self.run = to;
                self.push(EventBody::Run {
                    status: to,
                    message,
                });
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
                self.push(EventBody::Step {
                    step,
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
    pub fn apply(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Log {
                step,
                stream,
                text,
                partial,
            } => self.push_lines(step, stream, [(text, partial)]),
            EngineEvent::Lines {
                step,
                stream,
                lines,
            } => self.push_lines(step, stream, lines),
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
                .map(|i| self.names[i].clone())
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

    /// Marks the run as being cancelled (what [`RunState::abandon`] then ends it as).
    pub fn request_cancel(&mut self) {
        self.cancel_requested = true;
    }

    /// Ends the run without its engine: unfinished steps are closed and the run fails
    /// (or, if a cancel was under way, is cancelled) with the reason given.
    pub fn abandon(&mut self, reason: &str) {
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
