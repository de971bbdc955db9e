//! How the API answers what went wrong: a status and `{"error": "..."}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error as the API answers it.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no valid session, or wrong credentials.
    Unauthorized,
    /// 403: known, but not allowed.
    Forbidden(&'static str),
    /// 404: not there, or not visible to the caller.
    NotFound(&'static str),
    /// 409: clashes with what exists.
    Conflict(String),
    /// 422: the request's content is not acceptable.
    Invalid(String),
    /// 500: the app's own failure.
    Internal(String),
}

/// The JSON body of an error.
#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m.to_owned()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.to_owned()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, Json(ErrorBody { error })).into_response()
    }
}

/// A broken unique constraint is a conflict, a broken check the client's fault, anything else
/// the app's.
impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                ApiError::Conflict(d.message().to_owned())
            }
            sqlx::Error::Database(d) if d.is_check_violation() => {
                ApiError::Invalid(d.message().to_owned())
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}
