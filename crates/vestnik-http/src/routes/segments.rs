//! Segments in the admin API: saved conditions over the site's contacts, answered with how
//! many contacts match right now, and a count preview for a condition being edited. The
//! condition language is the domain's (`vestnik_domain::segment`, `docs/segments.md`); a bad
//! condition is a 422 whose `field` is the path of the bad node (`condition.all[1].op`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use vestnik_domain::segment::{Condition, Segment, SegmentId};
use vestnik_domain::{Role, SiteId, Timestamp, ValidationError};

use crate::AppState;
use crate::auth::AdminSession;
use crate::error::{ApiResult, ErrorBody};
use crate::json::ApiJson;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "id": 4, "name": "Москва, смотрели товары", "count": 3512,
    "condition": {"all": [
        {"field": "status", "op": "eq", "value": "customer"},
        {"field": "city", "op": "eq", "value": "Москва"},
        {"event": "productViewed", "within_days": 30}
    ]},
    "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-23T10:00:00Z"
}))]
pub struct SegmentView {
    id: i64,
    name: String,
    #[schema(value_type = Object)]
    condition: Value,
    /// Contacts matching now. Listings leave it out unless asked (`?counts=true`): each
    /// count reads the site's contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<i64>,
    /// RFC 3339.
    created_at: String,
    updated_at: String,
}

impl SegmentView {
    fn new(s: Segment, count: Option<i64>) -> Self {
        SegmentView {
            id: s.id.0,
            name: s.name,
            condition: s.condition.to_json(),
            count,
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Segments {
    /// By name.
    segments: Vec<SegmentView>,
}

/// Fields are optional so that a request is authorised before its content is judged; the
/// handler then says what is missing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Москва, смотрели товары",
    "condition": {"all": [
        {"field": "status", "op": "eq", "value": "customer"},
        {"field": "city", "op": "eq", "value": "Москва"},
        {"event": "productViewed", "within_days": 30}
    ]}
}))]
pub struct SegmentInput {
    /// 1 to 200 characters, unique in the site.
    #[serde(default)]
    name: Option<String>,
    /// The condition in its JSON form (docs/segments.md).
    #[serde(default)]
    #[schema(value_type = Object)]
    condition: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"condition": {"any": [{"tag": "vip"}, {"orders": "count", "op": "gte", "value": 2}]}}))]
pub struct CountInput {
    #[serde(default)]
    #[schema(value_type = Object)]
    condition: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"count": 3512}))]
pub struct CountView {
    count: i64,
}

fn condition(raw: Option<&Value>) -> Result<Condition, ValidationError> {
    let raw = raw.ok_or_else(|| {
        ValidationError::new(
            "condition",
            "missing; send the condition, e.g. {\"all\": []} for every contact",
        )
    })?;
    Ok(Condition::parse(raw)?)
}

fn name(raw: Option<&str>) -> Result<&str, ValidationError> {
    raw.ok_or_else(|| ValidationError::new("name", "missing; name the segment"))
}

async fn count(state: &AppState, site: &SiteId, condition: &Condition) -> ApiResult<i64> {
    Ok(state
        .store
        .count_segment(site, condition, Timestamp::now())
        .await?)
}

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// Count each segment's contacts too (slower: one count per segment).
    counts: Option<bool>,
}

/// The site's segments, by name.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/segments",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ListQuery),
    responses((status = 200, body = Segments), (status = 401, body = ErrorBody))
)]
pub async fn list_segments(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    Query(query): Query<ListQuery>,
    session: AdminSession,
) -> ApiResult<Json<Segments>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let mut segments = Vec::new();
    for s in state.store.list_segments(&site).await? {
        let n = match query.counts {
            Some(true) => Some(count(&state, &site, &s.condition).await?),
            _ => None,
        };
        segments.push(SegmentView::new(s, n));
    }
    Ok(Json(Segments { segments }))
}

/// Saves a segment; the answer counts its contacts.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/segments",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body = SegmentInput,
    responses(
        (status = 201, body = SegmentView),
        (status = 409, description = "A segment of that name exists", body = ErrorBody),
        (status = 422, description = "A bad condition: `error.field` is the path of the bad node", body = ErrorBody)
    )
)]
pub async fn create_segment(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(input): ApiJson<SegmentInput>,
) -> ApiResult<(StatusCode, Json<SegmentView>)> {
    let site = session.require(&site_id, Role::Editor)?;
    let name = name(input.name.as_deref())?;
    let condition = condition(input.condition.as_ref())?;
    let saved = state.store.create_segment(&site, name, &condition).await?;
    let n = count(&state, &site, &saved.condition).await?;
    Ok((StatusCode::CREATED, Json(SegmentView::new(saved, Some(n)))))
}

/// A segment with its contacts counted now.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/segments/{id}",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = SegmentView), (status = 404, body = ErrorBody))
)]
pub async fn get_segment(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
) -> ApiResult<Json<SegmentView>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let segment = state.store.get_segment(&site, SegmentId(id)).await?;
    let n = count(&state, &site, &segment.condition).await?;
    Ok(Json(SegmentView::new(segment, Some(n))))
}

/// Replaces a segment's name and condition; the answer counts its contacts.
#[utoipa::path(
    put,
    path = "/admin/api/sites/{site_id}/segments/{id}",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    request_body = SegmentInput,
    responses(
        (status = 200, body = SegmentView),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
pub async fn update_segment(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
    ApiJson(input): ApiJson<SegmentInput>,
) -> ApiResult<Json<SegmentView>> {
    let site = session.require(&site_id, Role::Editor)?;
    let name = name(input.name.as_deref())?;
    let condition = condition(input.condition.as_ref())?;
    let saved = state
        .store
        .update_segment(&site, SegmentId(id), name, &condition)
        .await?;
    let n = count(&state, &site, &saved.condition).await?;
    Ok(Json(SegmentView::new(saved, Some(n))))
}

/// Deletes a segment. Campaigns already sending keep the recipients they snapshotted.
#[utoipa::path(
    delete,
    path = "/admin/api/sites/{site_id}/segments/{id}",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
pub async fn delete_segment(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
) -> ApiResult<StatusCode> {
    let site = session.require(&site_id, Role::Editor)?;
    state.store.delete_segment(&site, SegmentId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Counts the contacts an unsaved condition selects: the preview while editing.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/segments/count",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body = CountInput,
    responses(
        (status = 200, body = CountView),
        (status = 422, description = "A bad condition: `error.field` is the path of the bad node", body = ErrorBody)
    )
)]
pub async fn count_preview(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(input): ApiJson<CountInput>,
) -> ApiResult<Json<CountView>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let condition = condition(input.condition.as_ref())?;
    Ok(Json(CountView {
        count: count(&state, &site, &condition).await?,
    }))
}
