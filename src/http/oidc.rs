//! `/auth/oidc/start` and `/auth/oidc/callback`: the browser's round trip through the
//! OpenID Connect provider. Both are plain GET navigations (the provider's redirect is a
//! top-level navigation, so the `SameSite=Lax` state cookie comes back with it).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use conveyor_core::access::local_path;
use conveyor_core::sso::SsoFailure;
use cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::accounts::session_cookie;
use super::extract::ApiQuery;
use super::guard::{cookie, OwnOrigin};
use crate::auth::oidc::{CALLBACK_PATH, FLOW_LIFETIME, STATE_COOKIE};
use crate::service::Service;

/// Where a browser starts signing in through the provider.
pub const START_PATH: &str = "/auth/oidc/start";
/// Every route of the sign-in round trip (the access test walks them).
pub const SSO_ROUTES: &[&str] = &[START_PATH, CALLBACK_PATH];

pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route(START_PATH, get(start))
        .route(CALLBACK_PATH, get(callback))
        .with_state(service)
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    next: Option<String>,
}

async fn start(
    State(service): State<Arc<Service>>,
    Extension(OwnOrigin(origin)): Extension<OwnOrigin>,
    ApiQuery(query): ApiQuery<StartQuery>,
) -> Response {
    let next = local_path(query.next.as_deref().unwrap_or("/")).to_owned();
    if service.accounts().provider().is_none() {
        return (StatusCode::NOT_FOUND, "no sign-in provider is configured").into_response();
    }
    match service.accounts().sso_start(&origin, &next).await {
        Ok((url, state)) => {
            let lifetime = cookie::time::Duration::seconds(FLOW_LIFETIME.as_secs() as i64);
            let state = state_cookie(&service, state, lifetime);
            see_other(&url, [state])
        }
        Err(failure) => back_to_sign_in(failure, &next),
    }
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Response {
    if service.accounts().provider().is_none() {
        return (StatusCode::NOT_FOUND, "no sign-in provider is configured").into_response();
    }
    if let Some(error) = &query.error {
        tracing::warn!(
            error = %error,
            description = query.error_description.as_deref().unwrap_or(""),
            "the sign-in provider did not sign someone in"
        );
        return back_to_sign_in(SsoFailure::Refused, "/");
    }
    let (Some(code), Some(state)) = (&query.code, &query.state) else {
        return back_to_sign_in(SsoFailure::Expired, "/");
    };
    let from_cookie = cookie(&headers, STATE_COOKIE);
    let address = peer.ip().to_string();
    let done = service
        .accounts()
        .sso_finish(from_cookie.as_deref(), state, code, &address)
        .await;
    match done {
        Ok(signed_in) => {
            let session = session_cookie(&service, &signed_in.session);
            let ended = state_cookie(&service, String::new(), cookie::time::Duration::ZERO);
            see_other(local_path(&signed_in.next), [session, ended])
        }
        Err(failure) => back_to_sign_in(failure, "/"),
    }
}

/// The cookie that ties a sign-in in progress to this browser.
fn state_cookie(service: &Service, value: String, max_age: cookie::time::Duration) -> HeaderValue {
    let cookie = Cookie::build((STATE_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(service.accounts().settings().secure_cookies)
        .path("/auth/oidc")
        .max_age(max_age);
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The sign-in page, saying (in words of its own, never the URL's) why not.
fn back_to_sign_in(failure: SsoFailure, next: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let location = format!("/login?sso={}&next={next}", failure.code());
    let ended = HeaderValue::from_static(
        "conveyor_oidc=; HttpOnly; SameSite=Lax; Path=/auth/oidc; Max-Age=0",
    );
    see_other(&location, [ended])
}

fn see_other<const N: usize>(location: &str, cookies: [HeaderValue; N]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(location) {
        Ok(value) => headers.insert(header::LOCATION, value),
        Err(_) => headers.insert(header::LOCATION, HeaderValue::from_static("/login")),
    };
    for value in cookies {
        headers.append(header::SET_COOKIE, value);
    }
    response
}
