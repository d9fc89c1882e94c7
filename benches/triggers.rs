//! Benchmarks (not tests) of forge deliveries, printed with ratios measured in one run:
//! 1. a signed GitHub push delivery → its run recorded and handed to the engine (p50, p99),
//!    against starting the same pipeline through `POST /pipelines/{name}/runs`;
//! 2. one delivery matched against 1,000 pipelines: of 1,000 other repositories (found by
//!    index), and of its own repository, none of whose `on` filters match (each verified).
//!
//! Run: `cargo bench --bench triggers`

use std::time::{Duration, Instant};

use conveyor::config::ServeConfig;
use conveyor::Server;
use hmac::{Hmac, Mac};
use sha2::Sha256;

mod support;

const KEY: &str = "benchmark-hook-key";
const ROUNDS: usize = 200;
const PIPELINES: usize = 1000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn payload(repo: &str, sha: &str, branch: &str) -> String {
    serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "before": "1".repeat(40),
        "after": sha,
        "commits": [{"id": sha, "message": "bench", "url": format!("{repo}/commit/{sha}"),
                     "author": {"name": "Ada", "username": "ada"},
                     "added": ["src/a.rs"], "modified": [], "removed": []}],
        "head_commit": {"id": sha, "message": "bench", "author": {"name": "Ada", "username": "ada"}},
        "repository": {"clone_url": format!("{repo}.git"), "html_url": repo},
    })
    .to_string()
}

async fn deliver(client: &reqwest::Client, base: &str, id: usize, body: &str) -> serde_json::Value {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let response = client
        .post(format!("{base}/api/v1/hooks/github"))
        .header("x-github-event", "push")
        .header("x-github-delivery", format!("bench-{id}"))
        .header("x-hub-signature-256", signature)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("deliver");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("json")
}

#[tokio::main]
async fn main() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let config = ServeConfig::for_data_dir(data_dir.path().to_path_buf());
    let server = Server::bind(&config).await.expect("server");
    let base = format!("http://{}", server.local_addr());
    let service = server.service();
    tokio::spawn(server.run(std::future::pending()));
    let client = support::admin_client(&service).await;
    let put = client
        .put(format!("{base}/api/v1/secrets/HOOK"))
        .json(&serde_json::json!({"value": KEY}))
        .send()
        .await
        .expect("secret");
    assert!(put.status().is_success());
    let create = |name: String, repo: String, branches: String| {
        let client = client.clone();
        let base = base.clone();
        async move {
            // The clone URL refuses at once: a run's checkout fails fast, and the run ends.
            let yaml = format!(
                "name: {name}\nrepository: {{url: '{repo}.git', webhook_secret: HOOK}}\non: {{push: {{branches: [{branches}]}}}}\nstages: [{{name: s, steps: [{{name: t, command: ['true']}}]}}]\n"
            );
            let response = client
                .post(format!("{base}/api/v1/pipelines"))
                .header("content-type", "application/yaml")
                .body(yaml)
                .send()
                .await
                .expect("create");
            assert!(response.status().is_success(), "{}", response.status());
        }
    };

    // 1. Delivery → run started, against a start through the API.
    let repo = "http://127.0.0.1:1/team/app";
    create("app".into(), repo.into(), "main".into()).await;
    let mut delivered = Vec::new();
    let mut started = Vec::new();
    for round in 0..ROUNDS {
        let sha = format!("{:040x}", round + 1);
        let body = payload(repo, &sha, "main");
        let at = Instant::now();
        let outcome = deliver(&client, &base, round, &body).await;
        delivered.push(at.elapsed());
        let run = outcome["results"][0]["run_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no run started: {outcome}"));
        support::until_end(&client, &base, run).await;

        let at = Instant::now();
        let run: serde_json::Value = client
            .post(format!("{base}/api/v1/pipelines/app/runs"))
            .json(&serde_json::json!({"tag": "bench"}))
            .send()
            .await
            .expect("start")
            .json()
            .await
            .expect("json");
        started.push(at.elapsed());
        support::until_end(&client, &base, run["id"].as_i64().expect("id")).await;
    }
    let (d50, d99) = (
        percentile(&mut delivered, 0.5),
        percentile(&mut delivered, 0.99),
    );
    let (s50, s99) = (
        percentile(&mut started, 0.5),
        percentile(&mut started, 0.99),
    );
    println!("signed push delivery -> run recorded and started, {ROUNDS} rounds:");
    println!(
        "  delivery (verify, parse, record, match, start)  p50 {:7.2} ms  p99 {:7.2} ms",
        ms(d50),
        ms(d99)
    );
    println!(
        "  POST /pipelines/app/runs (the same start)       p50 {:7.2} ms  p99 {:7.2} ms",
        ms(s50),
        ms(s99)
    );
    println!(
        "  ratio delivery / API start: p50 {:.2}, p99 {:.2}",
        ms(d50) / ms(s50),
        ms(d99) / ms(s99)
    );

    // 2. One delivery against 1,000 pipelines.
    for i in 0..PIPELINES {
        create(
            format!("other-{i}"),
            format!("http://127.0.0.1:1/team/other-{i}"),
            "main".into(),
        )
        .await;
    }
    let samples = |n: usize| Vec::with_capacity(n);
    let mut by_index = samples(50);
    for round in 0..50 {
        let body = payload(repo, &format!("{:040x}", 10_000 + round), "feature");
        let at = Instant::now();
        deliver(&client, &base, 10_000 + round, &body).await;
        by_index.push(at.elapsed());
    }
    let shared = "http://127.0.0.1:1/team/shared";
    for i in 0..PIPELINES {
        create(format!("shared-{i}"), shared.into(), format!("release-{i}")).await;
    }
    let mut all_verified = samples(20);
    for round in 0..20 {
        let body = payload(shared, &format!("{:040x}", 20_000 + round), "main");
        let at = Instant::now();
        let outcome = deliver(&client, &base, 20_000 + round, &body).await;
        all_verified.push(at.elapsed());
        assert_eq!(outcome["results"].as_array().map(Vec::len), Some(PIPELINES));
    }
    let (i50, v50) = (
        percentile(&mut by_index, 0.5),
        percentile(&mut all_verified, 0.5),
    );
    println!("\none delivery matched against {PIPELINES} pipelines (median):");
    println!(
        "  {PIPELINES} other repositories (found by index)            {:8.2} ms",
        ms(i50)
    );
    println!("  {PIPELINES} pipelines of its repository, none matching  {:8.2} ms ({:.3} ms per pipeline)",
        ms(v50), ms(v50) / PIPELINES as f64);
}
