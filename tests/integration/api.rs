//! The REST API and the event stream over real HTTP on 127.0.0.1:0, each test with its
//! own SQLite file.

use crate::support::{outcome, TestApp};
use conveyor_core::dto::RunsQuery;
use conveyor_core::run::{EventBody, RunStatus, StepStatus, Trigger};
use serde_json::{json, Value};

const PIPELINE: &str = "
# A comment that must survive storage.
name: web
description: Builds the web app
stages:
  - name: build
    steps:
      - name: compile
        script: |
          echo compiling $CONVEYOR_TAG
          echo done
  - name: release
    steps:
      - {name: gate, approval: true, script: 'echo gate passed'}
";

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.expect("a JSON body");
    (status, body)
}

#[tokio::test]
async fn create_run_and_stream_to_the_end_then_resume_anywhere() {
    let app = TestApp::spawn().await;
    let created = app.create_pipeline(PIPELINE).await;
    assert_eq!(created["version"], 1);
    assert!(created["source"]
        .as_str()
        .expect("source")
        .contains("# A comment that must survive storage."));
    assert_eq!(created["plan"]["groups"], json!([[0], [1]]));

    let run = app.start_run("web", "v1.2.3").await;
    let mut stream = app.events(run, None).await;
    let head = stream
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
    // Drop the connection mid-run, approve, and resume from the last id seen.
    drop(stream);
    let last_seen = head.last().expect("events").id;
    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/steps/gate/approve"))
            .await,
        202
    );
    let tail = app.events(run, Some(last_seen)).await.until_end().await;
    assert_eq!(
        tail.first().expect("tail").id,
        last_seen + 1,
        "resume has no gap"
    );

    // A replay of the finished run equals what the two connections saw together.
    let full = app.all_events(run).await;
    let joined: Vec<_> = head.iter().chain(tail.iter()).cloned().collect();
    assert_eq!(full, joined, "no duplicate and no gap across the reconnect");
    assert_eq!(
        full.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=full.len() as i64).collect::<Vec<_>>()
    );
    assert_eq!(full.last().expect("end").name, "end");
    let logs: Vec<&str> = full
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Log { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logs, ["compiling v1.2.3", "done", "gate passed"]);

    // Resuming from the middle of a finished run gives exactly the rest.
    for cut in [1, full.len() as i64 / 2, full.len() as i64 - 1] {
        let rest = app.events(run, Some(cut)).await.until_end().await;
        assert_eq!(rest, full[cut as usize..].to_vec(), "resume after {cut}");
    }
    // `?after=` works like Last-Event-ID for clients that cannot set headers.
    let response = app
        .client
        .get(app.url(&format!(
            "/api/v1/runs/{run}/events?after={}",
            full.len() - 1
        )))
        .send()
        .await
        .expect("get");
    assert!(response.text().await.expect("text").contains("event: end"));

    let (status, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(status, 200);
    assert_eq!(detail["status"], "succeeded");
    assert_eq!(detail["tag"], "v1.2.3");
    assert_eq!(detail["number"], 1);
    assert!(
        detail["finished_at"].as_i64().expect("finished")
            >= detail["started_at"].as_i64().expect("started")
    );
    assert_eq!(detail["steps"][1]["needs"], json!(["compile"]));
    app.stop().await;
}

#[tokio::test]
async fn a_live_follower_sees_events_as_they_happen() {
    let app = TestApp::spawn().await;
    app.create_pipeline(PIPELINE).await;
    let run = app.start_run("web", "v1").await;
    let mut stream = app.events(run, None).await;
    // The gate holds the run open: these events can only come from the live stream
    // if the follower stays connected while we act.
    stream
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
    app.post(&format!("/api/v1/runs/{run}/steps/gate/approve"))
        .await;
    let rest = stream.until_end().await;
    assert!(rest
        .iter()
        .any(|e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "gate passed")));
    app.stop().await;
}

#[tokio::test]
async fn seed_000_one_run_in_flight_per_pipeline() {
    let app = TestApp::spawn().await;
    // Seed 000's rule, as `concurrency: refuse` keeps it (runs queue by default).
    app.create_pipeline(&PIPELINE.replace("name: web\n", "name: web\nconcurrency: refuse\n"))
        .await;
    let first = app.start_run("web", "v1").await;
    let response = app
        .client
        .post(app.url("/api/v1/pipelines/web/runs"))
        .json(&json!({"tag": "v2"}))
        .send()
        .await
        .expect("post");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"], "conflict");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.starts_with("pipeline \"web\" already has a run in flight (#1, "),
        "{message}"
    );

    // Deleting runs or the pipeline is refused while a run is in flight.
    let (status, _) = json_of(
        app.client
            .delete(app.url("/api/v1/pipelines/web/runs"))
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = json_of(
        app.client
            .delete(app.url("/api/v1/pipelines/web"))
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!(status, 409);

    app.post(&format!("/api/v1/runs/{first}/cancel")).await;
    app.events(first, None).await.until_end().await;
    let second = app.start_run("web", "v2").await;
    assert!(second > first);
    app.post(&format!("/api/v1/runs/{second}/cancel")).await;
    app.events(second, None).await.until_end().await;

    // Seed 000's emptytask: all runs of the pipeline go.
    let (status, body) = json_of(
        app.client
            .delete(app.url("/api/v1/pipelines/web/runs"))
            .send()
            .await
            .expect("delete"),
    )
    .await;
    assert_eq!((status, body["deleted"].as_i64()), (200, Some(2)));
    let (_, page) = app.get_json("/api/v1/pipelines/web/runs").await;
    assert_eq!(page["runs"], json!([]));
    let (status, _) = app.get_json(&format!("/api/v1/runs/{first}")).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn every_saved_version_is_kept_and_runs_record_theirs() {
    let app = TestApp::spawn().await;
    app.create_pipeline("name: v\nstages: [{name: s, steps: [{name: a, script: 'echo one'}]}]")
        .await;
    let updated = app
        .client
        .put(app.url("/api/v1/pipelines/v"))
        .body("name: v\nstages: [{name: s, steps: [{name: a, script: 'echo two'}]}]")
        .send()
        .await
        .expect("put");
    let (status, body) = json_of(updated).await;
    assert_eq!((status, body["version"].as_i64()), (200, Some(2)));
    let run = app.start_run("v", "t").await;
    let events = app.all_events(run).await;
    assert!(events
        .iter()
        .any(|e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "two")));
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["version"], 2);

    let (_, versions) = app.get_json("/api/v1/pipelines/v/versions").await;
    let numbers: Vec<i64> = versions
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["version"].as_i64().expect("n"))
        .collect();
    assert_eq!(numbers, [2, 1]);
    let (status, first) = app.get_json("/api/v1/pipelines/v/versions/1").await;
    assert_eq!(status, 200);
    assert!(first["source"]
        .as_str()
        .expect("source")
        .contains("echo one"));
    let (status, _) = app.get_json("/api/v1/pipelines/v/versions/9").await;
    assert_eq!(status, 404);

    let (status, body) = json_of(
        app.client
            .put(app.url("/api/v1/pipelines/v"))
            .body("name: other\nstages: [{name: s, steps: [{name: a, script: x}]}]")
            .send()
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["path"], "name");
    assert_eq!(
        body["message"],
        "name: a pipeline's name cannot change: this is \"v\", the document says \"other\""
    );

    let (status, versions_after) = app.get_json("/api/v1/pipelines/v/versions").await;
    assert_eq!(status, 200);
    assert_eq!(
        versions_after.as_array().expect("array").len(),
        2,
        "a refused save writes nothing"
    );
    app.stop().await;
}

/// The version diff and the re-run the pages offer are service use cases, reachable from
/// REST as well.
#[tokio::test]
async fn version_diffs_and_re_runs_are_reachable_from_rest() {
    let app = TestApp::spawn().await;
    app.create_pipeline("name: v\nstages: [{name: s, steps: [{name: a, script: 'echo one'}]}]")
        .await;
    let put = app
        .client
        .put(app.url("/api/v1/pipelines/v"))
        .body("name: v\nstages: [{name: s, steps: [{name: a, script: 'echo two'}]}]")
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);

    let (status, diff) = app.get_json("/api/v1/pipelines/v/diff").await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(
        (diff["from"].as_i64(), diff["to"].as_i64()),
        (Some(1), Some(2))
    );
    let changed: Vec<(String, String)> = diff["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["kind"] != "same")
        .map(|l| {
            (
                l["kind"].as_str().unwrap_or_default().to_owned(),
                l["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            (
                "removed".to_owned(),
                "stages: [{name: s, steps: [{name: a, script: 'echo one'}]}]".to_owned()
            ),
            (
                "added".to_owned(),
                "stages: [{name: s, steps: [{name: a, script: 'echo two'}]}]".to_owned()
            ),
        ]
    );
    let (status, same) = app.get_json("/api/v1/pipelines/v/diff?from=2&to=2").await;
    assert_eq!(status, 200);
    assert!(same["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .all(|l| l["kind"] == "same"));
    let (status, body) = app.get_json("/api/v1/pipelines/v/diff?from=1&to=9").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    assert_eq!(body["message"], "pipeline \"v\" has no version 9");
    let (status, body) = app.get_json("/api/v1/pipelines/v/diff?to=7").await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"], "pipeline \"v\" has no version 7",
        "the one asked for"
    );

    let first = app
        .client
        .post(app.url("/api/v1/pipelines/v/runs"))
        .json(&json!({"tag": "v7", "params": {"ENV": "staging"}}))
        .send()
        .await
        .expect("run");
    let (status, first) = json_of(first).await;
    assert_eq!(status, 201, "{first}");
    let first = first["id"].as_i64().expect("id");
    app.all_events(first).await;
    let (status, again) = json_of(
        app.client
            .post(app.url(&format!("/api/v1/runs/{first}/rerun")))
            .send()
            .await
            .expect("rerun"),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        (again["tag"].as_str(), again["trigger"].as_str()),
        (Some("v7"), Some("rerun"))
    );
    let again = again["id"].as_i64().expect("id");
    assert_ne!(again, first);
    assert_eq!(
        outcome(&app.all_events(again).await).0,
        RunStatus::Succeeded
    );
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{again}")).await;
    assert_eq!(detail["params"], json!({"ENV": "staging"}));
    let status = app.post("/api/v1/runs/999/rerun").await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn keyset_pages_walk_the_history_without_overlap() {
    let app = TestApp::spawn().await;
    app.create_pipeline("name: many\nstages: [{name: s, steps: [{name: a, script: x}]}]")
        .await;
    app.create_pipeline("name: other\nstages: [{name: s, steps: [{name: a, script: x}]}]")
        .await;
    app.service
        .store()
        .insert_finished_runs(1, 60)
        .await
        .expect("insert");
    app.service
        .store()
        .insert_finished_runs(2, 5)
        .await
        .expect("insert");

    let mut seen = Vec::new();
    let mut pages: Vec<(Vec<i64>, Option<i64>)> = Vec::new();
    let mut url = app.url("/api/v1/pipelines/many/runs?limit=25");
    loop {
        let (status, page) = json_of(app.client.get(&url).send().await.expect("get")).await;
        assert_eq!(status, 200);
        let ids = crate::support::run_ids(&page);
        assert!(page["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["pipeline"] == "many"));
        seen.extend(ids.clone());
        pages.push((ids, page["next_after"].as_i64()));
        match page["next_before"].as_i64() {
            Some(before) => {
                url = app.url(&format!(
                    "/api/v1/pipelines/many/runs?limit=25&before={before}"
                ))
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 60);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );
    // Back the other way: each page's `next_after` gives the page before it, exactly.
    assert_eq!(pages.len(), 3);
    assert_eq!(pages[0].1, None, "nothing newer than the first page");
    for at in (1..pages.len()).rev() {
        let after = pages[at].1.expect("a newer page");
        let (status, page) = app
            .get_json(&format!(
                "/api/v1/pipelines/many/runs?limit=25&after={after}"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        let ids = crate::support::run_ids(&page);
        assert_eq!(
            ids,
            pages[at - 1].0,
            "newest first, the same page as before"
        );
        assert_eq!(page["next_after"].as_i64(), pages[at - 1].1);
        assert_eq!(
            page["next_before"].as_i64(),
            pages[at - 1].0.last().copied(),
            "and older again from there"
        );
    }
    let (status, body) = app
        .get_json("/api/v1/pipelines/many/runs?before=10&after=5")
        .await;
    assert_eq!(
        (status, body["path"].as_str()),
        (422, Some("after")),
        "{body}"
    );

    let (_, failed) = app.get_json("/api/v1/runs?status=failed&limit=500").await;
    let failed = failed["runs"].as_array().expect("runs");
    assert_eq!(failed.len(), 20 + 1, "every third run of 60, plus one of 5");
    assert!(failed.iter().all(|r| r["status"] == "failed"));

    let (_, list) = app.get_json("/api/v1/pipelines").await;
    assert_eq!(list[0]["name"], "many");
    assert_eq!(list[0]["latest_run"]["number"], 60);
    app.stop().await;
}

#[tokio::test]
async fn every_error_path_answers_4xx_with_a_json_message() {
    let app = TestApp::spawn().await;
    app.create_pipeline(PIPELINE).await;
    let oversized = format!(
        "name: big\ndescription: '{}'\nstages: []",
        "x".repeat(2 * 1024 * 1024)
    );
    let cases: Vec<(reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        (
            app.client.post(app.url("/api/v1/pipelines")).body(PIPELINE),
            409,
            "conflict",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines"))
                .body("name: x\nstages: [{name: s, steps: [{name: a, needs: [b], script: c}]}]"),
            422,
            "invalid",
            Some("stages[0].steps[0].needs"),
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines"))
                .body("name: [unclosed"),
            422,
            "invalid",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines"))
                .body(oversized),
            413,
            "payload_too_large",
            None,
        ),
        // Definitions come labelled as YAML or JSON: what another site's page could send
        // (text/plain, a form) or a body said to be nothing is refused before it is read.
        (
            app.client
                .post(app.url("/api/v1/pipelines"))
                .header("content-type", "text/plain")
                .body(PIPELINE.replace("web", "plain")),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            app.client
                .put(app.url("/api/v1/pipelines/web"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(PIPELINE),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/validate"))
                .header("content-type", "multipart/form-data; boundary=x")
                .body(PIPELINE),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/workflows"))
                .header("content-type", "text/plain; charset=utf-8")
                .body(PIPELINE),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines"))
                .header("content-type", "application/json; charset=utf-8")
                .body("{\"name\": \"j\"}"),
            422,
            "invalid",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines"))
                .body(vec![0xff, 0xfe, 0x00]),
            400,
            "bad_request",
            None,
        ),
        (
            app.client.get(app.url("/api/v1/pipelines/nope")),
            404,
            "not_found",
            None,
        ),
        (
            app.client
                .put(app.url("/api/v1/pipelines/nope"))
                .body(PIPELINE),
            404,
            "not_found",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines/nope/runs"))
                .json(&json!({"tag": "v1"})),
            404,
            "not_found",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines/web/runs"))
                .json(&json!({"tag": "bad tag"})),
            422,
            "invalid",
            Some("tag"),
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines/web/runs"))
                .json(&json!({"tag": "v1", "extra": 1})),
            422,
            "invalid",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines/web/runs"))
                .json(&json!({"tag": "v1", "params": {"1x": "y"}})),
            422,
            "invalid",
            Some("params"),
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines/web/runs"))
                .header("content-type", "application/json")
                .body("{"),
            400,
            "bad_request",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/pipelines/web/runs"))
                .body("tag=v1"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            app.client.get(app.url("/api/v1/runs/12345")),
            404,
            "not_found",
            None,
        ),
        (
            app.client.get(app.url("/api/v1/runs/abc")),
            400,
            "bad_request",
            None,
        ),
        (
            app.client.get(app.url("/api/v1/runs?status=nope")),
            400,
            "bad_request",
            Some("status"),
        ),
        (
            app.client.get(app.url("/api/v1/runs?bogus=1")),
            400,
            "bad_request",
            None,
        ),
        (
            app.client.get(app.url("/api/v1/runs/12345/events")),
            404,
            "not_found",
            None,
        ),
        (
            app.client.get(app.url("/api/v1/runs/12345/log")),
            404,
            "not_found",
            None,
        ),
        (
            app.client.post(app.url("/api/v1/runs/12345/cancel")),
            404,
            "not_found",
            None,
        ),
        (
            app.client
                .post(app.url("/api/v1/runs/12345/steps/x/approve")),
            404,
            "not_found",
            None,
        ),
        (
            app.client.get(app.url("/api/v1/no-such-route")),
            404,
            "not_found",
            None,
        ),
    ];
    for (request, status, error, path) in cases {
        let request = request.build().expect("request");
        let what = format!("{} {}", request.method(), request.url());
        let response = app.client.execute(request).await.expect("response");
        assert_eq!(response.status().as_u16(), status, "{what}");
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|err| panic!("{what}: body is not JSON: {err}"));
        assert_eq!(body["error"], error, "{what}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        if let Some(path) = path {
            assert_eq!(body["path"], path, "{what}: {body}");
        }
    }
    assert_eq!(
        app.get_json("/api/v1/pipelines/plain").await.0,
        404,
        "a refused body saves nothing"
    );
    let run = app.start_run("web", "v1").await;
    let (status, body) = json_of(
        app.client
            .get(app.url(&format!("/api/v1/runs/{run}/events")))
            .header("Last-Event-ID", "x")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body["path"].as_str()),
        (400, Some("Last-Event-ID"))
    );
    let (status, body) = json_of(
        app.client
            .post(app.url(&format!("/api/v1/runs/{run}/steps/ghost/approve")))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            404,
            Some(format!("run {run} has no step \"ghost\"").as_str())
        )
    );
    let (status, _) = app
        .get_json(&format!("/api/v1/runs/{run}/log?step=ghost"))
        .await;
    assert_eq!(status, 404);
    app.post(&format!("/api/v1/runs/{run}/cancel")).await;
    app.events(run, None).await.until_end().await;

    let (_, list) = app.get_json("/api/v1/pipelines").await;
    assert_eq!(
        list.as_array().expect("array").len(),
        1,
        "no refused request wrote a pipeline"
    );
    app.stop().await;
}

#[tokio::test]
async fn validate_reports_problems_and_the_plan() {
    let app = TestApp::spawn().await;
    let (status, body) = json_of(
        app.client
            .post(app.url("/api/v1/validate"))
            .body(PIPELINE)
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], true);
    assert_eq!(body["plan"]["stages"][1]["name"], "release");
    let (status, body) = json_of(
        app.client
            .post(app.url("/api/v1/validate"))
            .body("name: x\nstages: [{name: s, steps: [{name: a, script: b, timeout: soon}]}]")
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["valid"], false);
    assert_eq!(body["problems"][0]["path"], "stages[0].steps[0].timeout");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/pipelines",
        "/api/v1/pipelines/{name}",
        "/api/v1/pipelines/{name}/versions",
        "/api/v1/pipelines/{name}/versions/{version}",
        "/api/v1/pipelines/{name}/runs",
        "/api/v1/validate",
        "/api/v1/runs",
        "/api/v1/runs/{id}",
        "/api/v1/runs/{id}/cancel",
        "/api/v1/runs/{id}/rerun",
        "/api/v1/runs/{id}/retry",
        "/api/v1/pipelines/{name}/diff",
        "/api/v1/runs/{id}/steps/{step}/approve",
        "/api/v1/runs/{id}/steps/{step}/refuse",
        "/api/v1/runs/{id}/log",
        "/api/v1/runs/{id}/events",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    for schema in [
        "PipelineDetail",
        "RunSummary",
        "RunEvent",
        "ErrorBody",
        "CreateRun",
        "Pipeline",
        "Step",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "schema {schema} missing"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn pages_render_on_the_server() {
    let app = TestApp::spawn().await;
    app.create_pipeline(PIPELINE).await;
    let run = app.start_run("web", "v9").await;
    app.post(&format!("/api/v1/runs/{run}/cancel")).await;
    app.events(run, None).await.until_end().await;
    let page = |path: &str| {
        let url = app.url(path);
        let client = app.client.clone();
        async move {
            let response = client.get(&url).send().await.expect("page");
            assert_eq!(response.status(), 200, "{url}");
            response.text().await.expect("html")
        }
    };
    let home = page("/").await;
    assert!(
        home.contains(r#"<a href="/pipelines/web">web"#),
        "pipeline listed: {home}"
    );
    assert!(home.contains("Builds the web app"));
    let editor = page("/pipelines/web").await;
    assert!(
        editor.contains("# A comment that must survive storage."),
        "source in the editor"
    );
    assert!(editor.contains(r#"class="stage-graph""#), "graph rendered");
    assert!(editor.contains(r#"data-step="gate""#));
    assert!(editor.contains(r#"id="run-button""#));
    let run_page = page(&format!("/runs/{run}")).await;
    assert!(run_page.contains(r#"data-step="compile""#));
    assert!(run_page.contains("cancelled"));
    let history = page("/history").await;
    assert!(history.contains("web #1"));
    assert!(history.contains("v9"));
    app.stop().await;
}

#[tokio::test]
async fn runs_left_in_flight_by_a_crash_are_settled_at_start() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let path = data_dir.path().join("conveyor.db");
    {
        // A "previous process": a run recorded as started, then the process died.
        let store = conveyor::store::Store::open(&path).await.expect("store");
        let (pipeline, plan) = conveyor_core::document::check_document(PIPELINE).expect("valid");
        let (definition, plan_json) = (
            serde_json::to_string(&pipeline).expect("json"),
            serde_json::to_string(&plan).expect("json"),
        );
        let first = conveyor::store::NewVersion {
            description: None,
            source: PIPELINE,
            definition: &definition,
            plan: &plan_json,
            repository: None,
            scheduled: false,
            watching: false,
            actions: &[],
        };
        let row = store
            .create_pipeline("web", &first, None)
            .await
            .expect("pipeline");
        let steps: Vec<conveyor::store::NewStep> = plan
            .steps
            .iter()
            .map(|s| conveyor::store::NewStep {
                stage: "s".into(),
                name: s.name.clone(),
                needs: vec![],
                approval: false,
                reused: None,
            })
            .collect();
        let resolved = conveyor_core::resolve::ResolvedRun::resolve(
            &pipeline,
            plan,
            "v1",
            &Default::default(),
        );
        let run = conveyor::store::NewRun {
            pipeline_id: row.id,
            version: 1,
            tag: "v1",
            params: &Default::default(),
            engine: conveyor_core::definition::EngineKind::Local,
            trigger: Trigger::Api,
            started_by: None,
            resolved: &serde_json::to_string(&resolved).expect("json"),
            concurrency: conveyor_core::definition::Concurrency::Refuse,
            commit: None,
            release_plan: None,
        };
        store.create_run(&run, &steps).await.expect("run");
        store.close().await;
    }
    let dir = data_dir.path().to_path_buf();
    let app = TestApp::spawn_with(move |config| config.data_dir = dir).await;
    let events = app.all_events(1).await;
    match &events.last().expect("end").event.body {
        EventBody::Run { status, message } => {
            assert_eq!(*status, RunStatus::Failed);
            assert_eq!(
                message.as_deref(),
                Some("the server stopped while this run was in flight")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(events.iter().any(|e| matches!(
        &e.event.body,
        EventBody::Step {
            status: StepStatus::Skipped,
            ..
        }
    )));
    // The pipeline can run again.
    app.start_run("web", "v2").await;
    app.stop().await;
}

#[tokio::test]
async fn run_listings_use_indices() {
    let app = TestApp::spawn().await;
    let store = app.service.store();
    let query = |f: fn(&mut RunsQuery)| {
        let mut query = RunsQuery {
            limit: Some(25),
            ..Default::default()
        };
        f(&mut query);
        query
    };
    for (pipeline, query) in [
        (None, query(|_| {})),
        (Some(1), query(|q| q.before = Some(500))),
        (
            None,
            query(|q| (q.status, q.before) = (Some(RunStatus::Failed), Some(500))),
        ),
        (Some(1), query(|q| q.status = Some(RunStatus::Failed))),
        (
            None,
            query(|q| (q.tag, q.before) = (Some("v1".into()), Some(500))),
        ),
        (Some(1), query(|q| q.tag = Some("v1".into()))),
        (
            None,
            query(|q| (q.since, q.until) = (Some("1970-01-01".into()), Some("9999-12-31".into()))),
        ),
        (
            None,
            query(|q| (q.trigger, q.before) = (Some(Trigger::Rerun), Some(500))),
        ),
        (Some(1), query(|q| q.trigger = Some(Trigger::Ui))),
    ] {
        let plan = store
            .explain_runs(pipeline, &query)
            .await
            .expect("explain")
            .join(" | ");
        // No sort step: rows come in id order (rowid or index) and LIMIT stops the read.
        assert!(
            !plan.contains("TEMP B-TREE"),
            "sorting without an index: {plan}"
        );
        if pipeline.is_some()
            || query.status.is_some()
            || query.tag.is_some()
            || query.trigger.is_some()
        {
            assert!(
                plan.contains("USING INDEX") || plan.contains("USING COVERING INDEX"),
                "{pipeline:?} {query:?}: {plan}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_pipeline_that_asks_for_an_engine_the_server_lacks_is_refused_at_run_time() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        "name: local-one\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]",
    )
    .await;
    app.create_pipeline("name: cluster-one\nengine: tekton\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]").await;
    let (_, local) = app.get_json("/api/v1/pipelines/local-one").await;
    let (_, cluster) = app.get_json("/api/v1/pipelines/cluster-one").await;
    assert_eq!(local["engine"], "local", "the server's default: {local}");
    assert_eq!(cluster["engine"], "tekton", "its own choice");

    let response = app
        .client
        .post(app.url("/api/v1/pipelines/cluster-one/runs"))
        .json(&json!({"tag": "v1"}))
        .send()
        .await
        .expect("request");
    let (status, body) = json_of(response).await;
    assert_eq!(status, 422);
    let message = body["message"].as_str().expect("message");
    assert!(message.starts_with("engine: pipeline \"cluster-one\" asks for the tekton engine, which this server does not have (it has: local)"), "{message}");
    let (_, runs) = app.get_json("/api/v1/pipelines/cluster-one/runs").await;
    assert_eq!(
        runs["runs"],
        json!([]),
        "nothing recorded for a refused run"
    );

    let run = app.start_run("local-one", "v1").await;
    let events = app.all_events(run).await;
    assert!(matches!(
        events.last().map(|e| &e.event.body),
        Some(conveyor_core::run::EventBody::Run {
            status: conveyor_core::run::RunStatus::Succeeded,
            ..
        })
    ));
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["engine"], "local");
    app.stop().await;
}

#[tokio::test]
async fn history_filters_by_tag_and_date_and_refuses_bad_ones() {
    let app = TestApp::spawn().await;
    app.create_pipeline("name: web\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]")
        .await;
    for tag in ["v1", "v2", "v1"] {
        let run = app.start_run("web", tag).await;
        app.all_events(run).await;
    }
    let (status, page) = app.get_json("/api/v1/runs?tag=v1").await;
    assert_eq!(status, 200);
    let numbers: Vec<i64> = page["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["number"].as_i64().expect("n"))
        .collect();
    assert_eq!(numbers, [3, 1], "only v1, newest first");
    let (_, page) = app.get_json("/api/v1/pipelines/web/runs?tag=v2").await;
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(1));

    // From the day of the first run to today (UTC midnight may pass in between).
    let (_, all) = app.get_json("/api/v1/runs").await;
    let first_made = all["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(|r| r["created_at"].as_i64())
        .min()
        .expect("a run");
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .expect("a time")
            .format("%Y-%m-%d")
            .to_string()
    };
    let (since, until) = (day(first_made), day(chrono::Utc::now().timestamp_millis()));
    let (_, page) = app
        .get_json(&format!("/api/v1/runs?since={since}&until={until}"))
        .await;
    assert_eq!(
        page["runs"].as_array().map(Vec::len),
        Some(3),
        "all were made in those days"
    );
    let (_, page) = app.get_json("/api/v1/runs?until=2000-01-01").await;
    assert_eq!(page["runs"], json!([]), "none that old");
    let (_, page) = app.get_json("/api/v1/runs?since=2999-01-01").await;
    assert_eq!(page["runs"], json!([]));

    let (status, body) = app.get_json("/api/v1/runs?since=yesterday").await;
    assert_eq!(
        (status, body["path"].as_str()),
        (422, Some("since")),
        "{body}"
    );
    assert_eq!(
        body["message"],
        "since: \"yesterday\" is not a date like 2026-11-21"
    );
    let (status, body) = app.get_json("/api/v1/runs?tag=bad%20tag").await;
    assert_eq!(
        (status, body["path"].as_str()),
        (422, Some("tag")),
        "{body}"
    );

    // Runs started through the API say so, and the trigger filters them.
    let (_, page) = app.get_json("/api/v1/runs?trigger=api").await;
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(3));
    assert!(
        page["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .all(|r| r["trigger"] == "api"),
        "{page}"
    );
    let (_, page) = app
        .get_json("/api/v1/pipelines/web/runs?trigger=rerun")
        .await;
    assert_eq!(page["runs"], json!([]));
    let (status, body) = app.get_json("/api/v1/runs?trigger=cron").await;
    assert_eq!(
        (status, body["path"].as_str()),
        (400, Some("trigger")),
        "{body}"
    );
    assert_eq!(
        body["message"],
        "unknown trigger \"cron\"; expected one of: ui, api, rerun, push, pull_request, schedule, kubernetes, rollback"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_change_feed_tells_of_each_run_and_ends_at_shutdown() {
    use futures::StreamExt;

    let app = TestApp::spawn().await;
    app.create_pipeline("name: web\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]")
        .await;
    let response = app
        .client
        .get(app.url("/api/v1/changes"))
        .send()
        .await
        .expect("feed");
    assert_eq!(response.status(), 200);
    let mut feed = response.bytes_stream();
    let mut seen = String::new();
    // Read until `wanted` shows up in the feed.
    async fn read_until(
        feed: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
        seen: &mut String,
        wanted: &str,
    ) {
        while !seen.contains(wanted) {
            let chunk = feed.next().await.expect("feed open").expect("chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    read_until(&mut feed, &mut seen, "event: ready").await;
    let run = app.start_run("web", "v1").await;
    read_until(&mut feed, &mut seen, r#""status":"succeeded""#).await;
    // … to the end of that event.
    let at = seen.find(r#""status":"succeeded""#).expect("seen");
    while !seen[at..].contains("\n\n") {
        let chunk = feed.next().await.expect("feed open").expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Whole events only: what follows the last blank line may be one still on its way.
    let whole = &seen[..seen.rfind("\n\n").expect("a whole event")];
    let events: Vec<serde_json::Value> = whole
        .split("\n\n")
        .filter(|block| block.contains("event: run"))
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| serde_json::from_str(data).expect("run summary"))
        .collect();
    assert!(
        events
            .iter()
            .all(|e| e["id"] == run && e["pipeline"] == "web" && e["trigger"] == "api"),
        "{events:?}"
    );
    let statuses: Vec<&str> = events.iter().filter_map(|e| e["status"].as_str()).collect();
    // Each change is read from the store when sent, so fast changes may arrive merged.
    assert_eq!(statuses.last(), Some(&"succeeded"), "{statuses:?}");
    // An open feed does not hold the server up: it ends when the server stops.
    tokio::time::timeout(std::time::Duration::from_secs(20), app.stop())
        .await
        .expect("the server stops with a feed open");
    // What was already on its way may still arrive; then the stream ends.
    let drained = async { while let Some(Ok(_)) = feed.next().await {} };
    tokio::time::timeout(std::time::Duration::from_secs(5), drained)
        .await
        .expect("the feed ends");
}

/// The site's assets go out precompressed to browsers that accept it: brotli first, then
/// gzip, and the plain file to the rest (or when no compressed sibling exists).
#[tokio::test]
async fn assets_go_out_precompressed_when_the_browser_accepts_it() {
    let site = tempfile::tempdir().expect("site dir");
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg dir");
    // The server does not look inside: distinct bytes tell which file went out.
    std::fs::write(pkg.join("app.wasm"), b"plain wasm").expect("write");
    std::fs::write(pkg.join("app.wasm.gz"), b"gzip wasm").expect("write");
    std::fs::write(pkg.join("app.wasm.br"), b"brotli wasm").expect("write");
    std::fs::write(pkg.join("only.js"), b"plain js").expect("write");
    let root = site.path().to_path_buf();
    let app = TestApp::spawn_with(move |config| config.site_root = root).await;

    let get = |path: &'static str, accept: Option<&'static str>| {
        let mut request = app.client.get(app.url(path));
        if let Some(accept) = accept {
            request = request.header("accept-encoding", accept);
        }
        async move {
            let response = request.send().await.expect("response");
            let encoding = response
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().expect("ascii").to_owned());
            (
                response.status().as_u16(),
                encoding,
                response.bytes().await.expect("body").to_vec(),
            )
        }
    };
    assert_eq!(
        get("/pkg/app.wasm", Some("gzip, deflate, br")).await,
        (200, Some("br".into()), b"brotli wasm".to_vec())
    );
    assert_eq!(
        get("/pkg/app.wasm", Some("gzip")).await,
        (200, Some("gzip".into()), b"gzip wasm".to_vec())
    );
    assert_eq!(
        get("/pkg/app.wasm", None).await,
        (200, None, b"plain wasm".to_vec())
    );
    assert_eq!(
        get("/pkg/only.js", Some("gzip, br")).await,
        (200, None, b"plain js".to_vec())
    );
    assert_eq!(get("/pkg/missing.js", Some("gzip")).await.0, 404);
}
