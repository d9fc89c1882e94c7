//! Search across every log: matches newest run first with their places and highlights,
//! filters and keyset pages, one run's whole log in reading order, a live run's latest
//! lines, the index following deletions, a server without the index, and bad input.

use std::path::Path;
use std::time::Duration;

use conveyor_core::run::{EventBody, RunStatus};
use serde_json::Value;

use crate::support::{outcome, TestApp};

/// A long log (several index chunks) with the needle near its end.
const ALPHA: &str = "name: alpha
stages:
  - name: s
    steps:
      - name: build
        script: |
          seq 1 60000 | sed 's/$/ padding text of a build log/'
          echo 'error: NEEDLE-one found here'
          seq 1 100
";

const BETA: &str = "name: beta
stages:
  - name: s
    steps:
      - name: test
        script: |
          echo 'a needle-one, and another needle-one'
          exit 1
";

/// Waits until the indexer has every line of every run.
async fn until_indexed(app: &TestApp) {
    let index = app.service.store().search_index();
    tokio::time::timeout(Duration::from_secs(60), async {
        while !index.pending().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the index catches up");
}

async fn search(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get_json(&format!("/api/v1/search?{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// (run, step, line) of each hit.
fn places(page: &Value) -> Vec<(i64, String, u64)> {
    page["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|hit| {
            (
                hit["run"].as_i64().expect("run"),
                hit["step"].as_str().expect("step").to_owned(),
                hit["line"].as_u64().expect("line"),
            )
        })
        .collect()
}

/// Chunks the index holds of a run, read from its file.
async fn chunks_of(data: &Path, run: i64) -> i64 {
    let url = format!("sqlite://{}?mode=ro", data.join("search.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("search.db");
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM chunks WHERE id >> 20 = ?")
        .bind(run)
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    count
}

#[tokio::test]
async fn finds_lines_of_every_run_newest_first_with_filters_pages_and_highlights() {
    let app = TestApp::spawn().await;
    app.create_pipeline(ALPHA).await;
    app.create_pipeline(BETA).await;
    let first = app.start_run("alpha", "v1").await;
    assert_eq!(
        outcome(&app.all_events(first).await).0,
        RunStatus::Succeeded
    );
    let failed = app.start_run("beta", "v2").await;
    assert_eq!(outcome(&app.all_events(failed).await).0, RunStatus::Failed);
    let last = app.start_run("alpha", "v3").await;
    assert_eq!(outcome(&app.all_events(last).await).0, RunStatus::Succeeded);
    until_indexed(&app).await;
    assert!(
        chunks_of(app.data_dir.path(), first).await > 2,
        "a long log is several chunks"
    );

    // Every match, newest run first, ASCII letters in either case.
    let page = search(&app, "q=needle-ONE").await;
    let want = vec![
        (last, "build".to_owned(), 60001),
        (failed, "test".to_owned(), 1),
        (first, "build".to_owned(), 60001),
    ];
    assert_eq!(places(&page), want);
    assert_eq!(page["next"], Value::Null);
    let hit = &page["hits"][0];
    assert_eq!(hit["link"], format!("/runs/{last}#step-build-L60001"));
    assert_eq!(hit["pipeline"], "alpha");
    assert_eq!(hit["tag"], "v3");
    assert_eq!(hit["text"], "error: NEEDLE-one found here");
    assert_eq!(hit["matches"], serde_json::json!([[7, 17]]));
    // Both matches of a line are marked.
    assert_eq!(
        page["hits"][1]["matches"],
        serde_json::json!([[2, 12], [26, 36]])
    );

    // Filters.
    let only = |query: &str| {
        let app = &app;
        let query = query.to_owned();
        async move { places(&search(app, &format!("q=needle-one&{query}")).await) }
    };
    assert_eq!(
        only("pipeline=alpha").await,
        vec![want[0].clone(), want[2].clone()]
    );
    assert_eq!(only("status=failed").await, vec![want[1].clone()]);
    assert_eq!(only("tag=v1").await, vec![want[2].clone()]);
    assert_eq!(only("since=2999-01-01").await, vec![]);
    assert_eq!(only("until=2000-01-01").await, vec![]);
    assert_eq!(only("since=2000-01-01&trigger=api").await, want);

    // Keyset pages: one hit each, the same hits in the same order, none twice.
    let mut paged = Vec::new();
    let mut cursor = String::new();
    for _ in 0..10 {
        let page = search(&app, &format!("q=needle-one&limit=1&cursor={cursor}")).await;
        paged.extend(places(&page));
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, want);

    // One run's whole log, in reading order, page after page.
    let page = search(&app, &format!("q=padding+TEXT&run={first}&limit=3")).await;
    let lines: Vec<u64> = places(&page).into_iter().map(|p| p.2).collect();
    assert_eq!(lines, vec![1, 2, 3]);
    let next = page["next"].as_str().expect("more").to_owned();
    let page = search(
        &app,
        &format!("q=padding+TEXT&run={first}&limit=2&cursor={next}"),
    )
    .await;
    let lines: Vec<u64> = places(&page).into_iter().map(|p| p.2).collect();
    assert_eq!(lines, vec![4, 5]);
    // A line's own text, found however deep in the log it is.
    let page = search(&app, &format!("q=59999+padding&run={first}")).await;
    assert_eq!(places(&page), vec![(first, "build".to_owned(), 59999)]);
    assert_eq!(
        page["next"],
        Value::Null,
        "one run searched through: nothing more"
    );
    let page = search(&app, &format!("q=needle-one&run={first}&since=2999-01-01")).await;
    assert_eq!(places(&page), vec![], "the run is outside the dates");
    assert_eq!(
        places(&search(&app, "q=no+such+text+anywhere").await),
        vec![]
    );

    // A page out of time returns what it found with a cursor (`partial`); following the
    // cursors finds the same hits in the same order.
    let index = app.service.store().search_index();
    index.set_page_time(Duration::ZERO);
    let (mut paged, mut cursor, mut partial) = (Vec::new(), String::new(), 0);
    for round in 0.. {
        assert!(round < 10_000, "the cursors never end: {paged:?}");
        let page = search(&app, &format!("q=needle-one&cursor={cursor}")).await;
        paged.extend(places(&page));
        partial += usize::from(page["partial"] == true);
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(paged, want);
    assert!(partial > 0, "no page ran out of time");
    index.set_page_time(Duration::from_secs(120));

    // Deleting the runs takes their index entries, and the space comes back.
    let before = index.size().await.expect("size");
    let response = app
        .client
        .delete(app.url("/api/v1/pipelines/alpha/runs"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 200);
    assert_eq!(
        places(&search(&app, "q=needle-one").await),
        vec![want[1].clone()]
    );
    assert_eq!(chunks_of(app.data_dir.path(), first).await, 0);
    assert_eq!(chunks_of(app.data_dir.path(), last).await, 0);
    app.service.store().reclaim_space().await.expect("reclaim");
    let after = index.size().await.expect("size");
    assert!(
        after < before,
        "the index shrank: {before} -> {after} bytes"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_searches_are_refused_saying_why() {
    let app = TestApp::spawn().await;
    let long = "x".repeat(1025);
    for (query, status, name) in [
        ("q=", 422, "q"),
        ("", 422, "q"),
        ("q=ab", 422, "q"),
        (&*format!("q={long}"), 422, "q"),
        ("q=a%0Ab", 422, "q"),
        ("q=abc&status=great", 400, "status"),
        ("q=abc&since=yesterday", 400, "since"),
        ("q=abc&cursor=12.x", 400, "cursor"),
        ("q=abc&run=seven", 400, "run"),
        ("q=abc&limit=-1", 400, "limit"),
        ("q=abc&colour=red", 400, "colour"),
        ("q=abc&q=def", 400, "q"),
    ] {
        let (got, body) = app.get_json(&format!("/api/v1/search?{query}")).await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["path"], name, "{query}: {body}");
    }
    let (status, body) = app.get_json("/api/v1/search?q=abc&pipeline=nope").await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app.get_json("/api/v1/search?q=abc&run=4242").await;
    assert_eq!(status, 404, "{body}");
    app.stop().await;
}

const LIVE: &str = "name: live
stages:
  - name: s
    steps:
      - name: wait
        script: |
          echo 'live-marker-7f3a'
          sleep 600
";

#[tokio::test]
async fn a_live_runs_latest_lines_and_a_server_without_the_index() {
    // Without the index: one run's log can be searched, all runs cannot.
    let app = TestApp::spawn_with(|config| config.search_index = false).await;
    app.create_pipeline(BETA).await;
    let run = app.start_run("beta", "v1").await;
    app.all_events(run).await;
    let (status, body) = app.get_json("/api/v1/search?q=needle-one").await;
    assert_eq!(status, 409, "{body}");
    let page = search(&app, &format!("q=needle-one&run={run}")).await;
    assert_eq!(places(&page), vec![(run, "test".to_owned(), 1)]);
    let data = app.stop_keeping_data().await;

    // Started with the index: the earlier run is found at once, and indexed.
    let app = TestApp::spawn_in(data, |_| {}).await;
    assert_eq!(
        places(&search(&app, "q=needle-one").await),
        vec![(run, "test".to_owned(), 1)]
    );
    until_indexed(&app).await;
    assert_eq!(chunks_of(app.data_dir.path(), run).await, 1);
    assert_eq!(
        places(&search(&app, "q=needle-one").await),
        vec![(run, "test".to_owned(), 1)]
    );

    // A live run's line is found as soon as it is written.
    app.create_pipeline(LIVE).await;
    let live = app.start_run("live", "v1").await;
    let mut events = app.events(live, None).await;
    events
        .until(
            |e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "live-marker-7f3a"),
        )
        .await;
    let page = search(&app, "q=LIVE-marker").await;
    assert_eq!(places(&page), vec![(live, "wait".to_owned(), 1)]);
    assert_eq!(page["hits"][0]["status"], "running");
    assert_eq!(app.post(&format!("/api/v1/runs/{live}/cancel")).await, 202);
    events.until_end().await;
    app.stop().await;
}
