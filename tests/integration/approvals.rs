//! Approvals by named people: only a gate's approvers decide it, with `four_eyes` not the
//! person who started the run, and the run records who decided and when.

use conveyor_core::access::{Role, Scope};
use conveyor_core::run::{EventBody, RunStatus, StepStatus};
use serde_json::{json, Value};

use crate::support::{logs, outcome, TestApp};

const RELEASE: &str = "
name: release
stages:
  - name: build
    steps:
      - {name: build, script: 'echo built'}
  - name: ship
    steps:
      - name: gate
        approval: true
        approval_params: {approvers: 'carol, role:admin', four_eyes: 'true', ticket: OPS-1}
        script: 'echo shipped'
";

async fn post(client: &reqwest::Client, app: &TestApp, path: &str) -> (u16, Value) {
    let response = client.post(app.url(path)).send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn start(client: &reqwest::Client, app: &TestApp) -> i64 {
    let response = client
        .post(app.url("/api/v1/pipelines/release/runs"))
        .json(&json!({"tag": "v1"}))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id")
}

#[tokio::test]
async fn only_the_named_approvers_decide_and_not_the_one_who_started_the_run() {
    let app = TestApp::spawn().await;
    app.create_pipeline(RELEASE).await;
    let carol = app.client_as("carol", Role::Developer, Scope::Run).await;
    let dave = app.client_as("dave", Role::Developer, Scope::Run).await;
    let vic = app.client_as("vic", Role::Viewer, Scope::Read).await;
    let carol_reads = TestApp::token_for(&app.service, "carol", Scope::Read).await;
    let carol_reads = crate::support::client_with(Some(&carol_reads));

    let run = start(&carol, &app).await;
    let mut stream = app.events(run, None).await;
    stream
        .until(|e| matches!(&e.event.body, EventBody::Step { step, status: StepStatus::WaitingApproval, .. } if step == "gate"))
        .await;
    let approve = format!("/api/v1/runs/{run}/steps/gate/approve");
    let (status, body) = post(&dave, &app, &approve).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not one of this step's approvers (carol, role:admin)"),
        "{body}"
    );
    let (status, body) = post(&carol, &app, &approve).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("four eyes"),
        "{body}"
    );
    assert_eq!(
        post(&vic, &app, &approve).await.0,
        403,
        "a viewer decides nothing"
    );
    assert_eq!(
        post(&carol_reads, &app, &approve).await.0,
        403,
        "nor does a read token"
    );
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(
        detail["status"], "waiting_approval",
        "refused attempts change nothing"
    );
    assert_eq!(detail["decisions"], json!([]));

    // An admin (role:admin) approves; a second decision is too late.
    assert_eq!(app.post(&approve).await, 202);
    let rest = stream.until_end().await;
    assert_eq!(outcome(&rest).0, RunStatus::Succeeded);
    assert_eq!(logs(&rest, "gate"), ["shipped"]);
    let approved = rest.iter().find_map(|e| match &e.event.body {
        EventBody::Step {
            step,
            status: StepStatus::Pending,
            message,
            ..
        } if step == "gate" => message.clone(),
        _ => None,
    });
    assert_eq!(
        approved.as_deref(),
        Some("approved by admin"),
        "the live event names who decided"
    );
    assert_eq!(app.post(&approve).await, 409);

    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["started_by"], "carol");
    let decisions = detail["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 1, "{detail}");
    assert_eq!(decisions[0]["step"], "gate");
    assert_eq!(decisions[0]["approved"], true);
    assert_eq!(decisions[0]["by"], "admin");
    let at = decisions[0]["at"].as_i64().expect("at");
    assert!(
        at >= detail["created_at"].as_i64().unwrap()
            && at <= detail["finished_at"].as_i64().unwrap()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_named_approver_may_refuse_and_the_run_says_who() {
    let app = TestApp::spawn().await;
    app.create_pipeline(RELEASE).await;
    let carol = app.client_as("carol", Role::Developer, Scope::Run).await;
    let dave = app.client_as("dave", Role::Developer, Scope::Run).await;
    let run = start(&dave, &app).await;
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
        post(
            &dave,
            &app,
            &format!("/api/v1/runs/{run}/steps/gate/refuse")
        )
        .await
        .0,
        403
    );
    assert_eq!(
        post(
            &carol,
            &app,
            &format!("/api/v1/runs/{run}/steps/gate/refuse")
        )
        .await
        .0,
        202
    );
    let rest = stream.until_end().await;
    assert_eq!(outcome(&rest).0, RunStatus::Refused);
    let (_, detail) = app.get_json(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(detail["started_by"], "dave");
    assert_eq!(detail["decisions"][0]["by"], "carol");
    assert_eq!(detail["decisions"][0]["approved"], false);
    let gate = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "gate")
        .unwrap()
        .clone();
    assert_eq!(gate["message"], "refused by carol");
    app.stop().await;
}

#[tokio::test]
async fn approvers_that_name_nothing_real_are_refused_with_their_place() {
    let app = TestApp::spawn().await;
    let cases = [
        ("{approvers: 'role:boss'}", "unknown role \"boss\""),
        (
            "{approvers: 'carol, not a name'}",
            "neither an account name nor a role",
        ),
        ("{approvers: ' , '}", "names no one"),
        ("{four_eyes: 'maybe'}", "is not true or false"),
    ];
    for (params, wanted) in cases {
        let source = format!(
            "name: bad\nstages: [{{name: s, steps: [{{name: g, approval: true, approval_params: {params}, script: x}}]}}]"
        );
        let response = app
            .client
            .post(app.url("/api/v1/pipelines"))
            .body(source)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 422, "{params}");
        let body: Value = response.json().await.expect("json");
        let problem = &body["problems"][0];
        assert!(
            problem["path"]
                .as_str()
                .unwrap()
                .starts_with("stages[0].steps[0].approval_params."),
            "{body}"
        );
        assert!(
            problem["message"].as_str().unwrap().contains(wanted),
            "{params}: {body}"
        );
    }
    app.stop().await;
}
