//! Health, readiness and metrics: probes answered whatever name the server is reached by,
//! readiness failing with its reason when the cluster goes away, and the Prometheus
//! counters moving with a run.

use std::time::Duration;

use conveyor_core::definition::EngineKind;
use conveyor_core::run::RunStatus;

use crate::support::fake_kube::FakeCluster;
use crate::support::receiver::receiver;
use crate::support::{client_with, outcome, ClosedPort, TestApp};

/// The value of the sample `name` (with its labels as written) in a metrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

async fn scrape(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    let kind = response.headers()[reqwest::header::CONTENT_TYPE]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    response.text().await.expect("text")
}

#[tokio::test]
async fn probes_answer_by_any_name_and_metrics_need_a_token() {
    let app = TestApp::spawn().await;
    let anonymous = client_with(None);
    // A probe reaches the pod by its address, not the server's public name.
    let health = anonymous
        .get(app.url("/healthz"))
        .header(reqwest::header::HOST, "10.1.2.3:3000")
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.expect("text"), "ok\n");
    let ready = anonymous
        .get(app.url("/readyz"))
        .header(reqwest::header::HOST, "10.1.2.3:3000")
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["ready"], true, "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["database", "migrations", "engine local"]);

    let refused = anonymous
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(refused.status(), 401);
    let wrong = client_with(Some("not-a-token"))
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(wrong.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_with_its_reason_when_the_cluster_does_not_answer() {
    let cluster = FakeCluster::start().await;
    let tekton = |kubeconfig: std::path::PathBuf, namespace: String| {
        move |config: &mut conveyor::config::ServeConfig| {
            config.engine = EngineKind::Tekton;
            config.kubeconfig = Some(kubeconfig);
            config.tekton_namespace = namespace;
        }
    };
    let app = TestApp::spawn_with(tekton(
        cluster.kubeconfig.clone(),
        cluster.namespace.clone(),
    ))
    .await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;

    // The same kubeconfig, pointing at a port nothing listens on.
    let closed_port = ClosedPort::new();
    let closed = closed_port.addr;
    let text = std::fs::read_to_string(&cluster.kubeconfig).expect("kubeconfig");
    let dir = tempfile::tempdir().expect("temp dir");
    let unreachable = dir.path().join("kubeconfig");
    std::fs::write(
        &unreachable,
        text.replace(&cluster.addr.to_string(), &closed.to_string()),
    )
    .expect("write");
    let app = TestApp::spawn_with(tekton(unreachable, cluster.namespace.clone())).await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["ready"], false);
    let check = body["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "engine tekton")
        .expect("the engine's check")
        .clone();
    assert_eq!(check["ok"], false);
    assert!(
        check["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot list PipelineRuns")),
        "{check}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_counters_move_with_a_run() {
    let hooks = receiver(Vec::new()).await;
    let app = TestApp::spawn().await;
    let before = scrape(&app).await;
    assert_eq!(
        sample(&before, "conveyor_runs_started_total{trigger=\"api\"}"),
        None
    );
    app.create_pipeline(&format!(
        "name: counted
stages:
  - name: s
    steps:
      - name: one
        script: seq 1 1000
        webhooks: [{{url: 'http://{}/done', events: [SUCCEEDED]}}]
      - {{name: two, script: 'echo twelve bytes'}}
",
        hooks.addr
    ))
    .await;
    // An open event stream is a live client.
    let changes = app
        .client
        .get(app.url("/api/v1/changes"))
        .send()
        .await
        .expect("changes");
    let run = app.start_run("counted", "v1").await;
    assert_eq!(outcome(&app.all_events(run).await).0, RunStatus::Succeeded);
    let text = scrape(&app).await;
    let value = |name: &str| sample(&text, name).unwrap_or_else(|| panic!("{name} in\n{text}"));
    assert_eq!(value("conveyor_runs_started_total{trigger=\"api\"}"), 1.0);
    assert_eq!(
        value("conveyor_runs_ended_total{status=\"succeeded\",trigger=\"api\"}"),
        1.0
    );
    assert_eq!(
        value("conveyor_run_duration_seconds_count{status=\"succeeded\"}"),
        1.0
    );
    assert_eq!(
        value("conveyor_step_duration_seconds_count{status=\"succeeded\"}"),
        2.0
    );
    // 1000 + 1 lines of the steps' own, and the engine's lines about them.
    assert!(value("conveyor_log_lines_total") >= 1001.0, "{text}");
    assert!(
        value("conveyor_log_bytes_total") >= (2893 + 12) as f64,
        "{text}"
    );
    assert!(value("conveyor_sse_clients") >= 1.0, "{text}");
    assert_eq!(value("conveyor_runs_queued"), 0.0);
    assert!(value("conveyor_database_bytes") > 0.0);
    // The webhook's call is counted once it is made: the service's shutdown waits for the
    // calls in flight (the HTTP server keeps answering).
    app.service.shutdown(Duration::from_secs(60)).await;
    let delivered = sample(
        &scrape(&app).await,
        "conveyor_webhook_calls_total{outcome=\"delivered\"}",
    );
    assert_eq!(delivered, Some(1.0));
    drop(changes);
    app.stop().await;
}

#[tokio::test]
async fn queued_runs_are_counted_and_so_is_a_run_cancelled_before_it_started() {
    let app = TestApp::spawn().await;
    // The first run holds the pipeline until the gate opens; the others wait in its queue.
    let gate = app.data_dir.path().join("gate");
    app.create_pipeline(&format!(
        "name: lined\nstages: [{{name: s, steps: [{{name: a, script: 'until [ -f {} ]; do sleep 0.01; done'}}]}}]\n",
        gate.display()
    ))
    .await;
    let first = app.start_run("lined", "v1").await;
    let second = app.start_run("lined", "v2").await;
    let third = app.start_run("lined", "v3").await;
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "conveyor_runs_queued"), Some(2.0), "{text}");

    assert_eq!(
        app.post(&format!("/api/v1/runs/{second}/cancel")).await,
        202
    );
    assert_eq!(
        outcome(&app.all_events(second).await).0,
        RunStatus::Cancelled
    );
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "conveyor_runs_queued"), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "conveyor_runs_ended_total{status=\"cancelled\",trigger=\"api\"}"
        ),
        Some(1.0),
        "a run cancelled in the queue ended too: {text}"
    );

    std::fs::write(&gate, "go").expect("open the gate");
    for run in [first, third] {
        assert_eq!(outcome(&app.all_events(run).await).0, RunStatus::Succeeded);
    }
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "conveyor_runs_queued"), Some(0.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "conveyor_runs_ended_total{status=\"succeeded\",trigger=\"api\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "conveyor_runs_started_total{trigger=\"api\"}"),
        Some(3.0)
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_says_when_the_database_takes_no_writes_or_lacks_a_migration() {
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    let failed = |body: &serde_json::Value, name: &str| -> String {
        let check = body["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {body}"))
            .clone();
        assert_eq!(check["ok"], false, "{body}");
        check["message"].as_str().expect("why").to_owned()
    };
    let url = format!(
        "sqlite://{}",
        app.data_dir.path().join("conveyor.db").display()
    );
    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("a second connection to the database");

    // Another process holds the write lock: the server cannot write (past its busy wait).
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .expect("lock");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    let why = failed(&body, "database");
    assert!(
        why.contains("takes no writes") && why.contains("locked"),
        "{why}"
    );
    sqlx::query("ROLLBACK")
        .execute(&mut other)
        .await
        .expect("unlock");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");

    // The newest migration is not on record as applied.
    let newest: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut other)
        .await
        .expect("migrations");
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
        .bind(newest)
        .execute(&mut other)
        .await
        .expect("forget one");
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        failed(&body, "migrations"),
        format!("migrations not applied: [{newest}]")
    );
    other.close().await.expect("close");
    app.stop().await;
}
