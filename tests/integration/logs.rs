//! The log store: long logs read back exactly every way (live, replayed from any id, raw,
//! the page's tail), before and after compression; `kill -9` mid-log and during compression;
//! logs kept as rows by earlier versions; and pruning that takes the files with the runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use conveyor_core::run::{EventBody, LogStream, RunStatus, StepStatus};

use crate::support::process::ServerProcess;
use crate::support::{logs, outcome, SseEvent, TestApp};

const LINES: usize = 30_000;

/// Two steps writing at once, one with an over-long line that is cut into pieces, and
/// stderr. Their lines interleave for certain: `a` writes half, more than a pipe holds, then
/// waits for `b` to write all of its own (again more than a pipe holds) before the rest.
const TWO_WRITERS: &str = "name: two
stages:
  - name: s
    steps:
      - name: a
        parallel: true
        script: |
          seq 1 15000
          touch a-half
          until [ -f b-done ]; do sleep 0.01; done
          seq 15001 30000
      - name: b
        parallel: true
        script: |
          until [ -f a-half ]; do sleep 0.01; done
          seq 1 30000 | sed s/^/b/
          head -c 40000 /dev/zero | tr '\\0' x
          echo
          echo warn >&2
          touch b-done
";

/// Whether the run's segments are all compressed (none left plain).
fn packed(data: &Path, run: i64) -> bool {
    let dir = data.join(format!("logs/{run}"));
    let names: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    !names.is_empty() && names.iter().all(|n| n.ends_with(".zst"))
}

async fn until_packed(data: &Path, run: i64) {
    tokio::time::timeout(Duration::from_secs(60), async {
        while !packed(data, run) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run's log is compressed once it ends");
}

/// Every way of reading the log agrees with `full` (the whole stream from the start).
async fn reads_agree(app: &TestApp, run: i64, full: &[SseEvent]) {
    // Resuming anywhere, mid-batch included, gives exactly the rest.
    for at in [1, 2, full.len() / 3, full.len() / 2 + 7, full.len() - 2] {
        let after = full[at - 1].id;
        let rest = app.events(run, Some(after)).await.until_end().await;
        assert_eq!(rest, full[at..], "resumed after {after}");
    }
    // The raw log of each step is its lines.
    for step in ["a", "b"] {
        let raw = app
            .client
            .get(app.url(&format!("/api/v1/runs/{run}/log?step={step}")))
            .send()
            .await
            .expect("raw")
            .text()
            .await
            .expect("text");
        let mut want = String::new();
        for event in full {
            if let EventBody::Log {
                step: s,
                text,
                partial,
                ..
            } = &event.event.body
            {
                if s == step {
                    want.push_str(text);
                    if !partial {
                        want.push('\n');
                    }
                }
            }
        }
        assert!(raw == want, "the raw log of {step} is its lines");
    }
    // The page's tail: the last 200 lines, numbered as the viewer numbers them.
    let tail = app.service.log_tail(run, 200).await.expect("tail");
    let mut numbers: BTreeMap<String, usize> = BTreeMap::new();
    let mut numbered = Vec::new();
    for event in full {
        if let EventBody::Log { step, text, .. } = &event.event.body {
            let number = numbers.entry(step.clone()).or_default();
            *number += 1;
            numbered.push((event.id, step.clone(), *number, text.clone()));
        }
    }
    let got: Vec<_> = tail
        .iter()
        .map(|l| (l.seq, l.step.clone(), l.number, l.text.clone()))
        .collect();
    assert_eq!(got, numbered[numbered.len() - 200..]);
}

#[tokio::test]
async fn a_long_log_reads_back_exactly_every_way_before_and_after_compression() {
    let app = TestApp::spawn().await;
    app.create_pipeline(TWO_WRITERS).await;
    let run = app.start_run("two", "v1").await;
    let full = app.all_events(run).await;
    assert_eq!(outcome(&full).0, RunStatus::Succeeded);
    assert_eq!(
        full.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=full.len() as i64).collect::<Vec<_>>(),
        "every line and event has the next number"
    );
    let a = logs(&full, "a");
    assert_eq!(a.len(), LINES);
    assert!(a.iter().enumerate().all(|(i, l)| *l == (i + 1).to_string()));
    // Standard error is read apart from standard output: its line may come at any point.
    let stream_of = |wanted: LogStream| -> Vec<String> {
        full.iter()
            .filter_map(|e| match &e.event.body {
                EventBody::Log {
                    step, stream, text, ..
                } if step == "b" && *stream == wanted => Some(text.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(stream_of(LogStream::Stderr), ["warn"]);
    let b = stream_of(LogStream::Stdout);
    assert_eq!(b.len(), LINES + 3);
    assert_eq!(b[LINES - 1], format!("b{LINES}"));
    // 40,000 x's: two 16 KiB pieces and the rest.
    assert_eq!(
        b[LINES..LINES + 3]
            .iter()
            .map(String::len)
            .collect::<Vec<_>>(),
        [16 * 1024, 16 * 1024, 40_000 - 32 * 1024]
    );
    let interleaved = full
        .windows(2)
        .filter(|w| match (&w[0].event.body, &w[1].event.body) {
            (EventBody::Log { step: x, .. }, EventBody::Log { step: y, .. }) => x != y,
            _ => false,
        })
        .count();
    assert!(interleaved > 0, "the two steps' lines interleave");

    until_packed(app.data_dir.path(), run).await;
    reads_agree(&app, run, &full).await;
    let replay = app.all_events(run).await;
    assert_eq!(replay, full, "the compressed log replays the same");
    app.stop().await;
}

/// A step that writes numbered lines until its output is closed.
const ENDLESS: &str = "name: flood
stages:
  - name: s
    steps:
      - {name: talk, script: 'i=0; while :; do i=$((i+1)); echo \"line $i\"; done'}
";

#[tokio::test]
async fn kill_9_mid_log_loses_no_line_a_watcher_saw_and_leaves_no_gap() {
    let data = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(data.path(), &[]).await;
    server.create_pipeline(ENDLESS).await;
    let run = server.start_run("flood").await;
    let mut watcher = server.events(run).await;
    let mut seen = Vec::new();
    while seen.len() < 20_000 {
        let event = tokio::time::timeout(Duration::from_secs(60), watcher.next())
            .await
            .expect("lines arrive")
            .expect("the stream goes on");
        if matches!(event.event.body, EventBody::Log { .. }) {
            seen.push(event);
        }
    }
    server.kill().await;
    drop(watcher);

    let app = TestApp::spawn_in(data, |_| {}).await;
    let full = tokio::time::timeout(Duration::from_secs(60), app.all_events(run))
        .await
        .expect("the settled run replays to its end");
    let (status, message) = outcome(&full);
    assert_eq!(status, RunStatus::Failed);
    assert_eq!(
        message.as_deref(),
        Some("the server stopped while this run was in flight")
    );
    assert_eq!(
        full.iter().map(|e| e.id).collect::<Vec<_>>(),
        (1..=full.len() as i64).collect::<Vec<_>>(),
        "no gap"
    );
    let by_id: BTreeMap<i64, &SseEvent> = full.iter().map(|e| (e.id, e)).collect();
    for event in &seen {
        assert_eq!(
            by_id.get(&event.id),
            Some(&event),
            "a line a watcher saw is kept"
        );
    }
    let lines = logs(&full, "talk");
    assert!(lines.len() >= seen.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(
            *line,
            format!("line {}", i + 1),
            "lines in order, none missing"
        );
    }
    assert!(
        full.iter().any(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::Cancelled, .. } if step == "talk")),
        "the step is closed"
    );
    until_packed(app.data_dir.path(), run).await;
    assert_eq!(app.all_events(run).await, full);
    app.stop().await;
}

const SHORT: &str = "name: short
stages:
  - name: s
    steps:
      - {name: a, script: 'seq 1 30000'}
      - {name: b, script: 'seq 1 30000 | sed s/^/b/'}
";

#[tokio::test]
async fn a_crash_at_any_point_of_compression_leaves_the_log_whole() {
    for point in ["packed-written", "packed-renamed", "packed-committed"] {
        let data = tempfile::tempdir().expect("temp dir");
        let mut server =
            ServerProcess::start(data.path(), &[("CONVEYOR_TEST_CRASH_AT", point)]).await;
        server.create_pipeline(SHORT).await;
        let run = server.start_run("short").await;
        // The server kills itself (SIGKILL) at that point of compressing the ended run.
        let status = tokio::time::timeout(Duration::from_secs(60), server.child.wait())
            .await
            .expect("the server dies compressing")
            .expect("status");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{point}");

        let app = TestApp::spawn_in(data, |_| {}).await;
        until_packed(app.data_dir.path(), run).await;
        let full = app.all_events(run).await;
        assert_eq!(outcome(&full).0, RunStatus::Succeeded, "{point}");
        let want_a: Vec<String> = (1..=LINES).map(|i| i.to_string()).collect();
        let want_b: Vec<String> = (1..=LINES).map(|i| format!("b{i}")).collect();
        assert_eq!(logs(&full, "a"), want_a, "{point}");
        assert_eq!(logs(&full, "b"), want_b, "{point}");
        let names: Vec<String> = std::fs::read_dir(app.data_dir.path().join(format!("logs/{run}")))
            .expect("logs")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["0.zst", "1.zst"], "{point}: nothing stray is left");
        app.stop().await;
    }
}

#[tokio::test]
async fn log_lines_kept_as_rows_by_earlier_versions_move_to_the_log_store() {
    let app = TestApp::spawn().await;
    app.create_pipeline(SHORT).await;
    let run = app.start_run("short", "v1").await;
    let full = app.all_events(run).await;
    until_packed(app.data_dir.path(), run).await;
    let data = app.stop_keeping_data().await;
    // As an earlier version kept them: one row per line, no segments.
    let database = data.path().join("conveyor.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .expect("db");
    for event in &full {
        if let EventBody::Log { step, text, .. } = &event.event.body {
            sqlx::query(
                "INSERT INTO run_events (run_id, seq, ts, kind, step, stream, partial, text) \
                 VALUES (?, ?, ?, 'log', ?, 'stdout', 0, ?)",
            )
            .bind(run)
            .bind(event.id)
            .bind(event.event.ts)
            .bind(if step == "a" { 0 } else { 1 })
            .bind(text)
            .execute(&pool)
            .await
            .expect("row");
        }
    }
    sqlx::query("UPDATE steps SET log_lines = 0, log_own = 0, log_bytes = 0, log_text = 0, log_first_seq = NULL, log_last_seq = 0, log_packed = NULL")
        .execute(&pool)
        .await
        .expect("reset");
    sqlx::query("DELETE FROM log_marks")
        .execute(&pool)
        .await
        .expect("reset");
    pool.close().await;
    std::fs::remove_dir_all(data.path().join("logs")).expect("no segments");

    let app = TestApp::spawn_in(data, |_| {}).await;
    until_packed(app.data_dir.path(), run).await;
    assert_eq!(app.all_events(run).await, full);
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", database.display()))
        .await
        .expect("db");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM run_events WHERE kind = 'log'")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "the rows are gone once moved");
    pool.close().await;
    app.stop().await;
}

#[tokio::test]
async fn pruning_and_emptying_take_the_log_files_with_the_runs() {
    let app = TestApp::spawn().await;
    app.create_pipeline(&SHORT.replace("name: short", "name: short\nretention: {runs: 1}"))
        .await;
    let first = app.start_run("short", "v1").await;
    app.all_events(first).await;
    app.create_pipeline(
        "name: other\nstages: [{name: s, steps: [{name: a, script: 'seq 1 100'}]}]\n",
    )
    .await;
    let second = app.start_run("short", "v2").await;
    app.all_events(second).await;
    let third = app.start_run("short", "v3").await;
    app.all_events(third).await;
    for run in [first, second, third] {
        until_packed(app.data_dir.path(), run).await;
    }
    let logs_of = |run: i64| app.data_dir.path().join(format!("logs/{run}"));
    let pruning = conveyor::service::Pruning {
        default: None,
        every: Duration::from_secs(3600),
    };
    // Keeps the last run (the third, also the latest success): the two before go.
    let pruned = app.service.prune_runs(&pruning).await.expect("prune");
    assert_eq!(pruned, 2);
    assert!(!logs_of(first).exists() && !logs_of(second).exists());
    assert!(logs_of(third).exists());

    let other = app.start_run("other", "v1").await;
    app.all_events(other).await;
    until_packed(app.data_dir.path(), other).await;
    assert_eq!(
        app.client
            .delete(app.url("/api/v1/pipelines/other/runs"))
            .send()
            .await
            .expect("empty")
            .status(),
        200
    );
    assert!(
        !logs_of(other).exists(),
        "emptying a pipeline's runs takes their logs"
    );
    app.stop().await;
}
