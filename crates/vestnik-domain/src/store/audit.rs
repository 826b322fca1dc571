//! The audit log of access to and changes of personal data.
//!
//! Rows name the person by their contact id (`contact:<id>`), never by email or phone: the
//! log outlives an erasure, and must not keep what the erasure removed.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreResult;
use crate::ids::SiteId;
use crate::time::Timestamp;

/// One audited action, as the caller describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub site_id: SiteId,
    /// `api_key:<id>` or `user:<id>`: who to ask about it later.
    pub actor: String,
    /// `contact.export`, `contact.erase`, …
    pub action: String,
    /// `contact:<id>`.
    pub subject: String,
    /// Counts and other facts about the action; no personal data.
    pub details: serde_json::Value,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: i64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    pub created_at: Timestamp,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()>;
    /// The site's newest entries first.
    async fn audit_log(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<AuditRecord>>;
}
