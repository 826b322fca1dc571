//! The contacts API for shop backends and imports (eSputnik-style): bulk upsert with per-item
//! results, lookup with behaviour state, and the GDPR pair — export and erasure, both audited.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{IntoParams, ToSchema};
use vestnik_domain::contact::{ContactUpsert, OverwriteRule, UpsertOutcome};
use vestnik_domain::store::AuditEntry;
use vestnik_domain::{
    Contact, ContactFields, ContactId, ContactList, Email, Phone, Subscription, ValidationError,
};

use crate::AppState;
use crate::auth::SiteKey;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorDetail};

/// More per request would hold the database's single writer (SQLite) for too long; imports of
/// a whole base page through it instead.
pub const MAX_CONTACTS_PER_REQUEST: usize = 10_000;

/// One contact as a shop or an import sends it. Absent fields are left as stored.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "email": "Ivan@Shop.ru", "phone": "+7 (916) 123-45-67", "name": "Ivan", "last_name": "Petrov",
    "city": "Moscow", "birthday": "1990-02-28", "custom_fields": {"size": "M"}, "tags": ["vip"],
    "lists": ["Newsletter"], "email_subscription": "subscribed", "sms_subscription": "unsubscribed"
}))]
pub struct ContactInput {
    /// Matched case-insensitively; stored lower-case.
    email: Option<String>,
    /// Any common notation; stored and matched in E.164 (`+79161234567`).
    phone: Option<String>,
    name: Option<String>,
    last_name: Option<String>,
    position: Option<String>,
    region: Option<String>,
    country: Option<String>,
    city: Option<String>,
    address: Option<String>,
    company: Option<String>,
    /// `YYYY-MM-DD`.
    birthday: Option<String>,
    sex: Option<String>,
    /// Merged key by key under the request's overwrite rule.
    #[schema(value_type = Option<Object>)]
    custom_fields: Option<Map<String, Value>>,
    /// Added to the contact's tags; an upsert never removes one.
    tags: Option<Vec<String>>,
    /// Names of existing lists to join; an unknown name fails the item (create lists first).
    lists: Option<Vec<String>>,
    /// subscribed, pending, unsubscribed, bounced or blocked.
    email_subscription: Option<String>,
    sms_subscription: Option<String>,
}

impl ContactInput {
    fn into_upsert(self) -> Result<ContactUpsert, ValidationError> {
        let subscription = |field: &str, raw: Option<String>| {
            raw.map(|s| {
                s.trim()
                    .parse::<Subscription>()
                    .map_err(|e| ValidationError::new(field, e.message))
            })
            .transpose()
        };
        let upsert = ContactUpsert {
            email: self.email.as_deref().map(Email::parse).transpose()?,
            phone: self.phone.as_deref().map(Phone::parse).transpose()?,
            fields: ContactFields {
                name: self.name,
                last_name: self.last_name,
                position: self.position,
                region: self.region,
                country: self.country,
                city: self.city,
                address: self.address,
                company: self.company,
                birthday: self.birthday,
                sex: self.sex,
            }
            .normalised()?,
            custom_fields: self.custom_fields.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            lists: self.lists.unwrap_or_default(),
            email_subscription: subscription("email_subscription", self.email_subscription)?,
            sms_subscription: subscription("sms_subscription", self.sms_subscription)?,
        };
        upsert.validate()?;
        Ok(upsert)
    }
}

#[derive(Deserialize, IntoParams)]
pub struct UpsertParams {
    /// `overwrite` (default): sent fields replace stored ones. `fill_empty`: sent fields only
    /// fill empty ones. `never`: an existing contact's data is kept (it still joins `lists`).
    overwrite: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UpsertItemResult {
    /// Position in the request (0-based).
    index: usize,
    /// `created`, `updated`, `unchanged` or `error`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorDetail>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "created": 1, "updated": 0, "unchanged": 0, "failed": 1,
    "results": [
        {"index": 0, "status": "created", "id": 17},
        {"index": 1, "status": "error", "error": {"type": "validation_failed", "field": "email",
            "message": "email: `ivan@` is not a valid email address"}}
    ]
}))]
pub struct UpsertResponse {
    created: usize,
    updated: usize,
    unchanged: usize,
    failed: usize,
    /// One per input contact, in input order.
    results: Vec<UpsertItemResult>,
}

/// A contact as stored.
#[derive(Serialize, ToSchema)]
pub struct ContactView {
    id: i64,
    email: Option<String>,
    phone: Option<String>,
    name: Option<String>,
    last_name: Option<String>,
    position: Option<String>,
    region: Option<String>,
    country: Option<String>,
    city: Option<String>,
    address: Option<String>,
    company: Option<String>,
    birthday: Option<String>,
    sex: Option<String>,
    /// new, contacted, customer, manager, regular or wholesale.
    status: &'static str,
    bonus: f64,
    #[schema(value_type = Object)]
    custom_fields: Map<String, Value>,
    tags: Vec<String>,
    email_subscription: &'static str,
    sms_subscription: &'static str,
    /// RFC 3339.
    created_at: String,
    updated_at: String,
}

impl From<Contact> for ContactView {
    fn from(c: Contact) -> Self {
        let f = c.fields;
        ContactView {
            id: c.id.0,
            email: c.email.map(String::from),
            phone: c.phone.map(String::from),
            name: f.name,
            last_name: f.last_name,
            position: f.position,
            region: f.region,
            country: f.country,
            city: f.city,
            address: f.address,
            company: f.company,
            birthday: f.birthday,
            sex: f.sex,
            status: c.status.as_str(),
            bonus: c.bonus.as_f64(),
            custom_fields: c.custom_fields,
            tags: c.tags,
            email_subscription: c.email_subscription.as_str(),
            sms_subscription: c.sms_subscription.as_str(),
            created_at: c.created_at.to_rfc3339(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

/// A list a contact belongs to.
#[derive(Serialize, ToSchema)]
pub struct ListRef {
    id: i64,
    name: String,
}

impl From<ContactList> for ListRef {
    fn from(l: ContactList) -> Self {
        ListRef {
            id: l.id.0,
            name: l.name,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "contact": {"id": 17, "email": "ivan@shop.ru", "phone": "+79161234567", "name": "Ivan", "status": "customer",
        "bonus": 150.5, "tags": ["vip"], "custom_fields": {}, "email_subscription": "subscribed",
        "sms_subscription": "subscribed", "created_at": "2024-05-01T10:00:00.000Z", "updated_at": "2024-05-02T10:00:00.000Z"},
    "lists": [{"id": 3, "name": "Newsletter"}],
    "state": {"viewed": [{"productId": "1234", "price": "990"}], "cart": [], "wishlist": [],
        "last_search": "sneakers", "last_activity_at": "2024-05-02T10:00:00.000Z"}
}))]
pub struct ContactDetails {
    contact: ContactView,
    lists: Vec<ListRef>,
    /// What events taught us: viewed products, cart, wishlist, last search, last activity.
    #[schema(value_type = Object)]
    state: Value,
}

#[derive(Serialize, ToSchema)]
pub struct ContactExportView {
    contact: ContactView,
    lists: Vec<ListRef>,
    #[schema(value_type = Object)]
    state: Value,
    /// Every stored event of the person, oldest first.
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
    /// Their orders, tied by contact, email or phone.
    #[schema(value_type = Vec<Object>)]
    orders: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"erased": true, "contact_id": 17, "events_deleted": 42, "orders_anonymised": 2}))]
pub struct ErasureView {
    erased: bool,
    contact_id: i64,
    events_deleted: u64,
    /// Orders stay for the shop's accounting, without the person's email and phone.
    orders_anonymised: u64,
}

#[derive(Deserialize, IntoParams)]
pub struct ContactLookup {
    /// The contact's email (any case).
    email: Option<String>,
    /// The contact's phone (any common notation).
    phone: Option<String>,
}

fn item_error(index: usize, error: ApiError) -> UpsertItemResult {
    UpsertItemResult {
        index,
        status: "error",
        id: None,
        error: Some(error.detail),
    }
}

/// An item that does not deserialize fails alone, with the path of the bad value in it.
fn parse_item(value: &Value) -> Result<ContactUpsert, ApiError> {
    let input: ContactInput = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("invalid value at `{path}`: {}", e.inner()),
        );
        if path == "." {
            err.detail.message = format!("invalid contact: {}", e.inner());
        } else {
            err.detail.field = Some(path);
        }
        err
    })?;
    input.into_upsert().map_err(ApiError::invalid)
}

/// Create or update contacts, one (an object) or many (an array, up to 10 000).
///
/// Contacts are matched by email, then by phone, both normalised first. Each contact is stored
/// entirely or not at all; a bad one is reported in its result and does not stop the others.
/// A single object that fails is answered with its error status instead of 200.
#[utoipa::path(
    post,
    path = "/api/v1/contacts",
    tag = "public",
    security(("api_key" = [])),
    params(UpsertParams),
    request_body(content = Vec<ContactInput>, description = "A contact object, or an array of up to 10 000"),
    responses(
        (status = 200, description = "Per-contact results in input order", body = UpsertResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "A single contact whose email and phone belong to two contacts", body = ErrorBody),
        (status = 413, description = "More than 10 000 contacts, or a body over the size limit", body = ErrorBody),
        (status = 422, description = "Not a contact or an array; an unknown `overwrite`; a single invalid contact", body = ErrorBody)
    )
)]
pub async fn upsert_contacts(
    State(state): State<AppState>,
    key: SiteKey,
    Query(params): Query<UpsertParams>,
    crate::json::ApiJson(body): crate::json::ApiJson<Value>,
) -> ApiResult<Json<UpsertResponse>> {
    let rule = match params.overwrite.as_deref() {
        None => OverwriteRule::default(),
        Some(raw) => raw.trim().parse::<OverwriteRule>()?,
    };
    let (single, items) = match body {
        Value::Object(_) => (true, vec![body]),
        Value::Array(items) if items.is_empty() => {
            return Err(ApiError::invalid(ValidationError::new(
                "contacts",
                "the array is empty; send at least one contact",
            )));
        }
        Value::Array(items) if items.len() > MAX_CONTACTS_PER_REQUEST => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "{} contacts in one request; send at most {MAX_CONTACTS_PER_REQUEST} per request",
                    items.len()
                ),
            ));
        }
        Value::Array(items) => (false, items),
        _ => {
            return Err(ApiError::invalid(ValidationError::new(
                "contacts",
                "send a contact object or an array of contact objects",
            )));
        }
    };

    let mut results: Vec<Option<UpsertItemResult>> = Vec::with_capacity(items.len());
    let mut to_store = Vec::with_capacity(items.len());
    let mut positions = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match parse_item(item) {
            Ok(upsert) => {
                results.push(None);
                to_store.push(upsert);
                positions.push(index);
            }
            Err(e) if single => return Err(e),
            Err(e) => results.push(Some(item_error(index, e))),
        }
    }
    let stored = state
        .store
        .upsert_contacts(&key.site_id, &to_store, rule)
        .await?;
    for (index, outcome) in positions.into_iter().zip(stored) {
        let result = match outcome {
            Ok((contact, outcome)) => UpsertItemResult {
                index,
                status: outcome.as_str(),
                id: Some(contact.id.0),
                error: None,
            },
            Err(e) if single => return Err(e.into()),
            Err(e) => item_error(index, e.into()),
        };
        if let Some(slot) = results.get_mut(index) {
            *slot = Some(result);
        }
    }

    let results: Vec<UpsertItemResult> = results.into_iter().flatten().collect();
    let count = |status: &str| results.iter().filter(|r| r.status == status).count();
    Ok(Json(UpsertResponse {
        created: count(UpsertOutcome::Created.as_str()),
        updated: count(UpsertOutcome::Updated.as_str()),
        unchanged: count(UpsertOutcome::Unchanged.as_str()),
        failed: count("error"),
        results,
    }))
}

/// Find a contact by email or phone, with its lists and behaviour state.
#[utoipa::path(
    get,
    path = "/api/v1/contacts",
    tag = "public",
    security(("api_key" = [])),
    params(ContactLookup),
    responses(
        (status = 200, body = ContactDetails),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No contact of this site has the email or phone", body = ErrorBody),
        (status = 422, description = "Neither `email` nor `phone`, or one that is not valid", body = ErrorBody)
    )
)]
pub async fn find_contact(
    State(state): State<AppState>,
    key: SiteKey,
    Query(lookup): Query<ContactLookup>,
) -> ApiResult<Json<ContactDetails>> {
    let email = lookup.email.as_deref().map(Email::parse).transpose()?;
    let phone = lookup.phone.as_deref().map(Phone::parse).transpose()?;
    if email.is_none() && phone.is_none() {
        return Err(ApiError::invalid(ValidationError::new(
            "email",
            "give the contact's email or phone: ?email=… or ?phone=…",
        )));
    }
    let contact = state
        .store
        .find_contact(&key.site_id, email.as_ref(), phone.as_ref())
        .await?
        .ok_or_else(|| ApiError::not_found("no contact with this email or phone"))?;
    let lists = state.store.contact_lists(&key.site_id, contact.id).await?;
    let behaviour = state.store.contact_state(&key.site_id, contact.id).await?;
    Ok(Json(ContactDetails {
        contact: contact.into(),
        lists: lists.into_iter().map(ListRef::from).collect(),
        state: to_value(&behaviour)?,
    }))
}

fn to_value(v: &impl Serialize) -> ApiResult<Value> {
    serde_json::to_value(v).map_err(|e| {
        tracing::error!(error = %e, "serialising contact state");
        ApiError::internal()
    })
}

fn audit(key: &SiteKey, action: &str, id: ContactId) -> AuditEntry {
    AuditEntry {
        site_id: key.site_id.clone(),
        actor: format!("api_key:{}", key.key.id),
        action: action.to_string(),
        subject: format!("contact:{id}"),
        details: json!({}),
    }
}

/// Everything stored about a person (GDPR access). Audited as `contact.export`.
#[utoipa::path(
    get,
    path = "/api/v1/contacts/{id}/export",
    tag = "public",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "The contact's id")),
    responses(
        (status = 200, body = ContactExportView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such contact in this site", body = ErrorBody)
    )
)]
pub async fn export_contact(
    State(state): State<AppState>,
    key: SiteKey,
    Path(id): Path<i64>,
) -> ApiResult<Json<ContactExportView>> {
    let id = ContactId(id);
    let export = state
        .store
        .export_contact(&key.site_id, id, &audit(&key, "contact.export", id))
        .await?;
    Ok(Json(ContactExportView {
        contact: export.contact.into(),
        lists: export.lists.into_iter().map(ListRef::from).collect(),
        state: to_value(&export.state)?,
        events: export.events,
        orders: export.orders,
    }))
}

/// Erase a person (GDPR erasure): the contact, their events, state and list memberships; their
/// orders lose email and phone. Audited as `contact.erase`.
#[utoipa::path(
    delete,
    path = "/api/v1/contacts/{id}",
    tag = "public",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "The contact's id")),
    responses(
        (status = 200, body = ErasureView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such contact in this site", body = ErrorBody)
    )
)]
pub async fn erase_contact(
    State(state): State<AppState>,
    key: SiteKey,
    Path(id): Path<i64>,
) -> ApiResult<Json<ErasureView>> {
    let id = ContactId(id);
    let report = state
        .store
        .erase_contact(&key.site_id, id, &audit(&key, "contact.erase", id))
        .await?;
    Ok(Json(ErasureView {
        erased: true,
        contact_id: report.contact_id.0,
        events_deleted: report.events_deleted,
        orders_anonymised: report.orders_anonymised,
    }))
}
