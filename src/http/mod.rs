//! HTTP: the REST API under `/api/v1` (one file per resource; each handler extracts input,
//! calls one service method, and its error is mapped in `error`), its server-sent events,
//! the OpenAPI document, and the web UI's pages and server functions (`pages`).

mod accounts;
mod actions;
mod audit;
mod error;
mod events;
mod extract;
mod guard;
mod health;
mod hooks;
mod oidc;
mod openapi;
mod pages;
mod pipelines;
mod runs;
mod search;
mod secrets;
mod stats;
mod workflows;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;

use crate::service::Service;
use error::ApiError;

pub use accounts::{ended_cookie, session_cookie};
pub use error::ErrorBody;
pub use guard::{csrf_token, SessionId, Site};
pub use oidc::SSO_ROUTES;
pub use openapi::ApiDoc;
pub use pages::route_list;

/// Largest request body accepted by the API.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route: the pages and server functions, the built site's files, and the API, all
/// behind the one guard; beside it, health, readiness and metrics.
pub fn router(service: Arc<Service>, site_root: &Path, addr: SocketAddr, site: Site) -> Router {
    let guard = guard::Guard {
        service: service.clone(),
        site: Arc::new(site),
    };
    let router = pages::router(service.clone(), site_root, addr)
        .merge(oidc::router(service.clone()))
        .nest("/api/v1", api(service.clone()))
        .layer(axum::middleware::from_fn_with_state(guard, guard::guard))
        .merge(health::router(service));
    with_security_headers(router)
}

/// Headers every response carries: no type sniffing, no framing by other sites, referrers
/// kept to this site (the pages' no-JavaScript forms come back to their page by it), and,
/// where a page did not set its own policy (with its nonce), one that allows nothing.
fn with_security_headers(router: Router) -> Router {
    use axum::http::{header, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer as Set;
    router
        .layer(Set::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(Set::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(Set::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(Set::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        ))
}

/// The API's routes, declared once: the router is built from this list, and the guard's
/// test walks the same list ([`API_ROUTES`]).
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path),* $(,)?) => {
        /// Every API route under `/api/v1`: method and path.
        pub const API_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn routes() -> Router<Arc<Service>> {
            let router = Router::new();
            $(let router = router.route($path, axum::routing::$method($handler));)*
            router
        }
    };
}

api_routes! {
    post "/session" => accounts::sign_in,
    delete "/session" => accounts::sign_out,
    get "/session" => accounts::whoami,
    get "/tokens" => accounts::list_tokens,
    post "/tokens" => accounts::create_token,
    delete "/tokens/{id}" => accounts::revoke_token,
    post "/account/password" => accounts::change_password,
    get "/users" => accounts::list_users,
    get "/audit" => audit::audit_log,
    get "/secrets" => secrets::list_secrets,
    put "/secrets/{name}" => secrets::set_global_secret,
    delete "/secrets/{name}" => secrets::delete_global_secret,
    get "/pipelines/{name}/secrets" => secrets::list_pipeline_secrets,
    put "/pipelines/{name}/secrets/{secret}" => secrets::set_pipeline_secret,
    delete "/pipelines/{name}/secrets/{secret}" => secrets::delete_pipeline_secret,
    post "/users" => accounts::add_user,
    patch "/users/{name}" => accounts::update_user,
    get "/pipelines" => pipelines::list_pipelines,
    post "/pipelines" => pipelines::create_pipeline,
    get "/pipelines/{name}" => pipelines::get_pipeline,
    put "/pipelines/{name}" => pipelines::update_pipeline,
    delete "/pipelines/{name}" => pipelines::delete_pipeline,
    get "/pipelines/{name}/versions" => pipelines::list_versions,
    get "/pipelines/{name}/versions/{version}" => pipelines::get_version,
    get "/pipelines/{name}/diff" => pipelines::compare_versions,
    get "/pipelines/{name}/runs" => runs::list_pipeline_runs,
    post "/pipelines/{name}/runs" => runs::create_run,
    delete "/pipelines/{name}/runs" => runs::delete_runs,
    get "/actions" => actions::list_actions,
    post "/actions" => actions::create_action,
    get "/actions/{name}" => actions::action_versions,
    post "/actions/{name}/versions" => actions::create_action_version,
    get "/actions/{name}/versions/{version}" => actions::get_action,
    delete "/actions/{name}/versions/{version}" => actions::delete_action,
    get "/workflows" => workflows::list_workflows,
    post "/workflows" => workflows::create_workflow,
    get "/workflows/{name}" => workflows::get_workflow,
    put "/workflows/{name}" => workflows::update_workflow,
    delete "/workflows/{name}" => workflows::delete_workflow,
    get "/workflows/{name}/runs" => runs::list_pipeline_runs,
    post "/workflows/{name}/runs" => workflows::create_workflow_run,
    delete "/workflows/{name}/runs" => runs::delete_runs,
    get "/workflows/{name}/releases" => workflows::list_releases,
    post "/workflows/{name}/releases/{id}/rollback" => workflows::roll_back,
    post "/validate" => pipelines::validate,
    get "/runs" => runs::list_runs,
    get "/search" => search::search,
    get "/stats" => stats::stats,
    get "/runs/{id}" => runs::get_run,
    post "/runs/{id}/cancel" => runs::cancel_run,
    post "/runs/{id}/rerun" => runs::rerun,
    post "/runs/{id}/retry" => runs::retry_run,
    post "/runs/{id}/steps/{step}/approve" => runs::approve_step,
    post "/runs/{id}/steps/{step}/refuse" => runs::refuse_step,
    get "/runs/{id}/log" => runs::run_log,
    get "/runs/{id}/events" => events::run_events,
    get "/changes" => events::run_changes,
    post "/hooks/{forge}" => hooks::receive,
    get "/pipelines/{name}/deliveries" => hooks::list_deliveries,
    get "/openapi.json" => openapi::openapi,
}

fn api(service: Arc<Service>) -> Router {
    routes()
        .fallback(unknown_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

async fn unknown_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API route; see /api/v1/openapi.json",
    )
}
