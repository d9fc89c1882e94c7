//! What a run's webhooks are told: which step changes they listen for, and the JSON body of
//! each call.

use conveyor_core::definition::Webhook;
use conveyor_core::dto::RunSummary;
use conveyor_core::resolve::ResolvedRun;
use conveyor_core::run::StepStatus;

use crate::engine::RunSecrets;
use crate::notify::{Notice, SigningKey};

/// A step status change, as webhooks are told of it.
pub struct StepChange {
    pub step: usize,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub at: i64,
}

/// The webhooks of a run's steps, and what their calls say about the run.
#[derive(Default)]
pub struct RunHooks {
    pipeline: String,
    run_number: i64,
    tag: String,
    /// Per step (plan order): its name, its stage's name and its webhooks, each with the
    /// key that signs its calls.
    steps: Vec<(String, String, Vec<SignedHook>)>,
}

/// A webhook and the key that signs its calls, if it names one.
type SignedHook = (Webhook, Option<SigningKey>);

impl RunHooks {
    /// `secrets` holds the values of the secrets that sign calls.
    pub fn new(run: &RunSummary, resolved: &ResolvedRun, secrets: &RunSecrets) -> RunHooks {
        let plan = &resolved.plan;
        let steps = plan
            .steps
            .iter()
            .zip(&resolved.steps)
            .map(|(planned, step)| {
                let stage = plan
                    .stages
                    .get(planned.stage)
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                let hooks = step
                    .webhooks
                    .iter()
                    .map(|hook| {
                        let key = hook.secret.as_deref().and_then(|name| secrets.value(name));
                        (hook.clone(), key.map(|k| SigningKey(k.to_owned())))
                    })
                    .collect();
                (planned.name.clone(), stage, hooks)
            })
            .collect();
        RunHooks {
            pipeline: run.pipeline.clone(),
            run_number: run.number,
            tag: run.tag.clone(),
            steps,
        }
    }

    pub fn listens(&self, step: usize, status: StepStatus) -> bool {
        let Some(event) = status.webhook_event() else {
            return false;
        };
        self.steps.get(step).is_some_and(|(_, _, hooks)| {
            hooks
                .iter()
                .any(|(h, _)| h.events.iter().any(|e| e == event))
        })
    }

    /// The calls one change makes: one per webhook that listens for it.
    pub fn notices(&self, run_id: i64, change: StepChange) -> Vec<Notice> {
        let (Some(event), Some((name, stage, hooks))) =
            (change.status.webhook_event(), self.steps.get(change.step))
        else {
            return Vec::new();
        };
        let payload = serde_json::json!({
            "event": event,
            "text": format!("{} #{} ({}): step {name} {}", self.pipeline, self.run_number, self.tag, change.status),
            "pipeline": self.pipeline,
            "run": {"id": run_id, "number": self.run_number, "tag": self.tag},
            "step": {
                "name": name,
                "stage": stage,
                "status": change.status,
                "exit_code": change.exit_code,
                "message": change.message,
            },
            "at": change.at,
        });
        hooks
            .iter()
            .filter(|(hook, _)| hook.events.iter().any(|e| e == event))
            .map(|(hook, key)| Notice {
                run_id,
                step: name.clone(),
                event,
                url: hook.url.clone(),
                payload: payload.clone(),
                signing_key: key.clone(),
                authorization: None,
                in_order: None,
            })
            .collect()
    }
}
