//! Job throughput: how fast `JobRunner`s drain a queue of no-op jobs, on SQLite and PostgreSQL.
//!
//! Each runner gets its own connection pool, as runners on separate nodes would. The time runs
//! from the runners' start to the moment every job is done; enqueueing is timed separately.
//!
//! `cargo bench -p vestnik-engine --bench job_throughput [-- sqlite|postgres]`, with `JOBS`
//! (default 20 000) and `RUNNERS` (default 4) in the environment to change the load.

use async_trait::async_trait;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use vestnik_domain::{Job, JobState, NewJob};
use vestnik_engine::{JobError, JobHandler, JobRunner, RunnerConfig};
use vestnik_testkit::{Backend, TestDb};

/// How long one backend may take before the bench gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(600);

struct NoOp;

#[async_trait]
impl JobHandler for NoOp {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        Ok(())
    }
}

fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("{name}={v} is not a whole number; using {default}");
            default
        }),
        Err(_) => default,
    }
}

struct Measured {
    enqueued_in: Duration,
    ran_in: Duration,
}

async fn measure(db: &TestDb, jobs: usize, runners: usize) -> Result<Measured, String> {
    let store = db.store();
    let began = Instant::now();
    let all: Vec<NewJob> = (0..jobs)
        .map(|n| NewJob::new("noop", serde_json::json!({ "n": n })))
        .collect();
    for chunk in all.chunks(1_000) {
        store
            .enqueue_many(chunk)
            .await
            .map_err(|e| format!("enqueueing failed: {e}"))?;
    }
    let enqueued_in = began.elapsed();

    let config = RunnerConfig {
        idle_poll: Duration::from_millis(20),
        ..RunnerConfig::default()
    };
    let shutdown = CancellationToken::new();
    let mut nodes = Vec::new();
    for n in 0..runners {
        let mut runner = JobRunner::new(
            db.another_node().await,
            format!("bench-{n}"),
            config.clone(),
        );
        runner.register("noop", NoOp);
        nodes.push(tokio::spawn(runner.run(shutdown.clone())));
    }
    let started = Instant::now();
    let outcome = loop {
        let counts = store
            .job_counts()
            .await
            .map_err(|e| format!("counting jobs failed: {e}"))?;
        let done = counts
            .iter()
            .find(|(state, _)| *state == JobState::Done)
            .map_or(0, |(_, n)| *n);
        if done == jobs as i64 {
            break Ok(started.elapsed());
        }
        if started.elapsed() > GIVE_UP_AFTER {
            break Err(format!("gave up after {GIVE_UP_AFTER:?}: {counts:?}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    shutdown.cancel();
    for node in nodes {
        let _ = node.await;
    }
    outcome.map(|ran_in| Measured {
        enqueued_in,
        ran_in,
    })
}

fn main() {
    let jobs = env_count("JOBS", 20_000).max(1);
    let runners = env_count("RUNNERS", 4).max(1);
    // `cargo bench` passes `--bench`; a bare word picks one backend.
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let mut failed = false;
    runtime.block_on(async {
        for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
            if only.as_deref().is_some_and(|o| o != name) {
                continue;
            }
            let Some(db) = TestDb::new(backend).await else {
                println!("{name}: skipped, database unreachable");
                continue;
            };
            match measure(&db, jobs, runners).await {
                Ok(m) => {
                    let secs = m.ran_in.as_secs_f64();
                    println!(
                        "{name}: {jobs} jobs, {runners} runners, {secs:.1} s, {:.0} jobs/s (enqueued in {:.2} s)",
                        jobs as f64 / secs,
                        m.enqueued_in.as_secs_f64()
                    );
                }
                Err(e) => {
                    println!("{name}: {e}");
                    failed = true;
                }
            }
        }
    });
    if failed {
        std::process::exit(1);
    }
}
