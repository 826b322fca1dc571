//! The one place errors become HTTP responses.
//!
//! Every error body has the same shape, so a client needs one parser:
//! `{"error": {"type": "not_found", "message": "contact 12 not found"}}`, plus fields that
//! help fix the request (`field`, `line`, `column`) when there are any.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use vestnik_domain::{StoreError, ValidationError};

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable kind: `unauthorized`, `forbidden`, `not_found`, `invalid_json`,
    /// `validation_failed`, `conflict`, `payload_too_large`, `timeout`, `unavailable`, `internal`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What went wrong and what to do about it, for a person.
    pub message: String,
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where a JSON body stopped parsing (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: ErrorDetail,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: ErrorDetail {
                kind,
                message: message.into(),
                field: None,
                line: None,
                column: None,
            },
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid(e: ValidationError) -> Self {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            e.to_string(),
        );
        err.detail.field = Some(e.field);
        err
    }

    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }

    /// The body for a status produced outside our handlers (a layer's timeout, a panic, axum's
    /// own rejections), so that no client ever sees an HTML or empty error.
    pub fn for_status(status: StatusCode) -> Self {
        let (kind, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such endpoint; see /docs for the API"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this endpoint does not accept this HTTP method; see /docs",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "payload_too_large",
                "request body too large; split it into smaller requests",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "timeout",
                "the request took too long and was stopped; retry, or send less at once",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ),
            StatusCode::UNAUTHORIZED => ("unauthorized", "authentication required"),
            StatusCode::FORBIDDEN => ("forbidden", "not allowed"),
            StatusCode::SERVICE_UNAVAILABLE => {
                ("unavailable", "temporarily unavailable; retry shortly")
            }
            s if s.is_server_error() => {
                ("internal", "internal error; the server log has the details")
            }
            _ => ("bad_request", "the request could not be processed"),
        };
        ApiError::new(status, kind, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.detail })).into_response()
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::invalid(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            StoreError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            StoreError::Invalid(v) => ApiError::invalid(v),
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is unavailable; retry shortly",
                )
            }
            StoreError::Internal(msg) => {
                tracing::error!(error = %msg, "database error");
                ApiError::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
