//! Benchmarks (not tests), printed as ratios measured in one run:
//! 1. a 200-step DAG (10 stages x 20 parallel no-op steps) run through the HTTP API,
//!    against `make -j2` on the same DAG;
//! 2. history pages at one million runs.
//!
//! Run: `cargo bench --bench dag`

use std::time::Instant;

use conveyor::config::ServeConfig;
use conveyor::Server;
use conveyor_core::dto::RunsQuery;
use conveyor_core::run::RunStatus;

mod support;

const STAGES: usize = 10;
const WIDTH: usize = 20;
const ROUNDS: usize = 5;

#[tokio::main]
async fn main() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServeConfig::for_data_dir(data_dir.path().to_path_buf());
    config.max_parallel = Some(2);
    let server = Server::bind(&config).await.expect("server");
    let base = format!("http://{}", server.local_addr());
    let service = server.service();
    tokio::spawn(server.run(std::future::pending()));
    // The benchmark acts as the first admin, with a token as a script would.
    let client = support::admin_client(&service).await;
    let created = client
        .post(format!("{base}/api/v1/pipelines"))
        .header(reqwest::header::CONTENT_TYPE, "application/yaml")
        .body(support::dag_yaml(STAGES, WIDTH, "command: ['true']"))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);

    let make_dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        make_dir.path().join("Makefile"),
        support::dag_makefile(STAGES, WIDTH, "true"),
    )
    .expect("Makefile");

    // Warm up both once, then alternate rounds so machine noise hits both alike.
    support::timed_run(&client, &base, "dag").await;
    support::make_round(make_dir.path());
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(support::timed_run(&client, &base, "dag").await);
        theirs.push(support::make_round(make_dir.path()));
    }
    let (ours, theirs) = (support::median(ours), support::median(theirs));
    println!("200-step DAG ({STAGES} stages x {WIDTH} parallel no-op steps), median of {ROUNDS}, 2 at a time:");
    println!(
        "  conveyor (HTTP API, SQLite, SSE to the end): {:>8.1} ms",
        ours.as_secs_f64() * 1000.0
    );
    println!(
        "  make -j2:                                    {:>8.1} ms",
        theirs.as_secs_f64() * 1000.0
    );
    println!(
        "  ratio conveyor / make: {:.2} (target <= 1.5)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );

    // History at scale: a million finished runs, then page reads.
    let store = service.store();
    let pipeline = store
        .pipeline("dag")
        .await
        .expect("query")
        .expect("pipeline")
        .0
        .id;
    let filling = Instant::now();
    store
        .insert_finished_runs(pipeline, 1_000_000)
        .await
        .expect("insert");
    println!(
        "\nhistory with {} runs (inserted in {:.1} s):",
        1_000_000 + ROUNDS + 1,
        filling.elapsed().as_secs_f64()
    );
    let deep = store
        .runs(
            None,
            &RunsQuery {
                limit: Some(1),
                before: Some(500_000),
                ..Default::default()
            },
        )
        .await
        .expect("page")
        .0[0]
        .id;
    let page = |before: Option<i64>, status: Option<RunStatus>| RunsQuery {
        limit: Some(25),
        before,
        status,
        ..Default::default()
    };
    let cases = [
        ("newest page, all runs", None, page(None, None)),
        ("page 20,000 deep (keyset)", None, page(Some(deep), None)),
        (
            "failed runs of one pipeline",
            Some(pipeline),
            page(None, Some(RunStatus::Failed)),
        ),
    ];
    for (what, pipeline, query) in cases {
        let mut samples = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let (runs, _, _) = store.runs(pipeline, &query).await.expect("page");
            samples.push(started.elapsed());
            assert_eq!(runs.len(), 25);
        }
        println!(
            "  {what:<30} {:>7.3} ms (median of 20)",
            support::median(samples).as_secs_f64() * 1000.0
        );
    }
}
