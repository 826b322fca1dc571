//! Who is calling: a site's API key (shop integrations) or an admin session (the personal
//! account). Both are extractors, so a handler that takes one cannot run unauthenticated and
//! receives the `SiteId` it may act on from here, never from the request body.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use vestnik_domain::{
    ApiKeyRecord, PlainApiKey, Role, SessionToken, SiteId, SiteRole, Timestamp, User,
};

use crate::AppState;
use crate::error::ApiError;

/// The header shop integrations send the key in. Header names are case-insensitive, so the
/// seed's `API-KEY` spelling is the same header.
pub const API_KEY_HEADER: &str = "api-key";
/// Optional: when sent, it must name the key's own site.
pub const SITE_ID_HEADER: &str = "leadhit-site-id";
/// The cookie the web UI keeps its session in.
pub const SESSION_COOKIE: &str = "vestnik_session";

/// A request authenticated by a site API key.
#[derive(Debug, Clone)]
pub struct SiteKey {
    pub site_id: SiteId,
    pub key: ApiKeyRecord,
}

impl SiteKey {
    /// Refuses (403) when the request addresses another site than the key's.
    pub fn require_site(&self, requested: &str) -> Result<(), ApiError> {
        match SiteId::parse(requested) {
            Some(id) if id == self.site_id => Ok(()),
            _ => Err(ApiError::forbidden(format!(
                "this API key belongs to site {}, not to site {}",
                self.site_id,
                requested.trim()
            ))),
        }
    }
}

impl FromRequestParts<AppState> for SiteKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let raw = header_str(&parts.headers, API_KEY_HEADER)?.ok_or_else(|| {
            ApiError::unauthorized("missing API key: send it in the `api-key` header")
        })?;
        let hash = PlainApiKey::from_header(raw).hash();
        let key = match state.keys.get(&hash) {
            Some(key) => key,
            None => {
                let key = state
                    .store
                    .find_api_key(&hash)
                    .await?
                    .ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
                state.keys.put(hash, key.clone());
                key
            }
        };
        if !key.is_active() {
            return Err(ApiError::unauthorized(
                "this API key was revoked; ask the site owner for a new one",
            ));
        }
        let site_key = SiteKey {
            site_id: key.site_id.clone(),
            key,
        };
        if let Some(requested) = header_str(&parts.headers, SITE_ID_HEADER)? {
            site_key.require_site(requested)?;
        }
        Ok(site_key)
    }
}

/// A logged-in admin user, with their roles.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub user: User,
    pub roles: Vec<SiteRole>,
    pub token: SessionToken,
}

impl AdminSession {
    /// The user's role on `site` when it is at least `needed`. A site the user has no role on
    /// answers 404, so its existence is not revealed; too low a role answers 403.
    pub fn require(&self, site: &str, needed: Role) -> Result<SiteId, ApiError> {
        let role = SiteId::parse(site)
            .and_then(|id| self.roles.iter().find(|r| r.site_id == id))
            .ok_or_else(|| ApiError::not_found(format!("site {} not found", site.trim())))?;
        if !role.role.allows(needed) {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role on site {}; you are {}",
                needed.as_str(),
                role.site_id,
                role.role.as_str()
            )));
        }
        Ok(role.site_id.clone())
    }
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?
            .or_else(|| session_cookie(&parts.headers))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "not logged in: POST /admin/api/login, then send `Authorization: Bearer <token>`",
                )
            })?;
        let token = SessionToken::from_header(token);
        let user = state
            .store
            .find_session(&token.hash(), Timestamp::now())
            .await?
            .ok_or_else(|| ApiError::unauthorized("session expired or invalid; log in again"))?;
        let roles = state.store.user_roles(user.id).await?;
        Ok(AdminSession { user, roles, token })
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim()).filter(|s| !s.is_empty()))
            .map_err(|_| ApiError::unauthorized(format!("the `{name}` header is not valid text"))),
    }
}

fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    Ok(
        header_str(headers, header::AUTHORIZATION.as_str())?.and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .map(str::trim)
        }),
    )
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
}
