//! The job queue on PostgreSQL: `FOR UPDATE SKIP LOCKED` lets many nodes claim at once
//! without waiting on, or double-taking, each other's rows.

use async_trait::async_trait;
use sqlx::Row;
use std::time::Duration;
use vestnik_domain::store::JobStore;
use vestnik_domain::{Job, JobId, JobState, NewJob, StoreResult, Timestamp};

use super::PostgresStore;
use crate::error::map_err;
use crate::rows;

const JOB_COLUMNS: &str = "id, kind, site_id, payload::text AS payload, state, run_at, attempts, max_attempts, \
     lease_owner, lease_until, last_error, created_at, finished_at";

#[async_trait]
impl JobStore for PostgresStore {
    async fn enqueue(&self, job: &NewJob) -> StoreResult<JobId> {
        Ok(self.enqueue_many(std::slice::from_ref(job)).await?[0])
    }

    async fn enqueue_many(&self, jobs: &[NewJob]) -> StoreResult<Vec<JobId>> {
        let now = Timestamp::now().millis();
        let kinds: Vec<&str> = jobs.iter().map(|j| j.kind.as_str()).collect();
        let sites: Vec<Option<&str>> = jobs
            .iter()
            .map(|j| j.site_id.as_ref().map(|s| s.as_str()))
            .collect();
        let payloads: Vec<String> = jobs.iter().map(|j| j.payload.to_string()).collect();
        let run_at: Vec<i64> = jobs.iter().map(|j| j.run_at.millis()).collect();
        let max_attempts: Vec<i64> = jobs.iter().map(|j| i64::from(j.max_attempts)).collect();
        // One statement for the whole batch; WITH ORDINALITY keeps the ids in input order.
        let rows = sqlx::query(
            "INSERT INTO jobs (kind, site_id, payload, run_at, max_attempts, created_at) \
             SELECT k, s, p::jsonb, r, m, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) \
                 WITH ORDINALITY AS t(k, s, p, r, m, ord) ORDER BY ord \
             RETURNING id",
        )
        .bind(&kinds)
        .bind(&sites)
        .bind(&payloads)
        .bind(&run_at)
        .bind(&max_attempts)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err("job"))?;
        let mut ids: Vec<JobId> = rows.iter().map(|r| JobId(r.get(0))).collect();
        // Identity values follow insertion order, which follows ORDER BY ord.
        ids.sort();
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
        // one OR over both makes PostgreSQL scan and sort every due row on each claim.
        let expired = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_until < $3 AND kind = ANY($4) \
                 ORDER BY lease_until LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLUMNS}"
        ));
        let pending = sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'pending' AND run_at <= $3 AND kind = ANY($4) \
                 ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) \
             RETURNING {JOB_COLUMNS}"
        ));
        let mut rows = Vec::new();
        for sql in [expired, pending] {
            let want = i64::from(limit) - rows.len() as i64;
            if want <= 0 {
                break;
            }
            rows.extend(
                sqlx::query(sql)
                    .bind(owner)
                    .bind(now.plus(lease).millis())
                    .bind(now.millis())
                    .bind(kinds)
                    .bind(want)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err("job"))?,
            );
        }
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
        let ids: Vec<i64> = jobs.iter().map(|j| j.0).collect();
        Ok(sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE state = 'running' AND lease_owner = $2 AND id = ANY($3)",
        )
        .bind(until.millis())
        .bind(owner)
        .bind(&ids)
        .execute(&self.pool)
        .await
        .map_err(map_err("job"))?
        .rows_affected())
    }

    async fn complete_job(&self, job: JobId, owner: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'done', finished_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now.millis())
        .bind(job.0)
        .bind(owner)
        .execute(&self.pool)
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
                "UPDATE jobs SET state = 'pending', run_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            )
            .bind(at.millis()),
            None => sqlx::query(
                "UPDATE jobs SET state = 'dead', finished_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL \
                 WHERE id = $3 AND lease_owner = $4 AND state = 'running'",
            )
            .bind(now.millis()),
        };
        let done = q
            .bind(error)
            .bind(job.0)
            .bind(owner)
            .execute(&self.pool)
            .await
            .map_err(map_err("job"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_job(&self, job: JobId, owner: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = GREATEST(attempts - 1, 0), lease_owner = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        )
        .bind(job.0)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(map_err("job"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn get_job(&self, job: JobId) -> StoreResult<Option<Job>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"));
        sqlx::query(sql)
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err("job"))?
            .as_ref()
            .map(rows::job)
            .transpose()
    }

    async fn list_jobs(&self, state: Option<JobState>, limit: u32) -> StoreResult<Vec<Job>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1::text IS NULL OR state = $1) ORDER BY id DESC LIMIT $2"
        ));
        let state = state.map(JobState::as_str);
        sqlx::query(sql)
            .bind(state)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err("job"))?
            .iter()
            .map(rows::job)
            .collect()
    }

    async fn job_counts(&self) -> StoreResult<Vec<(JobState, i64)>> {
        let rows = sqlx::query("SELECT state, count(*) FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err("job"))?;
        rows::job_state_counts(
            rows.iter()
                .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))),
        )
    }
}
