//! Steps that name an image run in a container of it, through podman or docker, with the
//! same semantics as on Kubernetes: `command` replaces the image's entrypoint, `args` its
//! cmd, neither means the image's own; a `script` runs with `sh -e` from a file mounted
//! read-only. The run's workspace is the working directory, at `/workspace` (and at the
//! pipeline's `workspace_paths`). Variables reach the container through a private file or
//! the runtime's own environment, never its command line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_core::definition::{PullPolicy, WORKSPACE_PATH};
use conveyor_core::resolve::{Program, ResolvedStep};
use conveyor_core::run::{LogStream, StepStatus};
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::files::{write_private, write_private_file, write_script};
use super::{Outcome, RunContext};
use crate::engine::EngineEvent;

/// The exit code of `podman run` (and `docker run`) when the runtime itself failed.
pub(super) const RUNTIME_FAILED: i32 = 125;

/// Where a script step's file is mounted in its container.
const SCRIPT_PATH: &str = "/conveyor/script.sh";

/// Variables the runtime itself reads from its environment: a step's value for one of
/// these goes through the variables file, never the runtime's environment.
const RUNTIME_OWN: [&str; 12] = [
    "PATH",
    "HOME",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "CONTAINER_HOST",
    "CONTAINERS_CONF",
    "REGISTRY_AUTH_FILE",
    "STORAGE_DRIVER",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Podman,
    Docker,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman",
            RuntimeKind::Docker => "docker",
        }
    }
}

/// The container runtime the local engine drives, as the server found it at start.
#[derive(Debug, Clone)]
pub struct ContainerRuntime {
    pub kind: RuntimeKind,
    program: PathBuf,
    /// Tells this server's containers from other servers' on the same host.
    instance: String,
    /// The server's data directory, as a label on every container.
    data_dir: String,
    /// Registries (`host[:port]`) pulled from over plain HTTP.
    insecure: Vec<String>,
    /// Images seen on this host already: a step that may use a present image does not ask
    /// the runtime again (one process less per step).
    present: Arc<Mutex<HashSet<String>>>,
}

/// Why `--container-runtime` could not be honoured.
#[derive(Debug, thiserror::Error)]
#[error("--container-runtime {choice}: {reason}")]
pub struct RuntimeError {
    choice: String,
    reason: String,
}

impl ContainerRuntime {
    /// The runtime `choice` names (`auto`: podman if installed, else docker if its daemon
    /// answers); `none`, or `auto` with neither, is no runtime.
    pub async fn detect(
        choice: &str,
        data_dir: &Path,
    ) -> Result<Option<ContainerRuntime>, RuntimeError> {
        let fail = |reason: String| RuntimeError {
            choice: choice.to_owned(),
            reason,
        };
        let kinds: &[RuntimeKind] = match choice {
            "none" => return Ok(None),
            "podman" => &[RuntimeKind::Podman],
            "docker" => &[RuntimeKind::Docker],
            "auto" => &[RuntimeKind::Podman, RuntimeKind::Docker],
            other => return Err(fail(format!("unknown runtime \"{other}\""))),
        };
        let data_dir = std::path::absolute(data_dir)
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .to_string_lossy()
            .into_owned();
        let instance = hex::encode(&Sha256::digest(data_dir.as_bytes())[..6]);
        for &kind in kinds {
            let Ok(program) = which::which(kind.as_str()) else {
                if choice != "auto" {
                    return Err(fail(format!("{} is not installed", kind.as_str())));
                }
                continue;
            };
            let runtime = ContainerRuntime {
                kind,
                program,
                instance: instance.clone(),
                data_dir: data_dir.clone(),
                insecure: Vec::new(),
                present: Arc::default(),
            };
            match runtime.answers().await {
                Ok(()) => return Ok(Some(runtime)),
                Err(reason) if choice != "auto" => return Err(fail(reason)),
                Err(reason) => {
                    tracing::info!(runtime = kind.as_str(), %reason, "container runtime not usable");
                }
            }
        }
        Ok(None)
    }

    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }

    /// Pulls from these registries (`host[:port]`) go over plain HTTP (podman; docker's
    /// daemon has its own `insecure-registries`).
    pub fn with_insecure_registries(mut self, registries: Vec<String>) -> ContainerRuntime {
        self.insecure = registries;
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Whether the runtime can run containers (docker's client without its daemon cannot).
    async fn answers(&self) -> Result<(), String> {
        let mut command = self.command();
        command.arg("version");
        let output = tokio::time::timeout(Duration::from_secs(20), command.output())
            .await
            .map_err(|_| format!("`{} version` did not answer in 20 s", self.name()))?
            .map_err(|err| format!("could not run {}: {err}", self.program.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(last_lines(&output.stderr))
        }
    }

    /// The container a step of a run runs in.
    pub fn container_name(&self, run_id: i64, step: usize) -> String {
        format!("conveyor-{}-{run_id}-{step}", self.instance)
    }

    /// Makes sure `image` is on this host as `pull` asks, pulling with the registry
    /// `config.json` in `auth` (a directory) if any; the runtime's message when not.
    async fn ensure_image(
        &self,
        image: &str,
        pull: PullPolicy,
        auth: Option<&Path>,
        cancel: &CancellationToken,
    ) -> Result<bool, String> {
        let known = self.present.lock().is_ok_and(|set| set.contains(image));
        if known && pull != PullPolicy::Always {
            return Ok(false);
        }
        let present = || async {
            let mut command = self.command();
            match self.kind {
                RuntimeKind::Podman => command.args(["image", "exists", image]),
                RuntimeKind::Docker => command.args(["image", "inspect", image]),
            };
            let found = command.status().await.is_ok_and(|status| status.success());
            if found {
                self.remember(image);
            }
            found
        };
        match pull {
            PullPolicy::Never if present().await => return Ok(false),
            PullPolicy::Never => {
                return Err(format!(
                    "image \"{image}\" is not on this host, and the step's pull policy is never"
                ))
            }
            PullPolicy::IfNotPresent if present().await => return Ok(false),
            PullPolicy::IfNotPresent | PullPolicy::Always => {}
        }
        let mut command = self.command();
        command.args(["pull", "--quiet"]);
        if let Some(dir) = auth {
            match self.kind {
                RuntimeKind::Podman => command.arg("--authfile").arg(dir.join("config.json")),
                RuntimeKind::Docker => command.env("DOCKER_CONFIG", dir),
            };
        }
        let registry = registry_of(image);
        if self.kind == RuntimeKind::Podman
            && registry.is_some_and(|r| self.insecure.iter().any(|i| i == r))
        {
            command.arg("--tls-verify=false");
        }
        command.arg(image);
        let output = tokio::select! {
            output = command.output() => output,
            () = cancel.cancelled() => return Err("cancelled while pulling its image".into()),
        };
        match output {
            Ok(output) if output.status.success() => {
                self.remember(image);
                Ok(true)
            }
            Ok(output) => Err(format!(
                "could not pull image \"{image}\": {}",
                last_lines(&output.stderr)
            )),
            Err(err) => Err(format!("could not run {}: {err}", self.name())),
        }
    }

    /// Removes the containers a previous process of this server left (it was killed while
    /// steps ran: nothing of theirs goes on now); how many.
    pub async fn remove_leftovers(&self) -> usize {
        let mut list = self.command();
        list.stdout(Stdio::piped())
            .args(["ps", "--all", "--quiet", "--filter"]);
        list.arg(format!("label=conveyor.data-dir={}", self.data_dir));
        let Ok(output) = list.output().await else {
            return 0;
        };
        let ids: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !ids.is_empty() {
            let mut remove = self.force_remove();
            remove.args(&ids);
            let _ = remove.status().await;
        }
        ids.len()
    }

    /// Asks the runtime again next time whether `image` is here.
    pub fn forget(&self, image: &str) {
        if let Ok(mut set) = self.present.lock() {
            set.remove(image);
        }
    }

    fn remember(&self, image: &str) {
        if let Ok(mut set) = self.present.lock() {
            set.insert(image.to_owned());
        }
    }

    /// Stops a step's container (SIGTERM, then SIGKILL after `grace`).
    pub async fn stop(&self, name: &str, grace: Duration) {
        let mut command = self.command();
        command.args(["stop", "-t", &grace.as_secs().max(1).to_string(), name]);
        let _ = command.status().await;
    }

    /// Removes a step's container if it is still there (a cancelled step leaves none).
    pub async fn remove(&self, name: &str) {
        let mut command = self.force_remove();
        command.arg(name);
        let _ = command.status().await;
    }

    /// `rm --force`, killing at once (podman would wait out a stop timeout first; docker
    /// kills at once).
    fn force_remove(&self) -> Command {
        let mut command = self.command();
        command.args(["rm", "--force"]);
        if self.kind == RuntimeKind::Podman {
            command.args(["--time", "0"]);
        }
        command
    }
}

/// The registry an image name starts with (`host[:port]`), if it names one.
fn registry_of(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains(['.', ':']) || first == "localhost").then_some(first)
}

/// The runtime's last words, for a step's message.
fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" ");
    let mut tail: String = tail.chars().take(600).collect();
    if tail.is_empty() {
        tail = "no message".into();
    }
    tail
}

/// A step's container, ready to run.
pub(super) struct ContainerStep {
    pub command: Command,
    pub name: String,
    pub image: String,
    pull: PullPolicy,
    /// A directory holding the registry `config.json` to pull with.
    auth: Option<PathBuf>,
}

impl ContainerStep {
    /// Pulls the step's image as its policy asks, saying so in its log.
    pub async fn ensure_image(
        &self,
        context: &RunContext,
        index: usize,
        runtime: &ContainerRuntime,
        cancel: &CancellationToken,
    ) -> Result<(), Outcome> {
        let auth = self.auth.as_deref();
        match runtime
            .ensure_image(&self.image, self.pull, auth, cancel)
            .await
        {
            Ok(pulled) => {
                if pulled {
                    let text = format!("pulled image {}", self.image);
                    context
                        .emit(EngineEvent::Log {
                            step: index,
                            stream: LogStream::System,
                            text,
                            partial: false,
                        })
                        .await;
                }
                Ok(())
            }
            Err(message) if cancel.is_cancelled() => {
                Err(Outcome::new(StepStatus::Cancelled, message))
            }
            Err(message) => Err(Outcome::new(StepStatus::Failed, message)),
        }
    }
}

/// Builds `podman run …` (or docker's) for a step with an image.
pub(super) async fn prepare(
    context: &RunContext,
    index: usize,
    step: &ResolvedStep,
    image: &str,
    runtime: &ContainerRuntime,
) -> Result<ContainerStep, Outcome> {
    let run = &context.run;
    let step_name = run.step_name(index);
    let failed = |what: &str, err: &dyn std::fmt::Display| {
        Outcome::new(StepStatus::Failed, format!("{what}: {err}"))
    };
    let workspace = context.workspace.to_string_lossy().into_owned();
    if workspace.contains([':', ',']) {
        return Err(Outcome::new(
            StepStatus::Failed,
            format!("the workspace path {workspace} holds ':' or ',', which a container mount cannot take"),
        ));
    }
    let name = runtime.container_name(run.run_id, index);
    let mut command = runtime.command();
    command.stdout(Stdio::piped()).process_group(0);
    // The runtime's own variables: the few of the server's it needs, nothing of the step's.
    command.env_clear().envs(context.base_env.iter().cloned());
    command.args(["run", "--rm", "--name", &name, "--network", "host"]);
    command.args(["--pull", "never", "--log-driver", "none"]);
    for label in [
        format!("conveyor.data-dir={}", runtime.data_dir),
        format!("conveyor.run={}", run.run_id),
        format!("conveyor.step={step_name}"),
    ] {
        command.arg("--label").arg(label);
    }
    command.args(["--workdir", WORKSPACE_PATH]);
    for target in std::iter::once(WORKSPACE_PATH)
        .chain(run.resolved.workspace_paths.iter().map(String::as_str))
    {
        command.arg("--volume").arg(format!("{workspace}:{target}"));
    }

    // Variables: the step's and Conveyor's in a private file; secrets and values over
    // several lines in the runtime's environment (named on its command line, never valued).
    let mut file = String::new();
    let secrets = run.step_secrets(index);
    let secret_names: Vec<String> = secrets.iter().map(|(k, _)| k.clone()).collect();
    let all = run
        .step_environment(index, WORKSPACE_PATH)
        .into_iter()
        .chain(secrets);
    for (key, value) in all {
        let through_env = secret_names.contains(&key) || value.contains(['\n', '\r']);
        if through_env && !RUNTIME_OWN.contains(&key.as_str()) {
            command.arg("--env").arg(&key).env(&key, value);
        } else if value.contains(['\n', '\r']) {
            return Err(Outcome::new(
                StepStatus::Failed,
                format!("variable {key} holds several lines, which a container cannot be given under that name"),
            ));
        } else {
            file.push_str(&key);
            file.push('=');
            file.push_str(&value);
            file.push('\n');
        }
    }
    let env_file = context.scripts.join(format!("{step_name}.env"));
    write_private_file(&env_file, &file)
        .await
        .map_err(|err| failed("could not write the step's variables", &err))?;
    command.arg("--env-file").arg(&env_file);

    let entrypoint = |command: &mut Command, program: &str| {
        let value = match runtime.kind {
            // podman reads a value starting with `[` as a JSON list.
            RuntimeKind::Podman => serde_json::json!([program]).to_string(),
            RuntimeKind::Docker => program.to_owned(),
        };
        command.arg("--entrypoint").arg(value);
    };
    match &step.program {
        Program::Script { script } => {
            let path = context.scripts.join(format!("{step_name}.sh"));
            write_script(&path, script)
                .await
                .map_err(|err| failed("could not write the step script", &err))?;
            command
                .arg("--volume")
                .arg(format!("{}:{SCRIPT_PATH}:ro", path.display()));
            entrypoint(&mut command, "sh");
            command.arg(image).args(["-e", SCRIPT_PATH]);
        }
        Program::Command {
            command: line,
            args,
        } => {
            let (program, leading) = line
                .split_first()
                .ok_or_else(|| Outcome::new(StepStatus::Failed, "empty command"))?;
            entrypoint(&mut command, program);
            command.arg(image).args(leading).args(args);
        }
        Program::Entrypoint { args } => {
            command.arg(image).args(args);
        }
    }
    let auth = match &step.pull_secret {
        None => None,
        Some(secret) => {
            let config = run.secrets.value(secret).unwrap_or_default();
            let readable = serde_json::from_str::<serde_json::Value>(config)
                .is_ok_and(|json| json["auths"].is_object());
            if !readable {
                return Err(Outcome::new(
                    StepStatus::Failed,
                    format!("secret {secret} (the step's pull_secret) is not a registry config.json: it needs an \"auths\" object"),
                ));
            }
            let dir = context.scripts.join(format!("pull-{step_name}"));
            write_private(&dir, config)
                .await
                .map_err(|err| failed("could not write the registry credentials", &err))?;
            Some(dir)
        }
    };
    Ok(ContainerStep {
        command,
        name,
        image: image.to_owned(),
        pull: step.pull,
        auth,
    })
}

#[cfg(test)]
mod tests {
    use super::last_lines;

    #[test]
    fn an_images_registry_is_its_first_part_when_that_names_a_host() {
        use super::registry_of;
        assert_eq!(
            registry_of("127.0.0.1:5000/org/app:1"),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            registry_of("registry.example.com/app"),
            Some("registry.example.com")
        );
        assert_eq!(registry_of("localhost/app"), Some("localhost"));
        assert_eq!(registry_of("org/app:1"), None);
        assert_eq!(registry_of("busybox:1.28"), None);
    }

    #[test]
    fn the_runtimes_last_lines_make_the_message() {
        assert_eq!(last_lines(b""), "no message");
        assert_eq!(
            last_lines(b"Trying to pull x...\n\nError: a\nError: b\nError: c\n"),
            "Error: a Error: b Error: c"
        );
    }
}
