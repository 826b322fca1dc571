//! The job queue: outcome writes and reads in common SQL; claims and bulk work from the dialect.

/// `JobStore`, with claiming, lease renewal and bulk enqueue from `$dialect`.
macro_rules! impl_job_store {
    ($store:ty, $dialect:path) => {
        use async_trait::async_trait;
        use sqlx::Row;
        use std::time::Duration;
        use vestnik_domain::store::JobStore;
        use vestnik_domain::{Job, JobId, JobState, NewJob, StoreResult, Timestamp};
        use $dialect as dialect;

        use crate::common::JOB_COLUMNS;
        use crate::error::map_err;
        use crate::rows;

        #[async_trait]
        impl JobStore for $store {
            async fn enqueue(&self, job: &NewJob) -> StoreResult<JobId> {
                Ok(self.enqueue_many(std::slice::from_ref(job)).await?[0])
            }

            async fn enqueue_many(&self, jobs: &[NewJob]) -> StoreResult<Vec<JobId>> {
                dialect::enqueue_many(self, jobs).await
            }

            async fn claim_jobs(
                &self,
                owner: &str,
                kinds: &[String],
                limit: u32,
                lease: Duration,
                now: Timestamp,
            ) -> StoreResult<Vec<Job>> {
                if kinds.is_empty() || limit == 0 {
                    return Ok(Vec::new());
                }
                let mut jobs = dialect::claim_jobs(self, owner, kinds, limit, lease, now).await?;
                jobs.sort_by_key(|j| (j.run_at, j.id));
                Ok(jobs)
            }

            async fn extend_leases(&self, owner: &str, jobs: &[JobId], until: Timestamp) -> StoreResult<u64> {
                if jobs.is_empty() {
                    return Ok(0);
                }
                dialect::extend_leases(self, owner, jobs, until).await
            }

            async fn complete_job(&self, job: JobId, owner: &str, now: Timestamp) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE jobs SET state = 'done', finished_at = $1, lease_owner = NULL, lease_until = NULL \
                     WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
                )
                .bind(now.millis())
                .bind(job.0)
                .bind(owner)
                .execute(self.writes())
                .await
                .map_err(map_err("job"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn fail_job(
                &self,
                job: JobId,
                owner: &str,
                error: &str,
                retry_at: Option<Timestamp>,
                now: Timestamp,
            ) -> StoreResult<bool> {
                // Pending again at retry_at, or dead (finished) when there is no retry.
                let done = sqlx::query(
                    "UPDATE jobs SET state = CASE WHEN $1 IS NULL THEN 'dead' ELSE 'pending' END, \
                         run_at = COALESCE($1, run_at), \
                         finished_at = CASE WHEN $1 IS NULL THEN $2 ELSE NULL END, \
                         last_error = $3, lease_owner = NULL, lease_until = NULL \
                     WHERE id = $4 AND lease_owner = $5 AND state = 'running'",
                )
                .bind(retry_at.map(Timestamp::millis))
                .bind(now.millis())
                .bind(error)
                .bind(job.0)
                .bind(owner)
                .execute(self.writes())
                .await
                .map_err(map_err("job"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_job(&self, job: JobId, owner: &str) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE jobs SET state = 'pending', attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                         lease_owner = NULL, lease_until = NULL \
                     WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
                )
                .bind(job.0)
                .bind(owner)
                .execute(self.writes())
                .await
                .map_err(map_err("job"))?;
                Ok(done.rows_affected() == 1)
            }

            async fn get_job(&self, job: JobId) -> StoreResult<Option<Job>> {
                let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(job.0)
                    .fetch_optional(self.reads())
                    .await
                    .map_err(map_err("job"))?
                    .as_ref()
                    .map(rows::job)
                    .transpose()
            }

            async fn list_jobs(&self, state: Option<JobState>, limit: u32) -> StoreResult<Vec<Job>> {
                let sql = format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(state.map(JobState::as_str))
                    .bind(i64::from(limit))
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("job"))?
                    .iter()
                    .map(rows::job)
                    .collect()
            }

            async fn job_counts(&self) -> StoreResult<Vec<(JobState, i64)>> {
                let rows = sqlx::query("SELECT state, count(*) FROM jobs GROUP BY state")
                    .fetch_all(self.reads())
                    .await
                    .map_err(map_err("job"))?;
                rows::job_state_counts(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))))
            }
        }
    };
}
pub(crate) use impl_job_store;
