//! Pipeline secrets: set by admins (API, CLI), listed by name only, checked when a
//! definition names them, given to steps on both engines, and masked everywhere a run's
//! output goes. The leak test runs the real binary and looks for the values in every byte
//! it left behind.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};

use conveyor_core::access::{Role, Scope};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::support::fake_kube::FakeCluster;
use crate::support::{client_with, logs, outcome, TestApp};

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A value no test text contains by chance.
fn fresh_value(label: &str) -> String {
    format!(
        "{label}-{:x}-{}",
        std::process::id(),
        conveyor::auth::random_text(12)
    )
}

async fn put_secret(client: &reqwest::Client, app_url: String, value: &str) -> (u16, Value) {
    let response = client
        .put(app_url)
        .json(&json!({"value": value}))
        .send()
        .await
        .expect("put");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn admins_set_secrets_everybody_sees_only_names_and_definitions_must_name_real_ones() {
    let app = TestApp::spawn().await;
    let value = fresh_value("token");
    let developer = app.client_as("dev", Role::Developer, Scope::Run).await;
    let (status, _) = put_secret(&developer, app.url("/api/v1/secrets/DEPLOY_TOKEN"), &value).await;
    assert_eq!(status, 403, "a developer sets no secret");
    let (status, body) =
        put_secret(&app.client, app.url("/api/v1/secrets/DEPLOY_TOKEN"), &value).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "DEPLOY_TOKEN");
    assert_eq!(body["updated_by"], "admin");
    assert!(!body.to_string().contains(&value));

    let bad = [
        (
            "/api/v1/secrets/lower",
            "a long enough value".to_owned(),
            422,
            "not a secret name",
        ),
        (
            "/api/v1/secrets/SHORT",
            "abc".to_owned(),
            422,
            "at least 4 characters",
        ),
        (
            "/api/v1/secrets/HUGE",
            "x".repeat(64 * 1024 + 1),
            413,
            "at most 64 KiB",
        ),
        (
            "/api/v1/pipelines/nope/secrets/X_TOKEN",
            "a long enough value".to_owned(),
            404,
            "no pipeline",
        ),
    ];
    for (path, value, wanted, message) in bad {
        let (status, body) = put_secret(&app.client, app.url(path), &value).await;
        assert_eq!(status, wanted, "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(message),
            "{path}: {body}"
        );
    }

    // A definition naming a secret that does not exist is refused at its place.
    let missing = "name: web\nstages: [{name: s, steps: [{name: a, script: x, secrets: [DEPLOY_TOKEN, NPM_TOKEN]}]}]";
    let response = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .body(missing)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["path"], "stages[0].steps[0].secrets[1]");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("step \"a\" needs secret NPM_TOKEN"),
        "{body}"
    );

    // The server's shell sets a pipeline's own secret from standard input.
    app.create_pipeline(
        "name: web\nstages: [{name: s, steps: [{name: a, script: x, secrets: [DEPLOY_TOKEN]}]}]",
    )
    .await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args([
            "secret",
            "set",
            "NPM_TOKEN",
            "--pipeline",
            "web",
            "--data-dir",
        ])
        .arg(app.data_dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("conveyor secret");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{value}-npm\n").as_bytes())
        .unwrap();
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "set secret web/NPM_TOKEN"
    );

    let (status, list) = app.get_json("/api/v1/secrets").await;
    assert_eq!(status, 200);
    let names: Vec<(Option<&str>, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["pipeline"].as_str(), s["name"].as_str().unwrap()))
        .collect();
    assert_eq!(names, [(None, "DEPLOY_TOKEN"), (Some("web"), "NPM_TOKEN")]);
    assert!(!list.to_string().contains(&value), "names only");
    let viewer = app.client_as("vic", Role::Viewer, Scope::Read).await;
    let seen: Value = viewer
        .get(app.url("/api/v1/pipelines/web/secrets"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen[0]["name"], "NPM_TOKEN", "anyone may read the names");

    // Deleting the pipeline deletes its own secrets; the global one stays.
    assert_eq!(
        app.client
            .delete(app.url("/api/v1/pipelines/web"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let (_, list) = app.get_json("/api/v1/secrets").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, audit) = app.get_json("/api/v1/audit?action=secret_set").await;
    let targets: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["web/NPM_TOKEN", "DEPLOY_TOKEN"]);
    app.stop().await;
}

/// A step that proves it got the values (their hashes) and then prints them every way a
/// log could carry them: whole, inside a line, line by line, and across the cut of a line
/// longer than 16 KiB.
const LEAKY: &str = r#"
name: leaky
stages:
  - name: s
    steps:
      - name: use
        secrets: [DEPLOY_TOKEN, {name: SSH_KEY, env: KEY_FILE}]
        script: |
          printf '%s' "$DEPLOY_TOKEN" | sha256sum
          printf '%s' "$KEY_FILE" | sha256sum
          echo "token=$DEPLOY_TOKEN and again $DEPLOY_TOKEN"
          printf '%s\n' "$KEY_FILE"
          printf '%16370s' '' | tr ' ' x; echo "$DEPLOY_TOKEN tail"
          echo "$DEPLOY_TOKEN" >&2
"#;

fn assert_absent(where_: &str, haystack: &[u8], values: &[&str]) {
    for value in values {
        for needle in std::iter::once(*value).chain(value.lines()) {
            let found = haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes());
            assert!(
                !found,
                "{where_} holds a secret value ({} bytes)",
                needle.len()
            );
        }
    }
}

#[tokio::test]
async fn no_secret_value_is_anywhere_a_run_leaves_anything() {
    let data = tempfile::tempdir().expect("data dir");
    let site = tempfile::tempdir().expect("site");
    // The server's log (stdout and stderr) goes to a file in the data directory, which is
    // searched with the rest.
    let log_path = data.path().join("server.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let mut server = Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--site-root")
        .arg(site.path())
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(log_file.try_clone().expect("log file"))
        .spawn()
        .expect("server");
    let stdout = std::io::BufReader::new(server.stdout.take().unwrap());
    let (found, listening) = std::sync::mpsc::channel();
    let copier = std::thread::spawn(move || {
        let mut log = log_file;
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(url) = line.trim().strip_prefix("conveyor listening on ") {
                let _ = found.send(url.to_owned());
            }
            writeln!(log, "{line}").expect("log written");
        }
    });
    let base = listening.recv().expect("the server listens");
    let token = String::from_utf8(
        Command::new(env!("CARGO_BIN_EXE_conveyor"))
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
            .expect("token")
            .stdout,
    )
    .unwrap();
    let client = client_with(Some(token.trim()));
    let deploy = fresh_value("deploy");
    let key = format!(
        "-----BEGIN KEY-----\n{}\n{}\n-----END KEY-----",
        fresh_value("line1"),
        fresh_value("line2")
    );
    for (name, value) in [("DEPLOY_TOKEN", &deploy), ("SSH_KEY", &key)] {
        let (status, body) =
            put_secret(&client, format!("{base}/api/v1/secrets/{name}"), value).await;
        assert_eq!(status, 200, "{body}");
    }
    let response = client
        .post(format!("{base}/api/v1/pipelines"))
        .body(LEAKY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let run: Value = client
        .post(format!("{base}/api/v1/pipelines/leaky/runs"))
        .json(&json!({"tag": "v1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = run["id"].as_i64().unwrap();
    let sse = client
        .get(format!("{base}/api/v1/runs/{id}/events"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sse.contains("event: end"));
    let detail = client
        .get(format!("{base}/api/v1/runs/{id}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let raw = client
        .get(format!("{base}/api/v1/runs/{id}/log"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let run_detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(run_detail["status"], "succeeded", "{raw}");

    // The step got both values, and every way it printed them is masked.
    assert!(
        raw.contains(&sha256(&deploy)) && raw.contains(&sha256(&key)),
        "{raw}"
    );
    assert!(raw.contains("token=******** and again ********"), "{raw}");
    assert!(
        raw.contains("******** tail"),
        "the value across the 16 KiB cut"
    );
    assert!(raw.matches("********").count() >= 7, "{raw}");
    let values = [deploy.as_str(), key.as_str()];
    let database = std::fs::read(data.path().join("conveyor.db")).unwrap();
    let wal = std::fs::read(data.path().join("conveyor.db-wal")).unwrap_or_default();
    for (what, bytes) in [
        ("the SSE stream", sse.as_bytes()),
        ("the run's detail", detail.as_bytes()),
        ("the raw log", raw.as_bytes()),
        ("the database file", &database),
        ("its WAL", &wal),
    ] {
        assert_absent(what, bytes, &values);
    }
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    server.wait().expect("server ends");
    copier.join().expect("log copied");
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_absent(
                &path.display().to_string(),
                &std::fs::read(&path).unwrap(),
                &values,
            );
        }
    }
    let server_log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        server_log.contains("DEBUG"),
        "the log was written at debug level"
    );
}

#[tokio::test]
async fn on_tekton_steps_read_secrets_from_a_run_secret_that_is_gone_when_the_run_ends() {
    let cluster = FakeCluster::start().await;
    let app = TestApp::spawn_with(|config| {
        config.engine = conveyor_core::definition::EngineKind::Tekton;
        config.kubeconfig = Some(cluster.kubeconfig.clone());
        config.tekton_namespace = cluster.namespace.clone();
    })
    .await;
    let value = fresh_value("cluster");
    let (status, _) =
        put_secret(&app.client, app.url("/api/v1/secrets/DEPLOY_TOKEN"), &value).await;
    assert_eq!(status, 200);
    app.create_pipeline(
        "name: kube\nstages: [{name: s, steps: [{name: use, image: alpine, secrets: [{name: DEPLOY_TOKEN, env: TOKEN}], script: 'printf %s \"$TOKEN\" | sha256sum; echo \"got $TOKEN\"'}]}]",
    )
    .await;
    let run = app.start_run("kube", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, conveyor_core::run::RunStatus::Succeeded);
    let lines = logs(&events, "use");
    assert!(
        lines.iter().any(|l| l.contains(&sha256(&value))),
        "{lines:?}"
    );
    assert!(lines.contains(&"got ********".to_owned()), "{lines:?}");

    let runs = cluster.objects("pipelineruns");
    assert_eq!(runs.len(), 1);
    let text = runs[0].to_string();
    assert!(!text.contains(&value), "no value in a PipelineRun");
    let env = &runs[0]["spec"]["pipelineSpec"]["tasks"][0]["taskSpec"]["steps"][0]["env"];
    let token = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "TOKEN")
        .expect("TOKEN");
    assert_eq!(
        token["valueFrom"]["secretKeyRef"],
        json!({"name": format!("conveyor-run-{run}-secrets"), "key": "DEPLOY_TOKEN"})
    );
    for task_run in cluster.objects("taskruns") {
        assert!(!task_run.to_string().contains(&value));
    }
    // Made for the run, deleted with its end.
    let secret = cluster
        .until("secrets", |all| {
            all.iter()
                .all(|s| s["metadata"]["name"] != format!("conveyor-run-{run}-secrets"))
        })
        .await;
    assert!(secret
        .iter()
        .all(|s| !s.to_string().contains("conveyor-run-")));
    assert!(cluster
        .used()
        .iter()
        .any(|(verb, _, resource)| verb == "create" && resource.ends_with("secrets")));
    cluster.assert_granted_by_deployed_role();
    app.stop().await;
}

#[tokio::test]
async fn on_tekton_a_pull_secret_becomes_the_runs_own_image_pull_secret() {
    let cluster = FakeCluster::start().await;
    let app = TestApp::spawn_with(|config| {
        config.engine = conveyor_core::definition::EngineKind::Tekton;
        config.kubeconfig = Some(cluster.kubeconfig.clone());
        config.tekton_namespace = cluster.namespace.clone();
    })
    .await;
    let config = r#"{"auths":{"registry.example.com":{"auth":"Y2k6cHc="}}}"#;
    let (status, _) = put_secret(
        &app.client,
        app.url("/api/v1/secrets/REGISTRY_AUTH"),
        config,
    )
    .await;
    assert_eq!(status, 200);
    app.create_pipeline(
        "name: private\nstages: [{name: s, steps: [{name: first, script: 'true'}, {name: use, image: 'registry.example.com/team/tool:1', pull_secret: REGISTRY_AUTH, script: 'echo pulled'}]}]",
    )
    .await;
    cluster.hold("use");
    let run = app.start_run("private", "v1").await;
    let pull = format!("conveyor-run-{run}-pull-registry-auth");
    let secrets = cluster
        .until("secrets", |all| {
            all.iter().any(|s| s["metadata"]["name"] == pull)
        })
        .await;
    let secret = secrets
        .iter()
        .find(|s| s["metadata"]["name"] == pull)
        .expect("pull secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let data = secret["data"][".dockerconfigjson"].as_str().expect("data");
    let decoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64")
    };
    assert_eq!(String::from_utf8_lossy(&decoded), config);
    let runs = cluster.until("pipelineruns", |runs| !runs.is_empty()).await;
    assert_eq!(
        runs[0]["spec"]["taskRunSpecs"],
        json!([{"pipelineTaskName": "use", "podTemplate": {"imagePullSecrets": [{"name": pull}]}}])
    );
    cluster.release("use");
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, conveyor_core::run::RunStatus::Succeeded);
    assert!(
        !cluster
            .objects("secrets")
            .iter()
            .any(|s| s["metadata"]["name"] == pull),
        "gone with the run"
    );
    app.stop().await;
}
