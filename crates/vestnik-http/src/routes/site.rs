//! The calling key's own site: lets an integration check its key before sending real data.

use axum::Json;
use axum::extract::Path;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::SiteKey;
use crate::error::{ApiResult, ErrorBody};

#[derive(Serialize, ToSchema)]
pub struct SiteInfo {
    site_id: String,
    name: String,
    /// RFC 3339.
    created_at: String,
    key: KeyInfo,
}

#[derive(Serialize, ToSchema)]
pub struct KeyInfo {
    id: i64,
    label: String,
    /// The key's last four characters.
    hint: String,
}

async fn describe(state: &AppState, key: &SiteKey) -> ApiResult<Json<SiteInfo>> {
    let site = state.store.get_site(&key.site_id).await?;
    Ok(Json(SiteInfo {
        site_id: site.id.to_string(),
        name: site.name,
        created_at: site.created_at.to_rfc3339(),
        key: KeyInfo {
            id: key.key.id.0,
            label: key.key.label.clone(),
            hint: key.key.hint.clone(),
        },
    }))
}

/// The site the API key belongs to.
#[utoipa::path(
    get,
    path = "/api/v1/site",
    tag = "public",
    security(("api_key" = [])),
    responses(
        (status = 200, body = SiteInfo),
        (status = 401, description = "Missing, unknown or revoked key", body = ErrorBody),
        (status = 403, description = "`leadhit-site-id` names another site", body = ErrorBody)
    )
)]
pub async fn current_site(
    State(state): State<AppState>,
    key: SiteKey,
) -> ApiResult<Json<SiteInfo>> {
    describe(&state, &key).await
}

/// A site by id; only its own key may read it.
#[utoipa::path(
    get,
    path = "/api/v1/sites/{site_id}",
    tag = "public",
    security(("api_key" = [])),
    params(("site_id" = String, Path, description = "24 hex digits")),
    responses(
        (status = 200, body = SiteInfo),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The key belongs to another site", body = ErrorBody)
    )
)]
pub async fn site_by_id(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    key: SiteKey,
) -> ApiResult<Json<SiteInfo>> {
    key.require_site(&site_id)?;
    describe(&state, &key).await
}
