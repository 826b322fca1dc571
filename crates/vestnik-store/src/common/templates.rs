//! `TemplateStore` on both backends: a template row per name, a row per saved version.

macro_rules! impl_template_store {
    ($store:ty, $conn:ty) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use vestnik_domain::store::TemplateStore;
        use vestnik_domain::template::{
            Template, TemplateContent, TemplateId, TemplateKind, TemplateVersionInfo,
        };
        use vestnik_domain::{SiteId, StoreError, StoreResult, Timestamp};

        use crate::error::{internal, map_err};
        use crate::rows::Columns;

        const TEMPLATE_SELECT: &str = "SELECT t.id, t.site_id, t.name, t.current_version, t.created_at, \
             t.updated_at, v.version, v.subject, v.body, v.kind, v.saved_by \
             FROM templates t JOIN template_versions v ON v.template_id = t.id";

        fn template_from_row(r: &impl Columns) -> StoreResult<Template> {
            let kind = r.text("kind")?;
            Ok(Template {
                id: TemplateId(r.int("id")?),
                site_id: SiteId::from_trusted(r.text("site_id")?),
                name: r.text("name")?,
                version: r.int("version")?,
                current_version: r.int("current_version")?,
                content: TemplateContent {
                    subject: r.text("subject")?,
                    body: r.text("body")?,
                    kind: TemplateKind::parse(&kind)
                        .ok_or_else(|| internal(format!("stored template kind {kind:?} is unknown")))?,
                },
                saved_by: r.text("saved_by")?,
                created_at: Timestamp(r.int("created_at")?),
                updated_at: Timestamp(r.int("updated_at")?),
            })
        }

        async fn insert_version(
            conn: &mut $conn,
            id: i64,
            version: i64,
            content: &TemplateContent,
            saved_by: &str,
            now: i64,
        ) -> StoreResult<()> {
            sqlx::query(
                "INSERT INTO template_versions (template_id, version, subject, body, kind, saved_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(version)
            .bind(&content.subject)
            .bind(&content.body)
            .bind(content.kind.as_str())
            .bind(saved_by)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(map_err("template version"))?;
            Ok(())
        }

        #[async_trait]
        impl TemplateStore for $store {
            async fn create_template(
                &self,
                site: &SiteId,
                name: &str,
                content: &TemplateContent,
                saved_by: &str,
            ) -> StoreResult<Template> {
                let now = Timestamp::now().millis();
                let mut tx = self.writes().begin().await.map_err(map_err("template"))?;
                let created = sqlx::query(
                    "INSERT INTO templates (site_id, name, current_version, created_at, updated_at) \
                     VALUES ($1, $2, 1, $3, $3) ON CONFLICT (site_id, name) DO NOTHING RETURNING id",
                )
                .bind(site.as_str())
                .bind(name.trim())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err("template"))?;
                let Some(row) = created else {
                    let _ = tx.rollback().await;
                    return Err(StoreError::Conflict(format!(
                        "a template named {:?} already exists; save a new version of it instead",
                        name.trim()
                    )));
                };
                let id: i64 = row.get(0);
                insert_version(&mut tx, id, 1, content, saved_by, now).await?;
                tx.commit().await.map_err(map_err("template"))?;
                self.get_template(site, TemplateId(id), None).await
            }

            async fn save_template_version(
                &self,
                site: &SiteId,
                id: TemplateId,
                content: &TemplateContent,
                saved_by: &str,
            ) -> StoreResult<Template> {
                let now = Timestamp::now().millis();
                let mut tx = self.writes().begin().await.map_err(map_err("template"))?;
                // Taking the next number in the UPDATE itself serialises concurrent saves.
                let bumped = sqlx::query(
                    "UPDATE templates SET current_version = current_version + 1, updated_at = $3 \
                     WHERE id = $1 AND site_id = $2 RETURNING current_version",
                )
                .bind(id.0)
                .bind(site.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await
                .map_err(map_err("template"))?;
                let Some(row) = bumped else {
                    let _ = tx.rollback().await;
                    return Err(StoreError::NotFound(format!("template {}", id.0)));
                };
                let version: i64 = row.get(0);
                insert_version(&mut tx, id.0, version, content, saved_by, now).await?;
                tx.commit().await.map_err(map_err("template"))?;
                self.get_template(site, id, None).await
            }

            async fn get_template(
                &self,
                site: &SiteId,
                id: TemplateId,
                version: Option<i64>,
            ) -> StoreResult<Template> {
                let sql = format!(
                    "{TEMPLATE_SELECT} WHERE t.id = $1 AND t.site_id = $2 \
                     AND v.version = coalesce($3, t.current_version)"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .bind(site.as_str())
                    .bind(version)
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("template"))?;
                match row {
                    Some(r) => template_from_row(&r),
                    None => Err(StoreError::NotFound(match version {
                        Some(v) => format!("version {v} of template {}", id.0),
                        None => format!("template {}", id.0),
                    })),
                }
            }

            async fn list_templates(&self, site: &SiteId) -> StoreResult<Vec<Template>> {
                let sql = format!(
                    "{TEMPLATE_SELECT} WHERE t.site_id = $1 AND v.version = t.current_version ORDER BY t.name, t.id"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("template"))?
                    .iter()
                    .map(template_from_row)
                    .collect()
            }

            async fn template_versions(
                &self,
                site: &SiteId,
                id: TemplateId,
            ) -> StoreResult<Vec<TemplateVersionInfo>> {
                let rows = sqlx::query(
                    "SELECT v.version, v.saved_by, v.created_at FROM template_versions v \
                     JOIN templates t ON t.id = v.template_id \
                     WHERE t.id = $1 AND t.site_id = $2 ORDER BY v.version DESC",
                )
                .bind(id.0)
                .bind(site.as_str())
                .fetch_all(self.reads())
                .await
                .map_err(map_err("template"))?;
                if rows.is_empty() {
                    return Err(StoreError::NotFound(format!("template {}", id.0)));
                }
                rows.iter()
                    .map(|r| {
                        Ok(TemplateVersionInfo {
                            version: r.int("version")?,
                            saved_by: r.text("saved_by")?,
                            created_at: Timestamp(r.int("created_at")?),
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use impl_template_store;
