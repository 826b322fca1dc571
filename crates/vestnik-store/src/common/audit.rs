//! `AuditStore` on both backends. Contact export and erasure write their rows themselves, in
//! their own transactions (`common/contacts.rs`); this is for everything else and for reading.

macro_rules! impl_audit_store {
    ($store:ty) => {
        use async_trait::async_trait;
        use sqlx::types::Json;
        use vestnik_domain::store::{AuditEntry, AuditRecord, AuditStore};
        use vestnik_domain::{SiteId, StoreResult, Timestamp};

        use crate::error::map_err;
        use crate::rows::Columns;

        #[async_trait]
        impl AuditStore for $store {
            async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO audit_log (site_id, actor, action, subject, details, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(entry.site_id.as_str())
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.subject)
                .bind(Json(&entry.details))
                .bind(Timestamp::now().millis())
                .execute(self.writes())
                .await
                .map_err(map_err("audit entry"))?;
                Ok(())
            }

            async fn audit_log(&self, site: &SiteId, limit: u32) -> StoreResult<Vec<AuditRecord>> {
                sqlx::query(
                    "SELECT id, site_id, actor, action, subject, details, created_at FROM audit_log \
                     WHERE site_id = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(site.as_str())
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await
                .map_err(map_err("audit entry"))?
                .iter()
                .map(|r| {
                    Ok(AuditRecord {
                        id: r.int("id")?,
                        entry: AuditEntry {
                            site_id: SiteId::from_trusted(r.text("site_id")?),
                            actor: r.text("actor")?,
                            action: r.text("action")?,
                            subject: r.text("subject")?,
                            details: r.json("details")?,
                        },
                        created_at: Timestamp(r.int("created_at")?),
                    })
                })
                .collect()
            }
        }
    };
}
pub(crate) use impl_audit_store;
