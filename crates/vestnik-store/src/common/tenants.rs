//! Sites, API keys, admin users, roles and sessions: the same SQL on both backends.

/// `SiteStore` and `UserStore`.
macro_rules! impl_tenant_stores {
    ($store:ty, $conn:ty) => {
        use async_trait::async_trait;
        use vestnik_domain::site::validate_site_name;
        use vestnik_domain::store::{SiteStore, UserStore};
        use vestnik_domain::{
            ApiKeyId, ApiKeyRecord, Email, IssuedApiKey, PlainApiKey, Role, Site, SiteId, SiteRole,
            StoreError, StoreResult, Timestamp, User, UserId,
        };

        use crate::error::map_err;
        use crate::rows;

        async fn insert_key(
            conn: &mut $conn,
            site: &SiteId,
            label: &str,
        ) -> StoreResult<IssuedApiKey> {
            let plain = PlainApiKey::generate(site);
            let row = sqlx::query(
                "INSERT INTO api_keys (site_id, key_hash, label, hint, created_at) VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id, site_id, label, hint, created_at, revoked_at",
            )
            .bind(site.as_str())
            .bind(plain.hash())
            .bind(label.trim())
            .bind(plain.hint())
            .bind(Timestamp::now().millis())
            .fetch_one(conn)
            .await
            .map_err(map_err("API key"))?;
            Ok(IssuedApiKey {
                record: rows::api_key(&row)?,
                plain,
            })
        }

        #[async_trait]
        impl SiteStore for $store {
            async fn create_site(&self, name: &str) -> StoreResult<(Site, IssuedApiKey)> {
                let name = validate_site_name(name)?;
                let site = Site {
                    id: SiteId::generate(),
                    name,
                    created_at: Timestamp::now(),
                };
                let mut tx = self.writes().begin().await.map_err(map_err("site"))?;
                sqlx::query("INSERT INTO sites (id, name, created_at) VALUES ($1, $2, $3)")
                    .bind(site.id.as_str())
                    .bind(&site.name)
                    .bind(site.created_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err("site"))?;
                let key = insert_key(&mut tx, &site.id, "default").await?;
                tx.commit().await.map_err(map_err("site"))?;
                Ok((site, key))
            }

            async fn list_sites(&self) -> StoreResult<Vec<Site>> {
                sqlx::query("SELECT id, name, created_at FROM sites ORDER BY created_at, id")
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("site"))?
                    .iter()
                    .map(rows::site)
                    .collect()
            }

            async fn get_site(&self, site: &SiteId) -> StoreResult<Site> {
                let row = sqlx::query("SELECT id, name, created_at FROM sites WHERE id = $1")
                    .bind(site.as_str())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("site"))?
                    .ok_or_else(|| StoreError::NotFound(format!("site {site}")))?;
                rows::site(&row)
            }

            async fn create_api_key(&self, site: &SiteId, label: &str) -> StoreResult<IssuedApiKey> {
                let mut conn = self.writes().acquire().await.map_err(map_err("API key"))?;
                insert_key(&mut conn, site, label)
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound(_) => StoreError::NotFound(format!("site {site}")),
                        other => other,
                    })
            }

            async fn list_api_keys(&self, site: &SiteId) -> StoreResult<Vec<ApiKeyRecord>> {
                sqlx::query(
                    "SELECT id, site_id, label, hint, created_at, revoked_at FROM api_keys WHERE site_id = $1 ORDER BY id",
                )
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("API key"))?
                .iter()
                .map(rows::api_key)
                .collect()
            }

            async fn revoke_api_key(&self, site: &SiteId, key: ApiKeyId) -> StoreResult<ApiKeyRecord> {
                let row = sqlx::query(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 AND site_id = $3 \
                     RETURNING id, site_id, label, hint, created_at, revoked_at",
                )
                .bind(Timestamp::now().millis())
                .bind(key.0)
                .bind(site.as_str())
                .fetch_optional(self.writes())
                .await
                .map_err(map_err("API key"))?
                .ok_or_else(|| StoreError::NotFound(format!("API key {key}")))?;
                rows::api_key(&row)
            }

            async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
                sqlx::query(
                    "SELECT id, site_id, label, hint, created_at, revoked_at FROM api_keys WHERE key_hash = $1",
                )
                .bind(key_hash)
                .fetch_optional(self.reads())
                .await
                .map_err(map_err("API key"))?
                .as_ref()
                .map(rows::api_key)
                .transpose()
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn create_user(
                &self,
                email: &Email,
                password_hash: &str,
                roles: &[SiteRole],
            ) -> StoreResult<User> {
                let mut tx = self.writes().begin().await.map_err(map_err("user"))?;
                let row = sqlx::query(
                    "INSERT INTO users (email, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id, email, created_at",
                )
                .bind(email.as_str())
                .bind(password_hash)
                .bind(Timestamp::now().millis())
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| match map_err("user")(e) {
                    StoreError::Conflict(_) => StoreError::Conflict(format!("a user with email {email} already exists")),
                    other => other,
                })?;
                let user = rows::user(&row)?;
                for r in roles {
                    sqlx::query("INSERT INTO user_site_roles (user_id, site_id, role) VALUES ($1, $2, $3)")
                        .bind(user.id.0)
                        .bind(r.site_id.as_str())
                        .bind(r.role.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| match map_err("role")(e) {
                            StoreError::NotFound(_) => StoreError::NotFound(format!("site {}", r.site_id)),
                            other => other,
                        })?;
                }
                tx.commit().await.map_err(map_err("user"))?;
                Ok(user)
            }

            async fn set_role(&self, user: UserId, site: &SiteId, role: Role) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO user_site_roles (user_id, site_id, role) VALUES ($1, $2, $3) \
                     ON CONFLICT (user_id, site_id) DO UPDATE SET role = excluded.role",
                )
                .bind(user.0)
                .bind(site.as_str())
                .bind(role.as_str())
                .execute(self.writes())
                .await
                .map_err(|e| match map_err("role")(e) {
                    StoreError::NotFound(_) => StoreError::NotFound(format!("user {user} or site {site}")),
                    other => other,
                })?;
                Ok(())
            }

            async fn set_password(&self, user: UserId, password_hash: &str) -> StoreResult<()> {
                let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                    .bind(password_hash)
                    .bind(user.0)
                    .execute(self.writes())
                    .await
                    .map_err(map_err("user"))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("user {user}")));
                }
                Ok(())
            }

            async fn find_user_by_email(&self, email: &Email) -> StoreResult<Option<(User, String)>> {
                let Some(row) =
                    sqlx::query("SELECT id, email, created_at, password_hash FROM users WHERE email = $1")
                        .bind(email.as_str())
                        .fetch_optional(self.reads())
                        .await
                        .map_err(map_err("user"))?
                else {
                    return Ok(None);
                };
                use crate::rows::Columns;
                Ok(Some((rows::user(&row)?, row.text("password_hash")?)))
            }

            async fn user_roles(&self, user: UserId) -> StoreResult<Vec<SiteRole>> {
                use crate::rows::Columns;
                sqlx::query("SELECT site_id, role FROM user_site_roles WHERE user_id = $1 ORDER BY site_id")
                    .bind(user.0)
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("role"))?
                    .iter()
                    .map(|r| {
                        Ok(SiteRole {
                            site_id: SiteId::from_trusted(r.text("site_id")?),
                            role: r.text("role")?.parse().map_err(crate::error::internal)?,
                        })
                    })
                    .collect()
            }

            async fn create_session(
                &self,
                user: UserId,
                token_hash: &str,
                expires_at: Timestamp,
            ) -> StoreResult<()> {
                let now = Timestamp::now().millis();
                // Expired sessions are dropped as new ones are made, so the table stays small.
                sqlx::query("DELETE FROM admin_sessions WHERE expires_at < $1")
                    .bind(now)
                    .execute(self.writes())
                    .await
                    .map_err(map_err("session"))?;
                sqlx::query(
                    "INSERT INTO admin_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(token_hash)
                .bind(user.0)
                .bind(now)
                .bind(expires_at.millis())
                .execute(self.writes())
                .await
                .map_err(map_err("session"))?;
                Ok(())
            }

            async fn find_session(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<User>> {
                sqlx::query(
                    "SELECT u.id, u.email, u.created_at FROM admin_sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                )
                .bind(token_hash)
                .bind(now.millis())
                .fetch_optional(self.reads())
                .await
                .map_err(map_err("session"))?
                .as_ref()
                .map(rows::user)
                .transpose()
            }

            async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(self.writes())
                    .await
                    .map_err(map_err("session"))?;
                Ok(())
            }
        }
    };
}
pub(crate) use impl_tenant_stores;
