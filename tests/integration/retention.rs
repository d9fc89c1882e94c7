//! Retention: pruning keeps each pipeline's last runs and/or days, its latest success and
//! whatever is in flight, and takes the pruned runs' records with them.

use conveyor_core::run::{EventBody, StepStatus};
use serde_json::json;

use crate::support::TestApp;

async fn run_with(app: &TestApp, outcome: &str) -> i64 {
    app.start_run_with("kept", "v1", json!({"OUTCOME": outcome}))
        .await
}

#[tokio::test]
async fn pruning_keeps_the_last_runs_the_latest_success_and_what_is_in_flight() {
    let app = TestApp::spawn().await;
    let source = "name: kept\nretention: {runs: 2}\nstages:\n  - name: s\n    steps:\n      - {name: check, script: 'test \"$OUTCOME\" = ok'}\n      - {name: gate, approval: true, script: 'true'}\n";
    app.create_pipeline(source).await;
    // #1 succeeds (its gate approved); #2 and #3 fail; #4 waits at its gate, in flight.
    let first = run_with(&app, "ok").await;
    let mut events = app.events(first, None).await;
    events
        .until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::WaitingApproval, .. } if step == "gate"))
        .await;
    assert_eq!(
        app.post(&format!("/api/v1/runs/{first}/steps/gate/approve"))
            .await,
        202
    );
    events.until_end().await;
    let mut failed = Vec::new();
    for _ in 0..2 {
        let id = run_with(&app, "bad").await;
        app.all_events(id).await;
        failed.push(id);
    }
    let waiting = run_with(&app, "ok").await;
    app.events(waiting, None)
        .await
        .until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::WaitingApproval, .. } if step == "gate"))
        .await;

    let pruning = conveyor::service::Pruning {
        default: None,
        every: std::time::Duration::from_secs(3600),
    };
    assert_eq!(app.service.prune_runs(&pruning).await.expect("prune"), 1);
    // The last two (#3 and the one in flight) by the policy, #1 as the latest success.
    let (_, page) = app.get_json("/api/v1/pipelines/kept/runs").await;
    let ids = crate::support::run_ids(&page);
    assert_eq!(ids, [waiting, failed[1], first]);
    let (status, _) = app.get_json(&format!("/api/v1/runs/{}", failed[0])).await;
    assert_eq!(status, 404, "the pruned run is gone with its record");
    let (_, audit) = app.get_json("/api/v1/audit?action=runs_prune").await;
    assert_eq!(
        audit["entries"][0]["detail"],
        "1 runs pruned by the retention policy"
    );
    // Nothing more to prune; the run in flight is left alone and still ends well.
    assert_eq!(app.service.prune_runs(&pruning).await.expect("prune"), 0);
    assert_eq!(
        app.post(&format!("/api/v1/runs/{waiting}/steps/gate/approve"))
            .await,
        202
    );
    let end = app.all_events(waiting).await;
    assert_eq!(
        crate::support::outcome(&end).0,
        conveyor_core::run::RunStatus::Succeeded
    );
    app.stop().await;
}

#[tokio::test]
async fn the_servers_default_keeps_the_last_days_and_a_policy_of_nothing_is_refused() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        "name: old\nstages:\n  - name: s\n    steps:\n      - {name: a, script: 'true'}\n",
    )
    .await;
    let (row, _) = app
        .service
        .store()
        .pipeline("old")
        .await
        .expect("store")
        .expect("pipeline");
    // 50,000 runs from long ago (1970), a third of them failed, then one of today.
    app.service
        .store()
        .insert_finished_runs(row.id, 50_000)
        .await
        .expect("old runs");
    let today = app.start_run("old", "v1").await;
    app.all_events(today).await;
    let pruning = conveyor::service::Pruning {
        default: Some(conveyor_core::definition::Retention {
            runs: None,
            days: Some(7),
        }),
        every: std::time::Duration::from_secs(3600),
    };
    let database = app.data_dir.path().join("conveyor.db");
    let on_disk = || {
        let wal = app.data_dir.path().join("conveyor.db-wal");
        std::fs::metadata(&database).expect("db").len()
            + std::fs::metadata(wal).map_or(0, |m| m.len())
    };
    let before = on_disk();
    assert_eq!(
        app.service.prune_runs(&pruning).await.expect("prune"),
        50_000
    );
    let (_, page) = app.get_json("/api/v1/pipelines/old/runs").await;
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(1));
    let after = on_disk();
    assert!(
        after * 2 < before,
        "the space is given back: {before} bytes, then {after}"
    );

    for (policy, message) in [
        (
            "{runs: 0}",
            "retention.runs: a retention policy of zero runs would keep none: at least 1",
        ),
        (
            "{days: 0}",
            "retention.days: a retention policy of zero days would keep none: at least 1",
        ),
        (
            "{}",
            "retention: give `runs` (keep the last N) and/or `days` (keep the last D days)",
        ),
    ] {
        let response = app
            .client
            .post(app.url("/api/v1/pipelines"))
            .body(format!("name: none\nretention: {policy}\nstages: [{{name: s, steps: [{{name: a, script: 'true'}}]}}]\n"))
            .send()
            .await
            .expect("create");
        assert_eq!(response.status(), 422);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["message"], message);
    }
    app.stop().await;
}

#[tokio::test]
async fn pruned_tekton_runs_take_their_pipeline_runs_and_task_runs_with_them() {
    let cluster = crate::support::fake_kube::FakeCluster::start().await;
    let app = TestApp::spawn_with(|config| {
        config.engine = conveyor_core::definition::EngineKind::Tekton;
        config.kubeconfig = Some(cluster.kubeconfig.clone());
        config.tekton_namespace = cluster.namespace.clone();
    })
    .await;
    app.create_pipeline("name: kube\nretention: {runs: 1}\nstages:\n  - name: s\n    steps:\n      - {name: a, script: 'echo \"$CONVEYOR_RUN_ID\"'}\n")
        .await;
    let first = app.start_run("kube", "v1").await;
    app.all_events(first).await;
    let second = app.start_run("kube", "v2").await;
    app.all_events(second).await;
    let third = app.start_run("kube", "v3").await;
    app.all_events(third).await;
    let of_run = |resource: &str, run: i64| {
        cluster
            .objects(resource)
            .into_iter()
            .filter(|o| {
                o["metadata"]["labels"]["conveyor.dev/run"]
                    .as_str()
                    .and_then(|v| v.parse::<i64>().ok())
                    == Some(run)
            })
            .count()
    };
    assert_eq!(
        (of_run("pipelineruns", first), of_run("taskruns", first)),
        (1, 1)
    );
    let pruning = conveyor::service::Pruning {
        default: None,
        every: std::time::Duration::from_secs(3600),
    };
    // The last run by the policy, and the latest success (the same run): the two before go.
    assert_eq!(app.service.prune_runs(&pruning).await.expect("prune"), 2);
    for gone in [first, second] {
        assert_eq!(
            (of_run("pipelineruns", gone), of_run("taskruns", gone)),
            (0, 0),
            "run {gone}"
        );
    }
    assert_eq!(
        of_run("pipelineruns", third),
        1,
        "the kept run keeps its objects"
    );
    app.stop().await;
}
