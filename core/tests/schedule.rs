//! The one gate policy both engines follow: what starts, what is skipped, what waits for
//! approval, and what a cancel, an approval, a refusal or a re-run changes.

use conveyor_core::document::check_document;
use conveyor_core::run::StepStatus::{self, *};
use conveyor_core::schedule::{Batching, Decision, Progress, Schedule};

/// compile → (unit ∥ lint) → gate (approval) → ship
const PIPELINE: &str = "
name: web
stages:
  - name: build
    steps:
      - {name: compile, script: make}
  - name: test
    steps:
      - {name: unit, parallel: true, script: make test}
      - {name: lint, parallel: true, script: make lint}
  - name: release
    steps:
      - {name: gate, approval: true, script: echo approved}
      - {name: ship, script: ./ship}
";

/// No step (to start).
const NONE: [usize; 0] = [];

const COMPILE: usize = 0;
const UNIT: usize = 1;
const LINT: usize = 2;
const GATE: usize = 3;
const SHIP: usize = 4;

fn schedule(reused: &[bool]) -> Schedule {
    let (_, plan) = check_document(PIPELINE).expect("valid");
    Schedule::new(&plan, &Progress::fresh(plan.steps.len(), reused))
}

fn decision(step: usize, status: StepStatus, message: &str) -> Decision {
    Decision {
        step,
        status,
        message: message.into(),
    }
}

/// A placed step runs and ends: what an engine reports back.
fn finish(schedule: &mut Schedule, step: usize, status: StepStatus) {
    assert!(schedule.record(step, Running));
    assert!(schedule.record(step, status));
}

#[test]
fn steps_start_once_their_needs_succeed() {
    let mut s = schedule(&[]);
    assert_eq!(s.settle(), []);
    assert_eq!(s.start(Batching::Alone), [COMPILE]);
    assert_eq!(
        s.start(Batching::Alone),
        NONE,
        "placed steps are not offered twice"
    );
    finish(&mut s, COMPILE, Succeeded);
    assert_eq!(
        s.start(Batching::Alone),
        [UNIT, LINT],
        "parallel steps start together"
    );
    finish(&mut s, UNIT, Succeeded);
    assert_eq!(
        s.start(Batching::Alone),
        NONE,
        "the gate waits for lint too"
    );
    finish(&mut s, LINT, Succeeded);
    assert_eq!(
        s.settle(),
        [decision(GATE, WaitingApproval, "waiting for approval")]
    );
    assert_eq!(
        s.start(Batching::Alone),
        NONE,
        "a gate does not start before it is approved"
    );
    assert!(!s.ended());
}

#[test]
fn batched_together_a_step_starts_with_its_needs() {
    let mut s = schedule(&[]);
    assert_eq!(
        s.start(Batching::Together),
        [COMPILE, UNIT, LINT],
        "up to the gate"
    );
    assert_eq!(s.start(Batching::Together), NONE);
    for step in [COMPILE, UNIT, LINT] {
        finish(&mut s, step, Succeeded);
    }
    assert_eq!(
        s.settle(),
        [decision(GATE, WaitingApproval, "waiting for approval")]
    );
    assert_eq!(
        s.approve(GATE, "ada"),
        Some(decision(GATE, Pending, "approved by ada"))
    );
    assert_eq!(
        s.start(Batching::Together),
        [GATE, SHIP],
        "the rest in one batch"
    );
}

#[test]
fn a_failed_need_skips_its_dependents_and_theirs() {
    let mut s = schedule(&[]);
    s.start(Batching::Alone);
    finish(&mut s, COMPILE, Failed);
    assert_eq!(
        s.settle(),
        [
            decision(UNIT, Skipped, "skipped: \"compile\" failed"),
            decision(LINT, Skipped, "skipped: \"compile\" failed"),
            decision(GATE, Skipped, "skipped: \"unit\" skipped"),
            decision(SHIP, Skipped, "skipped: \"unit\" skipped"),
        ]
    );
    assert!(s.ended() && !s.succeeded());
    assert_eq!(s.settle(), [], "settled");
}

#[test]
fn an_approval_holds_its_step_and_a_refusal_skips_what_follows() {
    let mut s = schedule(&[]);
    s.start(Batching::Alone);
    finish(&mut s, COMPILE, Succeeded);
    s.start(Batching::Alone);
    finish(&mut s, UNIT, Succeeded);
    finish(&mut s, LINT, Succeeded);
    assert_eq!(s.approve(GATE, "ada"), None, "not waiting yet");
    s.settle();
    assert_eq!(s.status(GATE), WaitingApproval);
    assert_eq!(
        s.refuse(GATE, "bob"),
        Some(decision(GATE, Refused, "refused by bob"))
    );
    assert_eq!(s.refuse(GATE, "bob"), None, "decided already");
    assert_eq!(
        s.settle(),
        [decision(SHIP, Skipped, "skipped: \"gate\" refused")]
    );
    assert!(s.ended());
}

#[test]
fn an_approved_step_starts_like_any_other() {
    let mut s = schedule(&[true, true, true, false, false]);
    assert_eq!(
        s.settle(),
        [decision(GATE, WaitingApproval, "waiting for approval")]
    );
    assert_eq!(
        s.approve(GATE, "ada"),
        Some(decision(GATE, Pending, "approved by ada"))
    );
    assert_eq!(s.settle(), [], "approved: no longer held");
    assert_eq!(s.start(Batching::Alone), [GATE]);
    finish(&mut s, GATE, Succeeded);
    assert_eq!(s.start(Batching::Alone), [SHIP]);
    finish(&mut s, SHIP, Succeeded);
    assert!(s.ended() && s.succeeded());
}

#[test]
fn a_cancel_ends_what_waits_and_starts_nothing_more() {
    let mut s = schedule(&[true, false, false, false, false]);
    assert_eq!(s.start(Batching::Alone), [UNIT, LINT]);
    assert!(s.record(UNIT, Running));
    let cancelled = s.cancel().expect("first request");
    assert_eq!(cancelled, [], "nothing waited for an approval");
    assert_eq!(s.cancel(), None, "asked once already");
    assert_eq!(
        s.settle(),
        [
            decision(GATE, Cancelled, "run cancelled"),
            decision(SHIP, Cancelled, "run cancelled"),
        ],
        "placed steps are the engine's to stop"
    );
    assert_eq!(s.start(Batching::Together), NONE);
    assert!(s.record(UNIT, Cancelled) && s.record(LINT, Cancelled));
    assert!(!s.record(LINT, Succeeded), "an ended step stays ended");
    assert!(s.ended());
}

#[test]
fn a_cancel_takes_steps_waiting_for_approval_with_it() {
    let mut s = schedule(&[true, true, true, false, false]);
    s.settle();
    assert_eq!(
        s.cancel(),
        Some(vec![decision(GATE, Cancelled, "run cancelled")])
    );
    assert_eq!(s.settle(), [decision(SHIP, Cancelled, "run cancelled")]);
    assert!(s.ended() && s.cancel_requested());
}

#[test]
fn a_re_run_takes_over_what_succeeded_and_runs_the_rest() {
    let mut s = schedule(&[true, true, false, true, false]);
    assert_eq!(
        s.statuses(),
        [Succeeded, Succeeded, Pending, Succeeded, Pending]
    );
    assert_eq!(s.settle(), [], "a taken-over gate needs no approval again");
    assert_eq!(s.start(Batching::Alone), [LINT]);
    finish(&mut s, LINT, Succeeded);
    assert_eq!(s.start(Batching::Alone), [SHIP]);
}

#[test]
fn a_resumed_run_keeps_its_approvals_and_cancel_request() {
    let (_, plan) = check_document(PIPELINE).expect("valid");
    let mut progress = Progress::fresh(plan.steps.len(), &[true, true, true]);
    progress.approved[GATE] = true;
    let mut s = Schedule::new(&plan, &progress);
    assert_eq!(s.settle(), [], "approved before the restart");
    assert_eq!(s.start(Batching::Alone), [GATE]);
    progress.cancel_requested = true;
    let mut s = Schedule::new(&plan, &progress);
    assert_eq!(s.cancel(), None, "the request is on record");
    assert_eq!(s.start(Batching::Alone), NONE);
}
