//! The pipeline format: plain serde types shared by the server and the browser.
//!
//! A document is YAML or JSON (JSON is read by the same YAML parser). Native pipelines,
//! KubeCI `Workflow` manifests and taskflow `Task` manifests all become a [`Pipeline`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::action::{Action, ParamRule, PullPolicy, Runner, WORKSPACE_PATH};
use crate::triggers::{On, Repository};

/// Parameters and environment: string keys and scalar values, stored as strings.
pub type Params = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// DNS label; immutable once the pipeline is saved.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Global parameters, merged into every step's environment.
    #[serde(
        default,
        rename = "with",
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "crate::scalar_map::deserialize"
    )]
    pub with: Params,
    /// Reusable, versioned step templates referenced by `step.action` as `name@version`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Where this pipeline's runs go, over the server's default engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineKind>,
    /// What a new run does while another of this pipeline is in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
    /// Where its code is: runs started by a push or pull request check that commit out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<Repository>,
    /// What starts its runs besides people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<On>,
    /// Where its steps run on the local engine unless a step says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
    /// A secret holding a registry `config.json` (`{"auths": …}`) its steps' images are
    /// pulled with, unless a step names its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<String>,
    /// Absolute paths where the run's workspace also appears in every container, besides
    /// `/workspace` (a KubeCI Workflow's steps share `/kubeci`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspace_paths: Vec<String>,
    /// How many of its finished runs are kept (over the server's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Seed 001's files to mount: refused with the reason (see `workspace_paths`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub mount: Option<serde_json::Value>,
    pub stages: Vec<Stage>,
    /// The catalog's actions its steps name, attached by the server (never stored: a
    /// version names them). `None`: not looked up (the browser, `conveyor validate`), so a
    /// step naming an action that is not inline is left for the server to check.
    #[serde(skip)]
    pub catalog: Option<Vec<Action>>,
}

/// Which finished runs a pipeline keeps: its last `runs`, and/or those of its last `days`
/// (a run either keeps is kept); its latest successful run is always kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

/// What a new run does while another run of its pipeline is in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Concurrency {
    /// It waits (`queued`) and starts when the runs before it have ended, in order.
    #[default]
    Queue,
    /// It cancels the older runs of its branch, in flight or queued, and waits for them to
    /// end (GitHub's cancel-in-progress).
    CancelPrevious,
    /// It is refused (409) while another run is in flight.
    Refuse,
}

impl Concurrency {
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::Queue => "queue",
            Concurrency::CancelPrevious => "cancel-previous",
            Concurrency::Refuse => "refuse",
        }
    }
}

/// The engines a server can have, and a pipeline can ask for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Processes on the Conveyor host.
    Local,
    /// PipelineRuns on the Kubernetes cluster the server is configured for.
    Tekton,
}

impl EngineKind {
    pub const ALL: [EngineKind; 2] = [EngineKind::Local, EngineKind::Tekton];

    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Local => "local",
            EngineKind::Tekton => "tekton",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        EngineKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown engine \"{text}\"; expected one of: local, tekton"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Seed 001's stage number: kept, not used (stages are known by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub name: String,
    /// Stages that must succeed first. Omitted: the previous stage. `[]`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// Container image the step runs in (on the local engine through podman or docker,
    /// unless its runner is `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Where it runs on the local engine (over the pipeline's `runner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
    /// When its image is pulled (default: if not present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullPolicy>,
    /// A secret holding the registry `config.json` its image is pulled with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret: Option<String>,
    /// A shell script, run with `sh -e`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// A program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `name@version` of an action in `actions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(
        default,
        rename = "with",
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "crate::scalar_map::deserialize"
    )]
    pub with: Params,
    #[serde(
        default,
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "crate::scalar_map::deserialize"
    )]
    pub env: Params,
    /// Secrets from the server's store, each in a variable (its own name, or `env`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretUse>,
    /// Steps that must succeed first. Omitted: the step's place in its stage decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
    /// Runs alongside the neighbouring parallel steps of its stage (seed 001:
    /// `is_parallel`).
    #[serde(default, alias = "is_parallel", skip_serializing_if = "is_false")]
    pub parallel: bool,
    /// Like `30s`, `5m`, `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Waits for a person to approve before it runs (seed 001: `with_audit`).
    #[serde(default, alias = "with_audit", skip_serializing_if = "is_false")]
    pub approval: bool,
    /// Who may decide (seed 001: `audit_params`).
    #[serde(
        default,
        alias = "audit_params",
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "crate::scalar_map::deserialize"
    )]
    pub approval_params: Params,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
    #[serde(
        default,
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "crate::scalar_map::deserialize"
    )]
    pub node_selector: Params,
    /// Seed 001's notification switch and params: `false` and none are accepted; anything
    /// else is refused with the reason (notifications are `webhooks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_notify: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "crate::scalar_map::deserialize"
    )]
    pub notify_params: Params,
    /// Seed 001's namespace of a step: refused with the reason (steps run in their
    /// engine's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A secret a step gets, and the variable it goes in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecretUse {
    pub name: String,
    /// The variable; none: the secret's own name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl SecretUse {
    pub fn variable(&self) -> &str {
        self.env.as_deref().unwrap_or(&self.name)
    }
}

impl<'de> Deserialize<'de> for SecretUse {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Name(String),
            Full {
                name: String,
                #[serde(default)]
                env: Option<String>,
            },
        }
        match Given::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom("a secret is its NAME, or {name: NAME, env: VARIABLE}")
        })? {
            Given::Name(name) => Ok(SecretUse { name, env: None }),
            Given::Full { name, env } => Ok(SecretUse { name, env }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    pub events: Vec<String>,
    /// A secret (by name, from the secrets store) that signs each call: HMAC-SHA256 of
    /// the timestamp and body, in `X-Conveyor-Signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl Pipeline {
    /// The action a step uses (`action: name@version`), if it names one that exists.
    /// Inline actions first, then the catalog's (when the server attached them).
    pub fn action_of(&self, step: &Step) -> Option<&Action> {
        let (name, version) = step.action.as_deref()?.split_once('@')?;
        self.actions
            .iter()
            .chain(self.catalog.iter().flatten())
            .find(|a| a.name == name && a.version == version)
    }

    /// The `name@version` references of its steps that no inline action answers: what the
    /// server looks up in the catalog.
    pub fn catalog_references(&self) -> Vec<(String, String)> {
        let mut wanted: Vec<(String, String)> = self
            .stages
            .iter()
            .flat_map(|stage| &stage.steps)
            .filter_map(|step| step.action.as_deref()?.split_once('@'))
            .filter(|(name, version)| {
                !self
                    .actions
                    .iter()
                    .any(|a| a.name == *name && a.version == *version)
            })
            .map(|(name, version)| (name.to_owned(), version.to_owned()))
            .collect();
        wanted.sort();
        wanted.dedup();
        wanted
    }
}

/// Where a step is in a document: `stages[1].steps[0]`.
pub fn step_path(stage: usize, step: usize) -> String {
    format!("stages[{stage}].steps[{step}]")
}

/// A step's name where Kubernetes needs a DNS label (a Tekton pipeline task, its
/// container): step names may hold '.' (seed 001's `step1.1`), which becomes '-'.
pub fn kubernetes_name(step: &str) -> String {
    step.replace('.', "-")
}

/// Step outcomes a webhook may subscribe to.
pub const WEBHOOK_EVENTS: [&str; 6] = [
    "STARTED",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "SKIPPED",
    "REFUSED",
];

fn is_false(value: &bool) -> bool {
    !*value
}

/// One problem in a definition, located by a path like `stages[1].steps[0].needs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Serializes a pipeline as YAML (the form the editor starts from for imported documents).
pub fn to_yaml(pipeline: &Pipeline) -> String {
    serde_yaml::to_string(pipeline).unwrap_or_default()
}
