//! Seed 000 workflows through the HTTP API, with the Kubernetes API double as the cluster:
//! credentials sealed at rest and never shown, their secrets, service account and role
//! binding on the cluster (rotated on update, removed on delete), a Deployment that exists
//! already refused, and runs going to Tekton as the workflow's own account.

use crate::support::fake_kube::FakeCluster;
use crate::support::registry::Registry;
use crate::support::{logs, outcome, ClosedPort, TestApp};
use base64::Engine as _;
use conveyor_core::definition::EngineKind;
use conveyor_core::run::{EventBody, RunStatus, StepStatus};
use serde_json::{json, Value};

const WEB: &str = "
name: web
git: {url: 'https://git.example.com/org/web.git', username: bot, password: git-s3cret}
image: {name: registry.example.com/org/web, username: pusher, password: reg-s3cret}
autoDeploy: true
deploy:
  replicas: 2
  containers:
    - {name: web, image: 'registry.example.com/org/web:old', ports: [{port: 8080}]}
    - {name: sidecar, image: 'envoy:1.30'}
  service: {ports: [{port: 80, targetPort: 8080}]}
";

const SECRETS: [&str; 2] = ["reg-s3cret", "git-s3cret"];

async fn app_with(cluster: &FakeCluster) -> TestApp {
    TestApp::spawn_with(on_tekton(cluster)).await
}

/// A server whose engine is Tekton on the API double.
fn on_tekton(cluster: &FakeCluster) -> impl FnOnce(&mut conveyor::config::ServeConfig) + '_ {
    |config| {
        config.engine = EngineKind::Tekton;
        config.kubeconfig = Some(cluster.kubeconfig.clone());
        config.tekton_namespace = cluster.namespace.clone();
    }
}

/// Starts a run of workflow `web` with `tag`; its id.
async fn start_web(app: &TestApp, tag: &str) -> i64 {
    let (status, body) = send(
        app.client
            .post(app.url("/api/v1/workflows/web/runs"))
            .json(&json!({"tag": tag})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    serde_json::from_str::<Value>(&body).expect("json")["id"]
        .as_i64()
        .expect("id")
}

async fn send(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

fn secret_value(secret: &Value, key: &str) -> String {
    let encoded = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {secret}"));
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("utf-8")
}

/// Every byte the server keeps on disk: the database, its WAL, the key file aside.
fn stored_bytes(app: &TestApp) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(app.data_dir.path())
        .expect("data dir")
        .flatten()
    {
        let path = entry.path();
        if path.is_file()
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("conveyor.db"))
        {
            bytes.extend(std::fs::read(&path).expect("read"));
        }
    }
    bytes
}

#[tokio::test]
async fn a_workflow_keeps_its_credentials_sealed_and_puts_its_objects_on_the_cluster() {
    let cluster = FakeCluster::start().await;
    let app = app_with(&cluster).await;
    let (status, body) = send(app.client.post(app.url("/api/v1/workflows")).body(WEB)).await;
    assert_eq!(status, 201, "{body}");
    for secret in SECRETS {
        assert!(!body.contains(secret), "the API never shows a password");
    }
    let created: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(created["workflow"]["image"]["password"], "********");
    assert_eq!(created["workflow"]["git"]["password"], "********");
    let stages: Vec<&str> = created["plan"]["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(stages, ["build", "deploy"]);

    let registry = cluster
        .object("secrets", "ci", "web-registry")
        .expect("registry secret");
    assert_eq!(registry["type"], "kubernetes.io/dockerconfigjson");
    assert_eq!(
        registry["metadata"]["labels"]["conveyor.dev/workflow"],
        "web"
    );
    let config: Value =
        serde_json::from_str(&secret_value(&registry, ".dockerconfigjson")).expect("docker config");
    assert_eq!(
        config["auths"]["registry.example.com"]["password"],
        "reg-s3cret"
    );
    let git = cluster
        .object("secrets", "ci", "web-git")
        .expect("git secret");
    assert_eq!(git["type"], "kubernetes.io/basic-auth");
    assert_eq!(secret_value(&git, "password"), "git-s3cret");
    let account = cluster
        .object("serviceaccounts", "ci", "web")
        .expect("service account");
    assert_eq!(
        account["imagePullSecrets"],
        json!([{"name": "web-registry"}])
    );
    let binding = cluster
        .object("rolebindings", "ci", "web-deployer")
        .expect("role binding");
    assert_eq!(binding["roleRef"]["name"], "conveyor-deployer");

    for path in [
        "/api/v1/workflows/web",
        "/api/v1/workflows",
        "/api/v1/pipelines/web",
        "/api/v1/pipelines/web/versions/1",
    ] {
        let (status, body) = send(app.client.get(app.url(path))).await;
        assert_eq!(status, 200, "{path}: {body}");
        for secret in SECRETS {
            assert!(!body.contains(secret), "{path} shows a password");
        }
    }
    let stored = stored_bytes(&app);
    assert!(!stored.is_empty());
    for secret in SECRETS {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} is in the database in plaintext"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn update_keeps_masked_passwords_and_rotates_changed_ones() {
    let cluster = FakeCluster::start().await;
    let app = app_with(&cluster).await;
    assert_eq!(
        send(app.client.post(app.url("/api/v1/workflows")).body(WEB))
            .await
            .0,
        201
    );

    let kept = WEB
        .replace("reg-s3cret", "'********'")
        .replace("git-s3cret", "n3w-git");
    let (status, body) = send(app.client.put(app.url("/api/v1/workflows/web")).body(kept)).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("n3w-git"));
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["version"],
        2
    );
    let registry = cluster
        .object("secrets", "ci", "web-registry")
        .expect("registry secret");
    assert!(
        secret_value(&registry, ".dockerconfigjson").contains("reg-s3cret"),
        "\"********\" kept the stored password"
    );
    assert_eq!(
        secret_value(
            &cluster.object("secrets", "ci", "web-git").expect("git"),
            "password"
        ),
        "n3w-git",
        "rotated"
    );

    let rotated = WEB.replace("reg-s3cret", "r0tated");
    assert_eq!(
        send(
            app.client
                .put(app.url("/api/v1/workflows/web"))
                .body(rotated)
        )
        .await
        .0,
        200
    );
    let registry = cluster
        .object("secrets", "ci", "web-registry")
        .expect("registry secret");
    assert!(secret_value(&registry, ".dockerconfigjson").contains("r0tated"));

    let renamed = WEB.replace("name: web", "name: other");
    let (status, body) = send(
        app.client
            .put(app.url("/api/v1/workflows/web"))
            .body(renamed),
    )
    .await;
    assert_eq!(
        (status, body.contains("a workflow's name cannot change")),
        (422, true),
        "{body}"
    );
    let (status, body) = send(
        app.client
            .put(app.url("/api/v1/pipelines/web"))
            .body("name: web\nstages: [{name: s, steps: [{name: a, script: x}]}]"),
    )
    .await;
    assert_eq!(
        status, 409,
        "a workflow is not edited as a pipeline: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn create_refuses_a_name_whose_deployment_exists_and_saves_nothing() {
    let cluster = FakeCluster::start().await;
    cluster.insert(
        "deployments",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ci"}, "spec": {}}),
    );
    let app = app_with(&cluster).await;
    let (status, body) = send(app.client.post(app.url("/api/v1/workflows")).body(WEB)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body.contains("a Deployment named \\\"web\\\" already exists in namespace \\\"ci\\\""),
        "{body}"
    );
    assert_eq!(
        send(app.client.get(app.url("/api/v1/workflows/web")))
            .await
            .0,
        404
    );
    assert!(
        cluster.object("secrets", "ci", "web-registry").is_none(),
        "no objects for a refused workflow"
    );
    app.stop().await;
}

#[tokio::test]
async fn delete_removes_the_workflow_its_runs_and_its_cluster_objects() {
    let cluster = FakeCluster::start().await;
    let app = app_with(&cluster).await;
    assert_eq!(
        send(app.client.post(app.url("/api/v1/workflows")).body(WEB))
            .await
            .0,
        201
    );
    assert_eq!(
        send(app.client.delete(app.url("/api/v1/pipelines/web")))
            .await
            .0,
        409,
        "deleted only as a workflow"
    );
    assert_eq!(
        send(app.client.delete(app.url("/api/v1/workflows/web")))
            .await
            .0,
        204
    );
    assert_eq!(
        send(app.client.get(app.url("/api/v1/workflows/web")))
            .await
            .0,
        404
    );
    assert_eq!(
        send(app.client.get(app.url("/api/v1/pipelines/web")))
            .await
            .0,
        404
    );
    for (resource, name) in [
        ("secrets", "web-registry"),
        ("secrets", "web-git"),
        ("serviceaccounts", "web"),
        ("rolebindings", "web-deployer"),
    ] {
        assert!(
            cluster.object(resource, "ci", name).is_none(),
            "{resource}/{name} left behind"
        );
    }
    app.stop().await;
    // Everything the workflow's life took is granted by the deployed role, and nothing more
    // is needed.
    let used = cluster.assert_granted_by_deployed_role();
    assert!(
        used.contains(&(
            "patch".into(),
            "rbac.authorization.k8s.io".into(),
            "rolebindings".into()
        )),
        "{used:?}"
    );
    assert!(
        used.contains(&("get".into(), "apps".into(), "deployments".into())),
        "{used:?}"
    );
}

#[tokio::test]
async fn a_workflow_run_goes_to_tekton_as_its_own_account_with_the_tagged_deployment() {
    let cluster = FakeCluster::start().await;
    cluster.hold("clone");
    let app = app_with(&cluster).await;
    assert_eq!(
        send(app.client.post(app.url("/api/v1/workflows")).body(WEB))
            .await
            .0,
        201
    );
    let run = start_web(&app, "v2").await;

    let runs = cluster.until("pipelineruns", |runs| !runs.is_empty()).await;
    let spec = &runs[0]["spec"];
    assert_eq!(
        spec["taskRunTemplate"]["serviceAccountName"], "web",
        "pods run as the workflow's account"
    );
    let tasks: Vec<&str> = spec["pipelineSpec"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(tasks, ["clone", "build", "deploy"]);
    // The build step reads the registry's config.json from the secret, mounted read-only.
    assert!(spec["workspaces"].as_array().expect("bindings").contains(&json!({
        "name": "dockerconfig",
        "secret": {"secretName": "web-registry", "items": [{"key": ".dockerconfigjson", "path": "config.json"}]},
    })));
    let build = &spec["pipelineSpec"]["tasks"][1];
    assert!(build["taskSpec"]["workspaces"]
        .as_array()
        .expect("ws")
        .contains(&json!({"name": "dockerconfig", "readOnly": true})));
    assert!(build["taskSpec"]["steps"][0]["env"]
        .as_array()
        .expect("env")
        .contains(&json!({"name": "DOCKER_CONFIG", "value": "$(workspaces.dockerconfig.path)"})));
    let clone = &spec["pipelineSpec"]["tasks"][0];
    assert_eq!(
        clone["taskSpec"]["workspaces"].as_array().map(Vec::len),
        Some(1),
        "only the build step sees the credentials"
    );
    let manifest = spec["params"]
        .as_array()
        .expect("params")
        .iter()
        .find(|p| p["name"] == "deploy--MANIFEST")
        .and_then(|p| p["value"].as_str())
        .expect("the deploy step's manifest");
    // The deploy step applies it, then waits for the rollout in the Deployment's namespace
    // for the workflow's timeout (kubectl's own wait: ProgressDeadlineExceeded fails it).
    let namespace = spec["params"]
        .as_array()
        .expect("params")
        .iter()
        .find(|p| p["name"] == "deploy--NAMESPACE")
        .and_then(|p| p["value"].as_str());
    assert_eq!(namespace, Some(cluster.namespace.as_str()));
    let deploy_step = &spec["pipelineSpec"]["tasks"][2]["taskSpec"]["steps"][0];
    assert!(
        deploy_step["script"].as_str().is_some_and(|s| s.contains(
            "kubectl rollout status \"deployment/$DEPLOYMENT\" --namespace \"$NAMESPACE\" --timeout \"$ROLLOUT_TIMEOUT\""
        )),
        "{deploy_step}"
    );
    let run_params = spec["params"].as_array().expect("params");
    assert!(
        run_params.contains(&json!({"name": "deploy--ROLLOUT_TIMEOUT", "value": "300s"}))
            && run_params.contains(&json!({"name": "deploy--DEPLOYMENT", "value": "web"})),
        "{run_params:?}"
    );
    let manifest: Value = serde_json::from_str(manifest).expect("manifest JSON");
    let containers = &manifest["items"][0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers[0]["image"], "registry.example.com/org/web:v2",
        "the workflow's image gets the tag"
    );
    assert_eq!(containers[1]["image"], "envoy:1.30", "other images stay");
    assert_eq!(manifest["items"][0]["spec"]["replicas"], 2);
    assert_eq!(manifest["items"][1]["kind"], "Service");
    for secret in SECRETS {
        assert!(
            !runs[0].to_string().contains(secret),
            "no password in the PipelineRun"
        );
    }

    let (status, body) = send(
        app.client
            .post(app.url("/api/v1/workflows/web/runs"))
            .json(&json!({"tag": "v3"})),
    )
    .await;
    assert_eq!(status, 409, "one run in flight per workflow: {body}");
    let (_, detail) = app.get_json("/api/v1/workflows/web").await;
    assert_eq!(
        detail["latest_run"]["id"], run,
        "the workflow's status is its latest run's"
    );
    assert_eq!(
        detail["steps"].as_array().map(Vec::len),
        Some(3),
        "with its sub-tasks"
    );
    assert_eq!(app.post(&format!("/api/v1/runs/{run}/cancel")).await, 202);
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Cancelled);
    assert!(events.iter().all(|e| !matches!(&e.event.body, EventBody::Log { text, .. } if SECRETS.iter().any(|s| text.contains(s)))));
    app.stop().await;
}

#[tokio::test]
async fn a_workflow_run_that_a_restarted_server_resumes_is_still_recorded_as_a_release() {
    let cluster = FakeCluster::start().await;
    // This host cannot run git's, kaniko's and kubectl's images: their tasks stand in.
    for task in ["clone", "build", "deploy"] {
        cluster.stand_in(task, &format!("echo {task} done"));
    }
    cluster.hold("deploy");
    // A registry address nothing listens on: asking it for digests fails at once.
    let closed_port = ClosedPort::new();
    let closed = closed_port.addr;
    let web = WEB
        .replace(
            "registry.example.com/org/web,",
            &format!("'{closed}/org/web',"),
        )
        .replace(
            "'registry.example.com/org/web:old'",
            &format!("'{closed}/org/web:old'"),
        );
    let app = app_with(&cluster).await;
    let (status, body) = send(app.client.post(app.url("/api/v1/workflows")).body(web)).await;
    assert_eq!(status, 201, "{body}");
    let run = start_web(&app, "v2").await;
    // Built; the server stops while the deploy waits its turn on the cluster.
    let mut events = app.events(run, None).await;
    events
        .until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::Succeeded, .. } if step == "build"))
        .await;
    drop(events);
    let data = app.stop_keeping_data().await;

    cluster.release("deploy");
    let app = TestApp::spawn_in(data, on_tekton(&cluster)).await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    let (status, page) = app.get_json("/api/v1/workflows/web/releases").await;
    assert_eq!(status, 200, "{page}");
    let releases = page["releases"].as_array().expect("releases");
    assert_eq!(releases.len(), 1, "{page}");
    assert_eq!(releases[0]["run_id"], run);
    assert_eq!(releases[0]["tag"], "v2");
    assert_eq!(releases[0]["outcome"], "rolled_out");
    assert_eq!(releases[0]["image"], format!("{closed}/org/web:v2"));
    // The build was asked about after the restart too: its registry's answer is on record.
    assert!(
        logs(&events, "build")
            .iter()
            .any(|line| line.starts_with("could not read the pushed image's digest")),
        "{:?}",
        logs(&events, "build")
    );

    // A deploy that said why it is stuck before the restart, and fails after it without a
    // word more: its release fails for the reason it gave.
    let gate = tempfile::tempdir().expect("temp dir");
    let gate = gate.path().join("open");
    cluster.stand_in(
        "deploy",
        &format!(
            "echo 'Deployment ci/web: 1 of 2 updated replicas available'; \
             i=0; until [ -f '{}' ] || [ $i -ge 6000 ]; do sleep 0.02; i=$((i+1)); done; exit 1",
            gate.display()
        ),
    );
    let stuck = start_web(&app, "v3").await;
    let mut events = app.events(stuck, None).await;
    events
        .until(|e| matches!(&e.event.body, EventBody::Log { step, text, .. } if step == "deploy" && text.contains("1 of 2")))
        .await;
    drop(events);
    let data = app.stop_keeping_data().await;
    std::fs::write(&gate, "go").expect("open the gate");
    let app = TestApp::spawn_in(data, on_tekton(&cluster)).await;
    assert_eq!(outcome(&app.all_events(stuck).await).0, RunStatus::Failed);
    let (_, page) = app.get_json("/api/v1/workflows/web/releases").await;
    let newest = &page["releases"][0];
    assert_eq!(newest["run_id"], stuck, "{page}");
    assert_eq!(newest["outcome"], "failed");
    assert_eq!(
        newest["reason"],
        "Deployment ci/web: 1 of 2 updated replicas available"
    );
    app.stop().await;
}

#[tokio::test]
async fn without_a_cluster_a_workflow_is_kept_and_its_run_says_what_is_missing() {
    // A builder is there (detection only: the run is refused before anything runs).
    let tools = tempfile::tempdir().expect("temp dir");
    let podman = tools.path().join("podman");
    std::os::unix::fs::symlink("/bin/true", &podman).expect("symlink");
    let app = TestApp::spawn_with(|config| config.builder = Some(podman.clone())).await;
    let (status, body) = send(app.client.post(app.url("/api/v1/workflows")).body(WEB)).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = send(
        app.client
            .post(app.url("/api/v1/workflows/web/runs"))
            .json(&json!({"tag": "v2"})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        body.contains(
            "deploy: autoDeploy needs a cluster to deploy to: start the server with --kubeconfig"
        ),
        "{body}"
    );
    let (status, body) = send(app.client.post(app.url("/api/v1/workflows")).body(WEB)).await;
    assert_eq!(status, 409, "the name is taken: {body}");
    let (status, body) = send(
        app.client.post(app.url("/api/v1/workflows")).body(
            WEB.replace("name: web", "name: web2")
                .replace("reg-s3cret", "'********'"),
        ),
    )
    .await;
    assert_eq!(status, 422, "a new workflow needs a real password: {body}");
    assert!(body.contains("image.password"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn conveyor_deploy_manifest_puts_the_tagged_deployment_on_the_cluster() {
    let cluster = FakeCluster::start().await;
    let workflow = conveyor_core::workflow::parse_workflow(WEB).expect("workflow");
    let manifest =
        conveyor::cluster::objects::deploy_manifest(&workflow, &workflow.image_ref("v7"), "ci")
            .expect("a manifest");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .arg("deploy-manifest")
        .env_clear()
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("MANIFEST", manifest.to_string())
        .output()
        .await
        .expect("conveyor deploy-manifest runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "applied Deployment ci/web\napplied Service ci/web\nDeployment ci/web rolled out\n",
        "applied, then waited for the rollout the API double reports"
    );
    let deployment = cluster
        .object("deployments", "ci", "web")
        .expect("the Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/org/web:v7"
    );
    assert_eq!(
        cluster
            .object("services", "ci", "web")
            .expect("the Service")["spec"]["ports"][0]["targetPort"],
        8080
    );

    // Applying again (the next tag) updates in place.
    let next =
        conveyor::cluster::objects::deploy_manifest(&workflow, &workflow.image_ref("v8"), "ci")
            .expect("a manifest");
    let again = tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args(["deploy-manifest"])
        .env_clear()
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("MANIFEST", next.to_string())
        .output()
        .await
        .expect("runs");
    assert!(again.status.success());
    let deployment = cluster
        .object("deployments", "ci", "web")
        .expect("the Deployment");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example.com/org/web:v8"
    );

    // A rollout that cannot complete fails the command with the reason; one that does not
    // progress fails at the timeout.
    for (how, timeout, expected) in [
        (
            crate::support::fake_kube::Rollouts::DeadlineExceeded,
            "5m",
            "Deployment ci/web did not roll out: ProgressDeadlineExceeded",
        ),
        (
            crate::support::fake_kube::Rollouts::Stuck,
            "1s",
            "Deployment ci/web did not roll out within 1s: 0 of 2 replicas updated",
        ),
    ] {
        cluster.rollouts(how);
        let image = workflow.image_ref(&format!("v-{timeout}"));
        let manifest = conveyor::cluster::objects::deploy_manifest(&workflow, &image, "ci")
            .expect("a manifest");
        let failed = tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
            .args(["deploy-manifest", "--rollout-timeout", timeout])
            .env_clear()
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("MANIFEST", manifest.to_string())
            .output()
            .await
            .expect("runs");
        let stderr = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.starts_with(&format!("conveyor deploy-manifest: {expected}")),
            "{stderr}"
        );
    }

    // No cluster: a clear error, exit 1.
    let lost = tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .arg("deploy-manifest")
        .env_clear()
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("HOME", "/nonexistent")
        .env("MANIFEST", next.to_string())
        .output()
        .await
        .expect("runs");
    assert_eq!(lost.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&lost.stderr)
            .starts_with("conveyor deploy-manifest: no cluster to deploy to"),
        "{}",
        String::from_utf8_lossy(&lost.stderr)
    );
}

#[tokio::test]
async fn a_local_workflow_run_names_the_builders_it_can_use_when_it_has_none() {
    let app = TestApp::spawn_with(|config| config.builder = Some("nosuch-builder".into())).await;
    assert_eq!(
        send(app.client.post(app.url("/api/v1/workflows")).body(WEB))
            .await
            .0,
        201
    );
    let (status, body) = send(
        app.client
            .post(app.url("/api/v1/workflows/web/runs"))
            .json(&json!({"tag": "v2"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("build: --builder nosuch-builder: not found"),
        "{body}"
    );
    let (_, runs) = app.get_json("/api/v1/workflows/web/runs").await;
    assert_eq!(
        runs["runs"],
        json!([]),
        "nothing recorded for a refused run"
    );
    app.stop().await;

    let app = TestApp::spawn_with(|config| config.builder = Some("/bin/true".into())).await;
    assert_eq!(
        send(app.client.post(app.url("/api/v1/workflows")).body(WEB))
            .await
            .0,
        201
    );
    let (status, body) = send(
        app.client
            .post(app.url("/api/v1/workflows/web/runs"))
            .json(&json!({"tag": "v2"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("is not one of podman, buildah, docker or executor (kaniko)"),
        "{body}"
    );
    app.stop().await;
}

/// A git repository with a Dockerfile, served over git's "dumb" HTTP protocol on
/// 127.0.0.1:0 (plain files: what `git update-server-info` prepares).
async fn serve_repository() -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // Built for real: FROM one of the images the tests make on this host. Its RUN reaches
    // this server on the host's 127.0.0.1, as only the host's network lets it.
    let dockerfile = format!(
        "FROM {}\nRUN wget -q -O /built.txt http://{addr}/web.git/HEAD\n",
        crate::support::images::BUSYBOX
    );
    std::fs::write(work.join("Dockerfile"), dockerfile).expect("Dockerfile");
    let git = |args: &[&str], cwd: &std::path::Path| {
        let status = std::process::Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "--quiet", "--initial-branch=main"], &work);
    git(&["add", "Dockerfile"], &work);
    git(&["commit", "--quiet", "-m", "the app"], &work);
    git(
        &["clone", "--quiet", "--bare", "work", "web.git"],
        dir.path(),
    );
    git(&["update-server-info"], &dir.path().join("web.git"));
    let url = format!("http://{addr}/web.git");
    let files =
        axum::Router::new().fallback_service(tower_http::services::ServeDir::new(dir.path()));
    tokio::spawn(async move { axum::serve(listener, files).await.expect("serves") });
    (url, dir)
}

#[tokio::test]
async fn a_local_workflow_run_clones_builds_and_pushes_for_real_and_records_the_digest() {
    let cluster = FakeCluster::start().await;
    tokio::task::spawn_blocking(crate::support::images::seed_images)
        .await
        .expect("images made");
    let registry = Registry::start().await;
    let (repository, _served) = serve_repository().await;
    let app = TestApp::local_deploying_to(&cluster).await;
    let image = format!("{}/org/web", registry.host);
    let document = WEB
        .replace(
            "{url: 'https://git.example.com/org/web.git', username: bot, password: git-s3cret}",
            &format!("{{url: '{repository}'}}"),
        )
        .replace(
            "{name: registry.example.com/org/web, username: pusher, password: reg-s3cret}",
            &format!(
                "{{name: '{image}', username: {}, password: '{}', insecure: true}}",
                registry.username, registry.password
            ),
        )
        .replace(
            "'registry.example.com/org/web:old'",
            &format!("'{image}:old'"),
        );
    let (status, body) = send(app.client.post(app.url("/api/v1/workflows")).body(document)).await;
    assert_eq!(status, 201, "{body}");
    // Started the way the pipeline page's Run button does: still run as the workflow it is.
    let (status, body) = send(
        app.client
            .post(app.url("/api/v1/pipelines/web/runs"))
            .json(&json!({"tag": "v2"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let run = serde_json::from_str::<Value>(&body).expect("json")["id"]
        .as_i64()
        .expect("id");
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");

    let clone = crate::support::logs(&events, "clone");
    assert!(
        clone.len() == 1 && clone[0].starts_with("cloned ") && clone[0].ends_with(" the app"),
        "{clone:?}"
    );
    // The registry holds what the build pushed, under the run's tag, and the run recorded
    // exactly that digest.
    let digest = registry
        .digest("org/web", "v2")
        .await
        .expect("the image is in the registry");
    assert!(digest.starts_with("sha256:"), "{digest}");
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["engine"], "local");
    assert_eq!(detail["image"], format!("{image}@{digest}"));
    let build = crate::support::logs(&events, "build");
    assert_eq!(
        build.last(),
        Some(&format!("pushed {image}@{digest}")),
        "{build:?}"
    );
    assert!(
        !build.iter().any(|line| line.contains(&registry.password)),
        "no password in the log"
    );

    assert_eq!(
        crate::support::logs(&events, "deploy"),
        [
            "applied Deployment ci/web",
            "applied Service ci/web",
            "Deployment ci/web rolled out"
        ]
    );
    let deployment = cluster
        .object("deployments", "ci", "web")
        .expect("deployed");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{image}:v2")
    );
    assert_eq!(deployment["spec"]["replicas"], 2);

    let leftovers: Vec<_> = walk(app.data_dir.path())
        .into_iter()
        .filter(|p| p.ends_with("config.json"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the registry credentials are removed with the run: {leftovers:?}"
    );
    let (status, body) = send(app.client.delete(app.url("/api/v1/workflows/web/runs"))).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "{\"deleted\":1}"),
        "empty runs"
    );
    app.stop().await;
    // The build's image stays in this host's store otherwise.
    let _ = tokio::process::Command::new("podman")
        .args(["rmi", "--force", &format!("{image}:v2")])
        .output()
        .await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn no_password_reaches_the_server_log() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

    let cluster = FakeCluster::start().await;
    let data = tempfile::tempdir().expect("temp dir");
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--engine",
            "tekton",
            "--tekton-namespace",
            "ci",
        ])
        .arg("--data-dir")
        .arg(data.path())
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let mut stdout = BufReader::new(server.stdout.take().expect("stdout"));
    // Its output is read as it comes: a full pipe would stop the server mid-request.
    let mut stderr = server.stderr.take().expect("stderr");
    let stderr_read = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let mut log = String::new();
    let base = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).await.expect("read") > 0,
            "the server exited: {log}"
        );
        log.push_str(&line);
        if let Some(url) = line.trim().strip_prefix("conveyor listening on ") {
            break url.to_owned();
        }
    };
    // The log goes to standard output: read on as it comes, like standard error.
    let stdout_read = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest).await;
        rest
    });
    // A token made on the server's shell, as automation bootstraps itself.
    let token = tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args([
            "token",
            "create",
            "--user",
            "admin",
            "--scope",
            "admin",
            "--data-dir",
        ])
        .arg(data.path())
        .output()
        .await
        .expect("conveyor token create");
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let client = crate::support::client_with(Some(String::from_utf8_lossy(&token.stdout).trim()));
    let url = |path: &str| format!("{base}{path}");
    assert_eq!(
        send(client.post(url("/api/v1/workflows")).body(WEB))
            .await
            .0,
        201
    );
    assert_eq!(
        send(
            client
                .put(url("/api/v1/workflows/web"))
                .body(WEB.replace("git-s3cret", "n3w-git"))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        send(
            client
                .post(url("/api/v1/workflows"))
                .body(WEB.replace("name: web", "name: Bad_Name"))
        )
        .await
        .0,
        422
    );
    let (status, body) = send(
        client
            .post(url("/api/v1/workflows/web/runs"))
            .json(&json!({"tag": "v1"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    cluster.until("pipelineruns", |runs| !runs.is_empty()).await;

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id().expect("pid") as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    assert!(server.wait().await.expect("exits").success());
    log.push_str(&stdout_read.await.expect("stdout read"));
    log.push_str(&stderr_read.await.expect("stderr read"));
    assert!(
        log.contains("DEBUG") || log.contains("debug"),
        "debug logging was on: {log}"
    );
    for secret in SECRETS.iter().chain(&["n3w-git"]) {
        assert!(!log.contains(secret), "{secret} is in the server's log");
    }
}

/// The pages delete a pipeline and a workflow through one call: a workflow (it carries
/// credentials) only for an admin, as only an admin saves one.
#[tokio::test]
async fn deleting_a_workflow_from_the_pages_needs_an_admin() {
    use conveyor_core::access::{Principal, Role};
    let app = TestApp::spawn().await;
    let (status, body) = send(app.client.post(app.url("/api/v1/workflows")).body(WEB)).await;
    assert_eq!(status, 201, "{body}");
    app.create_pipeline("name: plain\nstages: [{name: s, steps: [{name: a, script: 'true'}]}]")
        .await;
    let developer = Principal {
        user_id: 0,
        name: "dev".into(),
        role: Role::Developer,
        scope: None,
    };
    let refused = app
        .service
        .delete_pipeline_or_workflow("web", &developer)
        .await
        .expect_err("a developer may not");
    assert_eq!(
        refused.to_string(),
        "\"web\" is a workflow: deleting it needs the admin role"
    );
    assert_eq!(
        app.get_json("/api/v1/workflows/web").await.0,
        200,
        "still there"
    );
    app.service
        .delete_pipeline_or_workflow("plain", &developer)
        .await
        .expect("a developer deletes a pipeline");
    let admin = Principal {
        role: Role::Admin,
        name: "boss".into(),
        ..developer
    };
    app.service
        .delete_pipeline_or_workflow("web", &admin)
        .await
        .expect("an admin deletes the workflow");
    assert_eq!(app.get_json("/api/v1/workflows/web").await.0, 404);
    assert_eq!(app.get_json("/api/v1/pipelines/plain").await.0, 404);
    app.stop().await;
}
