//! Email templates in the admin API: create, save new versions, read any version, and
//! preview a template (saved or not) for a chosen contact or a sample one, without consuming
//! promo codes. Every save is checked first: syntax, unknown functions and broken MJML are
//! refused with their line and column; unknown MJML tags come back as warnings.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use vestnik_domain::template::{
    Template, TemplateContent, TemplateId, TemplateKind, TemplateVersionInfo, validate_name,
};
use vestnik_domain::{Email, Role, SiteId};
use vestnik_engine::RenderFailure;
use vestnik_render::{CompiledTemplate, Diagnostic, Rendered, Usage};

use crate::AppState;
use crate::auth::AdminSession;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

#[derive(Serialize, ToSchema)]
pub struct DiagnosticView {
    /// `subject` or `body`.
    part: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
}

fn diagnostic_view(d: &Diagnostic) -> DiagnosticView {
    DiagnosticView {
        part: d.part.to_string(),
        line: d.position.map(|p| p.line),
        column: d.position.map(|p| p.column),
        message: d.message.clone(),
    }
}

#[derive(Serialize, ToSchema)]
pub struct SavedTemplate {
    #[schema(value_type = Object)]
    template: Template,
    /// Things to fix that did not stop the save (unknown MJML tags, unknown variables…).
    warnings: Vec<DiagnosticView>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Required when creating; ignored when saving a new version.
    name: Option<String>,
    #[serde(default)]
    subject: String,
    /// Defaulted so that a request is authorised before its content is judged; an empty
    /// body is then refused with a message.
    #[serde(default)]
    body: String,
    /// `html` or `mjml`; by default MJML when the body starts with `<mjml`.
    #[schema(value_type = Option<String>)]
    kind: Option<TemplateKind>,
}

impl TemplateInput {
    fn content(&self) -> TemplateContent {
        TemplateContent {
            subject: self.subject.clone(),
            body: self.body.clone(),
            kind: self
                .kind
                .unwrap_or_else(|| TemplateKind::detect(&self.body)),
        }
    }
}

/// Size limits, then the renderer's check; the first error becomes a 422 naming its place.
fn check(content: &TemplateContent) -> ApiResult<Vec<DiagnosticView>> {
    content.validate()?;
    let report = vestnik_render::check(&vestnik_engine::render_template(content), Usage::Triggered);
    if let Some(first) = report.errors.first() {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "template_error",
            format!(
                "{}{}: {}",
                first.part,
                first.position.map(|p| format!(" {p}")).unwrap_or_default(),
                first.message
            ),
        );
        err.detail.field = Some(first.part.to_string());
        err.detail.line = first.position.map(|p| p.line);
        err.detail.column = first.position.map(|p| p.column);
        return Err(err);
    }
    let mut warnings: Vec<DiagnosticView> = report.warnings.iter().map(diagnostic_view).collect();
    if let Some((part, position)) = report.exit_at {
        // Saved templates serve both kinds of sends; say now what campaigns will refuse.
        warnings.push(DiagnosticView {
            part: part.to_string(),
            line: Some(position.line),
            column: Some(position.column),
            message: "exit() does not work in mass mailings: a campaign refuses this template;                       automation bundles use exit() to cancel one message"
                .to_string(),
        });
    }
    Ok(warnings)
}

/// The site's templates at their current versions.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/templates",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody))
)]
pub async fn list_templates(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
) -> ApiResult<Json<Vec<Template>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    Ok(Json(state.store.list_templates(&site).await?))
}

/// Creates a template (version 1) after checking it.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/templates",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path)),
    request_body(content = TemplateInput, example = json!({
        "name": "Брошенная корзина",
        "subject": "{{ lead.name }}, вы забыли товары в корзине",
        "body": "<mjml><mj-body><mj-section>{% for item in get_cart_items() [0:2] %}<mj-column><mj-image src=\"{{item.picture}}\" /><mj-text>{{item.name}}</mj-text><mj-button href=\"{{item.url}}\">Купить</mj-button></mj-column>{% endfor %}</mj-section></mj-body></mjml>"
    })),
    responses(
        (status = 201, body = SavedTemplate),
        (status = 409, description = "A template of that name exists", body = ErrorBody),
        (status = 422, description = "The template does not render: `error.line`/`column` say where", body = ErrorBody)
    )
)]
pub async fn create_template(
    State(state): State<AppState>,
    Path(site_id): Path<String>,
    session: AdminSession,
    ApiJson(input): ApiJson<TemplateInput>,
) -> ApiResult<(StatusCode, Json<SavedTemplate>)> {
    let site = session.require(&site_id, Role::Editor)?;
    let name = input.name.clone().unwrap_or_default();
    validate_name(&name)?;
    let content = input.content();
    let warnings = check(&content)?;
    let template = state
        .store
        .create_template(&site, &name, &content, session.user.email.as_str())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SavedTemplate { template, warnings }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct VersionQuery {
    /// A past version; the current one by default.
    version: Option<i64>,
}

/// A template at its current version, or at `?version=N`.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/templates/{id}",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path), VersionQuery),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody))
)]
pub async fn get_template(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    Query(query): Query<VersionQuery>,
    session: AdminSession,
) -> ApiResult<Json<Template>> {
    let site = session.require(&site_id, Role::Viewer)?;
    Ok(Json(
        state
            .store
            .get_template(&site, TemplateId(id), query.version)
            .await?,
    ))
}

/// Saves a new version (after checking it) and makes it current.
#[utoipa::path(
    put,
    path = "/admin/api/sites/{site_id}/templates/{id}",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    request_body = TemplateInput,
    responses(
        (status = 200, body = SavedTemplate),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
pub async fn save_template(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
    ApiJson(input): ApiJson<TemplateInput>,
) -> ApiResult<Json<SavedTemplate>> {
    let site = session.require(&site_id, Role::Editor)?;
    let content = input.content();
    let warnings = check(&content)?;
    let template = state
        .store
        .save_template_version(&site, TemplateId(id), &content, session.user.email.as_str())
        .await?;
    Ok(Json(SavedTemplate { template, warnings }))
}

/// A template's versions, newest first.
#[utoipa::path(
    get,
    path = "/admin/api/sites/{site_id}/templates/{id}/versions",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    responses((status = 200, body = Vec<Object>), (status = 404, body = ErrorBody))
)]
pub async fn template_versions(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
) -> ApiResult<Json<Vec<TemplateVersionInfo>>> {
    let site = session.require(&site_id, Role::Viewer)?;
    Ok(Json(
        state.store.template_versions(&site, TemplateId(id)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The contact to render for, by email; a made-up sample contact when absent.
    email: Option<String>,
    /// A past version of a saved template.
    version: Option<i64>,
    /// For previewing unsaved edits: the template to render instead of a saved one.
    subject: Option<String>,
    body: Option<String>,
    #[schema(value_type = Option<String>)]
    kind: Option<TemplateKind>,
}

#[derive(Serialize, ToSchema)]
pub struct PreviewView {
    /// True when the template called `exit()` for this contact: no message would be sent.
    skipped: bool,
    subject: Option<String>,
    html: Option<String>,
    text: Option<String>,
    warnings: Vec<String>,
}

async fn preview(
    state: &AppState,
    site: &SiteId,
    content: &TemplateContent,
    email: Option<&str>,
) -> ApiResult<PreviewView> {
    content.validate()?;
    let compiled = CompiledTemplate::compile(&vestnik_engine::render_template(content))
        .map_err(render_error)?;
    let contact = match email {
        Some(raw) => {
            let email = Email::parse(raw)?;
            Some(
                state
                    .store
                    .find_contact(site, Some(&email), None)
                    .await?
                    .ok_or_else(|| {
                        ApiError::not_found(format!("no contact with email {email} in this site"))
                    })?,
            )
        }
        None => None,
    };
    let rendered = vestnik_engine::render_preview(
        state.store.clone(),
        site.clone(),
        Arc::new(compiled),
        contact,
    )
    .await
    .map_err(|e| match e {
        RenderFailure::Template(e) => render_error(e),
        RenderFailure::Store(e) => e.into(),
        RenderFailure::Crashed(m) => {
            tracing::error!(error = %m, "a preview render crashed");
            ApiError::internal()
        }
    })?;
    Ok(match rendered {
        Rendered::Email(m) => PreviewView {
            skipped: false,
            subject: Some(m.subject),
            html: Some(m.html),
            text: Some(m.text),
            warnings: m.warnings,
        },
        Rendered::Skipped { .. } => PreviewView {
            skipped: true,
            subject: None,
            html: None,
            text: None,
            warnings: Vec::new(),
        },
    })
}

fn render_error(e: vestnik_render::RenderError) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "template_error",
        e.to_string(),
    );
    if let Some(at) = e.location() {
        err.detail.field = Some(at.part.to_string());
        err.detail.line = at.position.map(|p| p.line);
        err.detail.column = at.position.map(|p| p.column);
    }
    err
}

/// Renders a saved template (or the unsaved `subject`/`body` given) for a contact or a
/// sample one: subject, HTML, text and warnings. Promo codes are shown, not handed out.
#[utoipa::path(
    post,
    path = "/admin/api/sites/{site_id}/templates/{id}/preview",
    tag = "admin",
    security(("session" = [])),
    params(("site_id" = String, Path), ("id" = i64, Path)),
    request_body = PreviewInput,
    responses(
        (status = 200, body = PreviewView),
        (status = 404, description = "No such template or contact", body = ErrorBody),
        (status = 422, description = "The template fails for this contact; `error.line` says where", body = ErrorBody)
    )
)]
pub async fn preview_template(
    State(state): State<AppState>,
    Path((site_id, id)): Path<(String, i64)>,
    session: AdminSession,
    ApiJson(input): ApiJson<PreviewInput>,
) -> ApiResult<Json<PreviewView>> {
    let site = session.require(&site_id, Role::Viewer)?;
    let saved = state
        .store
        .get_template(&site, TemplateId(id), input.version)
        .await?;
    let content = match input.body {
        Some(body) => TemplateContent {
            subject: input.subject.unwrap_or(saved.content.subject),
            kind: input.kind.unwrap_or_else(|| TemplateKind::detect(&body)),
            body,
        },
        None => saved.content,
    };
    Ok(Json(
        preview(&state, &site, &content, input.email.as_deref()).await?,
    ))
}
