//! Contacts and lists: the same SQL on both backends, bulk membership from the dialect.

/// `ContactStore`, and `ListStore` with bulk membership from `$dialect`.
/// Binds a contact's 18 columns in the order the insert and update statements list them
/// (email, phone, the §1 fields, status, bonus, custom fields, tags, subscriptions).
/// Works on `Contact` and `NewContact`, which share those fields.
macro_rules! bind_contact_fields {
    ($query:expr, $contact:expr) => {{
        let c = $contact;
        let f = &c.fields;
        $query
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
    }};
}
pub(crate) use bind_contact_fields;

macro_rules! impl_contact_stores {
    ($store:ty, $conn:ty, $dialect:path) => {
        use async_trait::async_trait;
        use sqlx::types::Json;
        use sqlx::Row;
        use std::collections::HashSet;
        use vestnik_domain::contact::{
            merge, ContactExport, ContactUpsert, ErasureReport, MembershipChange, OverwriteRule, UpsertOutcome,
        };
        use vestnik_domain::store::{AuditEntry, ContactStore, EventStore, ListStore};
        use vestnik_domain::{
            Bonus, Contact, ContactId, ContactList, Email, LeadStatus, ListId, NewContact, Phone, SiteId,
            StoreError, StoreResult, Timestamp, ValidationError,
        };
        use $dialect as dialect;

        use crate::common::{conflict_message, CONTACT_COLUMNS};
        use crate::error::map_err;
        use crate::rows;
        use crate::rows::Columns;

        #[async_trait]
        impl ContactStore for $store {
            async fn insert_contact(&self, site: &SiteId, contact: &NewContact) -> StoreResult<Contact> {
                Ok(self.insert_contacts(site, std::slice::from_ref(contact)).await?.remove(0))
            }

            async fn insert_contacts(&self, site: &SiteId, contacts: &[NewContact]) -> StoreResult<Vec<Contact>> {
                for c in contacts {
                    c.validate()?;
                }
                let now = Timestamp::now().millis();
                let mut tx = self.writes().begin().await.map_err(map_err("contact"))?;
                let mut out = Vec::with_capacity(contacts.len());
                for c in contacts {
                    out.push(insert_row(&mut tx, site, c, now).await?);
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
                let mut conn = self.writes().acquire().await.map_err(map_err("contact"))?;
                update_row(&mut conn, site, c, Timestamp::now().millis()).await
            }

            async fn delete_contact(&self, site: &SiteId, id: ContactId) -> StoreResult<bool> {
                // Holding the write lock from before the contact's events are all indexed
                // until they are deleted, so that none stored in between is missed.
                let mut conn = self.writes().acquire().await.map_err(map_err("contact"))?;
                self.settle_events_holding_write_lock().await?;
                let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(map_err("contact"))?;
                // Its events go with it. On SQLite no foreign key cascades to them (migration
                // 0008: there is no index on events.contact_id to cascade through).
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM events WHERE id IN (SELECT e.id FROM {} AND e.site_id = $1)",
                    dialect::EVENTS_OF_CONTACT
                )))
                .bind(site.as_str())
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(map_err("contact"))?;
                let done = sqlx::query("DELETE FROM contacts WHERE site_id = $1 AND id = $2")
                    .bind(site.as_str())
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("contact"))?;
                tx.commit().await.map_err(map_err("contact"))?;
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

            async fn upsert_contacts(
                &self,
                site: &SiteId,
                items: &[ContactUpsert],
                rule: OverwriteRule,
            ) -> StoreResult<Vec<StoreResult<(Contact, UpsertOutcome)>>> {
                let now = Timestamp::now().millis();
                // One transaction for the request, a savepoint per item: an item that fails rolls
                // back to its savepoint alone, and a database failure anywhere stores nothing.
                let mut tx = self.writes().begin().await.map_err(map_err("contact"))?;
                let result = upsert_all(&mut tx, site, items, rule, now).await;
                finish(tx, result, "contact").await
            }

            async fn export_contact(&self, site: &SiteId, id: ContactId, audit: &AuditEntry) -> StoreResult<ContactExport> {
                self.settle_events().await?;
                let mut tx = self.writes().begin().await.map_err(map_err("contact"))?;
                let result = export_in(&mut tx, site, id, audit).await;
                let (contact, lists, events, orders) = finish(tx, result, "contact").await?;
                // Behaviour state has its own reader; it is a cache of the events above, so
                // reading it after the commit cannot contradict them in a way that matters.
                let state = self.contact_state(site, id).await?;
                Ok(ContactExport { contact, lists, state, events, orders })
            }

            async fn erase_contact(&self, site: &SiteId, id: ContactId, audit: &AuditEntry) -> StoreResult<ErasureReport> {
                let mut tx = self.writes().begin().await.map_err(map_err("contact"))?;
                let result = erase_in(&mut tx, site, id, audit).await;
                finish(tx, result, "contact").await
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

            async fn get_list(&self, site: &SiteId, list: ListId) -> StoreResult<ContactList> {
                sqlx::query("SELECT id, site_id, name, created_at FROM lists WHERE site_id = $1 AND id = $2")
                    .bind(site.as_str())
                    .bind(list.0)
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("list"))?
                    .as_ref()
                    .map(rows::list)
                    .transpose()?
                    .ok_or_else(|| StoreError::NotFound(format!("list {list}")))
            }

            async fn add_to_list_by_identity(
                &self,
                site: &SiteId,
                list: ListId,
                emails: &[Email],
                phones: &[Phone],
            ) -> StoreResult<MembershipChange> {
                change_membership(self, site, list, emails, phones, true).await
            }

            async fn remove_from_list_by_identity(
                &self,
                site: &SiteId,
                list: ListId,
                emails: &[Email],
                phones: &[Phone],
            ) -> StoreResult<MembershipChange> {
                change_membership(self, site, list, emails, phones, false).await
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

        crate::common::contact_gdpr_fns!($conn);

        async fn upsert_all(
            conn: &mut $conn,
            site: &SiteId,
            items: &[ContactUpsert],
            rule: OverwriteRule,
            now: i64,
        ) -> StoreResult<Vec<StoreResult<(Contact, UpsertOutcome)>>> {
            use sqlx::Connection;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                if let Err(e) = item.validate() {
                    out.push(Err(e.into()));
                    continue;
                }
                let mut item_tx = conn.begin().await.map_err(map_err("contact"))?;
                match upsert_one(&mut item_tx, site, item, rule, now).await {
                    Ok(done) => {
                        item_tx.commit().await.map_err(map_err("contact"))?;
                        out.push(Ok(done));
                    }
                    Err(e @ (StoreError::Invalid(_) | StoreError::Conflict(_) | StoreError::NotFound(_))) => {
                        item_tx.rollback().await.map_err(map_err("contact"))?;
                        out.push(Err(e));
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        }

        /// Commits on success and rolls back at once on failure. A dropped transaction is only
        /// rolled back when its connection is next used; until then PostgreSQL keeps it "idle in
        /// transaction", holding its locks (a migration or DROP SCHEMA then waits forever).
        async fn finish<T>(
            tx: sqlx::Transaction<'_, <$conn as sqlx::Connection>::Database>,
            result: StoreResult<T>,
            what: &str,
        ) -> StoreResult<T> {
            match result {
                Ok(value) => {
                    tx.commit().await.map_err(map_err(what))?;
                    Ok(value)
                }
                Err(e) => {
                    if let Err(rollback) = tx.rollback().await {
                        tracing::warn!(error = %rollback, "rollback after a failed {what} write");
                    }
                    Err(e)
                }
            }
        }

        fn insert_sql() -> String {
            format!(
                "INSERT INTO contacts (email, phone, name, last_name, position, region, country, city, \
                 address, company, birthday, sex, status, bonus, custom_fields, tags, email_subscription, \
                 sms_subscription, site_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20) \
                 RETURNING {CONTACT_COLUMNS}"
            )
        }

        async fn insert_row(conn: &mut $conn, site: &SiteId, c: &NewContact, now: i64) -> StoreResult<Contact> {
            let row = crate::common::bind_contact_fields!(sqlx::query(sqlx::AssertSqlSafe(insert_sql())), c)
                .bind(site.as_str())
                .bind(now)
                .fetch_one(conn)
                .await
                .map_err(|e| match map_err("contact")(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(conflict_message(c)),
                    StoreError::NotFound(_) => StoreError::NotFound(format!("site {site}")),
                    other => other,
                })?;
            rows::contact(&row)
        }

        async fn update_row(conn: &mut $conn, site: &SiteId, c: &Contact, now: i64) -> StoreResult<Contact> {
            if c.email.is_none() && c.phone.is_none() {
                return Err(ValidationError::new("email", "a contact needs an email or a phone").into());
            }
            let sql = format!(
                "UPDATE contacts SET email = $1, phone = $2, name = $3, last_name = $4, position = $5, region = $6, \
                 country = $7, city = $8, address = $9, company = $10, birthday = $11, sex = $12, status = $13, \
                 bonus = $14, custom_fields = $15, tags = $16, email_subscription = $17, sms_subscription = $18, \
                 updated_at = $19 WHERE site_id = $20 AND id = $21 RETURNING {CONTACT_COLUMNS}"
            );
            let row = crate::common::bind_contact_fields!(sqlx::query(sqlx::AssertSqlSafe(sql)), c)
                .bind(now)
                .bind(site.as_str())
                .bind(c.id.0)
                .fetch_optional(conn)
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

        async fn contact_in(conn: &mut $conn, site: &SiteId, id: ContactId) -> StoreResult<Contact> {
            let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE site_id = $1 AND id = $2");
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(site.as_str())
                .bind(id.0)
                .fetch_optional(conn)
                .await
                .map_err(map_err("contact"))?
                .ok_or_else(|| StoreError::NotFound(format!("contact {id}")))?;
            rows::contact(&row)
        }

        /// `col` is `email` or `phone`, never input.
        async fn contact_by(conn: &mut $conn, site: &SiteId, col: &str, value: &str) -> StoreResult<Option<Contact>> {
            let sql = format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE site_id = $1 AND {col} = $2");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(site.as_str())
                .bind(value)
                .fetch_optional(conn)
                .await
                .map_err(map_err("contact"))?
                .as_ref()
                .map(rows::contact)
                .transpose()
        }

        /// `col` is `email` or `phone`, never input.
        async fn contact_id_by(conn: &mut $conn, site: &SiteId, col: &str, value: &str) -> StoreResult<Option<ContactId>> {
            let sql = format!("SELECT id FROM contacts WHERE site_id = $1 AND {col} = $2");
            Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(site.as_str())
                .bind(value)
                .fetch_optional(conn)
                .await
                .map_err(map_err("contact"))?
                .map(|r| ContactId(r.get::<i64, _>(0))))
        }

        async fn lists_of(conn: &mut $conn, site: &SiteId, contact: ContactId) -> StoreResult<Vec<ContactList>> {
            sqlx::query(
                "SELECT l.id, l.site_id, l.name, l.created_at FROM lists l JOIN list_members m ON m.list_id = l.id \
                 WHERE l.site_id = $1 AND m.contact_id = $2 ORDER BY l.name",
            )
            .bind(site.as_str())
            .bind(contact.0)
            .fetch_all(conn)
            .await
            .map_err(map_err("list"))?
            .iter()
            .map(rows::list)
            .collect()
        }

        /// One upsert item inside its own savepoint; any error leaves the savepoint to be
        /// rolled back by the caller.
        async fn upsert_one(
            conn: &mut $conn,
            site: &SiteId,
            item: &ContactUpsert,
            rule: OverwriteRule,
            now: i64,
        ) -> StoreResult<(Contact, UpsertOutcome)> {
            let by_email = match &item.email {
                Some(e) => contact_by(&mut *conn, site, "email", e.as_str()).await?,
                None => None,
            };
            let by_phone = match &item.phone {
                Some(p) => contact_by(&mut *conn, site, "phone", p.as_str()).await?,
                None => None,
            };
            let existing = match (by_email, by_phone) {
                (Some(a), Some(b)) if a.id != b.id => {
                    return Err(StoreError::Conflict(format!(
                        "the email and the phone belong to two different contacts ({} and {}); \
                         send the email or the phone alone, or erase one of the two contacts",
                        a.id, b.id
                    )));
                }
                (Some(a), _) => Some(a),
                (None, b) => b,
            };
            let (contact, mut outcome) = match existing {
                None => (insert_row(&mut *conn, site, &item.to_new_contact(), now).await?, UpsertOutcome::Created),
                Some(old) => {
                    let merged = merge(&old, item, rule);
                    if merged == old {
                        (old, UpsertOutcome::Unchanged)
                    } else {
                        (update_row(&mut *conn, site, &merged, now).await?, UpsertOutcome::Updated)
                    }
                }
            };
            let mut joined = HashSet::new();
            for name in &item.lists {
                let name = name.trim();
                let list = sqlx::query("SELECT id FROM lists WHERE site_id = $1 AND name = $2")
                    .bind(site.as_str())
                    .bind(name)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(map_err("list"))?
                    .map(|r| ListId(r.get::<i64, _>(0)))
                    // Not created on the fly: a typo in an import would otherwise become a list
                    // that no campaign targets, and the contact would silently miss mailings.
                    .ok_or_else(|| {
                        StoreError::Invalid(ValidationError::new(
                            "lists",
                            format!("there is no list named `{name}`; create it first with POST /api/v1/lists"),
                        ))
                    })?;
                if joined.insert(list) {
                    let added = dialect::insert_members(&mut *conn, list, &[contact.id], Timestamp(now)).await?;
                    if added > 0 && outcome == UpsertOutcome::Unchanged {
                        outcome = UpsertOutcome::Updated;
                    }
                }
            }
            Ok((contact, outcome))
        }

        async fn change_membership(
            store: &$store,
            site: &SiteId,
            list: ListId,
            emails: &[Email],
            phones: &[Phone],
            add: bool,
        ) -> StoreResult<MembershipChange> {
            let mut tx = store.writes().begin().await.map_err(map_err("list"))?;
            let result = membership_in(&mut tx, site, list, emails, phones, add).await;
            finish(tx, result, "list").await
        }

        async fn membership_in(
            conn: &mut $conn,
            site: &SiteId,
            list: ListId,
            emails: &[Email],
            phones: &[Phone],
            add: bool,
        ) -> StoreResult<MembershipChange> {
            ensure_list(&mut *conn, site, list).await?;
            let mut change = MembershipChange::default();
            let mut ids = Vec::new();
            let mut seen_ids = HashSet::new();
            let mut seen_emails = HashSet::new();
            for e in emails {
                if !seen_emails.insert(e) {
                    continue;
                }
                match contact_id_by(&mut *conn, site, "email", e.as_str()).await? {
                    Some(id) => {
                        if seen_ids.insert(id) {
                            ids.push(id);
                        }
                    }
                    None => change.unmatched_emails.push(e.clone()),
                }
            }
            let mut seen_phones = HashSet::new();
            for p in phones {
                if !seen_phones.insert(p) {
                    continue;
                }
                match contact_id_by(&mut *conn, site, "phone", p.as_str()).await? {
                    Some(id) => {
                        if seen_ids.insert(id) {
                            ids.push(id);
                        }
                    }
                    None => change.unmatched_phones.push(p.clone()),
                }
            }
            change.matched = ids.len() as u64;
            change.changed = if add {
                dialect::insert_members(&mut *conn, list, &ids, Timestamp::now()).await?
            } else {
                dialect::delete_members(&mut *conn, list, &ids).await?
            };
            Ok(change)
        }
    };
}
pub(crate) use impl_contact_stores;
