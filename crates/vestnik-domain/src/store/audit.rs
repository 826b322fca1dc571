//! The audit log of access to and changes of personal data.

use async_trait::async_trait;

#[async_trait]
pub trait AuditStore: Send + Sync {}
