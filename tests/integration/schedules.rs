//! Schedules on a clock the test drives: a slot starts one run at its minute, never twice
//! (not even across a restart); slots missed while the server was down run once, unless
//! `catch_up: false`; bad expressions and time zones are refused at their place.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::support::TestApp;

fn pipeline(name: &str, schedule: &str) -> String {
    format!("name: {name}\non: {{schedule: [{schedule}]}}\nstages: [{{name: s, steps: [{{name: t, script: 'echo tick'}}]}}]\n")
}

/// The first ten-minute mark after the real now (the pipelines are saved now, so their
/// schedules start counting from then).
fn next_mark() -> DateTime<Utc> {
    let now = Utc::now().timestamp();
    DateTime::from_timestamp(now - now.rem_euclid(600) + 600, 0).unwrap()
}

async fn runs_of(app: &TestApp, name: &str) -> Vec<Value> {
    let (_, page) = app
        .get_json(&format!("/api/v1/pipelines/{name}/runs"))
        .await;
    page["runs"].as_array().cloned().unwrap_or_default()
}

async fn tick(app: &TestApp, at: DateTime<Utc>) -> Vec<i64> {
    let started = app.service.tick_schedules(at).await.expect("tick");
    for &run in &started {
        app.all_events(run).await;
    }
    started
}

#[tokio::test]
async fn each_slot_starts_one_run_even_across_a_restart_and_missed_ones_catch_up_once() {
    let app = TestApp::spawn_with(|config| config.scheduler = false).await;
    let (mark, detail) = loop {
        let before = next_mark();
        app.create_pipeline(&pipeline("tenly", "{cron: '*/10 * * * *'}"))
            .await;
        app.create_pipeline(&pipeline(
            "strict",
            "{cron: '*/10 * * * *', timezone: Asia/Kolkata, catch_up: false}",
        ))
        .await;
        let (_, detail) = app.get_json("/api/v1/pipelines/tenly").await;
        if next_mark() == before {
            break (before, detail);
        }
        // A ten-minute mark passed while they were saved: again, counting from now.
        for name in ["tenly", "strict"] {
            let url = app.url(&format!("/api/v1/pipelines/{name}"));
            let response = app.client.delete(url).send().await.expect("delete");
            assert!(response.status().is_success(), "{name}");
        }
    };
    assert_eq!(detail["next_runs"][0], mark.timestamp_millis(), "{detail}");
    assert_eq!(detail["next_runs"].as_array().map(Vec::len), Some(3));

    assert!(tick(&app, mark - Duration::seconds(30)).await.is_empty());
    assert_eq!(tick(&app, mark + Duration::seconds(5)).await.len(), 2);
    assert!(tick(&app, mark + Duration::seconds(40)).await.is_empty());
    let runs = runs_of(&app, "tenly").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["trigger"], "schedule");
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(
        runs[0]["tag"],
        format!("scheduled-{}", mark.format("%Y%m%d%H%M"))
    );

    // A restart within the same minute starts nothing again.
    let data = app.stop_keeping_data().await;
    let app = TestApp::spawn_in(data, |config| config.scheduler = false).await;
    assert!(tick(&app, mark + Duration::seconds(50)).await.is_empty());

    // Down for 35 minutes: three slots missed; `tenly` catches up once, `strict` waits for
    // its next slot on time.
    let back = mark + Duration::minutes(35);
    let started = tick(&app, back).await;
    assert_eq!(started.len(), 1);
    assert_eq!(runs_of(&app, "tenly").await.len(), 2);
    assert_eq!(runs_of(&app, "strict").await.len(), 1);
    let on_time = mark + Duration::minutes(40) + Duration::seconds(3);
    assert_eq!(tick(&app, on_time).await.len(), 2);
    assert_eq!(runs_of(&app, "strict").await.len(), 2);

    let response = app
        .client
        .post(app.url("/api/v1/pipelines"))
        .body(pipeline(
            "odd",
            "{cron: '61 * * * *'}, {cron: '0 3 * * *', timezone: Mars/Base}",
        ))
        .send()
        .await
        .expect("create");
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.expect("json");
    let places: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(places, ["on.schedule[0]", "on.schedule[1]"], "{body}");
    app.stop().await;
}
