//! A JSON body extractor whose errors say where the JSON broke (`line`, `column`) and which
//! field was wrong, in our error shape, instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            });
        if declared_json == Some(false) {
            return Err(ApiError::for_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::for_status(status)
            } else {
                ApiError::new(status, "bad_request", rejection.body_text())
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the request body is empty; send a JSON document",
        ));
    }
    // The happy path parses once, untracked; only a failed parse pays for path tracking,
    // to name the field. Path tracking doubled the parse cost of event batches.
    let untracked_error = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let tracked: Result<T, _> = serde_path_to_error::deserialize(de);
    tracked.map(|_| ()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (status, kind) = if inner.is_data() {
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        } else {
            (StatusCode::BAD_REQUEST, "invalid_json")
        };
        let mut err = ApiError::new(status, kind, format!("invalid JSON body: {inner}"));
        if inner.is_data() && path != "." {
            err.detail.message = format!("invalid value at `{path}`: {inner}");
            err.detail.field = Some(path);
        }
        err.detail.line = Some(inner.line());
        err.detail.column = Some(inner.column());
        err
    })?;
    // The tracked parse reads one value and ignores what follows; the untracked one failed
    // on that rest (trailing characters).
    let mut err = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        format!("invalid JSON body: {untracked_error}"),
    );
    err.detail.line = Some(untracked_error.line());
    err.detail.column = Some(untracked_error.column());
    Err(err)
}
