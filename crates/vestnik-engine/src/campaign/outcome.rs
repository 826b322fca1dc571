//! What a send's SMTP answer means for the recipient and the campaign, and the task that
//! writes outcomes in small groups as they arrive.

use std::sync::Arc;
use std::time::Duration;
use vestnik_domain::campaign::{DeliveryResult, DeliveryState};
use vestnik_domain::{SiteId, Timestamp};

use crate::JobError;

/// Outcomes are written when this many are waiting…
const RECORD_EVERY: usize = 32;
/// …or when the oldest has waited this long.
const RECORD_AFTER: Duration = Duration::from_millis(100);

/// Writes delivery outcomes in small groups as they arrive (see `send_all`).
pub(super) struct OutcomeRecorder;

impl OutcomeRecorder {
    pub(super) fn start(
        store: Arc<dyn vestnik_domain::Store>,
        site: SiteId,
        owner: String,
        capacity: usize,
    ) -> (
        tokio::sync::mpsc::Sender<DeliveryResult>,
        tokio::task::JoinHandle<Result<(), JobError>>,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<DeliveryResult>(capacity.max(1));
        let task = tokio::spawn(async move {
            let mut unwritten = Vec::with_capacity(RECORD_EVERY);
            let mut last_write = std::time::Instant::now();
            loop {
                let (closed, idle) = match tokio::time::timeout(RECORD_AFTER, rx.recv()).await {
                    Ok(Some(result)) => {
                        unwritten.push(result);
                        (false, false)
                    }
                    Ok(None) => (true, false),
                    Err(_) => (false, true),
                };
                let due = closed
                    || idle
                    || unwritten.len() >= RECORD_EVERY
                    || last_write.elapsed() >= RECORD_AFTER;
                if due && !unwritten.is_empty() {
                    store
                        .record_deliveries(&site, &owner, &unwritten, Timestamp::now())
                        .await?;
                    unwritten.clear();
                    last_write = std::time::Instant::now();
                }
                if closed {
                    return Ok(());
                }
            }
        });
        (tx, task)
    }
}

/// An answer that says nothing about the recipient and everything about the provider: no
/// answer at all, or a refused login. Enough of them in a row pause the campaign.
pub(super) fn provider_failure(r: &DeliveryResult) -> bool {
    r.state == DeliveryState::Deferred && matches!(r.smtp_code, None | Some(530 | 534 | 535 | 538))
}

/// A 5xx that says the mailbox does not exist (5.1.x) or any 550–553: mark the address bounced.
/// Policy rejections (5.7.x: spam, DMARC) say nothing about the address itself.
pub(super) fn is_hard_bounce(code: u16, reply: &str) -> bool {
    if reply.contains("5.7.") {
        return false;
    }
    (550..=553).contains(&code) || reply.contains("5.1.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mailbox_errors_are_hard_bounces() {
        assert!(is_hard_bounce(550, "550 5.1.1 no such user"));
        assert!(is_hard_bounce(554, "554 5.1.0 address rejected"));
        assert!(!is_hard_bounce(550, "550 5.7.1 message rejected as spam"));
        assert!(!is_hard_bounce(554, "554 transaction failed"));
    }
}
