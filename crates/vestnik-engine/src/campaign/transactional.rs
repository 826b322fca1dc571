//! Single (transactional) messages: a template, one recipient and the sender's variables,
//! through the same pipeline as a campaign (render → MIME → DKIM → the provider's pool and
//! throttle), sent at once with the SMTP answer returned. Automation's "send email" action
//! and shop backends (order confirmations) use it.
//!
//! Unlike a campaign, `exit()` is allowed (it skips this message), and there is no open or
//! click tracking: there is no campaign to count them against. `{{ unsubscribe_url }}` works;
//! `{{ webview_url }}` is empty, since nothing is kept to show again.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use vestnik_domain::campaign::email_domain;
use vestnik_domain::template::TemplateId;
use vestnik_domain::tracking::{LinkDecoration, MessageLinks};
use vestnik_domain::{ContactState, Email, SiteId, StoreError, ValidationError};
use vestnik_mail::{DkimSigner, Mailbox, OutgoingMessage, SendOutcome, build_message};
use vestnik_render::{CompiledTemplate, RenderOptions, Rendered, Usage};

use super::{CampaignError, MailContext, ProviderRef};
use crate::render_data::{MessageLinks as TemplateLinks, StoreRenderData, render_for_contact};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionalRequest {
    pub template_id: i64,
    /// The recipient. When a contact of the site has this email, `{{ lead.* }}`, the cart and
    /// viewed items are theirs.
    pub to: String,
    pub from_email: String,
    #[serde(default)]
    pub from_name: String,
    /// Defaults to the template's subject.
    #[serde(default)]
    pub subject: Option<String>,
    /// Defaults to the site's only provider.
    #[serde(default)]
    pub provider: Option<ProviderRef>,
    /// `{{ vars.x }}` and `{{ x }}` in the template.
    #[serde(default)]
    pub variables: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum TransactionalOutcome {
    /// Accepted by the SMTP server.
    Sent { message_id: String, reply: String },
    /// A temporary refusal (4xx) or no answer; the caller may try again.
    Deferred {
        message_id: String,
        code: Option<u16>,
        reply: String,
    },
    /// A permanent refusal (5xx).
    Failed {
        message_id: String,
        code: u16,
        reply: String,
    },
    /// The template called `exit()` for this recipient.
    Skipped,
}

fn invalid(field: &str, message: impl Into<String>) -> CampaignError {
    CampaignError::Invalid(ValidationError::new(field, message))
}

pub async fn send_transactional(
    ctx: &MailContext,
    site: &SiteId,
    req: TransactionalRequest,
) -> Result<TransactionalOutcome, CampaignError> {
    let store = &ctx.store;
    let to = Email::parse(&req.to)
        .map_err(|_| invalid("to", format!("{:?} is not an email address", req.to)))?;
    let from = Email::parse(&req.from_email).map_err(|_| {
        invalid(
            "from_email",
            format!("{:?} is not an email address", req.from_email),
        )
    })?;
    let stored = store
        .get_template(site, TemplateId(req.template_id), None)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => invalid(
                "template_id",
                format!("there is no template {}", req.template_id),
            ),
            other => other.into(),
        })?;
    let mut template = crate::render_template(&stored.content);
    if let Some(subject) = req.subject.as_ref().filter(|s| !s.trim().is_empty()) {
        template.subject = subject.clone();
    }
    let report = vestnik_render::check(&template, Usage::Triggered);
    if !report.is_ok() {
        let errors: Vec<String> = report.errors.iter().map(|d| d.to_string()).collect();
        return Err(CampaignError::Template(format!(
            "template {:?} does not render: {}",
            stored.name,
            errors.join("; ")
        )));
    }
    let compiled =
        CompiledTemplate::compile(&template).map_err(|e| CampaignError::Template(e.to_string()))?;
    let provider = super::control::resolve_provider(ctx, site, req.provider.as_ref()).await?;
    let handle = ctx
        .mailers
        .get(&provider)
        .map_err(|e| CampaignError::Provider(format!("provider {:?}: {e}", provider.name)))?;
    let contact = store.find_contact(site, Some(&to), None).await?;
    let contact_id = contact.as_ref().map(|c| c.id);
    let state = match contact_id {
        Some(id) => store.contact_state(site, id).await?,
        None => ContactState::default(),
    };
    let decoration = LinkDecoration {
        utm: None,
        disable_banner: false,
    };
    let links = MessageLinks::new(
        &ctx.tracking_key,
        &ctx.public_url,
        site.clone(),
        0,
        contact_id,
        &decoration,
    );
    let unsubscribe = links.unsubscribe_url();
    let token = vestnik_domain::site::random_token(12);
    let data = StoreRenderData::with_state(
        store.clone(),
        site.clone(),
        contact,
        state,
        format!("message:{token}"),
        TemplateLinks {
            webview_url: String::new(),
            unsubscribe_url: unsubscribe.clone(),
        },
    )
    .with_variables(req.variables);
    let email = match render_for_contact(Arc::new(compiled), data, RenderOptions::default())
        .await
        .map_err(|e| CampaignError::Template(e.to_string()))?
    {
        Rendered::Email(email) => email,
        Rendered::Skipped { .. } => return Ok(TransactionalOutcome::Skipped),
    };
    let domain = email_domain(&from).to_string();
    let signer = match store.find_sender_domain(site, &domain).await? {
        Some(d) => Some(
            super::mailers::dkim_key(&d)
                .and_then(|key| DkimSigner::new(&key))
                .map_err(|e| {
                    CampaignError::Provider(format!("the DKIM key of {domain} is unusable: {e}"))
                })?,
        ),
        None => None,
    };
    let message_id = format!("t{token}.{site}@{domain}");
    let message = OutgoingMessage {
        from: Mailbox::new(
            (!req.from_name.trim().is_empty()).then(|| req.from_name.trim().to_string()),
            from.as_str(),
        ),
        to: Mailbox::address(to.as_str()),
        reply_to: None,
        subject: email.subject,
        html: email.html,
        text: email.text,
        message_id: message_id.clone(),
        list_unsubscribe_url: Some(unsubscribe),
        list_unsubscribe_mailto: None,
        feedback_id: Some(format!("t:{site}:transactional:vestnik")),
        campaign_header: None,
        date: std::time::SystemTime::now(),
    };
    let raw = tokio::task::spawn_blocking(move || {
        let raw = build_message(&message)?;
        match signer {
            Some(s) => s.sign(&raw),
            None => Ok(raw),
        }
    })
    .await
    .map_err(|e| CampaignError::Template(format!("building the message stopped: {e}")))?
    .map_err(|e| invalid("message", e.to_string()))?;
    handle.rate.acquire().await;
    let outcome = handle.pool.send_raw(from.as_str(), to.as_str(), &raw).await;
    handle.rate.record(&outcome);
    Ok(match outcome {
        SendOutcome::Sent { reply } => TransactionalOutcome::Sent { message_id, reply },
        SendOutcome::Deferred { code, reply, .. } => TransactionalOutcome::Deferred {
            message_id,
            code,
            reply,
        },
        SendOutcome::Failed { code, reply } => TransactionalOutcome::Failed {
            message_id,
            code,
            reply,
        },
    })
}
