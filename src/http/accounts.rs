//! `/session` (sign in and out, who am I), `/tokens` (API tokens), `/account/password` and
//! `/users` (admins).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use conveyor_core::access::{NewToken, Principal, Role, Scope, TokenSummary, UserSummary};
use cookie::{Cookie, SameSite};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::guard::SessionId;
use crate::auth::SESSION_COOKIE;
use crate::service::{token_lifetime, Service};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub name: String,
    pub password: String,
}

/// The `Set-Cookie` of a new session: HttpOnly, SameSite=Lax, Secure behind https.
pub fn session_cookie(service: &Service, value: &str) -> HeaderValue {
    let settings = service.accounts().settings();
    let max_age = cookie::time::Duration::seconds(settings.session_max.as_secs() as i64);
    let cookie = Cookie::build((SESSION_COOKIE, value.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookies)
        .path("/")
        .max_age(max_age);
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// The `Set-Cookie` that ends a session in the browser.
pub fn ended_cookie() -> HeaderValue {
    HeaderValue::from_static("conveyor_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}

#[utoipa::path(post, path = "/api/v1/session", tag = "accounts", request_body = SignIn,
    responses((status = 200, description = "Signed in: the session cookie is set", body = Principal),
              (status = 401, description = "Wrong account name or password", body = ErrorBody),
              (status = 429, description = "Too many failed sign-ins: try again after Retry-After seconds", body = ErrorBody)))]
pub(super) async fn sign_in(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(request): ApiJson<SignIn>,
) -> ApiResult<Response> {
    let (principal, session) = service
        .accounts()
        .sign_in(&request.name, &request.password, &peer.ip().to_string())
        .await?;
    let mut response = Json(principal).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&service, &session));
    Ok(response)
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "accounts",
    responses((status = 204, description = "Signed out: the session has ended")))]
pub(super) async fn sign_out(
    State(service): State<Arc<Service>>,
    session: Option<Extension<SessionId>>,
    who: Option<Extension<Principal>>,
) -> ApiResult<Response> {
    if let Some(Extension(SessionId(id))) = session {
        let who = who.as_ref().map(|Extension(who)| who.name.as_str());
        service.accounts().sign_out(&id, who).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, ended_cookie());
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/session", tag = "accounts",
    responses((status = 200, description = "Who the request acts for (with a token: its scope)", body = Principal),
              (status = 401, description = "No session or token", body = ErrorBody)))]
pub(super) async fn whoami(Extension(principal): Extension<Principal>) -> Json<Principal> {
    Json(principal)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TokensQuery {
    /// Everybody's tokens (admins only).
    #[serde(default)]
    pub all: bool,
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "accounts", params(TokensQuery),
    responses((status = 200, description = "Your tokens (an admin's `all`: everybody's), newest first; never their values", body = [TokenSummary])))]
pub(super) async fn list_tokens(
    State(service): State<Arc<Service>>,
    Extension(principal): Extension<Principal>,
    ApiQuery(query): ApiQuery<TokensQuery>,
) -> ApiResult<Json<Vec<TokenSummary>>> {
    Ok(Json(
        service.accounts().tokens(&principal, query.all).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What it is for, e.g. `deploy script`.
    pub name: String,
    /// `read`, `run` or `admin`: no wider than the owner's role.
    pub scope: Scope,
    /// Lifetime like `30d` or `12h`; none: until revoked.
    #[serde(default)]
    pub expires_in: Option<String>,
    /// The account it acts for (admins only); none: yours.
    #[serde(default)]
    pub owner: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "accounts", request_body = CreateToken,
    responses((status = 201, description = "The token: its value is shown this once", body = NewToken),
              (status = 403, description = "A token for another account, by a non-admin", body = ErrorBody),
              (status = 422, description = "A scope wider than the owner's role, or a bad expiry", body = ErrorBody)))]
pub(super) async fn create_token(
    State(service): State<Arc<Service>>,
    Extension(principal): Extension<Principal>,
    ApiJson(request): ApiJson<CreateToken>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    let expires_in = token_lifetime(request.expires_in.as_deref())?;
    let token = service
        .accounts()
        .create_token(
            &principal,
            request.owner.as_deref(),
            &request.name,
            request.scope,
            expires_in,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "accounts",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204, description = "Revoked: it stops working at once"),
              (status = 404, description = "No such token of yours", body = ErrorBody)))]
pub(super) async fn revoke_token(
    State(service): State<Arc<Service>>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    service.accounts().revoke_token(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current: String,
    pub new: String,
}

#[utoipa::path(post, path = "/api/v1/account/password", tag = "accounts", request_body = ChangePassword,
    responses((status = 204, description = "Changed; your other sessions have ended"),
              (status = 422, description = "Not your current password, or a new one too short", body = ErrorBody)))]
pub(super) async fn change_password(
    State(service): State<Arc<Service>>,
    Extension(principal): Extension<Principal>,
    ApiJson(request): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    service
        .accounts()
        .change_password(&principal, &request.current, &request.new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/users", tag = "accounts",
    responses((status = 200, description = "Every account (admins only)", body = [UserSummary])))]
pub(super) async fn list_users(
    State(service): State<Arc<Service>>,
) -> ApiResult<Json<Vec<UserSummary>>> {
    Ok(Json(service.accounts().users().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddUser {
    pub name: String,
    pub role: Role,
    pub password: String,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = AddUser,
    responses((status = 201, description = "Created", body = UserSummary),
              (status = 409, description = "The name is taken", body = ErrorBody),
              (status = 422, description = "A bad name or a short password", body = ErrorBody)))]
pub(super) async fn add_user(
    State(service): State<Arc<Service>>,
    Extension(actor): Extension<Principal>,
    ApiJson(request): ApiJson<AddUser>,
) -> ApiResult<(StatusCode, Json<UserSummary>)> {
    let user = service
        .accounts()
        .add_user(
            Some(&actor.name),
            &request.name,
            request.role,
            &request.password,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub password: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "accounts",
    params(("name" = String, Path, description = "Account name")), request_body = UpdateUser,
    responses((status = 200, description = "Updated; disabling ends its sessions and tokens at once", body = UserSummary),
              (status = 404, description = "No such account", body = ErrorBody),
              (status = 409, description = "It is the last admin who can sign in", body = ErrorBody)))]
pub(super) async fn update_user(
    State(service): State<Arc<Service>>,
    Extension(actor): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateUser>,
) -> ApiResult<Json<UserSummary>> {
    let user = service
        .accounts()
        .update_user(
            Some(&actor.name),
            &name,
            request.role,
            request.disabled,
            request.password.as_deref(),
        )
        .await?;
    Ok(Json(user))
}
