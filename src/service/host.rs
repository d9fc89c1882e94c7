//! A workflow on the local engine: clone with the host's git, build and push with the host's
//! image builder, deploy with `conveyor deploy-manifest` (kube-rs).

use std::path::{Path, PathBuf};

use conveyor_core::definition::Pipeline;
use conveyor_core::workflow::{BUILD_STEP, DEPLOY_STEP, INSECURE_FLAG};

/// What a workflow needs to run on this host (the local engine).
#[derive(Debug, Clone, Default)]
pub struct HostTools {
    /// `--builder`, or the first builder found on PATH.
    pub builder: Option<PathBuf>,
    /// The conveyor binary whose `apply` the deploy step runs.
    pub conveyor: PathBuf,
    /// The cluster the deploy step applies to.
    pub kubeconfig: Option<PathBuf>,
}

/// The image builders a workflow can use on this host, in the order they are looked for.
const BUILDERS: [&str; 4] = ["podman", "buildah", "docker", "executor"];

/// Builds `src/Dockerfile` into `$IMAGE:$TAG` and pushes it. Values come from the
/// environment only; `DOCKER_CONFIG` holds the registry's `config.json`. `RUN` instructions
/// share the host's network, as the engine's containers do: a bridge would add and remove a
/// network interface on the host for each of them, and browsers on the host drop their
/// requests in flight (the live log among them) when interfaces change.
fn build_script(builder: &Path) -> Result<&'static str, String> {
    let name = builder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(match name.as_str() {
        "podman" | "buildah" => {
            "test -r \"$DOCKER_CONFIG/config.json\" || { echo 'registry credentials missing' >&2; exit 1; }\n\
             \"$BUILDER\" build --network host --file src/Dockerfile --tag \"$IMAGE:$TAG\" src\n\
             \"$BUILDER\" push --tls-verify=\"$TLS_VERIFY\" --authfile \"$DOCKER_CONFIG/config.json\" \"$IMAGE:$TAG\""
        }
        "docker" => {
            "test -r \"$DOCKER_CONFIG/config.json\" || { echo 'registry credentials missing' >&2; exit 1; }\n\
             \"$BUILDER\" build --network host --file src/Dockerfile --tag \"$IMAGE:$TAG\" src\n\
             \"$BUILDER\" push \"$IMAGE:$TAG\""
        }
        "executor" | "kaniko" => {
            "test -r \"$DOCKER_CONFIG/config.json\" || { echo 'registry credentials missing' >&2; exit 1; }\n\
             \"$BUILDER\" --context \"dir://$PWD/src\" --dockerfile Dockerfile --destination \"$IMAGE:$TAG\" $INSECURE_FLAGS"
        }
        other => {
            return Err(format!(
                "--builder {}: \"{other}\" is not one of podman, buildah, docker or executor (kaniko)",
                builder.display()
            ))
        }
    })
}

pub(super) fn find_builder(configured: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        let found =
            which::which(path).map_err(|_| format!("--builder {}: not found", path.display()))?;
        build_script(&found)?;
        return Ok(found);
    }
    BUILDERS.iter().find_map(|name| which::which(name).ok()).ok_or_else(|| {
        "no image builder on this host: install podman, buildah, docker or kaniko's executor (or name one with --builder), \
         or run workflows on Tekton"
            .to_owned()
    })
}

/// The workflow's pipeline as the local engine runs it: clone with the host's git, build
/// and push with the host's builder, deploy with `conveyor deploy-manifest` (kube-rs).
pub(super) fn on_host(
    pipeline: &Pipeline,
    builder: &Path,
    tools: &HostTools,
    kubeconfig: &Path,
) -> Result<Pipeline, String> {
    let script = build_script(builder)?;
    let mut host = pipeline.clone();
    for step in host
        .stages
        .iter_mut()
        .flat_map(|stage| stage.steps.iter_mut())
    {
        if step.name == BUILD_STEP {
            // The registry over plain HTTP, as the Tekton build's kaniko is told.
            let insecure = step.args.iter().any(|a| a == INSECURE_FLAG);
            step.env
                .insert("TLS_VERIFY".into(), (!insecure).to_string());
            let flags = if insecure {
                "--insecure --skip-tls-verify"
            } else {
                ""
            };
            step.env.insert("INSECURE_FLAGS".into(), flags.into());
            step.command.clear();
            step.args.clear();
            step.script = Some(script.to_owned());
            step.env
                .insert("BUILDER".into(), builder.display().to_string());
        } else if step.name == DEPLOY_STEP {
            step.script = None;
            step.command = vec![
                tools.conveyor.display().to_string(),
                "deploy-manifest".into(),
            ];
            step.env
                .insert("KUBECONFIG".into(), kubeconfig.display().to_string());
        }
    }
    Ok(host)
}
