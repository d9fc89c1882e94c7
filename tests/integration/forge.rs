//! Continuous integration from a forge: a commit pushed to a real git server over HTTP, the
//! forge's payload (from its documented shape) posted with a valid signature, and the run
//! checks out exactly that commit; what must not start anything does not.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::git_http::{git, GitServer};
use crate::support::TestApp;

const KEY: &str = "hook-key-of-the-repository";

fn fixture(name: &str, fill: &[(&str, &str)]) -> String {
    let path = format!("{}/tests/fixtures/forge/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(path).expect("fixture");
    for (from, to) in fill {
        text = text.replace(from, to);
    }
    text
}

fn signature(key: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

struct Forge {
    app: TestApp,
    git: GitServer,
    url: String,
    work: tempfile::TempDir,
}

/// A server with the secret, a git server with one repository, a working copy of it, and
/// a pipeline that builds it.
async fn forge(on: &str) -> Forge {
    let app = TestApp::spawn().await;
    let git_server = GitServer::start().await;
    let url = git_server.create("app");
    let work = tempfile::tempdir().unwrap();
    git(work.path(), &["init", "-q", "-b", "main"]);
    let response = app
        .client
        .put(app.url("/api/v1/secrets/HOOK_KEY"))
        .json(&json!({"value": KEY}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pipeline = format!(
        "name: app\nrepository: {{url: '{url}', webhook_secret: HOOK_KEY}}\non: {on}\nstages:\n  - name: build\n    steps:\n      - name: show\n        script: |\n          cat hello.txt\n          git rev-parse HEAD\n          echo \"event=$CONVEYOR_EVENT branch=${{CONVEYOR_BRANCH:-}} pr=${{CONVEYOR_PULL_REQUEST:-}}\"\n"
    );
    app.create_pipeline(&pipeline).await;
    Forge {
        app,
        git: git_server,
        url,
        work,
    }
}

impl Forge {
    /// Commits `hello.txt` saying `text` and pushes it to `refspec`; the commit. (Off the
    /// runtime's thread: the git server answers the push on it.)
    async fn commit(&self, text: &str, refspec: &str) -> String {
        let (dir, url) = (self.work.path().to_path_buf(), self.url.clone());
        let (text, refspec) = (text.to_owned(), refspec.to_owned());
        tokio::task::spawn_blocking(move || {
            std::fs::write(dir.join("hello.txt"), &text).unwrap();
            git(&dir, &["add", "hello.txt"]);
            git(&dir, &["commit", "-q", "-m", &format!("Say {text}")]);
            git(&dir, &["push", "-q", &url, &refspec]);
            git(&dir, &["rev-parse", "HEAD"])
        })
        .await
        .expect("git")
    }

    async fn deliver(&self, forge: &str, headers: &[(&str, String)], body: &str) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(self.app.url(&format!("/api/v1/hooks/{forge}")))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.expect("deliver");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn payload(&self, name: &str, sha: &str, git_ref: &str) -> String {
        fixture(
            name,
            &[
                ("__CLONE_URL__", &self.url),
                ("__WEB_URL__", self.url.trim_end_matches(".git")),
                ("__SHA__", sha),
                ("__BEFORE__", &"1".repeat(40)),
                ("__REF__", git_ref),
            ],
        )
    }

    async fn run_count(&self) -> usize {
        let (_, runs) = self.app.get_json("/api/v1/pipelines/app/runs").await;
        runs["runs"].as_array().map(Vec::len).unwrap_or_default()
    }
}

fn github(event: &str, delivery: &str, body: &str, key: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-github-event", event.to_owned()),
        ("x-github-delivery", delivery.to_owned()),
        (
            "x-hub-signature-256",
            format!("sha256={}", signature(key, body)),
        ),
    ]
}

fn started_run(outcome: &Value) -> i64 {
    outcome["results"][0]["run_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no run started: {outcome}"))
}

#[tokio::test]
async fn a_signed_push_runs_exactly_its_commit_once() {
    let forge = forge("{push: {branches: [main]}}").await;
    let first = forge.commit("one", "main").await;
    let tip = forge.commit("two", "main").await;
    assert_ne!(first, tip);

    // The delivery for the first push arrives after the second: the run builds the first.
    let body = forge.payload("github-push.json", &first, "refs/heads/main");
    let headers = github("push", "d-1", &body, KEY);
    let (status, outcome) = forge.deliver("github", &headers, &body).await;
    assert_eq!(status, 200, "{outcome}");
    let run = started_run(&outcome);
    let events = forge.app.all_events(run).await;
    let shown = crate::support::logs(&events, "show").join("\n");
    assert!(shown.contains("one"), "{shown}");
    assert!(shown.contains(&first), "{shown}");
    assert!(shown.contains("event=push branch=main"), "{shown}");
    let checkout = crate::support::logs(&events, "checkout").join("\n");
    assert!(
        checkout.contains(&format!("checked out {first}")),
        "{checkout}"
    );
    let (_, detail) = forge.app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["status"], "succeeded", "{detail}");
    assert_eq!(detail["trigger"], "push");
    assert_eq!(detail["commit"]["sha"], first.as_str());
    assert_eq!(detail["commit"]["branch"], "main");
    assert_eq!(detail["commit"]["author"], "ada");
    assert_eq!(detail["commit"]["message"], "Say one");
    assert_eq!(detail["tag"], &first[..12]);

    // The forge sends it again, or someone replays it under another delivery id: nothing
    // new starts.
    let (status, again) = forge.deliver("github", &headers, &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["results"][0]["run_id"], run);
    let replayed = github("push", "d-1-replayed", &body, KEY);
    let (_, again) = forge.deliver("github", &replayed, &body).await;
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(forge.run_count().await, 1);

    // A push to another branch starts nothing, and says why.
    let body = forge.payload("github-push.json", &tip, "refs/heads/feature");
    let (status, outcome) = forge
        .deliver("github", &github("push", "d-2", &body, KEY), &body)
        .await;
    assert_eq!(status, 200);
    let reason = outcome["results"][0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("matches none of on.push.branches"),
        "{outcome}"
    );
    let (_, deliveries) = forge.app.get_json("/api/v1/pipelines/app/deliveries").await;
    assert_eq!(deliveries.as_array().map(Vec::len), Some(2), "{deliveries}");
    assert_eq!(deliveries[0]["git_ref"], "refs/heads/feature");
    assert_eq!(deliveries[1]["run_number"], 1);
    assert_eq!(forge.run_count().await, 1);
    for (branch, count) in [("main", 1), ("feature", 0)] {
        let (_, page) = forge
            .app
            .get_json(&format!("/api/v1/runs?branch={branch}&trigger=push"))
            .await;
        assert_eq!(page["runs"].as_array().map(Vec::len), Some(count), "{page}");
    }
    let _ = &forge.git;
}

#[tokio::test]
async fn what_is_not_signed_by_the_repository_starts_nothing() {
    let forge = forge("{push: {}}").await;
    let sha = forge.commit("one", "main").await;
    let body = forge.payload("github-push.json", &sha, "refs/heads/main");

    let mut missing = github("push", "x-1", &body, KEY);
    missing.retain(|(name, _)| *name != "x-hub-signature-256");
    let wrong_key = github("push", "x-2", &body, "another key");
    let mut bad = github("push", "x-3", &body, KEY);
    bad[2].1 = "sha256=deadbeef".into();
    let tampered = body.replace("Say one", "Say evil");
    for headers in [missing, wrong_key, bad, github("push", "x-4", &body, KEY)] {
        let body = if headers[1].1 == "x-4" {
            &tampered
        } else {
            &body
        };
        let (status, outcome) = forge.deliver("github", &headers, body).await;
        assert_eq!(status, 401, "{outcome}");
    }
    assert_eq!(forge.run_count().await, 0);

    let (status, outcome) = forge
        .deliver(
            "github",
            &github("push", "x-5", "{not json", KEY),
            "{not json",
        )
        .await;
    assert_eq!(status, 400, "{outcome}");
    assert!(
        outcome["message"].as_str().unwrap().contains("not JSON"),
        "{outcome}"
    );

    let (status, outcome) = forge
        .deliver("github", &github("issues", "x-6", &body, KEY), &body)
        .await;
    assert_eq!(status, 202, "{outcome}");
    assert!(
        outcome["ignored"].as_str().unwrap().contains("issues"),
        "{outcome}"
    );
    let (_, deliveries) = forge.app.get_json("/api/v1/pipelines/app/deliveries").await;
    assert!(
        deliveries[0]["reason"].as_str().unwrap().contains("issues"),
        "{deliveries}"
    );

    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20));
    let (status, _) = forge
        .deliver("github", &github("push", "x-7", &huge, KEY), &huge)
        .await;
    assert_eq!(status, 413);

    let other = forge
        .payload("github-push.json", &sha, "refs/heads/main")
        .replace(
            forge.url.trim_end_matches(".git"),
            "http://git.example.invalid/other/repo",
        );
    let (status, _) = forge
        .deliver("github", &github("push", "x-8", &other, KEY), &other)
        .await;
    assert_eq!(
        status, 401,
        "no pipeline builds that repository: nothing to prove"
    );
    assert_eq!(forge.run_count().await, 0);
}

#[tokio::test]
async fn gitea_and_gitlab_pushes_and_a_github_pull_request_start_their_runs() {
    let forge = forge("{push: {branches: [main]}, pull_request: {branches: [main]}}").await;
    let sha = forge.commit("one", "main").await;

    let body = forge.payload("gitea-push.json", &sha, "refs/heads/main");
    let headers = vec![
        ("x-gitea-event", "push".to_owned()),
        ("x-gitea-delivery", "g-1".to_owned()),
        ("x-gitea-signature", signature(KEY, &body)),
    ];
    let (status, outcome) = forge.deliver("gitea", &headers, &body).await;
    assert_eq!(status, 200, "{outcome}");
    forge.app.all_events(started_run(&outcome)).await;

    let body = forge.payload("gitlab-push.json", &sha, "refs/heads/main");
    let mut headers = vec![
        ("x-gitlab-event", "Push Hook".to_owned()),
        ("x-gitlab-event-uuid", "l-1".to_owned()),
        ("x-gitlab-token", "not the token".to_owned()),
    ];
    let (status, _) = forge.deliver("gitlab", &headers, &body).await;
    assert_eq!(status, 401);
    headers[2].1 = KEY.to_owned();
    let (status, outcome) = forge.deliver("gitlab", &headers, &body).await;
    assert_eq!(status, 200, "{outcome}");
    forge.app.all_events(started_run(&outcome)).await;

    // A pull request from a branch the forge keeps under refs/pull/7/head.
    let head = forge.commit("two", "HEAD:refs/pull/7/head").await;
    let body = forge.payload("github-pull-request.json", &head, "");
    let (status, outcome) = forge
        .deliver("github", &github("pull_request", "p-1", &body, KEY), &body)
        .await;
    assert_eq!(status, 200, "{outcome}");
    let run = started_run(&outcome);
    let events = forge.app.all_events(run).await;
    let shown = crate::support::logs(&events, "show").join("\n");
    assert!(shown.contains("two") && shown.contains(&head), "{shown}");
    assert!(
        shown.contains("event=pull_request branch=feature pr=7"),
        "{shown}"
    );
    let (_, detail) = forge.app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["trigger"], "pull_request");
    assert_eq!(detail["commit"]["pull_request"], 7);
    assert_eq!(detail["commit"]["git_ref"], "refs/pull/7/head");
    let (_, runs) = forge.app.get_json("/api/v1/pipelines/app/runs").await;
    let statuses: Vec<&str> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded"; 3], "{runs}");
}

/// A forge's status API double: records each call, and answers the first one with a 502
/// (so a retry is needed).
async fn status_api() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String, Value)>,
) {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode, Uri};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    type Seen = tokio::sync::mpsc::UnboundedSender<(String, String, Value)>;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    async fn record(
        State((seen, calls)): State<(Seen, Arc<AtomicUsize>)>,
        uri: Uri,
        headers: HeaderMap,
        axum::Json(body): axum::Json<Value>,
    ) -> StatusCode {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return StatusCode::BAD_GATEWAY;
        }
        let auth = headers
            .get("authorization")
            .or_else(|| headers.get("private-token"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let _ = seen.send((uri.path().to_owned(), auth, body));
        StatusCode::CREATED
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .fallback(axum::routing::post(record))
        .with_state((tx, Arc::new(AtomicUsize::new(0))));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, rx)
}

#[tokio::test]
async fn the_forge_hears_pending_then_success_with_the_run_link_and_failed_calls_are_retried() {
    let (api, mut seen) = status_api().await;
    // The first call (`pending`) fails and is retried after a wait long enough for the run
    // to end meanwhile: `success` must still land after it.
    let app = TestApp::spawn_with(|config| {
        config.webhook_retry_delays = vec![std::time::Duration::from_secs(2)];
    })
    .await;
    let git_server = GitServer::start().await;
    let url = git_server.create("app");
    for (name, value) in [("HOOK_KEY", KEY), ("STATUS_TOKEN", "forge-api-token")] {
        let response = app
            .client
            .put(app.url(&format!("/api/v1/secrets/{name}")))
            .json(&json!({"value": value}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    app.create_pipeline(&format!(
        "name: app\nrepository: {{url: '{url}', webhook_secret: HOOK_KEY, status_token: STATUS_TOKEN, api_url: '{api}'}}\non: {{push: {{}}}}\nstages: [{{name: s, steps: [{{name: t, script: 'cat hello.txt'}}]}}]\n"
    ))
    .await;
    let forge = Forge {
        app,
        git: git_server,
        url,
        work: tempfile::tempdir().unwrap(),
    };
    git(forge.work.path(), &["init", "-q", "-b", "main"]);
    let sha = forge.commit("one", "main").await;
    let body = forge.payload("github-push.json", &sha, "refs/heads/main");
    let (status, outcome) = forge
        .deliver("github", &github("push", "s-1", &body, KEY), &body)
        .await;
    assert_eq!(status, 200, "{outcome}");
    let run = started_run(&outcome);

    let mut states = Vec::new();
    while !states.contains(&"success".to_owned()) {
        let next = tokio::time::timeout(std::time::Duration::from_secs(60), seen.recv());
        let (path, auth, body) = next.await.expect("a status call").expect("the double");
        assert_eq!(path, format!("/repos/{}/statuses/{sha}", "app"), "{body}");
        assert_eq!(auth, "Bearer forge-api-token");
        assert!(
            body["target_url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/runs/{run}")),
            "{body}"
        );
        assert_eq!(body["context"], "conveyor/app");
        states.push(body["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(states, ["pending", "success"]);

    // The same from GitLab: its API's path, its token header, its words.
    let body = forge.payload("gitlab-push.json", &sha, "refs/heads/main");
    let headers = vec![
        ("x-gitlab-event", "Push Hook".to_owned()),
        ("x-gitlab-event-uuid", "s-2".to_owned()),
        ("x-gitlab-token", KEY.to_owned()),
    ];
    let (status, outcome) = forge.deliver("gitlab", &headers, &body).await;
    assert_eq!(status, 200, "{outcome}");
    let mut gitlab = Vec::new();
    while !gitlab.contains(&"success".to_owned()) {
        let next = tokio::time::timeout(std::time::Duration::from_secs(60), seen.recv());
        let (path, auth, body) = next.await.expect("a status call").expect("the double");
        assert_eq!(path, format!("/projects/app/statuses/{sha}"), "{body}");
        assert_eq!(auth, "forge-api-token");
        assert_eq!(body["name"], "conveyor/app");
        gitlab.push(body["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(gitlab, ["pending", "success"]);

    // Each call's outcome is kept with the run (the server waits for calls in flight as it
    // stops, so all are on record then).
    let data = forge.app.stop_keeping_data().await;
    let app = TestApp::spawn_in(data, |_| {}).await;
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    let calls: Vec<&Value> = detail["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["step"] == "commit status")
        .collect();
    assert_eq!(calls.len(), 2, "{detail}");
    assert!(calls.iter().all(|c| c["ok"] == true), "{detail}");
    assert_eq!(
        calls
            .iter()
            .map(|c| c["event"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["pending", "success"]
    );
    assert_eq!(
        calls
            .iter()
            .map(|c| c["attempts"].as_i64().unwrap())
            .sum::<i64>(),
        3,
        "one retry: {detail}"
    );
    assert!(!detail.to_string().contains("forge-api-token"));
    let _ = &forge.git;
}

#[tokio::test]
async fn twenty_deliveries_at_once_queue_twenty_runs_and_a_newer_push_cancels_the_older() {
    let forge = forge("{push: {branches: [main, 'feature/*']}}").await;
    let sha = forge.commit("one", "main").await;
    // Twenty pushes (each with its own `before`), all ending at the same commit.
    let bodies: Vec<String> = (0..20)
        .map(|i| {
            forge
                .payload("github-push.json", &sha, "refs/heads/main")
                .replace(&"1".repeat(40), &format!("{:040x}", i + 1))
        })
        .collect();
    let deliveries = bodies.iter().enumerate().map(|(i, body)| {
        let headers = github("push", &format!("burst-{i}"), body, KEY);
        let forge = &forge;
        async move { forge.deliver("github", &headers, body).await }
    });
    let outcomes = futures::future::join_all(deliveries).await;
    let mut runs: Vec<i64> = outcomes
        .iter()
        .map(|(status, outcome)| {
            assert_eq!(*status, 200, "{outcome}");
            started_run(outcome)
        })
        .collect();
    runs.sort();
    runs.dedup();
    assert_eq!(runs.len(), 20, "none lost");
    for &run in &runs {
        forge.app.all_events(run).await;
    }
    let mut previous_end = 0;
    for &run in &runs {
        let (_, detail) = forge.app.get_json(&format!("/api/v1/runs/{run}")).await;
        assert_eq!(detail["status"], "succeeded", "{detail}");
        let started = detail["started_at"].as_i64().unwrap();
        assert!(
            started >= previous_end,
            "run {run} started before the one before it ended"
        );
        previous_end = detail["finished_at"].as_i64().unwrap();
    }

    // cancel-previous: a second push to a branch cancels its first run.
    let gated = format!(
        "name: gated\nconcurrency: cancel-previous\nrepository: {{url: '{}', webhook_secret: HOOK_KEY}}\non: {{push: {{}}}}\nstages: [{{name: s, steps: [{{name: gate, approval: true, script: 'true'}}]}}]\n",
        forge.url
    );
    forge.app.create_pipeline(&gated).await;
    let feature = forge.commit("two", "HEAD:refs/heads/feature/x").await;
    let body = forge.payload("github-push.json", &feature, "refs/heads/feature/x");
    let (_, first) = forge
        .deliver("github", &github("push", "c-1", &body, KEY), &body)
        .await;
    let first = first["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pipeline"] == "gated")
        .and_then(|r| r["run_id"].as_i64())
        .expect("a run of gated");
    forge
        .app
        .events(first, None)
        .await
        .until(|e| {
            matches!(
                &e.event.body,
                conveyor_core::run::EventBody::Step {
                    status: conveyor_core::run::StepStatus::WaitingApproval,
                    ..
                }
            )
        })
        .await;
    // The same branch pushed again (from another `before`).
    let body = body.replace(&"1".repeat(40), &"2".repeat(40));
    let (_, second) = forge
        .deliver("github", &github("push", "c-2", &body, KEY), &body)
        .await;
    assert!(second.to_string().contains("gated"), "{second}");
    forge.app.all_events(first).await;
    let (_, detail) = forge.app.get_json(&format!("/api/v1/runs/{first}")).await;
    assert_eq!(detail["status"], "cancelled", "{detail}");
}
