//! Validation of generated Tekton objects against Tekton's own v1 CRD schemas
//! (`../shared/tekton/crds`), made strict: where a schema lists `properties` and does not
//! say `x-kubernetes-preserve-unknown-fields`, any other key is an error (the API server
//! would silently prune it). The parts Tekton leaves open (`pipelineSpec`, `taskSpec`) are
//! checked against the Pipeline and Task schemas themselves.

use std::path::PathBuf;

use serde_json::Value;

pub struct TektonSchemas {
    pipeline_run: jsonschema::Validator,
    pipeline_spec: jsonschema::Validator,
    task_spec: jsonschema::Validator,
}

fn crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tekton/crds")
}

/// The v1 `openAPIV3Schema` of a CRD file.
fn v1_schema(file: &str) -> Value {
    let path = crd_dir().join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let crd: Value = serde_yaml::from_str(&text).expect("CRD YAML");
    let version = crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .find(|v| v["name"] == "v1")
        .expect("a v1 version");
    version["schema"]["openAPIV3Schema"].clone()
}

/// Rewrites Kubernetes' structural-schema extensions as plain JSON Schema, strictly.
fn strict(schema: &mut Value) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if object.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        object.remove("type");
        object.insert(
            "anyOf".into(),
            serde_json::json!([{"type": "integer"}, {"type": "string"}]),
        );
    }
    let open = object.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    if object.contains_key("properties") && !open && !object.contains_key("additionalProperties") {
        object.insert("additionalProperties".into(), Value::Bool(false));
    }
    // Recurse only where keywords hold schemas: under `properties` the keys are field names.
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(strict);
    }
    for keyword in ["items", "additionalProperties", "not"] {
        if let Some(sub @ Value::Object(_)) = object.get_mut(keyword) {
            strict(sub);
        }
    }
    for keyword in ["anyOf", "allOf", "oneOf"] {
        if let Some(Value::Array(subs)) = object.get_mut(keyword) {
            subs.iter_mut().for_each(strict);
        }
    }
}

fn validator(mut schema: Value) -> jsonschema::Validator {
    strict(&mut schema);
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&schema)
        .expect("the CRD schema compiles")
}

impl TektonSchemas {
    pub fn load() -> TektonSchemas {
        TektonSchemas {
            pipeline_run: validator(v1_schema("crd-pipelinerun.yaml")),
            pipeline_spec: validator(v1_schema("crd-pipeline.yaml")["properties"]["spec"].clone()),
            task_spec: validator(v1_schema("crd-task.yaml")["properties"]["spec"].clone()),
        }
    }

    /// Every schema problem of a PipelineRun, its embedded pipelineSpec and each embedded
    /// taskSpec, as `path: message`.
    pub fn pipeline_run_problems(&self, run: &Value) -> Vec<String> {
        let mut problems = errors(&self.pipeline_run, run, "");
        let spec = &run["spec"]["pipelineSpec"];
        problems.extend(errors(&self.pipeline_spec, spec, "/spec/pipelineSpec"));
        for (i, task) in spec["tasks"].as_array().into_iter().flatten().enumerate() {
            let mut task_spec = task["taskSpec"].clone();
            let at = format!("/spec/pipelineSpec/tasks/{i}/taskSpec");
            // An embedded task may carry metadata (labels and annotations) beside the spec.
            if let Some(metadata) = task_spec.as_object_mut().and_then(|t| t.remove("metadata")) {
                for key in metadata
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if key != "labels" && key != "annotations" {
                        problems.push(format!("{at}/metadata: unexpected key {key}"));
                    }
                }
            }
            problems.extend(errors(&self.task_spec, &task_spec, &at));
        }
        problems
    }
}

fn errors(validator: &jsonschema::Validator, instance: &Value, prefix: &str) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|error| format!("{prefix}{}: {error}", error.instance_path()))
        .collect()
}
