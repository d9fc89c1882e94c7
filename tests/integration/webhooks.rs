//! Webhooks: real HTTP calls to a receiver on 127.0.0.1:0, recorded with the run.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::receiver::receiver;
use crate::support::{ClosedPort, TestApp};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::sync::mpsc;

/// The run's recorded webhook deliveries, once every call has ended: the service's shutdown
/// waits for runs and for the webhook calls they made (the HTTP server keeps answering).
async fn deliveries(app: &TestApp, run: i64) -> Vec<serde_json::Value> {
    app.service.shutdown(Duration::from_secs(60)).await;
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    detail["webhooks"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn steps_call_their_webhooks_for_the_events_they_name() {
    let mut hooks = receiver(vec![]).await;
    let base = format!("http://{}", hooks.addr);
    let app = TestApp::spawn().await;
    app.create_pipeline(&format!(
        "
name: notify
stages:
  - name: build
    steps:
      - name: compile
        script: echo compiled
        webhooks: [{{url: '{base}/chat/token-abc123', events: [STARTED, SUCCEEDED]}}]
      - name: test
        needs: [compile]
        script: exit 3
        webhooks: [{{url: '{base}/chat/token-abc123', events: [SUCCEEDED, FAILED]}}]
  - name: ship
    steps:
      - name: push
        script: echo never
        webhooks: [{{url: '{base}/ops', events: [SKIPPED]}}, {{url: '{base}/ops2', events: [SUCCEEDED]}}]
"
    ))
    .await;
    let run = app.start_run("notify", "v1.2").await;
    app.all_events(run).await;

    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(hooks.calls.recv().await.expect("a call"));
    }
    let seen: Vec<(String, String, String)> = calls
        .iter()
        .map(|c| {
            (
                c.path.clone(),
                c.event_header.clone(),
                c.body["step"]["name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    for wanted in [
        ("chat/token-abc123", "STARTED", "compile"),
        ("chat/token-abc123", "SUCCEEDED", "compile"),
        ("chat/token-abc123", "FAILED", "test"),
        ("ops", "SKIPPED", "push"),
    ] {
        assert!(
            seen.iter()
                .any(|(p, e, s)| (p.as_str(), e.as_str(), s.as_str()) == wanted),
            "missing call {wanted:?} in {seen:?}"
        );
    }
    let failed = calls
        .iter()
        .find(|c| c.event_header == "FAILED")
        .expect("FAILED call");
    assert_eq!(failed.body["event"], "FAILED");
    assert_eq!(failed.body["pipeline"], "notify");
    assert_eq!(failed.body["run"]["id"], run);
    assert_eq!(failed.body["run"]["tag"], "v1.2");
    assert_eq!(failed.body["step"]["stage"], "build");
    assert_eq!(failed.body["step"]["status"], "failed");
    assert_eq!(failed.body["step"]["exit_code"], 3);
    assert_eq!(failed.body["text"], "notify #1 (v1.2): step test failed");

    let recorded = deliveries(&app, run).await;
    assert_eq!(recorded.len(), 4, "{recorded:?}");
    assert!(
        recorded
            .iter()
            .all(|d| d["ok"] == true && d["status_code"] == 200 && d["attempts"] == 1),
        "{recorded:?}"
    );
    assert!(
        recorded.iter().all(|d| d["target"] == base.as_str()),
        "{recorded:?}"
    );
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert!(
        !detail.to_string().contains("token-abc123"),
        "a webhook token leaked into the run: {detail}"
    );
    assert!(
        hooks.calls.try_recv().is_err(),
        "no call for events nobody named"
    );
    let page = app
        .client
        .get(app.url(&format!("/runs/{run}")))
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains(r#"id="webhooks""#) && page.contains("delivered (200)"),
        "the run page lists the calls"
    );
    assert!(!page.contains("token-abc123"));
    app.stop().await;
}

#[tokio::test]
async fn failed_calls_are_retried_and_never_hold_up_the_run() {
    let mut hooks = receiver(vec![503]).await;
    let base = format!("http://{}", hooks.addr);
    // A port nothing listens on.
    let dead_port = ClosedPort::new();
    let dead = dead_port.addr;
    let app = TestApp::spawn_with(|config| {
        config.webhook_retry_delays = vec![Duration::from_millis(10), Duration::from_millis(10)];
        // Long enough that a loaded machine answering the flaky hook late is not a
        // timeout; only the hanging hook waits it out (three times).
        config.webhook_timeout = Duration::from_secs(3);
    })
    .await;
    app.create_pipeline(&format!(
        "
name: flaky
stages:
  - name: s
    steps:
      - name: a
        script: echo a
        webhooks:
          - {{url: '{base}/flaky', events: [SUCCEEDED]}}
          - {{url: 'http://{dead}/secret-path', events: [SUCCEEDED]}}
          - {{url: '{base}/hang', events: [SUCCEEDED]}}
      - name: b
        needs: [a]
        script: echo b
"
    ))
    .await;
    let run = app.start_run("flaky", "v1").await;
    let events = app.all_events(run).await;
    assert!(events.iter().any(|e| matches!(
        &e.event.body,
        conveyor_core::run::EventBody::Run {
            status: conveyor_core::run::RunStatus::Succeeded,
            ..
        }
    )));

    let recorded = deliveries(&app, run).await;
    assert_eq!(recorded.len(), 3, "{recorded:?}");
    let by_target = |wanted: &str| {
        recorded
            .iter()
            .find(|d| d["target"] == wanted)
            .cloned()
            .expect(wanted)
    };
    let dead_target = format!("http://{dead}");
    let dead_call = by_target(&dead_target);
    assert_eq!(dead_call["ok"], false);
    assert_eq!(
        dead_call["attempts"], 3,
        "one call and two retries: {dead_call}"
    );
    assert_eq!(dead_call["status_code"], serde_json::Value::Null);
    let error = dead_call["error"].as_str().expect("error text");
    assert!(
        !error.contains("secret-path"),
        "the URL leaked into the error: {error}"
    );

    let same_host: Vec<_> = recorded
        .iter()
        .filter(|d| d["target"] == base.as_str())
        .collect();
    assert_eq!(same_host.len(), 2, "{recorded:?}");
    let flaky = same_host
        .iter()
        .find(|d| d["ok"] == true)
        .expect("the flaky hook got through");
    assert_eq!(flaky["attempts"], 2, "503 first, then 200: {flaky}");
    let hung = same_host
        .iter()
        .find(|d| d["ok"] == false)
        .expect("the hanging hook timed out");
    assert_eq!(hung["attempts"], 3, "{hung}");
    assert_eq!(hung["status_code"], serde_json::Value::Null);

    let mut flaky_calls = 0;
    while let Ok(call) = hooks.calls.try_recv() {
        flaky_calls += usize::from(call.path == "flaky");
    }
    assert_eq!(flaky_calls, 2);
    app.stop().await;
}

/// A receiver that keeps each call's headers and raw body, to check signatures as a
/// receiver would.
async fn raw_receiver() -> (
    SocketAddr,
    mpsc::UnboundedReceiver<(String, HeaderMap, axum::body::Bytes)>,
) {
    async fn hook(
        State(calls): State<mpsc::UnboundedSender<(String, HeaderMap, axum::body::Bytes)>>,
        Path(path): Path<String>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> StatusCode {
        let _ = calls.send((path, headers, body));
        StatusCode::OK
    }
    let (tx, calls) = mpsc::unbounded_channel();
    let router = Router::new().route("/{*path}", post(hook)).with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("receiver") });
    (addr, calls)
}

#[tokio::test]
async fn a_hook_with_a_secret_signs_each_call_with_its_time_and_body() {
    use hmac::{Hmac, Mac};
    let (addr, mut calls) = raw_receiver().await;
    let app = TestApp::spawn().await;
    let key = format!("hook-key-{}", std::process::id());
    let response = app
        .client
        .put(app.url("/api/v1/secrets/HOOK_KEY"))
        .json(&serde_json::json!({"value": key}))
        .send()
        .await
        .expect("secret");
    assert_eq!(response.status(), 200);
    let definition = |secret: &str| {
        format!(
            "name: signed\nstages: [{{name: s, steps: [{{name: a, script: 'echo hi', webhooks: [\
             {{url: 'http://{addr}/signed', events: [SUCCEEDED]{secret}}}, {{url: 'http://{addr}/plain', events: [SUCCEEDED]}}]}}]}}]"
        )
    };
    let response = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .body(definition(", secret: NO_SUCH_KEY"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["path"], "stages[0].steps[0].webhooks[0].secret",
        "{body}"
    );
    app.create_pipeline(&definition(", secret: HOOK_KEY")).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let run = app.start_run("signed", "v1").await;
    app.all_events(run).await;
    let mut got = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let (path, headers, body) = calls.recv().await.expect("a call");
        got.insert(path, (headers, body));
    }
    let (headers, body) = &got["signed"];
    let timestamp = headers["x-conveyor-timestamp"].to_str().unwrap();
    let at: i64 = timestamp.parse().expect("unix seconds");
    assert!(at >= before && at <= before + 60, "a current timestamp");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let wanted: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        headers["x-conveyor-signature"].to_str().unwrap(),
        format!("sha256={wanted}")
    );
    let payload: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["event"], "SUCCEEDED");
    assert!(
        !String::from_utf8_lossy(body).contains(&key),
        "the key is not in the call"
    );
    let (plain, _) = &got["plain"];
    assert!(
        plain.get("x-conveyor-signature").is_none(),
        "a hook without a secret is not signed"
    );
    app.stop().await;
}
