//! A run's steps resolved once, when the run starts: what each one runs, in which image,
//! with which variables, webhooks and node selector. Engines and the supervisor take a
//! run's steps from here and never go back to its definition.

use serde::{Deserialize, Serialize};

use crate::access::Role;
use crate::approval::{ApprovalRule, Approver};
use crate::definition::{Params, Pipeline, PullPolicy, Runner, Step, Webhook};
use crate::params::{merge_params, run_params};
use crate::plan::Plan;
use crate::secrets::SecretUse;

/// What a step runs. The step's own script or command wins over its action's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Program {
    /// Run with `sh -e`, from a file (never spliced into a command line).
    Script { script: String },
    /// A program and its arguments, run directly.
    Command {
        command: Vec<String>,
        args: Vec<String>,
    },
    /// Neither: the image's own entrypoint, with these arguments.
    Entrypoint { args: Vec<String> },
}

/// One step as every engine runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedStep {
    pub program: Program,
    /// The container image it names, directly or through its action.
    pub image: Option<String>,
    /// Where it runs on the local engine: in a container of `image`, or on the host (no
    /// image, or `runner: host`). Always written: runs resolved before containers (which
    /// lack it) ran on the host.
    #[serde(default = "host")]
    pub runner: Runner,
    /// When the local engine pulls its image.
    #[serde(default, skip_serializing_if = "is_default_pull")]
    pub pull: PullPolicy,
    /// The secret (a registry `config.json`) its image is pulled with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<String>,
    /// Params by the seeds' precedence (with the run's `TAG`), then the step's `env` over
    /// them: what the step sees besides the host's (or image's) and Conveyor's own.
    pub env: Params,
    pub webhooks: Vec<Webhook>,
    pub node_selector: Params,
    /// The secrets it gets (names and variables; their values reach the engine apart, and
    /// are never on record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretUse>,
    /// Who may decide its approval gate (runs resolved before gates named anyone: anyone
    /// who may run the pipeline).
    #[serde(default, skip_serializing_if = "is_open")]
    pub approval: ApprovalRule,
}

fn host() -> Runner {
    Runner::Host
}

fn is_default_pull(pull: &PullPolicy) -> bool {
    *pull == PullPolicy::IfNotPresent
}

fn is_open(rule: &ApprovalRule) -> bool {
    *rule == ApprovalRule::default()
}

/// A started run's plan with every step resolved (by plan index).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedRun {
    pub pipeline: String,
    pub plan: Plan,
    pub steps: Vec<ResolvedStep>,
    /// Where the workspace also appears in every container, besides
    /// [`WORKSPACE_PATH`](crate::definition::WORKSPACE_PATH).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspace_paths: Vec<String>,
}

impl ResolvedRun {
    /// Resolves every step of `pipeline` (planned as `plan`) for a run with `tag` and
    /// `params`.
    pub fn resolve(pipeline: &Pipeline, plan: Plan, tag: &str, params: &Params) -> ResolvedRun {
        let given = run_params(params, tag);
        let steps = pipeline
            .stages
            .iter()
            .flat_map(|stage| &stage.steps)
            .map(|step| resolve_step(pipeline, step, &given))
            .collect();
        ResolvedRun {
            pipeline: pipeline.name.clone(),
            plan,
            steps,
            workspace_paths: pipeline.workspace_paths.clone(),
        }
    }

    /// A step's name.
    pub fn name(&self, step: usize) -> &str {
        self.plan.steps.get(step).map_or("", |s| s.name.as_str())
    }

    /// A step's variables, the same on every engine: its resolved ones, then Conveyor's
    /// own. What the host (local engine) or the image (Tekton) provides comes before these.
    pub fn environment(
        &self,
        step: usize,
        run_id: i64,
        tag: &str,
        workspace: &str,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .steps
            .get(step)
            .map(|s| s.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        env.extend([
            ("CONVEYOR_RUN_ID".to_owned(), run_id.to_string()),
            ("CONVEYOR_TAG".to_owned(), tag.to_owned()),
            ("CONVEYOR_WORKSPACE".to_owned(), workspace.to_owned()),
            ("CONVEYOR_PIPELINE".to_owned(), self.pipeline.clone()),
            ("CONVEYOR_STEP".to_owned(), self.name(step).to_owned()),
        ]);
        env
    }
}

fn resolve_step(pipeline: &Pipeline, step: &Step, given: &Params) -> ResolvedStep {
    let mut env = merge_params(pipeline, step, given);
    env.extend(step.env.clone());
    let action = pipeline.action_of(step);
    let image = step
        .image
        .clone()
        .or_else(|| action.and_then(|a| a.image.clone()));
    // The step's say, then its action's (seed 004 picks the runner by the action), then the
    // pipeline's; without an image only Kubernetes keeps a step off the host.
    let asked = step
        .runner
        .or(action.and_then(|a| a.runner))
        .or(pipeline.runner)
        .unwrap_or_default();
    ResolvedStep {
        program: program(pipeline, step),
        runner: match (&image, asked) {
            (_, Runner::Kubernetes) => Runner::Kubernetes,
            (Some(_), asked) => asked,
            (None, _) => Runner::Host,
        },
        pull: step.pull.unwrap_or_default(),
        pull_secret: image.as_ref().and(
            step.pull_secret
                .clone()
                .or_else(|| pipeline.pull_secret.clone()),
        ),
        image,
        env,
        webhooks: step.webhooks.clone(),
        node_selector: step.node_selector.clone(),
        secrets: step.secrets.clone(),
        // A stored definition passed its checks; should one no longer read, only admins
        // decide its gates (never everyone).
        approval: ApprovalRule::read("", &step.approval_params).unwrap_or_else(|_| ApprovalRule {
            approvers: vec![Approver::Role(Role::Admin)],
            four_eyes: false,
        }),
    }
}

fn program(pipeline: &Pipeline, step: &Step) -> Program {
    if let Some(script) = &step.script {
        return Program::Script {
            script: script.clone(),
        };
    }
    if !step.command.is_empty() {
        return Program::Command {
            command: step.command.clone(),
            args: step.args.clone(),
        };
    }
    let Some(action) = pipeline.action_of(step) else {
        return Program::Entrypoint {
            args: step.args.clone(),
        };
    };
    // The step's own arguments, when it gives any, replace its action's.
    let args = if step.args.is_empty() {
        &action.args
    } else {
        &step.args
    }
    .clone();
    match &action.script {
        Some(script) => Program::Script {
            script: script.clone(),
        },
        None if !action.command.is_empty() => Program::Command {
            command: action.command.clone(),
            args,
        },
        None => Program::Entrypoint { args },
    }
}
