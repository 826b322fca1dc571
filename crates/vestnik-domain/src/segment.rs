//! Segments: saved conditions over a site's contacts, and the condition language they are
//! written in. Automation filters speak the same language.
//!
//! A condition is a tree: groups (`all`, `any`, `not`) over leaves that test a contact's
//! fields, custom fields, tags, lists, behaviour (events), orders and engagement with
//! campaigns. Its JSON form (documented for marketers in `docs/segments.md`):
//!
//! ```json
//! {"all": [
//!   {"field": "city", "op": "eq", "value": "Москва"},
//!   {"any": [{"tag": "vip"}, {"orders": "count", "op": "gte", "value": 2}]},
//!   {"not": {"event": "productViewed", "within_days": 30}}
//! ]}
//! ```
//!
//! [`Condition::parse`] checks a tree and names the path of a bad node
//! (`condition.all[1].op: "between" is not an operator for city; use eq, ne, …`);
//! [`Condition::to_json`] writes the canonical form back. The backends compile a condition
//! to SQL to count and list members; [`Condition::matches`] evaluates it in memory over a
//! contact's [`ContactFacts`]. Both agree on every condition: values compare exactly (case
//! included), a test on a missing value is false (and its `not` true), and the negative
//! operators (`ne`, `not_in`, `not_empty`) are exactly `not` of their positive ones.

mod canonical;
mod decimal;
mod eval;
mod parse;
#[cfg(test)]
mod tests;

pub use decimal::{Decimal, compare_text, sum_money};
pub use eval::{ContactFacts, EngagementFact, EventFact, OrderFact};

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::contact::ValidationError;
use crate::ids::{ListId, SiteId};
use crate::time::Timestamp;

/// Deepest nesting of groups: deeper trees are unreadable and only come from generators.
pub const MAX_DEPTH: usize = 8;
/// Most leaves in one tree: each becomes a SQL term, and counting must stay fast.
pub const MAX_LEAVES: usize = 100;
/// Most values in one `in` / `not_in` list.
pub const MAX_VALUES: usize = 500;
/// Longest text value.
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest look-back window: ten years.
pub const MAX_DAYS: u32 = 3650;
const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SegmentId(pub i64);

impl std::fmt::Display for SegmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A saved segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    pub id: SegmentId,
    pub site_id: SiteId,
    /// How marketers pick it as a campaign's recipients; unique per site.
    pub name: String,
    pub condition: Condition,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A segment name: 1–200 characters without control characters; returned trimmed.
pub fn validate_segment_name(name: &str) -> Result<String, ValidationError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 || trimmed.chars().any(char::is_control)
    {
        return Err(ValidationError::new(
            "name",
            "a segment name is 1-200 characters without control characters",
        ));
    }
    Ok(trimmed.to_string())
}

/// A bad node of a condition: `path` names it (`condition.all[1].op`), `message` says what
/// is allowed there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConditionError {
    pub path: String,
    pub message: String,
}

impl From<ConditionError> for ValidationError {
    fn from(e: ConditionError) -> Self {
        ValidationError::new(e.path, e.message)
    }
}

/// A condition tree. Build one with [`Condition::parse`] so that its limits hold.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Every child holds; an empty group holds for everyone ("All contacts").
    All(Vec<Condition>),
    /// At least one child holds.
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// A column of the contact.
    Field {
        field: ContactField,
        test: FieldTest,
    },
    /// A custom field, by key.
    Custom {
        key: String,
        test: CustomTest,
    },
    /// Has this tag.
    Tag(String),
    /// Is a member of this list.
    List(ListId),
    /// Did an event of this type at least `min_count` times (in the last `within_days`).
    Event {
        event_type: String,
        within_days: Option<u32>,
        min_count: u32,
    },
    /// Viewed this product category (a `productCategoryViewed` event naming it).
    ViewedCategory {
        category_id: String,
        within_days: Option<u32>,
    },
    /// The last category the contact browsed is this one (their behaviour state).
    LastCategory(String),
    /// The cart as of the last `cartUpdated` is (not) empty.
    Cart {
        empty: bool,
    },
    Orders(OrderTest),
    /// Opened (or clicked in) a campaign, or any campaign.
    Engagement {
        action: EngagementAction,
        campaign: Option<i64>,
        within_days: Option<u32>,
    },
}

/// The contact columns a condition can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContactField {
    Status,
    EmailSubscription,
    SmsSubscription,
    Email,
    Phone,
    Name,
    LastName,
    Position,
    Region,
    Country,
    City,
    Address,
    Company,
    Sex,
    Birthday,
    Bonus,
    CreatedAt,
}

/// What kind of value a field holds, which decides its operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    /// One of a fixed set of values (status, subscription state).
    Choice(&'static [&'static str]),
    /// A `YYYY-MM-DD` date kept as text.
    Date,
    /// An exact decimal (bonus points).
    Number,
    /// A moment (when the contact was created).
    Time,
}

const SUBSCRIPTION_STATES: &[&str] = &[
    "subscribed",
    "pending",
    "unsubscribed",
    "bounced",
    "blocked",
];
const LEAD_STATUSES: &[&str] = &[
    "new",
    "contacted",
    "customer",
    "manager",
    "regular",
    "wholesale",
];
pub(crate) const ORDER_STATUSES: &[&str] = &["submitted", "paid", "delivered", "cancelled"];

impl ContactField {
    pub const ALL: [ContactField; 17] = [
        ContactField::Status,
        ContactField::EmailSubscription,
        ContactField::SmsSubscription,
        ContactField::Email,
        ContactField::Phone,
        ContactField::Name,
        ContactField::LastName,
        ContactField::Position,
        ContactField::Region,
        ContactField::Country,
        ContactField::City,
        ContactField::Address,
        ContactField::Company,
        ContactField::Sex,
        ContactField::Birthday,
        ContactField::Bonus,
        ContactField::CreatedAt,
    ];

    /// The name in the JSON form, which is also the column's.
    pub fn name(self) -> &'static str {
        match self {
            ContactField::Status => "status",
            ContactField::EmailSubscription => "email_subscription",
            ContactField::SmsSubscription => "sms_subscription",
            ContactField::Email => "email",
            ContactField::Phone => "phone",
            ContactField::Name => "name",
            ContactField::LastName => "last_name",
            ContactField::Position => "position",
            ContactField::Region => "region",
            ContactField::Country => "country",
            ContactField::City => "city",
            ContactField::Address => "address",
            ContactField::Company => "company",
            ContactField::Sex => "sex",
            ContactField::Birthday => "birthday",
            ContactField::Bonus => "bonus",
            ContactField::CreatedAt => "created_at",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        ContactField::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn kind(self) -> FieldKind {
        match self {
            ContactField::Status => FieldKind::Choice(LEAD_STATUSES),
            ContactField::EmailSubscription | ContactField::SmsSubscription => {
                FieldKind::Choice(SUBSCRIPTION_STATES)
            }
            ContactField::Birthday => FieldKind::Date,
            ContactField::Bonus => FieldKind::Number,
            ContactField::CreatedAt => FieldKind::Time,
            _ => FieldKind::Text,
        }
    }
}

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    pub fn name(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Ne => "ne",
            Cmp::Gt => "gt",
            Cmp::Gte => "gte",
            Cmp::Lt => "lt",
            Cmp::Lte => "lte",
        }
    }

    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }

    /// Whether `ordering` (of the tested value against the condition's) satisfies this.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => ordering == Equal,
            Cmp::Ne => ordering != Equal,
            Cmp::Gt => ordering == Greater,
            Cmp::Gte => ordering != Less,
            Cmp::Lt => ordering == Less,
            Cmp::Lte => ordering != Greater,
        }
    }
}

/// A test of a text value. A missing value satisfies only `empty` (and the negations).
#[derive(Debug, Clone, PartialEq)]
pub enum TextTest {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Contains(String),
    StartsWith(String),
    Empty,
    NotEmpty,
    /// `gt`/`gte`/`lt`/`lte` in byte order, which for `YYYY-MM-DD` dates is date order.
    Order(Cmp, String),
}

/// A test of a moment: against a date (a whole UTC day) or an instant, or relative to now.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeTest {
    /// `gt`/`gte`/`lt`/`lte`.
    Cmp(Cmp, TimeValue),
    /// In the last N days.
    WithinDays(u32),
    /// Longer ago than N days.
    OlderThanDays(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeValue {
    /// A calendar day in UTC; `gt` means after that day, `lte` up to its end.
    Date(time::Date),
    Instant(Timestamp),
}

/// A time test resolved against `now` to one half-open bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    AtOrAfter(Timestamp),
    Before(Timestamp),
}

impl TimeTest {
    pub fn bound(&self, now: Timestamp) -> TimeBound {
        let day_start = |d: time::Date| {
            Timestamp(
                d.midnight()
                    .assume_utc()
                    .unix_timestamp()
                    .saturating_mul(1000),
            )
        };
        match self {
            TimeTest::WithinDays(n) => TimeBound::AtOrAfter(now.minus(DAY * *n)),
            TimeTest::OlderThanDays(n) => TimeBound::Before(now.minus(DAY * *n)),
            TimeTest::Cmp(cmp, TimeValue::Instant(t)) => match cmp {
                Cmp::Gt => TimeBound::AtOrAfter(Timestamp(t.0.saturating_add(1))),
                Cmp::Lte => TimeBound::Before(Timestamp(t.0.saturating_add(1))),
                Cmp::Lt => TimeBound::Before(*t),
                _ => TimeBound::AtOrAfter(*t),
            },
            TimeTest::Cmp(cmp, TimeValue::Date(d)) => {
                let start = day_start(*d);
                let next = start.plus(DAY);
                match cmp {
                    Cmp::Gt => TimeBound::AtOrAfter(next),
                    Cmp::Lte => TimeBound::Before(next),
                    Cmp::Lt => TimeBound::Before(start),
                    _ => TimeBound::AtOrAfter(start),
                }
            }
        }
    }
}

impl TimeBound {
    pub fn holds(self, t: Timestamp) -> bool {
        match self {
            TimeBound::AtOrAfter(b) => t >= b,
            TimeBound::Before(b) => t < b,
        }
    }
}

/// A test of a contact column, by the kind of value it holds.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldTest {
    /// Text, choice and date fields.
    Text(TextTest),
    /// Bonus points against an exact decimal.
    Number(Cmp, Decimal),
    Time(TimeTest),
}

/// A test of a custom field. Text values only match fields holding JSON strings, numbers
/// only numbers, booleans only booleans: `"25"` and `25` are different values.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomTest {
    /// Text operators; `empty` holds for a missing key, `null` and `""`.
    Text(TextTest),
    Number(Cmp, Decimal),
    /// `eq` (or `ne` when `negated`) a boolean.
    Bool {
        value: bool,
        negated: bool,
    },
}

/// Aggregates of the contact's orders. Count and sum leave cancelled orders out; last
/// status and last date look at every order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderTest {
    Count {
        cmp: Cmp,
        value: i64,
        within_days: Option<u32>,
    },
    Sum {
        cmp: Cmp,
        value: Decimal,
        within_days: Option<u32>,
    },
    /// The status of the newest order (by creation time); `eq`/`ne`/`in`/`not_in`.
    LastStatus(TextTest),
    /// When the newest order was created.
    LastDate(TimeTest),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngagementAction {
    /// Opened the email; a click counts as an open (images are often blocked).
    Opened,
    Clicked,
}

impl EngagementAction {
    pub fn name(self) -> &'static str {
        match self {
            EngagementAction::Opened => "opened",
            EngagementAction::Clicked => "clicked",
        }
    }

    /// The `tracking_events.kind` values that count as this action.
    pub fn kinds(self) -> &'static [&'static str] {
        match self {
            EngagementAction::Opened => &["open", "click"],
            EngagementAction::Clicked => &["click"],
        }
    }
}

/// The standard event whose `category.productCategoryId` names a viewed category.
pub const CATEGORY_VIEWED_EVENT: &str = "productCategoryViewed";

impl Condition {
    /// The start of a `within_days` window ending at `now`.
    pub fn window_start(now: Timestamp, days: u32) -> Timestamp {
        now.minus(DAY * days)
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Condition::parse(&value).map_err(serde::de::Error::custom)
    }
}
