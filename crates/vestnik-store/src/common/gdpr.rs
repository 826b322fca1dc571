//! GDPR access and erasure inside one transaction each, with their audit rows. Expanded inside
//! `impl_contact_stores!`, so it shares that module's imports and helpers (`contact_in`,
//! `lists_of`).

macro_rules! contact_gdpr_fns {
    ($conn:ty) => {
        type Exported = (Contact, Vec<ContactList>, Vec<serde_json::Value>, Vec<serde_json::Value>);

        async fn export_in(conn: &mut $conn, site: &SiteId, id: ContactId, audit: &AuditEntry) -> StoreResult<Exported> {
            let contact = contact_in(&mut *conn, site, id).await?;
            let events = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT e.id, e.event_type, e.key_value, e.params, e.received_at \
                 FROM {} AND e.site_id = $1 ORDER BY e.id",
                dialect::EVENTS_OF_CONTACT
            )))
            .bind(site.as_str())
            .bind(id.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err("event"))?
            .iter()
            .map(|r| {
                Ok(serde_json::json!({
                    "id": r.int("id")?,
                    "event_type": r.text("event_type")?,
                    "key_value": r.text("key_value")?,
                    "params": r.json("params")?,
                    "received_at": Timestamp(r.int("received_at")?),
                }))
            })
            .collect::<StoreResult<Vec<_>>>()?;
            let orders = sqlx::query(
                "SELECT order_id, email, phone, items, total, status, created_at, updated_at FROM orders \
                 WHERE site_id = $1 AND (contact_id = $2 OR email = $3 OR phone = $4) ORDER BY id",
            )
            .bind(site.as_str())
            .bind(id.0)
            .bind(contact.email.as_ref().map(|e| e.as_str()))
            .bind(contact.phone.as_ref().map(|p| p.as_str()))
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err("order"))?
            .iter()
            .map(|r| {
                Ok(serde_json::json!({
                    "order_id": r.text("order_id")?,
                    "email": r.opt_text("email")?,
                    "phone": r.opt_text("phone")?,
                    "items": r.json("items")?,
                    "total": r.text("total")?,
                    "status": r.text("status")?,
                    "created_at": Timestamp(r.int("created_at")?),
                    "updated_at": Timestamp(r.int("updated_at")?),
                }))
            })
            .collect::<StoreResult<Vec<_>>>()?;
            let lists = lists_of(&mut *conn, site, id).await?;
            write_audit(&mut *conn, audit, audit.details.clone()).await?;
            Ok((contact, lists, events, orders))
        }

        async fn erase_in(conn: &mut $conn, site: &SiteId, id: ContactId, audit: &AuditEntry) -> StoreResult<ErasureReport> {
            let contact = contact_in(&mut *conn, site, id).await?;
            let email = contact.email.as_ref().map(|e| e.as_str());
            let phone = contact.phone.as_ref().map(|p| p.as_str());
            // Events name the person by contact, or by the locator they arrived with.
            let events_deleted = sqlx::query(
                "DELETE FROM events WHERE site_id = $1 AND (contact_id = $2 OR key_value = $3 OR key_value = $4)",
            )
            .bind(site.as_str())
            .bind(id.0)
            .bind(email)
            .bind(phone)
            .execute(&mut *conn)
            .await
            .map_err(map_err("event"))?
            .rows_affected();
            // Orders are the shop's accounting and stay; only what identifies the person goes.
            // This runs before the contact's deletion, which would unlink them (SET NULL).
            let orders_anonymised = sqlx::query(
                "UPDATE orders SET email = NULL, phone = NULL, updated_at = $5 \
                 WHERE site_id = $1 AND (contact_id = $2 OR email = $3 OR phone = $4)",
            )
            .bind(site.as_str())
            .bind(id.0)
            .bind(email)
            .bind(phone)
            .bind(Timestamp::now().millis())
            .execute(&mut *conn)
            .await
            .map_err(map_err("order"))?
            .rows_affected();
            sqlx::query("DELETE FROM contacts WHERE site_id = $1 AND id = $2")
                .bind(site.as_str())
                .bind(id.0)
                .execute(&mut *conn)
                .await
                .map_err(map_err("contact"))?;
            let report = ErasureReport { contact_id: id, events_deleted, orders_anonymised };
            let mut details = match &audit.details {
                serde_json::Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            details.insert("events_deleted".into(), events_deleted.into());
            details.insert("orders_anonymised".into(), orders_anonymised.into());
            write_audit(&mut *conn, audit, serde_json::Value::Object(details)).await?;
            Ok(report)
        }

        async fn write_audit(conn: &mut $conn, entry: &AuditEntry, details: serde_json::Value) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO audit_log (site_id, actor, action, subject, details, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(entry.site_id.as_str())
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.subject)
            .bind(Json(&details))
            .bind(Timestamp::now().millis())
            .execute(conn)
            .await
            .map_err(map_err("audit entry"))?;
            Ok(())
        }
    };
}
pub(crate) use contact_gdpr_fns;
