//! `/audit`: who did what (admins only).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use conveyor_core::audit::{AuditPage, AuditQuery};

use super::error::{ApiResult, ErrorBody};
use super::extract::ApiQuery;
use crate::service::Service;

#[utoipa::path(get, path = "/api/v1/audit", tag = "accounts", params(AuditQuery),
    responses((status = 200, description = "Who did what, newest first: sign-ins (and failed ones), changes to pipelines, workflows, accounts, tokens and secrets, and what was done to runs", body = AuditPage),
              (status = 400, description = "A bad filter", body = ErrorBody),
              (status = 403, description = "Admins only", body = ErrorBody)))]
pub(super) async fn audit_log(
    State(service): State<Arc<Service>>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    Ok(Json(service.audit_log(&query).await?))
}
