//! Event ingestion in the seed's "Generate event v2" shape: `POST /api/v2/event` for one
//! event, `POST /api/v2/events` for a list, and the admin listing of the site's event types.
//! A 2xx answer means the event is committed (the group-commit writer answers after COMMIT).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use vestnik_domain::ingest::{self, EventError, RawEvent};
use vestnik_domain::{EventToStore, EventTypeInfo, Ingested, Role, SiteId, Timestamp};
use vestnik_engine::IngestError;

use crate::AppState;
use crate::auth::{AdminSession, SiteKey};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

/// Most events in one batch request.
pub const MAX_BATCH: usize = 1000;

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "eventId": 1024, "contactId": 17, "duplicate": false}))]
pub struct EventAccepted {
    status: &'static str,
    #[serde(rename = "eventId")]
    event_id: i64,
    #[serde(rename = "contactId", skip_serializing_if = "Option::is_none")]
    contact_id: Option<i64>,
    /// True when the `eventId` / `Idempotency-Key` was seen before and nothing was stored again.
    duplicate: bool,
}

impl From<Ingested> for EventAccepted {
    fn from(i: Ingested) -> Self {
        match i {
            Ingested::Stored {
                event_id,
                contact_id,
            } => EventAccepted {
                status: "ok",
                event_id,
                contact_id: contact_id.map(|c| c.0),
                duplicate: false,
            },
            Ingested::Duplicate { event_id } => EventAccepted {
                status: "ok",
                event_id,
                contact_id: None,
                duplicate: true,
            },
        }
    }
}

fn event_error(e: EventError) -> ApiError {
    let mut err = ApiError::new(StatusCode::BAD_REQUEST, "invalid_event", e.message);
    err.detail.field = e.param;
    err
}

fn ingest_error(e: IngestError) -> Response {
    match e {
        IngestError::Overloaded | IngestError::Stopped => {
            let mut res = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
            .into_response();
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            res
        }
        IngestError::Store(_) => ApiError::internal().into_response(),
    }
}

fn prepare(
    site: &SiteId,
    raw: RawEvent,
    idempotency: Option<&str>,
) -> Result<EventToStore, ApiError> {
    let event = ingest::validate(raw, idempotency).map_err(event_error)?;
    Ok(EventToStore::new(site.clone(), event, Timestamp::now()))
}

/// Generate an event (seed: eSputnik "Generate event v2").
#[utoipa::path(
    post,
    path = "/api/v2/event",
    tag = "public",
    security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request a no-op; `eventId` in the body works too")),
    request_body(content = Value, example = json!({
        "eventTypeKey": "productViewed",
        "keyValue": "example@email.com",
        "params": [
            {"name": "email", "value": "example@email.com"},
            {"name": "product", "value": "{\"productId\":\"WS01-L-Green\",\"price\":45.5,\"isInStock\":1}"},
            {"name": "currencyCode", "value": "USD"}
        ]
    })),
    responses(
        (status = 200, description = "Committed", body = EventAccepted),
        (status = 400, description = "Invalid event; `error.field` names the param", body = ErrorBody),
        (status = 503, description = "Overloaded; retry after the Retry-After seconds", body = ErrorBody)
    )
)]
pub async fn generate_event(
    State(state): State<AppState>,
    key: SiteKey,
    headers: HeaderMap,
    ApiJson(raw): ApiJson<RawEvent>,
) -> Result<Json<EventAccepted>, Response> {
    let idempotency = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let item = prepare(&key.site_id, raw, idempotency).map_err(IntoResponse::into_response)?;
    state
        .events
        .submit(item)
        .await
        .map(|i| Json(i.into()))
        .map_err(ingest_error)
}

#[derive(Serialize, ToSchema)]
pub struct BatchItemResult {
    index: usize,
    /// `ok` or `error`.
    status: &'static str,
    #[serde(rename = "eventId", skip_serializing_if = "Option::is_none")]
    event_id: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<crate::error::ErrorDetail>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResult {
    accepted: usize,
    rejected: usize,
    results: Vec<BatchItemResult>,
}

/// Generate several events at once; each item is answered on its own.
#[utoipa::path(
    post,
    path = "/api/v2/events",
    tag = "public",
    security(("api_key" = [])),
    request_body(content = Vec<Value>, description = "A list of events, each in the /api/v2/event shape (at most 1000)"),
    responses(
        (status = 200, description = "Per-item results in input order; accepted items are committed", body = BatchResult),
        (status = 400, body = ErrorBody),
        (status = 413, description = "More than 1000 events", body = ErrorBody)
    )
)]
pub async fn generate_events(
    State(state): State<AppState>,
    key: SiteKey,
    // Items stay raw text until each is decoded straight into `RawEvent`: building a `Value`
    // tree first and converting it doubled the parse cost of a batch.
    ApiJson(items): ApiJson<Vec<Box<RawValue>>>,
) -> ApiResult<Json<BatchResult>> {
    if items.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_event",
            "the list of events is empty",
        ));
    }
    if items.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "at most {MAX_BATCH} events per request; got {}",
                items.len()
            ),
        ));
    }
    let mut results: Vec<Option<BatchItemResult>> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    let mut valid_index = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let prepared = serde_json::from_str::<RawEvent>(item.get())
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_event",
                    format!("invalid event: {e}"),
                )
            })
            .and_then(|raw| prepare(&key.site_id, raw, None));
        match prepared {
            Ok(event) => {
                valid.push(event);
                valid_index.push(index);
                results.push(None);
            }
            Err(e) => results.push(Some(BatchItemResult {
                index,
                status: "error",
                event_id: None,
                duplicate: false,
                error: Some(e.detail),
            })),
        }
    }
    for (index, outcome) in valid_index
        .into_iter()
        .zip(state.events.submit_all(valid).await)
    {
        results[index] = Some(match outcome {
            Ok(i) => {
                let accepted = EventAccepted::from(i);
                BatchItemResult {
                    index,
                    status: "ok",
                    event_id: Some(accepted.event_id),
                    duplicate: accepted.duplicate,
                    error: None,
                }
            }
            Err(e) => {
                let detail = match e {
                    IngestError::Store(_) => ApiError::internal().detail,
                    other => {
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "unavailable",
                            other.to_string(),
                        )
                        .detail
                    }
                };
                BatchItemResult {
                    index,
                    status: "error",
                    event_id: None,
                    duplicate: false,
                    error: Some(detail),
                }
            }
        });
    }
    let results: Vec<BatchItemResult> = results.into_iter().flatten().collect();
    let accepted = results.iter().filter(|r| r.status == "ok").count();
    Ok(Json(BatchResult {
        accepted,
        rejected: results.len() - accepted,
        results,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct EventTypeView {
    key: String,
    is_standard: bool,
    params: Vec<String>,
    event_count: i64,
    first_seen_at: String,
    last_seen_at: String,
}

impl From<EventTypeInfo> for EventTypeView {
    fn from(t: EventTypeInfo) -> Self {
        EventTypeView {
            key: t.key,
            is_standard: t.is_standard,
            params: t.params,
            event_count: t.event_count,
            first_seen_at: t.first_seen_at.to_rfc3339(),
            last_seen_at: t.last_seen_at.to_rfc3339(),
        }
    }
}

/// The site's event types (standard and custom) with the params seen with each.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/event-types",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = Vec<EventTypeView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn event_types(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<Vec<EventTypeView>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let types = state.store.event_types(&site).await?;
    Ok(Json(types.into_iter().map(EventTypeView::from).collect()))
}
