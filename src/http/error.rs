//! Every API error as JSON: a stable code, a message for people and, for definitions, the
//! places; mapped from the service's errors in one place.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection, StringRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use conveyor_core::check::problems_text;
use conveyor_core::definition::Problem;
use serde::Serialize;
use utoipa::ToSchema;

use crate::service::ServiceError;

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
    /// Seconds to wait before trying again (`Retry-After`), for 429.
    retry_after: Option<u64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                message: message.into(),
                path: None,
                problems: Vec::new(),
            },
            retry_after: None,
        }
    }

    pub(super) fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(super) fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(super) fn bad_request(message: impl Into<String>, path: &str) -> Self {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message);
        err.body.path = Some(path.into());
        err
    }

    pub(super) fn from_rejection(status: StatusCode, text: String) -> Self {
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
            ServiceError::Unauthorized(message) => ApiError::unauthorized(message),
            ServiceError::Forbidden(message) => ApiError::forbidden(message),
            ServiceError::TooLarge(message) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
            }
            ServiceError::BadRequest(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
            }
            throttled @ ServiceError::Throttled(seconds) => {
                let mut api = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    throttled.to_string(),
                );
                api.retry_after = Some(seconds);
                api
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
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
