//! `/actions`: the action catalog (seeds 001 and 004). Anyone reads it; developers save
//! versions (never changed once saved) and delete those no pipeline uses.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use conveyor_core::access::Principal;
use conveyor_core::catalog::ActionEntry;

use super::error::{ApiResult, ErrorBody};
use super::extract::{ApiPath, Document};
use crate::service::Service;

#[utoipa::path(get, path = "/api/v1/actions", tag = "actions",
    responses((status = 200, description = "Every version of every action, by name, with the pipelines that use it", body = [ActionEntry])))]
pub(super) async fn list_actions(
    State(service): State<Arc<Service>>,
) -> ApiResult<Json<Vec<ActionEntry>>> {
    Ok(Json(service.list_actions().await?))
}

#[utoipa::path(post, path = "/api/v1/actions", tag = "actions",
    request_body(content = String, content_type = "application/yaml", description = "An action: name, version, image and/or script or command, runner, defaults, required, params"),
    responses((status = 201, description = "Saved", body = ActionEntry),
              (status = 409, description = "That version is saved already (a version never changes)", body = ErrorBody),
              (status = 422, description = "The action has problems", body = ErrorBody)))]
pub(super) async fn create_action(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    Document(source): Document,
) -> ApiResult<(StatusCode, Json<ActionEntry>)> {
    let saved = service.create_action(&source, None, &who.name).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(get, path = "/api/v1/actions/{name}", tag = "actions",
    params(("name" = String, Path, description = "Action name")),
    responses((status = 200, description = "Its versions, oldest first", body = [ActionEntry]),
              (status = 404, description = "No such action", body = ErrorBody)))]
pub(super) async fn action_versions(
    State(service): State<Arc<Service>>,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<ActionEntry>>> {
    Ok(Json(service.action_versions(&name).await?))
}

#[utoipa::path(post, path = "/api/v1/actions/{name}/versions", tag = "actions",
    params(("name" = String, Path, description = "Action name")),
    request_body(content = String, content_type = "application/yaml", description = "The new version (named like the action)"),
    responses((status = 201, description = "Saved", body = ActionEntry),
              (status = 404, description = "No such action", body = ErrorBody),
              (status = 409, description = "That version is saved already", body = ErrorBody),
              (status = 422, description = "The action has problems", body = ErrorBody)))]
pub(super) async fn create_action_version(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath(name): ApiPath<String>,
    Document(source): Document,
) -> ApiResult<(StatusCode, Json<ActionEntry>)> {
    let saved = service
        .create_action(&source, Some(&name), &who.name)
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(get, path = "/api/v1/actions/{name}/versions/{version}", tag = "actions",
    params(("name" = String, Path, description = "Action name"), ("version" = String, Path, description = "Version")),
    responses((status = 200, description = "One version", body = ActionEntry),
              (status = 404, description = "No such action or version", body = ErrorBody)))]
pub(super) async fn get_action(
    State(service): State<Arc<Service>>,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> ApiResult<Json<ActionEntry>> {
    Ok(Json(service.get_action(&name, &version).await?))
}

#[utoipa::path(delete, path = "/api/v1/actions/{name}/versions/{version}", tag = "actions",
    params(("name" = String, Path, description = "Action name"), ("version" = String, Path, description = "Version")),
    responses((status = 204, description = "Deleted"),
              (status = 404, description = "No such action or version", body = ErrorBody),
              (status = 409, description = "A pipeline's latest version uses it", body = ErrorBody)))]
pub(super) async fn delete_action(
    State(service): State<Arc<Service>>,
    Extension(who): Extension<Principal>,
    ApiPath((name, version)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    service.delete_action(&name, &version, &who.name).await?;
    Ok(StatusCode::NO_CONTENT)
}
