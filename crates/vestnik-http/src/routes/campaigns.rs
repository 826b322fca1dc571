//! Mass mailings in the admin API: SMTP providers, DKIM sender domains, campaigns (the seed's
//! mailing form), pause/resume/cancel, the report, and "resend to non-openers".

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vestnik_domain::Role;
use vestnik_domain::campaign::{
    Campaign, CampaignId, DkimAlgorithm, NewProvider, ProviderId, SmtpProvider, SmtpTls,
    parse_domain, parse_selector,
};
use vestnik_engine::campaign::{
    CampaignError, CampaignReport, CampaignRequest, Created, campaign_report, cancel_campaign,
    create_campaign, pause_campaign, resend_to_non_openers, resume_campaign,
};

use crate::AppState;
use crate::auth::AdminSession;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

impl From<CampaignError> for ApiError {
    fn from(e: CampaignError) -> Self {
        match e {
            CampaignError::Invalid(v) => v.into(),
            CampaignError::Store(s) => s.into(),
            CampaignError::Template(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "template", m)
            }
            CampaignError::Provider(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "provider", m)
            }
            CampaignError::State(m) => ApiError::new(StatusCode::CONFLICT, "state", m),
        }
    }
}

/// A provider as the admin API shows it: the password is never returned.
#[derive(Serialize, ToSchema)]
pub struct ProviderView {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    provider: SmtpProvider,
    has_password: bool,
}

fn provider_view(provider: SmtpProvider) -> ProviderView {
    ProviderView {
        has_password: provider.password.is_some(),
        provider,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderInput {
    /// Defaulted (like every field here) so a request is authorised before its content is
    /// judged; an empty name is then refused with a message.
    #[serde(default)]
    name: String,
    /// `smtp://user:password@host:port` (STARTTLS) or `smtps://…` (implicit TLS); or give the
    /// parts below instead.
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    /// `starttls`, `tls` or `none`.
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
    /// Messages per second across all campaigns on this provider.
    rate: Option<f64>,
    pool_size: Option<u32>,
    /// Log in to the server before saving (default true): a wrong password is caught now, not
    /// mid-campaign.
    #[serde(default = "yes")]
    verify: bool,
}

fn yes() -> bool {
    true
}

/// Turns the form into a provider: from a URL or from parts.
pub fn provider_from_input(input: &ProviderInput) -> Result<NewProvider, ApiError> {
    let tls = match input.tls.as_deref() {
        Some(t) => Some(SmtpTls::parse(t).ok_or_else(|| {
            ApiError::invalid(vestnik_domain::ValidationError::new(
                "tls",
                format!("{t:?} is not a TLS mode; use starttls, tls or none"),
            ))
        })?),
        None => None,
    };
    let provider = match &input.url {
        Some(url) => {
            let mail_tls = tls.map(|t| match t {
                SmtpTls::Starttls => vestnik_mail::TlsMode::StartTls,
                SmtpTls::Tls => vestnik_mail::TlsMode::Tls,
                SmtpTls::None => vestnik_mail::TlsMode::None,
            });
            let s = vestnik_mail::ProviderSettings::from_url(url, mail_tls, input.rate).map_err(
                |e| ApiError::invalid(vestnik_domain::ValidationError::new("url", e.to_string())),
            )?;
            NewProvider {
                name: input.name.clone(),
                host: s.host,
                port: s.port,
                tls: match s.tls {
                    vestnik_mail::TlsMode::StartTls => SmtpTls::Starttls,
                    vestnik_mail::TlsMode::Tls => SmtpTls::Tls,
                    vestnik_mail::TlsMode::None => SmtpTls::None,
                },
                username: s.username,
                password: s.password,
                rate_per_sec: input.rate,
                pool_size: input.pool_size.unwrap_or(s.pool_size),
            }
        }
        None => NewProvider {
            name: input.name.clone(),
            host: input.host.clone().unwrap_or_default(),
            port: input.port.unwrap_or(587),
            tls: tls.unwrap_or(SmtpTls::Starttls),
            username: input.username.clone(),
            password: input.password.clone(),
            rate_per_sec: input.rate,
            pool_size: input.pool_size.unwrap_or(8),
        },
    };
    provider.validate()?;
    Ok(provider)
}

/// The site's SMTP providers.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/providers",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = Vec<ProviderView>), (status = 401, body = ErrorBody))
)]
pub async fn list_providers(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<Vec<ProviderView>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let providers = state.store.providers(&site).await?;
    Ok(Json(providers.into_iter().map(provider_view).collect()))
}

/// Adds an SMTP provider, after logging in to it (unless `verify` is false).
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/providers",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body(content = ProviderInput, example = json!({
        "name": "main", "url": "smtp://news%40shop.ru:secret@smtp.shop.ru:587", "rate": 50
    })),
    responses(
        (status = 201, body = ProviderView),
        (status = 409, description = "A provider of that name exists", body = ErrorBody),
        (status = 422, description = "Bad settings, or the server refused the login", body = ErrorBody)
    )
)]
pub async fn create_provider(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(input): ApiJson<ProviderInput>,
) -> ApiResult<(StatusCode, Json<ProviderView>)> {
    let site = session.require(&site_id, Role::Editor)?;
    let new = provider_from_input(&input)?;
    if input.verify {
        vestnik_engine::campaign::verify_provider(&new)
            .await
            .map_err(ApiError::from)?;
    }
    let provider = state.store.create_provider(&site, &new).await?;
    Ok((StatusCode::CREATED, Json(provider_view(provider))))
}

/// Removes a provider no campaign uses.
#[utoipa::path(
    delete,
    path = "/admin/api/sites/{site_id}/providers/{id}",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    responses((status = 204), (status = 409, description = "Campaigns use it", body = ErrorBody))
)]
pub async fn delete_provider(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
) -> ApiResult<StatusCode> {
    let site = session.require(&site_id, Role::Editor)?;
    state.store.delete_provider(&site, ProviderId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderDomainInput {
    #[serde(default)]
    domain: String,
    /// Defaults to `vestnik`.
    selector: Option<String>,
    /// `ed25519` or `rsa2048` (default: RSA, which every receiver verifies; Ed25519 is faster
    /// but not yet checked everywhere).
    algorithm: Option<String>,
}

/// A sender domain and the DNS record that makes its DKIM signature verifiable.
#[derive(Serialize, ToSchema)]
pub struct SenderDomainView {
    domain: String,
    selector: String,
    algorithm: String,
    /// Publish a TXT record of this name…
    dns_name: String,
    /// …with this value.
    dns_value: String,
}

fn sender_domain_view(
    d: &vestnik_domain::campaign::SenderDomain,
) -> Result<SenderDomainView, ApiError> {
    let key = vestnik_engine::campaign::dkim_key(d).map_err(|e| {
        tracing::error!(domain = %d.domain, error = %e, "stored DKIM key unusable");
        ApiError::internal()
    })?;
    let (dns_name, dns_value) = key.dns_record();
    Ok(SenderDomainView {
        domain: d.domain.clone(),
        selector: d.selector.clone(),
        algorithm: d.algorithm.as_str().into(),
        dns_name,
        dns_value,
    })
}

/// The site's sender domains with their DNS records.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/sender-domains",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = Vec<SenderDomainView>))
)]
pub async fn list_sender_domains(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<Vec<SenderDomainView>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let domains = state.store.sender_domains(&site).await?;
    Ok(Json(
        domains
            .iter()
            .map(sender_domain_view)
            .collect::<Result<_, _>>()?,
    ))
}

/// Adds a sender domain with a new DKIM key; the answer says which DNS record to publish.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/sender-domains",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body(content = SenderDomainInput, example = json!({"domain": "shop.ru", "algorithm": "rsa2048"})),
    responses(
        (status = 201, body = SenderDomainView),
        (status = 409, description = "The domain is configured already", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
pub async fn create_sender_domain(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(input): ApiJson<SenderDomainInput>,
) -> ApiResult<(StatusCode, Json<SenderDomainView>)> {
    let site = session.require(&site_id, Role::Editor)?;
    let domain = parse_domain(&input.domain)?;
    let selector = parse_selector(input.selector.as_deref().unwrap_or("vestnik"))?;
    let algorithm = match input.algorithm.as_deref() {
        None => DkimAlgorithm::Rsa2048,
        Some(a) => DkimAlgorithm::parse(a).ok_or_else(|| {
            ApiError::invalid(vestnik_domain::ValidationError::new(
                "algorithm",
                format!("{a:?} is not a DKIM algorithm; use rsa2048 or ed25519"),
            ))
        })?,
    };
    let private_key = vestnik_engine::campaign::generate_dkim_key(algorithm, &domain, &selector)
        .map_err(|e| {
            tracing::error!(error = %e, "DKIM key generation failed");
            ApiError::internal()
        })?;
    let stored = state
        .store
        .create_sender_domain(&site, &domain, &selector, algorithm, &private_key)
        .await?;
    Ok((StatusCode::CREATED, Json(sender_domain_view(&stored)?)))
}

/// The site's campaigns, newest first.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/campaigns",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = Vec<Object>))
)]
pub async fn list_campaigns(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<Vec<Campaign>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    Ok(Json(state.store.campaigns(&site, 200).await?))
}

/// Creates a campaign from the seed's mailing form and schedules it (now when `send_at` is
/// empty). Everything a user can get wrong is refused here, before anything is sent: the
/// sender, the template (`exit()` is not allowed in a mailing), the provider's login, a time in
/// the past, recipients nobody among whom can receive email.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/campaigns",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body(content = Object, example = json!({
        "name": "Чёрная пятница", "template_id": 1, "subject": "{{ lead.name }}, скидки до 70%",
        "from_email": "news@shop.ru", "from_name": "Магазин", "recipients": {"list": "Newsletter"},
        "send_at": "", "segment_size": 10000, "interval_minutes": 30, "provider": "main",
        "disable_banner": true, "utm": {"source": "email", "medium": "newsletter", "campaign": "black-friday"}
    })),
    responses(
        (status = 201, body = Object, description = "`campaign`, `reachable`, `warnings`"),
        (status = 422, description = "Invalid form; the message says which field and why", body = ErrorBody)
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(input): ApiJson<serde_json::Value>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let site = session.require(&site_id, Role::Editor)?;
    let request: CampaignRequest = serde_json::from_value(input).map_err(|e| {
        ApiError::invalid(vestnik_domain::ValidationError::new(
            "body",
            format!("the campaign form is not valid: {e}"),
        ))
    })?;
    let created = create_campaign(&state.mail, &site, request).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// A campaign and its report: recipients, sent, deferred, failed/bounced, possibly
/// duplicated (after a crash), opened, clicked per link, unsubscribed, and rates.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/campaigns/{id}",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody))
)]
pub async fn report(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
) -> ApiResult<Json<CampaignReport>> {
    let site = session.require(&site_id, Role::Viewer)?;
    Ok(Json(
        campaign_report(&state.mail, &site, CampaignId(id)).await?,
    ))
}

macro_rules! campaign_action {
    ($name:ident, $path:literal, $doc:literal, $call:path) => {
        #[doc = $doc]
        #[utoipa::path(
                    post,
                    path = $path,
                    tag = "mailing",
                    security(("session" = [])),
                    params(("site_id" = String, Path), ("id" = i64, Path)),
                    responses((status = 200, body = Object), (status = 409, body = ErrorBody))
                )]
        pub async fn $name(
            State(state): State<AppState>,
            Path((site_id, id)): Path<(String, i64)>,
            session: AdminSession,
        ) -> ApiResult<Json<Campaign>> {
            let site = session.require(&site_id, Role::Editor)?;
            Ok(Json($call(&state.mail, &site, CampaignId(id)).await?))
        }
    };
}

campaign_action!(
    pause,
    "/admin/api/sites/{site_id}/campaigns/{id}/pause",
    "Stops sending after the messages in flight.",
    pause_campaign
);
campaign_action!(
    resume,
    "/admin/api/sites/{site_id}/campaigns/{id}/resume",
    "Continues a paused campaign where it stopped.",
    resume_campaign
);
campaign_action!(
    cancel,
    "/admin/api/sites/{site_id}/campaigns/{id}/cancel",
    "Stops the campaign for good; what was sent stays in the report.",
    cancel_campaign
);

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ResendInput {
    subject: Option<String>,
    send_at: Option<String>,
}

/// Creates a follow-up campaign to the recipients of a finished campaign who did not open it.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/campaigns/{id}/resend-non-openers",
    tag = "mailing",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    request_body(content = ResendInput, example = json!({"subject": "Напоминаем: скидки до 70%"})),
    responses((status = 201, body = Object), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn resend_non_openers(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let site = session.require(&site_id, Role::Editor)?;
    // The body is optional: an empty one keeps the original subject and sends now.
    let input: ResendInput = if body.iter().all(u8::is_ascii_whitespace) {
        ResendInput::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid(vestnik_domain::ValidationError::new(
                "body",
                format!("expected {{\"subject\": …, \"send_at\": …}}: {e}"),
            ))
        })?
    };
    let created = resend_to_non_openers(
        &state.mail,
        &site,
        CampaignId(id),
        input.subject,
        input.send_at,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}
