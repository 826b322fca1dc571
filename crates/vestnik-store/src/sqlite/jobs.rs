//! The job queue on SQLite. Claims run in `BEGIN IMMEDIATE` on the single writer connection,
//! so two runners (in this process or another) can never take the same row.

use async_trait::async_trait;
use sqlx::Row;
use std::time::Duration;
use vestnik_domain::store::JobStore;
use vestnik_domain::{Job, JobId, JobState, NewJob, StoreResult, Timestamp};

use super::{SqliteStore, placeholders};
use crate::error::map_err;
use crate::rows;

const JOB_COLUMNS: &str = "id, kind, site_id, payload, state, run_at, attempts, max_attempts, lease_owner, \
     lease_until, last_error, created_at, finished_at";

#[async_trait]
impl JobStore for SqliteStore {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<JobId> {
        Ok(self.enqueue_many(std::slice::from_ref(job)).await?[0])
    }

    async fn enqueue_many(&self, jobs: &[NewJob]) -> StoreResult<Vec<JobId>> {
        let now = Timestamp::now().millis();
        let mut tx = self.write.begin().await.map_err(map_err("job"))?;
        let mut ids = Vec::with_capacity(jobs.len());
        for j in jobs {
            let row = sqlx::query(
                "INSERT INTO jobs (kind, site_id, payload, run_at, max_attempts, created_at) \
                 VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&j.kind)
            .bind(j.site_id.as_ref().map(|s| s.as_str()))
            .bind(j.payload.to_string())
            .bind(j.run_at.millis())
            .bind(i64::from(j.max_attempts))
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err("job"))?;
            ids.push(JobId(row.get(0)));
        }
        tx.commit().await.map_err(map_err("job"))?;
        Ok(ids)
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
        // Two branches, each walking its own partial index in order and stopping at LIMIT:
        // one OR over both would make the database sort every due row on each claim.
        let kinds_in = placeholders(kinds.len());
        let expired = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until < ? AND kind IN ({kinds_in}) \
                 ORDER BY lease_until LIMIT ?) \
             RETURNING {JOB_COLUMNS}"
        ));
        let pending = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND run_at <= ? AND kind IN ({kinds_in}) \
                 ORDER BY run_at, id LIMIT ?) \
             RETURNING {JOB_COLUMNS}"
        ));
        let mut tx = self
            .write
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err("job"))?;
        let mut rows = Vec::new();
        for sql in [expired, pending] {
            let want = i64::from(limit) - rows.len() as i64;
            if want <= 0 {
                break;
            }
            let mut q = sqlx::query(sql)
                .bind(owner)
                .bind(now.plus(lease).millis())
                .bind(now.millis());
            for k in kinds {
                q = q.bind(k.as_str());
            }
            rows.extend(
                q.bind(want)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(map_err("job"))?,
            );
        }
        tx.commit().await.map_err(map_err("job"))?;
        let mut jobs = rows
            .iter()
            .map(rows::job)
            .collect::<StoreResult<Vec<_>>>()?;
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    async fn extend_leases(
        &self,
        owner: &str,
        jobs: &[JobId],
        until: Timestamp,
    ) -> StoreResult<u64> {
        if jobs.is_empty() {
            return Ok(0);
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET lease_until = ? WHERE state = 'running' AND lease_owner = ? AND id IN ({})",
            placeholders(jobs.len())
        ));
        let mut q = sqlx::query(sql).bind(until.millis()).bind(owner);
        for j in jobs {
            q = q.bind(j.0);
        }
        Ok(q.execute(&self.write)
            .await
            .map_err(map_err("job"))?
            .rows_affected())
    }

    async fn complete_job(&self, job: JobId, owner: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = ?, lease_owner = NULL, lease_until = NULL \
             WHERE id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(now.millis())
        .bind(job.0)
        .bind(owner)
        .execute(&self.write)
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
        let q = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE jobs SET state = 'pending', run_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL \
                 WHERE id = ? AND lease_owner = ? AND state = 'running'",
            )
            .bind(at.millis()),
            None => sqlx::query(
                "UPDATE jobs SET state = 'dead', finished_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL \
                 WHERE id = ? AND lease_owner = ? AND state = 'running'",
            )
            .bind(now.millis()),
        };
        let done = q
            .bind(error)
            .bind(job.0)
            .bind(owner)
            .execute(&self.write)
            .await
            .map_err(map_err("job"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_job(&self, job: JobId, owner: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = max(attempts - 1, 0), lease_owner = NULL, lease_until = NULL \
             WHERE id = ? AND lease_owner = ? AND state = 'running'",
        )
        .bind(job.0)
        .bind(owner)
        .execute(&self.write)
        .await
        .map_err(map_err("job"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_job(&self, job: JobId) -> StoreResult<Option<Job>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"));
        sqlx::query(sql)
            .bind(job.0)
            .fetch_optional(&self.read)
            .await
            .map_err(map_err("job"))?
            .as_ref()
            .map(rows::job)
            .transpose()
    }

    async fn list_jobs(&self, state: Option<JobState>, limit: u32) -> StoreResult<Vec<Job>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE (? IS NULL OR state = ?) ORDER BY id DESC LIMIT ?"
        ));
        let state = state.map(JobState::as_str);
        sqlx::query(sql)
            .bind(state)
            .bind(state)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(map_err("job"))?
            .iter()
            .map(rows::job)
            .collect()
    }

    async fn job_counts(&self) -> StoreResult<Vec<(JobState, i64)>> {
        let rows = sqlx::query("SELECT state, count(*) FROM jobs GROUP BY state")
            .fetch_all(&self.read)
            .await
            .map_err(map_err("job"))?;
        rows::job_state_counts(
            rows.iter()
                .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))),
        )
    }
}
