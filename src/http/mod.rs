//! HTTP: the REST API under `/api/v1` (one file per resource; each handler extracts input,
//! calls one service method, and its error is mapped in `error`), its server-sent events,
//! the OpenAPI document, and the web UI's pages and server functions (`pages`).

mod error;
mod events;
mod extract;
mod openapi;
mod pages;
mod pipelines;
mod runs;
mod workflows;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

use crate::service::Service;
use error::ApiError;

pub use error::ErrorBody;
pub use openapi::ApiDoc;

/// Largest request body accepted by the API.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Every route: the pages and server functions, the built site's files, and the API.
pub fn router(service: Arc<Service>, site_root: &Path, addr: SocketAddr) -> Router {
    pages::router(service.clone(), site_root, addr).nest("/api/v1", api(service))
}

fn api(service: Arc<Service>) -> Router {
    Router::new()
        .route(
            "/pipelines",
            get(pipelines::list_pipelines).post(pipelines::create_pipeline),
        )
        .route(
            "/pipelines/{name}",
            get(pipelines::get_pipeline)
                .put(pipelines::update_pipeline)
                .delete(pipelines::delete_pipeline),
        )
        .route("/pipelines/{name}/versions", get(pipelines::list_versions))
        .route(
            "/pipelines/{name}/versions/{version}",
            get(pipelines::get_version),
        )
        .route("/pipelines/{name}/diff", get(pipelines::compare_versions))
        .route(
            "/pipelines/{name}/runs",
            get(runs::list_pipeline_runs)
                .post(runs::create_run)
                .delete(runs::delete_runs),
        )
        .route(
            "/workflows",
            get(workflows::list_workflows).post(workflows::create_workflow),
        )
        .route(
            "/workflows/{name}",
            get(workflows::get_workflow)
                .put(workflows::update_workflow)
                .delete(workflows::delete_workflow),
        )
        .route(
            "/workflows/{name}/runs",
            get(runs::list_pipeline_runs)
                .post(workflows::create_workflow_run)
                .delete(runs::delete_runs),
        )
        .route("/validate", post(pipelines::validate))
        .route("/runs", get(runs::list_runs))
        .route("/runs/{id}", get(runs::get_run))
        .route("/runs/{id}/cancel", post(runs::cancel_run))
        .route("/runs/{id}/rerun", post(runs::rerun))
        .route("/runs/{id}/retry", post(runs::retry_run))
        .route("/runs/{id}/steps/{step}/approve", post(runs::approve_step))
        .route("/runs/{id}/steps/{step}/refuse", post(runs::refuse_step))
        .route("/runs/{id}/log", get(runs::run_log))
        .route("/runs/{id}/events", get(events::run_events))
        .route("/changes", get(events::run_changes))
        .route("/openapi.json", get(openapi::openapi))
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
