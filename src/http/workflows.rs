//! `/workflows`: build → push → deploy workflows (seed 000).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use conveyor_core::access::Principal;
use conveyor_core::dto::{RunSummary, WorkflowDetail, WorkflowSummary};
use conveyor_core::run::{Start, Trigger};
use conveyor_core::workflow::ReleasePage;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Document};
use super::runs::CreateRun;
use crate::service::Service;

#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, description = "All workflows, by name, with their latest run", body = [WorkflowSummary])))]
pub(super) async fn list_workflows(
    State(service): State<Arc<Service>>,
) -> ApiResult<Json<Vec<WorkflowSummary>>> {
    Ok(Json(service.list_workflows().await?))
}

#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows",
    request_body(content = String, content_type = "application/yaml", description = "A workflow (seed 000) in YAML or JSON"),
    responses(
        (status = 201, description = "Created; its secrets, service account and role binding are on the cluster", body = WorkflowDetail),
        (status = 409, description = "A workflow or pipeline with that name, or a Deployment of that name, exists", body = ErrorBody),
        (status = 422, description = "The document has problems", body = ErrorBody),
        (status = 502, description = "The cluster refused; nothing was saved", body = ErrorBody)))]
pub(super) async fn create_workflow(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    Document(source): Document,
) -> ApiResult<(StatusCode, Json<WorkflowDetail>)> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_workflow(&source, &who.name).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses((status = 200, description = "The workflow (passwords shown as \"********\"), its status and sub-tasks", body = WorkflowDetail),
              (status = 404, description = "No such workflow", body = ErrorBody)))]
pub(super) async fn get_workflow(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<WorkflowDetail>> {
    Ok(Json(service.get_workflow(&name).await?))
}

#[utoipa::path(put, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    request_body(content = String, content_type = "application/yaml", description = "The new document; \"********\" keeps a stored password"),
    responses((status = 200, description = "Saved as a new version; secrets rotated on the cluster", body = WorkflowDetail),
              (status = 404, description = "No such workflow", body = ErrorBody),
              (status = 422, description = "The document has problems", body = ErrorBody),
              (status = 502, description = "The cluster refused; nothing was saved", body = ErrorBody)))]
pub(super) async fn update_workflow(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    Document(source): Document,
) -> ApiResult<Json<WorkflowDetail>> {
    Ok(Json(
        service.update_workflow(&name, &source, &who.name).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses((status = 204, description = "Deleted with its runs, secrets, service account and role binding"),
              (status = 404, description = "No such workflow", body = ErrorBody),
              (status = 409, description = "A run is in flight", body = ErrorBody),
              (status = 502, description = "The cluster refused; nothing was deleted", body = ErrorBody)))]
pub(super) async fn delete_workflow(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service.delete_workflow(&name, &who.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workflows/{name}/runs", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    request_body = CreateRun,
    responses((status = 201, description = "The run was started: build, push, and (autoDeploy) deploy", body = RunSummary),
              (status = 404, description = "No such workflow", body = ErrorBody),
              (status = 409, description = "The workflow already has a pending or running run", body = ErrorBody),
              (status = 422, description = "Bad tag or params, or no engine for it", body = ErrorBody)))]
pub(super) async fn create_workflow_run(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<CreateRun>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    let start = Start::by(Trigger::Api, &who.name);
    let run = service
        .start_workflow_run(&name, &request.tag, request.params, start)
        .await?;
    Ok((StatusCode::CREATED, Json(run)))
}

/// Which releases to list.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleasesQuery {
    /// Releases older than this release id (the previous page's `next_before`).
    before: Option<i64>,
    /// At most this many (1–200, default 50).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/workflows/{name}/releases", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name"), ReleasesQuery),
    responses((status = 200, description = "Its deploys, newest first: tag, image by digest, run, who, when, the rollout's outcome; `live` marks what runs now", body = ReleasePage),
              (status = 400, description = "A query parameter in the wrong form", body = ErrorBody),
              (status = 404, description = "No such workflow", body = ErrorBody)))]
pub(super) async fn list_releases(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<ReleasesQuery>,
) -> ApiResult<Json<ReleasePage>> {
    Ok(Json(
        service
            .list_releases(&name, query.before, query.limit)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/workflows/{name}/releases/{id}/rollback", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name"), ("id" = i64, Path, description = "Release id")),
    responses((status = 201, description = "A run deploying that release's image by digest (no build), trigger `rollback`", body = RunSummary),
              (status = 404, description = "No such workflow or release", body = ErrorBody),
              (status = 409, description = "The workflow has a run in flight", body = ErrorBody),
              (status = 422, description = "The release never rolled out, or has no digest", body = ErrorBody)))]
pub(super) async fn roll_back(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath((name, id)): ApiPath<(String, i64)>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    let run = service.roll_back(&name, id, Some(&who.name)).await?;
    Ok((StatusCode::CREATED, Json(run)))
}
