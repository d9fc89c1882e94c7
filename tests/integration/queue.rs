//! Runs wait their turn: a pipeline's runs start one at a time, in the order they were
//! made, across restarts; a queued run can be cancelled; `cancel-previous` cancels the older
//! runs; `refuse` keeps the old 409.

use conveyor_core::run::{EventBody, StepStatus};
use serde_json::{json, Value};

use crate::support::TestApp;

/// A pipeline whose runs wait at a gate (so they stay in flight until approved).
fn gated(name: &str, concurrency: &str) -> String {
    format!(
        "name: {name}\nconcurrency: {concurrency}\nstages:\n  - name: s\n    steps:\n      \
         - {{name: gate, approval: true, script: 'echo through'}}\n"
    )
}

async fn run_json(app: &TestApp, id: i64) -> Value {
    let (status, body) = app.get_json(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn until_waiting(app: &TestApp, run: i64) {
    app.events(run, None)
        .await
        .until(|e| {
            matches!(
                &e.event.body,
                EventBody::Step {
                    status: StepStatus::WaitingApproval,
                    ..
                }
            )
        })
        .await;
}

async fn approve(app: &TestApp, run: i64) {
    let path = format!("/api/v1/runs/{run}/steps/gate/approve");
    assert_eq!(app.post(&path).await, 202, "approve run {run}");
}

async fn create(app: &TestApp, pipeline: &str) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/pipelines/{pipeline}/runs")))
        .json(&json!({"tag": "v1"}))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

#[tokio::test]
async fn twenty_runs_at_once_run_one_at_a_time_in_order_and_none_is_lost() {
    let app = TestApp::spawn().await;
    // Runs wait for the gate, so the first is still running when the last is asked for.
    let gate = app.data_dir.path().join("gate");
    app.create_pipeline(&format!(
        "name: burst\nstages: [{{name: s, steps: [{{name: a, script: 'until [ -f {} ]; do sleep 0.01; done; echo run'}}]}}]",
        gate.display()
    ))
    .await;
    let starts = (0..20).map(|_| create(&app, "burst"));
    let made: Vec<Value> = futures::future::join_all(starts).await;
    std::fs::write(&gate, "go").expect("open the gate");
    let mut ids: Vec<i64> = made.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(
        made.iter().filter(|r| r["status"] == "queued").count(),
        19,
        "all but the first wait their turn: {made:?}"
    );
    for &id in &ids {
        app.all_events(id).await;
    }
    let mut runs = Vec::new();
    for &id in &ids {
        runs.push(run_json(&app, id).await);
    }
    for (before, after) in runs.iter().zip(runs.iter().skip(1)) {
        assert_eq!(before["status"], "succeeded", "{before}");
        assert!(
            after["number"].as_i64() > before["number"].as_i64(),
            "{before} {after}"
        );
        assert!(
            after["started_at"].as_i64() >= before["finished_at"].as_i64(),
            "run #{} started before run #{} ended",
            after["number"],
            before["number"]
        );
    }
    assert_eq!(runs.last().unwrap()["status"], "succeeded");
    app.stop().await;
}

#[tokio::test]
async fn queued_runs_show_their_place_and_a_cancelled_one_never_starts() {
    let app = TestApp::spawn().await;
    app.create_pipeline(&gated("gated", "queue")).await;
    let first = create(&app, "gated").await["id"].as_i64().unwrap();
    until_waiting(&app, first).await;
    let queued: Vec<i64> = [
        create(&app, "gated").await,
        create(&app, "gated").await,
        create(&app, "gated").await,
    ]
    .iter()
    .map(|r| {
        assert_eq!(r["status"], "queued", "{r}");
        r["id"].as_i64().unwrap()
    })
    .collect();
    for (place, &id) in queued.iter().enumerate() {
        assert_eq!(run_json(&app, id).await["queue_place"], place as i64 + 1);
    }
    let (_, listed) = app.get_json("/api/v1/runs?status=queued").await;
    assert_eq!(listed["runs"].as_array().map(Vec::len), Some(3), "{listed}");

    // The middle one leaves the queue; the one behind it moves up.
    assert_eq!(
        app.post(&format!("/api/v1/runs/{}/cancel", queued[1]))
            .await,
        202
    );
    let cancelled = run_json(&app, queued[1]).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(
        cancelled["message"]
            .as_str()
            .unwrap_or_default()
            .contains("while queued"),
        "{cancelled}"
    );
    assert_eq!(run_json(&app, queued[2]).await["queue_place"], 2);

    // Each approval ends a run and lets the next one start.
    approve(&app, first).await;
    until_waiting(&app, queued[0]).await;
    approve(&app, queued[0]).await;
    until_waiting(&app, queued[2]).await;
    approve(&app, queued[2]).await;
    app.all_events(queued[2]).await;
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{}", queued[1])).await;
    assert_eq!(detail["steps"][0]["status"], "skipped", "{detail}");
    assert!(detail["started_at"].is_null() || detail["steps"][0]["started_at"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_the_queue_in_order() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        "name: slow\nstages: [{name: s, steps: [{name: gate, approval: true, script: 'echo go'}]}]",
    )
    .await;
    let first = create(&app, "slow").await["id"].as_i64().unwrap();
    until_waiting(&app, first).await;
    let second = create(&app, "slow").await["id"].as_i64().unwrap();
    let third = create(&app, "slow").await["id"].as_i64().unwrap();
    let data = app.stop_keeping_data().await;

    let app = TestApp::spawn_in(data, |_| {}).await;
    // The run in flight could not be followed across the restart; the queue moved on.
    let ended = run_json(&app, first).await;
    assert!(
        ["failed", "cancelled"].contains(&ended["status"].as_str().unwrap()),
        "{ended}"
    );
    until_waiting(&app, second).await;
    assert_eq!(run_json(&app, third).await["status"], "queued");
    assert_eq!(run_json(&app, third).await["queue_place"], 1);
    approve(&app, second).await;
    until_waiting(&app, third).await;
    approve(&app, third).await;
    app.all_events(third).await;
    let (second, third) = (run_json(&app, second).await, run_json(&app, third).await);
    assert_eq!(second["status"], "succeeded");
    assert_eq!(third["status"], "succeeded");
    assert!(third["started_at"].as_i64() >= second["finished_at"].as_i64());
    app.stop().await;
}

#[tokio::test]
async fn cancel_previous_cancels_the_older_run_and_refuse_answers_409() {
    let app = TestApp::spawn().await;
    app.create_pipeline(&gated("latest", "cancel-previous"))
        .await;
    let older = create(&app, "latest").await["id"].as_i64().unwrap();
    until_waiting(&app, older).await;
    let newer = create(&app, "latest").await["id"].as_i64().unwrap();
    until_waiting(&app, newer).await;
    let older = run_json(&app, older).await;
    assert_eq!(older["status"], "cancelled", "{older}");
    let (_, audit) = app.get_json("/api/v1/audit?action=run_cancel").await;
    assert!(
        audit.to_string().contains("superseded by run #2"),
        "{audit}"
    );
    approve(&app, newer).await;
    app.all_events(newer).await;
    assert_eq!(run_json(&app, newer).await["status"], "succeeded");

    app.create_pipeline(&gated("strict", "refuse")).await;
    let only = create(&app, "strict").await["id"].as_i64().unwrap();
    until_waiting(&app, only).await;
    let response = app
        .client
        .post(app.url("/api/v1/pipelines/strict/runs"))
        .json(&json!({"tag": "v2"}))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["message"].as_str().unwrap().contains("in flight"),
        "{body}"
    );

    let response = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .body(gated("odd", "sometimes"))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    assert!(body.to_string().contains("concurrency"), "{body}");
    app.stop().await;
}
