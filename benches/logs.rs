//! Benchmark (not a test) of the log store, printed as one table measured in one run: a
//! step running `seq 1 1000000` on the release server (its own process, as in production),
//! against `seq 1 1000000 > file`:
//! - the step's wall time with nobody watching, and with 50 watchers on the event stream
//!   (each must get every line: their batches' line numbers are checked to run 1..=1M);
//! - the raw download of the run's log;
//! - bytes stored (log segments + database growth) per byte of log, once the run has ended;
//! - event-stream bytes per byte of log, per watcher.
//!
//! Run: `cargo bench --bench logs`.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;

#[path = "support/process.rs"]
mod process;

use process::{dir_size, run_detail, start_server, Server};

const LINES: u64 = 1_000_000;
const WATCHERS: usize = 50;
const ROUNDS: usize = 5;
const PIPELINE: &str = "name: count
stages:
  - name: wait
    steps:
      - {name: gate, approval: true, command: ['true']}
  - name: count
    steps:
      - {name: count, command: [seq, '1', '1000000']}
";

/// What one watcher got: bytes, and whether its batches numbered every line once.
async fn watch(client: reqwest::Client, url: String) -> (u64, u64) {
    let mut stream = client.get(url).send().await.expect("events").bytes_stream();
    let (mut bytes, mut next_line) = (0u64, 1u64);
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        bytes += chunk.len() as u64;
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        let mut ended = false;
        while let Some(end) = find(&pending[start..], b"\n\n") {
            let frame = &pending[start..start + end];
            start += end + 2;
            let text = String::from_utf8_lossy(frame);
            if text.contains("event: end") {
                ended = true;
            }
            if !text.contains("event: logs") || !text.contains("\"step\":\"count\"") {
                continue;
            }
            let number = |key: &str| -> u64 {
                let at = text.find(key).expect("field") + key.len();
                text[at..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .expect("number")
            };
            let (id, seq, line) = (number("id: "), number("\"seq\":"), number("\"line\":"));
            assert_eq!(line, next_line, "a watcher's lines go on without a gap");
            next_line += id - seq + 1;
        }
        pending.drain(..start);
        if ended {
            break;
        }
    }
    (bytes, next_line - 1)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

struct Round {
    step: Duration,
    watcher_bytes: u64,
    run: i64,
}

async fn round(server: &Server, watchers: usize) -> Round {
    let client = &server.client;
    let run: serde_json::Value = client
        .post(format!("{}/api/v1/pipelines/count/runs", server.base))
        .json(&serde_json::json!({"tag": "bench"}))
        .send()
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = run["id"].as_i64().expect("id");
    // Watchers connect while the run waits at its gate, then the gate opens.
    let mut readers = Vec::new();
    for _ in 0..watchers {
        readers.push(tokio::spawn(watch(
            client.clone(),
            format!("{}/api/v1/runs/{id}/events", server.base),
        )));
    }
    while run_detail(server, id).await["steps"][0]["status"] != "waiting_approval" {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let approved = client
        .post(format!(
            "{}/api/v1/runs/{id}/steps/gate/approve",
            server.base
        ))
        .send()
        .await
        .expect("approve");
    assert_eq!(approved.status(), 202);
    let detail = loop {
        let detail = run_detail(server, id).await;
        if detail["finished_at"].is_i64() {
            break detail;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let step = &detail["steps"][1];
    assert_eq!(step["status"], "succeeded", "{detail}");
    let wall = step["finished_at"].as_i64().expect("finished")
        - step["started_at"].as_i64().expect("started");
    let mut watcher_bytes = 0;
    for reader in readers {
        let (bytes, lines) = reader.await.expect("watcher");
        assert_eq!(lines, LINES, "every watcher got every line");
        watcher_bytes = watcher_bytes.max(bytes);
    }
    Round {
        step: Duration::from_millis(wall as u64),
        watcher_bytes,
        run: id,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn secs(duration: Duration) -> String {
    format!("{:.3} s", duration.as_secs_f64())
}

#[tokio::main]
async fn main() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let file = scratch.path().join("seq.txt");
    let started = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("seq 1 {LINES} > '{}'", file.display()))
        .status()
        .expect("seq");
    assert!(status.success());
    let to_file = started.elapsed();
    let log_bytes = std::fs::metadata(&file).expect("file").len();

    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &[]);
    let created = server
        .client
        .post(format!("{}/api/v1/pipelines", server.base))
        .header("content-type", "application/yaml")
        .body(PIPELINE)
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);

    let db = data.path().join("conveyor.db");
    let checkpoint = || async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("db");
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&pool)
            .await
            .expect("checkpoint");
        pool.close().await;
    };
    checkpoint().await;
    let stored_before = dir_size(data.path());
    // Unwatched and watched rounds take turns, so that a drift of the machine weighs on both.
    let (mut quiet, mut watched) = (Vec::new(), Vec::new());
    let (mut first_run, mut sse_bytes) = (None, 0);
    for _ in 0..ROUNDS {
        let alone = round(&server, 0).await;
        first_run.get_or_insert(alone.run);
        quiet.push(alone.step);
        let watched_round = round(&server, WATCHERS).await;
        watched.push(watched_round.step);
        sse_bytes = watched_round.watcher_bytes;
    }
    let run = first_run.expect("a run");

    // Stored: once the runs' logs are compressed (the server does it after each run).
    let logs = data.path().join("logs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(logs.join(run.to_string()))
        .expect("run logs")
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".log"))
    {
        assert!(Instant::now() < deadline, "the log was never compressed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    checkpoint().await;
    let runs = (2 * ROUNDS) as u64;
    let stored = dir_size(data.path()).saturating_sub(stored_before) / runs;
    let run_log = dir_size(&logs.join(run.to_string()));

    let mut downloads = Vec::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        let text = server
            .client
            .get(format!("{}/api/v1/runs/{run}/log", server.base))
            .send()
            .await
            .expect("raw")
            .text()
            .await
            .expect("text");
        downloads.push(started.elapsed());
        assert_eq!(text.lines().count() as u64, LINES);
    }

    let unwatched = median(quiet);
    let with_watchers = median(watched);
    let ratio = |a: u64| a as f64 / log_bytes as f64;
    println!("log store: a step running `seq 1 {LINES}` ({log_bytes} bytes of log), release build, median of {ROUNDS}");
    println!("| | measured | target |");
    println!("|---|---|---|");
    println!(
        "| `seq 1 {LINES} > file` (for scale) | {} | |",
        secs(to_file)
    );
    println!(
        "| step wall time, nobody watching | {} | <= 0.3 s |",
        secs(unwatched)
    );
    println!(
        "| step wall time, {WATCHERS} watchers over SSE (each got every line) | {} ({:.2}x unwatched) | <= 1.1x |",
        secs(with_watchers),
        with_watchers.as_secs_f64() / unwatched.as_secs_f64()
    );
    println!(
        "| raw download of the log | {} | <= 0.2 s |",
        secs(median(downloads))
    );
    println!(
        "| bytes stored per byte of log (finished run: segments {:.2}x, with database growth {:.2}x) | {:.2}x | <= 1.5x |",
        ratio(run_log),
        ratio(stored),
        ratio(stored.max(run_log))
    );
    println!(
        "| SSE bytes sent per byte of log, per watcher | {:.2}x | <= 1.5x |",
        ratio(sse_bytes)
    );
}
