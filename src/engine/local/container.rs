//! Steps that name an image run in a container of it, through podman or docker, with the
//! same semantics as on Kubernetes: `command` replaces the image's entrypoint, `args` its
//! cmd, neither means the image's own; a `script` runs with `sh -e` from a file mounted
//! read-only. The run's workspace is the working directory, at `/workspace` (and at the
//! pipeline's `workspace_paths`). Variables reach the container through a private file or
//! the runtime's own environment, never its command line.

use std::path::PathBuf;
use std::process::Stdio;

use conveyor_core::definition::{PullPolicy, WORKSPACE_PATH};
use conveyor_core::resolve::{Program, ResolvedStep};
use conveyor_core::run::{LogStream, StepStatus};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::files::{step_dir, write_private, write_private_file, write_script};
use super::runtime::{ContainerRuntime, RuntimeKind, RUNTIME_OWN};
use super::{Outcome, RunContext};
use crate::engine::EngineEvent;

/// Where a script step's file is mounted in its container.
const SCRIPT_PATH: &str = "/conveyor/script.sh";

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
        let pulled = runtime
            .ensure_image(&self.image, self.pull, auth, cancel)
            .await;
        if let Some(dir) = auth {
            // The registry's password is on disk only while the pull needs it.
            let _ = tokio::fs::remove_dir_all(dir).await;
        }
        match pulled {
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
    let own = step_dir(&context.scripts, index)
        .await
        .map_err(|err| failed("could not make the step's directory", &err))?;
    let env_file = own.join("variables.env");
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
            let path = own.join("script.sh");
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
            let dir = own.join("pull");
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
