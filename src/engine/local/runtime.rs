//! The container runtime the local engine drives (podman or docker): finding it, pulling
//! images as a step's policy asks, stopping and removing a step's container, and clearing
//! what a killed server process left.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conveyor_core::definition::PullPolicy;
use sha2::{Digest, Sha256};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// Variables the runtime itself reads from its environment: a step's value for one of
/// these goes through the variables file, never the runtime's environment.
pub(super) const RUNTIME_OWN: [&str; 12] = [
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

/// The server's variables every runtime command gets besides [`RUNTIME_OWN`].
const PASSED_ON: [&str; 6] = ["LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "SHELL"];

/// The exit code of `podman run` (and `docker run`) when the runtime itself failed.
pub(super) const RUNTIME_FAILED: i32 = 125;

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
    pub(super) data_dir: String,
    /// Registries (`host[:port]`) pulled from over plain HTTP.
    insecure: Vec<String>,
    /// The environment of every runtime command (the same for all, so that each finds the
    /// same daemon, storage and containers): the server's runtime settings, nothing else.
    env: Vec<(String, String)>,
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
    /// The runtime `choice` names (`podman`, `docker`, the path of either, or `auto`:
    /// podman if installed, else docker if its daemon answers); `none`, or `auto` with
    /// neither, is no runtime.
    pub async fn detect(
        choice: &str,
        data_dir: &Path,
    ) -> Result<Option<ContainerRuntime>, RuntimeError> {
        let fail = |reason: String| RuntimeError {
            choice: choice.to_owned(),
            reason,
        };
        // A path names the program itself: podman or docker by its file name.
        let named = Path::new(choice);
        let given = (named.components().count() > 1).then(|| named.to_path_buf());
        let name = match &given {
            Some(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None => choice.to_owned(),
        };
        let kinds: &[RuntimeKind] =
            match name.as_str() {
                "none" if given.is_none() => return Ok(None),
                "podman" => &[RuntimeKind::Podman],
                "docker" => &[RuntimeKind::Docker],
                "auto" if given.is_none() => &[RuntimeKind::Podman, RuntimeKind::Docker],
                _ => return Err(fail(
                    "not a runtime: podman, docker, none, auto, or the path of podman or docker"
                        .into(),
                )),
            };
        let data_dir = std::path::absolute(data_dir)
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .to_string_lossy()
            .into_owned();
        let instance = hex::encode(&Sha256::digest(data_dir.as_bytes())[..6]);
        for &kind in kinds {
            let found = match &given {
                Some(path) => which::which(path),
                None => which::which(kind.as_str()),
            };
            let Ok(program) = found else {
                match &given {
                    Some(path) => return Err(fail(format!("{} not found", path.display()))),
                    None if choice != "auto" => {
                        return Err(fail(format!("{} is not installed", kind.as_str())))
                    }
                    None => continue,
                }
            };
            let runtime = ContainerRuntime {
                kind,
                program,
                instance: instance.clone(),
                data_dir: data_dir.clone(),
                insecure: Vec::new(),
                env: runtime_env(),
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

    pub(super) fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .env_clear()
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Whether the runtime can run containers (docker's client without its daemon cannot).
    pub async fn answers(&self) -> Result<(), String> {
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
    pub(super) async fn ensure_image(
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

/// What the server's environment says about the runtime (where its daemon, storage and
/// settings are), and a `PATH` to find its helpers.
fn runtime_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = RUNTIME_OWN
        .iter()
        .chain(&PASSED_ON)
        .filter_map(|key| Some((key.to_string(), std::env::var(key).ok()?)))
        .collect();
    if !env.iter().any(|(key, _)| key == "PATH") {
        env.push((
            "PATH".into(),
            "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".into(),
        ));
    }
    env
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
