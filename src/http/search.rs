//! `/search`: lines of every run's log that contain a text, newest run first.

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::Json;
use conveyor_core::search::{SearchPage, SearchQuery};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::ApiQuery;
use crate::service::Service;

/// A search from the query string: a filter in the wrong form, given twice or unknown is a
/// 400 naming it.
pub(super) struct Search(SearchQuery);

impl<S: Send + Sync> FromRequestParts<S> for Search {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ApiQuery(pairs) =
            ApiQuery::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        let query = SearchQuery::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .map_err(|problem| ApiError::bad_request(problem.message, &problem.path))?;
        if let Some(problem) = query.filter_problems().into_iter().next() {
            return Err(ApiError::bad_request(problem.message, &problem.path));
        }
        Ok(Search(query))
    }
}

#[utoipa::path(get, path = "/api/v1/search", tag = "runs",
    params(
        ("q" = String, Query, description = "Text to find in a line: 3 to 1024 bytes; ASCII letters match in either case"),
        ("pipeline" = Option<String>, Query, description = "Only runs of this pipeline"),
        ("run" = Option<i64>, Query, description = "Only this run (its results in reading order)"),
        ("status" = Option<String>, Query, description = "Only runs in this status"),
        ("tag" = Option<String>, Query, description = "Only runs of this image tag"),
        ("branch" = Option<String>, Query, description = "Only runs of code from this branch"),
        ("trigger" = Option<String>, Query, description = "Only runs started this way"),
        ("since" = Option<String>, Query, description = "Only runs created on or after this UTC day (YYYY-MM-DD)"),
        ("until" = Option<String>, Query, description = "Only runs created on or before this UTC day (YYYY-MM-DD)"),
        ("cursor" = Option<String>, Query, description = "Go on after the previous page (its `next`)"),
        ("limit" = Option<u32>, Query, description = "Results per page, 1–1000 (default 50)"),
    ),
    responses((status = 200, description = "Matching lines, newest run first; within a run step by step in line order", body = SearchPage),
              (status = 400, description = "A filter in the wrong form, named", body = ErrorBody),
              (status = 404, description = "No such pipeline or run", body = ErrorBody),
              (status = 409, description = "The server keeps no search index and the search is not of one run", body = ErrorBody),
              (status = 422, description = "The query is empty, shorter than 3 bytes, longer than 1024 or spans lines", body = ErrorBody)))]
pub(super) async fn search(
    State(service): State<Arc<Service>>,
    Search(query): Search,
) -> ApiResult<Json<SearchPage>> {
    Ok(Json(service.search(&query).await?))
}
