//! What every request needs, by method and path, decided before any handler runs: the
//! built site's files and signing in are open; reading needs an account; changing things
//! needs a developer (`Run`) or an admin. A path this table does not know needs an admin:
//! a new route is closed until it is given its place here.

use axum::http::Method;
use conveyor_core::access::{server_fn_needs, Action};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Anyone (the sign-in page, the built site's files, signing in and out, the round
    /// trip through the sign-in provider).
    Public,
    /// A signed-in account, or a token, that may take this action.
    Signed(Action),
}

use Requirement::{Public, Signed};

/// Pages only admins see.
pub const ADMIN_PAGES: &[&str] = &["/audit"];

/// The prefix of every server function's URL.
pub const SERVER_FN_PREFIX: &str = "/_sfn/";

pub fn requirement(method: &Method, path: &str) -> Requirement {
    let reading = method == Method::GET || method == Method::HEAD;
    if path.starts_with("/pkg/")
        || path == "/ui.js"
        || path == "/favicon.ico"
        || (reading && path == "/login")
        || (reading && path.starts_with("/auth/oidc/"))
    {
        return Public;
    }
    if let Some(api) = path.strip_prefix("/api/v1") {
        return api_requirement(method, reading, api);
    }
    if let Some(name) = path.strip_prefix(SERVER_FN_PREFIX) {
        return server_fn_needs(name).map_or(Public, Signed);
    }
    if reading && ADMIN_PAGES.contains(&path) {
        Signed(Action::Admin)
    } else if reading {
        Signed(Action::Read)
    } else {
        Signed(Action::Admin)
    }
}

fn api_requirement(method: &Method, reading: bool, path: &str) -> Requirement {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["session"] if !reading => Public,
        // A forge's delivery proves itself with the repository's webhook secret.
        ["hooks", _] if *method == Method::POST => Public,
        ["users", ..] | ["audit"] => Signed(Action::Admin),
        // Secrets: anyone reads their names; only admins set or remove them.
        ["secrets", ..] | ["pipelines", _, "secrets", ..] if !reading => Signed(Action::Admin),
        ["tokens", ..] | ["account", ..] | ["validate"] => Signed(Action::Read),
        // A workflow carries registry and git credentials: saving or deleting one is an
        // admin's; running it is a developer's.
        ["workflows"] | ["workflows", _] if !reading => Signed(Action::Admin),
        _ if reading => Signed(Action::Read),
        _ if matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        ) =>
        {
            Signed(Action::Run)
        }
        _ => Signed(Action::Admin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_what_their_action_needs() {
        let cases = [
            (Method::GET, "/pkg/conveyor.wasm", Public),
            (Method::GET, "/login", Public),
            (Method::GET, "/auth/oidc/callback", Public),
            (Method::POST, "/auth/oidc/callback", Signed(Action::Admin)),
            (Method::POST, "/login", Signed(Action::Admin)),
            (Method::POST, "/api/v1/session", Public),
            (Method::POST, "/api/v1/hooks/github", Public),
            (Method::GET, "/api/v1/hooks/github", Signed(Action::Read)),
            (Method::GET, "/api/v1/session", Signed(Action::Read)),
            (Method::GET, "/", Signed(Action::Read)),
            (Method::GET, "/api/v1/runs/7/events", Signed(Action::Read)),
            (Method::POST, "/api/v1/validate", Signed(Action::Read)),
            (Method::POST, "/api/v1/pipelines", Signed(Action::Run)),
            (
                Method::POST,
                "/api/v1/runs/7/steps/gate/approve",
                Signed(Action::Run),
            ),
            (Method::PUT, "/api/v1/workflows/web", Signed(Action::Admin)),
            (
                Method::POST,
                "/api/v1/workflows/web/runs",
                Signed(Action::Run),
            ),
            (Method::GET, "/api/v1/users", Signed(Action::Admin)),
            (Method::GET, "/api/v1/audit", Signed(Action::Admin)),
            (Method::PUT, "/api/v1/secrets/X", Signed(Action::Admin)),
            (
                Method::DELETE,
                "/api/v1/pipelines/web/secrets/X",
                Signed(Action::Admin),
            ),
            (
                Method::GET,
                "/api/v1/pipelines/web/secrets",
                Signed(Action::Read),
            ),
            (Method::GET, "/audit", Signed(Action::Admin)),
            (Method::POST, "/api/v1/tokens", Signed(Action::Read)),
            (Method::POST, "/_sfn/start_run", Signed(Action::Run)),
            (Method::POST, "/_sfn/list_runs", Signed(Action::Read)),
            (Method::POST, "/_sfn/save_workflow", Signed(Action::Admin)),
            (Method::POST, "/_sfn/something_new", Signed(Action::Admin)),
            (Method::POST, "/some/page", Signed(Action::Admin)),
        ];
        for (method, path, wanted) in cases {
            assert_eq!(requirement(&method, path), wanted, "{method} {path}");
        }
    }
}
