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

/// A definition document in the request body, YAML or JSON, and said to be one: any other
/// content type (a form, `text/plain`: what another site's page can send without asking)
/// is a 415.
pub(super) struct Document(pub String);

/// The content types a definition may come as (parameters such as `charset` aside).
pub const DOCUMENT_TYPES: [&str; 4] = [
    "application/yaml",
    "application/x-yaml",
    "text/yaml",
    "application/json",
];

impl<S: Send + Sync> FromRequest<S> for Document {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let given = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        if !given
            .as_deref()
            .is_some_and(|t| DOCUMENT_TYPES.contains(&t))
        {
            let said = given.map_or_else(
                || "no content type".to_owned(),
                |t| format!("content type {t}"),
            );
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "a definition comes as {}; this request has {said}",
                    DOCUMENT_TYPES.join(", ")
                ),
            ));
        }
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
