//! `/healthz`, `/readyz` and `/metrics`, outside the pages' guard: probes and scrapers reach
//! the server by its pod address, not by its public name. Health and readiness say nothing
//! about what the server holds; the metrics need an API token that may read.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use conveyor_core::access::Action;

use super::error::ApiError;
use super::guard::credential;
use crate::service::{Credential, Service};

pub(super) fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(service)
}

/// The process answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when every check passes, else 503; the checks either way.
async fn readyz(State(service): State<Arc<Service>>) -> Response {
    let checks = service.readiness().await;
    let ready = checks.iter().all(|check| check.ok);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({ "ready": ready, "checks": checks });
    (status, Json(body)).into_response()
}

async fn metrics(State(service): State<Arc<Service>>, headers: HeaderMap) -> Response {
    let token = match credential(&headers) {
        Ok(Some(token @ Credential::Token(_))) => token,
        Ok(_) => {
            return ApiError::unauthorized(
                "the metrics need an API token: `Authorization: Bearer <token>`",
            )
            .into_response()
        }
        Err(message) => return ApiError::unauthorized(message).into_response(),
    };
    match service.accounts().authenticate(&token).await {
        Ok(Some(who)) if who.may(Action::Read) => {}
        Ok(Some(_)) => return ApiError::forbidden("this token may not read").into_response(),
        Ok(None) => {
            return ApiError::unauthorized("unknown, expired or revoked token").into_response()
        }
        Err(err) => return ApiError::from(err).into_response(),
    }
    match service.metrics_text().await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(err) => ApiError::from(err).into_response(),
    }
}
