//! Contacts and lists: the same SQL on both backends, bulk membership from the dialect.

/// `ContactStore`, and `ListStore` with bulk membership from `$dialect`.
macro_rules! impl_contact_stores {
    ($store:ty, $conn:ty, $dialect:path) => {
        use async_trait::async_trait;
        use sqlx::types::Json;
        use sqlx::Row;
        use vestnik_domain::store::{ContactStore, ListStore};
        use vestnik_domain::{
            Bonus, Contact, ContactId, ContactList, Email, LeadStatus, ListId, NewContact, Phone, SiteId,
            StoreError, StoreResult, Timestamp,
        };
        use $dialect as dialect;

        use crate::common::{conflict_message, CONTACT_COLUMNS};
        use crate::error::map_err;
        use crate::rows;

        #[async_trait]
        impl ContactStore for $store {
            async fn insert_contact(&self, site: &SiteId, contact: &NewContact) -> StoreResult<Contact> {
                Ok(self.insert_contacts(site, std::slice::from_ref(contact)).await?.remove(0))
            }

            async fn insert_contacts(&self, site: &SiteId, contacts: &[NewContact]) -> StoreResult<Vec<Contact>> {
                for c in contacts {
                    c.validate()?;
                }
                let sql = format!(
                    "INSERT INTO contacts (site_id, email, phone, name, last_name, position, region, country, city, \
                     address, company, birthday, sex, status, bonus, custom_fields, tags, email_subscription, \
                     sms_subscription, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20) \
                     RETURNING {CONTACT_COLUMNS}"
                );
                let now = Timestamp::now().millis();
                let mut tx = self.writes().begin().await.map_err(map_err("contact"))?;
                let mut out = Vec::with_capacity(contacts.len());
                for c in contacts {
                    let f = &c.fields;
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                        .bind(site.as_str())
                        .bind(c.email.as_ref().map(|e| e.as_str()))
                        .bind(c.phone.as_ref().map(|p| p.as_str()))
                        .bind(f.name.as_deref())
                        .bind(f.last_name.as_deref())
                        .bind(f.position.as_deref())
                        .bind(f.region.as_deref())
                        .bind(f.country.as_deref())
                        .bind(f.city.as_deref())
                        .bind(f.address.as_deref())
                        .bind(f.company.as_deref())
                        .bind(f.birthday.as_deref())
                        .bind(f.sex.as_deref())
                        .bind(c.status.as_str())
                        .bind(c.bonus.as_str())
                        .bind(Json(&c.custom_fields))
                        .bind(Json(rows::unique_tags(&c.tags)))
                        .bind(c.email_subscription.as_str())
                        .bind(c.sms_subscription.as_str())
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| match map_err("contact")(e) {
                            StoreError::Conflict(_) => StoreError::Conflict(conflict_message(c)),
                            StoreError::NotFound(_) => StoreError::NotFound(format!("site {site}")),
                            other => other,
                        })?;
                    out.push(rows::contact(&row)?);
                }
                tx.commit().await.map_err(map_err("contact"))?;
                Ok(out)
            }

            async fn get_contact(&self, site: &SiteId, id: ContactId) -> StoreResult<Contact> {
                let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE site_id = $1 AND id = $2");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .bind(id.0)
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("contact"))?
                    .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
                rows::contact(&row)
            }

            async fn find_contact(
                &self,
                site: &SiteId,
                email: Option<&Email>,
                phone: Option<&Phone>,
            ) -> StoreResult<Option<Contact>> {
                for (col, value) in [("email", email.map(|e| e.as_str())), ("phone", phone.map(|p| p.as_str()))] {
                    let Some(value) = value else { continue };
                    let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE site_id = $1 AND {col} = $2");
                    if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(site.as_str())
                        .bind(value)
                        .fetch_optional(self.reads())
                        .await
                        .map_err(map_err("contact"))?
                    {
                        return rows::contact(&row).map(Some);
                    }
                }
                Ok(None)
            }

            async fn update_contact(&self, site: &SiteId, c: &Contact) -> StoreResult<Contact> {
                if c.email.is_none() && c.phone.is_none() {
                    return Err(vestnik_domain::ValidationError::new("email", "a contact needs an email or a phone").into());
                }
                let f = &c.fields;
                let sql = format!(
                    "UPDATE contacts SET email = $1, phone = $2, name = $3, last_name = $4, position = $5, region = $6, \
                     country = $7, city = $8, address = $9, company = $10, birthday = $11, sex = $12, status = $13, \
                     bonus = $14, custom_fields = $15, tags = $16, email_subscription = $17, sms_subscription = $18, \
                     updated_at = $19 WHERE site_id = $20 AND id = $21 RETURNING {CONTACT_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(c.email.as_ref().map(|e| e.as_str()))
                    .bind(c.phone.as_ref().map(|p| p.as_str()))
                    .bind(f.name.as_deref())
                    .bind(f.last_name.as_deref())
                    .bind(f.position.as_deref())
                    .bind(f.region.as_deref())
                    .bind(f.country.as_deref())
                    .bind(f.city.as_deref())
                    .bind(f.address.as_deref())
                    .bind(f.company.as_deref())
                    .bind(f.birthday.as_deref())
                    .bind(f.sex.as_deref())
                    .bind(c.status.as_str())
                    .bind(c.bonus.as_str())
                    .bind(Json(&c.custom_fields))
                    .bind(Json(rows::unique_tags(&c.tags)))
                    .bind(c.email_subscription.as_str())
                    .bind(c.sms_subscription.as_str())
                    .bind(Timestamp::now().millis())
                    .bind(site.as_str())
                    .bind(c.id.0)
                    .fetch_optional(self.writes())
                    .await
                    .map_err(|e| match map_err("contact")(e) {
                        StoreError::Conflict(_) => {
                            StoreError::Conflict("another contact already has this email or phone".to_string())
                        }
                        other => other,
                    })?
                    .ok_or_else(|| StoreError::NotFound(format!("contact {}", c.id)))?;
                rows::contact(&row)
            }

            async fn delete_contact(&self, site: &SiteId, id: ContactId) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM contacts WHERE site_id = $1 AND id = $2")
                    .bind(site.as_str())
                    .bind(id.0)
                    .execute(self.writes())
                    .await
                    .map_err(map_err("contact"))?;
                Ok(done.rows_affected() > 0)
            }

            async fn count_contacts(&self, site: &SiteId) -> StoreResult<i64> {
                sqlx::query("SELECT count(*) FROM contacts WHERE site_id = $1")
                    .bind(site.as_str())
                    .fetch_one(self.reads())
                    .await
                    .map(|r| r.get::<i64, _>(0))
                    .map_err(map_err("contact"))
            }

            async fn set_status_by_email(&self, site: &SiteId, email: &Email, status: LeadStatus) -> StoreResult<bool> {
                let done = sqlx::query("UPDATE contacts SET status = $1, updated_at = $2 WHERE site_id = $3 AND email = $4")
                    .bind(status.as_str())
                    .bind(Timestamp::now().millis())
                    .bind(site.as_str())
                    .bind(email.as_str())
                    .execute(self.writes())
                    .await
                    .map_err(map_err("contact"))?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_bonuses_by_email(&self, site: &SiteId, bonuses: &[(Email, Bonus)]) -> StoreResult<Vec<bool>> {
                let now = Timestamp::now().millis();
                let mut tx = self.writes().begin().await.map_err(map_err("contact"))?;
                let mut found = Vec::with_capacity(bonuses.len());
                for (email, bonus) in bonuses {
                    let done = sqlx::query("UPDATE contacts SET bonus = $1, updated_at = $2 WHERE site_id = $3 AND email = $4")
                        .bind(bonus.as_str())
                        .bind(now)
                        .bind(site.as_str())
                        .bind(email.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err("contact"))?;
                    found.push(done.rows_affected() > 0);
                }
                tx.commit().await.map_err(map_err("contact"))?;
                Ok(found)
            }
        }

        #[async_trait]
        impl ListStore for $store {
            async fn create_list(&self, site: &SiteId, name: &str) -> StoreResult<ContactList> {
                let name = vestnik_domain::contact::validate_list_name(name)?;
                let row = sqlx::query(
                    "INSERT INTO lists (site_id, name, created_at) VALUES ($1, $2, $3) RETURNING id, site_id, name, created_at",
                )
                .bind(site.as_str())
                .bind(&name)
                .bind(Timestamp::now().millis())
                .fetch_one(self.writes())
                .await
                .map_err(|e| match map_err("list")(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("a list named `{name}` already exists")),
                    StoreError::NotFound(_) => StoreError::NotFound(format!("site {site}")),
                    other => other,
                })?;
                rows::list(&row)
            }

            async fn lists(&self, site: &SiteId) -> StoreResult<Vec<ContactList>> {
                sqlx::query("SELECT id, site_id, name, created_at FROM lists WHERE site_id = $1 ORDER BY name")
                    .bind(site.as_str())
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("list"))?
                    .iter()
                    .map(rows::list)
                    .collect()
            }

            async fn find_list(&self, site: &SiteId, name: &str) -> StoreResult<Option<ContactList>> {
                sqlx::query("SELECT id, site_id, name, created_at FROM lists WHERE site_id = $1 AND name = $2")
                    .bind(site.as_str())
                    .bind(name.trim())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("list"))?
                    .as_ref()
                    .map(rows::list)
                    .transpose()
            }

            async fn add_to_list(&self, site: &SiteId, list: ListId, contacts: &[ContactId]) -> StoreResult<u64> {
                let mut tx = self.writes().begin().await.map_err(map_err("list"))?;
                ensure_list(&mut tx, site, list).await?;
                let missing = dialect::count_missing_contacts(&mut tx, site, contacts).await?;
                if missing > 0 {
                    return Err(StoreError::NotFound(format!("{missing} of the given contacts in this site")));
                }
                let added = dialect::insert_members(&mut tx, list, contacts, Timestamp::now()).await?;
                tx.commit().await.map_err(map_err("list"))?;
                Ok(added)
            }

            async fn remove_from_list(&self, site: &SiteId, list: ListId, contacts: &[ContactId]) -> StoreResult<u64> {
                let mut tx = self.writes().begin().await.map_err(map_err("list"))?;
                ensure_list(&mut tx, site, list).await?;
                let removed = dialect::delete_members(&mut tx, list, contacts).await?;
                tx.commit().await.map_err(map_err("list"))?;
                Ok(removed)
            }

            async fn list_members(
                &self,
                site: &SiteId,
                list: ListId,
                after: Option<ContactId>,
                limit: u32,
            ) -> StoreResult<Vec<ContactId>> {
                let rows = sqlx::query(
                    "SELECT m.contact_id FROM list_members m JOIN lists l ON l.id = m.list_id \
                     WHERE l.site_id = $1 AND m.list_id = $2 AND m.contact_id > $3 ORDER BY m.contact_id LIMIT $4",
                )
                .bind(site.as_str())
                .bind(list.0)
                .bind(after.map(|a| a.0).unwrap_or(i64::MIN))
                .bind(i64::from(limit))
                .fetch_all(self.reads())
                .await
                .map_err(map_err("list member"))?;
                Ok(rows.iter().map(|r| ContactId(r.get::<i64, _>(0))).collect())
            }

            async fn contact_lists(&self, site: &SiteId, contact: ContactId) -> StoreResult<Vec<ContactList>> {
                sqlx::query(
                    "SELECT l.id, l.site_id, l.name, l.created_at FROM lists l JOIN list_members m ON m.list_id = l.id \
                     WHERE l.site_id = $1 AND m.contact_id = $2 ORDER BY l.name",
                )
                .bind(site.as_str())
                .bind(contact.0)
                .fetch_all(self.reads())
                .await
                .map_err(map_err("list"))?
                .iter()
                .map(rows::list)
                .collect()
            }
        }

        async fn ensure_list(conn: &mut $conn, site: &SiteId, list: ListId) -> StoreResult<()> {
            sqlx::query("SELECT 1 FROM lists WHERE id = $1 AND site_id = $2")
                .bind(list.0)
                .bind(site.as_str())
                .fetch_optional(conn)
                .await
                .map_err(map_err("list"))?
                .map(|_| ())
                .ok_or_else(|| StoreError::NotFound(format!("list {list}")))
        }
    };
}
pub(crate) use impl_contact_stores;
