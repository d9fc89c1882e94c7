//! The Tekton engine end to end: a real Conveyor server whose kube-rs client talks, through
//! a real kubeconfig, to the Kubernetes API double in `support/fake_kube.rs` (real HTTP, real
//! watch streams, a scripted Tekton controller running each step as a real process).
//!
//! With `CONVEYOR_TEST_KUBECONFIG` set, the same tests run against that cluster instead
//! (namespace `CONVEYOR_TEST_NAMESPACE`, default `conveyor-test`, with Tekton installed);
//! the few that need the double's hooks (holding a task, expiring watches) say so and stop.

use std::path::PathBuf;

use crate::support::fake_kube::FakeCluster;
use crate::support::{
    fails_once_per_workspace, logs, outcome, seq_of, step_statuses, SseEvent, TestApp,
};
use conveyor::config::ServeConfig;
use conveyor_core::definition::EngineKind;
use conveyor_core::run::{EventBody, RunStatus, StepStatus};
use tempfile::TempDir;

enum Target {
    Fake(FakeCluster),
    Real {
        kubeconfig: PathBuf,
        namespace: String,
        /// Held for the whole test: servers in one namespace would each have a run 1 and
        /// name their objects after it, so tests on a real cluster take turns.
        _turn: tokio::sync::MutexGuard<'static, ()>,
    },
}

static REAL_CLUSTER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Target {
    async fn new() -> Target {
        match std::env::var_os("CONVEYOR_TEST_KUBECONFIG") {
            Some(path) => Target::Real {
                kubeconfig: path.into(),
                namespace: std::env::var("CONVEYOR_TEST_NAMESPACE")
                    .unwrap_or_else(|_| "conveyor-test".into()),
                _turn: REAL_CLUSTER.lock().await,
            },
            None => Target::Fake(FakeCluster::start().await),
        }
    }

    /// The double, for tests that need its hooks; `None` (and a note) on a real cluster.
    fn fake(&self, test: &str) -> Option<&FakeCluster> {
        match self {
            Target::Fake(cluster) => Some(cluster),
            Target::Real { .. } => {
                eprintln!("{test}: needs the API double's hooks; not run against a real cluster");
                None
            }
        }
    }

    fn configure(&self, config: &mut ServeConfig) {
        config.engine = EngineKind::Tekton;
        let (kubeconfig, namespace) = match self {
            Target::Fake(cluster) => (cluster.kubeconfig.clone(), cluster.namespace.clone()),
            Target::Real {
                kubeconfig,
                namespace,
                ..
            } => (kubeconfig.clone(), namespace.clone()),
        };
        config.kubeconfig = Some(kubeconfig);
        config.tekton_namespace = namespace;
    }

    async fn app(&self) -> TestApp {
        TestApp::spawn_with(|config| self.configure(config)).await
    }

    async fn app_in(&self, data: TempDir) -> TestApp {
        TestApp::spawn_in(data, |config| self.configure(config)).await
    }
}

/// Pipeline names of their own per test process, so runs left on a real cluster by an earlier
/// process are told apart from this one's.
fn unique(name: &str) -> String {
    format!("{name}-{}", std::process::id())
}

const THREE_STAGES: &str = r#"
name: NAME
with: {GREETING: hello}
stages:
  - name: build
    steps:
      - {name: compile, script: 'echo "compiled $TAG" > "$CONVEYOR_WORKSPACE/artifact"; echo "$GREETING from compile"'}
  - name: test
    steps:
      - {name: unit, parallel: true, script: 'echo unit; cat "$CONVEYOR_WORKSPACE/artifact"'}
      - {name: lint, parallel: true, command: [echo, lint, ok]}
  - name: ship
    steps:
      - {name: publish, script: 'echo "publishing $(cat "$CONVEYOR_WORKSPACE/artifact")"'}
"#;

/// The status changes of a run (for failure messages without its log).
fn statuses(events: &[SseEvent]) -> Vec<&EventBody> {
    events
        .iter()
        .map(|e| &e.event.body)
        .filter(|b| !matches!(b, EventBody::Log { .. }))
        .collect()
}

fn step_named<'a>(detail: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    detail["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["name"] == name)
        .expect("step")
}

#[tokio::test]
async fn a_three_stage_pipeline_succeeds_on_tekton() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("three");
    app.create_pipeline(&THREE_STAGES.replace("NAME", &name))
        .await;
    let run = app.start_run(&name, "v1.2.3").await;
    let events = app.all_events(run).await;

    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    assert_eq!(logs(&events, "compile"), ["hello from compile"]);
    assert_eq!(
        logs(&events, "unit"),
        ["unit", "compiled v1.2.3"],
        "steps share the workspace"
    );
    assert_eq!(logs(&events, "lint"), ["lint ok"]);
    assert_eq!(logs(&events, "publish"), ["publishing compiled v1.2.3"]);
    for step in ["compile", "unit", "lint", "publish"] {
        assert_eq!(
            step_statuses(&events, step),
            [StepStatus::Running, StepStatus::Succeeded],
            "{step}"
        );
    }
    // Stage order holds on the cluster too.
    for test_step in ["unit", "lint"] {
        assert!(
            seq_of(&events, "compile", StepStatus::Succeeded)
                < seq_of(&events, test_step, StepStatus::Running)
        );
        assert!(
            seq_of(&events, test_step, StepStatus::Succeeded)
                < seq_of(&events, "publish", StepStatus::Running)
        );
    }
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(step_named(&detail, "lint")["exit_code"], 0);

    if let Some(cluster) = target.fake("pipeline run objects") {
        let runs = cluster.objects("pipelineruns");
        assert_eq!(runs.len(), 1, "one PipelineRun for a run without gates");
        let labels = &runs[0]["metadata"]["labels"];
        assert_eq!(labels["conveyor.dev/run"], run.to_string());
        assert_eq!(labels["app.kubernetes.io/managed-by"], "conveyor");
        assert_eq!(cluster.objects("taskruns").len(), 4);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_failing_step_fails_the_run_and_skips_its_dependents() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("failing");
    app.create_pipeline(&format!(
        "
name: {name}
stages:
  - name: build
    steps:
      - {{name: broken, script: 'echo trying; exit 3'}}
  - name: after
    steps:
      - {{name: never, script: 'echo should not run'}}
"
    ))
    .await;
    let run = app.start_run(&name, "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(
        outcome(&events),
        (RunStatus::Failed, Some("step \"broken\" failed".into()))
    );
    assert_eq!(logs(&events, "broken"), ["trying"]);
    assert_eq!(
        step_statuses(&events, "broken"),
        [StepStatus::Running, StepStatus::Failed]
    );
    assert_eq!(step_statuses(&events, "never"), [StepStatus::Skipped]);
    assert!(logs(&events, "never").is_empty());
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(step_named(&detail, "broken")["exit_code"], 3);
    app.stop().await;
}

#[tokio::test]
async fn cancel_stops_the_pipeline_run() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("cancel");
    app.create_pipeline(&format!(
        "
name: {name}
stages:
  - name: wait
    steps:
      - {{name: long, script: 'echo started; sleep 300'}}
  - name: after
    steps:
      - {{name: later, script: 'echo later'}}
"
    ))
    .await;
    let run = app.start_run(&name, "v1").await;
    let mut stream = app.events(run, None).await;
    stream.until(|e| matches!(&e.event.body, EventBody::Log { step, text, .. } if step == "long" && text == "started")).await;
    assert_eq!(app.post(&format!("/api/v1/runs/{run}/cancel")).await, 202);
    let rest = stream.until_end().await;
    assert_eq!(outcome(&rest).0, RunStatus::Cancelled);
    assert_eq!(step_statuses(&rest, "long"), [StepStatus::Cancelled]);
    assert_eq!(step_statuses(&rest, "later"), [StepStatus::Cancelled]);
    if let Some(cluster) = target.fake("cancel patch") {
        let runs = cluster.objects("pipelineruns");
        assert_eq!(
            runs[0]["spec"]["status"], "Cancelled",
            "cancelled the Tekton way"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn an_approval_gate_splits_the_run_and_the_rest_starts_only_when_approved() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("gated");
    app.create_pipeline(&format!(
        "
name: {name}
stages:
  - name: build
    steps:
      - {{name: build, script: 'echo artifact > \"$CONVEYOR_WORKSPACE/out\"; echo built'}}
  - name: release
    steps:
      - {{name: release, approval: true, script: 'echo \"releasing $(cat \"$CONVEYOR_WORKSPACE/out\")\"'}}
      - {{name: announce, script: 'echo announced'}}
"
    ))
    .await;
    let run = app.start_run(&name, "v1").await;
    let mut stream = app.events(run, None).await;
    let before = stream
        .until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::WaitingApproval, .. } if step == "release"))
        .await;
    assert_eq!(logs(&before, "build"), ["built"]);
    if let Some(cluster) = target.fake("segments") {
        let runs = cluster.objects("pipelineruns");
        assert_eq!(
            runs.len(),
            1,
            "nothing after the gate is on the cluster yet"
        );
        assert_eq!(
            runs[0]["spec"]["pipelineSpec"]["tasks"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            cluster.objects("persistentvolumeclaims").len(),
            1,
            "a gated run keeps its workspace in its own claim"
        );
    }
    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/steps/release/approve"))
            .await,
        202
    );
    let rest = stream.until_end().await;
    assert_eq!(outcome(&rest).0, RunStatus::Succeeded, "{rest:#?}");
    assert_eq!(
        logs(&rest, "release"),
        ["releasing artifact"],
        "the segment after the gate sees the files of the one before"
    );
    assert_eq!(logs(&rest, "announce"), ["announced"]);
    if let Some(cluster) = target.fake("segments") {
        let runs = cluster.objects("pipelineruns");
        assert_eq!(runs.len(), 2);
        assert!(runs
            .iter()
            .any(|r| r["metadata"]["labels"]["conveyor.dev/segment"] == "1"));
        cluster
            .until("persistentvolumeclaims", <[_]>::is_empty)
            .await;
    }
    app.stop().await;
}

#[tokio::test]
async fn log_lines_arrive_complete_and_in_order() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("chatty");
    app.create_pipeline(&format!(
        "
name: {name}
stages:
  - name: s
    steps:
      - {{name: count, command: [seq, '1', '20000']}}
      - {{name: tail, script: 'printf \"a\\nb\\nno-newline\"'}}
"
    ))
    .await;
    let run = app.start_run(&name, "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(
        outcome(&events).0,
        RunStatus::Succeeded,
        "{:#?}",
        statuses(&events)
    );
    let expected: Vec<String> = (1..=20000).map(|n| n.to_string()).collect();
    assert_eq!(logs(&events, "count"), expected);
    assert_eq!(logs(&events, "tail"), ["a", "b", "no-newline"]);
    // Every line is recorded before the step's end.
    let last_line = events
        .iter()
        .rposition(|e| matches!(&e.event.body, EventBody::Log { step, .. } if step == "count"));
    assert!(
        last_line.map(|i| events[i].id) < Some(seq_of(&events, "count", StepStatus::Succeeded))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_watch_that_expires_with_410_is_listed_again_and_nothing_is_missed() {
    let target = Target::new().await;
    let Some(cluster) = target.fake("410 Gone") else {
        return;
    };
    let app = target.app().await;
    let name = unique("gone");
    app.create_pipeline(&format!(
        "
name: {name}
stages:
  - name: one
    steps:
      - {{name: first, script: 'echo first'}}
  - name: two
    steps:
      - {{name: second, script: 'echo second'}}
"
    ))
    .await;
    cluster.hold("second");
    let run = app.start_run(&name, "v1").await;
    let mut stream = app.events(run, None).await;
    stream.until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::Succeeded, .. } if step == "first")).await;
    let lists = (cluster.lists("pipelineruns"), cluster.lists("taskruns"));
    cluster.expire_watches();
    cluster.release("second");
    let rest = stream.until_end().await;
    assert_eq!(outcome(&rest).0, RunStatus::Succeeded);
    assert_eq!(logs(&rest, "second"), ["second"]);
    // Both watchers start over with a new list (after their backoff) rather than give up.
    cluster.until_listed("pipelineruns", lists.0).await;
    cluster.until_listed("taskruns", lists.1).await;
    app.stop().await;
}

#[tokio::test]
async fn a_run_in_flight_when_the_server_restarts_is_resumed_and_finished() {
    let target = Target::new().await;
    if target.fake("restart").is_none() {
        return;
    }
    let gate = tempfile::tempdir().expect("temp dir");
    let fifo = gate.path().join("gate");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let app = target.app().await;
    let name = unique("restart");
    app.create_pipeline(&format!(
        "
name: {name}
stages:
  - name: one
    steps:
      - {{name: before, script: 'echo b1; read line < {fifo}; echo \"b2 $line\"'}}
  - name: two
    steps:
      - {{name: after, script: 'echo a1'}}
",
        fifo = fifo.display()
    ))
    .await;
    let run = app.start_run(&name, "v1").await;
    let mut stream = app.events(run, None).await;
    stream
        .until(|e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "b1"))
        .await;
    let data = app.stop_keeping_data().await;

    // While no server watches, the step goes on on the cluster and writes more log.
    std::fs::write(&fifo, "go\n").expect("open the gate");
    let app = target.app_in(data).await;
    let events: Vec<SseEvent> = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    assert_eq!(
        logs(&events, "before"),
        ["b1", "b2 go"],
        "each line once, in order, across the restart"
    );
    assert_eq!(logs(&events, "after"), ["a1"]);
    assert_eq!(
        step_statuses(&events, "before"),
        [StepStatus::Running, StepStatus::Succeeded]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_engine_uses_only_what_the_deployed_role_grants() {
    let target = Target::new().await;
    let Some(cluster) = target.fake("RBAC audit") else {
        return;
    };
    let app = target.app().await;
    let name = unique("audited");
    app.create_pipeline(&format!(
        "
name: {name}
stages:
  - name: build
    steps:
      - {{name: build, script: 'echo built'}}
  - name: release
    steps:
      - {{name: release, approval: true, script: 'echo released; sleep 300'}}
"
    ))
    .await;
    let run = app.start_run(&name, "v1").await;
    let mut stream = app.events(run, None).await;
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
    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/steps/release/approve"))
            .await,
        202
    );
    stream
        .until(|e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "released"))
        .await;
    assert_eq!(app.post(&format!("/api/v1/runs/{run}/cancel")).await, 202);
    assert_eq!(outcome(&stream.until_end().await).0, RunStatus::Cancelled);
    app.stop().await;

    let used = cluster.assert_granted_by_deployed_role();
    for expected in [
        ("create", "tekton.dev", "pipelineruns"),
        ("patch", "tekton.dev", "pipelineruns"),
        ("watch", "tekton.dev", "taskruns"),
        ("get", "", "pods/log"),
        ("create", "", "persistentvolumeclaims"),
        ("list", "", "persistentvolumeclaims"),
    ] {
        let expected = (
            expected.0.to_owned(),
            expected.1.to_owned(),
            expected.2.to_owned(),
        );
        assert!(
            used.contains(&expected),
            "the audit saw {expected:?}: {used:?}"
        );
    }
}

#[tokio::test]
async fn a_pipeline_can_ask_for_tekton_on_a_server_whose_default_is_local() {
    let target = Target::new().await;
    let app = TestApp::spawn_with(|config| {
        target.configure(config);
        config.engine = EngineKind::Local;
    })
    .await;
    let (on_cluster, on_host) = (unique("on-cluster"), unique("on-host"));
    app.create_pipeline(&format!("name: {on_cluster}\nengine: tekton\nstages: [{{name: s, steps: [{{name: a, script: 'echo where'}}]}}]")).await;
    app.create_pipeline(&format!(
        "name: {on_host}\nstages: [{{name: s, steps: [{{name: a, script: 'echo where'}}]}}]"
    ))
    .await;
    let (_, detail) = app.get_json(&format!("/api/v1/pipelines/{on_host}")).await;
    assert_eq!(detail["engine"], "local");

    let cluster_run = app.start_run(&on_cluster, "v1").await;
    let host_run = app.start_run(&on_host, "v1").await;
    for run in [cluster_run, host_run] {
        let events = app.all_events(run).await;
        assert_eq!(outcome(&events).0, RunStatus::Succeeded);
        assert_eq!(logs(&events, "a"), ["where"]);
    }
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{cluster_run}")).await;
    assert_eq!(detail["engine"], "tekton");
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{host_run}")).await;
    assert_eq!(detail["engine"], "local");
    if let Some(cluster) = target.fake("engine choice") {
        let runs = cluster.objects("pipelineruns");
        assert_eq!(
            runs.len(),
            1,
            "only the pipeline that asked for Tekton went to the cluster"
        );
        assert_eq!(
            runs[0]["metadata"]["labels"]["conveyor.dev/run"],
            cluster_run.to_string()
        );
    }
    app.stop().await;
}

/// The workspace claims labelled as one run's.
fn claims_of(cluster: &FakeCluster, run: i64) -> Vec<String> {
    let label = run.to_string();
    cluster
        .objects("persistentvolumeclaims")
        .iter()
        .filter(|c| c["metadata"]["labels"]["conveyor.dev/run"] == label.as_str())
        .map(|c| {
            c["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn retry(app: &TestApp, run: i64) -> i64 {
    let body = app.retry(run).await;
    assert_eq!(body["trigger"], "rerun");
    body["id"].as_i64().expect("id")
}

#[tokio::test]
async fn re_running_failed_steps_on_tekton_runs_only_them_in_the_earlier_runs_workspace() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("flaky");
    app.create_pipeline(&fails_once_per_workspace(&name)).await;
    let first = app.start_run(&name, "v7").await;
    let events = app.all_events(first).await;
    assert_eq!(
        outcome(&events).0,
        RunStatus::Failed,
        "{:#?}",
        statuses(&events)
    );
    assert_eq!(logs(&events, "ship"), ["not yet"]);
    assert_eq!(step_statuses(&events, "notify"), [StepStatus::Skipped]);
    if let Some(cluster) = target.fake("kept claim") {
        assert_eq!(
            claims_of(cluster, first),
            [format!("conveyor-run-{first}")],
            "a run that failed keeps its workspace"
        );
    }

    let second = retry(&app, first).await;
    let events = app.all_events(second).await;
    assert_eq!(
        outcome(&events).0,
        RunStatus::Succeeded,
        "{:#?}",
        statuses(&events)
    );
    // `compile` is not run again: no status change, no log; its artifact is still there, once.
    assert!(step_statuses(&events, "compile").is_empty());
    assert!(logs(&events, "compile").is_empty());
    let first_number = app.get_json(&format!("/api/v1/runs/{first}")).await.1["number"].clone();
    assert_eq!(
        logs(&events, "ship"),
        [format!("re-running the steps that did not succeed in run #{first_number}, in its workspace (claim conveyor-run-{first})"), "shipping built".into()]
    );
    assert_eq!(
        step_statuses(&events, "ship"),
        [StepStatus::Running, StepStatus::Succeeded]
    );
    assert_eq!(logs(&events, "notify"), ["notified"]);
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{second}")).await;
    assert_eq!(step_named(&detail, "compile")["status"], "succeeded");
    assert_eq!(detail["engine"], "tekton");

    if let Some(cluster) = target.fake("re-run objects") {
        let label = second.to_string();
        let mine: Vec<serde_json::Value> = cluster
            .objects("pipelineruns")
            .into_iter()
            .filter(|r| r["metadata"]["labels"]["conveyor.dev/run"] == label.as_str())
            .collect();
        assert_eq!(mine.len(), 1);
        let tasks: Vec<&str> = mine[0]["spec"]["pipelineSpec"]["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        assert_eq!(
            tasks,
            ["ship", "notify"],
            "only what did not succeed goes to the cluster"
        );
        assert_eq!(
            mine[0]["spec"]["workspaces"][0]["persistentVolumeClaim"]["claimName"],
            format!("conveyor-run-{first}")
        );
        // The re-run succeeded: the workspace it took over is deleted.
        cluster
            .until("persistentvolumeclaims", <[_]>::is_empty)
            .await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_new_run_drops_the_workspace_an_earlier_failed_run_kept() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("dropped");
    app.create_pipeline(&fails_once_per_workspace(&name)).await;
    let first = app.start_run(&name, "v1").await;
    assert_eq!(outcome(&app.all_events(first).await).0, RunStatus::Failed);
    // A run of its own (not a re-run) starts in a fresh workspace and fails the same way;
    // only the latest run that did not succeed keeps its workspace.
    let second = app.start_run(&name, "v2").await;
    let events = app.all_events(second).await;
    assert_eq!(logs(&events, "ship"), ["not yet"]);
    if let Some(cluster) = target.fake("dropped claim") {
        assert!(claims_of(cluster, first).is_empty());
        assert_eq!(
            claims_of(cluster, second),
            [format!("conveyor-run-{second}")]
        );
    }

    // Re-running the first run's failed steps says its files are gone, and runs them anyway.
    let third = retry(&app, first).await;
    let events = app.all_events(third).await;
    let first_number = app.get_json(&format!("/api/v1/runs/{first}")).await.1["number"].clone();
    assert_eq!(
        logs(&events, "ship"),
        [
            format!(
                "the workspace of run #{first_number} is gone: the steps re-run without its files"
            ),
            "not yet".into()
        ]
    );
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    app.stop().await;
}

#[tokio::test]
async fn steps_named_with_dots_run_on_tekton_under_kubernetes_names() {
    let target = Target::new().await;
    let app = target.app().await;
    let name = unique("dotted");
    app.create_pipeline(&format!(
        "name: {name}\nstages:\n  - name: s\n    steps:\n      - {{name: step1.1, script: 'echo one'}}\n      - {{name: step1.2, script: 'echo two'}}\n"
    ))
    .await;
    let run = app.start_run(&name, "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(
        outcome(&events).0,
        RunStatus::Succeeded,
        "{:#?}",
        statuses(&events)
    );
    assert_eq!(logs(&events, "step1.1"), ["one"]);
    assert_eq!(logs(&events, "step1.2"), ["two"]);
    assert!(
        seq_of(&events, "step1.1", StepStatus::Succeeded)
            < seq_of(&events, "step1.2", StepStatus::Running)
    );
    if let Some(cluster) = target.fake("task names") {
        let runs = cluster.objects("pipelineruns");
        assert_eq!(
            runs[0]["spec"]["pipelineSpec"]["tasks"][1]["runAfter"],
            serde_json::json!(["step1-1"])
        );
    }
    app.stop().await;
}
