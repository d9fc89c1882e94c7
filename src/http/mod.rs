//! REST `/api/v1`: each handler extracts input, calls one service method and maps the
//! error. The OpenAPI document is generated from these handlers' annotations.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use app::definition::Problem;
use app::model::{
    parse_filter, PipelineDetail, PipelineSummary, PipelineVersion, RunDetail, RunEvent, RunPage,
    RunSummary, RunsQuery, Trigger, Validation, WorkflowDetail, WorkflowSummary,
};
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection, StringRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::service::{problems_text, Service, ServiceError};

/// Largest request body accepted by the API.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/pipelines", get(list_pipelines).post(create_pipeline))
        .route(
            "/pipelines/{name}",
            get(get_pipeline)
                .put(update_pipeline)
                .delete(delete_pipeline),
        )
        .route("/pipelines/{name}/versions", get(list_versions))
        .route("/pipelines/{name}/versions/{version}", get(get_version))
        .route(
            "/pipelines/{name}/runs",
            get(list_pipeline_runs).post(create_run).delete(delete_runs),
        )
        .route("/workflows", get(list_workflows).post(create_workflow))
        .route(
            "/workflows/{name}",
            get(get_workflow)
                .put(update_workflow)
                .delete(delete_workflow),
        )
        .route(
            "/workflows/{name}/runs",
            get(list_pipeline_runs)
                .post(create_workflow_run)
                .delete(delete_runs),
        )
        .route("/validate", post(validate))
        .route("/runs", get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/cancel", post(cancel_run))
        .route("/runs/{id}/retry", post(retry_run))
        .route("/runs/{id}/steps/{step}/approve", post(approve_step))
        .route("/runs/{id}/steps/{step}/refuse", post(refuse_step))
        .route("/runs/{id}/log", get(run_log))
        .route("/runs/{id}/events", get(run_events))
        .route("/changes", get(run_changes))
        .route("/openapi.json", get(openapi))
        .fallback(unknown_route)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(service)
}

// ---- errors ----

/// Every API error: a stable code, a message for people and, for definitions, the places.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `bad_request`, `not_found`, `conflict`, `invalid`, `payload_too_large`, `internal`…
    pub error: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                message: message.into(),
                path: None,
                problems: Vec::new(),
            },
        }
    }

    fn bad_request(message: impl Into<String>, path: &str) -> Self {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
        err.body.path = Some(path.into());
        err
    }

    fn from_rejection(status: StatusCode, text: String) -> Self {
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid",
            _ => "bad_request",
        };
        ApiError::new(status, code, text)
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::NotFound(message) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            ServiceError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            ServiceError::Invalid(problems) => {
                let message = problems_text(&problems);
                let mut api = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
                api.body.path = problems
                    .first()
                    .map(|p| p.path.clone())
                    .filter(|p| !p.is_empty());
                api.body.problems = problems;
                api
            }
            ServiceError::Cluster(message) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "cluster", message)
            }
            internal @ (ServiceError::Store(_) | ServiceError::Engine(_)) => {
                tracing::error!(error = ?internal, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the server log has details",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::from_rejection(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::from_rejection(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::from_rejection(rejection.status(), rejection.body_text())
    }
}

impl From<StringRejection> for ApiError {
    fn from(rejection: StringRejection) -> Self {
        ApiError::from_rejection(rejection.status(), rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

// ---- extractors that answer with JSON errors ----

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct ApiJson<T>(T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
struct ApiPath<T>(T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
struct ApiQuery<T>(T);

/// A definition document in the request body (YAML or JSON).
struct Document(String);

impl<S: Send + Sync> FromRequest<S> for Document {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Document(String::from_request(req, state).await?))
    }
}

// ---- request types ----

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
pub struct RunQuery {
    /// Only runs in this status.
    pub status: Option<String>,
    /// Only runs of this image tag.
    pub tag: Option<String>,
    /// Only runs created on or after this UTC day (`YYYY-MM-DD`).
    pub since: Option<String>,
    /// Only runs created on or before this UTC day (`YYYY-MM-DD`).
    pub until: Option<String>,
    /// How the runs started: `ui`, `api` or `rerun`.
    pub trigger: Option<String>,
    /// Keyset cursor: only runs with a smaller id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Page size, 1–500 (default 25).
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Only this step's lines (without the step-name prefix).
    pub step: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Resume after this sequence number (the `Last-Event-ID` header wins when both are given).
    pub after: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub deleted: u64,
}

impl RunQuery {
    fn to_runs_query(&self, pipeline: Option<String>) -> ApiResult<RunsQuery> {
        Ok(RunsQuery {
            pipeline,
            status: parse_filter(self.status.as_deref())
                .map_err(|message| ApiError::bad_request(message, "status"))?,
            tag: self.tag.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            trigger: parse_filter(self.trigger.as_deref())
                .map_err(|message| ApiError::bad_request(message, "trigger"))?,
            before: self.before,
            limit: self.limit.unwrap_or(25),
        })
    }
}

// ---- handlers ----

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines",
    responses((status = 200, description = "All pipelines, by name, with their latest run", body = [PipelineSummary])))]
async fn list_pipelines(
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
async fn create_pipeline(
    State(service): State<Arc<Service>>,
    Document(source): Document,
) -> ApiResult<(StatusCode, Json<PipelineDetail>)> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_pipeline(&source).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, description = "The latest version, its plan and latest run", body = PipelineDetail),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
async fn get_pipeline(
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
async fn update_pipeline(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    Document(source): Document,
) -> ApiResult<Json<PipelineDetail>> {
    Ok(Json(service.update_pipeline(&name, &source).await?))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 204, description = "Deleted with its versions and runs"),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 409, description = "A run is in flight", body = ErrorBody)))]
async fn delete_pipeline(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service.delete_pipeline(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/versions", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, description = "Every saved version, newest first", body = [PipelineVersion]),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
async fn list_versions(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<PipelineVersion>>> {
    Ok(Json(service.versions(&name).await?))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/versions/{version}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name"), ("version" = i64, Path, description = "Version number")),
    responses((status = 200, description = "One saved version", body = PipelineVersion),
              (status = 404, description = "No such pipeline or version", body = ErrorBody)))]
async fn get_version(
    State(service): State<Arc<Service>>,
    ApiPath((name, version)): ApiPath<(String, i64)>,
) -> ApiResult<Json<PipelineVersion>> {
    Ok(Json(service.version(&name, version).await?))
}

#[utoipa::path(post, path = "/api/v1/validate", tag = "pipelines",
    request_body(content = String, content_type = "application/yaml", description = "A definition to check"),
    responses((status = 200, description = "Problems found (none when valid) and the plan", body = Validation)))]
async fn validate(
    State(service): State<Arc<Service>>,
    Document(source): Document,
) -> Json<Validation> {
    Json(service.validate(&source))
}

#[utoipa::path(post, path = "/api/v1/pipelines/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "Pipeline name")),
    request_body = CreateRun,
    responses((status = 201, description = "The run was started", body = RunSummary),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 409, description = "The pipeline already has a pending or running run", body = ErrorBody),
              (status = 422, description = "Bad tag or params", body = ErrorBody)))]
async fn create_run(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<CreateRun>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    let run = service
        .start_run(&name, &request.tag, request.params, Trigger::Api)
        .await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[utoipa::path(get, path = "/api/v1/pipelines/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "Pipeline name"), RunQuery),
    responses((status = 200, description = "A page of the pipeline's runs, newest first", body = RunPage),
              (status = 400, description = "Bad filter", body = ErrorBody),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
async fn list_pipeline_runs(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<RunQuery>,
) -> ApiResult<Json<RunPage>> {
    Ok(Json(
        service.list_runs(&query.to_runs_query(Some(name))?).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/pipelines/{name}/runs", tag = "runs",
    params(("name" = String, Path, description = "Pipeline name")),
    responses((status = 200, description = "All runs of the pipeline were deleted", body = Deleted),
              (status = 404, description = "No such pipeline", body = ErrorBody),
              (status = 409, description = "A run is in flight", body = ErrorBody)))]
async fn delete_runs(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Deleted>> {
    Ok(Json(Deleted {
        deleted: service.delete_runs(&name).await?,
    }))
}

#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows",
    responses((status = 200, description = "All workflows, by name, with their latest run", body = [WorkflowSummary])))]
async fn list_workflows(
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
async fn create_workflow(
    State(service): State<Arc<Service>>,
    Document(source): Document,
) -> ApiResult<(StatusCode, Json<WorkflowDetail>)> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_workflow(&source).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses((status = 200, description = "The workflow (passwords shown as \"********\"), its status and sub-tasks", body = WorkflowDetail),
              (status = 404, description = "No such workflow", body = ErrorBody)))]
async fn get_workflow(
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
async fn update_workflow(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    Document(source): Document,
) -> ApiResult<Json<WorkflowDetail>> {
    Ok(Json(service.update_workflow(&name, &source).await?))
}

#[utoipa::path(delete, path = "/api/v1/workflows/{name}", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    responses((status = 204, description = "Deleted with its runs, secrets, service account and role binding"),
              (status = 404, description = "No such workflow", body = ErrorBody),
              (status = 409, description = "A run is in flight", body = ErrorBody),
              (status = 502, description = "The cluster refused; nothing was deleted", body = ErrorBody)))]
async fn delete_workflow(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    service.delete_workflow(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/workflows/{name}/runs", tag = "workflows",
    params(("name" = String, Path, description = "Workflow name")),
    request_body = CreateRun,
    responses((status = 201, description = "The run was started: build, push, and (autoDeploy) deploy", body = RunSummary),
              (status = 404, description = "No such workflow", body = ErrorBody),
              (status = 409, description = "The workflow already has a pending or running run", body = ErrorBody),
              (status = 422, description = "Bad tag or params, or no engine for it", body = ErrorBody)))]
async fn create_workflow_run(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<CreateRun>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    let run = service
        .start_workflow_run(&name, &request.tag, request.params, Trigger::Api)
        .await?;
    Ok((StatusCode::CREATED, Json(run)))
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunQuery),
    responses((status = 200, description = "A page of all runs, newest first", body = RunPage),
              (status = 400, description = "Bad filter", body = ErrorBody)))]
async fn list_runs(
    State(service): State<Arc<Service>>,
    ApiQuery(query): ApiQuery<RunQuery>,
) -> ApiResult<Json<RunPage>> {
    Ok(Json(service.list_runs(&query.to_runs_query(None)?).await?))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = i64, Path, description = "Run id")),
    responses((status = 200, description = "The run with its steps", body = RunDetail),
              (status = 404, description = "No such run", body = ErrorBody)))]
async fn get_run(
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
async fn cancel_run(
    State(service): State<Arc<Service>>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    service.cancel_run(id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/retry", tag = "runs",
    params(("id" = i64, Path, description = "Run id (a run that failed, was cancelled or refused)")),
    responses((status = 201, description = "A new run of the same version, tag and params: the steps that succeeded are taken over, the others run again in the earlier run's workspace (if it is still kept)", body = RunSummary),
              (status = 404, description = "No such run", body = ErrorBody),
              (status = 409, description = "The run is still in flight, or its pipeline has another run in flight", body = ErrorBody),
              (status = 422, description = "Nothing failed, or a workflow (re-run it whole)", body = ErrorBody)))]
async fn retry_run(
    State(service): State<Arc<Service>>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<(StatusCode, Json<RunSummary>)> {
    Ok((StatusCode::CREATED, Json(service.retry_failed(id).await?)))
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/steps/{step}/approve", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), ("step" = String, Path, description = "Step name")),
    responses((status = 202, description = "Approved: the step will run"),
              (status = 404, description = "No such run or step", body = ErrorBody),
              (status = 409, description = "The step is not waiting for approval", body = ErrorBody)))]
async fn approve_step(
    State(service): State<Arc<Service>>,
    ApiPath((id, step)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    service.decide_step(id, &step, true).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/steps/{step}/refuse", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), ("step" = String, Path, description = "Step name")),
    responses((status = 202, description = "Refused: the step's dependents are skipped, the run ends refused"),
              (status = 404, description = "No such run or step", body = ErrorBody),
              (status = 409, description = "The step is not waiting for approval", body = ErrorBody)))]
async fn refuse_step(
    State(service): State<Arc<Service>>,
    ApiPath((id, step)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    service.decide_step(id, &step, false).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/log", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), LogQuery),
    responses((status = 200, description = "The log as plain text (every step, each line prefixed by its step name)", content_type = "text/plain", body = String),
              (status = 404, description = "No such run or step", body = ErrorBody)))]
async fn run_log(
    State(service): State<Arc<Service>>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<LogQuery>,
) -> ApiResult<Response> {
    let text = service.raw_log(id, query.step.as_deref()).await?;
    let body = Body::from_stream(text.map(|chunk| chunk.map(Bytes::from)));
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs",
    params(("id" = i64, Path, description = "Run id"), EventsQuery,
           ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    responses((status = 200, description = "Server-sent events: `log`, `step`, `run`, and a final `end` with the run's outcome; `id:` is the event's `seq`. Each `data:` is a RunEvent.", content_type = "text/event-stream", body = RunEvent),
              (status = 400, description = "Bad Last-Event-ID", body = ErrorBody),
              (status = 404, description = "No such run", body = ErrorBody)))]
async fn run_events(
    State(service): State<Arc<Service>>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    "Last-Event-ID must be an event sequence number",
                    "Last-Event-ID",
                )
            })?,
        None => query.after.unwrap_or(0),
    };
    let events = service.follow(id, after).await?;
    let events = events.map(|event: RunEvent| {
        Ok(Event::default()
            .id(event.seq.to_string())
            .event(event.sse_name())
            .data(serde_json::to_string(&event).unwrap_or_default()))
    });
    Ok(Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    ))
}

#[utoipa::path(get, path = "/api/v1/changes", tag = "runs",
    responses((status = 200, description = "Server-sent events: `ready` once subscribed (nothing after it is missed), then `run` (a RunSummary) whenever a run is created or changes status, and `resync` when the feed fell behind and the reader should reload", content_type = "text/event-stream")))]
async fn run_changes(
    State(service): State<Arc<Service>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ready = futures::stream::once(async { Ok(Event::default().event("ready").data("ready")) });
    let changes = service.watch_runs().map(|change| {
        Ok(match change {
            Some(run) => Event::default()
                .event("run")
                .data(serde_json::to_string(&run).unwrap_or_default()),
            None => Event::default().event("resync").data("resync"),
        })
    });
    Sse::new(ready.chain(changes)).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    )
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn unknown_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API route; see /api/v1/openapi.json",
    )
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Conveyor API", version = "1", description = "Pipelines, runs, live events and logs."),
    paths(
        list_pipelines, create_pipeline, get_pipeline, update_pipeline, delete_pipeline, list_versions, get_version,
        validate, create_run, list_pipeline_runs, delete_runs, list_runs, get_run, cancel_run, retry_run, approve_step,
        refuse_step, run_log, run_events, run_changes, list_workflows, create_workflow, get_workflow, update_workflow,
        delete_workflow, create_workflow_run
    ),
    tags((name = "pipelines", description = "Definitions and their versions"),
         (name = "workflows", description = "Build → push → deploy workflows (seed 000)"),
         (name = "runs", description = "Runs, approvals, logs and live events"))
)]
pub struct ApiDoc;
