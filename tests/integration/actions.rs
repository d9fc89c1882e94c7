//! The action catalog (seeds 001 and 004): versions that never change, lookups when a
//! pipeline is saved and when it runs, param rules after merging, deleting only what no
//! pipeline uses; and seed 001's `test44`, exactly as written, running with `action01@v1`
//! from the catalog.

use conveyor_core::run::{EventBody, RunStatus, StepStatus};
use serde_json::{json, Value};

use crate::support::images::{seed_images, BUSYBOX};
use crate::support::receiver::receiver;
use crate::support::seeds::seed_yaml;
use crate::support::{logs, outcome, send_json, seq_of, TestApp};

async fn post_yaml(app: &TestApp, path: &str, body: &str) -> (u16, Value) {
    send_json(app.client.post(app.url(path)).body(body.to_owned())).await
}

fn messages(body: &Value) -> Vec<String> {
    body["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            format!(
                "{}: {}",
                p["path"].as_str().unwrap_or(""),
                p["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

const CHECK: &str = r#"
name: check
version: v1
description: Says which environment it checks
script: echo "checking $TARGET at level $LEVEL"
defaults: {LEVEL: "1"}
required: [TARGET]
params:
  TARGET: {allowed: [staging, production]}
  LEVEL: {pattern: '[0-9]'}
"#;

#[tokio::test]
async fn catalog_versions_never_change_and_one_in_use_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let (status, body) = post_yaml(&app, "/api/v1/actions", CHECK).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["name"], "check");
    assert_eq!(body["created_by"], "admin");
    let (status, body) = post_yaml(&app, "/api/v1/actions", CHECK).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("a version never changes"),
        "{body}"
    );

    // New versions: named like the action, of an action that exists.
    let v2 = CHECK
        .replace("version: v1", "version: v2")
        .replace("checking", "verifying");
    let (status, body) = post_yaml(&app, "/api/v1/actions/check/versions", &v2).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = post_yaml(
        &app,
        "/api/v1/actions/nothing/versions",
        &v2.replace("name: check", "name: nothing"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = post_yaml(
        &app,
        "/api/v1/actions/check/versions",
        &v2.replace("name: check", "name: other"),
    )
    .await;
    assert_eq!(
        (status, messages(&body)),
        (
            422,
            vec![
                "name: a new version of \"check\" must be named \"check\", not \"other\""
                    .to_owned()
            ]
        )
    );

    // Bad actions: every problem at its place.
    let bad = "name: Bad\nversion: 'v 1'\nparams: {X: {pattern: '('}}\ndefaults: {Y: '2'}\n";
    let (status, body) = post_yaml(&app, "/api/v1/actions", bad).await;
    assert_eq!(status, 422);
    let found = messages(&body);
    for expected in [
        "name: \"Bad\" is not a valid name",
        "version: \"v 1\" is not a version",
        ": an action needs a `script`, a `command` or an `image`",
        "params.X.pattern: \"(\" is not a regular expression",
    ] {
        assert!(
            found.iter().any(|m| m.starts_with(expected)),
            "{expected:?} in {found:?}"
        );
    }
    let (status, body) = post_yaml(
        &app,
        "/api/v1/actions",
        &CHECK
            .replace("v1", "v3")
            .replace("LEVEL: \"1\"", "LEVEL: x"),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        messages(&body),
        ["defaults.LEVEL: the default \"x\" does not match the pattern [0-9]"]
    );

    let (_, versions) = app.get_json("/api/v1/actions/check").await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    let (status, one) = app.get_json("/api/v1/actions/check/versions/v2").await;
    assert_eq!(
        (status, one["script"].as_str().unwrap_or_default()),
        (200, "echo \"verifying $TARGET at level $LEVEL\"")
    );

    // A pipeline naming it, its use listed, its deletion refused while the latest version uses it.
    let uses = "name: deploy\nstages:\n  - name: s\n    steps:\n      - {name: verify, action: check@v1, with: {TARGET: staging}}\n";
    app.create_pipeline(uses).await;
    let (_, all) = app.get_json("/api/v1/actions").await;
    let v1 = all
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["version"] == "v1")
        .expect("v1")
        .clone();
    assert_eq!(v1["used_by"], json!(["deploy"]));
    let (status, body) = send_json(
        app.client
            .delete(app.url("/api/v1/actions/check/versions/v1")),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("used by the latest version of deploy"),
        "{body}"
    );
    let (status, _) = send_json(
        app.client
            .delete(app.url("/api/v1/actions/check/versions/v2")),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = send_json(
        app.client
            .delete(app.url("/api/v1/actions/check/versions/v2")),
    )
    .await;
    assert_eq!(status, 404);
    let moved = uses.replace(
        "action: check@v1, with: {TARGET: staging}",
        "script: echo done",
    );
    let (status, body) = send_json(
        app.client
            .put(app.url("/api/v1/pipelines/deploy"))
            .body(moved),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = send_json(
        app.client
            .delete(app.url("/api/v1/actions/check/versions/v1")),
    )
    .await;
    assert_eq!(status, 204, "no longer used");
    app.stop().await;
}

#[tokio::test]
async fn steps_take_actions_inline_first_then_from_the_catalog_and_their_params_obey_the_rules() {
    let app = TestApp::spawn().await;
    let (status, _) = post_yaml(&app, "/api/v1/actions", CHECK).await;
    assert_eq!(status, 201);
    // Unknown actions and params the rules refuse: 422 naming the step and the param.
    let unknown = "name: u\nstages:\n  - name: s\n    steps:\n      - {name: a, action: chek@v1}\n";
    let (status, body) = post_yaml(&app, "/api/v1/pipelines", unknown).await;
    assert_eq!(status, 422);
    assert_eq!(
        messages(&body),
        ["stages[0].steps[0].action: unknown action \"chek@v1\": neither in the pipeline's `actions` nor in the catalog"]
    );
    let refused = "name: r\nstages:\n  - name: s\n    steps:\n      - {name: a, action: check@v1, with: {TARGET: moon}}\n";
    let (status, body) = post_yaml(&app, "/api/v1/pipelines", refused).await;
    assert_eq!(status, 422);
    assert_eq!(
        messages(&body),
        ["stages[0].steps[0].with.TARGET: step \"a\": param TARGET = \"moon\" is not one of staging, production, as action \"check@v1\" requires"]
    );

    // Seed 004's precedence, checked again when the run starts: step `with` > run params >
    // pipeline `with` > the action's defaults.
    let source = "name: p\nwith: {LEVEL: '2'}\nstages:\n  - name: s\n    steps:\n      - {name: a, action: check@v1}\n";
    app.create_pipeline(source).await;
    let start = |params: Value| {
        send_json(
            app.client
                .post(app.url("/api/v1/pipelines/p/runs"))
                .json(&json!({"tag": "v1", "params": params})),
        )
    };
    let (status, body) = start(json!({})).await;
    assert_eq!(status, 422);
    assert!(
        messages(&body)[0].contains("action \"check@v1\" needs param \"TARGET\""),
        "{body}"
    );
    let (status, body) = start(json!({"TARGET": "production", "LEVEL": "x"})).await;
    assert_eq!(status, 422);
    assert_eq!(
        messages(&body),
        ["stages[0].steps[0].with.LEVEL: step \"a\": param LEVEL = \"x\" does not match the pattern [0-9], as action \"check@v1\" requires"]
    );
    let (status, body) = start(json!({"TARGET": "production"})).await;
    assert_eq!(status, 201, "{body}");
    let events = app.all_events(body["id"].as_i64().expect("id")).await;
    assert_eq!(logs(&events, "a"), ["checking production at level 2"]);

    // An inline action of the same name and version wins over the catalog's.
    let inline = "name: i\nactions:\n  - {name: check, version: v1, script: echo inline}\nstages:\n  - name: s\n    steps:\n      - {name: a, action: check@v1}\n";
    app.create_pipeline(inline).await;
    let run = app.start_run("i", "v1").await;
    assert_eq!(logs(&app.all_events(run).await, "a"), ["inline"]);
    let (_, all) = app.get_json("/api/v1/actions").await;
    assert_eq!(
        all[0]["used_by"],
        json!(["p"]),
        "an inline action is not a use of the catalog's"
    );

    // An action whose runner is Kubernetes needs the Tekton engine.
    let (status, _) = post_yaml(
        &app,
        "/api/v1/actions",
        "name: kube\nversion: '1'\nrunner: kubernetes\nimage: bitnami/kubectl\nargs: [version]\n",
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = post_yaml(
        &app,
        "/api/v1/pipelines",
        "name: k\nstages:\n  - name: s\n    steps:\n      - {name: a, action: kube@1}\n",
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        messages(&body)[0].starts_with("stages[0].steps[0]: step \"a\" runs on Kubernetes"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_actions_host_runner_runs_its_steps_on_the_host_whatever_its_image() {
    // No container runtime: a step in a container would be refused.
    let app = TestApp::spawn_with(|config| config.container_runtime = "none".into()).await;
    let (status, body) = post_yaml(
        &app,
        "/api/v1/actions",
        "name: hosted\nversion: '1'\nrunner: host\nimage: localhost/never-pulled:1\nscript: 'echo \"on the host in $(pwd)\"'\n",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    app.create_pipeline(
        "name: h\nstages:\n  - name: s\n    steps:\n      - {name: a, action: hosted@1}\n",
    )
    .await;
    let run = app.start_run("h", "v1").await;
    let events = app.all_events(run).await;
    assert_eq!(outcome(&events).0, RunStatus::Succeeded, "{events:#?}");
    let said = logs(&events, "a");
    let data = std::path::absolute(app.data_dir.path()).expect("absolute");
    assert!(
        said.len() == 1 && said[0].starts_with(&format!("on the host in {}", data.display())),
        "{said:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn seed_001s_own_spellings_are_honoured_or_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let honoured = "name: spelled\nstages:\n  - id: 1\n    name: s\n    steps:\n      - {name: a, script: 'echo a', is_parallel: true}\n      - {name: b, script: 'echo b', is_parallel: true, with_notify: false}\n      - {name: c, script: 'echo c', with_audit: true, audit_params: {approvers: 'role:admin'}}\n";
    let body = app.create_pipeline(honoured).await;
    assert_eq!(
        body["plan"]["groups"][0],
        json!([0, 1]),
        "is_parallel: {body}"
    );
    let steps = body["plan"]["steps"].as_array().expect("steps");
    assert_eq!(steps[2]["approval"], true, "with_audit: {body}");
    for (document, expected) in [
        ("name: x\nmount: {files: [a]}\nstages: [{name: s, steps: [{name: a, script: 'true'}]}]\n", "mount: Conveyor mounts no files into steps"),
        ("name: x\nstages: [{name: s, steps: [{name: a, script: 'true', with_notify: true, notify_params: {to: ops}}]}]\n", "stages[0].steps[0].with_notify: Conveyor notifies through the step's `webhooks`"),
        ("name: x\nstages: [{name: s, steps: [{name: a, script: 'true', namespace: prod}]}]\n", "stages[0].steps[0].namespace: a step runs in its engine's namespace"),
    ] {
        let (status, body) = post_yaml(&app, "/api/v1/pipelines", document).await;
        assert_eq!(status, 422, "{document}");
        assert!(messages(&body).iter().any(|m| m.starts_with(expected)), "{expected:?} in {body}");
    }
    app.stop().await;
}

/// action01@v1 as seed 004's engine would find it on the server: an image and a script
/// that shows the params it got.
const ACTION01: &str = "name: action01\nversion: v1\ndescription: seed 001's action\nimage: IMAGE\nscript: echo \"$CONVEYOR_STEP ENV1=$ENV1 ENV2=$ENV2 in $(pwd)\"\nrequired: [ENV1, ENV2]\n";

#[tokio::test]
async fn seed_001s_test44_runs_as_written_with_action01_from_the_catalog() {
    tokio::task::spawn_blocking(seed_images)
        .await
        .expect("images");
    let app = TestApp::spawn_with(|config| config.container_runtime = "podman".into()).await;
    let (status, body) =
        post_yaml(&app, "/api/v1/actions", &ACTION01.replace("IMAGE", BUSYBOX)).await;
    assert_eq!(status, 201, "{body}");

    // Exactly as in the document: accepted, planned as it says.
    let seed = seed_yaml("001", "name: test44");
    let (status, body) = post_yaml(&app, "/api/v1/pipelines", &seed).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["plan"]["groups"][0],
        json!([0, 1]),
        "step1.1 and step1.2 together: {body}"
    );
    let (status, _) = send_json(app.client.delete(app.url("/api/v1/pipelines/test44"))).await;
    assert_eq!(status, 204);

    // The same document with its hooks pointed here (the chat service is not reachable
    // from a test): it runs, and each SUCCEEDED reaches the receiver.
    let mut hooks = receiver(Vec::new()).await;
    let local = format!("http://{}/feishu", hooks.addr);
    let seed = seed.replace(
        ">-\n              https://open.feishu.cn/open-apis/bot/v2/hook/83bde95c-00b2-4df1-91e4-705f66102479",
        &local,
    );
    assert_eq!(seed.matches(&local).count(), 5, "every step's hook");
    app.create_pipeline(&seed).await;
    let run = app.start_run("test44", "v1").await;
    let mut stream = app.events(run, None).await;
    stream
        .until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::WaitingApproval, .. } if step == "step1.3"))
        .await;
    let (status, body) = send_json(
        app.client
            .post(app.url(&format!("/api/v1/runs/{run}/steps/step1.3/approve"))),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    stream.until_end().await;
    let everything = app.all_events(run).await;
    assert_eq!(
        outcome(&everything).0,
        RunStatus::Succeeded,
        "{everything:?}"
    );
    let all = &everything;
    // In the action's image: the workspace at /workspace.
    assert_eq!(
        logs(all, "step1.1"),
        ["step1.1 ENV1=env1 ENV2=env2 in /workspace"]
    );
    assert_eq!(
        logs(all, "step2.1"),
        ["step2.1 ENV1=env3 ENV2=env4 in /workspace"]
    );
    // step1.1 and step1.2 ran together; step1.3 after both; stage2 after stage1.
    assert!(
        seq_of(all, "step1.2", StepStatus::Running) < seq_of(all, "step1.1", StepStatus::Succeeded)
    );
    assert!(
        seq_of(all, "step1.1", StepStatus::Running) < seq_of(all, "step1.2", StepStatus::Succeeded)
    );
    for first in ["step1.1", "step1.2"] {
        assert!(
            seq_of(all, first, StepStatus::Succeeded)
                < seq_of(all, "step1.3", StepStatus::WaitingApproval)
        );
    }
    assert!(
        seq_of(all, "step1.3", StepStatus::Succeeded) < seq_of(all, "step2.1", StepStatus::Running)
    );
    let mut heard = Vec::new();
    while heard.len() < 5 {
        let call = hooks.calls.recv().await.expect("a call");
        assert_eq!(call.event_header, "SUCCEEDED");
        heard.push(
            call.body["step"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    heard.sort();
    assert_eq!(
        heard,
        ["step1.1", "step1.2", "step1.3", "step2.1", "step2.2"]
    );
    app.stop().await;
}

/// A run checks its catalog actions again when it starts: re-running the failed steps of a
/// version whose action has since been deleted is refused, naming the step.
#[tokio::test]
async fn a_run_whose_catalog_action_is_gone_is_refused_naming_the_step() {
    let app = TestApp::spawn().await;
    let failing = "name: flaky\nversion: v1\nscript: exit 1\n";
    assert_eq!(post_yaml(&app, "/api/v1/actions", failing).await.0, 201);
    let uses = "name: p\nstages:\n  - name: s\n    steps:\n      - {name: a, action: flaky@v1}\n";
    app.create_pipeline(uses).await;
    let run = app.start_run("p", "v1").await;
    assert_eq!(
        crate::support::outcome(&app.all_events(run).await).0,
        conveyor_core::run::RunStatus::Failed
    );
    // A new version no longer uses it, so the catalog lets it go.
    let (status, _) = send_json(
        app.client
            .put(app.url("/api/v1/pipelines/p"))
            .header("content-type", "application/yaml")
            .body("name: p\nstages:\n  - name: s\n    steps:\n      - {name: a, script: 'true'}\n"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = send_json(
        app.client
            .delete(app.url("/api/v1/actions/flaky/versions/v1")),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    // Re-running the failed step runs version 1 as it was resolved: its action is gone.
    let (status, body) = send_json(
        app.client
            .post(app.url(&format!("/api/v1/runs/{run}/retry"))),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        messages(&body),
        ["stages[0].steps[0].action: unknown action \"flaky@v1\": neither in the pipeline's `actions` nor in the catalog"]
    );
    app.stop().await;
}
