//! Releases and rollback (seed 000) with real parts: a git repository over HTTP, a real
//! build pushed to a real registry (htpasswd), the deploy on the Kubernetes API double,
//! which reports each rollout's status. Every deploy is a release (tag, digest, run, who,
//! outcome); a tag the registry holds is never pushed again unless the workflow allows it;
//! a rollback deploys an earlier release by digest, building nothing.

use std::path::Path;

use crate::support::fake_kube::{FakeCluster, Rollouts};
use crate::support::git_http::{git, GitServer};
use crate::support::registry::Registry;
use crate::support::{outcome, send_json, TestApp};
use conveyor_core::run::RunStatus;
use serde_json::{json, Value};

/// The app's source: a Dockerfile from one of this host's test images, whose `RUN` line
/// makes each version's image (and digest) its own.
async fn push_version(work: &Path, url: &str, version: &str) {
    let (work, url, version) = (work.to_owned(), url.to_owned(), version.to_owned());
    tokio::task::spawn_blocking(move || {
        let dockerfile = format!(
            "FROM {}\nRUN echo {version} > /version.txt\n",
            crate::support::images::BUSYBOX
        );
        std::fs::write(work.join("Dockerfile"), dockerfile).expect("Dockerfile");
        git(&work, &["add", "Dockerfile"]);
        git(
            &work,
            &["commit", "-q", "-m", &format!("version {version}")],
        );
        git(&work, &["push", "-q", &url, "HEAD:main"]);
    })
    .await
    .expect("git");
}

fn workflow(
    repository: &str,
    registry: &Registry,
    extra_deploy: &str,
    extra_image: &str,
) -> String {
    format!(
        "
name: web
git: {{url: '{repository}'}}
image: {{name: '{host}/org/web', username: {user}, password: '{password}', insecure: true{extra_image}}}
autoDeploy: true
deploy:
  replicas: 2
  containers:
    - {{name: web, image: '{host}/org/web:old'}}
{extra_deploy}",
        host = registry.host,
        user = registry.username,
        password = registry.password,
    )
}

async fn releases(app: &TestApp) -> Vec<Value> {
    let (status, page) = app.get_json("/api/v1/workflows/web/releases").await;
    assert_eq!(status, 200, "{page}");
    page["releases"].as_array().expect("releases").clone()
}

fn deployed_image(cluster: &FakeCluster) -> String {
    cluster
        .object("deployments", "ci", "web")
        .expect("deployed")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .expect("image")
        .to_owned()
}

#[tokio::test]
async fn deploys_are_releases_tags_are_never_replaced_and_rollbacks_deploy_by_digest() {
    let cluster = FakeCluster::start().await;
    tokio::task::spawn_blocking(crate::support::images::seed_images)
        .await
        .expect("images made");
    let registry = Registry::start().await;
    let forge = GitServer::start().await;
    let repository = forge.create("web");
    let work = tempfile::tempdir().expect("work tree");
    git(work.path(), &["init", "-q", "-b", "main"]);
    push_version(work.path(), &repository, "one").await;
    let app = TestApp::local_deploying_to(&cluster).await;
    let image = format!("{}/org/web", registry.host);
    let (status, body) = send_json(app.client.post(app.url("/api/v1/workflows")).body(workflow(
        &repository,
        &registry,
        "  rolloutTimeout: 2s\n",
        "",
    )))
    .await;
    assert_eq!(status, 201, "{body}");

    // v1: built, pushed, rolled out; a release with the digest the registry holds.
    let first = app.start_run("web", "v1").await;
    let events = app.all_events(first).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    let deploy = crate::support::logs(&events, "deploy");
    assert_eq!(
        deploy.last().map(String::as_str),
        Some("Deployment ci/web rolled out"),
        "the deploy waits for the rollout: {deploy:?}"
    );
    let v1_digest = registry.digest("org/web", "v1").await.expect("pushed");
    let listed = releases(&app).await;
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let v1 = &listed[0];
    assert_eq!(v1["tag"], "v1");
    assert_eq!(v1["digest"], v1_digest.as_str());
    assert_eq!(v1["image"], format!("{image}@{v1_digest}"));
    assert_eq!(v1["run_id"], first);
    assert_eq!(v1["run_number"], 1);
    assert_eq!(v1["trigger"], "api");
    assert_eq!(v1["started_by"], conveyor::service::FIRST_ADMIN);
    assert_eq!(v1["outcome"], "rolled_out");
    assert_eq!(v1["live"], true);
    assert!(v1["created_at"].as_i64().is_some_and(|t| t > 0));
    assert_eq!(deployed_image(&cluster), format!("{image}:v1"));

    // The same tag again would replace the deployed image: refused, nothing recorded.
    let (status, body) = send_json(
        app.client
            .post(app.url("/api/v1/workflows/web/runs"))
            .json(&json!({"tag": "v1"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "{image}:v1 is already in the registry ({v1_digest})"
        )) && message.contains("image.overwriteTags"),
        "{body}"
    );
    let (_, runs) = app.get_json("/api/v1/workflows/web/runs").await;
    assert_eq!(
        runs["runs"].as_array().map(Vec::len),
        Some(1),
        "no run made"
    );

    // v2: its pods never get ready; the deploy fails with the controller's reason.
    push_version(work.path(), &repository, "two").await;
    cluster.rollouts(Rollouts::DeadlineExceeded);
    let second = app.start_run("web", "v2").await;
    let events = app.all_events(second).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    let said = crate::support::logs(&events, "deploy");
    assert!(
        said.last()
            .is_some_and(|l| l.contains("ProgressDeadlineExceeded")
                && l.contains("ReplicaSet \"web-2\" has timed out progressing.")),
        "{said:?}"
    );
    // v3: the rollout never progresses; the deploy gives up after the workflow's 2 s.
    push_version(work.path(), &repository, "three").await;
    cluster.rollouts(Rollouts::Stuck);
    let third = app.start_run("web", "v3").await;
    let events = app.all_events(third).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    let said = crate::support::logs(&events, "deploy");
    assert!(
        said.last()
            .is_some_and(|l| l
                .contains("Deployment ci/web did not roll out within 2s: 0 of 2 replicas updated")),
        "{said:?}"
    );
    let listed = releases(&app).await;
    let outcomes: Vec<(&str, &str, bool)> = listed
        .iter()
        .map(|r| {
            (
                r["tag"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
                r["live"] == true,
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("v3", "failed", false),
            ("v2", "failed", false),
            ("v1", "rolled_out", true)
        ],
        "newest first; what runs now is still v1"
    );
    assert!(
        listed[1]["reason"].as_str().is_some_and(
            |r| r.starts_with("Deployment ci/web did not roll out: ProgressDeadlineExceeded")
        ),
        "the deploy step's reason: {}",
        listed[1]
    );
    let v2_digest = registry.digest("org/web", "v2").await.expect("pushed");
    assert_ne!(v2_digest, v1_digest, "each version is its own image");

    // v4 rolls out; then roll back to v1: its image by digest, nothing built.
    push_version(work.path(), &repository, "four").await;
    cluster.rollouts(Rollouts::Complete);
    let fourth = app.start_run("web", "v4").await;
    assert_eq!(
        outcome(&app.all_events(fourth).await).0,
        RunStatus::Succeeded
    );
    assert_eq!(deployed_image(&cluster), format!("{image}:v4"));
    let v1_id = v1["id"].as_i64().expect("release id");
    let (status, rollback) = send_json(
        app.client
            .post(app.url(&format!("/api/v1/workflows/web/releases/{v1_id}/rollback"))),
    )
    .await;
    assert_eq!(status, 201, "{rollback}");
    assert_eq!(rollback["trigger"], "rollback");
    assert_eq!(rollback["tag"], "v1");
    let back = rollback["id"].as_i64().expect("run id");
    let events = app.all_events(back).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{back}")).await;
    let steps: Vec<&str> = detail["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(steps, ["deploy"], "a rollback builds nothing");
    assert_eq!(deployed_image(&cluster), format!("{image}@{v1_digest}"));
    let listed = releases(&app).await;
    let newest = &listed[0];
    assert_eq!(newest["trigger"], "rollback");
    assert_eq!(newest["rollback_of"], v1_id);
    assert_eq!(newest["digest"], v1_digest.as_str());
    assert_eq!(newest["live"], true);
    assert_eq!(
        listed.iter().filter(|r| r["live"] == true).count(),
        1,
        "one release runs"
    );

    // Refused: a release that never rolled out, one that does not exist.
    let v2_id = listed
        .iter()
        .find(|r| r["tag"] == "v2")
        .and_then(|r| r["id"].as_i64())
        .expect("v2");
    let (status, body) = send_json(
        app.client
            .post(app.url(&format!("/api/v1/workflows/web/releases/{v2_id}/rollback"))),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("never rolled out"), "{body}");
    let (status, _) = send_json(
        app.client
            .post(app.url("/api/v1/workflows/web/releases/999/rollback")),
    )
    .await;
    assert_eq!(status, 404);

    // In the browser: the workflows list leads to the releases; "Roll back to this" on v4.
    let v4_id = listed
        .iter()
        .find(|r| r["tag"] == "v4")
        .and_then(|r| r["id"].as_i64())
        .expect("v4");
    let clicked = drive_releases_page(&app, v4_id, listed.len()).await;
    let events = app.all_events(clicked).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    let v4_digest = registry.digest("org/web", "v4").await.expect("pushed");
    assert_eq!(deployed_image(&cluster), format!("{image}@{v4_digest}"));
    let newest = releases(&app).await.remove(0);
    assert_eq!(
        (
            &newest["trigger"],
            &newest["rollback_of"],
            &newest["started_by"]
        ),
        (&json!("rollback"), &json!(v4_id), &json!("admin")),
        "{newest}"
    );

    // The CLI lists them and rolls back too (to v1 again, following the run to its end).
    let cli = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_conveyor"));
        command.args(args);
        command
    };
    let token = TestApp::token_for(
        &app.service,
        conveyor::service::FIRST_ADMIN,
        conveyor_core::access::Scope::Admin,
    )
    .await;
    let url = app.url("");
    let listing = tokio::task::spawn_blocking({
        let (url, token) = (url.clone(), token.clone());
        move || {
            cli(&["releases", "web", "--url", &url, "--token", &token])
                .output()
                .expect("conveyor releases")
        }
    })
    .await
    .expect("ran");
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ID") && lines.len() == 7, "{text}");
    assert!(
        lines[1].starts_with('*') && lines[1].contains("rollback"),
        "{text}"
    );
    let rolled = tokio::task::spawn_blocking(move || {
        cli(&[
            "rollback",
            "web",
            &v1_id.to_string(),
            "--follow",
            "--url",
            &url,
            "--token",
            &token,
        ])
        .output()
        .expect("conveyor rollback")
    })
    .await
    .expect("ran");
    assert_eq!(
        rolled.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&rolled.stderr)
    );
    assert!(String::from_utf8_lossy(&rolled.stdout).contains("Deployment ci/web rolled out"));
    assert_eq!(deployed_image(&cluster), format!("{image}@{v1_digest}"));

    // A workflow that allows overwriting tags builds v1 again.
    let (status, body) = send_json(app.client.put(app.url("/api/v1/workflows/web")).body(
        workflow(&repository, &registry, "", ", overwriteTags: true"),
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let again = app.start_run("web", "v1").await;
    assert_eq!(
        outcome(&app.all_events(again).await).0,
        RunStatus::Succeeded
    );
    // The tag is pulled again on every node (a cached v1 may be the old build), and the
    // pods roll even though the Deployment names the same tag.
    let deployment = cluster
        .object("deployments", "ci", "web")
        .expect("deployed");
    let template = &deployment["spec"]["template"];
    assert_eq!(
        template["spec"]["containers"][0]["image"],
        format!("{image}:v1")
    );
    assert_eq!(
        template["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    assert!(template["metadata"]["annotations"]["conveyor.dev/deployed-at"].is_string());

    // Re-running a rollback deploys the same release again: never a build of its tag.
    let (status, rerun) = send_json(
        app.client
            .post(app.url(&format!("/api/v1/runs/{back}/rerun"))),
    )
    .await;
    assert_eq!(status, 201, "{rerun}");
    assert_eq!(
        (&rerun["trigger"], &rerun["tag"]),
        (&json!("rollback"), &json!("v1"))
    );
    let events = app.all_events(rerun["id"].as_i64().expect("id")).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded);
    assert_eq!(deployed_image(&cluster), format!("{image}@{v1_digest}"));
    let newest = releases(&app).await.remove(0);
    assert_eq!(
        (&newest["trigger"], &newest["digest"], &newest["live"]),
        (&json!("rollback"), &json!(v1_digest), &json!(true)),
        "{newest}"
    );
    app.stop().await;
    let _ = tokio::process::Command::new("podman")
        .args(["rmi", "--force"])
        .args(["v1", "v2", "v3", "v4"].map(|t| format!("{image}:{t}")))
        .output()
        .await;
}

/// Runs the releases page's browser script (tests/browser/driven/releases.mjs) against the
/// server: it checks the page and clicks "Roll back to this" on release `target`; the run
/// that started.
async fn drive_releases_page(app: &TestApp, target: i64, rows: usize) -> i64 {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/browser/node_modules/playwright-core").exists(),
        "the browser tests' packages are missing: run `npm ci` in tests/browser (scripts/test does)"
    );
    let password = std::fs::read_to_string(app.data_dir.path().join("initial-admin-password"))
        .expect("the first admin's password");
    let output = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/driven/releases.mjs"))
        .env("CONVEYOR_BASE", app.url(""))
        .env("CONVEYOR_ADMIN_PASSWORD", password.trim())
        .env("ROLL_BACK_TO", target.to_string())
        .env("EXPECT_ROWS", rows.to_string())
        .env("SHOTS", root.join("target/screenshots"))
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said: Value = serde_json::from_str(stdout.trim()).expect("the script's JSON");
    said["run"].as_i64().expect("the rollback's run")
}
