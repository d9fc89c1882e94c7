//! Signing in and out. Both are plain HTML form posts, with or without the WASM: the answer
//! sets (or ends) the session cookie and sends the browser on, which then loads the page
//! afresh as the account it now is.

use conveyor_core::access::{NewToken, TokenSummary, UserSummary};
use leptos::prelude::*;

use super::codec::TextJson;

/// Signs in with an account name and password, then goes to `next` (a path on this site).
/// A wrong name or password comes back to the sign-in page with the error in its URL.
#[server(prefix = "/_sfn", endpoint = "sign_in", output = TextJson)]
pub async fn sign_in(
    name: String,
    password: String,
    next: Option<String>,
) -> Result<(), ServerFnError> {
    let request = request()?;
    let cookie = super::backend()?
        .sign_in(&request, &name, &password)
        .await
        .map_err(super::fail)?;
    set_cookie(cookie);
    let next = next.unwrap_or_default();
    leptos_axum::redirect(conveyor_core::access::local_path(&next));
    Ok(())
}

/// Ends this browser's session and goes to the sign-in page.
#[server(prefix = "/_sfn", endpoint = "sign_out", output = TextJson)]
pub async fn sign_out() -> Result<(), ServerFnError> {
    let request = request()?;
    let cookie = super::backend()?
        .sign_out(&request)
        .await
        .map_err(super::fail)?;
    set_cookie(cookie);
    leptos_axum::redirect("/login");
    Ok(())
}

#[cfg(feature = "ssr")]
fn request() -> Result<http::request::Parts, ServerFnError> {
    use_context::<http::request::Parts>()
        .ok_or_else(|| ServerFnError::new("request missing from context"))
}

#[cfg(feature = "ssr")]
fn set_cookie(cookie: http::HeaderValue) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(http::header::SET_COOKIE, cookie);
    }
}

/// A page of the audit log (admins); every filter is optional (empty = none).
#[server(prefix = "/_sfn", endpoint = "audit_log", output = TextJson)]
pub async fn audit_log(
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before: Option<i64>,
) -> Result<conveyor_core::audit::AuditPage, ServerFnError> {
    let action = conveyor_core::run::parse_filter(action.as_deref()).map_err(ServerFnError::new)?;
    let query = conveyor_core::audit::AuditQuery {
        actor: actor.filter(|a| !a.is_empty()),
        action,
        target: target.filter(|t| !t.is_empty()),
        before,
        limit: None,
    };
    super::backend()?
        .audit_log(&query)
        .await
        .map_err(super::fail)
}

/// The account page's data: who you are, your tokens, and for admins everybody's accounts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccountData {
    pub me: UserSummary,
    pub tokens: Vec<TokenSummary>,
    /// Every account (admins only).
    pub users: Option<Vec<UserSummary>>,
}

#[server(prefix = "/_sfn", endpoint = "account", output = TextJson)]
pub async fn account() -> Result<AccountData, ServerFnError> {
    let who = super::caller()?;
    let backend = super::backend()?;
    let (me, tokens) = backend.account(&who).await.map_err(super::fail)?;
    let users = if who.may(conveyor_core::access::Action::Admin) {
        Some(backend.users().await.map_err(super::fail)?)
    } else {
        None
    };
    Ok(AccountData { me, tokens, users })
}

/// What the account page's forms do to your own account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountAct {
    /// Make a token (`name`, `scope`, `expires`); its value comes back this once.
    NewToken,
    /// Revoke token `id`.
    RevokeToken,
    /// Change your password (`current`, `password`); your sessions end, this one too.
    Password,
}

impl AccountAct {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountAct::NewToken => "new_token",
            AccountAct::RevokeToken => "revoke_token",
            AccountAct::Password => "password",
        }
    }
}

/// The account page's forms, one server function for all of them.
#[server(prefix = "/_sfn", endpoint = "account_control", output = TextJson)]
pub async fn account_control(
    act: AccountAct,
    name: Option<String>,
    scope: Option<String>,
    expires: Option<String>,
    id: Option<i64>,
    current: Option<String>,
    password: Option<String>,
) -> Result<Option<NewToken>, ServerFnError> {
    let who = super::caller()?;
    let backend = super::backend()?;
    match act {
        AccountAct::NewToken => {
            let scope = conveyor_core::run::parse_filter(scope.as_deref())
                .map_err(ServerFnError::new)?
                .ok_or_else(|| ServerFnError::new("choose the token's scope"))?;
            let name = name.unwrap_or_default();
            let token = backend
                .create_token(&who, &name, scope, expires.as_deref())
                .await
                .map_err(super::fail)?;
            Ok(Some(token))
        }
        AccountAct::RevokeToken => {
            let id = id.ok_or_else(|| ServerFnError::new("which token? `id` is missing"))?;
            backend.revoke_token(&who, id).await.map_err(super::fail)?;
            Ok(None)
        }
        AccountAct::Password => {
            let (current, password) = (current.unwrap_or_default(), password.unwrap_or_default());
            backend
                .change_password(&who, &current, &password)
                .await
                .map_err(super::fail)?;
            leptos_axum::redirect("/login?next=/account");
            Ok(None)
        }
    }
}

/// An admin adds an account (a password is made when none is given, and comes back this
/// once) or changes one's role or whether it is disabled.
#[server(prefix = "/_sfn", endpoint = "user_control", output = TextJson)]
pub async fn user_control(
    name: String,
    role: Option<String>,
    disabled: Option<String>,
    password: Option<String>,
    add: Option<String>,
) -> Result<Option<String>, ServerFnError> {
    let who = super::caller()?;
    let backend = super::backend()?;
    let role = conveyor_core::run::parse_filter(role.as_deref()).map_err(ServerFnError::new)?;
    if add.is_some() {
        let role = role.ok_or_else(|| ServerFnError::new("choose the account's role"))?;
        let made = backend
            .add_user(&who, &name, role, password.filter(|p| !p.is_empty()))
            .await
            .map_err(super::fail)?;
        return Ok(made);
    }
    let disabled = match disabled.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ServerFnError::new(format!(
                "\"{other}\" is not true or false"
            )))
        }
    };
    backend
        .update_user(&who, &name, role, disabled)
        .await
        .map_err(super::fail)?;
    Ok(None)
}
