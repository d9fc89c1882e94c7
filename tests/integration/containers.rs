//! Steps that name an image run in a container of it on the local engine (podman), with
//! Kubernetes' command and args semantics, the workspace at /workspace, and nothing left
//! behind; the seeds' own examples run as written.

use conveyor_core::run::{EventBody, RunStatus, StepStatus};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use conveyor_core::definition::EngineKind;

use crate::support::fake_kube::FakeCluster;
use crate::support::images::{containers_of, seed_images, BUSYBOX, EP_CMD};
use crate::support::seeds::seed_yaml;
use crate::support::{logs, outcome, step_statuses, TestApp};

/// A server whose local engine drives podman, with the seeds' images on the host.
async fn app() -> TestApp {
    app_with_runtime("podman").await
}

/// A server whose local engine drives `runtime` (a `--container-runtime` choice), ready,
/// with the seeds' images on the host.
async fn app_with_runtime(runtime: &str) -> TestApp {
    tokio::task::spawn_blocking(seed_images)
        .await
        .expect("images made");
    let runtime = runtime.to_owned();
    let app = TestApp::spawn_with(move |config| config.container_runtime = runtime).await;
    let (_, ready) = app.get_json("/readyz").await;
    assert_eq!(ready["ready"], true, "{ready}");
    app
}

async fn run_detail(app: &TestApp, run: i64) -> Value {
    let (status, body) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn step_of<'a>(detail: &'a Value, name: &str) -> &'a Value {
    detail["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {detail}"))
}

#[tokio::test]
async fn seed_002s_taskflow_runs_as_written_with_step3_in_its_images_own_entrypoint() {
    let app = app().await;
    let source = seed_yaml("002", "kind: Task");
    app.create_pipeline(&source).await;
    let run = app.start_run("example-taskflow", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:?}");
    assert_eq!(logs(&events, "step1"), ["step1"]);
    assert_eq!(logs(&events, "step2"), ["step2"]);
    let step3 = logs(&events, "step3");
    assert_eq!(
        step3[0], "This Job will echo message 100 times",
        "{step3:?}"
    );
    assert_eq!(
        step3.len(),
        101,
        "the entrypoint got its argument: {step3:?}"
    );
    // In order: each step starts after the one before it succeeded.
    let order: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Step {
                step,
                status: StepStatus::Running,
                ..
            } => Some(step.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["step1", "step2", "step3"]);
    assert!(containers_of(app.data_dir.path()).is_empty());
    app.stop().await;
}

/// Seed 003's Workflow watches a ConfigMap: its server needs a cluster (the API double).
async fn kubeci_app(cluster: &FakeCluster, engine: EngineKind) -> TestApp {
    tokio::task::spawn_blocking(seed_images)
        .await
        .expect("images made");
    TestApp::spawn_with(|config| {
        config.container_runtime = "podman".into();
        config.kubeconfig = Some(cluster.kubeconfig.clone());
        config.tekton_namespace = cluster.namespace.clone();
        config.engine = engine;
    })
    .await
}

/// Runs seed 003's Workflow as written: step-1 → {step-2, step-3} → step-4 → step-5, and
/// step-5 lists what the others left in /kubeci.
async fn run_kubeci_seed(app: &TestApp) {
    let source = seed_yaml("003", "kind: Workflow");
    app.create_pipeline(&source).await;
    let run = app.start_run("my-workflow", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:?}");
    assert_eq!(
        logs(&events, "step-5"),
        ["step-5", "file-1", "file-2", "file-3", "file-4"]
    );
    let seq = |step: &str, status| crate::support::seq_of(&events, step, status);
    for (before, after) in [
        ("step-1", "step-2"),
        ("step-1", "step-3"),
        ("step-2", "step-4"),
        ("step-3", "step-4"),
        ("step-4", "step-5"),
    ] {
        assert!(
            seq(before, StepStatus::Succeeded) < seq(after, StepStatus::Running),
            "{before} before {after}"
        );
    }
}

#[tokio::test]
async fn seed_003s_kubeci_workflow_shares_its_files_at_kubeci_on_the_local_engine() {
    let cluster = FakeCluster::start().await;
    let app = kubeci_app(&cluster, EngineKind::Local).await;
    run_kubeci_seed(&app).await;
    assert!(cluster.objects("pipelineruns").is_empty(), "ran here");
    app.stop().await;
}

#[tokio::test]
async fn seed_003s_kubeci_workflow_mounts_its_workspace_at_kubeci_on_tekton() {
    let cluster = FakeCluster::start().await;
    let app = kubeci_app(&cluster, EngineKind::Tekton).await;
    run_kubeci_seed(&app).await;
    let runs = cluster.objects("pipelineruns");
    assert_eq!(runs.len(), 1);
    for task in runs[0]["spec"]["pipelineSpec"]["tasks"]
        .as_array()
        .expect("tasks")
    {
        let declared = &task["taskSpec"]["workspaces"];
        assert_eq!(declared[0]["mountPath"], "/workspace", "{task}");
        assert_eq!(declared[1]["mountPath"], "/kubeci", "{task}");
        assert_eq!(
            task["workspaces"][1]["workspace"], "workspace",
            "one volume, mounted again"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn command_args_and_script_follow_kubernetes_semantics_in_the_workspace() {
    let app = app().await;
    let source = format!(
        r#"
name: semantics
stages:
  - name: s
    steps:
      - name: host-writes
        script: echo from-host > "$CONVEYOR_WORKSPACE/shared.txt"
      - name: command
        image: {BUSYBOX}
        command: [sh, -c]
        args: ['echo "pwd=$(pwd) ws=$CONVEYOR_WORKSPACE greeting=$GREETING"; cat shared.txt']
        env: {{GREETING: hello}}
      - name: script
        image: {BUSYBOX}
        script: |
          echo first
          false
          echo never
      - name: exits
        needs: [command]
        image: {BUSYBOX}
        command: [sh, -c, 'exit 3']
"#
    );
    app.create_pipeline(&source).await;
    let run = app.start_run("semantics", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    assert_eq!(
        logs(&events, "command"),
        ["pwd=/workspace ws=/workspace greeting=hello", "from-host"]
    );
    assert_eq!(logs(&events, "script"), ["first"], "sh -e stops at `false`");
    let detail = run_detail(&app, run).await;
    assert_eq!(step_of(&detail, "script")["exit_code"], 1);
    assert_eq!(step_of(&detail, "exits")["exit_code"], 3);
    assert_eq!(step_of(&detail, "exits")["status"], "failed");
    assert!(containers_of(app.data_dir.path()).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_images_entrypoint_and_cmd_give_way_as_on_kubernetes_with_the_runtime_found_by_default()
{
    // The default runtime, `auto`: podman, installed here.
    let app = app_with_runtime("auto").await;
    let source = format!(
        r#"
name: entrypoints
stages:
  - name: s
    steps:
      - {{name: neither, image: '{EP_CMD}'}}
      - {{name: args, image: '{EP_CMD}', args: [x, y]}}
      - {{name: command, image: '{EP_CMD}', command: [echo, c]}}
      - {{name: both, image: '{EP_CMD}', command: [echo], args: [a, b]}}
      - {{name: stderr, image: '{BUSYBOX}', script: 'echo out; echo err >&2'}}
"#
    );
    app.create_pipeline(&source).await;
    let run = app.start_run("entrypoints", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    // Kubernetes: command replaces the entrypoint, args the cmd, neither keeps both; a
    // command alone drops the image's cmd too.
    assert_eq!(logs(&events, "neither"), ["ep cmd"]);
    assert_eq!(logs(&events, "args"), ["ep x y"]);
    assert_eq!(logs(&events, "command"), ["c"]);
    assert_eq!(logs(&events, "both"), ["a b"]);
    let streams: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Log {
                step, stream, text, ..
            } if step == "stderr" => Some((stream.as_str().to_owned(), text.clone())),
            _ => None,
        })
        .collect();
    assert!(
        streams.contains(&("stdout".into(), "out".into()))
            && streams.contains(&("stderr".into(), "err".into())),
        "{streams:?}"
    );
    assert!(containers_of(app.data_dir.path()).is_empty());
    app.stop().await;
}

/// Every process's command line on this host, as `ps` shows them.
fn all_command_lines() -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
    {
        if let Ok(line) = std::fs::read(entry.path().join("cmdline")) {
            all.push_str(&String::from_utf8_lossy(&line).replace('\0', " "));
            all.push('\n');
        }
    }
    all
}

#[tokio::test]
async fn cancelling_stops_and_removes_the_container_and_secrets_stay_off_command_lines() {
    let app = app().await;
    let value = format!("s3cret-{}", conveyor::auth::random_text(16));
    // A word only this script holds: other tests' steps may run sha256sum on this host meanwhile.
    let marker = format!("marker-{}", conveyor::auth::random_text(16));
    let response = app
        .client
        .put(app.url("/api/v1/secrets/API_KEY"))
        .json(&json!({"value": value}))
        .send()
        .await
        .expect("put secret");
    assert_eq!(response.status(), 200);
    let source = format!(
        r#"
name: long
stages:
  - name: s
    steps:
      - name: wait
        image: {BUSYBOX}
        secrets: [API_KEY]
        script: |
          # {marker}
          printf %s "$API_KEY" | sha256sum
          echo started
          sleep 300
"#
    );
    app.create_pipeline(&source).await;
    let run = app.start_run("long", "v1").await;
    let mut reader = app.events(run, None).await;
    let seen = reader
        .until(|e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "started"))
        .await;
    let digest: String = Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        logs(&seen, "wait").iter().any(|l| l.starts_with(&digest)),
        "the container got the secret: {seen:?}"
    );
    let running = containers_of(app.data_dir.path());
    assert_eq!(running.len(), 1, "{running:?}");
    let lines = all_command_lines();
    assert!(
        lines.contains(&running[0]),
        "the runtime is running the step"
    );
    assert!(!lines.contains(&value), "a secret on a command line");
    assert!(
        !lines.contains(&marker),
        "the script is read from its file, never spliced into a command line"
    );

    assert_eq!(app.post(&format!("/api/v1/runs/{run}/cancel")).await, 202);
    let events = reader.until_end().await;
    assert_eq!(outcome(&events).0, RunStatus::Cancelled);
    assert_eq!(
        step_statuses(&events, "wait").last(),
        Some(&StepStatus::Cancelled)
    );
    assert_eq!(containers_of(app.data_dir.path()), Vec::<String>::new());
    app.stop().await;
}

#[tokio::test]
async fn a_timed_out_container_step_fails_and_leaves_nothing_behind() {
    let app = app().await;
    let source = format!(
        "name: slow\nstages:\n  - name: s\n    steps:\n      - {{name: nap, image: '{BUSYBOX}', timeout: 1s, command: [sleep, '300']}}\n"
    );
    app.create_pipeline(&source).await;
    let run = app.start_run("slow", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    let detail = run_detail(&app, run).await;
    let message = step_of(&detail, "nap")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.starts_with("timed out after 1s"), "{message}");
    assert_eq!(containers_of(app.data_dir.path()), Vec::<String>::new());
    app.stop().await;
}

#[tokio::test]
async fn pull_failures_fail_the_step_with_the_runtimes_message() {
    let app = app().await;
    // Nothing listens on port 9 of this host: the pull is refused at once.
    let source = "name: pulls\nstages:\n  - name: s\n    steps:\n      - {name: unreachable, image: '127.0.0.1:9/none/such:1', command: ['true']}\n      - {name: never, needs: [], image: 'localhost/conveyor-never-made:1', pull: never, command: ['true']}\n";
    app.create_pipeline(source).await;
    let run = app.start_run("pulls", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    let detail = run_detail(&app, run).await;
    let unreachable = step_of(&detail, "unreachable")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        unreachable.starts_with("could not pull image \"127.0.0.1:9/none/such:1\": ")
            && unreachable.len() > "could not pull image \"127.0.0.1:9/none/such:1\": ".len() + 10,
        "{unreachable}"
    );
    assert_eq!(
        step_of(&detail, "never")["message"],
        "image \"localhost/conveyor-never-made:1\" is not on this host, and the step's pull policy is never"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_runtime_image_steps_are_refused_and_node_selectors_are_tekton_only() {
    let app = TestApp::spawn_with(|config| config.container_runtime = "none".into()).await;
    let source = "name: boxed\nstages:\n  - name: s\n    steps:\n      - {name: host, script: 'echo hi'}\n      - {name: boxed, image: 'alpine:3', script: 'echo hi'}\n";
    app.create_pipeline(source).await;
    let response = app
        .client
        .post(app.url("/api/v1/pipelines/boxed/runs"))
        .json(&json!({"tag": "v1"}))
        .send()
        .await
        .expect("run");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    let problem = &body["problems"][0];
    assert_eq!(problem["path"], "stages[0].steps[1]", "{body}");
    let message = problem["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "step \"boxed\" runs in image \"alpine:3\", but this server has no container runtime"
        ),
        "{message}"
    );
    let (_, runs) = app.get_json("/api/v1/pipelines/boxed/runs").await;
    assert_eq!(
        runs["runs"].as_array().map(Vec::len),
        Some(0),
        "nothing recorded: {runs}"
    );

    // `runner: host` runs such a step on the host, as it asks.
    let hosted = "name: hosted\nrunner: host\nstages:\n  - name: s\n    steps:\n      - {name: boxed, image: 'alpine:3', script: 'echo on-host'}\n";
    app.create_pipeline(hosted).await;
    let run = app.start_run("hosted", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(logs(&events, "boxed"), ["on-host"]);

    let placed = "name: placed\nstages:\n  - name: s\n    steps:\n      - {name: gpu, script: 'echo hi', node_selector: {gpu: 'true'}}\n";
    let response = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .body(placed)
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["problems"][0]["path"], "stages[0].steps[0]", "{body}");
    assert!(
        body["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("only the Tekton engine honours it")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn images_in_a_private_registry_are_pulled_with_the_steps_pull_secret() {
    use base64::Engine as _;

    tokio::task::spawn_blocking(seed_images)
        .await
        .expect("images made");
    let registry = crate::support::registry::Registry::start().await;
    registry.push(BUSYBOX, "private/busybox", "1").await;
    let image = format!("{}/private/busybox:1", registry.host);
    let app = TestApp::spawn_with(|config| {
        config.container_runtime = "podman".into();
        config.insecure_registries = vec![registry.host.clone()];
    })
    .await;
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", registry.username, registry.password));
    let config = json!({"auths": {registry.host.clone(): {"auth": auth}}}).to_string();
    let response = app
        .client
        .put(app.url("/api/v1/secrets/REGISTRY_AUTH"))
        .json(&json!({"value": config}))
        .send()
        .await
        .expect("put secret");
    assert_eq!(response.status(), 200);

    // Without the credentials the registry refuses, and the step says so.
    let anonymous = format!(
        "name: anonymous\nstages:\n  - name: s\n    steps:\n      - {{name: pull, image: '{image}', pull: always, command: [echo, pulled]}}\n"
    );
    app.create_pipeline(&anonymous).await;
    let run = app.start_run("anonymous", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    let detail = run_detail(&app, run).await;
    let message = step_of(&detail, "pull")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with(&format!("could not pull image \"{image}\": "))
            && message.contains("authentication required"),
        "{message}"
    );

    let private = format!(
        "name: private\npull_secret: REGISTRY_AUTH\nstages:\n  - name: s\n    steps:\n      - {{name: pull, image: '{image}', command: [echo, pulled]}}\n"
    );
    app.create_pipeline(&private).await;
    let run = app.start_run("private", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:?}");
    assert_eq!(
        logs(&events, "pull"),
        [format!("pulled image {image}"), "pulled".to_owned()]
    );
    app.stop().await;
    let _ = crate::support::images::podman()
        .args(["rmi", "--force", &image])
        .output();
}

#[tokio::test]
async fn a_restarted_server_removes_the_containers_its_killed_process_left() {
    tokio::task::spawn_blocking(seed_images)
        .await
        .expect("images made");
    let data = tempfile::tempdir().expect("temp dir");
    // What a killed server leaves: a step's container, still running, with its labels.
    let left = crate::support::images::podman()
        .args(["run", "--detach", "--network", "host", "--label"])
        .arg(format!("conveyor.data-dir={}", data.path().display()))
        .args([BUSYBOX, "sleep", "300"])
        .output()
        .expect("podman run");
    assert!(
        left.status.success(),
        "{}",
        String::from_utf8_lossy(&left.stderr)
    );
    assert_eq!(containers_of(data.path()).len(), 1);
    let app = TestApp::spawn_in(data, |config| config.container_runtime = "podman".into()).await;
    assert_eq!(containers_of(app.data_dir.path()), Vec::<String>::new());
    app.stop().await;
}

#[tokio::test]
async fn readiness_says_when_the_container_runtime_stops_answering() {
    // The server's podman is found at a path of our own, which then goes away.
    let dir = tempfile::tempdir().expect("temp dir");
    let podman = dir.path().join("podman");
    std::os::unix::fs::symlink(which::which("podman").expect("podman"), &podman).expect("link");
    let named = podman.display().to_string();
    let app = TestApp::spawn_with(move |config| config.container_runtime = named).await;
    let engine_check = |body: &Value| {
        body["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "engine local")
            .cloned()
            .expect("the local engine's check")
    };
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(engine_check(&body)["ok"], true);

    std::fs::remove_file(&podman).expect("unlink");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let message = engine_check(&body)["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.starts_with("the container runtime (podman) does not answer: could not run"),
        "{message}"
    );
    app.stop().await;

    // What is not a runtime stops the server from starting, saying what would be.
    for (choice, why) in [
        ("bogus", "not a runtime"),
        ("/nowhere/podman", "/nowhere/podman not found"),
        ("/usr/bin/auto", "not a runtime"),
    ] {
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = conveyor::config::ServeConfig::for_data_dir(data.path().to_path_buf());
        config.container_runtime = choice.into();
        let err = conveyor::Server::bind(&config)
            .await
            .err()
            .expect("refused");
        assert!(
            err.to_string()
                .contains(&format!("--container-runtime {choice}: {why}")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn the_docker_runtime_runs_steps_with_dockers_own_arguments() {
    // No Docker daemon can run here. Debian's podman-docker (/usr/bin/docker, installed by
    // scripts/setup.sh --test) takes Docker's command-line syntax, which is what the docker
    // runtime sends (a plain --entrypoint, `image inspect`, `rm --force` without podman's
    // --time), and runs podman underneath.
    let app = app_with_runtime("/usr/bin/docker").await;
    let source = format!(
        r#"
name: docker
stages:
  - name: s
    steps:
      - {{name: neither, image: '{EP_CMD}'}}
      - {{name: command, image: '{EP_CMD}', command: [echo, c]}}
      - {{name: script, image: '{BUSYBOX}', script: 'echo "in $(pwd)"; false; echo never'}}
"#
    );
    app.create_pipeline(&source).await;
    let run = app.start_run("docker", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    assert_eq!(logs(&events, "neither"), ["ep cmd"]);
    assert_eq!(logs(&events, "command"), ["c"]);
    assert_eq!(logs(&events, "script"), ["in /workspace"]);
    let detail = run_detail(&app, run).await;
    assert_eq!(step_of(&detail, "script")["exit_code"], 1);

    // Cancelled: the container is stopped and removed.
    app.create_pipeline(&format!(
        "name: docker-long\nstages: [{{name: s, steps: [{{name: long, image: '{BUSYBOX}', script: 'echo started; sleep 300'}}]}}]\n"
    ))
    .await;
    let run = app.start_run("docker-long", "v1").await;
    let mut reader = app.events(run, None).await;
    reader
        .until(|e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "started"))
        .await;
    assert_eq!(
        containers_of(app.data_dir.path()).len(),
        1,
        "the long step's"
    );
    assert_eq!(app.post(&format!("/api/v1/runs/{run}/cancel")).await, 202);
    assert_eq!(outcome(&reader.until_end().await).0, RunStatus::Cancelled);
    assert_eq!(containers_of(app.data_dir.path()), Vec::<String>::new());
    app.stop().await;
}
