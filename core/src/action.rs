//! Actions (seeds 001 and 004): versioned step templates a step names as
//! `action: name@version`, from its pipeline's `actions` or the server's catalog; and where
//! a step runs (its runner) and how its image is pulled.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a container step finds the run's workspace (its working directory), on every
/// engine.
pub const WORKSPACE_PATH: &str = "/workspace";

/// Where a step runs (seed 004's runner types: docker, local, k8s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    /// In a container of its image (on the local engine through podman or docker); a step
    /// without an image runs on the host.
    #[default]
    Container,
    /// As a process on the Conveyor host, even when it names an image (which then serves
    /// the Tekton engine only).
    Host,
    /// In a pod of the Tekton engine: a pipeline with such a step must run there.
    Kubernetes,
}

impl Runner {
    pub fn as_str(self) -> &'static str {
        match self {
            Runner::Container => "container",
            Runner::Host => "host",
            Runner::Kubernetes => "kubernetes",
        }
    }
}

/// When the local engine pulls a step's image (Kubernetes' `imagePullPolicy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Only when the host does not have it yet.
    #[default]
    IfNotPresent,
    /// Before every run of the step.
    Always,
    /// Never: a missing image fails the step.
    Never,
}

impl PullPolicy {
    /// Kubernetes' spelling.
    pub fn kubernetes(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// A versioned step template: what it runs, where, and the params it takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Where its steps run, unless a step says otherwise (over its pipeline's `runner`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<Runner>,
    /// Lowest-precedence parameter values.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "crate::scalar_map::deserialize"
    )]
    pub defaults: BTreeMap<String, String>,
    /// Parameters that must have a value once all sources are merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    /// What each param may be, checked after the sources are merged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, ParamRule>,
}

impl Action {
    /// `name@version`, as steps name it.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }
}

/// What a param of an action may be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ParamRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The values it may take (any, when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed: Vec<String>,
    /// A regular expression the whole value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}
