//! The local engine with real processes, observed through the API and the event stream.

use crate::support::images::{seed_images, BUSYBOX};
use crate::support::process::ServerProcess;
use crate::support::{fails_once_per_workspace, logs, outcome, seq_of, step_statuses, TestApp};
use conveyor_core::run::{EventBody, LogStream, RunStatus, StepStatus};

#[tokio::test]
async fn steps_start_only_after_their_needs_succeed() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        "
name: order
stages:
  - name: build
    steps:
      - {name: compile, script: 'echo compile >> \"$CONVEYOR_WORKSPACE/order\"'}
      - {name: package, script: 'echo package >> \"$CONVEYOR_WORKSPACE/order\"'}
  - name: test
    steps:
      - {name: unit, parallel: true, script: 'echo unit >> \"$CONVEYOR_WORKSPACE/order\"'}
      - {name: lint, parallel: true, script: 'echo lint >> \"$CONVEYOR_WORKSPACE/order\"'}
      - {name: report, script: 'cat \"$CONVEYOR_WORKSPACE/order\"'}
",
    )
    .await;
    let run = app.start_run("order", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded);
    let edges = [
        ("compile", "package"),
        ("package", "unit"),
        ("package", "lint"),
        ("unit", "report"),
        ("lint", "report"),
    ];
    for (before, after) in edges {
        assert!(
            seq_of(&events, before, StepStatus::Succeeded)
                < seq_of(&events, after, StepStatus::Running),
            "{after} started before {before} succeeded"
        );
    }
    let order = logs(&events, "report");
    assert_eq!(
        &order[..2],
        ["compile", "package"],
        "the workspace is shared by all steps"
    );
    let mut tail = order[2..4].to_vec();
    tail.sort();
    assert_eq!(tail, ["lint", "unit"]);
    app.stop().await;
}

#[tokio::test]
async fn parallel_steps_really_overlap() {
    let app = TestApp::spawn().await;
    // Each step waits for the other's marker: only concurrent execution lets both finish.
    app.create_pipeline(
        r#"
name: meet
stages:
  - name: s
    steps:
      - name: left
        parallel: true
        timeout: 20s
        script: |
          touch "$CONVEYOR_WORKSPACE/left"
          while [ ! -f "$CONVEYOR_WORKSPACE/right" ]; do sleep 0.01; done
      - name: right
        parallel: true
        timeout: 20s
        script: |
          touch "$CONVEYOR_WORKSPACE/right"
          while [ ! -f "$CONVEYOR_WORKSPACE/left" ]; do sleep 0.01; done
"#,
    )
    .await;
    let run = app.start_run("meet", "v1").await;
    assert_eq!(outcome(&app.all_events(run).await).0, RunStatus::Succeeded);
    app.stop().await;
}

#[tokio::test]
async fn the_concurrency_cap_holds() {
    let app = TestApp::spawn_with(|config| config.max_parallel = Some(1)).await;
    // mkdir is atomic: a second step inside the critical section at once would fail.
    let step = |name: &str| {
        format!(
            "      - name: {name}\n        parallel: true\n        script: |\n          mkdir \"$CONVEYOR_WORKSPACE/busy\"\n          sleep 0.2\n          rmdir \"$CONVEYOR_WORKSPACE/busy\"\n"
        )
    };
    let source = format!(
        "name: capped\nstages:\n  - name: s\n    steps:\n{}{}{}",
        step("a"),
        step("b"),
        step("c")
    );
    app.create_pipeline(&source).await;
    let run = app.start_run("capped", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(
        outcome(&events),
        (RunStatus::Succeeded, None),
        "{events:#?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn params_reach_the_environment_by_precedence() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        r#"
name: params
with: {A: pipeline, B: pipeline, C: pipeline, TAG: pipeline}
actions:
  - name: show
    version: "1"
    defaults: {A: action, B: action, C: action, D: action}
    script: echo "A=$A B=$B C=$C D=$D TAG=$TAG E=$E"
stages:
  - name: s
    steps:
      - name: show
        action: show@1
        with: {A: step}
        env: {E: explicit}
      - name: internals
        script: |
          echo "run=$CONVEYOR_RUN_ID tag=$CONVEYOR_TAG pipeline=$CONVEYOR_PIPELINE step=$CONVEYOR_STEP"
          test "$(pwd)" = "$CONVEYOR_WORKSPACE" && echo "cwd is the workspace"
"#,
    )
    .await;
    let run = app
        .start_run_with(
            "params",
            "v2.0",
            serde_json::json!({"B": "run", "A": "run"}),
        )
        .await;
    let events = app.all_events(run).await;
    assert_eq!(
        logs(&events, "show"),
        ["A=step B=run C=pipeline D=action TAG=v2.0 E=explicit"]
    );
    assert_eq!(
        logs(&events, "internals"),
        [
            format!("run={run} tag=v2.0 pipeline=params step=internals"),
            "cwd is the workspace".into(),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn the_servers_own_environment_is_not_passed_on_to_steps() {
    // A server process of its own: setting a variable in this process would race the other
    // tests' threads.
    tokio::task::spawn_blocking(seed_images)
        .await
        .expect("images made");
    let data = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(data.path(), &[("CONVEYOR_TEST_SECRET", "hunter2")]).await;
    // On the host, and in a container (through the runtime's own process).
    let show = r#"script: 'echo "secret=${CONVEYOR_TEST_SECRET:-unset}"'"#;
    server
        .create_pipeline(&format!(
            "name: env\nstages: [{{name: s, steps: [{{name: host, {show}}}, {{name: boxed, image: '{BUSYBOX}', {show}}}]}}]"
        ))
        .await;
    let run = server.start_run("env").await;
    let events = server.events(run).await.until_end().await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:?}");
    assert_eq!(logs(&events, "host"), ["secret=unset"]);
    assert_eq!(logs(&events, "boxed"), ["secret=unset"]);
    server.kill().await;
}

#[tokio::test]
async fn a_failed_step_skips_its_dependents_and_fails_the_run() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        "
name: broken
stages:
  - name: build
    steps:
      - {name: compile, script: 'echo compiling; exit 3'}
      - {name: side, needs: [], script: 'echo independent'}
  - name: deploy
    steps:
      - {name: ship, script: 'echo never'}
",
    )
    .await;
    let run = app.start_run("broken", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(
        outcome(&events),
        (RunStatus::Failed, Some("step \"compile\" failed".into()))
    );
    assert_eq!(
        step_statuses(&events, "compile"),
        [StepStatus::Running, StepStatus::Failed]
    );
    assert_eq!(
        step_statuses(&events, "side"),
        [StepStatus::Running, StepStatus::Succeeded]
    );
    assert_eq!(step_statuses(&events, "ship"), [StepStatus::Skipped]);
    assert!(logs(&events, "ship").is_empty());
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    let compile = &detail["steps"][0];
    assert_eq!(compile["exit_code"], 3);
    assert_eq!(compile["message"], "exited with code 3");
    assert_eq!(detail["steps"][2]["message"], "skipped: \"compile\" failed");
    app.stop().await;
}

#[tokio::test]
async fn a_timeout_kills_the_step() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        "name: slow\nstages:\n  - name: s\n    steps:\n      - {name: nap, timeout: 1s, script: 'echo napping; sleep 60'}\n      - {name: after, script: 'echo never'}\n",
    )
    .await;
    let run = app.start_run("slow", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    let message = events.iter().find_map(|e| match &e.event.body {
        EventBody::Step {
            step,
            status: StepStatus::Failed,
            message,
            ..
        } if step == "nap" => message.clone(),
        _ => None,
    });
    assert_eq!(message.as_deref(), Some("timed out after 1s"));
    assert_eq!(step_statuses(&events, "after"), [StepStatus::Skipped]);
    app.stop().await;
}

fn process_is_gone(pid: i32) -> bool {
    // A zombie (state Z) has exited; only its exit status is left for a reaper.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(") ")
            .next()
            .is_some_and(|rest| rest.starts_with('Z')),
    }
}

#[tokio::test]
async fn cancel_kills_the_whole_process_group() {
    let app = TestApp::spawn_with(|config| config.keep_workspaces = true).await;
    app.create_pipeline(
        r#"
name: cancel-me
stages:
  - name: s
    steps:
      - name: sleeper
        script: |
          sh -c 'sleep 300' &
          echo $! > "$CONVEYOR_WORKSPACE/grandchild.pid"
          echo started
          wait
      - name: after
        script: echo never
"#,
    )
    .await;
    let run = app.start_run("cancel-me", "v1").await;
    let mut stream = app.events(run, None).await;
    stream
        .until(|e| matches!(&e.event.body, EventBody::Log { text, .. } if text == "started"))
        .await;
    let pid_file = app
        .data_dir
        .path()
        .join(format!("workspaces/cancel-me/run-{run}/grandchild.pid"));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    assert!(!process_is_gone(pid), "the grandchild runs before cancel");

    assert_eq!(app.post(&format!("/api/v1/runs/{run}/cancel")).await, 202);
    let rest = stream.until_end().await;
    assert_eq!(
        outcome(&rest),
        (RunStatus::Cancelled, Some("cancelled".into()))
    );
    assert!(rest.iter().any(|e| matches!(
        e.event.body,
        EventBody::Run {
            status: RunStatus::Cancelling,
            ..
        }
    )));
    assert_eq!(step_statuses(&rest, "sleeper"), [StepStatus::Cancelled]);
    assert_eq!(step_statuses(&rest, "after"), [StepStatus::Cancelled]);
    assert!(
        process_is_gone(pid),
        "the grandchild {pid} outlived the cancel"
    );

    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/cancel")).await,
        409,
        "an ended run cannot be cancelled"
    );
    app.stop().await;
}

const GATED: &str = "
name: gated
stages:
  - name: build
    steps:
      - {name: build, script: 'echo built'}
  - name: release
    steps:
      - {name: release, approval: true, approval_params: {approvers: 'ops, role:admin'}, script: 'echo released'}
      - {name: announce, script: 'echo announced'}
";

#[tokio::test]
async fn an_approved_step_runs() {
    let app = TestApp::spawn().await;
    app.create_pipeline(GATED).await;
    let run = app.start_run("gated", "v1").await;
    let mut stream = app.events(run, None).await;
    let before = stream
        .until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::WaitingApproval, .. } if step == "release"))
        .await;
    assert_eq!(logs(&before, "build"), ["built"]);
    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/steps/announce/approve"))
            .await,
        409,
        "only a waiting step can be approved"
    );
    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/steps/release/approve"))
            .await,
        202
    );
    let rest = stream.until_end().await;
    assert_eq!(outcome(&rest).0, RunStatus::Succeeded);
    assert_eq!(logs(&rest, "release"), ["released"]);
    assert_eq!(logs(&rest, "announce"), ["announced"]);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_step_skips_its_dependents_and_refuses_the_run() {
    let app = TestApp::spawn().await;
    app.create_pipeline(GATED).await;
    let run = app.start_run("gated", "v1").await;
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
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["status"], "waiting_approval");
    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/steps/release/refuse"))
            .await,
        202
    );
    let rest = stream.until_end().await;
    assert_eq!(
        outcome(&rest),
        (
            RunStatus::Refused,
            Some("step \"release\" was refused".into())
        )
    );
    assert_eq!(step_statuses(&rest, "release"), [StepStatus::Refused]);
    assert_eq!(step_statuses(&rest, "announce"), [StepStatus::Skipped]);
    app.stop().await;
}

#[tokio::test]
async fn a_hundred_thousand_lines_arrive_complete_and_in_order() {
    let app = TestApp::spawn().await;
    app.create_pipeline(
        "name: chatty\nstages:\n  - name: s\n    steps:\n      - {name: count, command: [seq, '1', '100000']}\n      - {name: both, script: 'echo out; echo err >&2; printf no-newline'}\n",
    )
    .await;
    let run = app.start_run("chatty", "v1").await;
    let events = app.all_events(run).await;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "event ids have no gap"
    );
    let lines = logs(&events, "count");
    assert_eq!(lines.len(), 100_000);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(i, line)| line == &(i + 1).to_string()),
        "lines in order"
    );
    let streams: Vec<(LogStream, String)> = events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Log {
                step, stream, text, ..
            } if step == "both" => Some((*stream, text.clone())),
            _ => None,
        })
        .collect();
    assert!(streams.contains(&(LogStream::Stdout, "out".into())));
    assert!(streams.contains(&(LogStream::Stderr, "err".into())));
    assert!(
        streams.contains(&(LogStream::Stdout, "no-newline".into())),
        "an unterminated last line is kept"
    );

    let raw = app
        .client
        .get(app.url(&format!("/api/v1/runs/{run}/log?step=count")))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("text");
    let expected: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    assert!(
        raw == expected,
        "raw log differs from seq 1 100000 ({} bytes vs {})",
        raw.len(),
        expected.len()
    );
    app.stop().await;
}

#[tokio::test]
async fn over_long_lines_are_split_and_marked() {
    let app = TestApp::spawn().await;
    app.create_pipeline("name: wide\nstages:\n  - name: s\n    steps:\n      - {name: wide, script: 'head -c 40000 /dev/zero | tr \"\\\\0\" x; echo; echo short'}\n").await;
    let run = app.start_run("wide", "v1").await;
    let events = app.all_events(run).await;
    let pieces: Vec<(usize, bool)> = events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Log {
                step,
                text,
                partial,
                ..
            } if step == "wide" => Some((text.len(), *partial)),
            _ => None,
        })
        .collect();
    assert_eq!(
        pieces,
        [(16384, true), (16384, true), (7232, false), (5, false)]
    );
    let raw = app
        .client
        .get(app.url(&format!("/api/v1/runs/{run}/log?step=wide")))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("text");
    assert_eq!(
        raw,
        format!("{}\nshort\n", "x".repeat(40000)),
        "the raw log joins the pieces again"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_missing_program_fails_the_step_with_a_clear_message() {
    let app = TestApp::spawn().await;
    app.create_pipeline("name: nope\nstages:\n  - name: s\n    steps:\n      - {name: ghost, command: [no-such-program-here]}\n      - {name: image-only, needs: [], runner: host, image: 'alpine:3'}\n").await;
    let run = app.start_run("nope", "v1").await;
    let events = app.all_events(run).await;
    let messages: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event.body {
            EventBody::Step {
                status: StepStatus::Failed,
                message: Some(m),
                ..
            } => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("could not start \"no-such-program-here\"")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("runs on the host (runner: host) but has no script or command")),
        "{messages:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn workspaces_are_removed_when_runs_end() {
    let app = TestApp::spawn().await;
    app.create_pipeline("name: tidy\nstages:\n  - name: s\n    steps:\n      - {name: a, script: 'touch \"$CONVEYOR_WORKSPACE/file\"'}\n").await;
    let run = app.start_run("tidy", "v1").await;
    app.all_events(run).await;
    assert!(!app
        .data_dir
        .path()
        .join(format!("workspaces/run-{run}"))
        .exists());
    app.stop().await;
}

#[tokio::test]
async fn commands_are_found_on_the_steps_own_path_and_in_the_workspace() {
    let tools = tempfile::tempdir().expect("temp dir");
    let tool = tools.path().join("greet");
    std::fs::write(&tool, "#!/bin/sh\necho \"hello from greet $1\"\n").expect("tool");
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let app = TestApp::spawn().await;
    app.create_pipeline(&format!(
        "name: lookup
stages:
  - name: s
    steps:
      - name: make-tool
        script: |
          mkdir -p bin
          printf '#!/bin/sh\\necho local tool\\n' > bin/local
          chmod +x bin/local
      - {{name: on-path, command: [greet, world], env: {{PATH: '{}:/usr/bin:/bin'}}}}
      - {{name: relative, command: [./bin/local]}}
      - {{name: not-on-default-path, command: [greet]}}
",
        tools.path().display()
    ))
    .await;
    let run = app.start_run("lookup", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(logs(&events, "on-path"), ["hello from greet world"]);
    assert_eq!(logs(&events, "relative"), ["local tool"]);
    assert_eq!(
        step_statuses(&events, "not-on-default-path").last(),
        Some(&StepStatus::Failed)
    );
    let failure = events.iter().find_map(|e| match &e.event.body {
        EventBody::Step {
            step,
            status: StepStatus::Failed,
            message,
            ..
        } if step == "not-on-default-path" => message.clone(),
        _ => None,
    });
    assert!(
        failure
            .as_deref()
            .is_some_and(|m| m.contains("not found on the step's PATH")),
        "{failure:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_process_that_leaves_the_group_does_not_hold_the_step_open() {
    let app = TestApp::spawn_with(|config| config.keep_workspaces = true).await;
    app.create_pipeline(
        r#"
name: escape
stages:
  - name: s
    steps:
      - name: escaper
        script: |
          setsid sh -c 'echo $$ > "$CONVEYOR_WORKSPACE/escaped.pid"; sleep 300' &
          while [ ! -s "$CONVEYOR_WORKSPACE/escaped.pid" ]; do sleep 0.01; done
          echo main done
      - name: next
        script: echo next ran
"#,
    )
    .await;
    let run = app.start_run("escape", "v1").await;
    let events = tokio::time::timeout(std::time::Duration::from_secs(120), app.all_events(run))
        .await
        .expect("the run ends although a process it started holds its output open");
    let pid_file = app
        .data_dir
        .path()
        .join(format!("workspaces/escape/run-{run}/escaped.pid"));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );

    assert_eq!(outcome(&events).0, RunStatus::Succeeded);
    let escaper = logs(&events, "escaper");
    assert_eq!(escaper[0], "main done");
    assert!(
        escaper[1].contains("still open") && escaper[1].contains("setsid"),
        "{escaper:?}"
    );
    assert_eq!(logs(&events, "next"), ["next ran"]);
    app.stop().await;
}

#[tokio::test]
async fn re_running_failed_steps_takes_over_what_succeeded_with_its_workspace() {
    let app = TestApp::spawn().await;
    app.create_pipeline(&fails_once_per_workspace("flaky-deploy"))
        .await;
    let first = app.start_run("flaky-deploy", "v7").await;
    let events = app.all_events(first).await;
    assert_eq!(outcome(&events).0, RunStatus::Failed);
    assert_eq!(step_statuses(&events, "notify"), [StepStatus::Skipped]);

    // Re-run only what did not succeed: `ship` passes the second time in the same workspace.
    let retry = app.retry(first).await;
    let second = retry["id"].as_i64().expect("id");
    assert_eq!(
        (retry["tag"].as_str(), retry["trigger"].as_str()),
        (Some("v7"), Some("rerun"))
    );
    let events = app.all_events(second).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded);
    // `compile` is not run again: no status change, no log; its artifact is still there.
    assert!(step_statuses(&events, "compile").is_empty());
    assert!(logs(&events, "compile").is_empty());
    assert_eq!(
        logs(&events, "ship").last().map(String::as_str),
        Some("shipping built"),
        "one `built`: compile ran once"
    );
    assert_eq!(
        step_statuses(&events, "notify"),
        [StepStatus::Running, StepStatus::Succeeded]
    );
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{second}")).await;
    assert_eq!(detail["steps"][0]["status"], "succeeded");
    assert_eq!(
        detail["steps"][0]["message"],
        "succeeded in run #1; not run again"
    );

    // A run that succeeded has nothing to re-run; a run id that does not exist is a 404.
    let response = app
        .client
        .post(app.url(&format!("/api/v1/runs/{second}/retry")))
        .send()
        .await
        .expect("retry");
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("nothing to re-run"),
        "{body}"
    );
    assert_eq!(app.post("/api/v1/runs/999/retry").await, 404);
    app.stop().await;
}
