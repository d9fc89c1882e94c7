//! The audit log: who did what, recorded by the service whichever way in it came (API,
//! pages, the server's shell), readable and filterable by admins only.

use conveyor_core::access::{Role, Scope};
use serde_json::{json, Value};

use crate::support::TestApp;

const PIPELINE: &str =
    "name: web\nstages: [{name: s, steps: [{name: a, approval: true, script: 'echo hi'}]}]";

async fn entries(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get_json(&format!("/api/v1/audit{query}")).await;
    assert_eq!(status, 200, "{page}");
    page["entries"].as_array().expect("entries").clone()
}

fn summary(entries: &[Value]) -> Vec<(String, String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("(server)").to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn what_people_do_is_recorded_with_who_and_only_admins_read_it() {
    let app = TestApp::spawn().await;
    let anon = crate::support::client_with(None);
    let signed = |name: &str, password: &str| {
        anon.post(app.url("/api/v1/session"))
            .json(&json!({"name": name, "password": password}))
            .send()
    };
    let password = std::fs::read_to_string(app.data_dir.path().join("initial-admin-password"))
        .expect("first password");
    assert_eq!(
        signed("admin", "wrong password!")
            .await
            .expect("sign in")
            .status(),
        401
    );
    assert_eq!(
        signed("admin", password.trim())
            .await
            .expect("sign in")
            .status(),
        200
    );

    app.create_pipeline(PIPELINE).await;
    let dev = app.client_as("dev", Role::Developer, Scope::Run).await;
    let response = dev
        .put(app.url("/api/v1/pipelines/web"))
        .body(PIPELINE.replace("echo hi", "echo hello"))
        .send()
        .await
        .expect("update");
    assert_eq!(response.status(), 200);
    let run = dev
        .post(app.url("/api/v1/pipelines/web/runs"))
        .json(&json!({"tag": "v1"}))
        .send()
        .await
        .expect("start")
        .json::<Value>()
        .await
        .expect("run")["id"]
        .as_i64()
        .unwrap();
    let mut stream = app.events(run, None).await;
    stream
        .until(|e| {
            matches!(
                &e.event.body,
                conveyor_core::run::EventBody::Step {
                    status: conveyor_core::run::StepStatus::WaitingApproval,
                    ..
                }
            )
        })
        .await;
    assert_eq!(
        app.post(&format!("/api/v1/runs/{run}/steps/a/refuse"))
            .await,
        202
    );
    stream.until_end().await;
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
        .args(["user", "disable", "dev", "--data-dir"])
        .arg(app.data_dir.path())
        .status()
        .expect("conveyor user");
    assert!(status.success());

    let all = entries(&app, "").await;
    let target_run = format!("run {run}");
    let wanted: Vec<(&str, &str, &str)> = vec![
        ("(server)", "user_update", "dev"),
        ("admin", "run_refuse", &target_run),
        ("dev", "run_start", &target_run),
        ("dev", "pipeline_update", "web"),
        ("dev", "token_create", "token 2 of dev"),
        ("(server)", "user_add", "dev"),
        ("admin", "pipeline_create", "web"),
        ("admin", "sign_in", "admin"),
        ("admin", "sign_in_failed", "admin"),
        ("admin", "token_create", "token 1 of admin"),
    ];
    let got = summary(&all);
    let got: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, wanted, "newest first");
    assert_eq!(all[0]["detail"], "disabled");
    assert_eq!(all[2]["detail"], "web #1 tag v1 (api)");
    assert_eq!(all[3]["detail"], "version 2");
    assert_eq!(all[7]["address"], "127.0.0.1", "sign-ins say where from");
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));

    // Filters, and pages that together give the whole log once.
    assert_eq!(
        summary(&entries(&app, "?actor=dev").await).len(),
        3,
        "token, update, run"
    );
    assert_eq!(
        summary(&entries(&app, "?action=sign_in_failed").await).len(),
        1
    );
    assert_eq!(
        summary(&entries(&app, &format!("?target=run%20{run}")).await).len(),
        2
    );
    let first = app.get_json("/api/v1/audit?limit=4").await.1;
    assert_eq!(first["entries"].as_array().unwrap().len(), 4);
    let before = first["next_before"].as_i64().expect("a next page");
    let rest = entries(&app, &format!("?before={before}&limit=100")).await;
    assert_eq!(rest.len(), all.len() - 4);
    assert_eq!(rest[0]["id"], all[4]["id"]);
    let (status, body) = app.get_json("/api/v1/audit?action=nonsense").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("nonsense"),
        "{body}"
    );

    // Only admins read it, through the API and the page.
    let developer = app.client_as("dora", Role::Developer, Scope::Run).await;
    for path in ["/api/v1/audit", "/audit"] {
        let response = developer.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), 403, "{path}");
    }
    let page = app
        .client
        .get(app.url("/audit?actor=dev"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("data-action=\"run_start\""),
        "the page lists dev's entries"
    );
    assert!(
        !html.contains("data-action=\"sign_in_failed\""),
        "filtered to dev"
    );
    app.stop().await;
}
