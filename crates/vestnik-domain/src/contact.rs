//! Contacts ("multileads" in the seed): the people a site talks to.
//!
//! Identity is an email and/or a phone, each normalised before matching so that
//! `Ivan@Shop.RU` and `ivan@shop.ru` are one person.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::ids::{ContactId, ListId, SiteId};
use crate::time::Timestamp;

mod upsert;
pub use upsert::{
    ContactExport, ContactUpsert, ErasureReport, MembershipChange, OverwriteRule, UpsertOutcome,
    merge,
};

/// Bad input, named by the field it came from, with a message a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A syntactically valid email address, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let lowered = raw.trim().to_lowercase();
        let valid = email_address::EmailAddress::is_valid(&lowered)
            // The RFC allows dot-less domains and quoted local parts; no shop customer has them,
            // and accepting them only lets typos through.
            && lowered
                .rsplit_once('@')
                .is_some_and(|(local, domain)| {
                    !local.starts_with('"') && domain.contains('.') && !domain.ends_with('.')
                });
        if valid {
            Ok(Email(lowered))
        } else {
            Err(ValidationError::new(
                "email",
                format!("`{}` is not a valid email address", raw.trim()),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form (`+79161234567`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Accepts the ways people type numbers (`+7 (916) 123-45-67`, `8 916 123 45 67`) and
    /// normalises to E.164. A national number starting with 8 and 11 digits long is read as
    /// Russian (+7), the seed products' home market; other numbers need their country code.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        let bad = || {
            ValidationError::new(
                "phone",
                format!(
                    "`{trimmed}` is not a phone number; use international format, e.g. +79161234567"
                ),
            )
        };
        let has_plus = trimmed.starts_with('+');
        let mut digits = String::with_capacity(trimmed.len());
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if i == 0 => {}
                ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(bad()),
            }
        }
        if !has_plus && digits.len() == 11 && digits.starts_with('8') {
            digits.replace_range(0..1, "7");
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(bad());
        }
        Ok(Phone(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lead status as the seed API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeadStatus {
    #[default]
    New,
    Contacted,
    Customer,
    Manager,
    Regular,
    Wholesale,
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 6] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Customer,
        LeadStatus::Manager,
        LeadStatus::Regular,
        LeadStatus::Wholesale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Customer => "customer",
            LeadStatus::Manager => "manager",
            LeadStatus::Regular => "regular",
            LeadStatus::Wholesale => "wholesale",
        }
    }
}

impl FromStr for LeadStatus {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LeadStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    format!(
                        "unknown status `{s}`; expected one of new, contacted, customer, manager, regular, wholesale"
                    ),
                )
            })
    }
}

/// Whether a channel may be used to reach the contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    /// Opted in (or imported as such).
    #[default]
    Subscribed,
    /// Waiting for a double opt-in confirmation.
    Pending,
    /// Asked not to be contacted on this channel.
    Unsubscribed,
    /// The address does not exist (hard bounce); sending again hurts the sender's reputation.
    Bounced,
    /// Blocked by an operator.
    Blocked,
}

impl Subscription {
    pub fn as_str(self) -> &'static str {
        match self {
            Subscription::Subscribed => "subscribed",
            Subscription::Pending => "pending",
            Subscription::Unsubscribed => "unsubscribed",
            Subscription::Bounced => "bounced",
            Subscription::Blocked => "blocked",
        }
    }
}

impl FromStr for Subscription {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "subscribed" => Ok(Subscription::Subscribed),
            "pending" => Ok(Subscription::Pending),
            "unsubscribed" => Ok(Subscription::Unsubscribed),
            "bounced" => Ok(Subscription::Bounced),
            "blocked" => Ok(Subscription::Blocked),
            other => Err(ValidationError::new(
                "subscription",
                format!(
                    "unknown subscription state `{other}`; expected subscribed, pending, unsubscribed, bounced or blocked"
                ),
            )),
        }
    }
}

/// The descriptive fields of PRODUCT.md §1, the seed's `{{lead.*}}` variables.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFields {
    pub name: Option<String>,
    pub last_name: Option<String>,
    pub position: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub company: Option<String>,
    /// `YYYY-MM-DD`.
    pub birthday: Option<String>,
    pub sex: Option<String>,
}

impl ContactFields {
    /// Trims values, turns blanks into "absent", and checks lengths and the birthday's shape.
    pub fn normalised(mut self) -> Result<Self, ValidationError> {
        for (field, value) in [
            ("name", &mut self.name),
            ("last_name", &mut self.last_name),
            ("position", &mut self.position),
            ("region", &mut self.region),
            ("country", &mut self.country),
            ("city", &mut self.city),
            ("address", &mut self.address),
            ("company", &mut self.company),
            ("birthday", &mut self.birthday),
            ("sex", &mut self.sex),
        ] {
            if let Some(v) = value.take() {
                let v = v.trim().to_string();
                if v.chars().count() > 500 {
                    return Err(ValidationError::new(
                        field,
                        "must be at most 500 characters",
                    ));
                }
                *value = (!v.is_empty()).then_some(v);
            }
        }
        if let Some(b) = &self.birthday {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            if time::Date::parse(b, &format).is_err() {
                return Err(ValidationError::new(
                    "birthday",
                    format!("`{b}` is not a date; use YYYY-MM-DD"),
                ));
            }
        }
        Ok(self)
    }
}

/// Bonus points. The seed API sends a float; we keep the exact decimal text that was sent so
/// that `150.10` is not stored as `150.09999999999999`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bonus(String);

impl Bonus {
    pub fn from_f64(v: f64) -> Result<Self, ValidationError> {
        if !v.is_finite() {
            return Err(ValidationError::new("bonus", "must be a finite number"));
        }
        // Rust prints the shortest text that reads back as the same f64.
        Ok(Bonus(format!("{v}")))
    }

    /// The decimal text as the client sent it (`123.00` stays `123.00`): plain decimal
    /// notation with an optional sign, fraction and exponent, and a finite value.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let t = text.trim();
        let bad = || ValidationError::new("bonus", format!("`{t}` is not a number"));
        let unsigned = t
            .strip_prefix('-')
            .or_else(|| t.strip_prefix('+'))
            .unwrap_or(t);
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((m, e)) => (m, Some(e)),
            None => (unsigned, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let exponent_ok = exponent.is_none_or(|e| {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        });
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || !exponent_ok {
            return Err(bad());
        }
        match t.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Bonus(t.strip_prefix('+').unwrap_or(t).to_string())),
            _ => Err(bad()),
        }
    }

    pub fn from_trusted(s: String) -> Self {
        Bonus(s)
    }

    pub fn as_str(&self) -> &str {
        if self.0.is_empty() { "0" } else { &self.0 }
    }

    pub fn as_f64(&self) -> f64 {
        self.as_str().parse().unwrap_or(0.0)
    }
}

impl Serialize for Bonus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

/// What is needed to create a contact. At least one of email and phone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewContact {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub fields: ContactFields,
    pub status: LeadStatus,
    pub bonus: Bonus,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub email_subscription: Subscription,
    pub sms_subscription: Subscription,
}

impl NewContact {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.email.is_none() && self.phone.is_none() {
            return Err(ValidationError::new(
                "email",
                "a contact needs an email or a phone",
            ));
        }
        for tag in &self.tags {
            if tag.trim().is_empty() || tag.chars().count() > 100 {
                return Err(ValidationError::new(
                    "tags",
                    "tags must be non-empty and at most 100 characters",
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    pub id: ContactId,
    pub site_id: SiteId,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    #[serde(flatten)]
    pub fields: ContactFields,
    pub status: LeadStatus,
    pub bonus: Bonus,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub email_subscription: Subscription,
    pub sms_subscription: Subscription,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A named, static group of contacts that a marketer builds by hand or by import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactList {
    pub id: ListId,
    pub site_id: SiteId,
    pub name: String,
    pub created_at: Timestamp,
}

/// List names are how marketers pick recipients in a campaign form; unique per site.
pub fn validate_list_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ValidationError::new(
            "name",
            "list name must be 1 to 200 characters",
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_lowercased_and_validated() {
        assert_eq!(
            Email::parse(" Ivan@Shop.RU ").unwrap().as_str(),
            "ivan@shop.ru"
        );
        for bad in [
            "",
            "ivan",
            "ivan@",
            "@shop.ru",
            "ivan@shop",
            "iv an@shop.ru",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn phones_normalise_to_e164() {
        assert_eq!(
            Phone::parse("+7 (916) 123-45-67").unwrap().as_str(),
            "+79161234567"
        );
        assert_eq!(
            Phone::parse("8 916 123 45 67").unwrap().as_str(),
            "+79161234567"
        );
        assert_eq!(
            Phone::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        for bad in ["", "12", "+7 916 abc", "0916123456", "+1234567890123456"] {
            assert!(Phone::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn statuses_parse_from_seed_names_only() {
        assert_eq!(
            "wholesale".parse::<LeadStatus>().unwrap(),
            LeadStatus::Wholesale
        );
        let err = "vip".parse::<LeadStatus>().unwrap_err();
        assert!(err.message.contains("new, contacted"));
    }

    #[test]
    fn bonus_keeps_the_decimal_that_was_sent() {
        assert_eq!(Bonus::from_f64(150.1).unwrap().as_str(), "150.1");
        assert_eq!(Bonus::from_f64(100.0).unwrap().as_str(), "100");
        assert!(Bonus::from_f64(f64::NAN).is_err());
        assert_eq!(Bonus::parse("123.00").unwrap().as_str(), "123.00");
        assert_eq!(Bonus::parse("-5").unwrap().as_str(), "-5");
        assert_eq!(Bonus::parse("1.5e2").unwrap().as_f64(), 150.0);
        for bad in ["", "abc", "1.2.3", "1e", "NaN", "inf", "1e999", "0x10", "."] {
            assert!(Bonus::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn fields_are_trimmed_and_birthday_checked() {
        let f = ContactFields {
            name: Some("  Ivan ".into()),
            city: Some("   ".into()),
            birthday: Some("1990-02-28".into()),
            ..Default::default()
        }
        .normalised()
        .unwrap();
        assert_eq!(f.name.as_deref(), Some("Ivan"));
        assert_eq!(f.city, None);
        let bad = ContactFields {
            birthday: Some("28.02.1990".into()),
            ..Default::default()
        };
        assert_eq!(bad.normalised().unwrap_err().field, "birthday");
    }
}
