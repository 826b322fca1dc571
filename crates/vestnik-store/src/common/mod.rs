//! Queries that read the same on both backends, written once.
//!
//! SQL here uses `$1, $2, …` parameters, which PostgreSQL and sqlx's SQLite driver both
//! understand, and binds JSON as `sqlx::types::Json` (JSONB on PostgreSQL, text on SQLite).
//! Each macro expands to trait impls for one backend's store type; the store supplies
//! `reads()` and `writes()` pools (the same pool on PostgreSQL) and, for the few operations
//! whose SQL differs, functions in its `dialect` module.

mod audit;
mod campaigns;
pub(crate) mod catalog;
mod contacts;
mod deliveries;
pub(crate) mod events;
mod gdpr;
mod jobs;
mod mail_settings;
mod orders;
mod promo;
pub(crate) mod recommend;
mod segment_store;
pub(crate) mod segments;
mod templates;
mod tenants;
mod tracking;

pub(crate) use audit::impl_audit_store;
pub(crate) use campaigns::impl_campaign_store;
pub(crate) use catalog::impl_catalog_store;
pub(crate) use contacts::{bind_contact_fields, impl_contact_stores};
pub(crate) use deliveries::impl_delivery_store;
pub(crate) use events::impl_event_store;
pub(crate) use gdpr::contact_gdpr_fns;
pub(crate) use jobs::impl_job_store;
pub(crate) use mail_settings::impl_mail_settings_store;
pub(crate) use orders::impl_order_store;
pub(crate) use promo::impl_promo_store;
pub(crate) use recommend::impl_recommendation_store;
pub(crate) use segment_store::impl_segment_store;
pub(crate) use templates::impl_template_store;
pub(crate) use tenants::impl_tenant_stores;
pub(crate) use tracking::impl_tracking_store;

/// Columns every contact SELECT returns, in the names `rows::contact` reads.
pub(crate) const CONTACT_COLUMNS: &str = "id, site_id, email, phone, name, last_name, position, region, country, city, \
     address, company, birthday, sex, status, bonus, custom_fields, tags, email_subscription, sms_subscription, \
     created_at, updated_at";

/// Columns every job SELECT returns, in the names `rows::job` reads.
pub(crate) const JOB_COLUMNS: &str = "id, kind, site_id, payload, state, run_at, attempts, max_attempts, lease_owner, \
     lease_until, last_error, created_at, finished_at";

pub(crate) fn conflict_message(c: &vestnik_domain::NewContact) -> String {
    match (&c.email, &c.phone) {
        (Some(e), Some(p)) => format!("a contact with email {e} or phone {p} already exists"),
        (Some(e), None) => format!("a contact with email {e} already exists"),
        (None, Some(p)) => format!("a contact with phone {p} already exists"),
        (None, None) => "the contact already exists".to_string(),
    }
}

/// `($1, $2), ($3, $4), …`: placeholders for a multi-row VALUES list, numbered from `$first`;
/// with `anonymous`, plain `?` instead. SQLite wants `?` in large statements: it looks named
/// parameters (`$N`) up by a linear scan per bind, which makes binding thousands of them
/// quadratic (75 % of ingestion time before this).
pub(crate) fn values_list(rows: usize, cols: usize, first: usize, anonymous: bool) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            if anonymous {
                out.push('?');
            } else {
                out.push('$');
                out.push_str(&(first + r * cols + c).to_string());
            }
        }
        out.push(')');
    }
    out
}

/// `$first, $first+1, …` (or `?, ?, …` with `anonymous`): placeholders for an `IN (…)` list.
pub(crate) fn in_list(n: usize, first: usize, anonymous: bool) -> String {
    if anonymous {
        return vec!["?"; n].join(", ");
    }
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `n`-th placeholder in either style.
pub(crate) fn placeholder(n: usize, anonymous: bool) -> String {
    if anonymous {
        "?".to_string()
    } else {
        format!("${n}")
    }
}

/// What automation learns about a stored event. No `key_value`: it is often an email, and the
/// outbox must hold no personal data that erasure would have to chase; the event row has it.
/// The outbox payload of an `event` row: enough for a trigger to match, no personal data.
#[derive(serde::Serialize)]
pub(crate) struct EventOutboxPayload<'a> {
    pub event_type: &'a str,
    pub contact_id: Option<i64>,
}

pub(crate) fn event_outbox_payload(
    item: &vestnik_domain::EventToStore,
    contact: Option<vestnik_domain::ContactId>,
) -> EventOutboxPayload<'_> {
    EventOutboxPayload {
        event_type: &item.event.event_type,
        contact_id: contact.map(|c| c.0),
    }
}
