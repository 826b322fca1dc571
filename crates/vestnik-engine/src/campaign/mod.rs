//! Mass mailings: creating a campaign from the seed's form (checked before anything is sent),
//! pausing, resuming and cancelling it, its report, and the job that sends it.
//!
//! A campaign's life: `create` validates everything a user can get wrong (sender, template
//! with `exit()`, provider login, schedule, an empty recipient set), stores the campaign as
//! `scheduled` and enqueues a `campaign.send` job at its send time. The job (see [`send`])
//! snapshots the recipients into delivery rows, then claims, renders, signs and sends them in
//! chunks, recording every SMTP answer. It reschedules itself for the next "segment size /
//! interval" batch and for deferred retries, and ends the campaign when nothing is left.

mod control;
mod mailers;
mod message;
mod outcome;
mod send;
mod transactional;
mod webview;

pub use control::{
    CampaignError, CampaignReport, CampaignRequest, Created, ProviderRef, Rates, RecipientsRequest,
    campaign_report, cancel_campaign, create_campaign, pause_campaign, resend_to_non_openers,
    resume_campaign,
};
pub use mailers::{Mailers, dkim_key, generate_dkim_key, verify_provider};
pub use message::{MessageParts, compose_message};
pub use send::{CAMPAIGN_SEND_JOB, CampaignSendJob, SendConfig, campaign_send_job};
pub use transactional::{TransactionalOutcome, TransactionalRequest, send_transactional};
pub use webview::{WebView, render_web_view};

use std::sync::Arc;
use vestnik_domain::Store;
use vestnik_domain::tracking::TrackingKey;

/// What sending needs besides the store: where tracking links point, the key that signs
/// them, and the node's SMTP pools.
#[derive(Clone)]
pub struct MailContext {
    pub store: Arc<dyn Store>,
    /// The server's public URL, e.g. `https://mail.shop.ru`; tracking and unsubscribe links
    /// are built on it.
    pub public_url: Arc<str>,
    pub tracking_key: Arc<TrackingKey>,
    pub mailers: Arc<Mailers>,
    /// Blocking workers that render and build a campaign chunk's messages (the core count).
    /// A task per message instead cost a thread hand-off each, and an unbounded number of
    /// threads, each with its own allocator cache: memory grew with concurrency for no speed.
    pub workers: usize,
}

impl MailContext {
    /// Loads the installation's tracking key from the store (every node gets the same one).
    pub async fn load(
        store: Arc<dyn Store>,
        public_url: &str,
    ) -> Result<Self, vestnik_domain::StoreError> {
        let secret = store
            .install_secret(vestnik_domain::tracking::TRACKING_SECRET)
            .await?;
        Ok(MailContext {
            store,
            public_url: public_url.trim_end_matches('/').into(),
            tracking_key: Arc::new(TrackingKey::new(secret.as_bytes())),
            mailers: Arc::new(Mailers::default()),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        })
    }
}
