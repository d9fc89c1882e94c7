//! Nobody runs code here unless they may: every route checked before its handler, accounts,
//! sessions, tokens, roles, and requests that come from another site or name another host.

use conveyor::http::{route_list, API_ROUTES, SSO_ROUTES};
use conveyor_core::access::{Role, Scope};
use reqwest::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, SET_COOKIE};
use serde_json::{json, Value};

use crate::support::{client_with, TestApp};

const PIPELINE: &str = "name: web\nstages: [{name: s, steps: [{name: a, script: 'echo hi'}]}]";

/// A path of the route list with each `{param}` (or `:param`, `*rest`) filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') || segment.starts_with(':') || segment.starts_with('*') {
                "1".to_owned()
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Walks the router's whole route list (the API's, every server function's and every
/// page's) without credentials: nothing but signing in and the sign-in page answers.
#[tokio::test]
async fn every_route_refuses_a_caller_without_credentials() {
    let app = TestApp::spawn().await;
    let anonymous = client_with(None);
    for (method, path) in API_ROUTES {
        let url = app.url(&format!("/api/v1{}", concrete(path)));
        let method: reqwest::Method = method.to_uppercase().parse().expect("method");
        let (status, body) = status_and_body(
            anonymous
                .request(method.clone(), &url)
                .send()
                .await
                .expect("request"),
        )
        .await;
        // Signing in, and a forge's delivery (it proves itself with a webhook secret).
        let open = (*path == "/session" && method != reqwest::Method::GET)
            || (*path == "/hooks/{forge}" && method == reqwest::Method::POST);
        if open {
            assert_ne!(status, 401, "{method} {path} is open: {body}");
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("unauthorized")),
                "{method} {path}: {body}"
            );
        }
    }
    let server_fns: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    assert!(server_fns.len() >= 12, "{server_fns:?}");
    for path in &server_fns {
        let (status, body) =
            status_and_body(anonymous.post(app.url(path)).send().await.expect("request")).await;
        if path.ends_with("/sign_in") || path.ends_with("/sign_out") {
            assert_ne!(status, 401, "{path} is open: {body}");
        } else {
            assert_eq!(status, 401, "POST {path}: {body}");
        }
    }
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let pages = route_list();
    assert!(
        pages.len() >= 9,
        "{:?}",
        pages
            .iter()
            .map(|p| p.path().to_owned())
            .collect::<Vec<_>>()
    );
    for page in pages {
        let path = concrete(page.path());
        let response = no_redirects
            .get(app.url(&path))
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if path == "/login" {
            assert_eq!(status, 200, "the sign-in page is open");
        } else {
            assert!(
                (300..400).contains(&status) && location.starts_with("/login?next="),
                "GET {path}: {status} {location}"
            );
        }
    }
    // The round trip through a sign-in provider is open to GET (there is none here: 404)
    // and to nothing else.
    for path in SSO_ROUTES {
        let response = no_redirects.get(app.url(path)).send().await.expect("get");
        assert_eq!(response.status(), 404, "GET {path}");
        let (status, body) =
            status_and_body(anonymous.post(app.url(path)).send().await.expect("post")).await;
        assert_eq!(status, 401, "POST {path}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn roles_and_token_scopes_decide_who_may_run() {
    let app = TestApp::spawn().await;
    app.create_pipeline(PIPELINE).await;
    let run = |client: reqwest::Client| {
        let url = app.url("/api/v1/pipelines/web/runs");
        async move {
            status_and_body(
                client
                    .post(url)
                    .json(&json!({"tag": "v1"}))
                    .send()
                    .await
                    .expect("post"),
            )
            .await
        }
    };
    let viewer = app.client_as("vera", Role::Viewer, Scope::Read).await;
    let (status, body) = run(viewer.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert_eq!(
        status_and_body(
            viewer
                .get(app.url("/api/v1/pipelines/web"))
                .send()
                .await
                .expect("get")
        )
        .await
        .0,
        200
    );
    let reader = app.client_as("dora", Role::Developer, Scope::Read).await;
    assert_eq!(run(reader).await.0, 403, "a read token of a developer");
    let developer = app.client_as("dev", Role::Developer, Scope::Run).await;
    let (status, body) = run(developer.clone()).await;
    assert_eq!(status, 201, "{body}");
    app.all_events(body["id"].as_i64().expect("id")).await;
    let (status, body) = status_and_body(
        developer
            .get(app.url("/api/v1/users"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 403, "users are an admin's: {body}");
    // A token is never wider than its owner's role, and only admins make others' tokens.
    let (status, body) = status_and_body(
        developer
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "x", "scope": "admin"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["path"].as_str()),
        (422, Some("scope")),
        "{body}"
    );
    assert_eq!(
        body["message"],
        "scope: a developer cannot hold a admin token; the widest it can is run"
    );
    let (status, _) = status_and_body(
        developer
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "x", "scope": "read", "owner": "vera"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 403);
    app.stop().await;
}

#[tokio::test]
async fn revoked_expired_and_malformed_credentials_get_401() {
    let app = TestApp::spawn().await;
    let (status, made) = status_and_body(
        app.client
            .post(app.url("/api/v1/tokens"))
            .json(&json!({"name": "ci", "scope": "run"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let token = made["token"].as_str().expect("shown once").to_owned();
    assert!(token.starts_with("cvy_"));
    let ci = client_with(Some(&token));
    let (status, me) = status_and_body(
        ci.get(app.url("/api/v1/session"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, me["name"].as_str(), me["scope"].as_str()),
        (200, Some("admin"), Some("run"))
    );
    let (_, listed) = app.get_json("/api/v1/tokens").await;
    let entry = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["id"] == made["id"])
        .expect("listed")
        .clone();
    assert!(entry["last_used_at"].is_i64(), "last use shown: {entry}");
    assert!(
        entry.get("token").is_none() && !listed.to_string().contains(&token),
        "never shown again"
    );
    let id = made["id"].as_i64().expect("id");
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/v1/tokens/{id}")))
            .send()
            .await
            .expect("delete")
            .status(),
        204
    );
    let (status, body) = status_and_body(
        ci.get(app.url("/api/v1/pipelines"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("unknown, expired or revoked token"))
    );

    // Expired: a token whose time is up.
    let admin = app
        .service
        .store()
        .user("admin")
        .await
        .expect("store")
        .expect("admin");
    let (expired, hash) = conveyor::auth::new_token();
    let old = conveyor::store::NewToken {
        user_id: admin.id,
        name: "old",
        hash: &hash,
        scope: Scope::Read,
        expires_at: Some(1),
    };
    app.service.store().create_token(&old).await.expect("token");
    let (status, _) = status_and_body(
        client_with(Some(&expired))
            .get(app.url("/api/v1/runs"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 401);

    for header in [
        "Basic YWRtaW46eA==",
        "Bearer",
        "Bearer two words",
        "token abc",
    ] {
        let (status, body) = status_and_body(
            client_with(None)
                .get(app.url("/api/v1/runs"))
                .header(AUTHORIZATION, header)
                .send()
                .await
                .expect("get"),
        )
        .await;
        assert_eq!(status, 401, "{header}");
        assert_eq!(
            body["message"], "malformed Authorization header: give `Bearer <token>`",
            "{header}"
        );
    }
    app.stop().await;
}

/// Signs in with a password; the session cookie (`name=value`).
async fn sign_in(app: &TestApp, name: &str, password: &str) -> (u16, Value, Option<String>) {
    let response = client_with(None)
        .post(app.url("/api/v1/session"))
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .expect("post");
    let cookie = response
        .headers()
        .get(SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    let (status, body) = status_and_body(response).await;
    (status, body, cookie)
}

fn first_password(app: &TestApp) -> String {
    std::fs::read_to_string(app.data_dir.path().join("initial-admin-password"))
        .expect("written")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn the_first_admin_signs_in_with_a_session_and_changes_the_first_password() {
    use std::os::unix::fs::PermissionsExt;

    let app = TestApp::spawn().await;
    let file = app.data_dir.path().join("initial-admin-password");
    assert_eq!(
        std::fs::metadata(&file).expect("file").permissions().mode() & 0o777,
        0o600
    );
    let password = first_password(&app);
    let (status, body, cookie) = sign_in(&app, "admin", &password).await;
    assert_eq!(
        (status, body["role"].as_str()),
        (200, Some("admin")),
        "{body}"
    );
    let cookie = cookie.expect("a session cookie");
    let raw = client_with(None)
        .post(app.url("/api/v1/session"))
        .json(&json!({"name": "admin", "password": password}))
        .send()
        .await
        .expect("post");
    let set = raw
        .headers()
        .get(SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http on loopback");

    let browser = client_with(None);
    let (status, me) = status_and_body(
        browser
            .get(app.url("/api/v1/session"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!((status, me["name"].as_str()), (200, Some("admin")));
    let (status, body) = status_and_body(
        browser
            .post(app.url("/api/v1/account/password"))
            .header(COOKIE, &cookie)
            .header(ORIGIN, app.url(""))
            .json(&json!({"current": "not it", "new": "a new long password"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(
        (status, body["path"].as_str()),
        (422, Some("current")),
        "{body}"
    );
    let (status, _) = status_and_body(
        browser
            .post(app.url("/api/v1/account/password"))
            .header(COOKIE, &cookie)
            .header(ORIGIN, app.url(""))
            .json(&json!({"current": password, "new": "a new long password"}))
            .send()
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 204);
    assert!(!file.exists(), "the first password's file goes with it");
    let (status, _) = status_and_body(
        browser
            .get(app.url("/api/v1/session"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 401, "a new password ends the sessions");
    assert_eq!(sign_in(&app, "admin", &password).await.0, 401);
    let (status, _, cookie) = sign_in(&app, "admin", "a new long password").await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("cookie");
    let out = browser
        .delete(app.url("/api/v1/session"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, app.url(""))
        .send()
        .await
        .expect("delete");
    assert_eq!(out.status(), 204);
    let (status, _) = status_and_body(
        browser
            .get(app.url("/api/v1/session"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 401, "signed out");
    app.stop().await;
}

#[tokio::test]
async fn wrong_passwords_say_the_same_for_unknown_accounts_and_are_slowed() {
    let app = TestApp::spawn().await;
    app.service
        .accounts()
        .add_user(None, "ann", Role::Developer, "ann's long password")
        .await
        .expect("account");
    let (status, unknown, _) = sign_in(&app, "nobody", "whatever it is").await;
    let (_, wrong, _) = sign_in(&app, "ann", "not the password").await;
    assert_eq!(status, 401);
    assert_eq!(unknown, wrong, "one message for both");
    assert_eq!(wrong["message"], "wrong account name or password");
    for _ in 0..3 {
        assert_eq!(sign_in(&app, "ann", "not the password").await.0, 401);
    }
    let response = client_with(None)
        .post(app.url("/api/v1/session"))
        .json(&json!({"name": "ann", "password": "ann's long password"}))
        .send()
        .await
        .expect("post");
    assert_eq!(
        response.status(),
        429,
        "held up even with the right password"
    );
    assert!(response.headers().get("retry-after").is_some());
    app.stop().await;
}

#[tokio::test]
async fn requests_from_other_sites_or_for_other_hosts_change_nothing() {
    let app = TestApp::spawn().await;
    app.create_pipeline(PIPELINE).await;
    let (_, _, cookie) = sign_in(&app, "admin", &first_password(&app)).await;
    let cookie = cookie.expect("cookie");
    let browser = client_with(None);
    let evil = "https://evil.example";
    let attempts = [
        browser
            .post(app.url("/api/v1/pipelines"))
            .header(ORIGIN, evil)
            .header("content-type", "text/plain")
            .body(PIPELINE.replace("web", "evil")),
        browser
            .post(app.url("/api/v1/pipelines/web/runs"))
            .header(ORIGIN, evil)
            .json(&json!({"tag": "v1"})),
        browser
            .post(app.url("/_sfn/start_run"))
            .header(ORIGIN, evil)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("pipeline=web&tag=v1"),
        browser
            .post(app.url("/_sfn/start_run"))
            .header("sec-fetch-site", "cross-site")
            .form(&[("pipeline", "web"), ("tag", "v1")]),
        // A browser that says nothing of where the request comes from, without the token.
        browser
            .post(app.url("/_sfn/start_run"))
            .form(&[("pipeline", "web"), ("tag", "v1")]),
    ];
    for attempt in attempts {
        let (status, body) =
            status_and_body(attempt.header(COOKIE, &cookie).send().await.expect("send")).await;
        assert_eq!(status, 403, "{body}");
    }
    let (_, runs) = app.get_json("/api/v1/runs").await;
    assert_eq!(runs["runs"], json!([]), "nothing started");
    assert_eq!(
        app.get_json("/api/v1/pipelines/evil").await.0,
        404,
        "nothing created"
    );

    // The same session from this very site, and with the session's CSRF token, works.
    let token = conveyor::http::csrf_token(cookie.split_once('=').expect("name=value").1);
    let form = browser
        .post(app.url("/_sfn/start_run"))
        .header(COOKIE, &cookie)
        .form(&[("pipeline", "web"), ("tag", "v1"), ("csrf", &token)])
        .send()
        .await
        .expect("post");
    assert!(
        form.status().is_success() || form.status().is_redirection(),
        "{}",
        form.status()
    );
    let (_, runs) = app.get_json("/api/v1/runs").await;
    let id = runs["runs"][0]["id"].as_i64().expect("started");
    app.all_events(id).await;
    let same_site = browser
        .post(app.url("/api/v1/pipelines/web/runs"))
        .header(COOKIE, &cookie)
        .header(ORIGIN, app.url(""))
        .json(&json!({"tag": "v2"}))
        .send()
        .await
        .expect("post");
    assert_eq!(same_site.status(), 201);

    // DNS rebinding: a name that is not this server's.
    let (status, _) = status_and_body(
        app.client
            .get(app.url("/api/v1/runs"))
            .header(HOST, "attacker.example")
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 421);
    let (status, _) = status_and_body(
        client_with(None)
            .get(app.url("/"))
            .header(HOST, format!("attacker.example:{}", app.addr.port()))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 421);
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_account_loses_its_sessions_and_tokens_at_once() {
    let app = TestApp::spawn().await;
    let dev = app.client_as("dev", Role::Developer, Scope::Run).await;
    let (status, _, cookie) = sign_in(&app, "dev", "a long enough password").await;
    assert_eq!(status, 200);
    let cookie = cookie.expect("cookie");
    let (status, body) = status_and_body(
        app.client
            .patch(app.url("/api/v1/users/dev"))
            .json(&json!({"disabled": true}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(
        (status, body["disabled"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(
        status_and_body(dev.get(app.url("/api/v1/runs")).send().await.expect("get"))
            .await
            .0,
        401
    );
    let (status, _) = status_and_body(
        client_with(None)
            .get(app.url("/api/v1/runs"))
            .header(COOKIE, &cookie)
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(sign_in(&app, "dev", "a long enough password").await.0, 401);
    // The last admin stays one.
    let (status, body) = status_and_body(
        app.client
            .patch(app.url("/api/v1/users/admin"))
            .json(&json!({"role": "viewer"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn accounts_and_tokens_are_made_on_the_servers_shell() {
    let app = TestApp::spawn().await;
    let data = app.data_dir.path().to_owned();
    let conveyor = |args: &[&str], stdin: Option<&str>| {
        let data = data.clone();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let stdin = stdin.map(str::to_owned);
        async move {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_conveyor"))
                .args(&args)
                .arg("--data-dir")
                .arg(&data)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("conveyor");
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).await.expect("write");
            }
            drop(input);
            let output = child.wait_with_output().await.expect("runs");
            (
                output.status.success(),
                String::from_utf8_lossy(&output.stdout).trim().to_owned(),
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            )
        }
    };
    let (ok, out, err) = conveyor(
        &[
            "user",
            "add",
            "carol",
            "--role",
            "viewer",
            "--password-stdin",
        ],
        Some("carol's long password\n"),
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "added carol (viewer)");
    assert_eq!(sign_in(&app, "carol", "carol's long password").await.0, 200);
    let (ok, _, err) = conveyor(&["user", "add", "carol"], None).await;
    assert!(
        !ok && err == "conveyor: an account named \"carol\" already exists",
        "{err}"
    );
    let (ok, _, err) = conveyor(
        &["user", "add", "shorty", "--password-stdin"],
        Some("short"),
    )
    .await;
    assert!(
        !ok && err.contains("password: a password has at least 10 characters"),
        "{err}"
    );
    let (ok, out, _) = conveyor(&["user", "passwd", "carol"], None).await;
    let made = out
        .strip_prefix("new password of carol: ")
        .expect("printed")
        .to_owned();
    assert!(ok && made.len() >= 16);
    assert_eq!(sign_in(&app, "carol", &made).await.0, 200);
    let (ok, token, err) = conveyor(
        &[
            "token",
            "create",
            "--user",
            "carol",
            "--scope",
            "read",
            "--expires",
            "30d",
        ],
        None,
    )
    .await;
    assert!(ok && token.starts_with("cvy_"), "{err}");
    let (status, me) = status_and_body(
        client_with(Some(&token))
            .get(app.url("/api/v1/session"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(
        (status, me["name"].as_str(), me["scope"].as_str()),
        (200, Some("carol"), Some("read"))
    );
    let (ok, _, err) = conveyor(
        &["token", "create", "--user", "carol", "--scope", "run"],
        None,
    )
    .await;
    assert!(
        !ok && err.contains("a viewer cannot hold a run token"),
        "{err}"
    );
    let (ok, _, _) = conveyor(&["user", "disable", "carol"], None).await;
    assert!(ok);
    assert_eq!(
        status_and_body(
            client_with(Some(&token))
                .get(app.url("/api/v1/session"))
                .send()
                .await
                .expect("get")
        )
        .await
        .0,
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn listening_beyond_loopback_needs_a_public_url() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut config = conveyor::config::ServeConfig::for_data_dir(data.path().to_path_buf());
    config.bind = "0.0.0.0:0".parse().expect("address");
    let err = conveyor::Server::bind(&config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("give --public-url"), "{err}");
    config.public_url = Some("https://ci.example.com/some/path".parse().expect("url"));
    assert!(conveyor::Server::bind(&config)
        .await
        .err()
        .expect("refused")
        .to_string()
        .contains("without a path"));
}

/// The policy a page sent, and the nonce its inline scripts must carry.
fn page_nonce(policy: &str) -> String {
    let start = policy.find("'nonce-").expect("a nonce in the policy") + "'nonce-".len();
    let end = policy[start..].find('\'').expect("the nonce's end") + start;
    policy[start..end].to_owned()
}

#[tokio::test]
async fn pages_run_only_their_own_scripts_and_nobody_frames_them() {
    let app = TestApp::spawn().await;
    app.create_pipeline(PIPELINE).await;
    let mut nonces = Vec::new();
    for path in ["/pipelines/web", "/history", "/login"] {
        let response = app.client.get(app.url(path)).send().await.expect("page");
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let policy = headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_owned();
        for part in [
            "default-src 'self'",
            "'wasm-unsafe-eval'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ] {
            assert!(policy.contains(part), "{path}: {policy} lacks {part}");
        }
        assert!(
            !policy.contains("script-src 'self' 'unsafe-inline'"),
            "{policy}"
        );
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
        let nonce = page_nonce(&policy);
        let html = response.text().await.expect("html");
        let scripts: Vec<&str> = html
            .split("<script")
            .skip(1)
            .map(|rest| &rest[..rest.find('>').unwrap_or(0)])
            .collect();
        assert!(scripts.len() >= 2, "{path}: the page's own scripts");
        for tag in scripts {
            assert!(
                tag.contains(" src=") || tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: an inline script without this response's nonce: <script{tag}>"
            );
        }
        nonces.push(nonce);
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "a nonce per response");
    // Answers that are not pages allow nothing at all.
    let response = app
        .client
        .get(app.url("/api/v1/pipelines"))
        .send()
        .await
        .expect("api");
    assert_eq!(
        response.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let refused = client_with(None)
        .get(app.url("/api/v1/pipelines"))
        .send()
        .await
        .expect("api");
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.headers()["x-frame-options"],
        "DENY",
        "refusals carry them too"
    );
}
