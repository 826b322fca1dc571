//! Upserting contacts: what an import or a shop backend sends about a person, the three
//! overwrite rules, and the pure merge of that input into a stored contact.
//!
//! The contacts API and the automation "add contact" action both go through [`merge`], so a
//! rule means the same thing wherever a marketer picks it.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

use super::{
    Contact, ContactFields, ContactList, Email, NewContact, Phone, Subscription, ValidationError,
    validate_list_name,
};
use crate::event::ContactState;
use crate::ids::ContactId;

/// How incoming data treats what is already stored about a contact that exists. A new contact
/// is created from the incoming data under every rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverwriteRule {
    /// Every field that is sent replaces the stored one; fields not sent are kept.
    #[default]
    Overwrite,
    /// Sent fields only fill fields that are empty; nothing stored is replaced.
    FillEmpty,
    /// An existing contact's data is left as it is (it still joins the requested lists).
    Never,
}

impl OverwriteRule {
    pub fn as_str(self) -> &'static str {
        match self {
            OverwriteRule::Overwrite => "overwrite",
            OverwriteRule::FillEmpty => "fill_empty",
            OverwriteRule::Never => "never",
        }
    }
}

impl FromStr for OverwriteRule {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "overwrite" => Ok(OverwriteRule::Overwrite),
            "fill_empty" => Ok(OverwriteRule::FillEmpty),
            "never" => Ok(OverwriteRule::Never),
            other => Err(ValidationError::new(
                "overwrite",
                format!(
                    "unknown overwrite rule `{other}`; expected overwrite, fill_empty or never"
                ),
            )),
        }
    }
}

/// One contact as an import sends it. `None` and absent keys mean "not sent", never "clear it":
/// an import that lacks a column must not wipe what another source stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactUpsert {
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub fields: ContactFields,
    /// Merged key by key into the stored custom fields.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// Added to the stored tags; an upsert never removes a tag.
    pub tags: Vec<String>,
    /// Names of existing lists the contact joins.
    pub lists: Vec<String>,
    pub email_subscription: Option<Subscription>,
    pub sms_subscription: Option<Subscription>,
}

/// Custom field keys become template variables (`{{ lead.custom.<key> }}`), so they stay short.
const MAX_CUSTOM_KEY_CHARS: usize = 100;
const MAX_CUSTOM_FIELDS: usize = 200;

impl ContactUpsert {
    /// Checks what the types cannot: an identity, tag and list name shapes, custom field keys.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.email.is_none() && self.phone.is_none() {
            return Err(ValidationError::new(
                "email",
                "a contact needs an email or a phone to be matched by",
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
        for name in &self.lists {
            validate_list_name(name).map_err(|e| ValidationError::new("lists", e.message))?;
        }
        if self.custom_fields.len() > MAX_CUSTOM_FIELDS {
            return Err(ValidationError::new(
                "custom_fields",
                format!("at most {MAX_CUSTOM_FIELDS} custom fields per contact"),
            ));
        }
        for key in self.custom_fields.keys() {
            if key.trim().is_empty() || key.chars().count() > MAX_CUSTOM_KEY_CHARS {
                return Err(ValidationError::new(
                    "custom_fields",
                    format!(
                        "custom field names must be 1 to {MAX_CUSTOM_KEY_CHARS} characters; `{key}` is not"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The contact to create when nobody matches. Channels not sent start subscribed, as
    /// imported contacts do everywhere else.
    pub fn to_new_contact(&self) -> NewContact {
        NewContact {
            email: self.email.clone(),
            phone: self.phone.clone(),
            fields: self.fields.clone(),
            custom_fields: self.custom_fields.clone(),
            tags: self.tags.clone(),
            email_subscription: self.email_subscription.unwrap_or_default(),
            sms_subscription: self.sms_subscription.unwrap_or_default(),
            ..Default::default()
        }
    }
}

/// Applies `incoming` to `existing` under `rule`. Pure: the caller stores the result, and an
/// unchanged result (`== existing`) means there is nothing to write.
///
/// - `overwrite`: sent fields, identity included, replace stored ones; custom fields replace
///   key by key; subscriptions sent are set.
/// - `fill_empty`: sent fields fill only empty ones; custom fields only absent or null keys;
///   subscriptions are kept (a channel always has a state, so it is never "empty", and an
///   import must not resubscribe someone who unsubscribed).
/// - `never`: nothing changes.
///
/// Tags are added under `overwrite` and `fill_empty` (adding a tag replaces nothing).
pub fn merge(existing: &Contact, incoming: &ContactUpsert, rule: OverwriteRule) -> Contact {
    let mut out = existing.clone();
    if rule == OverwriteRule::Never {
        return out;
    }
    let take = |stored: &mut Option<String>, sent: &Option<String>| apply(rule, stored, sent);
    let f = &mut out.fields;
    let s = &incoming.fields;
    take(&mut f.name, &s.name);
    take(&mut f.last_name, &s.last_name);
    take(&mut f.position, &s.position);
    take(&mut f.region, &s.region);
    take(&mut f.country, &s.country);
    take(&mut f.city, &s.city);
    take(&mut f.address, &s.address);
    take(&mut f.company, &s.company);
    take(&mut f.birthday, &s.birthday);
    take(&mut f.sex, &s.sex);

    apply(rule, &mut out.email, &incoming.email);
    apply(rule, &mut out.phone, &incoming.phone);

    for (key, value) in &incoming.custom_fields {
        let fill = match out.custom_fields.get(key) {
            None | Some(serde_json::Value::Null) => true,
            Some(_) => rule == OverwriteRule::Overwrite,
        };
        if fill {
            out.custom_fields.insert(key.clone(), value.clone());
        }
    }

    for tag in &incoming.tags {
        let tag = tag.trim();
        if !out.tags.iter().any(|t| t == tag) {
            out.tags.push(tag.to_string());
        }
    }

    if rule == OverwriteRule::Overwrite {
        if let Some(sub) = incoming.email_subscription {
            out.email_subscription = sub;
        }
        if let Some(sub) = incoming.sms_subscription {
            out.sms_subscription = sub;
        }
    }
    out
}

/// One optional value under `rule` (never `Never`: the caller returned early).
fn apply<T: Clone>(rule: OverwriteRule, stored: &mut Option<T>, sent: &Option<T>) {
    if let Some(sent) = sent
        && (rule == OverwriteRule::Overwrite || stored.is_none())
    {
        *stored = Some(sent.clone());
    }
}

/// What an upsert did to one contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    Created,
    /// Its data changed or it joined a list.
    Updated,
    /// It existed and the input changed nothing (the same data, or the `never` rule).
    Unchanged,
}

impl UpsertOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertOutcome::Created => "created",
            UpsertOutcome::Updated => "updated",
            UpsertOutcome::Unchanged => "unchanged",
        }
    }
}

/// Everything stored about one person, for a GDPR access request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContactExport {
    pub contact: Contact,
    pub lists: Vec<ContactList>,
    pub state: ContactState,
    /// Their events as stored (type, key value, params, time), oldest first.
    pub events: Vec<serde_json::Value>,
    /// Orders tied to them by contact, email or phone, as stored.
    pub orders: Vec<serde_json::Value>,
}

/// What an erasure removed, for the caller's confirmation and the audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ErasureReport {
    pub contact_id: ContactId,
    pub events_deleted: u64,
    /// Orders kept for the shop's accounting, with the person's email and phone removed.
    pub orders_anonymised: u64,
}

/// The answer to a bulk list membership change by email/phone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MembershipChange {
    /// Contacts the identifiers matched (each counted once).
    pub matched: u64,
    /// How many of them were added to (or removed from) the list; the rest already were (or
    /// were not) members.
    pub changed: u64,
    /// Identifiers that matched no contact of the site.
    pub unmatched_emails: Vec<Email>,
    pub unmatched_phones: Vec<Phone>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::LeadStatus;
    use crate::ids::SiteId;
    use crate::time::Timestamp;
    use serde_json::json;

    fn stored() -> Contact {
        Contact {
            id: ContactId(1),
            site_id: SiteId::from_trusted("a".repeat(24)),
            email: Some(Email::parse("ivan@shop.ru").unwrap()),
            phone: None,
            fields: ContactFields {
                name: Some("Ivan".into()),
                ..Default::default()
            },
            status: LeadStatus::Customer,
            bonus: Default::default(),
            custom_fields: json!({"size": "M", "cleared": null})
                .as_object()
                .cloned()
                .unwrap(),
            tags: vec!["vip".into()],
            email_subscription: Subscription::Unsubscribed,
            sms_subscription: Subscription::Subscribed,
            created_at: Timestamp(1),
            updated_at: Timestamp(1),
        }
    }

    fn incoming() -> ContactUpsert {
        ContactUpsert {
            email: Some(Email::parse("ivan@shop.ru").unwrap()),
            phone: Some(Phone::parse("+79161234567").unwrap()),
            fields: ContactFields {
                name: Some("Ivan Petrov".into()),
                city: Some("Moscow".into()),
                ..Default::default()
            },
            custom_fields: json!({"size": "L", "cleared": 1, "color": "red"})
                .as_object()
                .cloned()
                .unwrap(),
            tags: vec!["vip".into(), " new ".into()],
            lists: vec![],
            email_subscription: Some(Subscription::Subscribed),
            sms_subscription: None,
        }
    }

    #[test]
    fn overwrite_replaces_sent_fields_and_keeps_the_rest() {
        let m = merge(&stored(), &incoming(), OverwriteRule::Overwrite);
        assert_eq!(m.fields.name.as_deref(), Some("Ivan Petrov"));
        assert_eq!(m.fields.city.as_deref(), Some("Moscow"));
        assert_eq!(m.phone.as_ref().map(Phone::as_str), Some("+79161234567"));
        assert_eq!(
            serde_json::Value::Object(m.custom_fields.clone()),
            json!({"size": "L", "cleared": 1, "color": "red"})
        );
        assert_eq!(m.tags, vec!["vip", "new"]);
        assert_eq!(m.email_subscription, Subscription::Subscribed);
        assert_eq!(
            m.status,
            LeadStatus::Customer,
            "status is not an upsert field"
        );
    }

    #[test]
    fn fill_empty_only_fills_what_is_missing() {
        let m = merge(&stored(), &incoming(), OverwriteRule::FillEmpty);
        assert_eq!(m.fields.name.as_deref(), Some("Ivan"), "stored name kept");
        assert_eq!(
            m.fields.city.as_deref(),
            Some("Moscow"),
            "empty city filled"
        );
        assert_eq!(m.phone.as_ref().map(Phone::as_str), Some("+79161234567"));
        assert_eq!(
            serde_json::Value::Object(m.custom_fields.clone()),
            json!({"size": "M", "cleared": 1, "color": "red"})
        );
        assert_eq!(m.tags, vec!["vip", "new"]);
        assert_eq!(
            m.email_subscription,
            Subscription::Unsubscribed,
            "an import never resubscribes under fill_empty"
        );
    }

    #[test]
    fn never_leaves_an_existing_contact_untouched() {
        assert_eq!(
            merge(&stored(), &incoming(), OverwriteRule::Never),
            stored()
        );
    }

    #[test]
    fn sending_what_is_stored_changes_nothing() {
        let same = ContactUpsert {
            email: stored().email,
            fields: stored().fields,
            tags: vec!["vip".into()],
            ..Default::default()
        };
        assert_eq!(merge(&stored(), &same, OverwriteRule::Overwrite), stored());
    }

    #[test]
    fn an_upsert_needs_an_identity_and_sane_names() {
        assert_eq!(
            ContactUpsert::default().validate().unwrap_err().field,
            "email"
        );
        let mut u = incoming();
        u.lists = vec!["  ".into()];
        assert_eq!(u.validate().unwrap_err().field, "lists");
        let mut u = incoming();
        u.custom_fields.insert(String::new(), json!(1));
        assert_eq!(u.validate().unwrap_err().field, "custom_fields");
        assert!(incoming().validate().is_ok());
    }

    #[test]
    fn overwrite_rules_parse_from_their_api_names() {
        for rule in [
            OverwriteRule::Overwrite,
            OverwriteRule::FillEmpty,
            OverwriteRule::Never,
        ] {
            assert_eq!(rule.as_str().parse::<OverwriteRule>().unwrap(), rule);
        }
        assert!("replace".parse::<OverwriteRule>().is_err());
        assert_eq!(OverwriteRule::default(), OverwriteRule::Overwrite);
    }

    #[test]
    fn a_new_contact_starts_subscribed_on_channels_not_sent() {
        let n = incoming().to_new_contact();
        assert_eq!(n.sms_subscription, Subscription::Subscribed);
        assert_eq!(n.fields.city.as_deref(), Some("Moscow"));
    }
}
