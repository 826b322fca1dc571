//! Promo code pools in the admin API: import codes into a pool, list pools with their use.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vestnik_domain::Role;
use vestnik_domain::promo::{CodeLineIssue, PromoPool, parse_code_lines, validate_pool};

use crate::AppState;
use crate::auth::AdminSession;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

/// Most codes per request; bigger lists go in several requests or through the CLI.
pub const MAX_CODES: usize = 100_000;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodesInput {
    /// The codes, one per item (the CLI takes a file with one per line).
    #[serde(default)]
    codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CodesImported {
    pool: String,
    added: u64,
    /// Already in the pool, or repeated in the request: kept once.
    duplicates: u64,
    /// Items that are not codes (spaces inside, too long…), by their 1-based position.
    #[schema(value_type = Vec<Object>)]
    skipped: Vec<CodeLineIssue>,
}

/// Adds codes to a pool (created on first use); `get_promocode(pool='NAME')` hands them out.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/promo-pools/{pool}/codes",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("pool" = String, Path)),
    request_body(content = CodesInput, example = json!({"codes": ["SUMMER-7F3K", "SUMMER-9QX2"]})),
    responses(
        (status = 200, body = CodesImported),
        (status = 413, description = "More than 100 000 codes", body = ErrorBody),
        (status = 422, description = "A bad pool name, or no codes", body = ErrorBody)
    )
)]
pub async fn import_codes(
    State(state): State<AppState>,
    Path((site_id, pool)): Path<(String, String)>,
    session: AdminSession,
    ApiJson(input): ApiJson<CodesInput>,
) -> ApiResult<Json<CodesImported>> {
    let site = session.require(&site_id, Role::Editor)?;
    validate_pool(&pool)?;
    if input.codes.len() > MAX_CODES {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "at most {MAX_CODES} codes per request; got {}; split the list or use `vestnik promocodes import`",
                input.codes.len()
            ),
        ));
    }
    // One item per line, so positions in the report are the items' positions.
    let joined: Vec<String> = input
        .codes
        .iter()
        .map(|c| {
            if c.contains(['\n', '\r']) {
                "\u{7}".to_string() // reported as not a code
            } else {
                c.clone()
            }
        })
        .collect();
    let (codes, skipped) = parse_code_lines(&joined.join("\n"));
    if codes.is_empty() {
        let mut e = ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "no codes to import: send {\"codes\": [\"CODE-1\", …]}",
        );
        e.detail.field = Some("codes".into());
        return Err(e);
    }
    let imported = state.store.import_promo_codes(&site, &pool, &codes).await?;
    Ok(Json(CodesImported {
        pool,
        added: imported.added,
        duplicates: imported.duplicates,
        skipped,
    }))
}

/// The site's pools with their size and how many codes were handed out.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/promo-pools",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody))
)]
pub async fn pools(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<Vec<PromoPool>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    Ok(Json(state.store.promo_pools(&site).await?))
}
