//! Documents as people write them: a native pipeline, a KubeCI `Workflow` or a taskflow
//! `Task`, in YAML or JSON, become a [`Pipeline`]; [`check_document`] plans it too.

use crate::definition::{Pipeline, Problem};
use crate::plan::{plan, Plan};
use crate::{imports, yaml};

/// Reads a document (native, KubeCI `Workflow` or taskflow `Task`) into a pipeline.
/// Only the shape is checked here; [`plan`] checks the meaning.
pub fn parse_document(source: &str) -> Result<Pipeline, Vec<Problem>> {
    document_from_value(yaml::read(source)?)
}

/// [`parse_document`] for a document already read as YAML.
pub fn document_from_value(value: serde_yaml::Value) -> Result<Pipeline, Vec<Problem>> {
    if !value.is_mapping() {
        return Err(vec![Problem::new(
            "",
            "a definition must be a mapping with `name` and `stages`",
        )]);
    }
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    if value.get("apiVersion").is_some() {
        return match kind.as_deref() {
            Some("Workflow") => imports::kubeci_workflow(value),
            Some("Task") => imports::taskflow_task(value),
            Some(other) => Err(vec![Problem::new(
                "kind",
                format!("cannot import kind \"{other}\"; known kinds are Workflow (KubeCI) and Task (taskflow)"),
            )]),
            None => Err(vec![Problem::new("kind", "a manifest with apiVersion needs a kind")]),
        };
    }
    yaml::typed(value)
}

/// Parses and plans a document in one go: what the editor, the API and the CLI call.
pub fn check_document(source: &str) -> Result<(Pipeline, Plan), Vec<Problem>> {
    let pipeline = parse_document(source)?;
    let plan = plan(&pipeline)?;
    Ok((pipeline, plan))
}
