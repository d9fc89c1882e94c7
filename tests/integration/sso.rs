//! Signing in through an OpenID Connect provider (the double in `support::oidc_provider`,
//! which signs real RS256 ID tokens): the round trip a browser makes, accounts found by
//! subject and given the role the provider's groups map to, and everything that must not
//! sign anyone in.

use conveyor_core::access::Role;
use conveyor_core::sso::RoleMap;

use crate::support::oidc_provider::{Flaw, Person, Provider, CLIENT_ID, CLIENT_SECRET};
use crate::support::TestApp;

async fn app_with(provider: &Provider, default_role: Option<Role>) -> TestApp {
    let issuer = provider.issuer().to_owned();
    TestApp::spawn_with(move |config| {
        config.oidc.oidc_issuer = Some(issuer);
        config.oidc.oidc_client_id = Some(CLIENT_ID.into());
        config.oidc.oidc_client_secret = Some(CLIENT_SECRET.into());
        config.oidc.oidc_scopes = vec!["profile".into(), "groups".into()];
        config.oidc.oidc_role_claim = "groups".into();
        config.oidc.oidc_role_map = "devs=developer,ops=admin".parse::<RoleMap>().unwrap();
        config.oidc.oidc_default_role = default_role;
        config.oidc.oidc_name = "Test SSO".into();
    })
    .await
}

/// What a browser ends with after the round trip: where it was sent, and the session cookie
/// when it got one.
struct Landing {
    location: String,
    session: Option<String>,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The value of a `Set-Cookie` of `name` that sets one (not one that ends it).
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .find(|v| !v.is_empty())
}

/// `/auth/oidc/start?next=…`: the provider's authorize URL and the state cookie.
async fn start(app: &TestApp, next: &str) -> (String, String) {
    let response = no_redirects()
        .get(app.url(&format!("/auth/oidc/start?next={next}")))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 303);
    let cookie = set_cookie(&response, "conveyor_oidc").expect("a state cookie");
    (location(&response), cookie)
}

/// The provider's answer: the callback URL it sends the browser back to.
async fn at_provider(authorize: &str) -> String {
    let response = no_redirects()
        .get(authorize)
        .send()
        .await
        .expect("authorize");
    assert!(
        response.status().is_redirection(),
        "{}: {:?}",
        response.status(),
        response.text().await
    );
    location(&response)
}

async fn back_at(callback: &str, cookie: Option<&str>) -> Landing {
    let mut request = no_redirects().get(callback);
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("conveyor_oidc={cookie}"));
    }
    let response = request.send().await.expect("callback");
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    Landing {
        session: set_cookie(&response, "conveyor_session"),
        location: location(&response),
    }
}

async fn sign_in(app: &TestApp, next: &str) -> Landing {
    let (authorize, cookie) = start(app, next).await;
    let callback = at_provider(&authorize).await;
    back_at(&callback, Some(&cookie)).await
}

async fn whoami(app: &TestApp, session: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/session"))
        .header("cookie", format!("conveyor_session={session}"))
        .send()
        .await
        .expect("whoami");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[tokio::test]
async fn people_sign_in_through_the_provider_found_by_subject_with_the_role_their_groups_map_to() {
    let provider = Provider::start(Person::new("u-1001", "carol", &["devs", "staff"])).await;
    let app = app_with(&provider, None).await;

    let (authorize, _) = start(&app, "/runs%3Fstatus%3Dfailed").await;
    assert!(authorize.starts_with(&format!("{}/authorize?", provider.issuer())));
    for part in [
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "scope=openid",
    ] {
        assert!(authorize.contains(part), "{part} missing from {authorize}");
    }

    let landing = sign_in(&app, "/runs%3Fstatus%3Dfailed").await;
    assert_eq!(landing.location, "/runs?status=failed");
    let session = landing.session.expect("a session");
    let me = whoami(&app, &session).await;
    assert_eq!(me["name"], "carol", "{me}");
    assert_eq!(me["role"], "developer", "{me}");

    // The same person, renamed at the provider and now in ops: the same account, an admin.
    provider.sign_in_as(Person::new("u-1001", "carol.smith", &["ops", "devs"]));
    let again = sign_in(&app, "/").await;
    assert_eq!(again.location, "/");
    let me = whoami(&app, &again.session.expect("a session")).await;
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("carol"), Some("admin"))
    );

    // Someone else whose provider name is an existing account's gets an account of their own.
    app.service
        .accounts()
        .add_user(None, "dave", Role::Viewer, "dave's own password")
        .await
        .expect("dave");
    provider.sign_in_as(Person::new("u-2002", "dave", &["devs"]));
    let other = sign_in(&app, "/").await;
    let me = whoami(&app, &other.session.expect("a session")).await;
    assert_eq!(me["name"], "dave-2", "{me}");
    let (_, users) = app.get_json("/api/v1/users").await;
    let dave = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "dave")
        .expect("dave");
    assert_eq!(
        dave["role"], "viewer",
        "the password account is untouched: {users}"
    );

    let (_, audit) = app.get_json("/api/v1/audit?action=sign_in").await;
    let text = audit.to_string();
    assert!(text.contains("through Test SSO"), "{text}");
    let (_, added) = app.get_json("/api/v1/audit?action=user_add").await;
    assert!(
        added.to_string().contains("first sign-in through Test SSO"),
        "{added}"
    );
    assert!(provider.refusals().is_empty(), "{:?}", provider.refusals());
}

#[tokio::test]
async fn nothing_that_fails_to_verify_signs_anyone_in() {
    let provider = Provider::start(Person::new("u-1", "erin", &["devs"])).await;
    let app = app_with(&provider, None).await;

    for (flaw, code) in [
        (Flaw::WrongNonce, "failed"),
        (Flaw::WrongAudience, "failed"),
        (Flaw::ForeignKey, "failed"),
        (Flaw::Expired, "failed"),
        (Flaw::WrongIssuer, "failed"),
        (Flaw::Refuse, "refused"),
    ] {
        provider.misbehave(flaw);
        let landing = sign_in(&app, "/").await;
        assert!(
            landing.location.starts_with(&format!("/login?sso={code}")),
            "{flaw:?}: {}",
            landing.location
        );
        assert!(landing.session.is_none(), "{flaw:?} signed someone in");
    }
    provider.misbehave(Flaw::None);

    // The state must come back to the browser that started it, once.
    let (authorize, cookie) = start(&app, "/").await;
    let callback = at_provider(&authorize).await;
    for wrong in [None, Some("another-browsers-state")] {
        let landing = back_at(&callback, wrong).await;
        assert!(
            landing.location.starts_with("/login?sso=expired"),
            "{}",
            landing.location
        );
        assert!(landing.session.is_none());
    }
    let landing = back_at(&callback, Some(&cookie)).await;
    assert!(
        landing.session.is_some(),
        "the right browser signs in: {}",
        landing.location
    );
    let replay = back_at(&callback, Some(&cookie)).await;
    assert!(
        replay.location.starts_with("/login?sso=expired"),
        "{}",
        replay.location
    );
    assert!(replay.session.is_none());

    // Groups that map to no role, with no default role: refused.
    provider.sign_in_as(Person::new("u-2", "frank", &["visitors"]));
    let landing = sign_in(&app, "/").await;
    assert!(
        landing.location.starts_with("/login?sso=no-role"),
        "{}",
        landing.location
    );
    let (_, users) = app.get_json("/api/v1/users").await;
    assert!(!users.to_string().contains("frank"), "{users}");

    // A disabled account stays out, whatever the provider says.
    provider.sign_in_as(Person::new("u-1", "erin", &["devs"]));
    app.service
        .accounts()
        .update_user(None, "erin", None, Some(true), None)
        .await
        .expect("disable erin");
    let landing = sign_in(&app, "/").await;
    assert!(
        landing.location.starts_with("/login?sso=disabled"),
        "{}",
        landing.location
    );

    // The provider takes a role away: the account goes with it, sessions included.
    provider.sign_in_as(Person::new("u-9", "hank", &["devs"]));
    let hank = sign_in(&app, "/").await.session.expect("a session");
    provider.sign_in_as(Person::new("u-9", "hank", &["visitors"]));
    let landing = sign_in(&app, "/").await;
    assert!(
        landing.location.starts_with("/login?sso=no-role"),
        "{}",
        landing.location
    );
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/session"))
        .header("cookie", format!("conveyor_session={hank}"))
        .send()
        .await
        .expect("whoami");
    assert_eq!(response.status(), 401, "the old session ended");

    let (_, failures) = app.get_json("/api/v1/audit?action=sign_in_failed").await;
    let text = failures.to_string();
    for reason in [
        "nonce",
        "audience",
        "signature",
        "expired",
        "no role",
        "disabled",
    ] {
        assert!(
            text.to_lowercase().contains(reason),
            "no failure names {reason}: {text}"
        );
    }
}

#[tokio::test]
async fn the_sign_in_page_offers_the_provider_and_says_why_a_sign_in_failed() {
    let provider = Provider::start(Person::new("u-1", "gina", &[])).await;
    let app = app_with(&provider, Some(Role::Viewer)).await;
    let page = reqwest::Client::new()
        .get(app.url("/login?next=/pipelines&sso=no-role"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Sign in with Test SSO"), "{page}");
    assert!(
        page.contains("/auth/oidc/start?next=%2Fpipelines"),
        "{page}"
    );
    assert!(page.contains("has no role here"), "{page}");

    // With a default role, groups that map to nothing still get in, as viewers.
    let landing = sign_in(&app, "/").await;
    let me = whoami(&app, &landing.session.expect("a session")).await;
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("gina"), Some("viewer"))
    );

    let plain = TestApp::spawn().await;
    let response = no_redirects()
        .get(plain.url("/auth/oidc/start"))
        .send()
        .await
        .expect("start");
    assert_eq!(response.status(), 404, "no provider, no round trip");
    let page = reqwest::Client::new()
        .get(plain.url("/login"))
        .send()
        .await
        .expect("login page")
        .text()
        .await
        .expect("html");
    assert!(!page.contains("Sign in with"), "{page}");
}
