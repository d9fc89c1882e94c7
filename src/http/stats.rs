//! `/stats`: the dashboard's panel over a window of days.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use conveyor_core::stats::{parse_window, Stats};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiQuery;
use crate::service::Service;

/// Which window, of which pipeline.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsQuery {
    /// The window in days: 7 (default), 30 or 90; the last day is today (UTC).
    days: Option<String>,
    /// One pipeline's runs; all pipelines' when absent.
    pipeline: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "runs", params(StatsQuery),
    responses((status = 200, description = "Runs per day, success rate, p50/p95 run duration, the slowest and most often failing steps over the window", body = Stats),
              (status = 400, description = "A window other than 7, 30 or 90 days, or an unknown parameter", body = ErrorBody),
              (status = 404, description = "No such pipeline", body = ErrorBody)))]
pub(super) async fn stats(
    State(service): State<Arc<Service>>,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> ApiResult<Json<Stats>> {
    let days =
        parse_window(query.days.as_deref()).map_err(|err| ApiError::bad_request(err, "days"))?;
    let pipeline = query.pipeline.as_deref().filter(|p| !p.is_empty());
    Ok(Json(service.stats(pipeline, days).await?))
}
