//! `/hooks/{forge}`: deliveries from GitHub, Gitea/Forgejo and GitLab (verified by their
//! signature or token, not by an account), and `/pipelines/{name}/deliveries`: what each
//! did for a pipeline.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use conveyor_core::dto::DeliverySummary;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use crate::service::Service;
use crate::triggers::forge::Forge;

/// What a delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryOutcome {
    /// Received before (the same delivery id): nothing new started.
    pub duplicate: bool,
    /// Verified and understood, with nothing to build: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// For each pipeline of the repository: the run it started, or why none.
    pub results: Vec<DeliverySummary>,
}

#[utoipa::path(post, path = "/api/v1/hooks/{forge}", tag = "triggers",
    params(("forge" = String, Path, description = "github, gitea (also forgejo) or gitlab")),
    request_body(content = String, description = "The forge's push, tag or pull request payload", content_type = "application/json"),
    responses((status = 200, description = "Verified and handled: the runs started, or why none", body = DeliveryOutcome),
              (status = 202, description = "Verified; an event Conveyor does not build, with the reason recorded", body = DeliveryOutcome),
              (status = 400, description = "A header the forge always sends is missing, or the payload is not what it should be", body = ErrorBody),
              (status = 401, description = "The signature or token is missing or wrong, or no pipeline builds the payload's repository: nothing started", body = ErrorBody),
              (status = 413, description = "The payload is over 1 MiB", body = ErrorBody)))]
pub(super) async fn receive(
    State(service): State<Arc<Service>>,
    ApiPath(forge): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let forge = Forge::from_path(&forge).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no forge \"{forge}\": github, gitea, forgejo or gitlab"),
        )
    })?;
    let body = body.map_err(|err| ApiError::from_rejection(err.status(), err.body_text()))?;
    let received = service.receive_delivery(forge, &headers, &body).await?;
    let status = if received.ignored.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let outcome = DeliveryOutcome {
        duplicate: received.duplicate,
        ignored: received.ignored,
        results: received.results,
    };
    Ok((status, Json(outcome)).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// At most this many (1-200, default 20).
    #[serde(default)]
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/deliveries", tag = "triggers",
    params(("name" = String, Path), DeliveriesQuery),
    responses((status = 200, description = "The pipeline's latest forge deliveries, newest first, each with the run it started or why none", body = [DeliverySummary])))]
pub(super) async fn list_deliveries(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> ApiResult<Json<Vec<DeliverySummary>>> {
    Ok(Json(
        service.deliveries(&name, query.limit.unwrap_or(20)).await?,
    ))
}
