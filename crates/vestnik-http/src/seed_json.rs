//! Responses in the exact shape of the seed's Python services, for endpoints that existing
//! shop integrations already call: Python's `json.dumps` spacing (`{"a": 1, "b": [1, 2]}`),
//! FastAPI's `{"detail": …}` errors, and pydantic's validation details
//! (`{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}`).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use std::io;

use crate::error::ApiError;

/// Python's default separators: `", "` between items and `": "` after keys.
struct PythonSpacing;

impl serde_json::ser::Formatter for PythonSpacing {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
}

/// A JSON body spaced as Python prints it.
pub struct SeedJson<T>(pub StatusCode, pub T);

pub fn to_python_string<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonSpacing);
    value.serialize(&mut ser)?;
    // serde_json writes valid UTF-8.
    Ok(String::from_utf8_lossy(&out).into_owned())
}

impl<T: Serialize> IntoResponse for SeedJson<T> {
    fn into_response(self) -> Response {
        match to_python_string(&self.1) {
            Ok(body) => {
                (self.0, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            Err(_) => internal_error(),
        }
    }
}

/// FastAPI's error body: `{"detail": "<message>"}`.
pub fn detail(status: StatusCode, message: &str) -> Response {
    SeedJson(status, json!({ "detail": message })).into_response()
}

/// The seed's answer to an internal failure.
pub fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [(header::CONTENT_TYPE, "application/json")],
        "{\"detail\": \"Internal error\"}",
    )
        .into_response()
}

/// Our `ApiError` (e.g. from authentication) re-shaped as FastAPI would answer it.
pub fn from_api_error(e: ApiError) -> Response {
    if e.status.is_server_error() {
        return internal_error();
    }
    detail(e.status, &e.detail.message)
}

/// One pydantic (v1) validation problem.
#[derive(Debug, Clone, Serialize)]
pub struct FieldError {
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl FieldError {
    pub fn new(loc: Vec<Value>, msg: impl Into<String>, kind: &str) -> Self {
        FieldError {
            loc,
            msg: msg.into(),
            kind: kind.to_string(),
        }
    }
}

/// 422 with the list of problems, as FastAPI answers a request that fails validation.
pub fn validation_failed(errors: Vec<FieldError>) -> Response {
    SeedJson(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "detail": errors }),
    )
    .into_response()
}

/// Parses a body that must be JSON; a syntax error comes back as the problem FastAPI
/// reports for it (answer with `validation_failed`).
pub fn parse_body(bytes: &[u8]) -> Result<Value, FieldError> {
    serde_json::from_slice(bytes).map_err(|e| {
        FieldError::new(
            vec![json!("body"), json!(e.column().saturating_sub(1))],
            format!("{e}"),
            "value_error.jsondecode",
        )
    })
}

/// Reads the fields of one JSON object against a fixed field list, collecting pydantic-style
/// errors instead of stopping at the first.
pub struct ObjectReader<'a> {
    object: Option<&'a serde_json::Map<String, Value>>,
    loc: Vec<Value>,
    pub errors: Vec<FieldError>,
}

impl<'a> ObjectReader<'a> {
    /// `allowed` lists every known field; others are refused ("extra fields not permitted").
    pub fn new(value: &'a Value, loc: Vec<Value>, allowed: &[&str]) -> Self {
        let mut reader = ObjectReader {
            object: value.as_object(),
            loc,
            errors: Vec::new(),
        };
        match reader.object {
            None => reader.errors.push(FieldError::new(
                reader.loc.clone(),
                "value is not a valid dict",
                "type_error.dict",
            )),
            Some(map) => {
                for key in map.keys().filter(|k| !allowed.contains(&k.as_str())) {
                    reader.errors.push(FieldError::new(
                        reader.at(key),
                        "extra fields not permitted",
                        "value_error.extra",
                    ));
                }
            }
        }
        reader
    }

    fn at(&self, field: &str) -> Vec<Value> {
        let mut loc = self.loc.clone();
        loc.push(json!(field));
        loc
    }

    /// The field's value, or a "field required" error.
    pub fn required(&mut self, field: &str) -> Option<&'a Value> {
        let object = self.object?;
        match object.get(field) {
            Some(Value::Null) | None => {
                let loc = self.at(field);
                self.errors.push(FieldError::new(
                    loc,
                    "field required",
                    "value_error.missing",
                ));
                None
            }
            Some(v) => Some(v),
        }
    }

    /// A string field (pydantic v1 also takes numbers for `str`).
    pub fn string(&mut self, field: &str) -> Option<String> {
        match self.required(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                let loc = self.at(field);
                self.errors
                    .push(FieldError::new(loc, "str type expected", "type_error.str"));
                None
            }
        }
    }

    /// Records an error for `field` found by the caller's own check.
    pub fn invalid(&mut self, field: &str, msg: impl Into<String>, kind: &str) {
        let loc = self.at(field);
        self.errors.push(FieldError::new(loc, msg, kind));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_json_like_python() {
        let v = json!({"status": "success", "items": [1, 2], "nested": {"a": null}});
        assert_eq!(
            to_python_string(&v).unwrap(),
            r#"{"items": [1, 2], "nested": {"a": null}, "status": "success"}"#
        );
    }
}
