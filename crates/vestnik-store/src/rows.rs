//! Row decoding shared by both backends. Each backend selects columns under the same names
//! and types (PostgreSQL casts JSONB to text in its SELECTs), so one mapper per type suffices.

use sqlx::Row;
use vestnik_domain::{
    ApiKeyId, ApiKeyRecord, Bonus, Contact, ContactFields, ContactId, ContactList, Email, Job,
    JobId, JobState, ListId, Phone, Site, SiteId, StoreError, Timestamp, User, UserId,
};

use crate::error::internal;

/// Typed column access with errors that name the column.
pub(crate) trait Columns {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn json(&self, col: &str) -> Result<serde_json::Value, StoreError>;
    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError>;
    fn opt_json(&self, col: &str) -> Result<Option<serde_json::Value>, StoreError>;
}

macro_rules! impl_columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, col: &str) -> Result<String, StoreError> {
                self.try_get(col)
                    .map_err(|e| internal(format!("column {col}: {e}")))
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
                self.try_get(col)
                    .map_err(|e| internal(format!("column {col}: {e}")))
            }
            fn int(&self, col: &str) -> Result<i64, StoreError> {
                self.try_get(col)
                    .map_err(|e| internal(format!("column {col}: {e}")))
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
                self.try_get(col)
                    .map_err(|e| internal(format!("column {col}: {e}")))
            }
            fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError> {
                self.try_get(col)
                    .map_err(|e| internal(format!("column {col}: {e}")))
            }
            fn opt_json(&self, col: &str) -> Result<Option<serde_json::Value>, StoreError> {
                self.try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>(col)
                    .map(|j| j.map(|j| j.0))
                    .map_err(|e| internal(format!("column {col}: {e}")))
            }
            fn json(&self, col: &str) -> Result<serde_json::Value, StoreError> {
                self.try_get::<sqlx::types::Json<serde_json::Value>, _>(col)
                    .map(|j| j.0)
                    .map_err(|e| internal(format!("column {col}: {e}")))
            }
        }
    };
}

impl_columns!(sqlx::sqlite::SqliteRow);
impl_columns!(sqlx::postgres::PgRow);

fn parsed<T, E: std::fmt::Display>(col: &str, r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| internal(format!("stored {col} is invalid: {e}")))
}

pub(crate) fn site(r: &impl Columns) -> Result<Site, StoreError> {
    Ok(Site {
        id: SiteId::from_trusted(r.text("id")?),
        name: r.text("name")?,
        created_at: Timestamp(r.int("created_at")?),
    })
}

pub(crate) fn api_key(r: &impl Columns) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        id: ApiKeyId(r.int("id")?),
        site_id: SiteId::from_trusted(r.text("site_id")?),
        label: r.text("label")?,
        hint: r.text("hint")?,
        created_at: Timestamp(r.int("created_at")?),
        revoked_at: r.opt_int("revoked_at")?.map(Timestamp),
    })
}

pub(crate) fn user(r: &impl Columns) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(r.int("id")?),
        email: parsed("email", Email::parse(&r.text("email")?))?,
        created_at: Timestamp(r.int("created_at")?),
    })
}

pub(crate) fn list(r: &impl Columns) -> Result<ContactList, StoreError> {
    Ok(ContactList {
        id: ListId(r.int("id")?),
        site_id: SiteId::from_trusted(r.text("site_id")?),
        name: r.text("name")?,
        created_at: Timestamp(r.int("created_at")?),
    })
}

pub(crate) fn contact(r: &impl Columns) -> Result<Contact, StoreError> {
    let custom_fields = r.json("custom_fields")?;
    let custom_fields = match custom_fields {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    Ok(Contact {
        id: ContactId(r.int("id")?),
        site_id: SiteId::from_trusted(r.text("site_id")?),
        email: r
            .opt_text("email")?
            .map(|e| parsed("email", Email::parse(&e)))
            .transpose()?,
        phone: r
            .opt_text("phone")?
            .map(|p| parsed("phone", Phone::parse(&p)))
            .transpose()?,
        fields: ContactFields {
            name: r.opt_text("name")?,
            last_name: r.opt_text("last_name")?,
            position: r.opt_text("position")?,
            region: r.opt_text("region")?,
            country: r.opt_text("country")?,
            city: r.opt_text("city")?,
            address: r.opt_text("address")?,
            company: r.opt_text("company")?,
            birthday: r.opt_text("birthday")?,
            sex: r.opt_text("sex")?,
        },
        status: parsed("status", r.text("status")?.parse())?,
        bonus: Bonus::from_trusted(r.text("bonus")?),
        custom_fields,
        tags: parsed("tags", serde_json::from_value(r.json("tags")?))?,
        email_subscription: parsed("email_subscription", r.text("email_subscription")?.parse())?,
        sms_subscription: parsed("sms_subscription", r.text("sms_subscription")?.parse())?,
        created_at: Timestamp(r.int("created_at")?),
        updated_at: Timestamp(r.int("updated_at")?),
    })
}

pub(crate) fn job(r: &impl Columns) -> Result<Job, StoreError> {
    Ok(Job {
        id: JobId(r.int("id")?),
        kind: r.text("kind")?,
        site_id: r.opt_text("site_id")?.map(SiteId::from_trusted),
        payload: r.json("payload")?,
        state: parsed("state", r.text("state")?.parse())?,
        run_at: Timestamp(r.int("run_at")?),
        attempts: r.int("attempts")? as i32,
        max_attempts: r.int("max_attempts")? as i32,
        lease_owner: r.opt_text("lease_owner")?,
        lease_until: r.opt_int("lease_until")?.map(Timestamp),
        last_error: r.opt_text("last_error")?,
        created_at: Timestamp(r.int("created_at")?),
        finished_at: r.opt_int("finished_at")?.map(Timestamp),
    })
}

/// Tags trimmed, de-duplicated, in first-seen order.
pub(crate) fn unique_tags(tags: &[String]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let t = t.trim();
        if !seen.iter().any(|s| s == t) {
            seen.push(t.to_string());
        }
    }
    seen
}

/// Counts per job state, with a zero for every state that has no rows.
pub(crate) fn job_state_counts(
    rows: impl Iterator<Item = (String, i64)>,
) -> Result<Vec<(JobState, i64)>, StoreError> {
    let mut counts: Vec<(JobState, i64)> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
    for (state, n) in rows {
        let state: JobState = state.parse().map_err(internal)?;
        if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == state) {
            slot.1 = n;
        }
    }
    Ok(counts)
}
