//! `/runs` and a pipeline's runs: start, list, read, cancel, re-run, re-run the failed
//! steps, approve or refuse a step, the raw log.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use conveyor_core::access::Principal;
use conveyor_core::dto::{RunDetail, RunPage, RunSummary, RunsQuery};
use conveyor_core::run::{Start, Trigger};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, Filters};
use crate::service::Service;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    /// Image tag (Docker tag grammar).
    pub tag: String,
    /// Run-time params (below a step's own `with`, above the pipeline's `with`).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only this step's lines (without the step-name prefix).
    pub step: Option<String>,
    /// `text` (the default), or `jsonl`: one JSON object per line (`seq`, `step`, `number`,
    /// `stream`, `text`), for scripts.
    pub format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Jsonl,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

#[utoipa::path(post, path = "/api/v1/pipelines/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "Pipeline name")),
    request_body = CreateRun,
    responses((status = 201, description = "The run was started", body = RunSummary),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 409, description = "The pipeline already has a pending or running run", body = ErrorBody),
              (status = 422, description = "Bad tag or params", body = ErrorBody)))]
pub(super) async fn create_run(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<CreateRun>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    let start = Start::by(Trigger::Api, &who.name);
    let run = service
        .start_run(&name, &request.tag, request.params, start)
        .await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "Pipeline name"), RunsQuery),
    responses((status = 200, description = "A page of the pipeline's runs, newest first", body = RunPage),
              (status = 400, description = "Bad filter", body = ErrorBody),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
pub(super) async fn list_pipeline_runs(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    Filters(query): Filters,
) -> ApiResult<Json<RunPage>> {
    Ok(Json(service.list_runs(Some(&name), &query).await?))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, description = "All runs of the pipeline were deleted", body = Deleted),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 409, description = "A run is in flight", body = ErrorBody)))]
pub(super) async fn delete_runs(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Deleted>> {
    Ok(Json(Deleted {
        deleted: service.delete_runs(&name, &who.name).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunsQuery),
    responses((status = 200, description = "A page of all runs, newest first", body = RunPage),
              (status = 400, description = "Bad filter", body = ErrorBody)))]
pub(super) async fn list_runs(
    State(service): State<Arc<Service>>,
    Filters(query): Filters,
) -> ApiResult<Json<RunPage>> {
    Ok(Json(service.list_runs(None, &query).await?))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, description = "The run with its steps", body = RunDetail),
              (status = 404, description = "No such run", body = ErrorBody)))]
pub(super) async fn get_run(
    State(service): State<Arc<Service>>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<RunDetail>> {
    Ok(Json(service.get_run(id).await?))
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 202, description = "Cancelling: running steps are stopped (whole process groups)"),
              (status = 404, description = "No such run", body = ErrorBody),
              (status = 409, description = "The run has already ended", body = ErrorBody)))]
pub(super) async fn cancel_run(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    service.cancel_run(id, &who.name).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/rerun", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 201, description = "A new run of the pipeline's latest version with the same tag and params (trigger `rerun`)", body = RunSummary),
              (status = 404, description = "No such run", body = ErrorBody),
              (status = 409, description = "The pipeline has a run in flight", body = ErrorBody),
              (status = 422, description = "The run's params no longer fit the pipeline", body = ErrorBody)))]
pub(super) async fn rerun(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    Ok((
        StatusCode::CREATED,
        Json(service.rerun(id, Some(&who.name)).await?),
    ))
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/retry", tag = "runs",
    params(("id" = i64, Path, description = "Run id (a run that failed, was cancelled or refused)")),
    responses((status = 201, description = "A new run of the same version, tag and params: the steps that succeeded are taken over, the others run again in the earlier run's workspace (if it is still kept)", body = RunSummary),
              (status = 404, description = "No such run", body = ErrorBody),
              (status = 409, description = "The run is still in flight, or its pipeline has another run in flight", body = ErrorBody),
              (status = 422, description = "Nothing failed, or a workflow (re-run it whole)", body = ErrorBody)))]
pub(super) async fn retry_run(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    Ok((
        StatusCode::CREATED,
        Json(service.retry_failed(id, Some(&who.name)).await?),
    ))
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/steps/{step}/approve", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), ("step" = String, Path, description = "Step name")),
    responses((status = 202, description = "Approved: the step will run"),
              (status = 403, description = "Not one of the step's approvers, or (four eyes) the one who started the run", body = ErrorBody),
              (status = 404, description = "No such run or step", body = ErrorBody),
              (status = 409, description = "The step is not waiting for approval", body = ErrorBody)))]
pub(super) async fn approve_step(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath((id, step)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    service.decide_step(id, &step, true, &who).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/steps/{step}/refuse", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), ("step" = String, Path, description = "Step name")),
    responses((status = 202, description = "Refused: the step's dependents are skipped, the run ends refused"),
              (status = 403, description = "Not one of the step's approvers, or (four eyes) the one who started the run", body = ErrorBody),
              (status = 404, description = "No such run or step", body = ErrorBody),
              (status = 409, description = "The step is not waiting for approval", body = ErrorBody)))]
pub(super) async fn refuse_step(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath((id, step)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    service.decide_step(id, &step, false, &who).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/log", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), LogQuery),
    responses((status = 200, description = "The log as plain text (every step, each line prefixed by its step name), or as JSON Lines (`format=jsonl`)", content_type = "text/plain", body = String),
              (status = 404, description = "No such run or step", body = ErrorBody)))]
pub(super) async fn run_log(
    State(service): State<Arc<Service>>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> ApiResult<Response> {
    let json = query.format == Some(LogFormat::Jsonl);
    let text = service.raw_log(id, query.step.as_deref(), json).await?;
    let body = Body::from_stream(text.map(|chunk| chunk.map(Bytes::from)));
    let kind = if json {
        "application/jsonl; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    Ok(([(header::CONTENT_TYPE, kind)], body).into_response())
}
