//! Evaluating a condition in memory, over the facts known about one contact. Automation
//! filters use this for the contact a run is about; the backends' SQL gives the same answers
//! (the store's conformance suite checks both against the same fixtures).

use serde_json::Value;

use super::{
    CATEGORY_VIEWED_EVENT, Cmp, Condition, ContactField, CustomTest, Decimal, EngagementAction,
    FieldTest, OrderTest, TextTest, compare_text, sum_money,
};
use crate::contact::Contact;
use crate::ids::ListId;
use crate::order::{Money, Order, OrderStatus};
use crate::time::Timestamp;

/// What is known about a contact: the record itself, and the rows around it that conditions
/// read. A caller loads only what its condition needs; missing facts read as "never happened".
#[derive(Debug, Clone, PartialEq)]
pub struct ContactFacts {
    pub contact: Contact,
    /// Lists the contact is a member of.
    pub lists: Vec<ListId>,
    /// Events the contact did, in any order (only their type, time and viewed category).
    pub events: Vec<EventFact>,
    /// Items in the cart as of the last `cartUpdated`.
    pub cart_items: usize,
    /// The last category browsed, from the behaviour state.
    pub last_category_id: Option<String>,
    pub orders: Vec<OrderFact>,
    /// Opens and clicks in campaign emails.
    pub engagement: Vec<EngagementFact>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventFact {
    pub event_type: String,
    pub at: Timestamp,
    /// For `productCategoryViewed`: `category.productCategoryId`, as text.
    pub category_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFact {
    /// Breaks ties between orders created in the same millisecond, as the store does.
    pub id: i64,
    pub total: Money,
    pub status: OrderStatus,
    pub created_at: Timestamp,
}

impl From<&Order> for OrderFact {
    fn from(o: &Order) -> Self {
        OrderFact {
            id: o.id,
            total: o.total.clone(),
            status: o.status,
            created_at: o.created_at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagementFact {
    pub campaign_id: i64,
    /// `Opened` for an open, `Clicked` for a click.
    pub action: EngagementAction,
    pub at: Timestamp,
}

impl ContactFacts {
    /// The contact with nothing else known about them.
    pub fn new(contact: Contact) -> Self {
        ContactFacts {
            contact,
            lists: Vec::new(),
            events: Vec::new(),
            cart_items: 0,
            last_category_id: None,
            orders: Vec::new(),
            engagement: Vec::new(),
        }
    }

    fn field_text(&self, field: ContactField) -> Option<&str> {
        let c = &self.contact;
        let f = &c.fields;
        match field {
            ContactField::Status => Some(c.status.as_str()),
            ContactField::EmailSubscription => Some(c.email_subscription.as_str()),
            ContactField::SmsSubscription => Some(c.sms_subscription.as_str()),
            ContactField::Email => c.email.as_ref().map(|e| e.as_str()),
            ContactField::Phone => c.phone.as_ref().map(|p| p.as_str()),
            ContactField::Name => f.name.as_deref(),
            ContactField::LastName => f.last_name.as_deref(),
            ContactField::Position => f.position.as_deref(),
            ContactField::Region => f.region.as_deref(),
            ContactField::Country => f.country.as_deref(),
            ContactField::City => f.city.as_deref(),
            ContactField::Address => f.address.as_deref(),
            ContactField::Company => f.company.as_deref(),
            ContactField::Sex => f.sex.as_deref(),
            ContactField::Birthday => f.birthday.as_deref(),
            ContactField::Bonus => Some(c.bonus.as_str()),
            ContactField::CreatedAt => None,
        }
    }
}

/// A text test on a value that may be missing.
pub(crate) fn text_holds(test: &TextTest, value: Option<&str>) -> bool {
    match test {
        TextTest::Eq(v) => value == Some(v.as_str()),
        TextTest::Ne(v) => value != Some(v.as_str()),
        TextTest::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
        TextTest::NotIn(vs) => !value.is_some_and(|x| vs.iter().any(|v| v == x)),
        TextTest::Contains(v) => value.is_some_and(|x| x.contains(v.as_str())),
        TextTest::StartsWith(v) => value.is_some_and(|x| x.starts_with(v.as_str())),
        TextTest::Empty => value.is_none_or(str::is_empty),
        TextTest::NotEmpty => !value.is_none_or(str::is_empty),
        TextTest::Order(cmp, v) => value.is_some_and(|x| cmp.holds(x.as_bytes().cmp(v.as_bytes()))),
    }
}

/// A number written as text against a threshold; `ne` is `not eq`, so a missing number
/// satisfies it.
fn number_holds(cmp: Cmp, threshold: &Decimal, value: Option<&str>) -> bool {
    if cmp == Cmp::Ne {
        return !number_holds(Cmp::Eq, threshold, value);
    }
    value
        .and_then(|v| compare_text(v, &threshold.to_string()))
        .is_some_and(|o| cmp.holds(o))
}

fn within(at: Timestamp, days: Option<u32>, now: Timestamp) -> bool {
    days.is_none_or(|d| at >= Condition::window_start(now, d))
}

impl Condition {
    /// Whether the contact the facts describe satisfies the condition at `now`.
    pub fn matches(&self, facts: &ContactFacts, now: Timestamp) -> bool {
        match self {
            Condition::All(children) => children.iter().all(|c| c.matches(facts, now)),
            Condition::Any(children) => children.iter().any(|c| c.matches(facts, now)),
            Condition::Not(inner) => !inner.matches(facts, now),
            Condition::Field { field, test } => match test {
                FieldTest::Text(t) => text_holds(t, facts.field_text(*field)),
                FieldTest::Number(cmp, d) => number_holds(*cmp, d, facts.field_text(*field)),
                FieldTest::Time(t) => t.bound(now).holds(facts.contact.created_at),
            },
            Condition::Custom { key, test } => {
                let value = facts.contact.custom_fields.get(key);
                match test {
                    CustomTest::Text(TextTest::Empty) => custom_empty(value),
                    CustomTest::Text(TextTest::NotEmpty) => !custom_empty(value),
                    CustomTest::Text(t) => text_holds(t, value.and_then(Value::as_str)),
                    CustomTest::Number(cmp, d) => {
                        let text = value.filter(|v| v.is_number()).map(Value::to_string);
                        number_holds(*cmp, d, text.as_deref())
                    }
                    CustomTest::Bool { value: b, negated } => {
                        (value == Some(&Value::Bool(*b))) != *negated
                    }
                }
            }
            Condition::Tag(tag) => facts.contact.tags.iter().any(|t| t == tag),
            Condition::List(list) => facts.lists.contains(list),
            Condition::Event {
                event_type,
                within_days,
                min_count,
            } => {
                let n = facts
                    .events
                    .iter()
                    .filter(|e| &e.event_type == event_type && within(e.at, *within_days, now))
                    .count();
                n >= *min_count as usize
            }
            Condition::ViewedCategory {
                category_id,
                within_days,
            } => facts.events.iter().any(|e| {
                e.event_type == CATEGORY_VIEWED_EVENT
                    && e.category_id.as_ref() == Some(category_id)
                    && within(e.at, *within_days, now)
            }),
            Condition::LastCategory(c) => facts.last_category_id.as_ref() == Some(c),
            Condition::Cart { empty } => (facts.cart_items == 0) == *empty,
            Condition::Orders(test) => orders_hold(test, &facts.orders, now),
            Condition::Engagement {
                action,
                campaign,
                within_days,
            } => facts.engagement.iter().any(|e| {
                (*action == EngagementAction::Opened || e.action == EngagementAction::Clicked)
                    && campaign.is_none_or(|c| c == e.campaign_id)
                    && within(e.at, *within_days, now)
            }),
        }
    }
}

fn custom_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

fn orders_hold(test: &OrderTest, orders: &[OrderFact], now: Timestamp) -> bool {
    let counted = |days: Option<u32>| {
        orders
            .iter()
            .filter(move |o| o.status != OrderStatus::Cancelled && within(o.created_at, days, now))
    };
    let last = orders.iter().max_by_key(|o| (o.created_at, o.id));
    match test {
        OrderTest::Count {
            cmp,
            value,
            within_days,
        } => cmp.holds((counted(*within_days).count() as i64).cmp(value)),
        OrderTest::Sum {
            cmp,
            value,
            within_days,
        } => {
            let sum = sum_money(counted(*within_days).map(|o| &o.total));
            number_holds(*cmp, value, Some(&sum))
        }
        OrderTest::LastStatus(t) => text_holds(t, last.map(|o| o.status.as_str())),
        OrderTest::LastDate(t) => last.is_some_and(|o| t.bound(now).holds(o.created_at)),
    }
}
