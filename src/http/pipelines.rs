//! `/pipelines`: definitions, their versions and diffs; `/validate`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use conveyor_core::access::Principal;
use conveyor_core::dto::{
    PipelineDetail, PipelineSummary, PipelineVersion, Validation, VersionComparison,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiPath, ApiQuery, Document};
use crate::service::Service;

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines",
    responses((status = 200, description = "All pipelines, by name, with their latest run", body = [PipelineSummary])))]
pub(super) async fn list_pipelines(
    State(service): State<Arc<Service>>,
) -> ApiResult<Json<Vec<PipelineSummary>>> {
    Ok(Json(service.list_pipelines().await?))
}

#[utoipa::path(post, path = "/api/v1/pipelines", tag = "pipelines",
    request_body(content = String, content_type = "application/yaml", description = "A pipeline in YAML or JSON, a KubeCI Workflow or a taskflow Task"),
    responses(
        (status = 201, description = "Created (version 1)", body = PipelineDetail),
        (status = 409, description = "A pipeline with that name exists", body = ErrorBody),
        (status = 422, description = "The definition has problems", body = ErrorBody)))]
pub(super) async fn create_pipeline(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    Document(source): Document,
) -> ApiResult<(StatusCode, Json<PipelineDetail>)> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_pipeline(&source, &who.name).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, description = "The latest version, its plan and latest run", body = PipelineDetail),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
pub(super) async fn get_pipeline(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<PipelineDetail>> {
    Ok(Json(service.get_pipeline(&name).await?))
}

#[utoipa::path(put, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name")),
    request_body(content = String, content_type = "application/yaml", description = "The new definition; its name must stay the same"),
    responses((status = 200, description = "Saved as a new version", body = PipelineDetail),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 422, description = "The definition has problems", body = ErrorBody)))]
pub(super) async fn update_pipeline(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    Document(source): Document,
) -> ApiResult<Json<PipelineDetail>> {
    Ok(Json(
        service.update_pipeline(&name, &source, &who.name).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 204, description = "Deleted with its versions and runs"),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 409, description = "A run is in flight", body = ErrorBody)))]
pub(super) async fn delete_pipeline(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service.delete_pipeline(&name, &who.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/versions", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, description = "Every saved version, newest first", body = [PipelineVersion]),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
pub(super) async fn list_versions(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<PipelineVersion>>> {
    Ok(Json(service.versions(&name).await?))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/versions/{version}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name"), ("version" = i64, Path, description = "Version number")),
    responses((status = 200, description = "One saved version", body = PipelineVersion),
              (status = 404, description = "No such pipeline or version", body = ErrorBody)))]
pub(super) async fn get_version(
    State(service): State<Arc<Service>>,
    ApiPath((name, version)): ApiPath<(String, i64)>,
) -> ApiResult<Json<PipelineVersion>> {
    Ok(Json(service.version(&name, version).await?))
}

#[utoipa::path(post, path = "/api/v1/validate", tag = "pipelines",
    request_body(content = String, content_type = "application/yaml", description = "A definition to check"),
    responses((status = 200, description = "Problems found (none when valid) and the plan", body = Validation)))]
pub(super) async fn validate(
    State(service): State<Arc<Service>>,
    Document(source): Document,
) -> Json<Validation> {
    Json(service.validate(&source))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version (default: the one before `to`).
    pub from: Option<i64>,
    /// The newer version (default: the latest).
    pub to: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/diff", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name"), DiffQuery),
    responses((status = 200, description = "Two saved versions and their line diff", body = VersionComparison),
              (status = 404, description = "No such pipeline or version", body = ErrorBody)))]
pub(super) async fn compare_versions(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<DiffQuery>,
) -> ApiResult<Json<VersionComparison>> {
    Ok(Json(
        service
            .compare_versions(&name, query.from, query.to)
            .await?,
    ))
}
