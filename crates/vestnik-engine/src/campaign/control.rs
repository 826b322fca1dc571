//! Creating a campaign (every check a user can fail, before anything is sent), pausing,
//! resuming and cancelling it, its report, and "resend to non-openers".

use serde::{Deserialize, Serialize};
use vestnik_domain::campaign::{
    Campaign, CampaignId, CampaignState, DEFAULT_SEGMENT_SIZE, DeliveryCounts, Engagement,
    NewCampaign, ProviderId, Recipients, SmtpProvider, SnapshotSource, UtmTags, email_domain,
};
use vestnik_domain::template::TemplateId;
use vestnik_domain::{Email, ListId, SiteId, StoreError, Timestamp, ValidationError};
use vestnik_render::Usage;

use super::MailContext;
use super::send::campaign_send_job;

/// How far in the past a send time may be (clock skew between the browser and the server).
const SCHEDULE_SLACK_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The template cannot be used for a mailing (syntax, `exit()`); the message says where.
    #[error("{0}")]
    Template(String),
    /// The provider could not be reached or refused the login.
    #[error("{0}")]
    Provider(String),
    /// The action does not fit the campaign's state (resume a finished campaign…).
    #[error("{0}")]
    State(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A provider by id or by name.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ProviderRef {
    Id(i64),
    Name(String),
}

/// Exactly one of these says who receives the campaign.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RecipientsRequest {
    /// One address: a test send.
    #[serde(default)]
    pub to: Option<String>,
    /// A list by name or id.
    #[serde(default)]
    pub list: Option<serde_json::Value>,
    #[serde(default)]
    pub segment_id: Option<i64>,
    /// "All contacts".
    #[serde(default)]
    pub all: bool,
}

/// The seed's mailing form.
#[derive(Debug, Clone, Deserialize)]
pub struct CampaignRequest {
    /// Defaults to the subject.
    #[serde(default)]
    pub name: Option<String>,
    pub template_id: i64,
    /// Defaults to the template's subject. May use Jinja (`{{ lead.name }}`).
    #[serde(default)]
    pub subject: Option<String>,
    pub from_email: String,
    #[serde(default)]
    pub from_name: String,
    pub recipients: RecipientsRequest,
    /// RFC 3339; empty = now.
    #[serde(default)]
    pub send_at: Option<String>,
    #[serde(default)]
    pub segment_size: Option<u32>,
    #[serde(default)]
    pub interval_minutes: Option<u32>,
    /// Defaults to the site's only provider.
    #[serde(default)]
    pub provider: Option<ProviderRef>,
    #[serde(default)]
    pub disable_banner: bool,
    #[serde(default)]
    pub utm: Option<UtmTags>,
    /// Save without scheduling.
    #[serde(default)]
    pub draft: bool,
}

/// A created campaign and what the marketer should know about it.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub campaign: Campaign,
    /// Recipients reachable at creation (the snapshot at send time may differ).
    pub reachable: i64,
    pub warnings: Vec<String>,
}

fn invalid(field: &str, message: impl Into<String>) -> CampaignError {
    CampaignError::Invalid(ValidationError::new(field, message))
}

/// Validates the form, checks the provider's login, stores the campaign and schedules it.
pub async fn create_campaign(
    ctx: &MailContext,
    site: &SiteId,
    req: CampaignRequest,
) -> Result<Created, CampaignError> {
    let recipients = resolve_recipients(ctx, site, &req.recipients).await?;
    create_resolved(ctx, site, req, recipients).await
}

async fn create_resolved(
    ctx: &MailContext,
    site: &SiteId,
    req: CampaignRequest,
    recipients: Recipients,
) -> Result<Created, CampaignError> {
    let store = &ctx.store;
    let from_email = Email::parse(&req.from_email).map_err(|_| {
        invalid(
            "from_email",
            format!("{:?} is not an email address", req.from_email),
        )
    })?;
    let now = Timestamp::now();
    let send_at = match req.send_at.as_deref().map(str::trim) {
        None | Some("") => now,
        Some(text) => {
            let at = Timestamp::parse_rfc3339(text).ok_or_else(|| {
                invalid(
                    "send_at",
                    format!("{text:?} is not a time; use RFC 3339, e.g. 2026-12-01T10:00:00+03:00"),
                )
            })?;
            if at.millis() < now.millis() - SCHEDULE_SLACK_MS {
                return Err(invalid(
                    "send_at",
                    format!("{text} is in the past; leave it empty to send now"),
                ));
            }
            at
        }
    };
    let template_id = req.template_id;
    let template = store
        .get_template(site, TemplateId(template_id), None)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => {
                invalid("template_id", format!("there is no template {template_id}"))
            }
            other => other.into(),
        })?;
    let subject = req
        .subject
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| template.content.subject.clone());
    let mut render_template = crate::render_template(&template.content);
    render_template.subject = subject.clone();
    let report = vestnik_render::check(&render_template, Usage::MassMailing);
    if !report.is_ok() {
        let errors: Vec<String> = report.errors.iter().map(|d| d.to_string()).collect();
        return Err(CampaignError::Template(format!(
            "template {:?} cannot be sent as a mailing: {}",
            template.name,
            errors.join("; ")
        )));
    }
    let provider = resolve_provider(ctx, site, req.provider.as_ref()).await?;
    let reachable = match &recipients {
        Recipients::Address { .. } => 1,
        Recipients::List { list_id } => {
            store
                .count_reachable(site, SnapshotSource::List(*list_id))
                .await?
        }
        Recipients::All => store.count_reachable(site, SnapshotSource::All).await?,
        Recipients::NonOpeners { campaign_id } => {
            store
                .count_reachable(site, SnapshotSource::NonOpeners(*campaign_id))
                .await?
        }
        Recipients::Segment { segment_id } => {
            let segment = store
                .get_segment(site, vestnik_domain::segment::SegmentId(*segment_id))
                .await?;
            // Members with a subscribed email are what will be sent to; the segment's own
            // count includes the rest.
            use vestnik_domain::segment::{Condition, ContactField, FieldTest, TextTest};
            let reachable = Condition::All(vec![
                segment.condition,
                Condition::Field {
                    field: ContactField::Email,
                    test: FieldTest::Text(TextTest::NotEmpty),
                },
                Condition::Field {
                    field: ContactField::EmailSubscription,
                    test: FieldTest::Text(TextTest::Eq("subscribed".into())),
                },
            ]);
            store.count_segment(site, &reachable, now).await?
        }
    };
    if reachable == 0 {
        let message = match &recipients {
            Recipients::NonOpeners { campaign_id } => format!(
                "everyone who received campaign {campaign_id} opened it or cannot be reached now"
            ),
            _ => "nobody would receive this campaign: the recipients have no subscribed contact with an email".into(),
        };
        return Err(invalid("recipients", message));
    }
    let mut warnings = Vec::new();
    let domain = email_domain(&from_email).to_string();
    if store.find_sender_domain(site, &domain).await?.is_none() {
        warnings.push(format!(
            "{domain} is not a configured sender domain: messages go out without a DKIM signature and \
             may land in spam. Add the domain under sender domains and publish its DNS record."
        ));
    }
    if !req.draft {
        let pool = vestnik_mail::SmtpPool::new(&super::mailers::provider_settings(&provider))
            .map_err(|e| CampaignError::Provider(format!("provider {:?}: {e}", provider.name)))?;
        pool.verify()
            .await
            .map_err(|e| CampaignError::Provider(format!("provider {:?}: {e}", provider.name)))?;
    }
    let new = NewCampaign {
        name: req
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| subject.chars().take(200).collect()),
        template_id: template.id,
        template_version: template.version,
        subject,
        from_email,
        from_name: req.from_name.trim().to_string(),
        recipients,
        provider_id: provider.id,
        send_at,
        segment_size: req.segment_size.unwrap_or(DEFAULT_SEGMENT_SIZE),
        interval_minutes: req.interval_minutes.unwrap_or(0),
        disable_banner: req.disable_banner,
        utm: req.utm.clone(),
        state: if req.draft {
            CampaignState::Draft
        } else {
            CampaignState::Scheduled
        },
    };
    new.validate()?;
    let campaign = store.create_campaign(site, &new).await?;
    if !req.draft {
        store
            .enqueue(&campaign_send_job(site, campaign.id, send_at))
            .await?;
    }
    Ok(Created {
        campaign,
        reachable,
        warnings,
    })
}

pub(super) async fn resolve_provider(
    ctx: &MailContext,
    site: &SiteId,
    wanted: Option<&ProviderRef>,
) -> Result<SmtpProvider, CampaignError> {
    let store = &ctx.store;
    match wanted {
        Some(ProviderRef::Id(id)) => store
            .get_provider(site, ProviderId(*id))
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => {
                    invalid("provider", format!("there is no provider {id}"))
                }
                other => other.into(),
            }),
        Some(ProviderRef::Name(name)) => store
            .find_provider(site, name)
            .await?
            .ok_or_else(|| invalid("provider", format!("there is no provider named {name:?}"))),
        None => {
            let mut all = store.providers(site).await?;
            match all.len() {
                0 => Err(invalid(
                    "provider",
                    "the site has no SMTP provider yet; add one first",
                )),
                1 => Ok(all.remove(0)),
                _ => Err(invalid(
                    "provider",
                    "the site has several providers; say which one to use",
                )),
            }
        }
    }
}

async fn resolve_recipients(
    ctx: &MailContext,
    site: &SiteId,
    r: &RecipientsRequest,
) -> Result<Recipients, CampaignError> {
    let given = usize::from(r.to.is_some())
        + usize::from(r.list.is_some())
        + usize::from(r.segment_id.is_some())
        + usize::from(r.all);
    if given != 1 {
        return Err(invalid(
            "recipients",
            "give exactly one of: to (a single address), list, segment_id, all",
        ));
    }
    if let Some(to) = &r.to {
        let email = Email::parse(to)
            .map_err(|_| invalid("recipients.to", format!("{to:?} is not an email address")))?;
        return Ok(Recipients::Address { email });
    }
    if let Some(list) = &r.list {
        let found = match list {
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(id) => ctx.store.get_list(site, ListId(id)).await.ok(),
                None => None,
            },
            serde_json::Value::String(name) => ctx.store.find_list(site, name).await?,
            _ => None,
        };
        let list =
            found.ok_or_else(|| invalid("recipients.list", format!("there is no list {list}")))?;
        return Ok(Recipients::List { list_id: list.id });
    }
    if let Some(segment_id) = r.segment_id {
        match ctx
            .store
            .get_segment(site, vestnik_domain::segment::SegmentId(segment_id))
            .await
        {
            Ok(_) => return Ok(Recipients::Segment { segment_id }),
            Err(StoreError::NotFound(_)) => {
                return Err(invalid(
                    "recipients.segment_id",
                    format!("there is no segment {segment_id}"),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Recipients::All)
}

/// Stops sending after the chunk in flight; `resume_campaign` continues where it stopped.
pub async fn pause_campaign(
    ctx: &MailContext,
    site: &SiteId,
    id: CampaignId,
) -> Result<Campaign, CampaignError> {
    use CampaignState::*;
    stop_campaign(ctx, site, id, &[Scheduled, Sending], Paused, "paused").await
}

/// Moves the campaign from one of `from` to `to` on a user's request; already being in `to`
/// is fine (a repeated click), any other state is a `State` error naming it.
async fn stop_campaign(
    ctx: &MailContext,
    site: &SiteId,
    id: CampaignId,
    from: &[CampaignState],
    to: CampaignState,
    verb: &str,
) -> Result<Campaign, CampaignError> {
    let reason = format!("{verb} by a user");
    let moved = ctx
        .store
        .transition_campaign(site, id, from, to, Some(&reason), Timestamp::now())
        .await?;
    let campaign = ctx.store.get_campaign(site, id).await?;
    if !moved && campaign.state != to {
        return Err(CampaignError::State(format!(
            "campaign {id} is {} and cannot be {verb}",
            campaign.state.as_str()
        )));
    }
    Ok(campaign)
}

pub async fn resume_campaign(
    ctx: &MailContext,
    site: &SiteId,
    id: CampaignId,
) -> Result<Campaign, CampaignError> {
    let campaign = ctx.store.get_campaign(site, id).await?;
    let to = match campaign.state {
        CampaignState::Paused if campaign.started_at.is_some() => CampaignState::Sending,
        CampaignState::Paused | CampaignState::Draft => CampaignState::Scheduled,
        CampaignState::Sending | CampaignState::Scheduled => return Ok(campaign),
        state => {
            return Err(CampaignError::State(format!(
                "campaign {id} is {} and cannot be resumed",
                state.as_str()
            )));
        }
    };
    let now = Timestamp::now();
    if ctx
        .store
        .transition_campaign(site, id, &[campaign.state], to, None, now)
        .await?
    {
        let at = if to == CampaignState::Scheduled {
            campaign.send_at.max(now)
        } else {
            now
        };
        ctx.store.enqueue(&campaign_send_job(site, id, at)).await?;
    }
    Ok(ctx.store.get_campaign(site, id).await?)
}

/// Nothing more is sent; what was sent stays in the report.
pub async fn cancel_campaign(
    ctx: &MailContext,
    site: &SiteId,
    id: CampaignId,
) -> Result<Campaign, CampaignError> {
    use CampaignState::*;
    let open = [Draft, Scheduled, Sending, Paused];
    stop_campaign(ctx, site, id, &open, Cancelled, "cancelled").await
}

/// Shares of the messages sent, in percent with one decimal.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Rates {
    pub delivered: f64,
    pub bounced: f64,
    pub opened: f64,
    pub clicked: f64,
    /// Clicks among those who opened.
    pub click_to_open: f64,
    pub unsubscribed: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignReport {
    pub campaign: Campaign,
    pub recipients: i64,
    pub deliveries: DeliveryCounts,
    pub engagement: Engagement,
    pub rates: Rates,
}

fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

pub async fn campaign_report(
    ctx: &MailContext,
    site: &SiteId,
    id: CampaignId,
) -> Result<CampaignReport, CampaignError> {
    let campaign = ctx.store.get_campaign(site, id).await?;
    let deliveries = ctx.store.delivery_counts(id).await?;
    let engagement = ctx.store.campaign_engagement(site, id).await?;
    let attempted = deliveries.sent + deliveries.failed;
    let rates = Rates {
        delivered: percent(deliveries.sent, attempted),
        bounced: percent(deliveries.bounced, attempted),
        opened: percent(engagement.opened, deliveries.sent),
        clicked: percent(engagement.clicked, deliveries.sent),
        click_to_open: percent(engagement.clicked, engagement.opened),
        unsubscribed: percent(engagement.unsubscribed, deliveries.sent),
    };
    Ok(CampaignReport {
        recipients: campaign.recipients_count,
        campaign,
        deliveries,
        engagement,
        rates,
    })
}

/// A follow-up campaign to the recipients of `original` who did not open it: same template,
/// sender and provider; a new subject and send time when given.
pub async fn resend_to_non_openers(
    ctx: &MailContext,
    site: &SiteId,
    original: CampaignId,
    subject: Option<String>,
    send_at: Option<String>,
) -> Result<Created, CampaignError> {
    let c = ctx.store.get_campaign(site, original).await?;
    if c.state != CampaignState::Done {
        return Err(CampaignError::State(format!(
            "campaign {original} is {}; resend to non-openers once it is done",
            c.state.as_str()
        )));
    }
    let req = CampaignRequest {
        name: Some(format!("{} — resend to non-openers", c.name)),
        template_id: c.template_id.0,
        subject: subject.or(Some(c.subject.clone())),
        from_email: c.from_email.as_str().to_string(),
        from_name: c.from_name.clone(),
        recipients: RecipientsRequest::default(),
        send_at,
        segment_size: Some(c.segment_size),
        interval_minutes: Some(c.interval_minutes),
        provider: Some(ProviderRef::Id(c.provider_id.0)),
        disable_banner: c.disable_banner,
        utm: c.utm.clone(),
        draft: false,
    };
    create_resolved(
        ctx,
        site,
        req,
        Recipients::NonOpeners {
            campaign_id: original,
        },
    )
    .await
}
