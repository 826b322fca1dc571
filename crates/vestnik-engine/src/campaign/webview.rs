//! The web view (`{{ webview_url }}`): a campaign's message rendered again for its recipient
//! and shown in a browser. Rendering again, rather than storing every sent message, keeps the
//! database small; promo codes come out the same because a contact's code for a campaign is
//! claimed once (see `PromoStore::claim_promo_code`).

use std::sync::Arc;
use vestnik_domain::campaign::CampaignId;
use vestnik_domain::tracking::{LinkDecoration, MessageLinks};
use vestnik_domain::{ContactId, SiteId, StoreError};
use vestnik_render::{CompiledTemplate, RenderOptions, Rendered};

use super::{CampaignError, MailContext};
use crate::render_data::{MessageLinks as TemplateLinks, StoreRenderData, render_for_contact};

/// What the browser gets.
pub enum WebView {
    Html(String),
    /// The template skipped this recipient (`exit()`), so there is no message to show.
    NoMessage,
}

/// Renders campaign `campaign` for `contact` (`None`: the recipient of a test send) with its
/// tracked links, as the recipient received it.
pub async fn render_web_view(
    ctx: &MailContext,
    site: &SiteId,
    campaign: CampaignId,
    contact: Option<ContactId>,
) -> Result<WebView, CampaignError> {
    let store = &ctx.store;
    let c = store.get_campaign(site, campaign).await?;
    let stored = store
        .get_template(site, c.template_id, Some(c.template_version))
        .await?;
    let mut template = crate::render_template(&stored.content);
    template.subject = c.subject.clone();
    let template =
        CompiledTemplate::compile(&template).map_err(|e| CampaignError::Template(e.to_string()))?;
    let contact = match contact {
        Some(id) => match store.get_contact(site, id).await {
            Ok(c) => Some(c),
            // Erased since: nothing personal may be shown any more.
            Err(StoreError::NotFound(_)) => return Ok(WebView::NoMessage),
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let decoration = LinkDecoration {
        utm: c.utm.clone(),
        disable_banner: c.disable_banner,
    };
    let links = MessageLinks::new(
        &ctx.tracking_key,
        &ctx.public_url,
        site.clone(),
        campaign.0,
        contact.as_ref().map(|c| c.id),
        &decoration,
    );
    let unsubscribe = links.unsubscribe_url();
    let webview = links.webview_url();
    let data = StoreRenderData::load(
        store.clone(),
        site.clone(),
        contact,
        format!("campaign:{campaign}"),
        TemplateLinks {
            webview_url: webview,
            unsubscribe_url: unsubscribe,
        },
    )
    .await?;
    // A test send has no contact to tie a promo code to: show, do not hand out.
    let options = RenderOptions {
        preview: data.contact_id().is_none(),
    };
    let rendered = render_for_contact(Arc::new(template), data, options)
        .await
        .map_err(|e| CampaignError::Template(e.to_string()))?;
    let Rendered::Email(email) = rendered else {
        return Ok(WebView::NoMessage);
    };
    Ok(WebView::Html(super::message::track_links(
        &email.html,
        &links,
        false,
    )))
}
