//! The product catalog in the admin API: the feed's settings (URL and refresh schedule),
//! imports on demand and their history, and offer search.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vestnik_domain::{CatalogImport, CatalogOffer, FeedSettings, Role, SiteId};

use crate::AppState;
use crate::auth::AdminSession;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

/// Shortest refresh interval: a shop's feed is regenerated hourly at best, and a big feed
/// takes minutes to import.
pub const MIN_REFRESH_MINUTES: u32 = 15;
/// Longest: a week.
pub const MAX_REFRESH_MINUTES: u32 = 10_080;

#[derive(Serialize, ToSchema)]
pub struct FeedView {
    /// `null` until a feed URL is saved.
    #[schema(value_type = Option<Object>)]
    settings: Option<FeedSettings>,
    /// The newest import, whatever its outcome.
    #[schema(value_type = Option<Object>)]
    last_import: Option<CatalogImport>,
    offers: u64,
    available_offers: u64,
}

async fn feed_view(state: &AppState, site: &SiteId) -> ApiResult<FeedView> {
    let settings = state.store.feed_settings(site).await?.map(|(s, _)| s);
    let last_import = state.store.imports(site, 1).await?.into_iter().next();
    let (offers, available_offers) = state.store.offer_counts(site).await?;
    Ok(FeedView {
        settings,
        last_import,
        offers,
        available_offers,
    })
}

/// The feed's settings, the last import and the catalog's size.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/feed",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = FeedView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn feed(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<FeedView>> {
    let site = session.require(&site_id, Role::Viewer)?;
    Ok(Json(feed_view(&state, &site).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedSettingsInput {
    /// The feed's http(s) URL; `null` stops automatic imports.
    url: Option<String>,
    /// Minutes between imports (15 … 10080); `null` imports only on demand.
    refresh_minutes: Option<u32>,
}

fn validate(input: FeedSettingsInput) -> Result<FeedSettings, ApiError> {
    let invalid = |field: &str, message: String| {
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        );
        e.detail.field = Some(field.to_string());
        e
    };
    let url = match input.url.map(|u| u.trim().to_string()) {
        None => None,
        Some(u) => {
            let parsed = u.parse::<axum::http::Uri>().map_err(|e| {
                invalid(
                    "url",
                    format!("`{u}` is not a URL ({e}); give the feed's full http(s) address"),
                )
            })?;
            if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
                return Err(invalid(
                    "url",
                    format!("`{u}` is not an http(s) URL; feeds are downloaded over HTTP"),
                ));
            }
            Some(u)
        }
    };
    if let Some(m) = input.refresh_minutes
        && !(MIN_REFRESH_MINUTES..=MAX_REFRESH_MINUTES).contains(&m)
    {
        return Err(invalid(
            "refresh_minutes",
            format!(
                "refresh_minutes must be between {MIN_REFRESH_MINUTES} and {MAX_REFRESH_MINUTES}; got {m}"
            ),
        ));
    }
    if url.is_none() && input.refresh_minutes.is_some() {
        return Err(invalid(
            "refresh_minutes",
            "a refresh schedule needs a feed url".to_string(),
        ));
    }
    Ok(FeedSettings {
        url,
        refresh_minutes: input.refresh_minutes,
    })
}

/// Saves the feed's settings. With a URL, an import starts at once and, with
/// `refresh_minutes`, repeats on that schedule (a later save replaces the schedule).
#[utoipa::path(
    put,
    path = "/admin/api/sites/{site_id}/feed",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body(content = FeedSettingsInput, example = json!({"url": "https://shop.example/yml.xml", "refresh_minutes": 60})),
    responses(
        (status = 200, body = FeedView),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 422, description = "Not an http(s) URL, or a refresh interval out of range", body = ErrorBody)
    )
)]
pub async fn save_feed(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(input): ApiJson<FeedSettingsInput>,
) -> ApiResult<Json<FeedView>> {
    let site = session.require(&site_id, Role::Editor)?;
    let settings = validate(input)?;
    let saved_at = state.store.set_feed_settings(&site, &settings).await?;
    if settings.url.is_some() {
        let schedule = settings.refresh_minutes.map(|_| saved_at);
        state
            .store
            .enqueue(&vestnik_engine::feed_import_job(&site, schedule))
            .await?;
    }
    Ok(Json(feed_view(&state, &site).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ImportQueued {
    job_id: i64,
}

/// Imports the feed from its saved URL now (as a background job).
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/feed/import",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses(
        (status = 202, description = "Queued; see the feed's `last_import`", body = ImportQueued),
        (status = 409, description = "No feed URL saved yet", body = ErrorBody)
    )
)]
pub async fn import_now(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<(StatusCode, Json<ImportQueued>)> {
    let site = session.require(&site_id, Role::Editor)?;
    let has_url = state
        .store
        .feed_settings(&site)
        .await?
        .is_some_and(|(s, _)| s.url.is_some());
    if !has_url {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_feed_url",
            "no feed URL is saved for this site; PUT one to /admin/api/sites/{site_id}/feed first, \
             or import a file with `vestnik feed import`",
        ));
    }
    let job = state
        .store
        .enqueue(&vestnik_engine::feed_import_job(&site, None))
        .await?;
    Ok((StatusCode::ACCEPTED, Json(ImportQueued { job_id: job.0 })))
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// At most this many (default 20, at most 200).
    limit: Option<u32>,
}

/// Past imports, newest first, with their summaries and errors.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/feed/imports",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ListQuery),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody))
)]
pub async fn imports(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    Query(query): Query<ListQuery>,
    session: AdminSession,
) -> ApiResult<Json<Vec<CatalogImport>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let limit = query.limit.unwrap_or(20).clamp(1, 200);
    Ok(Json(state.store.imports(&site, limit).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct OfferQuery {
    /// An offer id, or part of a name (case-insensitive for Latin letters).
    q: Option<String>,
    /// At most this many (default 20, at most 200).
    limit: Option<u32>,
}

/// Finds offers by id or name; available ones first.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/offers",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), OfferQuery),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody))
)]
pub async fn offers(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    Query(query): Query<OfferQuery>,
    session: AdminSession,
) -> ApiResult<Json<Vec<CatalogOffer>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let limit = query.limit.unwrap_or(20).clamp(1, 200);
    let q = query.q.unwrap_or_default();
    Ok(Json(
        state.store.search_offers(&site, q.trim(), limit).await?,
    ))
}
