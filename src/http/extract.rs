//! Extractors that answer with the API's JSON errors.

use axum::extract::{FromRequest, FromRequestParts, Request};
use conveyor_core::dto::RunsQuery;

use super::error::ApiError;

#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(super) struct ApiJson<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(super) struct ApiPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(super) struct ApiQuery<T>(pub T);

/// A definition document in the request body (YAML or JSON).
pub(super) struct Document(pub String);

impl<S: Send + Sync> FromRequest<S> for Document {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Document(String::from_request(req, state).await?))
    }
}

/// A run listing's filters from the query string, read by [`RunsQuery::from_pairs`]: a bad
/// value or an unknown name is a 400 naming it.
pub(super) struct Filters(pub RunsQuery);

impl<S: Send + Sync> FromRequestParts<S> for Filters {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let ApiQuery(pairs) =
            ApiQuery::<Vec<(String, String)>>::from_request_parts(parts, state).await?;
        RunsQuery::from_pairs(
            pairs
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
        .map(Filters)
        .map_err(|problem| ApiError::bad_request(problem.message, &problem.path))
    }
}
