//! The pipeline format: plain serde types shared by the server and the browser.
//!
//! A document is YAML or JSON (JSON is read by the same YAML parser). Native pipelines,
//! KubeCI `Workflow` manifests and taskflow `Task` manifests all become a [`Pipeline`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Parameters and environment: string keys and scalar values, stored as strings.
pub type Params = BTreeMap<String, String>;

/// Largest definition document accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// DNS label; immutable once the pipeline is saved.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Global parameters, merged into every step's environment.
    #[serde(
        default,
        rename = "with",
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "scalar_map::deserialize"
    )]
    pub with: Params,
    /// Reusable, versioned step templates referenced by `step.action` as `name@version`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Where this pipeline's runs go, over the server's default engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineChoice>,
    pub stages: Vec<Stage>,
}

/// The engines a pipeline can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// Processes on the Conveyor host.
    Local,
    /// PipelineRuns on the Kubernetes cluster the server is configured for.
    Tekton,
}

impl EngineChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            EngineChoice::Local => "local",
            EngineChoice::Tekton => "tekton",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Lowest-precedence parameter values.
    #[serde(
        default,
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "scalar_map::deserialize"
    )]
    pub defaults: Params,
    /// Parameters that must have a value once all sources are merged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    /// Stages that must succeed first. Omitted: the previous stage. `[]`: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    /// Container image (used by the Tekton engine; the local engine runs on the host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A shell script, run with `sh -e`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// A program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// `name@version` of an action in `actions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(
        default,
        rename = "with",
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "scalar_map::deserialize"
    )]
    pub with: Params,
    #[serde(
        default,
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "scalar_map::deserialize"
    )]
    pub env: Params,
    /// Steps that must succeed first. Omitted: the step's place in its stage decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs: Option<Vec<String>>,
    /// Runs alongside the neighbouring parallel steps of its stage.
    #[serde(default, skip_serializing_if = "is_false")]
    pub parallel: bool,
    /// Like `30s`, `5m`, `1h30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Waits for a person to approve before it runs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub approval: bool,
    #[serde(
        default,
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "scalar_map::deserialize"
    )]
    pub approval_params: Params,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
    #[serde(
        default,
        skip_serializing_if = "Params::is_empty",
        deserialize_with = "scalar_map::deserialize"
    )]
    pub node_selector: Params,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    pub events: Vec<String>,
}

/// Step outcomes a webhook may subscribe to.
pub const WEBHOOK_EVENTS: [&str; 6] = [
    "STARTED",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "SKIPPED",
    "REFUSED",
];

fn is_false(value: &bool) -> bool {
    !*value
}

/// One problem in a definition, located by a path like `stages[1].steps[0].needs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Reads a document (native, KubeCI `Workflow` or taskflow `Task`) into a pipeline.
/// Only the shape is checked here; [`crate::plan::plan`] checks the meaning.
pub fn parse_document(source: &str) -> Result<Pipeline, Vec<Problem>> {
    document_from_value(parse_yaml(source)?)
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
            Some("Workflow") => crate::import::kubeci_workflow(value),
            Some("Task") => crate::import::taskflow_task(value),
            Some(other) => Err(vec![Problem::new(
                "kind",
                format!("cannot import kind \"{other}\"; known kinds are Workflow (KubeCI) and Task (taskflow)"),
            )]),
            None => Err(vec![Problem::new("kind", "a manifest with apiVersion needs a kind")]),
        };
    }
    from_value(value)
}

/// Reads YAML or JSON text within the size limit; a syntax error names its line and column.
pub(crate) fn parse_yaml(source: &str) -> Result<serde_yaml::Value, Vec<Problem>> {
    if source.len() > MAX_DOCUMENT_BYTES {
        return Err(vec![Problem::new(
            "",
            format!(
                "document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
                source.len()
            ),
        )]);
    }
    serde_yaml::from_str(source).map_err(|err| {
        let message = match err.location() {
            Some(at) => format!(
                "line {}, column {}: {}",
                at.line(),
                at.column(),
                strip_location(&err.to_string())
            ),
            None => err.to_string(),
        };
        vec![Problem::new("", message)]
    })
}

/// Deserializes a typed document, reporting the path of the first problem.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_yaml::Value,
) -> Result<T, Vec<Problem>> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![Problem::new(path, strip_location(&err.inner().to_string()))]
    })
}

/// serde_yaml appends " at line X column Y" to messages; the location is reported apart.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Serializes a pipeline as YAML (the form the editor starts from for imported documents).
pub fn to_yaml(pipeline: &Pipeline) -> String {
    serde_yaml::to_string(pipeline).unwrap_or_default()
}

/// Maps whose values may be written as any YAML scalar (`replicas: 3`), kept as strings.
mod scalar_map {
    use super::Params;
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use std::fmt;

    struct Scalar(String);

    impl<'de> serde::Deserialize<'de> for Scalar {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ScalarVisitor;
            impl Visitor<'_> for ScalarVisitor {
                type Value = Scalar;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string, number or boolean")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_owned()))
                }
                fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
                // Documents reach the browser with every value already a string, and float
                // formatting would add its own code to the WASM: only the server reads floats.
                #[cfg(not(feature = "hydrate"))]
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                    Ok(Scalar(v.to_string()))
                }
            }
            deserializer.deserialize_any(ScalarVisitor)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Params, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = Params;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of names to scalar values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Params, A::Error> {
                let mut params = Params::new();
                while let Some((key, Scalar(value))) = access.next_entry::<String, Scalar>()? {
                    params.insert(key, value);
                }
                Ok(params)
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}
