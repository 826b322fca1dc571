//! The job runner against real databases: every case runs on SQLite and on PostgreSQL.
//!
//! Cases live in `cases`; the macro at the bottom instantiates each one per backend. Every wait
//! is bounded by a timeout, so a runner that hangs fails its test instead of stalling the suite.

use async_trait::async_trait;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vestnik_domain::{Job, JobId, JobState, NewJob, RetryPolicy, Store, Timestamp};
use vestnik_engine::{JobError, JobHandler, JobRunner, RunnerConfig, RunnerStats};
use vestnik_testkit::TestDb;

/// A handler made from an async closure, so each case states its handler's behaviour in place.
struct FnHandler<F>(F);

#[async_trait]
impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        (self.0)(job.clone()).await
    }
}

/// Short polls and backoff so cases take milliseconds, not the production seconds.
fn quick_config() -> RunnerConfig {
    RunnerConfig {
        concurrency: 4,
        claim_batch: 8,
        lease: Duration::from_secs(10),
        idle_poll: Duration::from_millis(20),
        retry: RetryPolicy {
            base: Duration::from_millis(20),
            cap: Duration::from_millis(500),
        },
        shutdown_grace: Duration::from_secs(5),
    }
}

/// A runner working on its own task, and the means to stop it.
struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    stats: Arc<RunnerStats>,
}

impl Running {
    fn start(runner: JobRunner) -> Running {
        let shutdown = CancellationToken::new();
        let stats = runner.stats();
        let task = tokio::spawn(runner.run(shutdown.clone()));
        Running {
            shutdown,
            task,
            stats,
        }
    }

    /// Asks the runner to stop and waits for `run()` to return; returns how long that took.
    async fn stop(self) -> Duration {
        let asked = Instant::now();
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("run() returns within 10 s of shutdown")
            .expect("run() does not panic");
        asked.elapsed()
    }
}

/// Polls the job until it reaches `state`; fails the test with the job's last known row if it
/// does not get there `within`.
async fn wait_for_state(store: &dyn Store, id: JobId, state: JobState, within: Duration) -> Job {
    let reached = tokio::time::timeout(within, async {
        loop {
            let job = store.get_job(id).await.unwrap().expect("the job exists");
            if job.state == state {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    match reached {
        Ok(job) => job,
        Err(_) => {
            let job = store.get_job(id).await.unwrap();
            panic!("job {id} did not become {state:?} within {within:?}; it is {job:#?}")
        }
    }
}

async fn next_event<T>(events: &mut mpsc::UnboundedReceiver<T>, within: Duration, what: &str) -> T {
    tokio::time::timeout(within, events.recv())
        .await
        .unwrap_or_else(|_| panic!("{what} within {within:?}"))
        .expect("the handler is still registered")
}

fn count(stat: &std::sync::atomic::AtomicU64) -> u64 {
    stat.load(Ordering::Relaxed)
}

mod cases {
    use super::*;

    pub async fn a_delayed_job_runs_at_its_run_at_and_not_before(db: TestDb) {
        let store = db.store();
        let (ran, mut runs) = mpsc::unbounded_channel();
        let mut runner = JobRunner::new(store.clone(), "node-a", quick_config());
        runner.register(
            "reminder",
            FnHandler(move |_job: Job| {
                let ran = ran.clone();
                async move {
                    let _ = ran.send(Timestamp::now());
                    Ok(())
                }
            }),
        );
        let enqueued_at = Instant::now();
        let run_at = Timestamp::now().plus(Duration::from_millis(1500));
        let id = store
            .enqueue(&NewJob::new("reminder", serde_json::json!({})).run_at(run_at))
            .await
            .unwrap();
        let running = Running::start(runner);

        tokio::time::sleep_until((enqueued_at + Duration::from_millis(500)).into()).await;
        assert!(
            runs.try_recv().is_err(),
            "ran half a second in, a second before its run_at"
        );
        assert_eq!(
            store.get_job(id).await.unwrap().unwrap().state,
            JobState::Pending
        );

        let ran_at = next_event(&mut runs, Duration::from_secs(10), "the job runs").await;
        assert!(
            ran_at >= run_at,
            "ran at {ran_at:?}, before its run_at {run_at:?}"
        );
        assert!(
            ran_at.millis() - run_at.millis() < 3_000,
            "ran {} ms after its run_at",
            ran_at.millis() - run_at.millis()
        );
        let job = wait_for_state(&*store, id, JobState::Done, Duration::from_secs(5)).await;
        assert_eq!(job.attempts, 1);
        running.stop().await;
    }

    pub async fn a_job_held_by_a_crashed_runner_is_rerun_after_its_lease_expires(db: TestDb) {
        let store = db.store();
        let id = store
            .enqueue(&NewJob::new("invoice", serde_json::json!({"order": 7})))
            .await
            .unwrap();
        let kinds = ["invoice".to_string()];
        let held = store
            .claim_jobs(
                "crashed",
                &kinds,
                1,
                Duration::from_millis(300),
                Timestamp::now(),
            )
            .await
            .unwrap();
        assert_eq!(held.len(), 1, "the soon-to-crash runner holds the job");
        let lease_until = held[0].lease_until.expect("a claimed job has a lease");

        let (ran, mut runs) = mpsc::unbounded_channel();
        let mut runner = JobRunner::new(store.clone(), "live", quick_config());
        runner.register(
            "invoice",
            FnHandler(move |job: Job| {
                let ran = ran.clone();
                async move {
                    let _ = ran.send((Timestamp::now(), job.attempts));
                    Ok(())
                }
            }),
        );
        let running = Running::start(runner);

        let (ran_at, attempt) = next_event(
            &mut runs,
            Duration::from_secs(10),
            "the live runner takes the job",
        )
        .await;
        assert!(
            ran_at >= lease_until,
            "taken at {ran_at:?} while the lease ran to {lease_until:?}"
        );
        assert_eq!(attempt, 2, "the crashed run counts as an attempt");
        let job = wait_for_state(&*store, id, JobState::Done, Duration::from_secs(5)).await;
        assert_eq!((job.attempts, job.lease_owner), (2, None));
        assert!(
            !store
                .complete_job(id, "crashed", Timestamp::now())
                .await
                .unwrap(),
            "the crashed runner's late outcome is refused"
        );
        running.stop().await;
        assert!(
            runs.try_recv().is_err(),
            "the job ran once on the live runner"
        );
    }

    pub async fn a_failing_job_is_retried_with_backoff_until_it_succeeds(db: TestDb) {
        let store = db.store();
        let (ran, mut runs) = mpsc::unbounded_channel();
        let mut runner = JobRunner::new(store.clone(), "node-a", quick_config());
        runner.register(
            "webhook",
            FnHandler(move |job: Job| {
                let ran = ran.clone();
                async move {
                    let _ = ran.send(Timestamp::now());
                    if job.attempts < 3 {
                        Err(JobError::Retry(format!(
                            "remote answered 503 on attempt {}",
                            job.attempts
                        )))
                    } else {
                        Ok(())
                    }
                }
            }),
        );
        let id = store
            .enqueue(&NewJob::new("webhook", serde_json::json!({})))
            .await
            .unwrap();
        let running = Running::start(runner);
        let stats = running.stats.clone();

        let job = wait_for_state(&*store, id, JobState::Done, Duration::from_secs(10)).await;
        assert_eq!(job.attempts, 3);
        assert_eq!(
            job.last_error.as_deref(),
            Some("remote answered 503 on attempt 2")
        );
        let mut times = Vec::new();
        while let Ok(t) = runs.try_recv() {
            times.push(t.millis());
        }
        assert_eq!(times.len(), 3, "two failures and one success");
        // Backoff is base · 2^(attempt-1) with ±25 % jitter: at least 15 ms, then at least 30 ms.
        assert!(
            times[1] - times[0] >= 15,
            "first retry after {} ms",
            times[1] - times[0]
        );
        assert!(
            times[2] - times[1] >= 30,
            "second retry after {} ms",
            times[2] - times[1]
        );
        running.stop().await;
        assert_eq!((count(&stats.retried), count(&stats.completed)), (2, 1));
    }

    pub async fn a_job_that_keeps_failing_is_dead_after_its_max_attempts(db: TestDb) {
        let store = db.store();
        let mut runner = JobRunner::new(store.clone(), "node-a", quick_config());
        runner.register(
            "feed-refresh",
            FnHandler(|_job: Job| async { Err(JobError::Retry("feed host unreachable".into())) }),
        );
        let id = store
            .enqueue(&NewJob::new("feed-refresh", serde_json::json!({})).max_attempts(3))
            .await
            .unwrap();
        let running = Running::start(runner);
        let stats = running.stats.clone();

        let job = wait_for_state(&*store, id, JobState::Dead, Duration::from_secs(10)).await;
        assert_eq!(job.attempts, 3);
        assert_eq!(job.last_error.as_deref(), Some("feed host unreachable"));
        assert!(job.finished_at.is_some());
        running.stop().await;
        assert_eq!((count(&stats.retried), count(&stats.dead)), (2, 1));
    }

    pub async fn a_permanent_error_kills_the_job_at_once(db: TestDb) {
        let store = db.store();
        let mut runner = JobRunner::new(store.clone(), "node-a", quick_config());
        runner.register(
            "import",
            FnHandler(|_job: Job| async {
                Err(JobError::Permanent("payload has no `url`".into()))
            }),
        );
        let id = store
            .enqueue(&NewJob::new("import", serde_json::json!({})))
            .await
            .unwrap();
        let running = Running::start(runner);
        let stats = running.stats.clone();

        let job = wait_for_state(&*store, id, JobState::Dead, Duration::from_secs(10)).await;
        assert_eq!(job.attempts, 1);
        assert_eq!(job.last_error.as_deref(), Some("payload has no `url`"));
        running.stop().await;
        assert_eq!((count(&stats.retried), count(&stats.dead)), (0, 1));
    }

    pub async fn a_panicking_handler_is_retried_and_the_runner_keeps_working(db: TestDb) {
        let store = db.store();
        let mut runner = JobRunner::new(store.clone(), "node-a", quick_config());
        runner.register(
            "fragile",
            FnHandler(|job: Job| async move {
                if job.payload["panics"] == true && job.attempts == 1 {
                    panic!("index out of bounds in a template");
                }
                Ok(())
            }),
        );
        let first = store
            .enqueue(&NewJob::new(
                "fragile",
                serde_json::json!({ "panics": true }),
            ))
            .await
            .unwrap();
        let running = Running::start(runner);

        let job = wait_for_state(&*store, first, JobState::Done, Duration::from_secs(10)).await;
        assert_eq!(job.attempts, 2);
        let error = job.last_error.unwrap_or_default();
        assert!(
            error.contains("panicked") && error.contains("index out of bounds in a template"),
            "last error says what happened: {error}"
        );
        assert!(!running.task.is_finished(), "the runner survived the panic");
        // The same runner goes on taking new work.
        let second = store
            .enqueue(&NewJob::new("fragile", serde_json::json!({})))
            .await
            .unwrap();
        let job = wait_for_state(&*store, second, JobState::Done, Duration::from_secs(10)).await;
        assert_eq!(job.attempts, 1);
        running.stop().await;
    }

    pub async fn shutdown_lets_a_short_job_in_flight_finish(db: TestDb) {
        let store = db.store();
        let (started, mut starts) = mpsc::unbounded_channel();
        let mut runner = JobRunner::new(store.clone(), "node-a", quick_config());
        runner.register(
            "receipt",
            FnHandler(move |_job: Job| {
                let started = started.clone();
                async move {
                    let _ = started.send(());
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(())
                }
            }),
        );
        let id = store
            .enqueue(&NewJob::new("receipt", serde_json::json!({})))
            .await
            .unwrap();
        let running = Running::start(runner);
        let stats = running.stats.clone();
        next_event(&mut starts, Duration::from_secs(10), "the job starts").await;

        running.stop().await;
        let job = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.state, job.attempts, job.lease_owner),
            (JobState::Done, 1, None),
            "finished before run() returned"
        );
        assert_eq!((count(&stats.completed), count(&stats.released)), (1, 0));
    }

    pub async fn shutdown_releases_a_long_job_after_the_grace_period(db: TestDb) {
        let store = db.store();
        let (started, mut starts) = mpsc::unbounded_channel();
        let config = RunnerConfig {
            shutdown_grace: Duration::from_millis(200),
            ..quick_config()
        };
        let mut runner = JobRunner::new(store.clone(), "node-a", config);
        runner.register(
            "export",
            FnHandler(move |_job: Job| {
                let started = started.clone();
                async move {
                    let _ = started.send(());
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(())
                }
            }),
        );
        let id = store
            .enqueue(&NewJob::new("export", serde_json::json!({})))
            .await
            .unwrap();
        let running = Running::start(runner);
        let stats = running.stats.clone();
        next_event(&mut starts, Duration::from_secs(10), "the job starts").await;

        let took = running.stop().await;
        assert!(
            took < Duration::from_secs(3),
            "run() took {took:?} to return"
        );
        let job = store.get_job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.state, job.attempts, job.lease_owner, job.lease_until),
            (JobState::Pending, 0, None, None),
            "given back untouched for another node"
        );
        assert_eq!((count(&stats.completed), count(&stats.released)), (0, 1));
    }

    pub async fn a_runner_claims_only_kinds_it_has_handlers_for(db: TestDb) {
        let store = db.store();
        let mut runner = JobRunner::new(store.clone(), "node-a", quick_config());
        runner.register("known", FnHandler(|_job: Job| async { Ok(()) }));
        let unknown = store
            .enqueue(&NewJob::new("unknown", serde_json::json!({})))
            .await
            .unwrap();
        let known = store
            .enqueue(&NewJob::new("known", serde_json::json!({})))
            .await
            .unwrap();
        let running = Running::start(runner);

        wait_for_state(&*store, known, JobState::Done, Duration::from_secs(10)).await;
        // Give the runner a few more idle polls to take what it should not.
        tokio::time::sleep(Duration::from_millis(200)).await;
        running.stop().await;
        let job = store.get_job(unknown).await.unwrap().unwrap();
        assert_eq!(
            (job.state, job.attempts, job.lease_owner),
            (JobState::Pending, 0, None)
        );
    }

    pub async fn ten_thousand_jobs_on_four_nodes_each_run_exactly_once(db: TestDb) {
        const JOBS: usize = 10_000;
        const NODES: usize = 4;
        let store = db.store();
        let began = Instant::now();
        let batch: Vec<NewJob> = (0..1_000)
            .map(|n| NewJob::new("tick", serde_json::json!({ "n": n })))
            .collect();
        for _ in 0..JOBS / batch.len() {
            store.enqueue_many(&batch).await.unwrap();
        }
        let enqueued = began.elapsed();

        let ran: Arc<Mutex<HashMap<JobId, u32>>> = Arc::default();
        let config = RunnerConfig {
            concurrency: 8,
            claim_batch: 32,
            idle_poll: Duration::from_millis(20),
            ..RunnerConfig::default()
        };
        let mut nodes = Vec::new();
        for n in 0..NODES {
            let mut runner =
                JobRunner::new(db.another_node().await, format!("node-{n}"), config.clone());
            let ran = ran.clone();
            runner.register(
                "tick",
                FnHandler(move |job: Job| {
                    *ran.lock().unwrap().entry(job.id).or_default() += 1;
                    async { Ok(()) }
                }),
            );
            nodes.push(Running::start(runner));
        }
        let started = Instant::now();

        let all_done = tokio::time::timeout(Duration::from_secs(50), async {
            loop {
                let counts = store.job_counts().await.unwrap();
                let done = counts
                    .iter()
                    .find(|(s, _)| *s == JobState::Done)
                    .map_or(0, |c| c.1);
                if done == JOBS as i64 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        let ran_for = started.elapsed();
        if all_done.is_err() {
            panic!(
                "not all {JOBS} jobs done after {ran_for:?}: {:?}",
                store.job_counts().await.unwrap()
            );
        }
        let stats: Vec<_> = nodes.iter().map(|r| r.stats.clone()).collect();
        for node in nodes {
            node.stop().await;
        }
        eprintln!(
            "{:?}: enqueued {JOBS} jobs in {enqueued:?}, ran them on {NODES} nodes in {ran_for:?}",
            db.backend()
        );

        let ran = ran.lock().unwrap();
        assert_eq!(ran.len(), JOBS, "every job ran");
        let repeated: Vec<_> = ran.iter().filter(|(_, n)| **n != 1).collect();
        assert!(repeated.is_empty(), "jobs ran more than once: {repeated:?}");
        let completed: u64 = stats.iter().map(|s| count(&s.completed)).sum();
        assert_eq!(completed, JOBS as u64);
        assert_eq!(stats.iter().map(|s| count(&s.lost_leases)).sum::<u64>(), 0);
    }
}

/// A backstop behind the per-wait timeouts: no case may hang the suite.
async fn bounded(case: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(90), case)
        .await
        .expect("the case finishes within 90 s");
}

/// Instantiates each case once per backend. PostgreSQL cases return early (skipped, with a
/// message from `TestDb`) when it is unreachable outside CI.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = vestnik_testkit::TestDb::new(vestnik_testkit::Backend::Sqlite)
                        .await
                        .expect("SQLite is always there");
                    super::bounded(super::cases::$case(db)).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = vestnik_testkit::TestDb::new(vestnik_testkit::Backend::Postgres).await else {
                        return;
                    };
                    super::bounded(super::cases::$case(db)).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_delayed_job_runs_at_its_run_at_and_not_before,
    a_job_held_by_a_crashed_runner_is_rerun_after_its_lease_expires,
    a_failing_job_is_retried_with_backoff_until_it_succeeds,
    a_job_that_keeps_failing_is_dead_after_its_max_attempts,
    a_permanent_error_kills_the_job_at_once,
    a_panicking_handler_is_retried_and_the_runner_keeps_working,
    shutdown_lets_a_short_job_in_flight_finish,
    shutdown_releases_a_long_job_after_the_grace_period,
    a_runner_claims_only_kinds_it_has_handlers_for,
    ten_thousand_jobs_on_four_nodes_each_run_exactly_once,
);
