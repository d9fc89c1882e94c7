//! The `conveyor` client, the real binary against a real server: signing in (the login
//! kept 0600), apply (create, then a new version), ls, run --follow to the end with the
//! run's result as exit code, logs, approve, cancel, retry, JSON output, errors in the API's
//! words with a non-zero exit code (a bad URL, a refused token, a missing pipeline), and a
//! follower resuming after its connection drops mid-stream without losing or repeating a
//! line.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use conveyor::service::FIRST_ADMIN;
use conveyor_core::access::Scope;
use conveyor_core::run::{EventBody, StepStatus};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{ClosedPort, TestApp};

const DEMO: &str = "name: cli-demo
with: {FAIL: '0'}
stages:
  - name: s
    steps:
      - name: build
        script: |
          seq 1 300 | sed 's/^/line-/'
          test \"$FAIL\" = 0
";

const GATED: &str = "name: cli-gated
stages:
  - name: s
    steps:
      - {name: gate, approval: true, command: ['true']}
      - {name: after, script: 'echo after the gate'}
";

const SLOW: &str = "name: cli-slow
stages:
  - name: s
    steps:
      - {name: wait, script: 'echo waiting; sleep 600'}
";

/// Runs the binary with its config in `home` (and no server settings from the environment).
async fn conveyor(home: &Path, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args(args)
        .env("XDG_CONFIG_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("CONVEYOR_URL")
        .env_remove("CONVEYOR_TOKEN")
        .output()
        .await
        .expect("conveyor runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits (60 s at most) until the run's gate waits for a decision.
async fn until_waiting(app: &TestApp, run: &str) {
    let mut events = app.events(run.parse().expect("a run id"), None).await;
    let waiting = events.until(|e| {
        matches!(
            &e.event.body,
            EventBody::Step {
                status: StepStatus::WaitingApproval,
                ..
            }
        )
    });
    tokio::time::timeout(std::time::Duration::from_secs(60), waiting)
        .await
        .expect("the gate waits");
}

/// Exit code, stdout, stderr.
async fn call(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = conveyor(home, args).await;
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn run_id(stdout: &str) -> String {
    let at = stdout.find("(id ").expect("a run id") + 4;
    stdout[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

#[tokio::test]
async fn the_client_signs_in_applies_runs_follows_and_says_what_went_wrong() {
    let app = TestApp::spawn().await;
    let home = tempfile::tempdir().expect("home");
    let home = home.path();
    let url = format!("http://{}", app.addr);
    let token = TestApp::token_for(&app.service, FIRST_ADMIN, Scope::Admin).await;

    let (code, out, err) = call(home, &["login", "--url", &url, "--token", &token]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("signed in to {url} as {FIRST_ADMIN} (admin)")),
        "{out}"
    );
    let kept = home.join("conveyor/config.json");
    let mode = std::fs::metadata(&kept).expect("kept").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the login is the user's alone");

    let file = home.join("demo.yaml");
    std::fs::write(&file, DEMO).expect("write");
    let path = file.to_str().expect("path");
    let (code, out, err) = call(home, &["apply", "-f", path]).await;
    assert_eq!(
        (code, out.trim()),
        (0, "pipeline cli-demo created (version 1)"),
        "{err}"
    );
    std::fs::write(&file, DEMO.replace("line-", "row-")).expect("write");
    let (code, out, _) = call(home, &["apply", "-f", path]).await;
    assert_eq!(
        (code, out.trim()),
        (0, "pipeline cli-demo saved (version 2)")
    );
    let (code, out, _) = call(home, &["ls"]).await;
    assert_eq!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("cli-demo") && l.contains(" 2 ")),
        "{out}"
    );
    let (_, out, _) = call(home, &["ls", "-o", "json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(listed[0]["name"], "cli-demo");

    // --follow prints every line in order and ends with the run's result.
    let (code, out, err) = call(home, &["run", "cli-demo", "--tag", "v1", "--follow"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("build │ row-"))
        .collect();
    let want: Vec<String> = (1..=300).map(|n| format!("build │ row-{n}")).collect();
    assert_eq!(lines, want);
    assert!(out.trim_end().ends_with("── run succeeded"), "{out}");
    let (code, out, _) = call(
        home,
        &["run", "cli-demo", "--tag", "v2", "--param", "FAIL=1", "-f"],
    )
    .await;
    assert_eq!(code, 1, "a failed run fails the command");
    assert!(out.contains("── build: failed (exit 1)"), "{out}");
    let (code, out, err) = call(
        home,
        &["run", "cli-demo", "--tag", "v3", "--param", "FAIL=1"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let failed = run_id(&out);
    let (code, out, _) = call(home, &["logs", &failed, "-f", "--step", "build"]).await;
    assert_eq!(code, 1);
    let first = out.lines().find(|l| !l.starts_with("──"));
    assert_eq!(
        first,
        Some("row-1"),
        "only the step's lines, unprefixed: {out}"
    );
    let (code, out, _) = call(home, &["logs", &failed, "--step", "build"]).await;
    assert_eq!(code, 0);
    assert_eq!(out.lines().next(), Some("row-1"));
    // For scripts: a JSON object per line, with its step, number and stream.
    let (code, json_out, err) = call(home, &["logs", &failed, "-o", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = json_out
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let build: Vec<&serde_json::Value> = lines.iter().filter(|l| l["step"] == "build").collect();
    assert_eq!(build.len(), out.lines().count(), "{json_out}");
    assert_eq!(
        (&build[0]["number"], &build[0]["stream"], &build[0]["text"]),
        (
            &serde_json::json!(1),
            &serde_json::json!("stdout"),
            &serde_json::json!("row-1")
        )
    );
    let (code, out, err) = call(home, &["retry", &failed, "-o", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let retried: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(retried["trigger"], "rerun");

    // A gate, approved from the command line.
    app.create_pipeline(GATED).await;
    let (_, out, _) = call(home, &["run", "cli-gated", "--tag", "v1"]).await;
    let gated = run_id(&out);
    until_waiting(&app, &gated).await;
    let (code, out, err) = call(home, &["approve", &gated, "gate"]).await;
    assert_eq!(
        (code, out.trim()),
        (0, format!("approved step gate of run {gated}").as_str()),
        "{err}"
    );
    let (code, out, _) = call(home, &["logs", "-f", &gated]).await;
    assert_eq!(code, 0);
    assert!(out.contains("after │ after the gate"), "{out}");
    // … and refused: the run fails there, the step after never runs.
    let (_, out, _) = call(home, &["run", "cli-gated", "--tag", "v2"]).await;
    let refused = run_id(&out);
    until_waiting(&app, &refused).await;
    let (code, out, err) = call(home, &["refuse", &refused, "gate", "-o", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let said: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(said["decision"], "refused");
    let (code, out, _) = call(home, &["logs", "-f", &refused]).await;
    assert_eq!(code, 1, "a refused gate fails the run: {out}");
    assert!(!out.contains("after the gate"), "{out}");

    // Cancel.
    app.create_pipeline(SLOW).await;
    let (_, out, _) = call(home, &["run", "cli-slow", "--tag", "v1"]).await;
    let slow = run_id(&out);
    let (code, _, err) = call(home, &["cancel", &slow]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = call(home, &["logs", "-f", &slow]).await;
    assert_eq!(code, 1);
    assert!(out.contains("── run cancelled"), "{out}");

    // Errors, as the API words them, and exit code 2.
    let (code, _, err) = call(home, &["run", "nope", "--tag", "v1"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
    let (code, _, err) = call(home, &["run", "cli-demo", "--tag", "bad tag!"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("tag"), "{err}");
    let (code, _, err) = call(home, &["ls", "--token", "not-a-token"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("unknown, expired or revoked token"), "{err}");
    let closed = ClosedPort::new();
    let url = format!("http://{}", closed.addr);
    let (code, _, err) = call(home, &["ls", "--url", &url]).await;
    assert_eq!(code, 2);
    assert!(err.contains("cannot reach"), "{err}");
    let (code, _, err) = call(home, &["ls", "--url", "not a url"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("not a URL"), "{err}");
    let elsewhere = tempfile::tempdir().expect("home");
    let (code, _, err) = call(elsewhere.path(), &["ls"]).await;
    assert_eq!(code, 2);
    assert!(err.contains("conveyor login"), "{err}");
    app.stop().await;
}

/// A proxy to `target` that cuts its first connection after `cut` bytes of answer.
async fn cutting_proxy(target: std::net::SocketAddr, cut: usize) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut client, _)) = listener.accept().await {
            let limit = if first { Some(cut) } else { None };
            first = false;
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let Some(limit) = limit else {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    return;
                };
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                let downstream = async {
                    let mut sent = 0;
                    let mut buffer = vec![0; 1024];
                    while sent < limit {
                        let Ok(n) = server_read.read(&mut buffer).await else {
                            break;
                        };
                        if n == 0 {
                            break;
                        }
                        let n = n.min(limit - sent);
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                        sent += n;
                    }
                };
                tokio::select! { _ = upstream => {}, _ = downstream => {} }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_follower_resumes_after_its_connection_drops() {
    let app = TestApp::spawn().await;
    app.create_pipeline(&DEMO.replace("seq 1 300", "seq 1 20000"))
        .await;
    let run = app.start_run("cli-demo", "v1").await;
    app.all_events(run).await;
    let proxy = cutting_proxy(app.addr, 40_000).await;
    let home = tempfile::tempdir().expect("home");
    let token = TestApp::token_for(&app.service, FIRST_ADMIN, Scope::Admin).await;
    let url = format!("http://{proxy}");
    let (code, out, err) = call(
        home.path(),
        &[
            "logs",
            "-f",
            &run.to_string(),
            "--url",
            &url,
            "--token",
            &token,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("reconnecting"),
        "the first connection was cut: {err}"
    );
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("build │ line-"))
        .collect();
    let want: Vec<String> = (1..=20000).map(|n| format!("build │ line-{n}")).collect();
    assert_eq!(lines.len(), want.len());
    assert!(lines == want, "every line once, in order");
    app.stop().await;
}
