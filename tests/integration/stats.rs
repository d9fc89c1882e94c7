//! The dashboard's panel through the API: runs per day, success rate, duration
//! percentiles, the slowest and most often failing steps, over 7/30/90 days, of one
//! pipeline or all; each run counted once (a restart counts nothing twice, and counts the
//! runs an earlier version left uncounted).

use crate::support::{outcome, TestApp};
use conveyor_core::run::RunStatus;
use conveyor_core::stats::DAY_MS;
use serde_json::json;

const PIPELINE: &str = "
name: mix
with: {CODE: '0'}
stages:
  - name: all
    steps:
      - {name: quick, script: 'true'}
      - {name: slow, script: 'sleep 0.3'}
      - {name: check, needs: [slow], script: 'exit $CODE'}
";

async fn run_to_end(app: &TestApp, pipeline: &str, code: &str) -> RunStatus {
    let run = app
        .start_run_with(pipeline, "v1", json!({"CODE": code}))
        .await;
    outcome(&app.all_events(run).await).0
}

#[tokio::test]
async fn the_panel_counts_each_ended_run_once_over_its_window() {
    let app = TestApp::spawn().await;
    app.create_pipeline(PIPELINE).await;
    app.create_pipeline("name: other\nstages: [{name: s, steps: [{name: only, script: 'true'}]}]")
        .await;
    for code in ["0", "1", "0", "1"] {
        let expected = if code == "0" {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        assert_eq!(run_to_end(&app, "mix", code).await, expected);
    }
    assert_eq!(run_to_end(&app, "other", "0").await, RunStatus::Succeeded);

    let today_before = conveyor::store::now_ms().div_euclid(DAY_MS) * DAY_MS;
    let (status, mix) = app.get_json("/api/v1/stats?days=7&pipeline=mix").await;
    let today_after = conveyor::store::now_ms().div_euclid(DAY_MS) * DAY_MS;
    assert_eq!(status, 200, "{mix}");
    assert_eq!(
        (
            &mix["days"],
            &mix["runs"],
            &mix["succeeded"],
            &mix["failed"]
        ),
        (&json!(7), &json!(4), &json!(2), &json!(2)),
        "{mix}"
    );
    assert_eq!(mix["success_rate"], 50);
    let days = mix["per_day"].as_array().expect("per day");
    assert_eq!(days.len(), 7, "every day of the window");
    let last = days[6]["day"].as_i64().expect("day");
    assert!(
        last == today_before || last == today_after,
        "the last day is today"
    );
    // Each run on the day it was created (UTC), nothing on the others.
    let (_, runs) = app.get_json("/api/v1/pipelines/mix/runs").await;
    let mut expected = std::collections::BTreeMap::new();
    for run in runs["runs"].as_array().expect("runs") {
        let day = run["created_at"]
            .as_i64()
            .expect("created")
            .div_euclid(DAY_MS)
            * DAY_MS;
        *expected.entry(day).or_insert(0) += 1;
    }
    for day in days {
        let at = day["day"].as_i64().expect("day");
        assert_eq!(
            day["runs"].as_i64(),
            Some(expected.get(&at).copied().unwrap_or(0)),
            "{day}"
        );
    }
    // Every run sleeps 0.3 s: both percentiles say so (within the buckets' 10 %).
    let p50 = mix["p50_ms"].as_i64().expect("p50");
    let p95 = mix["p95_ms"].as_i64().expect("p95");
    assert!(p50 >= 270 && p50 <= p95 && p95 < 60_000, "{p50} {p95}");
    let slowest = &mix["slowest_steps"][0];
    assert_eq!(
        (&slowest["pipeline"], &slowest["step"]),
        (&json!("mix"), &json!("slow"))
    );
    assert!(
        slowest["mean_ms"].as_i64().is_some_and(|ms| ms >= 290),
        "{slowest}"
    );
    assert_eq!(slowest["runs"], 4);
    assert_eq!(
        mix["failing_steps"],
        json!([{"pipeline": "mix", "step": "check", "runs": 4, "failed": 2,
                "mean_ms": mix["failing_steps"][0]["mean_ms"], "max_ms": mix["failing_steps"][0]["max_ms"]}]),
        "only the step that failed, with its count"
    );

    let (_, all) = app.get_json("/api/v1/stats?days=30").await;
    assert_eq!(
        (&all["days"], &all["runs"]),
        (&json!(30), &json!(5)),
        "{all}"
    );
    let (_, other) = app.get_json("/api/v1/stats?days=90&pipeline=other").await;
    assert_eq!(
        (&other["runs"], &other["success_rate"]),
        (&json!(1), &json!(100))
    );
    assert_eq!(other["per_day"].as_array().map(Vec::len), Some(90));

    // Bad input: its name, or 404.
    for (query, status, path) in [
        ("days=8", 400, Some("days")),
        ("days=week", 400, Some("days")),
        ("pipeline=nope", 404, None),
    ] {
        let (got, body) = app.get_json(&format!("/api/v1/stats?{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["path"].as_str(), path, "{query}: {body}");
    }
    let (got, _) = app.get_json("/api/v1/stats?window=7").await;
    assert_eq!(got, 400, "an unknown parameter");

    // Runs an earlier version ended without counting (inserted as rows here: 1970, day 0)
    // are counted at the next start; what was counted is not counted again.
    let pipeline_id = app
        .service
        .store()
        .pipeline("other")
        .await
        .expect("store")
        .expect("pipeline")
        .0
        .id;
    app.service
        .store()
        .insert_finished_runs(pipeline_id, 60)
        .await
        .expect("rows");
    let data = app.stop_keeping_data().await;
    let app = TestApp::spawn_in(data, |_| {}).await;
    let (_, again) = app.get_json("/api/v1/stats?days=7&pipeline=mix").await;
    assert_eq!(again, mix, "counted once");
    let old = app
        .service
        .store()
        .stats(Some(pipeline_id), 7, 3 * DAY_MS)
        .await
        .expect("stats");
    assert_eq!((old.runs, old.succeeded, old.failed), (60, 40, 20));
    // Each took 1000 ms: the percentile is the middle of its bucket.
    assert!(
        old.p50_ms.is_some_and(|ms| (900..=1100).contains(&ms)),
        "{:?}",
        old.p50_ms
    );

    // Long windows read steps by whole weeks and the days around them: the same counts
    // as the days' (every run has its three steps; the failed ones failed at `test`).
    app.create_pipeline("name: history\nstages: [{name: s, steps: [{name: a, script: 'true'}]}]")
        .await;
    let history = app
        .service
        .store()
        .pipeline("history")
        .await
        .expect("store")
        .expect("pipeline")
        .0
        .id;
    let now = conveyor::store::now_ms();
    let store = app.service.store();
    store
        .insert_history(&[history], 900, 90, now)
        .await
        .expect("history");
    store.count_ended_runs().await.expect("counted");
    for days in [7, 30, 90] {
        let stats = store.stats(Some(history), days, now).await.expect("stats");
        assert!(stats.runs > 0 && stats.failed > 0, "{days}: {stats:?}");
        let mut steps: Vec<(String, i64, i64)> = stats
            .slowest_steps
            .iter()
            .map(|s| (s.step.clone(), s.runs, s.failed))
            .collect();
        steps.sort();
        assert_eq!(
            steps,
            [
                ("build".to_owned(), stats.runs, 0),
                ("checkout".to_owned(), stats.runs, 0),
                ("test".to_owned(), stats.runs, stats.failed)
            ],
            "{days} days"
        );
        assert_eq!(stats.failing_steps.len(), 1);
    }
    app.stop().await;
}
