//! Benchmark (not a test) of the dashboard's panel: the same windows read with a thousand
//! runs on record and with a million (each with three steps, over 90 days, 20 pipelines).
//! The panel reads daily aggregates kept as runs end, so its time should barely grow.
//!
//! Run: `cargo bench --bench stats`

use std::time::{Duration, Instant};

use conveyor::store::{NewVersion, Store};
use conveyor_core::stats::WINDOWS;

mod support;

const PIPELINES: usize = 20;
const SAMPLES: usize = 20;

/// Median time of the panel for each window (all pipelines, and one).
async fn panel_times(store: &Store, one: i64, now: i64) -> Vec<(String, Duration)> {
    let mut out = Vec::new();
    for days in WINDOWS {
        for (what, pipeline) in [("all pipelines", None), ("one pipeline", Some(one))] {
            let mut samples = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let started = Instant::now();
                let stats = store.stats(pipeline, days, now).await.expect("stats");
                samples.push(started.elapsed());
                assert!(stats.runs > 0 && stats.p95_ms.is_some());
            }
            out.push((format!("{days} days, {what}"), support::median(samples)));
        }
    }
    out
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("conveyor.db"))
        .await
        .expect("store");
    let mut ids = Vec::new();
    for i in 0..PIPELINES {
        let version = NewVersion {
            description: None,
            source: "{}",
            definition: "{}",
            plan: "{}",
            repository: None,
            scheduled: false,
            watching: false,
            actions: &[],
        };
        let row = store
            .create_pipeline(&format!("p{i}"), &version, None)
            .await
            .expect("pipeline");
        ids.push(row.id);
    }
    let now = conveyor::store::now_ms();
    let mut results = Vec::new();
    let mut total = 0;
    for size in [1_000i64, 1_000_000] {
        let started = Instant::now();
        store
            .insert_history(&ids, size - total, 90, now)
            .await
            .expect("history");
        let inserted = started.elapsed();
        let counting = Instant::now();
        store.count_ended_runs().await.expect("count");
        println!(
            "{size} runs: inserted in {:.1} s, counted into the aggregates in {:.2} s",
            inserted.as_secs_f64(),
            counting.elapsed().as_secs_f64()
        );
        total = size;
        results.push(panel_times(&store, ids[0], now).await);
    }
    println!(
        "\nthe panel, median of {SAMPLES}:        1k runs    1M runs    ratio (target <= 1.5)"
    );
    for ((what, small), (_, large)) in results[0].iter().zip(&results[1]) {
        println!(
            "  {what:<26} {:>7.2} ms {:>7.2} ms    {:.2}",
            small.as_secs_f64() * 1000.0,
            large.as_secs_f64() * 1000.0,
            large.as_secs_f64() / small.as_secs_f64()
        );
    }
}
