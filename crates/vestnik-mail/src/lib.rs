//! Vestnik's outgoing email: everything between a rendered email and bytes accepted by an SMTP
//! server. No HTTP, no storage: the engine decides what to send and records what happened; this
//! crate builds, signs, sends and paces.
//!
//! The life of one message, in the order the campaign sender calls things:
//!
//! 1. [`build_message`] turns an [`OutgoingMessage`] (addresses, subject, HTML and text bodies,
//!    deterministic Message-ID, unsubscribe headers) into MIME bytes — `message`.
//! 2. [`DkimSigner::sign`] prepends a `DKIM-Signature` made with the sender domain's
//!    [`DkimKey`] — `dkim` (mail-auth on aws-lc-rs; keys are generated, stored and published here
//!    too).
//! 3. [`AdaptiveRate::acquire`] waits for the provider's current rate to allow one more message —
//!    `throttle`.
//! 4. [`SmtpPool::send_raw`] hands the signed bytes to the provider over a pooled connection and
//!    returns a [`SendOutcome`]: sent, deferred (try later; maybe "slow down"), or failed (hard
//!    bounce) — `smtp`. The pool is built from [`ProviderSettings`], parsed from a
//!    `smtp://user:pass@host:port` URL — `provider`.
//! 5. [`AdaptiveRate::record`] feeds the outcome back, so "421 slow down" halves the rate and
//!    runs of successes win it back.
//!
//! Build one `SmtpPool`, one `AdaptiveRate` and one `DkimSigner` per provider/domain and share
//! them (all are cheap to clone or `Sync`). Send with concurrency of at least the pool size: one
//! SMTP connection alone manages only ~23 messages a second (see [`smtp`](SmtpPool)).
//!
//! Errors are one [`MailError`] enum; a send never returns one, because a bounce is data.

mod body;
mod dkim;
mod error;
mod message;
mod provider;
mod smtp;
mod throttle;

pub use dkim::{DkimAlgorithm, DkimKey, DkimSigner, verify_dkim};
pub use error::MailError;
pub use message::{Mailbox, OutgoingMessage, build_message};
pub use provider::{ProviderSettings, TlsMode};
pub use smtp::{SendOutcome, SmtpPool};
pub use throttle::AdaptiveRate;
