//! Benchmark (not a test) of search across every log, printed as one table measured in one
//! run on the release server (its own process): 100 runs of 1,000,000 generated build-log
//! lines each (100 million lines, about 7 GB of text) are ingested with the index on, after
//! a shorter ingest with it off for comparison; then, once the index has caught up:
//! - first-page latency (p50, p95 of 20) of a rare term (10 lines in all), a common one (in
//!   about one line in ten), a common one within one pipeline's runs, and a term whose
//!   trigrams are all common but which occurs nowhere (the index cannot narrow it: the page
//!   returns partial at its time limit);
//! - the index's size against the log's (text, and stored compressed);
//! - ingest throughput with indexing on and off, and how long the index took to catch up.
//!
//! Run: `cargo bench --bench search` (CONVEYOR_BENCH_RUNS=10 for a quicker, smaller run).
//! The step's program is this benchmark itself, run as `search generate LINES SEED`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

#[path = "support/process.rs"]
mod process;

use process::{dir_size, run_detail, start_server, Server};

const LINES: u64 = 1_000_000;
const RARE: &str = "quasar-zebra";
const COMMON: &str = "warning";
/// Its trigrams all occur in every chunk; the phrase never does.
const ABSENT: &str = "info info";
const SAMPLES: usize = 20;

const WORDS: &[&str] = &[
    "compiling",
    "checking",
    "downloading",
    "resolving",
    "linking",
    "running",
    "finished",
    "fetching",
    "building",
    "installing",
    "testing",
    "packaging",
    "pushing",
    "pulling",
    "layer",
    "crate",
    "module",
    "package",
    "target",
    "release",
    "debug",
    "artifact",
    "cache",
    "image",
    "digest",
    "manifest",
    "registry",
    "network",
    "volume",
    "container",
    "workspace",
    "serde",
    "tokio",
    "hyper",
    "axum",
    "leptos",
    "sqlx",
    "kube",
    "openssl",
    "libc",
    "regex",
    "test",
    "passed",
    "ignored",
    "skipped",
    "ok",
    "bench",
    "doc",
    "lint",
    "fmt",
    "clippy",
];
const LEVELS: &[&str] = &[
    "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "INFO", "TRACE", "INFO", "INFO",
];

/// A small, fast pseudo-random sequence (xorshift64*).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// Writes `lines` build-log lines to stdout; run `seed % 10 == 3` has the rare term once.
fn generate(lines: u64, seed: u64) {
    let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    for i in 0..lines {
        let ms = i * 7;
        let level = if random.next().is_multiple_of(10) {
            "warning:"
        } else {
            random.pick(LEVELS)
        };
        let (a, b, c) = (random.pick(WORDS), random.pick(WORDS), random.pick(WORDS));
        let _ = write!(
            out,
            "2026-11-30T{:02}:{:02}:{:02}.{:03}Z {level} {a} {b}-{} {c} ({:x})",
            ms / 3_600_000 % 24,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000,
            random.next() % 1000,
            random.next() >> 24
        );
        if seed % 10 == 3 && i == lines / 2 {
            let _ = write!(out, " error: {RARE} {seed}");
        }
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

fn pipeline(name: &str, exe: &Path) -> String {
    format!(
        "name: {name}\nwith: {{SEED: '0'}}\nstages:\n  - name: s\n    steps:\n      - name: build\n        script: \"'{}' generate {LINES} \\\"$SEED\\\"\"\n",
        exe.display()
    )
}

/// Runs `runs` runs one after another (seeds from `first_seed`), alternating over two
/// pipelines; the wall time from the first start to the last end.
async fn ingest(server: &Server, runs: u64, first_seed: u64) -> Duration {
    let started = Instant::now();
    for k in 0..runs {
        let name = if k % 2 == 0 { "gen-a" } else { "gen-b" };
        let seed = first_seed + k;
        let run: serde_json::Value = server
            .client
            .post(format!("{}/api/v1/pipelines/{name}/runs", server.base))
            .json(&serde_json::json!({"tag": "bench", "params": {"SEED": seed.to_string()}}))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        let id = run["id"].as_i64().unwrap_or_else(|| panic!("a run: {run}"));
        loop {
            let detail = run_detail(server, id).await;
            if detail["finished_at"].is_i64() {
                assert_eq!(detail["status"], "succeeded", "{detail}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    started.elapsed()
}

async fn setup(server: &Server, exe: &Path) {
    for name in ["gen-a", "gen-b"] {
        let created = server
            .client
            .post(format!("{}/api/v1/pipelines", server.base))
            .header("content-type", "application/yaml")
            .body(pipeline(name, exe))
            .send()
            .await
            .expect("create");
        assert_eq!(
            created.status(),
            201,
            "{}",
            created.text().await.unwrap_or_default()
        );
    }
}

/// Runs the index has completely, read from its file.
async fn indexed_runs(data: &Path) -> i64 {
    let url = format!("sqlite://{}?mode=ro", data.join("search.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.expect("search.db");
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM runs WHERE complete = 1")
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    count
}

struct Latency {
    p50: Duration,
    p95: Duration,
    hits: usize,
    partial: bool,
}

async fn latency(server: &Server, query: &str) -> Latency {
    let mut samples = Vec::new();
    let mut last = serde_json::Value::Null;
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = server
            .client
            .get(format!("{}/api/v1/search?{query}", server.base))
            .send()
            .await
            .expect("search");
        assert_eq!(response.status(), 200);
        last = response.json().await.expect("json");
        samples.push(started.elapsed());
    }
    samples.sort();
    Latency {
        p50: samples[SAMPLES / 2],
        p95: samples[SAMPLES * 95 / 100],
        hits: last["hits"].as_array().map_or(0, Vec::len),
        partial: last["partial"] == true,
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("generate") {
        let number = |i: usize| args.get(i).and_then(|a| a.parse().ok()).expect("a number");
        generate(number(2), number(3));
        return;
    }
    let runs: u64 = std::env::var("CONVEYOR_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100);
    let exe = std::env::current_exe().expect("this benchmark");

    // The log's own size, for the ratios: one run's lines to a file.
    let scratch = tempfile::tempdir().expect("temp dir");
    let sample = scratch.path().join("one-run.log");
    let status = std::process::Command::new(&exe)
        .args(["generate", &LINES.to_string(), "1"])
        .stdout(std::fs::File::create(&sample).expect("file"))
        .status()
        .expect("generate");
    assert!(status.success());
    let run_bytes = std::fs::metadata(&sample).expect("sample").len();
    let text_bytes = run_bytes * runs;

    // Ingest with the index off.
    let off_runs = (runs / 10).max(2);
    let off_data = tempfile::tempdir().expect("temp dir");
    let off = {
        let server = start_server(off_data.path(), &["--search-index", "false"]);
        setup(&server, &exe).await;
        ingest(&server, off_runs, 1000).await
    };
    drop(off_data);

    // Ingest with the index on, then wait for it to catch up.
    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &[]);
    setup(&server, &exe).await;
    let on = ingest(&server, runs, 0).await;
    let ingested = Instant::now();
    while indexed_runs(data.path()).await < runs as i64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caught_up = ingested.elapsed();

    let rare = latency(&server, &format!("q={RARE}")).await;
    let common = latency(&server, &format!("q={COMMON}")).await;
    let filtered = latency(&server, &format!("q={COMMON}&pipeline=gen-a&tag=bench")).await;
    let absent = latency(&server, &format!("q={}", ABSENT.replace(' ', "+"))).await;
    assert_eq!(
        rare.hits as u64,
        runs.div_ceil(10).min(runs),
        "every rare line is found"
    );

    let index_bytes = std::fs::metadata(data.path().join("search.db")).map_or(0, |m| m.len());
    let log_bytes = dir_size(&data.path().join("logs"));
    let lines = runs * LINES;
    let rate = |runs: u64, took: Duration| {
        format!(
            "{:.2} M lines/s ({:.0} MB/s)",
            (runs * LINES) as f64 / took.as_secs_f64() / 1e6,
            (runs * run_bytes) as f64 / took.as_secs_f64() / 1e6
        )
    };
    println!(
        "search: {runs} runs x {LINES} lines = {lines} lines, {} of text; release build, 2 pipelines, runs one after another",
        mb(text_bytes)
    );
    println!("| | measured | target |");
    println!("|---|---|---|");
    let row = |name: &str, l: &Latency| {
        println!(
            "| {name}: p50 / p95 (first page, {} hits{}) | {} / {} | p95 <= 200 ms |",
            l.hits,
            if l.partial { ", partial" } else { "" },
            ms(l.p50),
            ms(l.p95)
        );
    };
    row(&format!("rare term `{RARE}`"), &rare);
    row(&format!("common term `{COMMON}`"), &common);
    row(
        &format!("`{COMMON}` in one pipeline's runs, tag filter"),
        &filtered,
    );
    row(
        &format!("`{ABSENT}`: nowhere, all its trigrams common"),
        &absent,
    );
    println!(
        "| index size | {} = {:.3}x the text, {:.2}x the stored (compressed) log of {} | |",
        mb(index_bytes),
        index_bytes as f64 / text_bytes as f64,
        index_bytes as f64 / log_bytes.max(1) as f64,
        mb(log_bytes)
    );
    println!(
        "| ingest, indexing off ({off_runs} runs) | {} | |",
        rate(off_runs, off)
    );
    println!(
        "| ingest, indexing on ({runs} runs) | {} | |",
        rate(runs, on)
    );
    println!(
        "| index caught up after the last run ended | {} | |",
        ms(caught_up)
    );
}
