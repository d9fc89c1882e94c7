//! `/secrets` and `/pipelines/{name}/secrets`: names and update times only, ever. Setting
//! and removing them is an admin's.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use conveyor_core::access::Principal;
use conveyor_core::secrets::SecretSummary;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service::Service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSecret {
    /// The value: 4 characters to 64 KiB. It is never shown again.
    pub value: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SecretsQuery {
    /// Only this pipeline's own secrets.
    #[serde(default)]
    pub pipeline: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/secrets", tag = "secrets", params(SecretsQuery),
    responses((status = 200, description = "Secrets by scope and name (global ones have no pipeline); never their values", body = [SecretSummary])))]
pub(super) async fn list_secrets(
    State(service): State<Arc<Service>>,
    ApiQuery(query): ApiQuery<SecretsQuery>,
) -> ApiResult<Json<Vec<SecretSummary>>> {
    Ok(Json(
        service.secrets().list(query.pipeline.as_deref()).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/secrets/{name}", tag = "secrets", request_body = SetSecret,
    params(("name" = String, Path, description = "Secret name, e.g. DEPLOY_TOKEN")),
    responses((status = 200, description = "Set (created or replaced) for every pipeline", body = SecretSummary),
              (status = 413, description = "Over 64 KiB", body = ErrorBody),
              (status = 422, description = "A bad name or a value too short to mask", body = ErrorBody)))]
pub(super) async fn set_global_secret(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<SetSecret>,
) -> ApiResult<Json<SecretSummary>> {
    Ok(Json(
        service
            .secrets()
            .set(None, &name, &request.value, Some(&who.name))
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/secrets/{name}", tag = "secrets",
    params(("name" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such secret", body = ErrorBody)))]
pub(super) async fn delete_global_secret(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service
        .secrets()
        .delete(None, &name, Some(&who.name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/secrets", tag = "secrets",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, description = "The pipeline's own secrets; never their values", body = [SecretSummary]),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
pub(super) async fn list_pipeline_secrets(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<SecretSummary>>> {
    Ok(Json(service.secrets().list(Some(&name)).await?))
}

#[utoipa::path(put, path = "/api/v1/pipelines/{name}/secrets/{secret}", tag = "secrets", request_body = SetSecret,
    params(("name" = String, Path, description = "Pipeline name"), ("secret" = String, Path, description = "Secret name")),
    responses((status = 200, description = "Set for this pipeline (over a global one of the same name)", body = SecretSummary),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 413, description = "Over 64 KiB", body = ErrorBody),
              (status = 422, description = "A bad name or a value too short to mask", body = ErrorBody)))]
pub(super) async fn set_pipeline_secret(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath((pipeline, name)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<SetSecret>,
) -> ApiResult<Json<SecretSummary>> {
    let set = service
        .secrets()
        .set(Some(&pipeline), &name, &request.value, Some(&who.name));
    Ok(Json(set.await?))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{name}/secrets/{secret}", tag = "secrets",
    params(("name" = String, Path, description = "Pipeline name"), ("secret" = String, Path, description = "Secret name")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such pipeline or secret", body = ErrorBody)))]
pub(super) async fn delete_pipeline_secret(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath((pipeline, name)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    service
        .secrets()
        .delete(Some(&pipeline), &name, Some(&who.name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
