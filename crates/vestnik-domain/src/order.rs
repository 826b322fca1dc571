//! Orders the shop's backend reports (the seed's JSON-RPC node `/api/v1/orders`), their status,
//! and the status changes that automation reacts to.
//!
//! Money is kept as the decimal text the shop sent (`1500.50` stays `1500.50`): totals are the
//! shop's own figures, shown back and passed on, never summed here, so no float ever touches them.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::contact::{Email, Phone, ValidationError};
use crate::ids::{ContactId, SiteId};
use crate::time::Timestamp;

/// The outbox topic of order status changes (automation triggers such as "order paid").
pub const ORDER_STATUS_TOPIC: &str = "order_status";

/// Longest shop order number we keep; real ones are short, and a cap keeps indexes sane.
const MAX_ORDER_ID_CHARS: usize = 100;
const MAX_OFFER_ID_CHARS: usize = 200;
/// An order of more lines than this is a client bug, not a purchase.
pub const MAX_ORDER_ITEMS: usize = 1000;
/// Digits before and after the point: more than any currency needs, few enough to stay exact
/// in any reporting tool that later reads the text as a NUMERIC.
const MAX_INTEGER_DIGITS: usize = 15;
const MAX_FRACTION_DIGITS: usize = 6;

/// The seed's order statuses. New orders are `submitted` ("оформлен").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Submitted,
    Paid,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    /// In the seed's order ("submitted", "paid", "delivered", "cancelled").
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::Submitted,
        OrderStatus::Paid,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Submitted => "submitted",
            OrderStatus::Paid => "paid",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// The seed's error text for an unknown status, statuses sorted alphabetically as the
    /// seed prints them: "Possible statuses: cancelled, delivered, paid, submitted".
    pub fn possible_statuses_message() -> String {
        let mut names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        format!("Possible statuses: {}", names.join(", "))
    }
}

impl FromStr for OrderStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", Self::possible_statuses_message()))
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-negative amount of money as exact decimal text (`1500.50`), as the shop sent it.
/// Serialised as a JSON string so that no reader turns it into a float on the way.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Money(String);

impl Money {
    /// Plain decimal notation: digits, optionally a point and more digits. `field` names the
    /// request field in the error (`total`, `items[2].price`).
    pub fn parse(field: &str, text: &str) -> Result<Self, ValidationError> {
        let t = text.trim();
        let bad = |why: &str| ValidationError::new(field, format!("`{t}` {why}"));
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (t, None),
        };
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if t.starts_with('-') {
            return Err(bad("is negative; amounts must be 0 or more"));
        }
        if !digits(int) || frac.is_some_and(|f| !digits(f)) {
            return Err(bad(
                "is not an amount; send plain decimal notation such as 1500 or 1500.50",
            ));
        }
        if int.len() > MAX_INTEGER_DIGITS || frac.is_some_and(|f| f.len() > MAX_FRACTION_DIGITS) {
            return Err(bad(&format!(
                "has too many digits; at most {MAX_INTEGER_DIGITS} before the point and {MAX_FRACTION_DIGITS} after"
            )));
        }
        Ok(Money(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Money {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Money::parse("amount", &s)
    }
}

impl From<Money> for String {
    fn from(m: Money) -> String {
        m.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One line of an order, in the seed's field names (stored as such in `orders.items`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// The product offer (SKU) as the shop's catalogue names it.
    pub offer_id: String,
    /// Price of one unit.
    pub price: Money,
    pub quantity: u32,
}

/// What the shop sends to create an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The shop's own order number: the key every later call (`set_order_status`) uses.
    pub order_id: String,
    /// The buyer, by email and/or phone: ties the order to a contact.
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub items: Vec<OrderItem>,
    /// The shop's total (discounts and delivery included), not recomputed from the items.
    pub total: Money,
    /// When the shop took the order; the time we receive it when not sent.
    pub created_at: Option<Timestamp>,
}

impl NewOrder {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_order_id(&self.order_id)?;
        if self.email.is_none() && self.phone.is_none() {
            return Err(ValidationError::new(
                "email",
                "an order needs the buyer's email or phone",
            ));
        }
        if self.items.is_empty() {
            return Err(ValidationError::new(
                "items",
                "an order needs at least one item",
            ));
        }
        if self.items.len() > MAX_ORDER_ITEMS {
            return Err(ValidationError::new(
                "items",
                format!("an order may have at most {MAX_ORDER_ITEMS} items"),
            ));
        }
        for (i, item) in self.items.iter().enumerate() {
            let offer = item.offer_id.trim();
            if offer.is_empty() || offer.chars().count() > MAX_OFFER_ID_CHARS {
                return Err(ValidationError::new(
                    format!("items[{i}].offer_id"),
                    format!("offer_id must be 1 to {MAX_OFFER_ID_CHARS} characters"),
                ));
            }
            if item.quantity == 0 {
                return Err(ValidationError::new(
                    format!("items[{i}].quantity"),
                    "quantity must be 1 or more",
                ));
            }
        }
        Ok(())
    }
}

/// Shop order numbers: non-empty, at most 100 characters, no surrounding spaces.
pub fn validate_order_id(order_id: &str) -> Result<(), ValidationError> {
    if order_id.trim().is_empty()
        || order_id.trim() != order_id
        || order_id.chars().count() > MAX_ORDER_ID_CHARS
    {
        return Err(ValidationError::new(
            "order_id",
            format!(
                "order_id must be 1 to {MAX_ORDER_ID_CHARS} characters without surrounding spaces"
            ),
        ));
    }
    Ok(())
}

/// One entry of an order's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusEntry {
    pub status: OrderStatus,
    pub changed_at: Timestamp,
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Our row id: what outbox rows about this order refer to (`ref_id`).
    pub id: i64,
    pub site_id: SiteId,
    pub order_id: String,
    /// The buyer's contact; `None` once that contact was erased (GDPR), the order staying.
    pub contact_id: Option<ContactId>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub items: Vec<OrderItem>,
    pub total: Money,
    pub status: OrderStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Oldest first; the first entry is `submitted` at creation.
    pub status_history: Vec<OrderStatusEntry>,
}

/// The fact automation reacts to, written to the outbox (topic [`ORDER_STATUS_TOPIC`]) in the
/// same transaction as the change itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChange {
    pub order_id: String,
    /// Who to act on (send "thanks for paying" to); `None` when the contact was erased.
    pub contact_id: Option<ContactId>,
    /// `None` for a new order.
    pub old_status: Option<OrderStatus>,
    pub new_status: OrderStatus,
    pub changed_at: Timestamp,
}

/// What `set_order_status` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusUpdate {
    Changed(OrderStatusChange),
    /// The order already had this status: nothing was written (the seed's "Order status already set").
    AlreadySet,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> NewOrder {
        NewOrder {
            order_id: "f168148717".into(),
            email: Some(Email::parse("buyer@shop.ru").unwrap()),
            phone: None,
            items: vec![OrderItem {
                offer_id: "sku-1".into(),
                price: Money::parse("price", "1500.50").unwrap(),
                quantity: 2,
            }],
            total: Money::parse("total", "3001.00").unwrap(),
            created_at: None,
        }
    }

    #[test]
    fn statuses_parse_and_the_error_lists_them_as_the_seed_does() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(s));
        }
        let err = "shipped".parse::<OrderStatus>().unwrap_err();
        assert_eq!(
            err.message,
            "Possible statuses: cancelled, delivered, paid, submitted"
        );
        assert!(
            "Paid".parse::<OrderStatus>().is_err(),
            "statuses are lower-case"
        );
    }

    #[test]
    fn money_keeps_the_exact_text_sent() {
        assert_eq!(
            Money::parse("total", "1500.50").unwrap().as_str(),
            "1500.50"
        );
        assert_eq!(Money::parse("total", " 0 ").unwrap().as_str(), "0");
        assert_eq!(
            Money::parse("total", "123.000").unwrap().as_str(),
            "123.000"
        );
    }

    #[test]
    fn money_refuses_what_is_not_a_plain_non_negative_amount() {
        for bad in [
            "", "-1", "1e3", "1.", ".5", "1,50", "abc", "NaN", "inf", "+5", "1.2.3",
        ] {
            let err = Money::parse("items[0].price", bad).unwrap_err();
            assert_eq!(err.field, "items[0].price", "{bad}");
        }
        assert!(Money::parse("total", "1234567890123456").is_err());
        assert!(Money::parse("total", "1.1234567").is_err());
    }

    #[test]
    fn money_round_trips_through_json_as_a_string() {
        let m = Money::parse("total", "10.10").unwrap();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#""10.10""#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), m);
        assert!(serde_json::from_str::<Money>(r#""-3""#).is_err());
    }

    #[test]
    fn a_valid_order_passes() {
        assert_eq!(order().validate(), Ok(()));
    }

    #[test]
    fn an_order_needs_a_buyer_items_and_a_sane_order_id() {
        let mut o = order();
        o.email = None;
        assert_eq!(o.validate().unwrap_err().field, "email");

        let mut o = order();
        o.items.clear();
        assert_eq!(o.validate().unwrap_err().field, "items");

        let mut o = order();
        o.items[0].quantity = 0;
        assert_eq!(o.validate().unwrap_err().field, "items[0].quantity");

        let mut o = order();
        o.items[0].offer_id = "  ".into();
        assert_eq!(o.validate().unwrap_err().field, "items[0].offer_id");

        for id in ["", " 12", &"x".repeat(101)] {
            let mut o = order();
            o.order_id = id.to_string();
            assert_eq!(o.validate().unwrap_err().field, "order_id", "{id:?}");
        }
    }

    #[test]
    fn status_changes_serialise_for_the_outbox() {
        let change = OrderStatusChange {
            order_id: "42".into(),
            contact_id: Some(ContactId(7)),
            old_status: Some(OrderStatus::Submitted),
            new_status: OrderStatus::Paid,
            changed_at: Timestamp(1_700_000_000_000),
        };
        let v = serde_json::to_value(&change).unwrap();
        assert_eq!(v["old_status"], "submitted");
        assert_eq!(v["new_status"], "paid");
        assert_eq!(v["changed_at"], "2023-11-14T22:13:20Z");
        assert_eq!(
            serde_json::from_value::<OrderStatusChange>(v).unwrap(),
            change
        );
    }
}
