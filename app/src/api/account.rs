//! Signing in and out. Both are plain HTML form posts, with or without the WASM: the answer
//! sets (or ends) the session cookie and sends the browser on, which then loads the page
//! afresh as the account it now is.

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
