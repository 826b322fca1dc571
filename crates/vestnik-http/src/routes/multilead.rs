//! The seed's client API for multileads (contacts), in its exact shapes:
//! `POST /client/update_multilead/` (lead status) and `POST /client/multilead_bonus` (bonus
//! points). Shops already integrated with the seed product call these unchanged, so errors
//! are FastAPI's `{"detail": …}` and bodies are spaced as Python prints them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::HashMap;
use utoipa::ToSchema;
use vestnik_domain::{Bonus, Email, LeadStatus};

use crate::AppState;
use crate::auth::SiteKey;
use crate::error::ApiError;
use crate::seed_json::{self, FieldError, ObjectReader, SeedJson};

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "success", "message": "Multilead with email example@mail.ru was updated. New status - contacted."}))]
pub struct SeedResult {
    /// `success` or `error`.
    status: &'static str,
    message: String,
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "example@mail.ru", "status": "contacted", "site_id": "4f8425fc77796b0266000009"}))]
#[allow(dead_code)] // Documents the body; the handler reads it field by field for pydantic-style errors.
pub struct UpdateMultilead {
    email: String,
    /// new, contacted, customer, manager, regular or wholesale.
    status: String,
    /// Must be the API key's site.
    site_id: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"detail": "Multilead not found"}))]
pub struct Detail {
    detail: String,
}

fn status_error() -> String {
    let permitted: Vec<String> = LeadStatus::ALL
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!(
        "value is not a valid enumeration member; permitted: {}",
        permitted.join(", ")
    )
}

/// Change a multilead's status (seed: "Изменение статуса мультилида").
#[utoipa::path(
    post,
    path = "/client/update_multilead/",
    tag = "public",
    security(("api_key" = [])),
    request_body = UpdateMultilead,
    responses(
        (status = 200, body = SeedResult),
        (status = 403, description = "The key belongs to another site than `site_id` / `leadhit-site-id`", body = Detail),
        (status = 404, description = "No contact with this email: `{\"detail\": \"Multilead not found\"}`", body = Detail),
        (status = 422, description = "Invalid body, in FastAPI's validation shape")
    )
)]
pub async fn update_multilead(
    State(state): State<AppState>,
    key: Result<SiteKey, ApiError>,
    body: Bytes,
) -> Response {
    let key = match key {
        Ok(k) => k,
        Err(e) => return seed_json::from_api_error(e),
    };
    let value = match seed_json::parse_body(&body) {
        Ok(v) => v,
        Err(problem) => return seed_json::validation_failed(vec![problem]),
    };
    let mut reader =
        ObjectReader::new(&value, vec![json!("body")], &["email", "status", "site_id"]);
    let email = reader.string("email");
    let status = reader.string("status");
    let site_id = reader.string("site_id");
    let email = email.and_then(|e| match Email::parse(&e) {
        Ok(e) => Some(e),
        Err(_) => {
            reader.invalid(
                "email",
                "value is not a valid email address",
                "value_error.email",
            );
            None
        }
    });
    let status = status.and_then(|s| match s.parse::<LeadStatus>() {
        Ok(s) => Some(s),
        Err(_) => {
            reader.invalid("status", status_error(), "type_error.enum");
            None
        }
    });
    let (Some(email), Some(status), Some(site_id), true) =
        (email, status, site_id, reader.errors.is_empty())
    else {
        return seed_json::validation_failed(reader.errors);
    };
    if let Err(e) = key.require_site(&site_id) {
        return seed_json::from_api_error(e);
    }
    match state
        .store
        .set_status_by_email(&key.site_id, &email, status)
        .await
    {
        Ok(true) => SeedJson(
            StatusCode::OK,
            SeedResult {
                status: "success",
                message: format!(
                    "Multilead with email {email} was updated. New status - {}.",
                    status.as_str()
                ),
            },
        )
        .into_response(),
        Ok(false) => seed_json::detail(StatusCode::NOT_FOUND, "Multilead not found"),
        Err(e) => {
            tracing::error!(error = %e, "update_multilead failed");
            seed_json::internal_error()
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"email": "exists_lead@mail.ru", "bonus": 123.00}))]
#[allow(dead_code)] // Documents the body; the handler reads it field by field for pydantic-style errors.
pub struct BonusItem {
    email: String,
    /// Bonus balance; stored exactly as sent (`123.00` stays `123.00`).
    bonus: f64,
}

/// Set bonus balances for a list of multileads (seed: "Передача бонусных баллов").
/// Successful updates come first in input order, failed ones last.
#[utoipa::path(
    post,
    path = "/client/multilead_bonus",
    tag = "public",
    security(("api_key" = [])),
    request_body = Vec<BonusItem>,
    responses(
        (status = 200, body = Vec<SeedResult>, example = json!([
            {"status": "success", "message": "Bonuses for multilead with email exists_lead@mail.ru updated."},
            {"status": "error", "message": "multilead with email not_exists_lead@mail.ru not found"}
        ])),
        (status = 400, description = "`{\"detail\": \"Body is empty\"}`", body = Detail),
        (status = 422, description = "Any invalid item: nothing is updated; FastAPI's validation shape"),
        (status = 500, description = "`{\"detail\": \"Internal error\"}`: check the data and retry in a few minutes", body = Detail)
    )
)]
pub async fn multilead_bonus(
    State(state): State<AppState>,
    key: Result<SiteKey, ApiError>,
    body: Bytes,
) -> Response {
    let key = match key {
        Ok(k) => k,
        Err(e) => return seed_json::from_api_error(e),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return seed_json::detail(StatusCode::BAD_REQUEST, "Body is empty");
    }
    let value = match seed_json::parse_body(&body) {
        Ok(v) => v,
        Err(problem) => return seed_json::validation_failed(vec![problem]),
    };
    let Some(items) = value.as_array() else {
        return seed_json::validation_failed(vec![FieldError::new(
            vec![json!("body")],
            "value is not a valid list",
            "type_error.list",
        )]);
    };
    if items.is_empty() {
        return seed_json::detail(StatusCode::BAD_REQUEST, "Body is empty");
    }
    // The same body again with numbers as raw text, so `123.00` is stored as `123.00`
    // (a float would make it `123.0`). Only consulted for items that are objects.
    let raw_items: Vec<Option<HashMap<String, &RawValue>>> =
        serde_json::from_slice::<Vec<&RawValue>>(&body)
            .map(|items| {
                items
                    .into_iter()
                    .map(|item| serde_json::from_str(item.get()).ok())
                    .collect()
            })
            .unwrap_or_default();
    let mut errors = Vec::new();
    let mut updates = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut reader =
            ObjectReader::new(item, vec![json!("body"), json!(i)], &["email", "bonus"]);
        let email = reader.string("email").and_then(|e| match Email::parse(&e) {
            Ok(e) => Some(e),
            Err(_) => {
                reader.invalid(
                    "email",
                    "value is not a valid email address",
                    "value_error.email",
                );
                None
            }
        });
        let bonus = reader.required("bonus").and_then(|b| {
            let text = match b {
                Value::Number(n) => raw_items
                    .get(i)
                    .and_then(|raw| raw.as_ref()?.get("bonus").map(|r| r.get().to_string()))
                    .unwrap_or_else(|| n.to_string()),
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            match Bonus::parse(&text) {
                Ok(b) => Some(b),
                Err(_) => {
                    reader.invalid("bonus", "value is not a valid float", "type_error.float");
                    None
                }
            }
        });
        errors.append(&mut reader.errors);
        if let (Some(email), Some(bonus)) = (email, bonus) {
            updates.push((email, bonus));
        }
    }
    if !errors.is_empty() {
        return seed_json::validation_failed(errors);
    }
    let found = match state
        .store
        .set_bonuses_by_email(&key.site_id, &updates)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(error = %e, "multilead_bonus failed");
            return seed_json::internal_error();
        }
    };
    let (updated, missing): (Vec<_>, Vec<_>) = updates.iter().zip(found).partition(|(_, ok)| *ok);
    let results: Vec<SeedResult> = updated
        .into_iter()
        .map(|((email, _), _)| SeedResult {
            status: "success",
            message: format!("Bonuses for multilead with email {email} updated."),
        })
        .chain(missing.into_iter().map(|((email, _), _)| SeedResult {
            status: "error",
            message: format!("multilead with email {email} not found"),
        }))
        .collect();
    SeedJson(StatusCode::OK, results).into_response()
}
