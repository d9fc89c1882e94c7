//! Imports of the manifests named by the seeds: a KubeCI `Workflow` (steps with a
//! `dependency` DAG) and a taskflow `Task` (container steps run strictly in order).
//! Both become one-stage pipelines; unknown fields are rejected as in native documents.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::definition::{Pipeline, Problem, Stage, Step};
use crate::yaml::typed;

/// Where a KubeCI Workflow's steps find the files they share.
pub const KUBECI_PATH: &str = "/kubeci";

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Manifest<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    metadata: Metadata,
    spec: S,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KubeCiSpec {
    steps: Vec<KubeCiStep>,
    /// Changes to Kubernetes objects that start a run: the pipeline's `on.kubernetes`.
    #[serde(default)]
    triggers: Vec<crate::triggers::KubernetesTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KubeCiStep {
    name: String,
    image: String,
    #[serde(default)]
    commands: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    dependency: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskflowSpec {
    steps: Vec<TaskflowStep>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskflowStep {
    name: String,
    image: String,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
}

fn description(metadata: &Metadata, origin: &str) -> Option<String> {
    metadata
        .annotations
        .get("description")
        .cloned()
        .or_else(|| Some(format!("Imported from a {origin}")))
}

fn tags(metadata: &Metadata) -> Vec<String> {
    metadata
        .labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

pub fn kubeci_workflow(value: serde_yaml::Value) -> Result<Pipeline, Vec<Problem>> {
    let manifest: Manifest<KubeCiSpec> = typed(value)?;
    let triggers = manifest.spec.triggers;
    let steps = manifest
        .spec
        .steps
        .into_iter()
        .map(|step| Step {
            name: step.name,
            image: Some(step.image),
            command: step.commands,
            args: step.args,
            // KubeCI steps without a dependency start at once.
            needs: Some(step.dependency),
            ..Step::default()
        })
        .collect();
    Ok(Pipeline {
        description: description(&manifest.metadata, "KubeCI Workflow"),
        tags: tags(&manifest.metadata),
        name: manifest.metadata.name,
        on: (!triggers.is_empty()).then(|| crate::triggers::On {
            kubernetes: triggers,
            ..Default::default()
        }),
        // KubeCI steps share their files at /kubeci.
        workspace_paths: vec![KUBECI_PATH.into()],
        stages: vec![Stage {
            id: None,
            name: "steps".into(),
            needs: None,
            steps,
        }],
        ..Pipeline::default()
    })
}

pub fn taskflow_task(value: serde_yaml::Value) -> Result<Pipeline, Vec<Problem>> {
    let manifest: Manifest<TaskflowSpec> = typed(value)?;
    let steps = manifest
        .spec
        .steps
        .into_iter()
        .map(|step| Step {
            name: step.name,
            image: Some(step.image),
            command: step.command,
            args: step.args,
            ..Step::default()
        })
        .collect();
    Ok(Pipeline {
        description: description(&manifest.metadata, "taskflow Task"),
        tags: tags(&manifest.metadata),
        name: manifest.metadata.name,
        stages: vec![Stage {
            id: None,
            name: "steps".into(),
            needs: None,
            steps,
        }],
        ..Pipeline::default()
    })
}
