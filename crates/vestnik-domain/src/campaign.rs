//! Mass mailings: SMTP providers, sender domains, campaigns and their per-recipient deliveries.
//!
//! The shape follows the seed's mailing form ("Рассылки"): recipient, template, name, sender
//! email and name, subject, send time, segment size and interval, provider, and the
//! "disable the banner after a click" flag. A campaign's recipients are snapshotted into
//! delivery rows before the first message goes out; each row is the unit of exactly-once
//! sending (see `docs/architecture.md`, "Campaign sending").

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::contact::{Email, ValidationError};
use crate::ids::{ContactId, ListId, SiteId};
use crate::template::TemplateId;
use crate::time::Timestamp;

macro_rules! row_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

row_id!(CampaignId);
row_id!(ProviderId);
row_id!(DeliveryId);
row_id!(SenderDomainId);

mod provider;
pub use provider::{
    DkimAlgorithm, NewProvider, SenderDomain, SmtpProvider, SmtpTls, parse_domain, parse_selector,
};

/// The domain part of an address, lower-cased.
pub fn email_domain(email: &Email) -> &str {
    email
        .as_str()
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or_default()
}

/// Who receives a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recipients {
    /// One address: a test send. It need not be a contact.
    Address {
        email: Email,
    },
    List {
        list_id: ListId,
    },
    /// "All contacts", built in.
    All,
    Segment {
        segment_id: i64,
    },
    /// Follow-up to the recipients of another campaign who did not open it.
    NonOpeners {
        campaign_id: CampaignId,
    },
}

impl Recipients {
    pub fn kind(&self) -> &'static str {
        match self {
            Recipients::Address { .. } => "address",
            Recipients::List { .. } => "list",
            Recipients::All => "all",
            Recipients::Segment { .. } => "segment",
            Recipients::NonOpeners { .. } => "non_openers",
        }
    }

    /// The stored reference next to [`Recipients::kind`].
    pub fn reference(&self) -> Option<String> {
        match self {
            Recipients::Address { email } => Some(email.as_str().to_string()),
            Recipients::List { list_id } => Some(list_id.0.to_string()),
            Recipients::All => None,
            Recipients::Segment { segment_id } => Some(segment_id.to_string()),
            Recipients::NonOpeners { campaign_id } => Some(campaign_id.0.to_string()),
        }
    }

    /// Rebuilds the value a backend stored with `kind` and `reference`.
    pub fn from_stored(kind: &str, reference: Option<&str>) -> Option<Self> {
        let int = || reference.and_then(|r| r.parse::<i64>().ok());
        Some(match kind {
            "address" => Recipients::Address {
                email: Email::parse(reference?).ok()?,
            },
            "list" => Recipients::List {
                list_id: ListId(int()?),
            },
            "all" => Recipients::All,
            "segment" => Recipients::Segment { segment_id: int()? },
            "non_openers" => Recipients::NonOpeners {
                campaign_id: CampaignId(int()?),
            },
            _ => return None,
        })
    }
}

/// UTM tags added to every tracked link of a campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtmTags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

impl UtmTags {
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.medium.is_none()
            && self.campaign.is_none()
            && self.content.is_none()
            && self.term.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignState {
    Draft,
    Scheduled,
    Sending,
    Paused,
    Done,
    Cancelled,
}

impl CampaignState {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Scheduled => "scheduled",
            CampaignState::Sending => "sending",
            CampaignState::Paused => "paused",
            CampaignState::Done => "done",
            CampaignState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => CampaignState::Draft,
            "scheduled" => CampaignState::Scheduled,
            "sending" => CampaignState::Sending,
            "paused" => CampaignState::Paused,
            "done" => CampaignState::Done,
            "cancelled" => CampaignState::Cancelled,
            _ => return None,
        })
    }

    /// Done and cancelled campaigns never change again.
    pub fn is_final(self) -> bool {
        matches!(self, CampaignState::Done | CampaignState::Cancelled)
    }
}

/// Defaults of the seed's form: segments of 1000 with no interval = everything at once.
pub const DEFAULT_SEGMENT_SIZE: u32 = 1000;

/// A campaign as the marketer filled in the form, validated.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    pub name: String,
    pub template_id: TemplateId,
    pub template_version: i64,
    pub subject: String,
    pub from_email: Email,
    pub from_name: String,
    pub recipients: Recipients,
    pub provider_id: ProviderId,
    /// When sending starts; the creation time for "now".
    pub send_at: Timestamp,
    pub segment_size: u32,
    pub interval_minutes: u32,
    pub disable_banner: bool,
    pub utm: Option<UtmTags>,
    /// `Draft` keeps it from starting; otherwise `Scheduled` (the start job runs at `send_at`).
    pub state: CampaignState,
}

impl NewCampaign {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_name("name", &self.name)?;
        if self.subject.trim().is_empty() {
            return Err(ValidationError::new("subject", "the subject is empty"));
        }
        if self.from_name.chars().count() > 200 || self.from_name.contains(['\r', '\n']) {
            return Err(ValidationError::new(
                "from_name",
                "the sender name must be one line of at most 200 characters",
            ));
        }
        if self.segment_size == 0 || self.segment_size > 10_000_000 {
            return Err(ValidationError::new(
                "segment_size",
                "the segment size must be 1–10 000 000 recipients",
            ));
        }
        if self.interval_minutes > 7 * 24 * 60 {
            return Err(ValidationError::new(
                "interval_minutes",
                "the interval between segments may be at most 10 080 minutes (7 days)",
            ));
        }
        Ok(())
    }
}

pub(crate) fn validate_name(field: &str, name: &str) -> Result<(), ValidationError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 {
        return Err(ValidationError::new(
            field,
            "give a name of 1–200 characters",
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: CampaignId,
    #[serde(skip)]
    pub site_id: SiteId,
    pub name: String,
    pub template_id: TemplateId,
    pub template_version: i64,
    pub subject: String,
    pub from_email: Email,
    pub from_name: String,
    pub recipients: Recipients,
    pub provider_id: ProviderId,
    pub send_at: Timestamp,
    pub segment_size: u32,
    pub interval_minutes: u32,
    pub disable_banner: bool,
    pub utm: Option<UtmTags>,
    pub state: CampaignState,
    /// Why it is paused, or how it ended.
    pub state_reason: Option<String>,
    /// Recipients snapshotted into deliveries.
    pub recipients_count: i64,
    pub excluded: Exclusions,
    /// The current adaptive sending rate and why (from the throttle).
    pub throttle_note: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// Contacts left out of a campaign at snapshot time, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Exclusions {
    pub unsubscribed: i64,
    pub bounced: i64,
    pub blocked: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    /// Claimed by a sender under a lease; after a crash, an expired lease marks the in-flight window.
    Sending,
    Sent,
    /// A 4xx answer: tried again at `retry_at`.
    Deferred,
    /// A 5xx answer (hard bounce) or a message that could not be built.
    Failed,
    /// Cancelled by the template (`exit()`), never an error.
    Skipped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Deferred => "deferred",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "sending" => DeliveryState::Sending,
            "sent" => DeliveryState::Sent,
            "deferred" => DeliveryState::Deferred,
            "failed" => DeliveryState::Failed,
            "skipped" => DeliveryState::Skipped,
            _ => return None,
        })
    }
}

/// A delivery handed to a sender by a claim.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    pub contact_id: Option<ContactId>,
    pub email: String,
    /// Attempts including this one.
    pub attempts: i64,
    /// The row was mid-send when its previous sender vanished: this send may be a duplicate.
    pub resumed_in_flight: bool,
}

/// What happened to one claimed delivery.
#[derive(Debug, Clone)]
pub struct DeliveryResult {
    pub id: DeliveryId,
    pub state: DeliveryState,
    pub smtp_code: Option<u16>,
    /// The server's reply, or why the message was not sent.
    pub reply: Option<String>,
    /// For `Deferred`: when to try again.
    pub retry_at: Option<Timestamp>,
    /// Mark the contact's email as bounced (a hard bounce) so later campaigns skip it.
    pub hard_bounce: bool,
}

/// Counts of a campaign's deliveries by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub deferred: i64,
    pub failed: i64,
    pub skipped: i64,
    /// Sent again after a crash left them mid-send; the receiver may hold two copies.
    pub possibly_duplicated: i64,
    /// Failed with a 5xx answer.
    pub bounced: i64,
}

impl DeliveryCounts {
    pub fn total(&self) -> i64 {
        self.pending + self.sending + self.sent + self.deferred + self.failed + self.skipped
    }

    /// Nothing left to send or retry.
    pub fn is_finished(&self) -> bool {
        self.pending == 0 && self.sending == 0 && self.deferred == 0
    }
}

/// Unique clicks on one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinkClicks {
    pub url: String,
    pub unique_clicks: i64,
    pub clicks: i64,
}

/// Engagement from tracking: opens, clicks, unsubscribes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Engagement {
    pub opened: i64,
    pub clicked: i64,
    pub unsubscribed: i64,
    pub links: Vec<LinkClicks>,
}

/// Where a recipient snapshot reads contacts from, page by page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotSource {
    List(ListId),
    All,
    /// Contacts that were sent campaign X and did not open it.
    NonOpeners(CampaignId),
}

/// One page of a recipient snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotPage {
    /// Deliveries written by this page.
    pub added: i64,
    pub excluded: Exclusions,
    /// The snapshot is complete (this page was the last).
    pub complete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_survive_storage() {
        for r in [
            Recipients::Address {
                email: Email::parse("anna@example.com").unwrap(),
            },
            Recipients::List { list_id: ListId(7) },
            Recipients::All,
            Recipients::Segment { segment_id: 3 },
            Recipients::NonOpeners {
                campaign_id: CampaignId(9),
            },
        ] {
            let back = Recipients::from_stored(r.kind(), r.reference().as_deref());
            assert_eq!(back, Some(r));
        }
    }

    #[test]
    fn counts_know_when_a_campaign_is_finished() {
        let mut c = DeliveryCounts {
            sent: 5,
            deferred: 1,
            ..Default::default()
        };
        assert!(!c.is_finished());
        c.deferred = 0;
        c.failed = 1;
        assert!(c.is_finished());
        assert_eq!(c.total(), 6);
    }
}
