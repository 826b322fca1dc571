//! The personal account's API: log in, see your sites, manage their API keys.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vestnik_domain::{ApiKeyId, ApiKeyRecord, Email, Role, SessionToken, Timestamp};

use crate::AppState;
use crate::auth::{AdminSession, SESSION_COOKIE};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`; also set as the `vestnik_session` cookie.
    token: String,
    /// RFC 3339.
    expires_at: String,
    user: UserInfo,
    sites: Vec<SiteAccess>,
}

#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    id: i64,
    email: String,
}

#[derive(Serialize, ToSchema)]
pub struct SiteAccess {
    site_id: String,
    name: String,
    /// `owner`, `editor` or `viewer`.
    role: String,
}

/// A password hash to verify against when the email is unknown, so that a wrong email and a
/// wrong password take the same time and an attacker cannot list accounts.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| vestnik_domain::user::hash_password("decoy password for timing"))
}

async fn site_access(
    state: &AppState,
    session_roles: &[vestnik_domain::SiteRole],
) -> ApiResult<Vec<SiteAccess>> {
    let mut out = Vec::with_capacity(session_roles.len());
    for r in session_roles {
        let site = state.store.get_site(&r.site_id).await?;
        out.push(SiteAccess {
            site_id: site.id.to_string(),
            name: site.name,
            role: r.role.as_str().to_string(),
        });
    }
    Ok(out)
}

/// Log in with email and password.
#[utoipa::path(
    post,
    path = "/admin/api/login",
    tag = "admin",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Wrong email or password", body = ErrorBody)
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let wrong = || ApiError::unauthorized("wrong email or password");
    let email = Email::parse(&req.email).map_err(|_| wrong())?;
    let found = state.store.find_user_by_email(&email).await?;
    let hash = found
        .as_ref()
        .map(|(_, h)| h.clone())
        .unwrap_or_else(|| decoy_hash().to_string());
    let password = req.password;
    let verified = tokio::task::spawn_blocking(move || {
        vestnik_domain::user::verify_password(&password, &hash)
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let user = match found {
        Some((user, _)) if verified => user,
        _ => return Err(wrong()),
    };
    let token = SessionToken::generate();
    let ttl = state.config.session_ttl;
    let expires_at = Timestamp::now().plus(ttl);
    state
        .store
        .create_session(user.id, &token.hash(), expires_at)
        .await?;
    let roles = state.store.user_roles(user.id).await?;
    let body = LoginResponse {
        token: token.as_str().to_string(),
        expires_at: expires_at.to_rfc3339(),
        user: UserInfo {
            id: user.id.0,
            email: user.email.to_string(),
        },
        sites: site_access(&state, &roles).await?,
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}{}",
        token.as_str(),
        ttl.as_secs(),
        if state.config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// End the current session.
#[utoipa::path(
    post,
    path = "/admin/api/logout",
    tag = "admin",
    security(("session" = [])),
    responses((status = 204), (status = 401, body = ErrorBody))
)]
pub async fn logout(State(state): State<AppState>, session: AdminSession) -> ApiResult<Response> {
    state.store.delete_session(&session.token.hash()).await?;
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    user: UserInfo,
    sites: Vec<SiteAccess>,
}

/// The logged-in user and the sites they can open.
#[utoipa::path(
    get,
    path = "/admin/api/me",
    tag = "admin",
    security(("session" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody))
)]
pub async fn me(State(state): State<AppState>, session: AdminSession) -> ApiResult<Json<Me>> {
    Ok(Json(Me {
        user: UserInfo {
            id: session.user.id.0,
            email: session.user.email.to_string(),
        },
        sites: site_access(&state, &session.roles).await?,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct KeyView {
    id: i64,
    label: String,
    /// The key's last four characters, to tell keys apart.
    hint: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<ApiKeyRecord> for KeyView {
    fn from(k: ApiKeyRecord) -> Self {
        KeyView {
            id: k.id.0,
            label: k.label,
            hint: k.hint,
            created_at: k.created_at.to_rfc3339(),
            revoked_at: k.revoked_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A site's API keys (never their secrets).
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/keys",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_keys(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<Vec<KeyView>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let keys = state.store.list_api_keys(&site).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateKey {
    /// Which integration will hold the key, e.g. `shop backend`.
    #[serde(default)]
    label: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    key: KeyView,
    /// The key itself. Shown only in this response: store it now.
    api_key: String,
}

/// Create an API key (owners only). The plain key appears in this response only.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/keys",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body = CreateKey,
    responses(
        (status = 201, body = CreatedKey),
        (status = 403, description = "Not an owner of the site", body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
pub async fn create_key(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(req): ApiJson<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let site = session.require(&site_id, Role::Owner)?;
    let label = req.label.trim();
    if label.chars().count() > 200 {
        return Err(vestnik_domain::ValidationError::new(
            "label",
            "label must be at most 200 characters",
        )
        .into());
    }
    let issued = state.store.create_api_key(&site, label).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            api_key: issued.plain.as_str().to_string(),
            key: issued.record.into(),
        }),
    ))
}

/// Revoke an API key (owners only). Requests with it fail with 401 from now on.
#[utoipa::path(
    delete,
    path = "/admin/api/sites/{site_id}/keys/{key_id}",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("key_id" = i64, Path)),
    responses((status = 200, body = KeyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    Path((site_id, key_id)): Path<(String, i64)>,
    session: AdminSession,
) -> ApiResult<Json<KeyView>> {
    let site = session.require(&site_id, Role::Owner)?;
    let key = state.store.revoke_api_key(&site, ApiKeyId(key_id)).await?;
    state.keys.evict(key.id);
    Ok(Json(key.into()))
}
