//! The per-provider send rate: a token bucket whose rate adapts to what the provider says (AIMD,
//! as TCP does): halve on "slow down" replies, climb back a little after every run of successes.
//!
//! A hand-written bucket rather than `governor`, because governor's quota is fixed when the
//! limiter is built and the whole point here is changing the rate while campaigns are sending.
//! Time is tokio's, so tests run it with paused time.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::SendOutcome;

/// The rate never drops below this, so a campaign always makes progress.
const MIN_RATE: f64 = 1.0;
/// At most one halving per this long: a burst of 421s from messages already in flight is one
/// signal, not twenty.
const DECREASE_EVERY: Duration = Duration::from_secs(1);
/// Successes in a row before one additive step.
const STEP_AFTER: u32 = 100;
/// Each step adds this share of the ceiling.
const STEP_SHARE: f64 = 0.05;

/// A shared, adapting rate limit. Clone it into every task that sends through the same provider
/// (clones share one bucket): call [`acquire`](Self::acquire) before each send and
/// [`record`](Self::record) with its outcome.
#[derive(Clone)]
pub struct AdaptiveRate {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for AdaptiveRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveRate")
            .field("current_rate", &self.current_rate())
            .field("reason", &self.reason())
            .finish()
    }
}

struct State {
    /// The provider's contractual cap; `None` when there is none.
    cap: Option<f64>,
    /// The rate in force; `None` means unlimited (no cap and never told to slow down).
    rate: Option<f64>,
    /// What additive increase climbs back to: the cap, or without one the rate we were sending at
    /// when first told to slow down (reaching it again lifts the limit).
    ceiling: Option<f64>,
    /// Tokens in the bucket; negative while sends are queued behind the ones already admitted.
    tokens: f64,
    last_refill: Instant,
    last_decrease: Option<Instant>,
    successes: u32,
    /// The reply that last slowed us down, for [`AdaptiveRate::reason`].
    last_limit_reply: Option<String>,
    /// Sends counted in the current one-second window, to know the rate we were sending at when
    /// there was no limit.
    window_start: Instant,
    window_sends: u64,
    last_window_rate: Option<f64>,
}

impl AdaptiveRate {
    /// `cap`: the provider's limit in messages per second, or `None` to start unlimited.
    pub fn new(cap: Option<f64>) -> Self {
        let cap = cap
            .filter(|c| c.is_finite() && *c > 0.0)
            .map(|c| c.max(MIN_RATE));
        let now = Instant::now();
        AdaptiveRate {
            state: Arc::new(Mutex::new(State {
                cap,
                rate: cap,
                ceiling: cap,
                tokens: cap.map_or(0.0, burst),
                last_refill: now,
                last_decrease: None,
                successes: 0,
                last_limit_reply: None,
                window_start: now,
                window_sends: 0,
                last_window_rate: None,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain numbers, valid after any panic mid-update; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the current rate allows one more message. Sends are admitted in the order
    /// they ask; with no limit in force this returns at once.
    pub async fn acquire(&self) {
        let wait = {
            let mut s = self.lock();
            let now = Instant::now();
            s.count_send(now);
            let Some(rate) = s.rate else { return };
            s.refill(now, rate);
            s.tokens -= 1.0;
            if s.tokens >= 0.0 {
                return;
            }
            Duration::from_secs_f64(-s.tokens / rate)
        };
        tokio::time::sleep(wait).await;
    }

    /// Feeds one send's outcome back: rate-limited deferrals slow us down, runs of successes
    /// speed us up again. Hard bounces say nothing about the rate and are ignored.
    pub fn record(&self, outcome: &SendOutcome) {
        let mut s = self.lock();
        match outcome {
            SendOutcome::Sent { .. } => s.on_success(),
            SendOutcome::Deferred {
                rate_limited: true,
                reply,
                ..
            } => s.on_rate_limited(Instant::now(), reply),
            SendOutcome::Deferred { .. } => s.successes = 0,
            SendOutcome::Failed { .. } => {}
        }
    }

    /// Messages per second now in force; `None` when unlimited.
    pub fn current_rate(&self) -> Option<f64> {
        self.lock().rate
    }

    /// Why we are below the ceiling, for the campaign report, e.g.
    /// `"slowed to 40 msg/s after 421 4.7.0 Try again later"`. `None` at full speed.
    pub fn reason(&self) -> Option<String> {
        let s = self.lock();
        let (rate, reply) = (s.rate?, s.last_limit_reply.as_ref()?);
        if s.ceiling.is_some_and(|c| rate >= c) {
            return None;
        }
        Some(format!("slowed to {} msg/s after {reply}", show_rate(rate)))
    }
}

impl State {
    fn refill(&mut self, now: Instant, rate: f64) {
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst(rate));
        self.last_refill = now;
    }

    fn count_send(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            self.last_window_rate = Some(self.window_sends as f64 / elapsed.as_secs_f64());
            self.window_start = now;
            self.window_sends = 0;
        }
        self.window_sends += 1;
    }

    /// The rate we have been sending at, from the current window once it holds enough, else the
    /// last complete one.
    fn observed_rate(&self, now: Instant) -> f64 {
        let elapsed = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        let current = self.window_sends as f64 / elapsed.max(0.1);
        match self.last_window_rate {
            Some(last) if elapsed < 0.5 => last,
            _ => current,
        }
    }

    fn on_rate_limited(&mut self, now: Instant, reply: &str) {
        self.successes = 0;
        if self
            .last_decrease
            .is_some_and(|t| now.saturating_duration_since(t) < DECREASE_EVERY)
        {
            return;
        }
        let from = match self.rate {
            Some(rate) => rate,
            None => {
                let observed = self.observed_rate(now).max(MIN_RATE);
                self.ceiling = Some(observed);
                self.last_refill = now;
                self.tokens = 0.0;
                observed
            }
        };
        let halved = (from / 2.0).max(MIN_RATE);
        self.rate = Some(self.cap.map_or(halved, |cap| halved.min(cap)));
        // No burst straight after being told to slow down.
        self.tokens = self.tokens.min(0.0);
        self.last_decrease = Some(now);
        self.last_limit_reply = Some(reply.lines().next().unwrap_or(reply).trim().to_owned());
    }

    fn on_success(&mut self) {
        self.successes += 1;
        if self.successes < STEP_AFTER {
            return;
        }
        self.successes = 0;
        let (Some(rate), Some(ceiling)) = (self.rate, self.ceiling) else {
            return;
        };
        if rate >= ceiling {
            return;
        }
        let next = (rate + STEP_SHARE * ceiling).min(ceiling);
        if next >= ceiling && self.cap.is_none() {
            // Back where we were told to slow down, with no contractual cap: lift the limit and
            // let the provider tell us again if it must.
            self.rate = None;
            self.ceiling = None;
            self.last_limit_reply = None;
        } else {
            self.rate = Some(next);
        }
    }
}

/// About 100 ms worth of sends may go at once; at least one.
fn burst(rate: f64) -> f64 {
    (rate / 10.0).max(1.0)
}

fn show_rate(rate: f64) -> String {
    if rate >= 10.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(reply: &str) -> SendOutcome {
        SendOutcome::Deferred {
            code: Some(421),
            reply: reply.to_owned(),
            rate_limited: true,
        }
    }

    fn sent() -> SendOutcome {
        SendOutcome::Sent {
            reply: "250 OK".to_owned(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cap_spaces_sends_evenly() {
        let rate = AdaptiveRate::new(Some(10.0));
        let start = Instant::now();
        for _ in 0..31 {
            rate.acquire().await;
        }
        // One token is there at the start, the other 30 come at 10 a second.
        let waited = start.elapsed().as_secs_f64();
        assert!((2.99..=3.01).contains(&waited), "{waited}");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_share_the_bucket() {
        let rate = AdaptiveRate::new(Some(20.0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let rate = rate.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        rate.acquire().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 80 sends: 2 from the initial burst, 78 at 20/s.
        let waited = start.elapsed().as_secs_f64();
        assert!((3.89..=3.91).contains(&waited), "{waited}");
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_halves_once_per_second_and_names_the_reply() {
        let rate = AdaptiveRate::new(Some(80.0));
        rate.record(&limited("421 4.7.0 Try again later"));
        assert_eq!(rate.current_rate(), Some(40.0));
        assert_eq!(
            rate.reason().as_deref(),
            Some("slowed to 40 msg/s after 421 4.7.0 Try again later")
        );
        // The rest of the in-flight burst is the same signal.
        rate.record(&limited("421 4.7.0 Try again later"));
        assert_eq!(rate.current_rate(), Some(40.0));
        tokio::time::advance(Duration::from_secs(1)).await;
        rate.record(&limited("451 4.7.1 rate limited"));
        assert_eq!(rate.current_rate(), Some(20.0));
        for _ in 0..10 {
            tokio::time::advance(Duration::from_secs(1)).await;
            rate.record(&limited("421 slow down"));
        }
        assert_eq!(rate.current_rate(), Some(1.0), "never below the floor");
    }

    #[tokio::test(start_paused = true)]
    async fn successes_climb_back_to_the_cap_and_not_beyond() {
        let rate = AdaptiveRate::new(Some(100.0));
        rate.record(&limited("421 too busy"));
        assert_eq!(rate.current_rate(), Some(50.0));
        for _ in 0..99 {
            rate.record(&sent());
        }
        assert_eq!(rate.current_rate(), Some(50.0));
        rate.record(&sent());
        assert_eq!(rate.current_rate(), Some(55.0));
        // A plain deferral breaks the run of successes.
        for _ in 0..50 {
            rate.record(&sent());
        }
        rate.record(&SendOutcome::Deferred {
            code: Some(450),
            reply: "450 mailbox busy".into(),
            rate_limited: false,
        });
        for _ in 0..99 {
            rate.record(&sent());
        }
        assert_eq!(rate.current_rate(), Some(55.0));
        for _ in 0..10_000 {
            rate.record(&sent());
        }
        assert_eq!(rate.current_rate(), Some(100.0));
        assert_eq!(rate.reason(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_cap_the_first_limit_starts_from_the_observed_rate() {
        let rate = AdaptiveRate::new(None);
        assert_eq!(rate.current_rate(), None);
        // Two seconds at 200 msg/s: acquire never waits.
        let start = Instant::now();
        for _ in 0..400 {
            rate.acquire().await;
            tokio::time::advance(Duration::from_millis(5)).await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        rate.record(&limited("421 4.7.0 Too many connections"));
        let now = rate.current_rate().unwrap();
        assert!((now - 100.0).abs() < 1.0, "half of ~200 msg/s, got {now}");
        assert!(
            rate.reason()
                .unwrap()
                .starts_with("slowed to 100 msg/s after 421")
        );
        // Climbing back to the observed rate lifts the limit entirely.
        for _ in 0..10_000 {
            rate.record(&sent());
        }
        assert_eq!(rate.current_rate(), None);
        assert_eq!(rate.reason(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lower_rate_slows_acquire() {
        let rate = AdaptiveRate::new(Some(100.0));
        rate.record(&limited("421 slow down"));
        tokio::time::advance(Duration::from_secs(1)).await;
        rate.record(&limited("421 slow down"));
        assert_eq!(rate.current_rate(), Some(25.0));
        let start = Instant::now();
        for _ in 0..25 {
            rate.acquire().await;
        }
        // The bucket refilled to its burst (2.5) during the second of waiting above.
        let waited = start.elapsed().as_secs_f64();
        assert!((0.85..=0.95).contains(&waited), "{waited}");
    }
}
