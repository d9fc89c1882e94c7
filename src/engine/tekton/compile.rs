//! Turns a planned run (or the part of it between approval gates) into one `tekton.dev/v1`
//! PipelineRun with an embedded `pipelineSpec` and one embedded `taskSpec` per step.
//!
//! - Each step is a pipeline task named after it (step names are DNS labels), with one
//!   Tekton step, so its log is container `step-<name>` of the task's pod.
//! - `needs` become `runAfter`; steps with no path between them run in parallel.
//! - All steps share one workspace: the run's own PVC, made by the driver before its first
//!   PipelineRun (so segments after approval gates, and a re-run of the failed steps, see
//!   the files of what ran before).
//! - Every variable a step sees travels as a PipelineRun param, then a task param, then an
//!   env entry `$(params.NAME)`. Tekton substitutes inside task params, env values and
//!   scripts, but never inside PipelineRun param values, so user text is passed as data and
//!   is never interpreted, let alone spliced into a script.
//! - Step timeouts become task timeouts; node selectors become `taskRunSpecs` pod templates;
//!   the service account goes in `taskRunTemplate`.

use std::collections::BTreeMap;

use conveyor_core::definition::{kubernetes_name, PullPolicy, WORKSPACE_PATH};
use conveyor_core::resolve::Program;
use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, VolumeResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{json, Value};

use crate::engine::RunRequest;

/// Name of the one workspace every task binds.
pub const WORKSPACE: &str = "workspace";
/// The read-only workspace holding a registry's `config.json` (from the workflow's secret).
pub const DOCKER_CONFIG_WORKSPACE: &str = "dockerconfig";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "conveyor";
pub const LABEL_RUN: &str = "conveyor.dev/run";
pub const LABEL_PIPELINE: &str = "conveyor.dev/pipeline";
pub const LABEL_SEGMENT: &str = "conveyor.dev/segment";
/// On each embedded task: the stage its step belongs to.
pub const ANNOTATION_STAGE: &str = "conveyor.dev/stage";

#[derive(Debug, Clone)]
pub struct TektonSettings {
    pub namespace: String,
    /// Runs the task pods; absent = the namespace's default account.
    pub service_account: Option<String>,
    /// For steps that name no image (a script needs a shell).
    pub default_image: String,
    /// Size of each run's workspace PVC.
    pub workspace_size: String,
    pub storage_class: Option<String>,
}

impl TektonSettings {
    pub fn new(namespace: impl Into<String>) -> Self {
        TektonSettings {
            namespace: namespace.into(),
            service_account: None,
            default_image: "docker.io/library/alpine:3.20".into(),
            workspace_size: "1Gi".into(),
            storage_class: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CompileError {
    #[error("step index {0} is not in the plan")]
    UnknownStep(usize),
    #[error("step \"{0}\" has no script, no command and no image: there is nothing to run")]
    NothingToRun(String),
}

/// The PipelineRun's name: `<pipeline>-<run id>[-<segment>]`, cut to 63 characters.
pub fn pipeline_run_name(pipeline: &str, run_id: i64, segment: usize) -> String {
    let suffix = if segment == 0 {
        format!("-{run_id}")
    } else {
        format!("-{run_id}-{segment}")
    };
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = pipeline.chars().take(keep).collect();
    format!("{}{suffix}", base.trim_end_matches('-'))
}

/// The Kubernetes Secret holding the values of the secrets a run's steps get: made before
/// its first PipelineRun, deleted when it ends. Steps read it through `secretKeyRef`, so no
/// value is ever in a PipelineRun, its params or its annotations.
pub fn run_secret_name(run_id: i64) -> String {
    format!("conveyor-run-{run_id}-secrets")
}

/// The run's `kubernetes.io/dockerconfigjson` copy of a pull secret (secret names are
/// `A-Z0-9_`: lowercase, with '-' for '_', they cannot meet).
pub fn pull_secret_name(run_id: i64, secret: &str) -> String {
    format!(
        "conveyor-run-{run_id}-pull-{}",
        secret.to_ascii_lowercase().replace('_', "-")
    )
}

/// Compiles the steps `steps` (plan indices) of a run, binding the workspace to the PVC
/// `claim`. A need outside `steps` is taken as already met (an earlier segment, or the
/// earlier run of a re-run); needs inside become `runAfter`.
pub fn compile(
    run: &RunRequest,
    steps: &[usize],
    segment: usize,
    claim: &str,
    settings: &TektonSettings,
) -> Result<Value, CompileError> {
    let mut run_params = Vec::new();
    let mut pipeline_params = Vec::new();
    let mut tasks = Vec::new();
    let mut task_run_specs = Vec::new();

    let plan = &run.resolved.plan;
    for &index in steps {
        let planned = plan
            .steps
            .get(index)
            .ok_or(CompileError::UnknownStep(index))?;
        let step = run
            .resolved
            .steps
            .get(index)
            .ok_or(CompileError::UnknownStep(index))?;
        // A Tekton task and its container are named for Kubernetes (no '.').
        let task_name = kubernetes_name(&planned.name);
        let name = task_name.as_str();
        let stage = &plan.stages[planned.stage].name;

        // Variables: run param `<step>--<NAME>` → task param `NAME` → env `NAME`.
        let env: BTreeMap<String, String> = run
            .step_environment(index, &format!("$(workspaces.{WORKSPACE}.path)"))
            .into_iter()
            .collect();
        let mut task_params = Vec::new();
        let mut spec_params = Vec::new();
        let mut step_env = Vec::new();
        for (variable, value) in env {
            if variable == "CONVEYOR_WORKSPACE" {
                // Our own fixed text: Tekton fills in the mount path.
                step_env.push(json!({"name": variable, "value": value}));
                continue;
            }
            let run_param = format!("{name}--{variable}");
            run_params.push(json!({"name": run_param, "value": value}));
            pipeline_params.push(json!({"name": run_param, "type": "string"}));
            task_params.push(json!({"name": variable, "value": format!("$(params.{run_param})")}));
            spec_params.push(json!({"name": variable, "type": "string"}));
            step_env.push(json!({"name": variable, "value": format!("$(params.{variable})")}));
        }

        for use_ in &step.secrets {
            step_env.push(json!({
                "name": use_.variable(),
                "valueFrom": {"secretKeyRef": {"name": run_secret_name(run.run_id), "key": use_.name}},
            }));
        }

        let pushes = run
            .registry
            .as_ref()
            .is_some_and(|r| r.steps.contains(&planned.name));
        // The workspace at /workspace, as on the local engine, and wherever the pipeline
        // asks for it besides (a KubeCI Workflow's /kubeci): one volume, mounted again.
        let mut workspaces = vec![json!({"name": WORKSPACE, "workspace": WORKSPACE})];
        let mut declared_workspaces = vec![json!({"name": WORKSPACE, "mountPath": WORKSPACE_PATH})];
        for (i, path) in run.resolved.workspace_paths.iter().enumerate() {
            let also = format!("{WORKSPACE}-also-{i}");
            workspaces.push(json!({"name": also, "workspace": WORKSPACE}));
            declared_workspaces.push(json!({"name": also, "mountPath": path}));
        }
        if pushes {
            step_env.push(json!({"name": "DOCKER_CONFIG", "value": format!("$(workspaces.{DOCKER_CONFIG_WORKSPACE}.path)")}));
            workspaces.push(
                json!({"name": DOCKER_CONFIG_WORKSPACE, "workspace": DOCKER_CONFIG_WORKSPACE}),
            );
            declared_workspaces.push(json!({"name": DOCKER_CONFIG_WORKSPACE, "readOnly": true}));
        }
        let mut tekton_step = json!({
            "name": name,
            "env": step_env,
            "workingDir": format!("$(workspaces.{WORKSPACE}.path)"),
        });
        match &step.program {
            Program::Script { script } => {
                // The same shell and `-e` as the local engine, unless the script names its own.
                let script = if script.starts_with("#!") {
                    script.to_owned()
                } else {
                    format!("#!/bin/sh\nset -e\n{script}")
                };
                tekton_step["script"] = json!(script);
            }
            Program::Command { command, args } => {
                tekton_step["command"] = json!(command);
                if !args.is_empty() {
                    tekton_step["args"] = json!(args);
                }
            }
            Program::Entrypoint { args } => {
                if step.image.is_none() {
                    return Err(CompileError::NothingToRun(name.to_owned()));
                }
                if !args.is_empty() {
                    tekton_step["args"] = json!(args);
                }
            }
        }
        tekton_step["image"] = json!(step.image.as_deref().unwrap_or(&settings.default_image));
        if step.image.is_some() && step.pull != PullPolicy::IfNotPresent {
            tekton_step["imagePullPolicy"] = json!(step.pull.kubernetes());
        }

        let mut task = json!({
            "name": name,
            "params": task_params,
            "workspaces": workspaces,
            "taskSpec": {
                "metadata": {"annotations": {ANNOTATION_STAGE: stage}},
                "params": spec_params,
                "workspaces": declared_workspaces,
                "steps": [tekton_step],
            },
        });
        let run_after: Vec<String> = planned
            .needs
            .iter()
            .filter(|need| steps.contains(need))
            .map(|&need| kubernetes_name(&plan.steps[need].name))
            .collect();
        if !run_after.is_empty() {
            task["runAfter"] = json!(run_after);
        }
        if let Some(seconds) = planned.timeout_secs {
            task["timeout"] = json!(format!("{seconds}s"));
        }
        tasks.push(task);

        // Where its pod goes, and what its image is pulled with (the run's copy of the
        // step's pull secret).
        let mut pod = serde_json::Map::new();
        if !step.node_selector.is_empty() {
            pod.insert("nodeSelector".into(), json!(step.node_selector));
        }
        if let Some(secret) = &step.pull_secret {
            pod.insert(
                "imagePullSecrets".into(),
                json!([{"name": pull_secret_name(run.run_id, secret)}]),
            );
        }
        if !pod.is_empty() {
            task_run_specs.push(json!({"pipelineTaskName": name, "podTemplate": pod}));
        }
    }

    let binding = json!({"name": WORKSPACE, "persistentVolumeClaim": {"claimName": claim}});
    let mut declared = vec![json!({"name": WORKSPACE})];
    let mut bindings = vec![binding];
    if let Some(registry) = &run.registry {
        declared.push(json!({"name": DOCKER_CONFIG_WORKSPACE}));
        bindings.push(json!({
            "name": DOCKER_CONFIG_WORKSPACE,
            "secret": {"secretName": registry.secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]},
        }));
    }
    let mut spec = json!({
        "params": run_params,
        "pipelineSpec": {
            "params": pipeline_params,
            "workspaces": declared,
            "tasks": tasks,
        },
        "workspaces": bindings,
        // Step timeouts apply per task; the run as a whole has none, as on the local engine.
        "timeouts": {"pipeline": "0"},
    });
    if let Some(account) = run
        .service_account
        .as_ref()
        .or(settings.service_account.as_ref())
    {
        spec["taskRunTemplate"] = json!({"serviceAccountName": account});
    }
    if !task_run_specs.is_empty() {
        spec["taskRunSpecs"] = json!(task_run_specs);
    }
    Ok(json!({
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {
            "name": pipeline_run_name(run.pipeline(), run.run_id, segment),
            "namespace": settings.namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_RUN: run.run_id.to_string(),
                LABEL_PIPELINE: run.pipeline(),
                LABEL_SEGMENT: segment.to_string(),
            },
        },
        "spec": spec,
    }))
}

/// The volume a run's workspace asks for.
pub fn workspace_claim(settings: &TektonSettings) -> PersistentVolumeClaimSpec {
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".into()]),
        resources: Some(VolumeResourceRequirements {
            requests: Some(
                [(
                    "storage".to_owned(),
                    Quantity(settings.workspace_size.clone()),
                )]
                .into(),
            ),
            ..Default::default()
        }),
        storage_class_name: settings.storage_class.clone(),
        ..Default::default()
    }
}
