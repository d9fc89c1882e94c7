//! The one check every request passes before any handler (REST, server functions, SSE,
//! pages): the `Host` is Conveyor's own (no DNS rebinding); the caller is found from their
//! session cookie or `Authorization: Bearer` token; what the route needs
//! ([`crate::auth::policy`]) is checked; a state-changing request made with a session
//! cookie must come from Conveyor's own origin (or carry the session's CSRF token), so no
//! other site can make a signed-in browser act.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use conveyor_core::access::{CsrfToken, Principal, SignInProvider};
use cookie::Cookie;

use super::error::ApiError;
use crate::auth::policy::{requirement, Requirement, SERVER_FN_PREFIX};
use crate::auth::{digest, SESSION_COOKIE};
use crate::service::{Credential, Service};

/// What the guard knows of the server's own address.
#[derive(Debug, Clone)]
pub struct Site {
    /// `scheme://host[:port]` of `--public-url`; absent: the server is on loopback, and any
    /// loopback name is its own.
    pub public_origin: Option<String>,
}

/// This server's origin as the request reached it: the public URL's, or on loopback the
/// loopback name and port the request named.
#[derive(Debug, Clone)]
pub struct OwnOrigin(pub String);

/// The session a request came with (for signing out).
#[derive(Debug, Clone)]
pub struct SessionId(pub String);

/// The CSRF token of a session: a one-way function of its id, which only the browser that
/// holds the (HttpOnly) cookie can know.
pub fn csrf_token(session: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest(&format!("csrf:{session}")))
}

#[derive(Clone)]
pub struct Guard {
    pub service: Arc<Service>,
    pub site: Arc<Site>,
}

pub async fn guard(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let Some(origin) = own_origin(&guard.site, request.headers()) else {
        return refuse(
            &path,
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            "this server does not answer for that host",
        );
    };
    let credential = match credential(request.headers()) {
        Ok(credential) => credential,
        Err(message) => return ApiError::unauthorized(message).into_response(),
    };
    let principal = match &credential {
        None => None,
        Some(credential) => match guard.service.accounts().authenticate(credential).await {
            Ok(principal) => principal,
            Err(err) => return ApiError::from(err).into_response(),
        },
    };
    if matches!(credential, Some(Credential::Token(_))) && principal.is_none() {
        return ApiError::unauthorized("unknown, expired or revoked token").into_response();
    }
    let changes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let session = match &credential {
        Some(Credential::Session(id)) => Some(id.clone()),
        _ => None,
    };
    match requirement(&method, &path) {
        Requirement::Public => {
            if changes && from_elsewhere(request.headers(), &origin) {
                return refuse(
                    &path,
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "a request from another site",
                );
            }
        }
        Requirement::Signed(action) => {
            let Some(who) = &principal else {
                return unsigned(&method, request.uri());
            };
            if !who.may(action) {
                let message = format!(
                    "{} may not do this (it needs {action:?} rights)",
                    describe(who)
                );
                return refuse(&path, StatusCode::FORBIDDEN, "forbidden", &message);
            }
            // A browser's session acts only for pages of this very site.
            if let (true, Some(session)) = (changes, &session) {
                request = match same_site(request, &origin, session).await {
                    Ok(request) => request,
                    Err(()) => {
                        return ApiError::forbidden(
                            "a request from another site, or without this session's CSRF token",
                        )
                        .into_response()
                    }
                };
            }
        }
    }
    if let Some(session) = session {
        request
            .extensions_mut()
            .insert(CsrfToken(csrf_token(&session)));
        request.extensions_mut().insert(SessionId(session));
    }
    if let Some(principal) = principal {
        request.extensions_mut().insert(principal);
    }
    if let Some(provider) = guard.service.accounts().provider() {
        let label = SignInProvider(provider.label().to_owned());
        request.extensions_mut().insert(label);
    }
    request.extensions_mut().insert(OwnOrigin(origin));
    next.run(request).await
}

fn describe(who: &Principal) -> String {
    match who.scope {
        Some(scope) => format!("a {scope} token of {}", who.name),
        None => format!("{} ({})", who.name, who.role),
    }
}

/// The origin a request must come from: the public URL's, or, on loopback, the loopback
/// host the request names. `None` when the `Host` is not this server's.
fn own_origin(site: &Site, headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    match &site.public_origin {
        Some(origin) => {
            let (_, public_host) = origin.split_once("://")?;
            (host.eq_ignore_ascii_case(public_host)).then(|| origin.clone())
        }
        None => {
            let name = match host.rsplit_once(':') {
                Some((name, port)) if port.parse::<u16>().is_ok() => name,
                _ => host,
            };
            matches!(name, "127.0.0.1" | "localhost" | "[::1]").then(|| format!("http://{host}"))
        }
    }
}

/// The credential a request carries; `Err` for an `Authorization` header that is not a
/// bearer token.
pub(super) fn credential(headers: &HeaderMap) -> Result<Option<Credential>, String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let malformed = || "malformed Authorization header: give `Bearer <token>`".to_owned();
        let text = value.to_str().map_err(|_| malformed())?;
        let token = text
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && !t.contains(' '));
        return token
            .map(|t| Some(Credential::Token(t.to_owned())))
            .ok_or_else(malformed);
    }
    Ok(cookie(headers, SESSION_COOKIE).map(Credential::Session))
}

/// The value of the request's cookie `name`, when it has a non-empty one.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether the browser says the request comes from another site.
fn from_elsewhere(headers: &HeaderMap, own: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        return origin != own;
    }
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|site| site != "same-origin" && site != "none")
}

/// A state-changing request made with a session cookie: its `Origin` (or `Sec-Fetch-Site`)
/// must say it comes from this site. A browser that says neither must send the session's
/// CSRF token, as the `X-CSRF-Token` header or as the `csrf` field every form of the pages
/// carries (the form is read, and handed on whole).
async fn same_site(request: Request, own: &str, session: &str) -> Result<Request, ()> {
    let headers = request.headers();
    if headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site") {
        return if from_elsewhere(headers, own) {
            Err(())
        } else {
            Ok(request)
        };
    }
    let wanted = csrf_token(session);
    if headers.get("x-csrf-token").and_then(|v| v.to_str().ok()) == Some(wanted.as_str()) {
        return Ok(request);
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, super::MAX_BODY_BYTES)
        .await
        .map_err(|_| ())?;
    let given = url::form_urlencoded::parse(&bytes)
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value);
    if given.as_deref() != Some(wanted.as_str()) {
        return Err(());
    }
    Ok(Request::from_parts(parts, axum::body::Body::from(bytes)))
}

/// No one is signed in: pages go to the sign-in page, everything else answers 401.
fn unsigned(method: &Method, uri: &Uri) -> Response {
    let path = uri.path();
    if *method == Method::GET && !path.starts_with("/api/") && !path.starts_with(SERVER_FN_PREFIX) {
        let next = uri.path_and_query().map_or("/", |p| p.as_str());
        let target = format!("/login?next={}", urlencoding(next));
        return Redirect::to(&target).into_response();
    }
    ApiError::unauthorized("sign in first: no session, or it has ended (or give an API token)")
        .into_response()
}

fn refuse(path: &str, status: StatusCode, code: &str, message: &str) -> Response {
    if path.starts_with("/api/") || path.starts_with(SERVER_FN_PREFIX) {
        ApiError::new(status, code, message).into_response()
    } else {
        (status, message.to_owned()).into_response()
    }
}

/// Percent-encodes a path for a query value.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
