//! One step as a process: its command (a script from a file, or a program found on the
//! step's own PATH), its environment, its process group, its output read line by line into
//! the run's events, and how it ended.

use std::ffi::OsStr;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use conveyor_core::definition::Runner;
use conveyor_core::resolve::Program;
use conveyor_core::run::{LogStream, StepStatus};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::container::{self, ContainerStep};
use super::files::{step_dir, write_private, write_script};
use super::output;
use super::runtime::{ContainerRuntime, RUNTIME_FAILED};
use super::{Outcome, RunContext};
use crate::engine::EngineEvent;

/// Runs one step to its end and says how it ended.
pub(super) async fn execute(
    context: &RunContext,
    index: usize,
    cancel: CancellationToken,
) -> Outcome {
    let permit = tokio::select! {
        permit = context.slots.clone().acquire_owned() => match permit {
            Ok(permit) => permit,
            Err(_) => return Outcome::new(StepStatus::Failed, "engine is shutting down"),
        },
        _ = cancel.cancelled() => return Outcome::new(StepStatus::Cancelled, "cancelled before it started"),
    };
    context
        .emit_step(index, StepStatus::Running, None, None)
        .await;
    let outcome = match prepare(context, index).await {
        Ok(Prepared::Host(command)) => run_process(context, index, command, None, cancel).await,
        Ok(Prepared::Container(step, runtime)) => {
            match step.ensure_image(context, index, &runtime, &cancel).await {
                Ok(()) => {
                    let container = Some((runtime.as_ref(), step.name.as_str()));
                    let image = step.image.clone();
                    let mut outcome =
                        run_process(context, index, step.command, container, cancel).await;
                    if outcome.exit_code == Some(RUNTIME_FAILED) {
                        // Most likely the runtime itself failed (a step may exit 125 too); the
                        // image may have gone since it was seen: ask again next time.
                        runtime.forget(&image);
                        outcome.message = Some(format!(
                            "exited with code {RUNTIME_FAILED}, {}'s code when it cannot run a container (its error, if so, is in the log)",
                            runtime.name()
                        ));
                    }
                    outcome
                }
                Err(outcome) => outcome,
            }
        }
        Err(outcome) => outcome,
    };
    drop(permit);
    outcome
}

/// A step ready to start: a process on this host, or a container.
enum Prepared {
    Host(Command),
    Container(ContainerStep, Arc<ContainerRuntime>),
}

/// Builds the step's command: a script runs with `sh -e FILE`, a command runs directly;
/// a step with an image runs in a container of it. User text is never spliced into a
/// shell command line.
async fn prepare(context: &RunContext, index: usize) -> Result<Prepared, Outcome> {
    let run = &context.run;
    let name = run.step_name(index);
    let step = run.resolved.steps.get(index).ok_or_else(|| {
        Outcome::new(
            StepStatus::Failed,
            "step missing from the run's resolved steps",
        )
    })?;
    if let (Runner::Container, Some(image)) = (step.runner, &step.image) {
        let runtime = context
            .config
            .runtime
            .clone()
            .ok_or_else(|| Outcome::new(StepStatus::Failed, no_runtime(name, image)))?;
        let prepared = container::prepare(context, index, step, image, &runtime).await?;
        return Ok(Prepared::Container(prepared, runtime));
    }
    // The step's whole environment, later entries winning: what the server passes on, then
    // what every engine gives a step.
    let mut env: Vec<(String, String)> = context.base_env.as_ref().clone();
    env.extend(run.step_environment(index, &context.workspace.to_string_lossy()));
    env.extend(run.step_secrets(index));
    if let Some(registry) = run
        .registry
        .as_ref()
        .filter(|r| r.steps.iter().any(|s| s == name))
    {
        // The registry's config.json, readable by this user only, gone with the run's scripts.
        let own = step_dir(&context.scripts, index).await.map_err(|err| {
            Outcome::new(
                StepStatus::Failed,
                format!("could not make the step's directory: {err}"),
            )
        })?;
        let dir = own.join("docker");
        write_private(&dir, &registry.docker_config)
            .await
            .map_err(|err| {
                Outcome::new(
                    StepStatus::Failed,
                    format!("could not write the registry credentials: {err}"),
                )
            })?;
        let file = dir.join("config.json").to_string_lossy().into_owned();
        env.push(("DOCKER_CONFIG".into(), dir.to_string_lossy().into_owned()));
        env.push(("REGISTRY_AUTH_FILE".into(), file));
    }

    let mut command = match &step.program {
        Program::Script { script } => {
            let path = step_dir(&context.scripts, index)
                .await
                .map_err(|err| {
                    Outcome::new(
                        StepStatus::Failed,
                        format!("could not make the step's directory: {err}"),
                    )
                })?
                .join("script.sh");
            write_script(&path, script).await.map_err(|err| {
                Outcome::new(
                    StepStatus::Failed,
                    format!("could not write the step script: {err}"),
                )
            })?;
            let mut command = Command::new("/bin/sh");
            command.arg("-e").arg(path);
            command
        }
        Program::Command {
            command: command_line,
            args,
        } => {
            let (program, leading) = command_line
                .split_first()
                .ok_or_else(|| Outcome::new(StepStatus::Failed, "empty command"))?;
            let search_path = env
                .iter()
                .rev()
                .find(|(key, _)| key == "PATH")
                .map(|(_, value)| OsStr::new(value.as_str()));
            let resolved =
                resolve_program(program, search_path, &context.workspace).map_err(|err| {
                    Outcome::new(
                        StepStatus::Failed,
                        format!("could not start \"{program}\": {err}"),
                    )
                })?;
            let mut command = Command::new(resolved);
            command.args(leading).args(args);
            command
        }
        Program::Entrypoint { .. } => {
            return Err(Outcome::new(
                StepStatus::Failed,
                "the step runs on the host (runner: host) but has no script or command: only its image's entrypoint, which runs in a container",
            ));
        }
    };
    command
        .current_dir(&context.workspace)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    Ok(Prepared::Host(command))
}

/// Why a step with an image cannot run on a server without a container runtime.
pub(super) fn no_runtime(step: &str, image: &str) -> String {
    format!(
        "step \"{step}\" runs in image \"{image}\", but this server has no container runtime \
         (install podman or docker, or start it with --container-runtime podman|docker); \
         `runner: host` runs the step on the host instead"
    )
}

/// Finds a step's program the way its own shell would, with the step's PATH, relative to
/// its workspace. Spawning an absolute path also lets the standard library use
/// `posix_spawn` instead of copying the whole server with `fork`: about half the cost per
/// step (see the DAG benchmark).
fn resolve_program(
    program: &str,
    search_path: Option<&OsStr>,
    workspace: &Path,
) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = workspace.join(program);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("no such file: {}", path.display()))
        };
    }
    let search_path =
        search_path.ok_or_else(|| "the step has no PATH to look it up in".to_string())?;
    which::which_in(program, Some(search_path), workspace).map_err(|_| {
        format!(
            "not found on the step's PATH ({})",
            search_path.to_string_lossy()
        )
    })
}

/// The few variables of the server's environment a step sees; the server's own settings
/// (and any secrets in them) are not passed on.
pub(super) fn inherited_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        "PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER", "LOGNAME",
    ]
    .iter()
    .filter_map(|key| {
        std::env::var(key)
            .ok()
            .map(|value| (key.to_string(), value))
    })
    .collect();
    if !env.iter().any(|(key, _)| key == "PATH") {
        env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    }
    env
}

enum Ending {
    Exited(std::io::Result<ExitStatus>),
    TimedOut(Duration),
    Cancelled,
}

async fn run_process(
    context: &RunContext,
    index: usize,
    mut command: Command,
    container: Option<(&ContainerRuntime, &str)>,
    cancel: CancellationToken,
) -> Outcome {
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let program = command
                .as_std()
                .get_program()
                .to_string_lossy()
                .into_owned();
            return Outcome::new(
                StepStatus::Failed,
                format!("could not start \"{program}\": {err}"),
            );
        }
    };
    let group = child.id().map(|pid| Pid::from_raw(pid as i32));
    let budget = AtomicU64::new(context.config.max_step_log_bytes);
    let dropped = AtomicU64::new(0);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let timeout = context.run.resolved.plan.steps[index]
        .timeout_secs
        .map(Duration::from_secs);
    let grace = context.config.kill_grace;
    let exited = CancellationToken::new();
    // The output is read in this same task, alongside the wait: no extra tasks per step.
    let waiting = async {
        let ending = tokio::select! {
            status = child.wait() => Ending::Exited(status),
            _ = sleep_or_forever(timeout) => Ending::TimedOut(timeout.unwrap_or_default()),
            _ = cancel.cancelled() => Ending::Cancelled,
        };
        if !matches!(ending, Ending::Exited(_)) {
            terminate(&mut child, group, grace, container).await;
        }
        // The step ends with its main process; anything it left running in its group goes
        // too, so that the output pipes close.
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        exited.cancel();
        ending
    };
    let (ending, out_open, err_open) = tokio::join!(
        waiting,
        output::pump(
            context,
            index,
            LogStream::Stdout,
            stdout,
            &budget,
            &dropped,
            &exited
        ),
        output::pump(
            context,
            index,
            LogStream::Stderr,
            stderr,
            &budget,
            &dropped,
            &exited
        ),
    );
    if out_open || err_open {
        let text = format!(
            "the step's output was still open {} after its processes ended (a process that left its group, e.g. with setsid?); stopped reading it",
            humantime::format_duration(context.config.drain_grace)
        );
        context
            .emit(EngineEvent::Log {
                step: index,
                stream: LogStream::System,
                text,
                partial: false,
            })
            .await;
    }
    let dropped_bytes = dropped.load(Ordering::Relaxed);
    if dropped_bytes > 0 {
        context
            .emit(EngineEvent::Log {
                step: index,
                stream: LogStream::System,
                text: format!(
                    "log limit reached: {dropped_bytes} more bytes of output were not kept"
                ),
                partial: false,
            })
            .await;
    }

    match ending {
        Ending::Exited(Ok(status)) if status.success() => Outcome {
            status: StepStatus::Succeeded,
            exit_code: Some(0),
            message: None,
        },
        Ending::Exited(Ok(status)) => match status.code() {
            Some(code) => Outcome {
                status: StepStatus::Failed,
                exit_code: Some(code),
                message: Some(format!("exited with code {code}")),
            },
            None => Outcome::new(
                StepStatus::Failed,
                format!("killed by signal {}", status.signal().unwrap_or(0)),
            ),
        },
        Ending::Exited(Err(err)) => Outcome::new(
            StepStatus::Failed,
            format!("lost track of the process: {err}"),
        ),
        Ending::TimedOut(after) => Outcome::new(
            StepStatus::Failed,
            format!("timed out after {}", humantime::format_duration(after)),
        ),
        Ending::Cancelled => Outcome::new(StepStatus::Cancelled, "cancelled"),
    }
}

async fn sleep_or_forever(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM to the whole process group (or the step's container), then SIGKILL if it has
/// not exited after the grace; a container is removed.
async fn terminate(
    child: &mut Child,
    group: Option<Pid>,
    grace: Duration,
    container: Option<(&ContainerRuntime, &str)>,
) {
    match container {
        Some((runtime, name)) => runtime.stop(name, grace).await,
        None => {
            if let Some(group) = group {
                let _ = killpg(group, Signal::SIGTERM);
            }
        }
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        if let Some(group) = group {
            let _ = killpg(group, Signal::SIGKILL);
        }
        let _ = child.wait().await;
    }
    // The runtime's client may have gone before its container started: none is left.
    if let Some((runtime, name)) = container {
        runtime.remove(name).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::files::write_private;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    #[tokio::test]
    async fn registry_credentials_are_written_for_this_user_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docker = dir.path().join("docker-build");
        write_private(&docker, "{\"auths\":{}}")
            .await
            .expect("written");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .expect("metadata")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&docker), 0o700);
        assert_eq!(mode(&docker.join("config.json")), 0o600);
        assert_eq!(
            std::fs::read_to_string(docker.join("config.json")).expect("read"),
            "{\"auths\":{}}"
        );
    }
}
