//! One rendered email turned into the bytes that go to the SMTP server: tracked links, the
//! open pixel, the unsubscribe headers, a deterministic `Message-ID`, and the DKIM signature.
//! Pure CPU work; the sender runs it on a blocking thread.

use std::sync::Arc;
use vestnik_domain::SiteId;
use vestnik_domain::campaign::{CampaignId, ClaimedDelivery, email_domain};
use vestnik_domain::tracking::{LinkDecoration, MessageLinks, TrackingKey};
use vestnik_domain::{ContactId, Email};
use vestnik_mail::{DkimSigner, MailError, Mailbox, OutgoingMessage, build_message};
use vestnik_render::{CompiledTemplate, RenderOptions, Rendered, RenderedEmail};

use crate::render_data::{StoreRenderData, render_blocking};

/// One campaign message after the CPU work.
pub enum Built {
    Message(Vec<u8>),
    /// The template called `exit()`.
    Skipped,
    TemplateFailed(String),
    MessageFailed(String),
}

/// What every message of one campaign run shares; the build workers hold it in an `Arc`.
pub struct MessageBuilder {
    pub template: CompiledTemplate,
    pub key: Arc<TrackingKey>,
    pub base_url: Arc<str>,
    pub site: SiteId,
    pub campaign: CampaignId,
    pub from_email: Email,
    pub from_name: String,
    pub decoration: LinkDecoration,
    pub signer: Option<Arc<DkimSigner>>,
}

impl MessageBuilder {
    /// Renders and builds one recipient's message. Blocking: run it on the blocking pool.
    pub fn build(&self, d: &ClaimedDelivery, data: StoreRenderData) -> Built {
        let email = match render_blocking(&self.template, data, RenderOptions::default()) {
            Ok(Rendered::Email(email)) => email,
            Ok(Rendered::Skipped { .. }) => return Built::Skipped,
            Err(e) => return Built::TemplateFailed(e.to_string()),
        };
        let links = MessageLinks::new(
            &self.key,
            &self.base_url,
            self.site.clone(),
            self.campaign.0,
            d.contact_id,
            &self.decoration,
        );
        let parts = MessageParts {
            site: &self.site,
            campaign: self.campaign,
            contact: d.contact_id,
            delivery: d.id.0,
            from_email: &self.from_email,
            from_name: &self.from_name,
            to: &d.email,
            links: &links,
            signer: self.signer.as_deref(),
        };
        match compose_message(email, &parts) {
            Ok(raw) => Built::Message(raw),
            Err(e) => Built::MessageFailed(e.to_string()),
        }
    }
}

/// The parts of a campaign message that do not come from the template.
pub struct MessageParts<'a> {
    pub site: &'a SiteId,
    pub campaign: CampaignId,
    pub contact: Option<ContactId>,
    /// Identifies a recipient without a contact (a test send) in the `Message-ID`.
    pub delivery: i64,
    pub from_email: &'a Email,
    pub from_name: &'a str,
    pub to: &'a str,
    pub links: &'a MessageLinks<'a>,
    pub signer: Option<&'a DkimSigner>,
}

/// `<c{campaign}.r{contact}.{site}@{sender domain}>`: the same for every attempt, so a resend
/// after a crash is recognisably the same message (receivers and their filters de-duplicate).
pub fn message_id(parts: &MessageParts<'_>) -> String {
    let recipient = match parts.contact {
        Some(c) => format!("r{c}"),
        None => format!("d{}", parts.delivery),
    };
    format!(
        "c{}.{recipient}.{}@{}",
        parts.campaign,
        parts.site,
        email_domain(parts.from_email)
    )
}

/// Routes every http(s) link of `html` through a signed click redirect, except the message's
/// own unsubscribe and web-view links; with `open_pixel`, adds the open pixel.
pub fn track_links(html: &str, links: &MessageLinks<'_>, open_pixel: bool) -> String {
    let unsubscribe = links.unsubscribe_url();
    let webview = links.webview_url();
    let own = vestnik_render::OwnLinks {
        unsubscribe: Some(&unsubscribe),
        webview: Some(&webview),
    };
    let pixel = open_pixel.then(|| links.open_url());
    vestnik_render::rewrite_links(html, pixel.as_deref(), |url| {
        (!own.contains(url)).then(|| links.click_url(url))
    })
}

/// Builds (and signs, when the sender domain has a key) the message for one recipient.
pub fn compose_message(
    email: RenderedEmail,
    parts: &MessageParts<'_>,
) -> Result<Vec<u8>, MailError> {
    let unsubscribe = parts.links.unsubscribe_url();
    let html = track_links(&email.html, parts.links, true);
    let message = OutgoingMessage {
        from: Mailbox::new(
            (!parts.from_name.is_empty()).then_some(parts.from_name),
            parts.from_email.as_str(),
        ),
        to: Mailbox::address(parts.to),
        reply_to: None,
        subject: email.subject,
        html,
        text: email.text,
        message_id: message_id(parts),
        list_unsubscribe_url: Some(unsubscribe.clone()),
        list_unsubscribe_mailto: Some(format!("mailto:{}?subject=unsubscribe", parts.from_email)),
        feedback_id: Some(format!(
            "c{}:{}:campaign:vestnik",
            parts.campaign, parts.site
        )),
        campaign_header: Some(parts.campaign.to_string()),
        date: std::time::SystemTime::now(),
    };
    let raw = build_message(&message)?;
    match parts.signer {
        Some(signer) => signer.sign(&raw),
        None => Ok(raw),
    }
}
