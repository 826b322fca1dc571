//! The job runner: claims due jobs of the kinds it has handlers for, runs them with bounded
//! concurrency, renews their leases, records outcomes, and shuts down without losing any.

use async_trait::async_trait;
use futures_util::FutureExt;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vestnik_domain::{Job, JobId, RetryPolicy, Store, StoreError, Timestamp};

/// Why a handler did not finish its job.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a remote service down, a busy database).
    #[error("{0}")]
    Retry(String),
    /// Trying again cannot help (bad payload, a deleted site); the job is marked dead at once.
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::Invalid(_) => JobError::Permanent(e.to_string()),
            _ => JobError::Retry(e.to_string()),
        }
    }
}

/// Work of one `kind`. Registered with [`JobRunner::register`].
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Jobs run at the same time by this runner.
    pub concurrency: usize,
    /// Most jobs taken in one claim.
    pub claim_batch: u32,
    /// How long a claim is valid without renewal; a crashed node's jobs return after this.
    pub lease: Duration,
    /// How long to sleep when nothing is due.
    pub idle_poll: Duration,
    pub retry: RetryPolicy,
    /// At shutdown, how long running jobs may take to finish before they are released.
    pub shutdown_grace: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            concurrency: 16,
            claim_batch: 32,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(250),
            retry: RetryPolicy::default(),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Counters for `/metrics` and for tests.
#[derive(Debug, Default)]
pub struct RunnerStats {
    pub completed: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    /// Outcomes discarded because the lease had passed to another runner.
    pub lost_leases: AtomicU64,
    pub released: AtomicU64,
}

pub struct JobRunner {
    store: Arc<dyn Store>,
    owner: String,
    config: RunnerConfig,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    stats: Arc<RunnerStats>,
}

impl JobRunner {
    /// `owner` names this runner in the `jobs` table (host and process make a good one).
    pub fn new(store: Arc<dyn Store>, owner: impl Into<String>, config: RunnerConfig) -> Self {
        JobRunner {
            store,
            owner: owner.into(),
            config,
            handlers: HashMap::new(),
            stats: Arc::new(RunnerStats::default()),
        }
    }

    pub fn register(&mut self, kind: impl Into<String>, handler: impl JobHandler) -> &mut Self {
        self.handlers.insert(kind.into(), Arc::new(handler));
        self
    }

    pub fn stats(&self) -> Arc<RunnerStats> {
        self.stats.clone()
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs until `shutdown` is cancelled, then finishes or releases what it holds.
    pub async fn run(self, shutdown: CancellationToken) {
        let kinds: Vec<String> = self.handlers.keys().cloned().collect();
        if kinds.is_empty() {
            shutdown.cancelled().await;
            return;
        }
        let shared = Arc::new(Shared {
            store: self.store.clone(),
            owner: self.owner.clone(),
            retry: self.config.retry,
            stats: self.stats.clone(),
            in_flight: Mutex::new(HashSet::new()),
        });
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let heartbeat = tokio::spawn(renew_leases(shared.clone(), self.config.lease));
        tracing::info!(owner = %self.owner, kinds = ?kinds, "job runner started");

        while !shutdown.is_cancelled() {
            // Reap finished tasks so the set does not grow.
            while tasks.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tasks.join_next() => continue,
                }
            }
            let want = (free as u32).min(self.config.claim_batch);
            let claimed = self
                .store
                .claim_jobs(
                    &self.owner,
                    &kinds,
                    want,
                    self.config.lease,
                    Timestamp::now(),
                )
                .await;
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed; retrying shortly");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                }
                continue;
            }
            for job in jobs {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let Some(handler) = self.handlers.get(&job.kind).cloned() else {
                    // Cannot happen: we claim only kinds we have. Give it back untouched.
                    let _ = self.store.release_job(job.id, &self.owner).await;
                    continue;
                };
                shared.hold(job.id);
                let shared = shared.clone();
                tasks.spawn(async move {
                    shared.execute(handler, job).await;
                    drop(permit);
                });
            }
        }

        // Shutdown: no new claims; let running jobs finish within the grace period.
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let leftover: Vec<JobId> = shared.held();
        for id in leftover {
            match self.store.release_job(id, &self.owner).await {
                Ok(true) => {
                    shared.stats.released.fetch_add(1, Ordering::Relaxed);
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "could not release job; its lease will expire")
                }
            }
        }
        heartbeat.abort();
        tracing::info!(owner = %self.owner, "job runner stopped");
    }
}

struct Shared {
    store: Arc<dyn Store>,
    owner: String,
    retry: RetryPolicy,
    stats: Arc<RunnerStats>,
    in_flight: Mutex<HashSet<JobId>>,
}

impl Shared {
    fn hold(&self, id: JobId) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    fn drop_hold(&self, id: JobId) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn held(&self) -> Vec<JobId> {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }

    async fn execute(&self, handler: Arc<dyn JobHandler>, job: Job) {
        let outcome = if job.attempts > job.max_attempts {
            // Claimed again after its lease expired more times than allowed: the runs keep
            // dying (a crash loop), so stop here.
            Err(JobError::Permanent(format!(
                "gave up after {} attempts; the last one lost its lease (did the process crash?)",
                job.max_attempts
            )))
        } else {
            match AssertUnwindSafe(handler.run(&job)).catch_unwind().await {
                Ok(result) => result,
                Err(panic) => Err(JobError::Retry(format!(
                    "handler panicked: {}",
                    panic_message(panic.as_ref())
                ))),
            }
        };
        self.record(&job, outcome).await;
        self.drop_hold(job.id);
    }

    async fn record(&self, job: &Job, outcome: Result<(), JobError>) {
        let now = Timestamp::now();
        for attempt in 0..5u32 {
            let written = match &outcome {
                Ok(()) => self.store.complete_job(job.id, &self.owner, now).await,
                Err(JobError::Retry(msg)) if job.attempts < job.max_attempts => {
                    let at = self.retry.next_run(now, job.attempts);
                    self.store
                        .fail_job(job.id, &self.owner, msg, Some(at), now)
                        .await
                }
                Err(e) => {
                    self.store
                        .fail_job(job.id, &self.owner, &e.to_string(), None, now)
                        .await
                }
            };
            match written {
                Ok(true) => {
                    let counter = match &outcome {
                        Ok(()) => &self.stats.completed,
                        Err(JobError::Retry(_)) if job.attempts < job.max_attempts => {
                            &self.stats.retried
                        }
                        Err(_) => &self.stats.dead,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if let Err(e) = &outcome {
                        tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed");
                    }
                    return;
                }
                Ok(false) => {
                    self.stats.lost_leases.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = %job.id, kind = %job.kind, "lease lost before the outcome was recorded; another runner owns the job now");
                    return;
                }
                Err(e) => {
                    tracing::warn!(job = %job.id, error = %e, "recording a job outcome failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
        }
        tracing::error!(job = %job.id, "could not record the job outcome; it will run again after its lease expires");
    }
}

/// Renews leases of running jobs every third of the lease, so long jobs are not taken over.
/// It keeps its pace through the shutdown grace period and ends when `run()` aborts it. (It must
/// not wake on the shutdown token: once cancelled, that is ready forever, and the loop would spin
/// without yielding, so it could neither be aborted nor let the runtime shut down.)
async fn renew_leases(shared: Arc<Shared>, lease: Duration) {
    let every = lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let held = shared.held();
        if !held.is_empty() {
            let until = Timestamp::now().plus(lease);
            if let Err(e) = shared
                .store
                .extend_leases(&shared.owner, &held, until)
                .await
            {
                tracing::warn!(error = %e, "renewing job leases failed");
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}
