//! What the benchmarks share: a client acting as the first admin (with a token, as a
//! script would), reading a run's event stream to its end, timing a run through the API
//! and a `make -j2` of the same work, and medians.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conveyor::service::Service;
use futures::StreamExt;

/// A client whose every request carries a new admin token of the first admin.
#[allow(dead_code)]
pub async fn admin_client(service: &Arc<Service>) -> reqwest::Client {
    let admin = service
        .accounts()
        .account(conveyor::service::FIRST_ADMIN)
        .await
        .expect("the first admin");
    let token = service
        .accounts()
        .create_token(
            &conveyor::service::principal(&admin),
            None,
            "benchmark",
            conveyor_core::access::Scope::Admin,
            None,
        )
        .await
        .expect("a token")
        .token;
    let mut headers = reqwest::header::HeaderMap::new();
    let bearer = format!("Bearer {token}").parse().expect("header");
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("client")
}

/// Reads a run's events until its `end`; the text read.
pub async fn until_end(client: &reqwest::Client, base: &str, run: i64) -> String {
    let mut events = client
        .get(format!("{base}/api/v1/runs/{run}/events"))
        .send()
        .await
        .expect("events")
        .bytes_stream();
    let mut seen = String::new();
    while let Some(chunk) = events.next().await {
        seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
        if seen.contains("event: end") {
            break;
        }
    }
    seen
}

/// The middle sample.
#[allow(dead_code)]
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Starts a run of `pipeline` and reads its events to the end: how long that took. The run
/// must succeed.
#[allow(dead_code)]
pub async fn timed_run(client: &reqwest::Client, base: &str, pipeline: &str) -> Duration {
    let started = Instant::now();
    let run: serde_json::Value = client
        .post(format!("{base}/api/v1/pipelines/{pipeline}/runs"))
        .json(&serde_json::json!({"tag": "bench"}))
        .send()
        .await
        .expect("start run")
        .json()
        .await
        .expect("json");
    let id = run["id"].as_i64().expect("run id");
    let seen = until_end(client, base, id).await;
    let elapsed = started.elapsed();
    assert!(
        seen.contains(r#""status":"succeeded""#),
        "the benchmark run of {pipeline} failed: {seen}"
    );
    elapsed
}

/// `make -s -j2` of the Makefile in `dir`: how long it took.
#[allow(dead_code)]
pub fn make_round(dir: &std::path::Path) -> Duration {
    let started = Instant::now();
    let status = std::process::Command::new("make")
        .args(["-s", "-j2", "-f", "Makefile", "all"])
        .current_dir(dir)
        .status()
        .expect("make runs");
    assert!(status.success());
    started.elapsed()
}

/// A pipeline of `stages` stages of `width` parallel steps, each `{name: …, parallel: true,
/// STEP}`; every stage waits for the one before.
#[allow(dead_code)]
pub fn dag_yaml(stages: usize, width: usize, step: &str) -> String {
    let mut yaml = String::from("name: dag\nstages:\n");
    for stage in 0..stages {
        yaml.push_str(&format!("  - name: s{stage}\n    steps:\n"));
        for index in 0..width {
            yaml.push_str(&format!(
                "      - {{name: s{stage}-{index}, parallel: true, {step}}}\n"
            ));
        }
    }
    yaml
}

/// The same DAG for make (`make all`): each target runs `recipe` once its stage's
/// predecessors are made.
#[allow(dead_code)]
pub fn dag_makefile(stages: usize, width: usize, recipe: &str) -> String {
    let name = |stage: usize, step: usize| format!("s{stage}_{step}");
    let mut make = String::from(".PHONY: all");
    for stage in 0..stages {
        for step in 0..width {
            make.push_str(&format!(" {}", name(stage, step)));
        }
    }
    make.push_str("\nall:");
    for step in 0..width {
        make.push_str(&format!(" {}", name(stages - 1, step)));
    }
    make.push('\n');
    for stage in 0..stages {
        for step in 0..width {
            make.push_str(&format!("{}:", name(stage, step)));
            if stage > 0 {
                for before in 0..width {
                    make.push_str(&format!(" {}", name(stage - 1, before)));
                }
            }
            make.push_str(&format!("\n\t{recipe}\n"));
        }
    }
    make
}
