//! The Tekton compiler: every PipelineRun it makes is checked against Tekton's own v1 CRD
//! schemas (strictly: unknown or misplaced fields fail), and its shape is checked by hand.

use std::sync::Arc;

use crate::support::crd::TektonSchemas;
use conveyor::engine::tekton::compile::{
    compile, pipeline_run_name, workspace_claim, CompileError, TektonSettings,
};
use conveyor::engine::RunRequest;
use conveyor_core::definition::Params;
use conveyor_core::resolve::ResolvedRun;
use serde_json::{json, Value};

const SHIP: &str = r#"
name: ship
with: {REGISTRY: registry.example.com}
actions:
  - {name: kaniko, version: "1", image: "gcr.io/kaniko-project/executor:v1.23.2", args: ["--context=dir://."], defaults: {DOCKERFILE: Dockerfile}}
stages:
  - name: build
    steps:
      - name: compile
        image: golang:1.23
        script: go build ./...
        env: {GOFLAGS: -mod=vendor}
        timeout: 10m
      - {name: unit, parallel: true, command: [go, test], args: ["./..."], image: golang:1.23}
      - {name: lint, parallel: true, script: echo lint}
  - name: package
    steps:
      - {name: image, action: kaniko@1, node_selector: {disk: ssd}}
  - name: deploy
    steps:
      - name: release
        approval: true
        script: echo "releasing $TAG"
        with: {NOTE: '$(params.REGISTRY) "; rm -rf / #'}
"#;

fn request(source: &str, params: Params) -> RunRequest {
    let (pipeline, plan) =
        conveyor_core::document::check_document(source).expect("a valid pipeline");
    let tag = "v1.2.3";
    RunRequest {
        run_id: 42,
        tag: tag.into(),
        resolved: Arc::new(ResolvedRun::resolve(&pipeline, plan, tag, &params)),
        service_account: None,
        registry: None,
        retry: None,
        secrets: Default::default(),
    }
}

fn all_steps(run: &RunRequest) -> Vec<usize> {
    (0..run.resolved.steps.len()).collect()
}

fn settings() -> TektonSettings {
    let mut settings = TektonSettings::new("ci");
    settings.service_account = Some("conveyor-ship".into());
    settings.storage_class = Some("standard".into());
    settings
}

fn task<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["spec"]["pipelineSpec"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no task {name}"))
}

/// Every string in a JSON value, with its path.
fn strings(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(text) => out.push((path, text.clone())),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| strings(v, format!("{path}/{i}"), out)),
        Value::Object(map) => map
            .iter()
            .for_each(|(k, v)| strings(v, format!("{path}/{k}"), out)),
        _ => {}
    }
}

#[test]
fn a_staged_pipeline_compiles_to_a_pipeline_run_tekton_accepts() {
    let schemas = TektonSchemas::load();
    let run = request(
        SHIP,
        [("EXTRA".to_owned(), "from the run dialog".to_owned())].into(),
    );
    let object =
        compile(&run, &all_steps(&run), 0, "conveyor-run-42", &settings()).expect("compiles");
    assert_eq!(
        schemas.pipeline_run_problems(&object),
        Vec::<String>::new(),
        "{object:#}"
    );

    assert_eq!(object["metadata"]["name"], "ship-42");
    assert_eq!(object["metadata"]["namespace"], "ci");
    assert_eq!(object["metadata"]["labels"]["conveyor.dev/run"], "42");
    assert_eq!(
        object["spec"]["taskRunTemplate"]["serviceAccountName"],
        "conveyor-ship"
    );
    assert_eq!(
        object["spec"]["workspaces"],
        json!([{"name": "workspace", "persistentVolumeClaim": {"claimName": "conveyor-run-42"}}])
    );
    let claim = serde_json::to_value(workspace_claim(&settings())).expect("claim spec");
    assert_eq!(
        claim,
        json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "standard"})
    );

    // Order: stages in sequence, parallel steps side by side.
    assert_eq!(task(&object, "compile").get("runAfter"), None);
    assert_eq!(task(&object, "unit")["runAfter"], json!(["compile"]));
    assert_eq!(task(&object, "lint")["runAfter"], json!(["compile"]));
    assert_eq!(
        task(&object, "image")["runAfter"],
        json!(["compile", "unit", "lint"])
    );
    assert_eq!(task(&object, "release")["runAfter"], json!(["image"]));

    // Programs, images, timeouts, node selectors.
    let compile_step = &task(&object, "compile")["taskSpec"]["steps"][0];
    assert_eq!(compile_step["name"], "compile");
    assert_eq!(compile_step["image"], "golang:1.23");
    assert_eq!(compile_step["script"], "#!/bin/sh\nset -e\ngo build ./...");
    assert_eq!(task(&object, "compile")["timeout"], "600s");
    let unit_step = &task(&object, "unit")["taskSpec"]["steps"][0];
    assert_eq!(
        (&unit_step["command"], &unit_step["args"]),
        (&json!(["go", "test"]), &json!(["./..."]))
    );
    assert_eq!(
        task(&object, "lint")["taskSpec"]["steps"][0]["image"],
        "docker.io/library/alpine:3.20"
    );
    let image_step = &task(&object, "image")["taskSpec"]["steps"][0];
    assert_eq!(
        image_step["image"],
        "gcr.io/kaniko-project/executor:v1.23.2"
    );
    assert_eq!(image_step["args"], json!(["--context=dir://."]));
    assert_eq!(
        image_step.get("command"),
        None,
        "the image's entrypoint runs"
    );
    assert_eq!(
        object["spec"]["taskRunSpecs"],
        json!([{"pipelineTaskName": "image", "podTemplate": {"nodeSelector": {"disk": "ssd"}}}])
    );
    assert_eq!(
        task(&object, "release")["taskSpec"]["metadata"]["annotations"]["conveyor.dev/stage"],
        "deploy"
    );

    // Variables reach the step through params into env, with the seeds' precedence.
    let env = |name: &str| -> Vec<(String, String)> {
        task(&object, name)["taskSpec"]["steps"][0]["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or("").to_owned(),
                    e["value"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let run_param = |name: &str| -> String {
        object["spec"]["params"]
            .as_array()
            .expect("params")
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["value"].as_str().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no run param {name}"))
    };
    assert!(env("compile").contains(&("GOFLAGS".into(), "$(params.GOFLAGS)".into())));
    assert_eq!(
        task(&object, "compile")["params"]
            .as_array()
            .expect("params")
            .iter()
            .find(|p| p["name"] == "GOFLAGS")
            .expect("GOFLAGS")["value"],
        "$(params.compile--GOFLAGS)"
    );
    assert_eq!(run_param("compile--GOFLAGS"), "-mod=vendor");
    assert_eq!(run_param("compile--TAG"), "v1.2.3");
    assert_eq!(run_param("compile--CONVEYOR_TAG"), "v1.2.3");
    assert_eq!(run_param("compile--CONVEYOR_RUN_ID"), "42");
    assert_eq!(run_param("compile--REGISTRY"), "registry.example.com");
    assert_eq!(run_param("compile--EXTRA"), "from the run dialog");
    assert_eq!(
        run_param("image--DOCKERFILE"),
        "Dockerfile",
        "action defaults"
    );
    assert!(env("compile").contains(&(
        "CONVEYOR_WORKSPACE".into(),
        "$(workspaces.workspace.path)".into()
    )));

    // User text travels only as run param values, which Tekton never substitutes into.
    let hostile = "$(params.REGISTRY) \"; rm -rf / #";
    assert_eq!(run_param("release--NOTE"), hostile);
    let mut all = Vec::new();
    strings(&object, String::new(), &mut all);
    let places: Vec<&String> = all
        .iter()
        .filter(|(_, text)| text.contains("rm -rf"))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(places.len(), 1, "{places:?}");
    assert!(
        places[0].starts_with("/spec/params/") && places[0].ends_with("/value"),
        "{places:?}"
    );
}

#[test]
fn the_validator_catches_unknown_and_misplaced_fields() {
    let schemas = TektonSchemas::load();
    let run = request(SHIP, Params::new());
    let good =
        compile(&run, &all_steps(&run), 0, "conveyor-run-42", &settings()).expect("compiles");
    type Mutation = fn(&mut Value);
    let mutations: [(&str, Mutation); 5] = [
        ("v1beta1 field on a v1 PipelineRun", |v| {
            v["spec"]["serviceAccountName"] = json!("x")
        }),
        ("unknown step field", |v| {
            v["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]["scirpt"] = json!("x")
        }),
        ("runAfter as a string", |v| {
            v["spec"]["pipelineSpec"]["tasks"][1]["runAfter"] = json!("compile")
        }),
        ("unknown pipeline task field", |v| {
            v["spec"]["pipelineSpec"]["tasks"][0]["needs"] = json!(["x"])
        }),
        ("bad embedded task metadata", |v| {
            v["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["metadata"]["name"] = json!("x")
        }),
    ];
    for (what, mutate) in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(
            !schemas.pipeline_run_problems(&bad).is_empty(),
            "not caught: {what}"
        );
    }
}

#[test]
fn a_segment_after_an_approval_gate_runs_only_its_own_steps() {
    let schemas = TektonSchemas::load();
    let run = request(SHIP, Params::new());
    let release = run
        .resolved
        .plan
        .steps
        .iter()
        .position(|s| s.name == "release")
        .expect("release");
    let object = compile(&run, &[release], 1, "conveyor-run-7", &settings()).expect("compiles");
    assert_eq!(schemas.pipeline_run_problems(&object), Vec::<String>::new());
    assert_eq!(object["metadata"]["name"], "ship-42-1");
    assert_eq!(object["metadata"]["labels"]["conveyor.dev/segment"], "1");
    let tasks = object["spec"]["pipelineSpec"]["tasks"]
        .as_array()
        .expect("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        tasks[0].get("runAfter"),
        None,
        "its needs ran in the earlier segment"
    );
    assert_eq!(
        object["spec"]["workspaces"],
        json!([{"name": "workspace", "persistentVolumeClaim": {"claimName": "conveyor-run-7"}}]),
        "a later segment binds the run's own claim, so it sees the files of the earlier ones"
    );
}

#[test]
fn imports_compile_too() {
    let schemas = TektonSchemas::load();
    for fixture in ["kubeci-workflow.yaml", "taskflow-task.yaml"] {
        let source = std::fs::read_to_string(format!(
            "{}/tests/fixtures/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture");
        let run = request(&source, Params::new());
        let object = compile(
            &run,
            &all_steps(&run),
            0,
            "conveyor-run-42",
            &TektonSettings::new("ci"),
        )
        .expect(fixture);
        assert_eq!(
            schemas.pipeline_run_problems(&object),
            Vec::<String>::new(),
            "{fixture}: {object:#}"
        );
        assert_eq!(object["spec"].get("taskRunTemplate"), None);
    }
}

#[test]
fn a_step_with_nothing_to_run_is_refused() {
    // An image alone runs its own entrypoint and cmd: no command, args or script.
    let mut run = request(
        "name: empty\nstages:\n  - name: s\n    steps:\n      - {name: nothing, image: alpine}\n",
        Params::new(),
    );
    let object =
        compile(&run, &[0], 0, "conveyor-run-42", &TektonSettings::new("ci")).expect("compiles");
    let step = &task(&object, "nothing")["taskSpec"]["steps"][0];
    assert_eq!(step["image"], "alpine");
    for field in ["command", "args", "script"] {
        assert_eq!(step.get(field), None, "{field} in {step}");
    }
    // Without an image there is nothing to run: validation refuses such a step, and the
    // compiler does not rely on that.
    Arc::make_mut(&mut run.resolved).steps[0].image = None;
    assert_eq!(
        compile(&run, &[0], 0, "conveyor-run-42", &TektonSettings::new("ci")),
        Err(CompileError::NothingToRun("nothing".into()))
    );
}

#[test]
fn names_stay_within_63_characters() {
    let long = "a".repeat(63);
    let name = pipeline_run_name(&long, 1234567, 12);
    assert_eq!(name.len(), 63);
    assert!(name.ends_with("-1234567-12"));
    assert_eq!(pipeline_run_name("web", 7, 0), "web-7");
}

#[test]
fn a_run_of_code_starts_with_a_checkout_task_tekton_accepts() {
    let schemas = TektonSchemas::load();
    let source = "name: web\nrepository: {url: 'https://git.example.com/team/web.git', webhook_secret: HOOK, credentials: GIT_TOKEN}\non: {push: {}}\nstages: [{name: build, steps: [{name: make, image: 'golang:1.23', script: make}]}]\n";
    let (pipeline, plan) = conveyor_core::document::check_document(source).expect("valid");
    let resolved = ResolvedRun::resolve(&pipeline, plan, "v1", &Params::new());
    let commit = conveyor_core::run::Commit {
        sha: "a".repeat(40),
        git_ref: "refs/heads/main".into(),
        branch: Some("main".into()),
        ..Default::default()
    };
    let resolved = conveyor_core::checkout::with_checkout(
        resolved,
        pipeline.repository.as_ref().expect("repository"),
        Some(&commit),
    );
    let run = RunRequest {
        run_id: 7,
        tag: "v1".into(),
        resolved: Arc::new(resolved),
        service_account: None,
        registry: None,
        retry: None,
        secrets: Default::default(),
    };
    let object =
        compile(&run, &all_steps(&run), 0, "conveyor-run-7", &settings()).expect("compiles");
    assert_eq!(
        schemas.pipeline_run_problems(&object),
        Vec::<String>::new(),
        "{object:#}"
    );
    assert_eq!(task(&object, "make")["runAfter"], json!(["checkout"]));
    let checkout = &task(&object, "checkout")["taskSpec"]["steps"][0];
    assert!(
        checkout["image"].as_str().unwrap().contains("alpine/git"),
        "{checkout:#}"
    );
    let env = checkout["env"].to_string();
    assert!(env.contains("CONVEYOR_COMMIT"), "{env}");
    // Values reach the task as the run's params (never in its script).
    let params = object["spec"]["params"].to_string();
    assert!(params.contains(&"a".repeat(40)), "{params}");
    // The clone token comes from the run's Secret, never as a value.
    assert!(env.contains("secretKeyRef"), "{env}");
    let script = checkout["script"].as_str().unwrap_or_default();
    assert!(
        !script.contains("git.example.com"),
        "the URL is a variable: {script}"
    );
}

#[test]
fn seed_001s_step_names_become_task_names_kubernetes_takes() {
    // Seed 001's test44 with its action inline (the compiler sees a resolved run either way).
    let seed = crate::support::seeds::seed_yaml("001", "name: test44");
    let source = seed.replacen(
        "stages:",
        "actions:\n  - {name: action01, version: v1, image: busybox:1.28, script: 'echo \"$ENV1\"'}\nstages:",
        1,
    );
    let run = request(&source, Params::new());
    let object =
        compile(&run, &all_steps(&run), 0, "conveyor-run-42", &settings()).expect("compiles");
    assert_eq!(
        TektonSchemas::load().pipeline_run_problems(&object),
        Vec::<String>::new(),
        "{object:#}"
    );
    let step = &task(&object, "step1-3")["taskSpec"]["steps"][0];
    assert_eq!(step["name"], "step1-3");
    assert_eq!(
        task(&object, "step2-1")["runAfter"],
        json!(["step1-1", "step1-2", "step1-3"])
    );
    assert_eq!(
        task(&object, "step1-1")["taskSpec"]["workspaces"][0]["mountPath"],
        "/workspace"
    );
}
