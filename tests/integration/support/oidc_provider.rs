//! An OpenID Connect provider double on 127.0.0.1:0, speaking the real protocol: a
//! discovery document, `/authorize` that signs in whoever the test says (no login form),
//! `/token` that checks the client's credentials, the code's redirect URI and the PKCE
//! verifier (S256), and answers with an ID token signed RS256 by a fixed test key whose
//! public half `/jwks` publishes. A test can make it misbehave in one way at a time, to
//! see Conveyor refuse what does not verify.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreResponseType, CoreRsaPrivateSigningKey, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalClaims, Audience, AuthUrl, EmptyAdditionalProviderMetadata, EndUserEmail,
    EndUserUsername, IdToken, IdTokenClaims, IssuerUrl, JsonWebKeyId, JsonWebKeySetUrl, Nonce,
    PrivateSigningKey, ResponseTypes, StandardClaims, SubjectIdentifier, TokenUrl,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const CLIENT_ID: &str = "conveyor";
pub const CLIENT_SECRET: &str = "s3cret-of-the-client";
const KEY: &str = include_str!("../../fixtures/oidc-provider-key.pem");
const OTHER_KEY: &str = include_str!("../../fixtures/oidc-other-key.pem");

/// Who `/authorize` signs in.
#[derive(Debug, Clone)]
pub struct Person {
    pub subject: String,
    pub username: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

impl Person {
    pub fn new(subject: &str, username: &str, groups: &[&str]) -> Person {
        Person {
            subject: subject.into(),
            username: Some(username.into()),
            email: None,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

/// One way for the provider to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    /// `/authorize` answers `error=access_denied`.
    Refuse,
    /// The ID token carries another nonce.
    WrongNonce,
    /// The ID token is for another client.
    WrongAudience,
    /// The ID token is signed by a key the JWKS does not hold.
    ForeignKey,
    /// The ID token expired an hour ago.
    Expired,
    /// The ID token names another issuer.
    WrongIssuer,
}

struct Grant {
    redirect_uri: String,
    nonce: String,
    challenge: String,
    person: Person,
}

struct Inner {
    issuer: String,
    person: Mutex<Person>,
    flaw: Mutex<Flaw>,
    codes: Mutex<HashMap<String, Grant>>,
    /// What `/token` refused, and why (for a test's assertion messages).
    refusals: Mutex<Vec<String>>,
}

/// The provider, running until dropped with its test's runtime.
#[derive(Clone)]
pub struct Provider(Arc<Inner>);

impl Provider {
    pub async fn start(person: Person) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let provider = Provider(Arc::new(Inner {
            issuer,
            person: Mutex::new(person),
            flaw: Mutex::new(Flaw::None),
            codes: Mutex::new(HashMap::new()),
            refusals: Mutex::new(Vec::new()),
        }));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(provider.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        provider
    }

    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    pub fn sign_in_as(&self, person: Person) {
        *self.0.person.lock().unwrap() = person;
    }

    pub fn misbehave(&self, flaw: Flaw) {
        *self.0.flaw.lock().unwrap() = flaw;
    }

    pub fn refusals(&self) -> Vec<String> {
        self.0.refusals.lock().unwrap().clone()
    }
}

async fn discovery(State(provider): State<Provider>) -> Json<CoreProviderMetadata> {
    let base = provider.issuer();
    let metadata = CoreProviderMetadata::new(
        IssuerUrl::new(base.into()).unwrap(),
        AuthUrl::new(format!("{base}/authorize")).unwrap(),
        JsonWebKeySetUrl::new(format!("{base}/jwks")).unwrap(),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        EmptyAdditionalProviderMetadata {},
    )
    .set_token_endpoint(Some(TokenUrl::new(format!("{base}/token")).unwrap()));
    Json(metadata)
}

fn signing_key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("test-key".into())))
        .expect("the test key")
}

async fn jwks() -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![
        signing_key(KEY).as_verification_key()
    ]))
}

async fn authorize(
    State(provider): State<Provider>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| query.get(name).cloned().unwrap_or_default();
    let redirect_uri = field("redirect_uri");
    let state = field("state");
    let bad = |why: &str| (StatusCode::BAD_REQUEST, why.to_owned()).into_response();
    if field("client_id") != CLIENT_ID {
        return bad("unknown client");
    }
    if field("response_type") != "code" || !field("scope").split(' ').any(|s| s == "openid") {
        return bad("not an OpenID Connect code request");
    }
    if field("code_challenge_method") != "S256" || field("code_challenge").is_empty() {
        return bad("PKCE with S256 is required");
    }
    if state.is_empty() || field("nonce").is_empty() {
        return bad("state and nonce are required");
    }
    let back = |pairs: &[(&str, &str)]| {
        let mut url = url::Url::parse(&redirect_uri).expect("redirect_uri");
        url.query_pairs_mut().extend_pairs(pairs);
        Redirect::to(url.as_str()).into_response()
    };
    if *provider.0.flaw.lock().unwrap() == Flaw::Refuse {
        return back(&[("error", "access_denied"), ("state", &state)]);
    }
    let code = format!("code-{}", provider.0.codes.lock().unwrap().len() + 1);
    let grant = Grant {
        redirect_uri: redirect_uri.clone(),
        nonce: field("nonce"),
        challenge: field("code_challenge"),
        person: provider.0.person.lock().unwrap().clone(),
    };
    provider.0.codes.lock().unwrap().insert(code.clone(), grant);
    back(&[("code", &code), ("state", &state)])
}

#[derive(Debug, Serialize, Deserialize)]
struct Groups {
    groups: Vec<String>,
}
impl AdditionalClaims for Groups {}

async fn token(
    State(provider): State<Provider>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let refuse = |why: String| {
        provider.0.refusals.lock().unwrap().push(why.clone());
        let body = serde_json::json!({"error": "invalid_grant", "error_description": why});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    };
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let authorized = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|value| value.to_str().ok() == Some(&format!("Basic {basic}")));
    if !authorized {
        return refuse("wrong client credentials".into());
    }
    if field("grant_type") != "authorization_code" {
        return refuse("not an authorization code grant".into());
    }
    let Some(grant) = provider.0.codes.lock().unwrap().remove(&field("code")) else {
        return refuse("unknown or used code".into());
    };
    if field("redirect_uri") != grant.redirect_uri {
        return refuse("the redirect_uri differs from the authorization request's".into());
    }
    let verifier = field("code_verifier");
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if verifier.is_empty() || challenge != grant.challenge {
        return refuse("the PKCE verifier does not match the challenge".into());
    }
    let flaw = *provider.0.flaw.lock().unwrap();
    let id_token = id_token(provider.issuer(), &grant, flaw);
    Json(serde_json::json!({
        "access_token": "access-token-of-the-double",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

fn id_token(issuer: &str, grant: &Grant, flaw: Flaw) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).unwrap();
    let (issued, expires) = match flaw {
        Flaw::Expired => (at(now - 7200), at(now - 3600)),
        _ => (at(now), at(now + 300)),
    };
    let issuer = match flaw {
        Flaw::WrongIssuer => "http://elsewhere.example".to_owned(),
        _ => issuer.to_owned(),
    };
    let audience = match flaw {
        Flaw::WrongAudience => "another-client",
        _ => CLIENT_ID,
    };
    let nonce = match flaw {
        Flaw::WrongNonce => "a-nonce-nobody-asked-for".to_owned(),
        _ => grant.nonce.clone(),
    };
    let person = &grant.person;
    let standard =
        StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new(person.subject.clone()))
            .set_preferred_username(person.username.clone().map(EndUserUsername::new))
            .set_email(person.email.clone().map(EndUserEmail::new));
    let claims = IdTokenClaims::new(
        IssuerUrl::new(issuer).unwrap(),
        vec![Audience::new(audience.into())],
        expires,
        issued,
        standard,
        Groups {
            groups: person.groups.clone(),
        },
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let key = signing_key(if flaw == Flaw::ForeignKey {
        OTHER_KEY
    } else {
        KEY
    });
    IdToken::<Groups, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>::new(
        claims,
        &key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("a signed ID token")
    .to_string()
}
