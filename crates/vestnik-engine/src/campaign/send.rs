//! The `campaign.send` job: snapshot the recipients, then claim, render, sign and send them in
//! chunks until nothing is due, and plan the next run.
//!
//! Exactly once: a chunk's rows are claimed under a lease (state `sending`) before anything is
//! rendered, and each outcome is written only while the lease is held. A process killed
//! mid-chunk leaves its rows `sending`; when the lease expires the next run claims them again
//! flagged "possibly duplicated" — the only recipients who can get two copies, and they are
//! counted in the report. Rows never claimed are never sent by a dead process.

use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use vestnik_domain::campaign::{
    Campaign, CampaignId, CampaignState, ClaimedDelivery, DeliveryResult, DeliveryState,
    Recipients, SnapshotSource, email_domain,
};
use vestnik_domain::segment::SegmentId;
use vestnik_domain::tracking::{LinkDecoration, MessageLinks};
use vestnik_domain::{Contact, ContactId, ContactState, Job, NewJob, SiteId, Timestamp};
use vestnik_mail::{DkimSigner, SendOutcome};
use vestnik_render::CompiledTemplate;

use super::MailContext;
use super::mailers::ProviderHandle;
use super::message::{Built, MessageBuilder};
use super::outcome::{OutcomeRecorder, is_hard_bounce, provider_failure};
use crate::render_data::{MessageLinks as TemplateLinks, StoreRenderData};
use crate::{JobError, JobHandler};

pub const CAMPAIGN_SEND_JOB: &str = "campaign.send";

/// Recipients examined per snapshot transaction.
const SNAPSHOT_PAGE: u32 = 2000;
/// Give up on a recipient whose server keeps deferring after this many attempts.
const MAX_ATTEMPTS: i64 = 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendPayload {
    pub site: SiteId,
    pub campaign: CampaignId,
}

/// A `campaign.send` job for `campaign`, due at `at`.
pub fn campaign_send_job(site: &SiteId, campaign: CampaignId, at: Timestamp) -> NewJob {
    let payload = SendPayload {
        site: site.clone(),
        campaign,
    };
    NewJob {
        kind: CAMPAIGN_SEND_JOB.to_string(),
        site_id: Some(site.clone()),
        payload: serde_json::to_value(&payload).unwrap_or_default(),
        run_at: at,
        max_attempts: 20,
    }
}

#[derive(Debug, Clone)]
pub struct SendConfig {
    /// Deliveries claimed at once; their outcomes are written in one statement.
    pub chunk: u32,
    /// How long a claim holds; a dead sender's rows come back after this.
    pub lease: Duration,
    /// Messages in flight at once per campaign (at least the provider's pool size).
    pub concurrency: usize,
    /// Consecutive provider failures (no SMTP answer at all, or a refused login) that pause
    /// the campaign as "provider down" instead of deferring every recipient.
    pub provider_down_after: u32,
    /// The first retry of a deferred message waits this long, each next one twice as long.
    pub retry_base: Duration,
}

impl Default for SendConfig {
    fn default() -> Self {
        SendConfig {
            chunk: 256,
            lease: Duration::from_secs(60),
            concurrency: 32,
            provider_down_after: 20,
            retry_base: Duration::from_secs(30),
        }
    }
}

pub struct CampaignSendJob {
    ctx: MailContext,
    config: SendConfig,
    /// Distinguishes this process's delivery leases from any other's.
    node: String,
}

impl CampaignSendJob {
    pub fn new(ctx: MailContext, config: SendConfig) -> Self {
        CampaignSendJob {
            ctx,
            config,
            node: vestnik_domain::site::random_token(8),
        }
    }
}

#[async_trait]
impl JobHandler for CampaignSendJob {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let payload: SendPayload = serde_json::from_value(job.payload.clone())
            .map_err(|e| JobError::Permanent(format!("bad campaign job payload: {e}")))?;
        let owner = format!("{}-{}-{}", self.node, job.id.0, job.attempts);
        Run {
            ctx: &self.ctx,
            config: &self.config,
            site: payload.site,
            campaign: payload.campaign,
            owner,
        }
        .run()
        .await
    }
}

/// One execution of the job for one campaign.
struct Run<'a> {
    ctx: &'a MailContext,
    config: &'a SendConfig,
    site: SiteId,
    campaign: CampaignId,
    owner: String,
}

/// Everything the per-message work shares within one run.
struct Prepared {
    campaign: Campaign,
    provider: Arc<ProviderHandle>,
    decoration: LinkDecoration,
    /// Shared by the build workers.
    builder: Arc<MessageBuilder>,
}

impl Run<'_> {
    async fn run(&self) -> Result<(), JobError> {
        let store = &self.ctx.store;
        let now = Timestamp::now();
        let campaign = store.get_campaign(&self.site, self.campaign).await?;
        match campaign.state {
            CampaignState::Scheduled => {
                let moved = store
                    .transition_campaign(
                        &self.site,
                        self.campaign,
                        &[CampaignState::Scheduled],
                        CampaignState::Sending,
                        None,
                        now,
                    )
                    .await?;
                if !moved {
                    return Ok(());
                }
            }
            CampaignState::Sending => {}
            // Paused, cancelled or finished since this job was planned: nothing to do.
            _ => return Ok(()),
        }
        self.snapshot(&campaign).await?;
        let campaign = store.get_campaign(&self.site, self.campaign).await?;
        let prepared = match self.prepare(campaign).await {
            Ok(p) => p,
            Err(reason) => {
                self.pause(&reason).await?;
                return Ok(());
            }
        };
        self.send_all(&prepared).await
    }

    async fn snapshot(&self, campaign: &Campaign) -> Result<(), JobError> {
        let store = &self.ctx.store;
        loop {
            let (cursor, complete) = store.snapshot_cursor(self.campaign).await?;
            if complete {
                return Ok(());
            }
            let source = match &campaign.recipients {
                Recipients::Address { email } => {
                    store
                        .snapshot_address(&self.site, self.campaign, email)
                        .await?;
                    continue;
                }
                Recipients::List { list_id } => SnapshotSource::List(*list_id),
                Recipients::All => SnapshotSource::All,
                Recipients::NonOpeners { campaign_id } => SnapshotSource::NonOpeners(*campaign_id),
                Recipients::Segment { segment_id } => {
                    // The segment's members as of now, page by page; the store skips ids at
                    // or below the cursor, so a resumed snapshot writes nobody twice.
                    let segment = store
                        .get_segment(&self.site, SegmentId(*segment_id))
                        .await?;
                    let members = store
                        .segment_members(
                            &self.site,
                            &segment.condition,
                            Timestamp::now(),
                            cursor,
                            SNAPSHOT_PAGE,
                        )
                        .await?;
                    let complete = members.len() < SNAPSHOT_PAGE as usize;
                    store
                        .snapshot_contacts(&self.site, self.campaign, &members, complete)
                        .await?;
                    continue;
                }
            };
            store
                .snapshot_next(&self.site, self.campaign, source, SNAPSHOT_PAGE)
                .await?;
        }
    }

    /// Compiles the template and opens the provider; a failure here pauses the campaign with
    /// a reason the marketer can act on.
    async fn prepare(&self, campaign: Campaign) -> Result<Prepared, String> {
        let store = &self.ctx.store;
        let stored = store
            .get_template(
                &self.site,
                campaign.template_id,
                Some(campaign.template_version),
            )
            .await
            .map_err(|e| format!("the template cannot be read: {e}"))?;
        let mut template = crate::render_template(&stored.content);
        template.subject = campaign.subject.clone();
        let template = CompiledTemplate::compile(&template)
            .map_err(|e| format!("the template does not compile: {e}"))?;
        let provider = store
            .get_provider(&self.site, campaign.provider_id)
            .await
            .map_err(|e| format!("the provider cannot be read: {e}"))?;
        let provider = self
            .ctx
            .mailers
            .get(&provider)
            .map_err(|e| format!("provider {}: {e}", provider.name))?;
        let domain = email_domain(&campaign.from_email).to_string();
        let signer = match store
            .find_sender_domain(&self.site, &domain)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(d) => {
                let key = super::mailers::dkim_key(&d)
                    .map_err(|e| format!("the DKIM key of {domain} is unusable: {e}"))?;
                Some(Arc::new(DkimSigner::new(&key).map_err(|e| {
                    format!("the DKIM key of {domain} is unusable: {e}")
                })?))
            }
            None => None,
        };
        let decoration = LinkDecoration {
            utm: campaign.utm.clone(),
            disable_banner: campaign.disable_banner,
        };
        let builder = Arc::new(MessageBuilder {
            template,
            key: self.ctx.tracking_key.clone(),
            base_url: self.ctx.public_url.clone(),
            site: self.site.clone(),
            campaign: self.campaign,
            from_email: campaign.from_email.clone(),
            from_name: campaign.from_name.clone(),
            decoration: decoration.clone(),
            signer,
        });
        Ok(Prepared {
            campaign,
            provider,
            decoration,
            builder,
        })
    }

    async fn pause(&self, reason: &str) -> Result<(), JobError> {
        tracing::warn!(campaign = %self.campaign, reason, "campaign paused");
        self.ctx
            .store
            .transition_campaign(
                &self.site,
                self.campaign,
                &[CampaignState::Sending],
                CampaignState::Paused,
                Some(reason),
                Timestamp::now(),
            )
            .await?;
        Ok(())
    }

    async fn send_all(&self, p: &Prepared) -> Result<(), JobError> {
        let store = &self.ctx.store;
        let concurrency = self.config.concurrency.max(p.provider.pool_size * 2);
        let mut connection_failures = 0u32;
        let mut last_note: Option<String> = None;
        loop {
            // A pause or cancel from the admin takes effect between chunks.
            let state = store.get_campaign(&self.site, self.campaign).await?.state;
            if state != CampaignState::Sending {
                return Ok(());
            }
            let now = Timestamp::now();
            let open_batch = open_batch(&p.campaign, now);
            // A chunk must be sent well within its lease, or another run could take its rows
            // back while they are still going out: at a slow rate, claim fewer at a time.
            let chunk = match p.provider.rate.current_rate() {
                Some(rate) => ((rate * self.config.lease.as_secs_f64() / 4.0) as u32)
                    .clamp(1, self.config.chunk),
                None => self.config.chunk,
            };
            let claimed = store
                .claim_deliveries(
                    self.campaign,
                    open_batch,
                    &self.owner,
                    now.plus(self.config.lease),
                    chunk,
                    now,
                )
                .await?;
            if claimed.is_empty() {
                return self.plan_next(p).await;
            }
            // Outcomes are written as they come, a few dozen at a time, by a task of their
            // own: after a crash only messages whose outcome was not yet written are sent
            // again, not the whole chunk. (Writing here instead would stop polling the sends,
            // some of which hold pooled connections mid-query: the write could then wait for
            // a connection forever.)
            let (results, recorder) = OutcomeRecorder::start(
                store.clone(),
                self.site.clone(),
                self.owner.clone(),
                claimed.len(),
            );
            let ids: Vec<ContactId> = claimed.iter().filter_map(|d| d.contact_id).collect();
            let mut recipients: HashMap<ContactId, (Contact, ContactState)> = store
                .recipients_data(&self.site, &ids)
                .await?
                .into_iter()
                .map(|(c, s)| (c.id, (c, s)))
                .collect();
            // Rendering, link signing, MIME and DKIM (RSA above all) are CPU work: one
            // blocking worker per core takes a share of the chunk and hands each message over
            // as soon as it is built, so sending starts at once and overlaps the building.
            let workers = self.ctx.workers.max(1);
            let mut shares: Vec<Vec<(ClaimedDelivery, StoreRenderData)>> =
                (0..workers).map(|_| Vec::new()).collect();
            let mut decided = Vec::new();
            for (i, d) in claimed.into_iter().enumerate() {
                let recipient = d.contact_id.map(|id| recipients.remove(&id));
                match self.render_input(p, &d, recipient) {
                    Ok(data) => shares[i % workers].push((d, data)),
                    Err(outcome) => decided.push(outcome),
                }
            }
            let (built_tx, mut built_rx) = tokio::sync::mpsc::channel(concurrency);
            for share in shares.into_iter().filter(|s| !s.is_empty()) {
                let tx = built_tx.clone();
                let builder = p.builder.clone();
                tokio::task::spawn_blocking(move || {
                    for (d, data) in share {
                        let built = builder.build(&d, data);
                        if tx.blocking_send((d, built)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(built_tx);
            let built = futures_util::stream::poll_fn(move |cx| built_rx.poll_recv(cx));
            let outcomes = futures_util::stream::iter(decided)
                .map(futures_util::future::Either::Left)
                .chain(built.map(|(d, b)| futures_util::future::Either::Right((d, b))))
                .map(|item| async move {
                    match item {
                        futures_util::future::Either::Left(outcome) => outcome,
                        futures_util::future::Either::Right((d, b)) => {
                            self.send_built(p, d, b).await
                        }
                    }
                })
                .buffer_unordered(concurrency);
            let mut outcomes = std::pin::pin!(outcomes);
            let mut last_reply = None;
            while let Some(result) = outcomes.next().await {
                if provider_failure(&result) {
                    connection_failures += 1;
                } else {
                    connection_failures = 0;
                }
                last_reply.clone_from(&result.reply);
                // The channel holds the whole chunk, so this never waits.
                let _ = results.send(result).await;
            }
            drop(results);
            recorder
                .await
                .map_err(|e| JobError::Retry(format!("the outcome writer stopped: {e}")))??;
            let note = p.provider.rate.reason();
            if note != last_note {
                store
                    .set_throttle_note(&self.site, self.campaign, note.as_deref())
                    .await?;
                last_note = note;
            }
            if connection_failures >= self.config.provider_down_after {
                let reason = format!(
                    "provider down: {}",
                    last_reply.unwrap_or_else(|| "no answer".into())
                );
                return self.pause(&reason).await;
            }
        }
    }

    /// Nothing is due now: finish the campaign, or enqueue the run that picks up the next
    /// batch or the earliest retry.
    async fn plan_next(&self, p: &Prepared) -> Result<(), JobError> {
        let store = &self.ctx.store;
        let counts = store.delivery_counts(self.campaign).await?;
        if counts.is_finished() {
            store
                .transition_campaign(
                    &self.site,
                    self.campaign,
                    &[CampaignState::Sending],
                    CampaignState::Done,
                    None,
                    Timestamp::now(),
                )
                .await?;
            return Ok(());
        }
        let (retry_at, next_batch) = store.next_delivery_work(self.campaign).await?;
        let batch_at = next_batch.map(|b| batch_start(&p.campaign, b));
        // Rows still `sending` under someone's lease (another node, or our own crash) come
        // back when the lease ends.
        let lease_end = (counts.sending > 0).then(|| Timestamp::now().plus(self.config.lease));
        let at = [retry_at, batch_at, lease_end]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Timestamp::now().plus(Duration::from_secs(1)));
        store
            .enqueue(&campaign_send_job(&self.site, self.campaign, at))
            .await?;
        Ok(())
    }

    /// Renders, signs and sends one recipient's message; never fails, it reports.
    /// The render input of one claimed recipient, or the outcome when there is nothing to
    /// render. `recipient` is `None` for a test send to an address, `Some(None)` for a
    /// contact erased since the snapshot.
    fn render_input(
        &self,
        p: &Prepared,
        d: &ClaimedDelivery,
        recipient: Option<Option<(Contact, ContactState)>>,
    ) -> Result<StoreRenderData, DeliveryResult> {
        let (contact, contact_state) = match recipient {
            None => (None, ContactState::default()),
            Some(None) => {
                return Err(DeliveryResult {
                    id: d.id,
                    state: DeliveryState::Skipped,
                    smtp_code: None,
                    reply: Some("the contact was erased".into()),
                    retry_at: None,
                    hard_bounce: false,
                });
            }
            Some(Some((contact, state))) => (Some(contact), state),
        };
        let links = MessageLinks::new(
            &self.ctx.tracking_key,
            &self.ctx.public_url,
            self.site.clone(),
            self.campaign.0,
            d.contact_id,
            &p.decoration,
        );
        Ok(StoreRenderData::with_state(
            self.ctx.store.clone(),
            self.site.clone(),
            contact,
            contact_state,
            format!("campaign:{}", self.campaign),
            TemplateLinks {
                webview_url: links.webview_url(),
                unsubscribe_url: links.unsubscribe_url(),
            },
        ))
    }

    /// Sends one built message and says what became of it; never fails, it reports.
    async fn send_built(&self, p: &Prepared, d: ClaimedDelivery, built: Built) -> DeliveryResult {
        let result = |state, code: Option<u16>, reply: String| DeliveryResult {
            id: d.id,
            state,
            smtp_code: code,
            reply: Some(reply),
            retry_at: None,
            hard_bounce: false,
        };
        let raw = match built {
            Built::Message(raw) => raw,
            Built::Skipped => {
                return result(
                    DeliveryState::Skipped,
                    None,
                    "skipped by the template".into(),
                );
            }
            Built::TemplateFailed(e) => {
                return result(DeliveryState::Failed, None, format!("template: {e}"));
            }
            Built::MessageFailed(e) => {
                return result(DeliveryState::Failed, None, format!("message: {e}"));
            }
        };
        p.provider.rate.acquire().await;
        let outcome = p
            .provider
            .pool
            .send_raw(p.campaign.from_email.as_str(), &d.email, &raw)
            .await;
        p.provider.rate.record(&outcome);
        match outcome {
            SendOutcome::Sent { reply } => result(DeliveryState::Sent, Some(250), reply),
            SendOutcome::Deferred { code, reply, .. } => self.defer(&d, code, reply),
            SendOutcome::Failed { code, reply } => DeliveryResult {
                hard_bounce: is_hard_bounce(code, &reply),
                ..result(DeliveryState::Failed, Some(code), reply)
            },
        }
    }

    /// A temporary failure: retried with exponential backoff, given up after MAX_ATTEMPTS.
    fn defer(&self, d: &ClaimedDelivery, code: Option<u16>, reply: String) -> DeliveryResult {
        if d.attempts >= MAX_ATTEMPTS {
            return DeliveryResult {
                id: d.id,
                state: DeliveryState::Failed,
                smtp_code: code,
                reply: Some(format!("gave up after {} attempts: {reply}", d.attempts)),
                retry_at: None,
                hard_bounce: false,
            };
        }
        let backoff = self.config.retry_base * (1u32 << d.attempts.clamp(0, 8));
        DeliveryResult {
            id: d.id,
            state: DeliveryState::Deferred,
            smtp_code: code,
            reply: Some(reply),
            retry_at: Some(Timestamp::now().plus(backoff)),
            hard_bounce: false,
        }
    }
}

/// The highest "segment size / interval" batch open at `now`.
fn open_batch(c: &Campaign, now: Timestamp) -> i64 {
    if c.interval_minutes == 0 {
        return i64::MAX;
    }
    let start = c.started_at.unwrap_or(c.send_at).millis();
    let interval = i64::from(c.interval_minutes) * 60_000;
    (now.millis() - start).max(0) / interval
}

fn batch_start(c: &Campaign, batch: i64) -> Timestamp {
    let start = c.started_at.unwrap_or(c.send_at).millis();
    Timestamp(start + batch * i64::from(c.interval_minutes) * 60_000)
}
