//! Benchmarks (not tests) of container steps on the local engine (podman), printed as
//! ratios measured in one run:
//! 1. a 200-step DAG (10 stages x 20 parallel steps, each `true` in a container) run
//!    through the HTTP API, against the same DAG of `podman run` calls driven by `make -j2`;
//! 2. the overhead of one container step over one host step.
//!
//! Run: `cargo bench --bench containers` (needs podman: `scripts/setup.sh --test`).

use std::time::Duration;

use conveyor::config::ServeConfig;
use conveyor::Server;

#[path = "../tests/integration/support/images.rs"]
#[allow(dead_code)]
mod images;
mod support;

const STAGES: usize = 10;
const WIDTH: usize = 20;
const ROUNDS: usize = 3;
const SINGLE_ROUNDS: usize = 15;

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    tokio::task::spawn_blocking(images::seed_images)
        .await
        .expect("images");
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServeConfig::for_data_dir(data_dir.path().to_path_buf());
    config.max_parallel = Some(2);
    config.container_runtime = "podman".into();
    let server = Server::bind(&config).await.expect("server");
    let base = format!("http://{}", server.local_addr());
    let service = server.service();
    tokio::spawn(server.run(std::future::pending()));
    let client = support::admin_client(&service).await;
    let single = |name: &str, step: &str| {
        format!("name: {name}\nstages:\n  - name: s\n    steps:\n      - {step}\n")
    };
    for document in [
        support::dag_yaml(
            STAGES,
            WIDTH,
            &format!("image: '{}', command: ['true']", images::BUSYBOX),
        ),
        single(
            "boxed",
            &format!(
                "{{name: one, image: '{}', command: ['true']}}",
                images::BUSYBOX
            ),
        ),
        single("hosted", "{name: one, command: ['true']}"),
    ] {
        let created = client
            .post(format!("{base}/api/v1/pipelines"))
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(document)
            .send()
            .await
            .expect("create");
        assert_eq!(created.status(), 201);
    }

    // One step: a container against a host process, alternating.
    support::timed_run(&client, &base, "boxed").await;
    support::timed_run(&client, &base, "hosted").await;
    let (mut boxed, mut hosted) = (Vec::new(), Vec::new());
    for _ in 0..SINGLE_ROUNDS {
        boxed.push(support::timed_run(&client, &base, "boxed").await);
        hosted.push(support::timed_run(&client, &base, "hosted").await);
    }
    let (boxed, hosted) = (support::median(boxed), support::median(hosted));
    println!("one step, a run through the HTTP API to its end, median of {SINGLE_ROUNDS}:");
    println!("  in a container (podman, `true`): {:>8.1} ms", ms(boxed));
    println!("  on the host (`true`):            {:>8.1} ms", ms(hosted));
    println!(
        "  overhead of a container step:    {:>8.1} ms ({:.1}x the host step)",
        ms(boxed) - ms(hosted),
        boxed.as_secs_f64() / hosted.as_secs_f64()
    );

    let make_dir = tempfile::tempdir().expect("temp dir");
    // Each target one `podman run` of the same image and command, with the flags Conveyor
    // gives it (host network, no log copy, removed at exit).
    let recipe = format!(
        "podman run --rm --network host --log-driver none --pull never --entrypoint '[\"true\"]' {}",
        images::BUSYBOX
    );
    std::fs::write(
        make_dir.path().join("Makefile"),
        support::dag_makefile(STAGES, WIDTH, &recipe),
    )
    .expect("Makefile");
    support::timed_run(&client, &base, "dag").await;
    support::make_round(make_dir.path());
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(support::timed_run(&client, &base, "dag").await);
        theirs.push(support::make_round(make_dir.path()));
    }
    let (ours, theirs) = (support::median(ours), support::median(theirs));
    println!(
        "\n200-step DAG of container steps ({STAGES} stages x {WIDTH} parallel), median of {ROUNDS}, 2 at a time:"
    );
    println!(
        "  conveyor (HTTP API, podman, SQLite, SSE to the end): {:>9.1} ms",
        ms(ours)
    );
    println!(
        "  make -j2 of the same `podman run` calls:             {:>9.1} ms",
        ms(theirs)
    );
    println!(
        "  ratio conveyor / make: {:.2}",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}
