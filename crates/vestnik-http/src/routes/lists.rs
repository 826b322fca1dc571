//! Contact lists for shop backends: create, list, and change membership in bulk by email/phone.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vestnik_domain::contact::MembershipChange;
use vestnik_domain::{ContactList, Email, ListId, Phone, ValidationError};

use crate::AppState;
use crate::auth::SiteKey;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

/// As many identifiers as contacts per upsert request, for the same reason.
pub const MAX_MEMBERS_PER_REQUEST: usize = crate::routes::contacts::MAX_CONTACTS_PER_REQUEST;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Newsletter"}))]
pub struct NewList {
    /// 1 to 200 characters, unique in the site.
    name: String,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"id": 3, "name": "Newsletter", "created_at": "2024-05-01T10:00:00.000Z"}))]
pub struct ListView {
    id: i64,
    name: String,
    /// RFC 3339.
    created_at: String,
}

impl From<ContactList> for ListView {
    fn from(l: ContactList) -> Self {
        ListView {
            id: l.id.0,
            name: l.name,
            created_at: l.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Lists {
    /// By name.
    lists: Vec<ListView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"emails": ["ivan@shop.ru", "Olga@Shop.ru"], "phones": ["+7 916 123-45-67"]}))]
pub struct MemberIdentifiers {
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    phones: Vec<String>,
}

impl MemberIdentifiers {
    /// All identifiers parsed, or the first bad one named by its position: a request with a
    /// typo changes nothing, so it can be fixed and resent as a whole.
    fn parse(self) -> Result<(Vec<Email>, Vec<Phone>), ApiError> {
        let total = self.emails.len() + self.phones.len();
        if total == 0 {
            return Err(ApiError::invalid(ValidationError::new(
                "emails",
                "send at least one email or phone",
            )));
        }
        if total > MAX_MEMBERS_PER_REQUEST {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "{total} identifiers in one request; send at most {MAX_MEMBERS_PER_REQUEST} per request"
                ),
            ));
        }
        let at = |field: &'static str, i: usize| {
            move |e: ValidationError| {
                ApiError::invalid(ValidationError::new(format!("{field}[{i}]"), e.message))
            }
        };
        let emails = (self.emails.iter().enumerate())
            .map(|(i, e)| Email::parse(e).map_err(at("emails", i)))
            .collect::<Result<_, _>>()?;
        let phones = (self.phones.iter().enumerate())
            .map(|(i, p)| Phone::parse(p).map_err(at("phones", i)))
            .collect::<Result<_, _>>()?;
        Ok((emails, phones))
    }
}

#[derive(Serialize, ToSchema)]
pub struct Unmatched {
    emails: Vec<String>,
    phones: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"list_id": 3, "matched": 2, "changed": 1, "unmatched": {"emails": ["nobody@shop.ru"], "phones": []}}))]
pub struct MembershipResult {
    list_id: i64,
    /// Contacts the identifiers matched, each counted once.
    matched: u64,
    /// How many of them were added (or removed); the rest already were (or were not) members.
    changed: u64,
    /// Normalised identifiers that match no contact of the site; they are not created.
    unmatched: Unmatched,
}

impl MembershipResult {
    fn new(list: ListId, c: MembershipChange) -> Self {
        MembershipResult {
            list_id: list.0,
            matched: c.matched,
            changed: c.changed,
            unmatched: Unmatched {
                emails: c.unmatched_emails.into_iter().map(String::from).collect(),
                phones: c.unmatched_phones.into_iter().map(String::from).collect(),
            },
        }
    }
}

/// Create a list.
#[utoipa::path(
    post,
    path = "/api/v1/lists",
    tag = "public",
    security(("api_key" = [])),
    request_body = NewList,
    responses(
        (status = 201, body = ListView),
        (status = 401, body = ErrorBody),
        (status = 409, description = "The site already has a list with this name", body = ErrorBody),
        (status = 422, description = "Empty or over-long name, or unknown fields", body = ErrorBody)
    )
)]
pub async fn create_list(
    State(state): State<AppState>,
    key: SiteKey,
    ApiJson(body): ApiJson<NewList>,
) -> ApiResult<(StatusCode, Json<ListView>)> {
    let list = state.store.create_list(&key.site_id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(list.into())))
}

/// The site's lists.
#[utoipa::path(
    get,
    path = "/api/v1/lists",
    tag = "public",
    security(("api_key" = [])),
    responses((status = 200, body = Lists), (status = 401, body = ErrorBody))
)]
pub async fn lists(State(state): State<AppState>, key: SiteKey) -> ApiResult<Json<Lists>> {
    let lists = state.store.lists(&key.site_id).await?;
    Ok(Json(Lists {
        lists: lists.into_iter().map(ListView::from).collect(),
    }))
}

/// Add existing contacts to a list by email and/or phone (up to 10 000 in total), in one
/// transaction. Identifiers that match no contact are listed in the answer, not created.
#[utoipa::path(
    post,
    path = "/api/v1/lists/{list_id}/members",
    tag = "public",
    security(("api_key" = [])),
    params(("list_id" = i64, Path, description = "The list's id")),
    request_body = MemberIdentifiers,
    responses(
        (status = 200, description = "`changed` = contacts added", body = MembershipResult),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such list in this site", body = ErrorBody),
        (status = 413, description = "More than 10 000 identifiers", body = ErrorBody),
        (status = 422, description = "No identifiers, or one that is not a valid email/phone (named in `field`)", body = ErrorBody)
    )
)]
pub async fn add_members(
    State(state): State<AppState>,
    key: SiteKey,
    Path(list_id): Path<i64>,
    ApiJson(body): ApiJson<MemberIdentifiers>,
) -> ApiResult<Json<MembershipResult>> {
    let (emails, phones) = body.parse()?;
    let list = ListId(list_id);
    let change = state
        .store
        .add_to_list_by_identity(&key.site_id, list, &emails, &phones)
        .await?;
    Ok(Json(MembershipResult::new(list, change)))
}

/// Remove contacts from a list by email and/or phone (up to 10 000 in total), in one
/// transaction. A POST rather than a DELETE with a body, which many HTTP clients drop.
#[utoipa::path(
    post,
    path = "/api/v1/lists/{list_id}/members/remove",
    tag = "public",
    security(("api_key" = [])),
    params(("list_id" = i64, Path, description = "The list's id")),
    request_body = MemberIdentifiers,
    responses(
        (status = 200, description = "`changed` = contacts removed", body = MembershipResult),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such list in this site", body = ErrorBody),
        (status = 413, description = "More than 10 000 identifiers", body = ErrorBody),
        (status = 422, description = "No identifiers, or one that is not a valid email/phone (named in `field`)", body = ErrorBody)
    )
)]
pub async fn remove_members(
    State(state): State<AppState>,
    key: SiteKey,
    Path(list_id): Path<i64>,
    ApiJson(body): ApiJson<MemberIdentifiers>,
) -> ApiResult<Json<MembershipResult>> {
    let (emails, phones) = body.parse()?;
    let list = ListId(list_id);
    let change = state
        .store
        .remove_from_list_by_identity(&key.site_id, list, &emails, &phones)
        .await?;
    Ok(Json(MembershipResult::new(list, change)))
}
