//! `SegmentStore` on both backends: the `segments` rows, and counting and paging members
//! with the SQL `common::segments` compiles for the backend's dialect.

macro_rules! impl_segment_store {
    ($store:ty, $dialect:ty) => {
        use async_trait::async_trait;
        use sqlx::types::Json;
        use vestnik_domain::segment::{Condition, Segment, SegmentId, validate_segment_name};
        use vestnik_domain::store::SegmentStore;
        use vestnik_domain::{ContactId, SiteId, StoreError, StoreResult, Timestamp};

        use crate::common::segments::{Param, Sql, count_query, members_query};
        use crate::error::{classify, internal, map_err};
        use crate::rows::Columns;

        const SEGMENT_COLUMNS: &str = "id, site_id, name, condition, created_at, updated_at";

        fn segment_from_row(r: &impl Columns) -> StoreResult<Segment> {
            let condition = Condition::parse(&r.json("condition")?)
                .map_err(|e| internal(format!("a stored segment condition is invalid: {e}")))?;
            Ok(Segment {
                id: SegmentId(r.int("id")?),
                site_id: SiteId::from_trusted(r.text("site_id")?),
                name: r.text("name")?,
                condition,
                created_at: Timestamp(r.int("created_at")?),
                updated_at: Timestamp(r.int("updated_at")?),
            })
        }

        /// A unique violation on (site_id, name) said in the marketer's words.
        fn name_taken(name: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
            move |e| match classify("segment", e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!(
                    "a segment named {name:?} already exists; choose another name"
                )),
                other => other,
            }
        }

        /// Runs a compiled query with its parameters bound in order.
        macro_rules! bound {
            ($sql:expr) => {{
                let Sql { text, params } = $sql;
                let mut query = sqlx::query(sqlx::AssertSqlSafe(text));
                for p in params {
                    query = match p {
                        Param::Text(s) => query.bind(s),
                        Param::Int(i) => query.bind(i),
                        Param::Real(f) => query.bind(f),
                    };
                }
                query
            }};
        }

        #[async_trait]
        impl SegmentStore for $store {
            async fn create_segment(
                &self,
                site: &SiteId,
                name: &str,
                condition: &Condition,
            ) -> StoreResult<Segment> {
                let name = validate_segment_name(name)?;
                let now = Timestamp::now().millis();
                let sql = format!(
                    "INSERT INTO segments (site_id, name, condition, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING {SEGMENT_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .bind(&name)
                    .bind(Json(condition.to_json()))
                    .bind(now)
                    .fetch_one(self.writes())
                    .await
                    .map_err(name_taken(&name))?;
                segment_from_row(&row)
            }

            async fn update_segment(
                &self,
                site: &SiteId,
                id: SegmentId,
                name: &str,
                condition: &Condition,
            ) -> StoreResult<Segment> {
                let name = validate_segment_name(name)?;
                let sql = format!(
                    "UPDATE segments SET name = $3, condition = $4, updated_at = $5 \
                     WHERE id = $1 AND site_id = $2 RETURNING {SEGMENT_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .bind(site.as_str())
                    .bind(&name)
                    .bind(Json(condition.to_json()))
                    .bind(Timestamp::now().millis())
                    .fetch_optional(self.writes())
                    .await
                    .map_err(name_taken(&name))?
                    .ok_or_else(|| StoreError::NotFound(format!("segment {id}")))?;
                segment_from_row(&row)
            }

            async fn get_segment(&self, site: &SiteId, id: SegmentId) -> StoreResult<Segment> {
                let sql = format!(
                    "SELECT {SEGMENT_COLUMNS} FROM segments WHERE id = $1 AND site_id = $2"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.0)
                    .bind(site.as_str())
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("segment"))?
                    .ok_or_else(|| StoreError::NotFound(format!("segment {id}")))?;
                segment_from_row(&row)
            }

            async fn list_segments(&self, site: &SiteId) -> StoreResult<Vec<Segment>> {
                let sql = format!(
                    "SELECT {SEGMENT_COLUMNS} FROM segments WHERE site_id = $1 ORDER BY name, id"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(site.as_str())
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("segment"))?
                    .iter()
                    .map(segment_from_row)
                    .collect()
            }

            async fn delete_segment(&self, site: &SiteId, id: SegmentId) -> StoreResult<()> {
                let done = sqlx::query("DELETE FROM segments WHERE id = $1 AND site_id = $2")
                    .bind(id.0)
                    .bind(site.as_str())
                    .execute(self.writes())
                    .await
                    .map_err(map_err("segment"))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("segment {id}")));
                }
                Ok(())
            }

            async fn count_segment(
                &self,
                site: &SiteId,
                condition: &Condition,
                now: Timestamp,
            ) -> StoreResult<i64> {
                self.settle_events().await?;
                let row = bound!(count_query::<$dialect>(site, condition, now))
                    .fetch_one(self.reads())
                    .await
                    .map_err(map_err("segment count"))?;
                sqlx::Row::try_get::<i64, _>(&row, 0)
                    .map_err(|e| internal(format!("segment count: {e}")))
            }

            async fn segment_members(
                &self,
                site: &SiteId,
                condition: &Condition,
                now: Timestamp,
                after: Option<ContactId>,
                limit: u32,
            ) -> StoreResult<Vec<ContactId>> {
                if limit == 0 {
                    return Ok(Vec::new());
                }
                self.settle_events().await?;
                bound!(members_query::<$dialect>(
                    site, condition, now, after, limit
                ))
                .fetch_all(self.reads())
                .await
                .map_err(map_err("segment members"))?
                .iter()
                .map(|r| Ok(ContactId(r.int("id")?)))
                .collect()
            }
        }
    };
}
pub(crate) use impl_segment_store;
