//! Build → push → deploy workflows (seed 000): a git repository with a top-level
//! `Dockerfile` is built into `image.name:TAG`, pushed with the registry credentials, and, with
//! `autoDeploy`, the Deployment in `deploy` is applied with that image.
//!
//! Pure code shared with the browser (the deployment form and its image preview): the
//! document type, its validation (every problem with its place), the image rule, and the
//! split between what may be stored in clear and the credentials.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::definition::{from_value, parse_yaml, Params, Pipeline, Problem, Stage, Step};
use crate::plan::{check_dns_label, check_param_names};

/// Shown (and accepted back on update) in place of a stored password.
pub const KEPT_SECRET: &str = "********";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageTarget {
    /// Repository without scheme or tag, e.g. `org/app` or `registry.example.com:5000/org/app`.
    pub name: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PvcVolume {
    pub name: String,
    /// e.g. `1Gi`.
    pub size: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `ClusterIP` (default), `NodePort` or `LoadBalancer`.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub kind: Option<String>,
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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

/// Images of the steps a workflow runs on Tekton (catalog-style: git, kaniko, kubectl).
pub const CLONE_IMAGE: &str = "docker.io/alpine/git:v2.47.2";
pub const BUILD_IMAGE: &str = "gcr.io/kaniko-project/executor:v1.23.2";
pub const DEPLOY_IMAGE: &str = "docker.io/bitnami/kubectl:1.33";

/// Clones `GIT_URL` (at `GIT_REVISION`, if set) into `src` of the run's workspace. The
/// values arrive as environment variables, never in the script's text.
const CLONE_SCRIPT: &str = r#"rm -rf src
git clone --quiet "$GIT_URL" src
if [ -n "${GIT_REVISION:-}" ]; then git -C src checkout --quiet "$GIT_REVISION"; fi
git -C src log -1 --format='cloned %H %s'"#;

/// Applies the manifest the run was given (the Deployment with the new image).
const DEPLOY_SCRIPT: &str = r#"printf '%s\n' "$MANIFEST" | kubectl apply -f -"#;

impl Workflow {
    /// The pipeline a workflow runs: stage `build` (clone, then build the top-level
    /// `Dockerfile` and push `image.name:TAG`) and, with `autoDeploy`, stage `deploy`
    /// (apply the Deployment, its run param `MANIFEST`, with the new image).
    pub fn pipeline(&self) -> Pipeline {
        let step = |name: &str, image: &str| Step {
            name: name.to_owned(),
            image: Some(image.to_owned()),
            script: None,
            command: Vec::new(),
            args: Vec::new(),
            action: None,
            with: Params::new(),
            env: Params::new(),
            needs: None,
            parallel: false,
            timeout: None,
            approval: false,
            approval_params: Params::new(),
            webhooks: Vec::new(),
            node_selector: Params::new(),
        };
        let mut with = Params::from([
            ("GIT_URL".to_owned(), self.git.url.clone()),
            ("IMAGE".to_owned(), self.image.name.clone()),
        ]);
        if let Some(revision) = &self.git.revision {
            with.insert("GIT_REVISION".into(), revision.clone());
        }
        let clone = Step {
            script: Some(CLONE_SCRIPT.to_owned()),
            ..step("clone", CLONE_IMAGE)
        };
        let build = Step {
            command: vec!["/kaniko/executor".into()],
            args: vec![
                "--context=dir://$(workspaces.workspace.path)/src".into(),
                "--dockerfile=Dockerfile".into(),
                "--destination=$(params.IMAGE):$(params.TAG)".into(),
            ],
            ..step(BUILD_STEP, BUILD_IMAGE)
        };
        let mut stages = vec![Stage {
            name: "build".into(),
            needs: None,
            steps: vec![clone, build],
        }];
        if self.auto_deploy && self.deploy.is_some() {
            let deploy = Step {
                script: Some(DEPLOY_SCRIPT.to_owned()),
                ..step(DEPLOY_STEP, DEPLOY_IMAGE)
            };
            stages.push(Stage {
                name: "deploy".into(),
                needs: None,
                steps: vec![deploy],
            });
        }
        let summary = if self.auto_deploy {
            "build, push and deploy"
        } else {
            "build and push"
        };
        Pipeline {
            name: self.name.clone(),
            description: Some(
                self.description
                    .clone()
                    .unwrap_or_else(|| format!("Workflow: {summary} {}", self.image.name)),
            ),
            tags: vec!["workflow".into()],
            with,
            actions: Vec::new(),
            // The server's default: Tekton runs the steps above; the local engine runs the
            // host's git, image builder and `conveyor apply` in their place.
            engine: None,
            stages,
        }
    }

    /// The document as YAML (what is stored and shown, once passwords are masked).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// The image a run with `tag` pushes.
    pub fn image_ref(&self, tag: &str) -> String {
        format!("{}:{tag}", self.image.name)
    }

    /// Seed 000's rule: every deploy container whose image contains the workflow's image
    /// name runs `image.name:tag`; the others are left as they are.
    pub fn deploy_for_tag(&self, tag: &str) -> Option<(DeploySpec, Vec<ImageChange>)> {
        let mut deploy = self.deploy.clone()?;
        let to = self.image_ref(tag);
        let mut changes = Vec::new();
        for container in &mut deploy.containers {
            if takes_new_image(&container.image, &self.image.name) {
                changes.push(ImageChange {
                    container: container.name.clone(),
                    from: container.image.clone(),
                    to: to.clone(),
                });
                container.image = to.clone();
            }
        }
        Some((deploy, changes))
    }

    /// Splits off the credentials; what is left (passwords replaced by [`KEPT_SECRET`]) may
    /// be stored and shown.
    pub fn split_credentials(&self) -> (Workflow, Credentials) {
        let credentials = Credentials {
            registry_username: self.image.username.clone(),
            registry_password: self.image.password.clone(),
            git_username: self.git.username.clone(),
            git_password: self.git.password.clone(),
        };
        let mut shown = self.clone();
        shown.image.password = KEPT_SECRET.to_owned();
        if shown.git.password.is_some() {
            shown.git.password = Some(KEPT_SECRET.to_owned());
        }
        (shown, credentials)
    }
}

/// Seed 000's substitution rule: a deploy container runs the new image when its image
/// names the workflow's repository.
pub fn takes_new_image(container_image: &str, repository: &str) -> bool {
    !repository.is_empty() && container_image.contains(repository)
}

/// Parses and checks a workflow document (YAML or JSON).
pub fn parse_workflow(source: &str) -> Result<Workflow, Vec<Problem>> {
    let workflow: Workflow = from_value(parse_yaml(source)?)?;
    let problems = check_workflow(&workflow);
    if problems.is_empty() {
        Ok(workflow)
    } else {
        Err(problems)
    }
}

/// Every problem of a workflow, each with its place.
pub fn check_workflow(workflow: &Workflow) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_dns_label("name", &workflow.name, &mut problems);
    if let Some(namespace) = &workflow.namespace {
        check_dns_label("namespace", namespace, &mut problems);
    }

    let git = &workflow.git;
    let url = git.url.as_str();
    let scp_like = url.starts_with("git@") && url.contains(':');
    if !(url.starts_with("https://")
        || url.starts_with("http://")
        || url.starts_with("ssh://")
        || scp_like)
        || url.contains(char::is_whitespace)
    {
        problems.push(Problem::new(
            "git.url",
            format!("\"{url}\" is not a git URL (https://, http://, ssh:// or git@host:path)"),
        ));
    }
    let authority = url
        .split_once("://")
        .map_or("", |(_, rest)| rest.split('/').next().unwrap_or(""));
    if authority
        .split_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    {
        problems.push(Problem::new(
            "git.url",
            "has a password in it: give it as `git.password`, which is kept encrypted, and leave it out of the URL",
        ));
    }
    if git.username.is_some() != git.password.is_some() {
        problems.push(Problem::new(
            "git",
            "give both `username` and `password`, or neither",
        ));
    }
    if git
        .revision
        .as_deref()
        .is_some_and(|r| r.is_empty() || r.starts_with('-') || r.contains(char::is_whitespace))
    {
        problems.push(Problem::new(
            "git.revision",
            "a branch, tag or commit: no spaces, not starting with '-'",
        ));
    }

    let image = &workflow.image;
    if image.name.starts_with("http://") || image.name.starts_with("https://") {
        problems.push(Problem::new(
            "image.name",
            "leave out http:// or https://: e.g. registry.example.com/org/app",
        ));
    } else if !is_repository(&image.name) {
        problems.push(Problem::new(
            "image.name",
            format!("\"{}\" is not an image repository without a tag, e.g. org/app or registry.example.com:5000/org/app", image.name),
        ));
    }
    if image.username.trim().is_empty() {
        problems.push(Problem::new(
            "image.username",
            "the registry username is required",
        ));
    }
    if image.password.is_empty() {
        problems.push(Problem::new(
            "image.password",
            "the registry password is required",
        ));
    }

    match &workflow.deploy {
        None if workflow.auto_deploy => problems.push(Problem::new(
            "deploy",
            "`autoDeploy` needs a `deploy` section",
        )),
        None => {}
        Some(deploy) => check_deploy(workflow, deploy, &mut problems),
    }
    problems
}

fn check_deploy(workflow: &Workflow, deploy: &DeploySpec, problems: &mut Vec<Problem>) {
    if deploy.replicas > 1000 {
        problems.push(Problem::new("deploy.replicas", "at most 1000"));
    }
    if deploy.containers.is_empty() {
        problems.push(Problem::new(
            "deploy.containers",
            "name at least one container",
        ));
    }
    let volumes: BTreeSet<&str> = deploy.volumes.iter().map(|v| v.name.as_str()).collect();
    let mut names = BTreeSet::new();
    let mut container_ports = BTreeSet::new();
    for (ci, container) in deploy.containers.iter().enumerate() {
        let path = format!("deploy.containers[{ci}]");
        check_dns_label(&format!("{path}.name"), &container.name, problems);
        if !names.insert(container.name.as_str()) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("duplicate container name \"{}\"", container.name),
            ));
        }
        if container.image.trim().is_empty() || container.image.contains(char::is_whitespace) {
            problems.push(Problem::new(
                format!("{path}.image"),
                "an image reference is required, e.g. org/app:1.0",
            ));
        }
        let mut ports = BTreeSet::new();
        for (pi, port) in container.ports.iter().enumerate() {
            let at = format!("{path}.ports[{pi}]");
            if !(1..=65535).contains(&port.port) {
                problems.push(Problem::new(format!("{at}.port"), "a port is 1-65535"));
            }
            if !ports.insert((port.port, port.protocol.clone())) {
                problems.push(Problem::new(
                    format!("{at}.port"),
                    format!("port {} is listed twice", port.port),
                ));
            }
            if port
                .protocol
                .as_deref()
                .is_some_and(|p| p != "TCP" && p != "UDP")
            {
                problems.push(Problem::new(format!("{at}.protocol"), "TCP or UDP"));
            }
            container_ports.insert(port.port);
        }
        check_param_names(&format!("{path}.env"), &container.env, problems);
        for (field, value) in [
            ("cpuRequest", &container.resources.cpu_request),
            ("memoryRequest", &container.resources.memory_request),
            ("cpuLimit", &container.resources.cpu_limit),
            ("memoryLimit", &container.resources.memory_limit),
        ] {
            if let Some(value) = value.as_deref().filter(|v| !is_quantity(v)) {
                problems.push(Problem::new(
                    format!("{path}.resources.{field}"),
                    format!("\"{value}\" is not a quantity, e.g. 500m, 1, 256Mi, 1Gi"),
                ));
            }
        }
        for (volume, mount_path) in &container.mounts {
            if !volumes.contains(volume.as_str()) {
                problems.push(Problem::new(
                    format!("{path}.mounts.{volume}"),
                    format!("no volume \"{volume}\" under deploy.volumes"),
                ));
            }
            if !mount_path.starts_with('/') {
                problems.push(Problem::new(
                    format!("{path}.mounts.{volume}"),
                    "the mount path must be absolute",
                ));
            }
        }
    }
    let mut volume_names = BTreeSet::new();
    for (vi, volume) in deploy.volumes.iter().enumerate() {
        let path = format!("deploy.volumes[{vi}]");
        check_dns_label(&format!("{path}.name"), &volume.name, problems);
        if !volume_names.insert(volume.name.as_str()) {
            problems.push(Problem::new(
                format!("{path}.name"),
                format!("duplicate volume name \"{}\"", volume.name),
            ));
        }
        if !is_quantity(&volume.size) {
            problems.push(Problem::new(
                format!("{path}.size"),
                format!("\"{}\" is not a size, e.g. 1Gi", volume.size),
            ));
        }
    }
    if let Some(service) = &deploy.service {
        if service
            .kind
            .as_deref()
            .is_some_and(|k| !["ClusterIP", "NodePort", "LoadBalancer"].contains(&k))
        {
            problems.push(Problem::new(
                "deploy.service.type",
                "ClusterIP, NodePort or LoadBalancer",
            ));
        }
        if service.ports.is_empty() {
            problems.push(Problem::new(
                "deploy.service.ports",
                "name at least one port",
            ));
        }
        for (pi, port) in service.ports.iter().enumerate() {
            let at = format!("deploy.service.ports[{pi}]");
            if !(1..=65535).contains(&port.port) {
                problems.push(Problem::new(format!("{at}.port"), "a port is 1-65535"));
            }
            let target = port.target_port.unwrap_or(port.port);
            if !container_ports.contains(&target) {
                problems.push(Problem::new(
                    format!("{at}.targetPort"),
                    format!("no container lists port {target}"),
                ));
            }
            if let Some(node_port) = port.node_port {
                if service.kind.as_deref() == Some("ClusterIP") || service.kind.is_none() {
                    problems.push(Problem::new(
                        format!("{at}.nodePort"),
                        "only with type NodePort or LoadBalancer",
                    ));
                } else if !(30000..=32767).contains(&node_port) {
                    problems.push(Problem::new(
                        format!("{at}.nodePort"),
                        "node ports are 30000-32767",
                    ));
                }
            }
        }
    }
    if workflow.auto_deploy
        && !deploy
            .containers
            .iter()
            .any(|c| c.image.contains(&workflow.image.name))
    {
        problems.push(Problem::new(
            "deploy.containers",
            format!(
                "no container image contains \"{}\", so deploying a new tag would change nothing",
                workflow.image.name
            ),
        ));
    }
}

/// `[host[:port]/]path` with lowercase path components and no tag or digest.
fn is_repository(name: &str) -> bool {
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost")
    {
        let host = parts.remove(0);
        let (host_name, port) = host.split_once(':').unwrap_or((host, "0"));
        if host_name.is_empty()
            || !host_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            || port.parse::<u16>().is_err()
        {
            return false;
        }
    }
    !parts.is_empty()
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
                && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
        })
}

/// A Kubernetes quantity in the forms people write: `500m`, `1`, `0.5`, `256Mi`, `1G`.
fn is_quantity(value: &str) -> bool {
    let digits_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(digits_end);
    !number.is_empty()
        && number.parse::<f64>().is_ok()
        && [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
        ]
        .contains(&suffix)
}
