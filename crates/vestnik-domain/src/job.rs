//! Background jobs: anything that must happen later, again, or on another node.
//!
//! A job row is the whole truth about a piece of work: when it may run (`run_at`), who holds it
//! (`lease_owner` until `lease_until`), how often it was tried and why it last failed. A runner
//! that dies simply stops renewing its lease; another claims the job after it expires.

use serde::Serialize;
use std::str::FromStr;
use std::time::Duration;

use crate::ids::{JobId, SiteId};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for `run_at`.
    Pending,
    /// Claimed by a runner whose lease has not expired (or expired and awaits re-claim).
    Running,
    /// Finished successfully.
    Done,
    /// Failed `max_attempts` times, or failed permanently; kept for inspection.
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Pending,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job state `{s}`"))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: JobId,
    /// Which registered handler runs it.
    pub kind: String,
    /// The site the work belongs to, when it belongs to one (purges, feeds, campaigns).
    pub site_id: Option<SiteId>,
    pub payload: serde_json::Value,
    pub state: JobState,
    pub run_at: Timestamp,
    /// Incremented at every claim, so a job whose runner crashed still counts the attempt.
    pub attempts: i32,
    pub max_attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub kind: String,
    pub site_id: Option<SiteId>,
    pub payload: serde_json::Value,
    pub run_at: Timestamp,
    pub max_attempts: i32,
}

impl NewJob {
    /// A job that may run now, with the default 10 attempts.
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> Self {
        NewJob {
            kind: kind.into(),
            site_id: None,
            payload,
            run_at: Timestamp::now(),
            max_attempts: 10,
        }
    }

    pub fn for_site(mut self, site: SiteId) -> Self {
        self.site_id = Some(site);
        self
    }

    pub fn run_at(mut self, at: Timestamp) -> Self {
        self.run_at = at;
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// When to try a failed job again: `base · 2^(attempt-1)`, capped, with ±25% jitter so that
/// many jobs failing together (a remote service down) do not all come back in the same second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(3600),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `attempt`-th failure (1-based). `jitter` is uniform in [0, 1).
    pub fn delay(&self, attempt: i32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).clamp(0, 30) as u32;
        let raw = self.base.saturating_mul(1u32 << exp.min(31));
        let capped = raw.min(self.cap);
        let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
        capped.mul_f64(factor)
    }

    pub fn next_run(&self, now: Timestamp, attempt: i32) -> Timestamp {
        now.plus(self.delay(attempt, fastrand::f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        assert_eq!(p.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(2, 0.5), Duration::from_secs(2));
        assert_eq!(p.delay(5, 0.5), Duration::from_secs(16));
        assert_eq!(p.delay(40, 0.5), Duration::from_secs(60));
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(3));
        assert_eq!(p.delay(3, 1.0), Duration::from_secs(5));
    }
}
