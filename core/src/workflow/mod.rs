//! Build → push → deploy workflows (seed 000): a git repository with a top-level
//! `Dockerfile` is built into `image.name:TAG`, pushed with the registry credentials, and, with
//! `autoDeploy`, the Deployment in `deploy` is applied with that image.
//!
//! Pure code shared with the browser (the deployment form and its image preview): the
//! document type, its validation (every problem with its place), the image rule, and the
//! split between what may be stored in clear and the credentials.

mod check;
pub mod form;
mod pipeline;
mod release;

use serde::{Deserialize, Serialize};

use crate::definition::Params;

pub use check::{check_workflow, parse_workflow};
pub use pipeline::takes_new_image;
pub use release::{Release, ReleasePage, RolloutOutcome};

/// Shown (and accepted back on update) in place of a stored password.
pub const KEPT_SECRET: &str = "********";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Workflow {
    /// DNS label, immutable once saved; also the Deployment's and Service's name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where the Deployment goes; the server's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub git: GitSource,
    pub image: ImageTarget,
    #[serde(default)]
    pub auto_deploy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeploySpec>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitSource {
    /// `https://…`, `http://…`, `ssh://…` or `git@host:path`.
    pub url: String,
    /// Branch, tag or commit; the default branch when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageTarget {
    /// Repository without scheme or tag, e.g. `org/app` or `registry.example.com:5000/org/app`.
    pub name: String,
    pub username: String,
    pub password: String,
    /// The registry is reached over plain HTTP (common on a LAN).
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// A run may push a tag the registry already holds (replacing that image). Off by
    /// default: a deployed image is never silently replaced.
    #[serde(default, skip_serializing_if = "is_false")]
    pub overwrite_tags: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploySpec {
    #[serde(default = "one")]
    pub replicas: u32,
    pub containers: Vec<Container>,
    /// Persistent volume claims, created if missing, mounted into containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<PvcVolume>,
    /// Joins the service network: a Service named after the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
    /// How long a deploy waits for the Deployment to roll out before it fails (`30s`, `5m`,
    /// `1h`); [`DEFAULT_ROLLOUT_TIMEOUT`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_timeout: Option<String>,
}

/// How long a deploy waits for its rollout when the workflow does not say.
pub const DEFAULT_ROLLOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
/// The longest rollout wait a workflow may ask for.
pub const MAX_ROLLOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

impl DeploySpec {
    /// The rollout wait: the workflow's (checked when saved), else the default.
    pub fn rollout_timeout(&self) -> std::time::Duration {
        self.rollout_timeout
            .as_deref()
            .and_then(|text| humantime::parse_duration(text).ok())
            .unwrap_or(DEFAULT_ROLLOUT_TIMEOUT)
    }
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub env: Params,
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// `volume name → mount path`.
    #[serde(default, skip_serializing_if = "Params::is_empty")]
    pub mounts: Params,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerPort {
    pub port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `TCP` (default) or `UDP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self == &Resources::default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PvcVolume {
    pub name: String,
    /// e.g. `1Gi`.
    pub size: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `ClusterIP` (default), `NodePort` or `LoadBalancer`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServicePort {
    pub port: u32,
    /// The container port it forwards to; `port` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_port: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u32>,
}

/// A container whose image the run changes, for the preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageChange {
    pub container: String,
    pub from: String,
    pub to: String,
}

/// The registry and git credentials of a workflow, kept apart from its stored definition
/// (serialised only to be sealed with the server's key).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Credentials {
    pub registry_username: String,
    pub registry_password: String,
    pub git_username: Option<String>,
    pub git_password: Option<String>,
}

// Passwords never reach a log line, not even through `{:?}`.
fn hidden(password: Option<&str>) -> Option<&'static str> {
    password.map(|_| KEPT_SECRET)
}

impl std::fmt::Debug for GitSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitSource")
            .field("url", &self.url)
            .field("revision", &self.revision)
            .field("username", &self.username)
            .field("password", &hidden(self.password.as_deref()))
            .finish()
    }
}

impl std::fmt::Debug for ImageTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageTarget")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &hidden(Some(&self.password)))
            .field("insecure", &self.insecure)
            .field("overwrite_tags", &self.overwrite_tags)
            .finish()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("registry_username", &self.registry_username)
            .field("registry_password", &hidden(Some(&self.registry_password)))
            .field("git_username", &self.git_username)
            .field("git_password", &hidden(self.git_password.as_deref()))
            .finish()
    }
}

impl Credentials {
    /// On update, a password given as [`KEPT_SECRET`] (as the API shows it) keeps the
    /// stored one.
    pub fn keep_unchanged(&mut self, stored: &Credentials) {
        if self.registry_password == KEPT_SECRET {
            self.registry_password = stored.registry_password.clone();
        }
        if self.git_password.as_deref() == Some(KEPT_SECRET) {
            self.git_password = stored.git_password.clone();
        }
    }
}

/// The step that builds and pushes the image (it gets the registry credentials).
pub const BUILD_STEP: &str = "build";
/// The step that applies the Deployment.
pub const DEPLOY_STEP: &str = "deploy";

/// The build step's argument that says the registry is reached over plain HTTP (kaniko's
/// flag; the host's builder is told the same).
pub const INSECURE_FLAG: &str = "--insecure";

/// Images of the steps a workflow runs on Tekton (catalog-style: git, kaniko, kubectl).
pub const CLONE_IMAGE: &str = "docker.io/alpine/git:v2.47.2";
pub const BUILD_IMAGE: &str = "gcr.io/kaniko-project/executor:v1.23.2";
pub const DEPLOY_IMAGE: &str = "docker.io/bitnami/kubectl:1.33";
