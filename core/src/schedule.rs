//! The one gate policy of every engine: which of a run's steps may start now, which are
//! skipped because a need did not succeed, which wait for approval, and what a cancel, an
//! approval or a refusal changes. Engines decide how a step runs; this decides when.

use crate::plan::Plan;
use crate::run::StepStatus;

/// What is on record about a run when an engine takes it up: a new run, a re-run of its
/// failed steps, or a run a previous server process left in flight.
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
    /// A run of `steps` steps that has not started; those a re-run takes over (`reused`)
    /// have succeeded already.
    pub fn fresh(steps: usize, reused: &[bool]) -> Progress {
        let status = |step: usize| match reused.get(step) {
            Some(true) => StepStatus::Succeeded,
            _ => StepStatus::Pending,
        };
        Progress {
            steps: (0..steps).map(status).collect(),
            approved: vec![false; steps],
            log_lines: vec![0; steps],
            cancel_requested: false,
        }
    }
}

/// A status change the schedule made, for the engine to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub step: usize,
    pub status: StepStatus,
    pub message: String,
}

/// Which steps an engine starts at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Batching {
    /// Each step once its needs have succeeded (the local engine: a process per step).
    Alone,
    /// Also the steps whose needs start with them (Tekton: one PipelineRun orders them).
    Together,
}

/// Where a run's steps stand, as far as deciding what happens next goes.
#[derive(Debug, Clone)]
pub struct Schedule {
    names: Vec<String>,
    needs: Vec<Vec<usize>>,
    gated: Vec<bool>,
    status: Vec<StepStatus>,
    approved: Vec<bool>,
    /// Handed to the engine to run; it reports what becomes of them.
    placed: Vec<bool>,
    cancel_requested: bool,
}

impl Schedule {
    pub fn new(plan: &Plan, progress: &Progress) -> Schedule {
        let count = plan.steps.len();
        let at = |list: &[bool], step: usize| list.get(step).copied().unwrap_or(false);
        Schedule {
            names: plan.steps.iter().map(|s| s.name.clone()).collect(),
            needs: plan.steps.iter().map(|s| s.needs.clone()).collect(),
            gated: plan.steps.iter().map(|s| s.approval).collect(),
            status: (0..count)
                .map(|step| {
                    progress
                        .steps
                        .get(step)
                        .copied()
                        .unwrap_or(StepStatus::Pending)
                })
                .collect(),
            approved: (0..count)
                .map(|step| at(&progress.approved, step))
                .collect(),
            placed: vec![false; count],
            cancel_requested: progress.cancel_requested,
        }
    }

    pub fn status(&self, step: usize) -> StepStatus {
        self.status
            .get(step)
            .copied()
            .unwrap_or(StepStatus::Pending)
    }

    pub fn statuses(&self) -> &[StepStatus] {
        &self.status
    }

    pub fn len(&self) -> usize {
        self.status.len()
    }

    pub fn is_empty(&self) -> bool {
        self.status.is_empty()
    }

    pub fn needs(&self, step: usize) -> &[usize] {
        self.needs.get(step).map_or(&[], Vec::as_slice)
    }

    pub fn cancel_requested(&self) -> bool {
        self.cancel_requested
    }

    /// Whether the step went to the engine (or was taken up from an earlier process's).
    pub fn is_placed(&self, step: usize) -> bool {
        self.placed.get(step).copied().unwrap_or(false)
    }

    /// Marks steps as already with the engine (a run picked up after a restart).
    pub fn place(&mut self, steps: &[usize]) {
        for &step in steps {
            if let Some(placed) = self.placed.get_mut(step) {
                *placed = true;
            }
        }
    }

    /// Every step has ended.
    pub fn ended(&self) -> bool {
        self.status.iter().all(|s| s.is_terminal())
    }

    /// Every step has succeeded (or been taken over as succeeded).
    pub fn succeeded(&self) -> bool {
        self.status.iter().all(|s| *s == StepStatus::Succeeded)
    }

    /// Records what became of a step (started, ended). False when that changes nothing:
    /// the step has that status already, or has ended.
    pub fn record(&mut self, step: usize, status: StepStatus) -> bool {
        match self.status.get_mut(step) {
            Some(current) if *current != status && !current.is_terminal() => {
                *current = status;
                true
            }
            _ => false,
        }
    }

    /// Cancels, skips and holds what waits, until nothing more changes: after a cancel
    /// request every waiting step is cancelled; a step whose need failed, was skipped,
    /// refused or cancelled is skipped; an approval step whose needs succeeded waits for
    /// its approval.
    pub fn settle(&mut self) -> Vec<Decision> {
        let mut decisions = Vec::new();
        loop {
            let before = decisions.len();
            for step in 0..self.status.len() {
                if self.status[step] != StepStatus::Pending || self.placed[step] {
                    continue;
                }
                let blocker = self.needs[step].iter().copied().find(|&need| {
                    matches!(
                        self.status[need],
                        StepStatus::Failed
                            | StepStatus::Skipped
                            | StepStatus::Refused
                            | StepStatus::Cancelled
                    )
                });
                let decision = if self.cancel_requested {
                    (StepStatus::Cancelled, "run cancelled".to_owned())
                } else if let Some(need) = blocker {
                    let why = format!("skipped: \"{}\" {}", self.names[need], self.status[need]);
                    (StepStatus::Skipped, why)
                } else if self.gated[step] && !self.approved[step] && self.needs_succeeded(step) {
                    (
                        StepStatus::WaitingApproval,
                        "waiting for approval".to_owned(),
                    )
                } else {
                    continue;
                };
                self.status[step] = decision.0;
                decisions.push(Decision {
                    step,
                    status: decision.0,
                    message: decision.1,
                });
            }
            if decisions.len() == before {
                return decisions;
            }
        }
    }

    /// The steps to start now, marked as placed: pending, not placed, not waiting for an
    /// approval, and whose needs have succeeded (or, batched together, start with them).
    /// None once a cancel was requested.
    pub fn start(&mut self, batching: Batching) -> Vec<usize> {
        if self.cancel_requested {
            return Vec::new();
        }
        let mut chosen = vec![false; self.status.len()];
        loop {
            let mut grew = false;
            for step in 0..self.status.len() {
                let may = self.status[step] == StepStatus::Pending
                    && !self.placed[step]
                    && !chosen[step]
                    && (!self.gated[step] || self.approved[step]);
                let met = self.needs[step].iter().all(|&need| {
                    self.status[need] == StepStatus::Succeeded
                        || (batching == Batching::Together && chosen[need])
                });
                if may && met {
                    chosen[step] = true;
                    grew = true;
                }
            }
            if !grew || batching == Batching::Alone {
                break;
            }
        }
        let steps: Vec<usize> = (0..chosen.len()).filter(|&step| chosen[step]).collect();
        self.place(&steps);
        steps
    }

    /// A cancel request. `None` when one was made already; else the steps waiting for an
    /// approval, cancelled (waiting steps are cancelled by the next [`Self::settle`]).
    pub fn cancel(&mut self) -> Option<Vec<Decision>> {
        if self.cancel_requested {
            return None;
        }
        self.cancel_requested = true;
        let mut decisions = Vec::new();
        for step in 0..self.status.len() {
            if self.status[step] == StepStatus::WaitingApproval {
                self.status[step] = StepStatus::Cancelled;
                decisions.push(Decision {
                    step,
                    status: StepStatus::Cancelled,
                    message: "run cancelled".into(),
                });
            }
        }
        Some(decisions)
    }

    /// Approves a step that waits for it: it goes back to pending, to start with the next
    /// [`Self::start`]. `None` when the step is not waiting.
    pub fn approve(&mut self, step: usize, by: &str) -> Option<Decision> {
        self.decide(step, StepStatus::Pending, &format!("approved by {by}"))
    }

    /// Refuses a step that waits for approval; its dependents are skipped by the next
    /// [`Self::settle`]. `None` when the step is not waiting.
    pub fn refuse(&mut self, step: usize, by: &str) -> Option<Decision> {
        self.decide(step, StepStatus::Refused, &format!("refused by {by}"))
    }

    fn decide(&mut self, step: usize, status: StepStatus, message: &str) -> Option<Decision> {
        if self.status.get(step) != Some(&StepStatus::WaitingApproval) {
            return None;
        }
        self.status[step] = status;
        self.approved[step] = status == StepStatus::Pending;
        Some(Decision {
            step,
            status,
            message: message.into(),
        })
    }

    fn needs_succeeded(&self, step: usize) -> bool {
        self.needs[step]
            .iter()
            .all(|&need| self.status[need] == StepStatus::Succeeded)
    }
}
