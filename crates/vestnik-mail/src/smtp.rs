//! Sending already-built, already-signed messages to one provider over a pool of SMTP
//! connections (lettre's `AsyncSmtpTransport` with its pool), and classifying every reply into a
//! [`SendOutcome`] the campaign sender can store.
//!
//! Things about lettre 0.11 that shape this file:
//! - Its pool's `max_size` only bounds *idle* connections: a send that finds none idle opens a new
//!   one, however many are open. A semaphore here makes `pool_size` the bound on sends in flight
//!   and so on open connections, which is what providers limit. (lettre parks a finished
//!   connection from a spawned task; a send that starts before that task ran opens one more, so
//!   the count can briefly exceed `pool_size` by one.)
//! - It bounds only the TCP connect with its timeout, not the SMTP commands, so every send is also
//!   wrapped in a tokio timeout; a transport that timed out is replaced, because lettre would
//!   otherwise park the half-finished connection and read its late reply as the next one's.
//! - It never sets `TCP_NODELAY` (there is no hook for it), and it writes the message body and the
//!   final `.` in two writes. Nagle's algorithm holds the `.` until the server ACKs the body, and
//!   servers delay that ACK by up to 40 ms, so **one connection manages only about 23 messages a
//!   second** against real servers (the test sink ACKs at once, so benches against it do not show
//!   this). Throughput comes from sending with concurrency ≥ `pool_size`, and from `pool_size`.
//! - Any negative reply (a 550 for one recipient included) makes lettre QUIT that connection; the
//!   next send opens a new one. Reused connections are probed with a NOOP first.

use std::error::Error as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::Semaphore;

use crate::message::parse_address;
use crate::{MailError, ProviderSettings, TlsMode};

/// What became of one message, with the server's reply text kept for the delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// 2xx after the message body: the provider has taken responsibility for it.
    Sent { reply: String },
    /// Try again later: a 4xx reply; a 5xx about our session rather than the recipient (login
    /// refused 530/534/535/538, bad command sequence 503); or no reply at all (`code: None`:
    /// refused, timed out, TLS failed). Many of these in a row mean the provider is down or
    /// misconfigured.
    Deferred {
        code: Option<u16>,
        reply: String,
        /// The provider asks us to slow down (421, or 450/451/452 mentioning a rate); the
        /// adaptive throttle halves its rate on these.
        rate_limited: bool,
    },
    /// A permanent 5xx: a hard bounce, do not retry this recipient.
    Failed { code: u16, reply: String },
}

impl SendOutcome {
    pub fn is_sent(&self) -> bool {
        matches!(self, SendOutcome::Sent { .. })
    }

    /// The reply (or the reason there was none), for logs and the delivery row.
    pub fn reply(&self) -> &str {
        match self {
            SendOutcome::Sent { reply }
            | SendOutcome::Deferred { reply, .. }
            | SendOutcome::Failed { reply, .. } => reply,
        }
    }
}

/// Replies that are about our login, not about the recipient: 530 auth required / STARTTLS
/// first, 534 mechanism too weak, 535 credentials invalid, 538 encryption required for auth.
const AUTH_CODES: [u16; 4] = [530, 534, 535, 538];
/// 503 "bad sequence of commands": our session is wrong (often a login the server wanted first),
/// so it says nothing about the recipient either.
const BAD_SEQUENCE: u16 = 503;

/// A pool of connections to one provider. Cheap to clone (one `Arc`); clones share connections.
#[derive(Clone)]
pub struct SmtpPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    /// Replaced after a timeout (see the module doc); cloning it is an `Arc` clone.
    transport: Mutex<Option<AsyncSmtpTransport<Tokio1Executor>>>,
    builder: AsyncSmtpTransportBuilder,
    /// One permit per connection the provider allows us to hold open.
    permits: Semaphore,
    /// `host:port`, for messages.
    server: String,
    user: Option<String>,
    /// Bounds a whole send (connect + transaction).
    send_timeout: Duration,
    /// lettre's pool spawns onto tokio when it is dropped; dropping inside this handle's context
    /// keeps that from panicking when the last clone goes away outside the runtime.
    runtime: tokio::runtime::Handle,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        let _context = self.runtime.enter();
        let transport = match self.transport.get_mut() {
            Ok(slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(transport);
    }
}

impl std::fmt::Debug for SmtpPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpPool")
            .field("server", &self.inner.server)
            .field("user", &self.inner.user)
            .field("available", &self.inner.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl SmtpPool {
    /// Sets up the pool; connects lazily, on the first send or [`verify`](Self::verify). Must be
    /// called inside a tokio runtime.
    pub fn new(settings: &ProviderSettings) -> Result<SmtpPool, MailError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MailError::NoRuntime)?;
        let server = settings.server();
        let tls_params = || {
            TlsParameters::new(settings.host.clone()).map_err(|e| MailError::Tls {
                server: server.clone(),
                reason: error_chain(&e),
            })
        };
        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_params()?),
            TlsMode::Tls => Tls::Wrapper(tls_params()?),
        };
        let pool_size = settings.pool_size.max(1);
        let mut builder =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(settings.host.as_str())
                .port(settings.port)
                .tls(tls)
                .timeout(Some(settings.timeout))
                .pool_config(
                    PoolConfig::new()
                        .max_size(pool_size)
                        .min_idle(0)
                        .idle_timeout(Duration::from_secs(60)),
                );
        if let Some(user) = &settings.username {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                settings.password.clone().unwrap_or_default(),
            ));
        }
        let transport = builder.clone().build();
        Ok(SmtpPool {
            inner: Arc::new(PoolInner {
                transport: Mutex::new(Some(transport)),
                builder,
                permits: Semaphore::new(pool_size as usize),
                server,
                user: settings.username.clone(),
                send_timeout: settings.timeout.saturating_mul(2),
                runtime,
            }),
        })
    }

    /// `host:port` of the provider.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    fn transport(&self) -> Option<AsyncSmtpTransport<Tokio1Executor>> {
        match self.inner.transport.lock() {
            Ok(slot) => slot.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Drops every pooled connection by swapping in a fresh transport.
    fn reset_transport(&self) {
        let fresh = self.inner.builder.clone().build();
        let old = match self.inner.transport.lock() {
            Ok(mut slot) => slot.replace(fresh),
            Err(poisoned) => poisoned.into_inner().replace(fresh),
        };
        drop(old);
    }

    /// Connects, sets up TLS and logs in now, so wrong settings show up as one clear error before
    /// a campaign starts rather than as thousands of deferrals. The connection stays in the pool.
    /// (A server that wants a login the settings lack only says so at the first MAIL FROM; that
    /// send comes back deferred with its 530.)
    pub async fn verify(&self) -> Result<(), MailError> {
        let server = self.inner.server.clone();
        let unreachable = |reason: String| MailError::Unreachable {
            server: server.clone(),
            reason,
        };
        let transport = self
            .transport()
            .ok_or_else(|| unreachable("the pool is shut down".to_owned()))?;
        let result =
            tokio::time::timeout(self.inner.send_timeout, transport.test_connection()).await;
        match result {
            Err(_) => {
                self.reset_transport();
                Err(unreachable(format!(
                    "no answer within {} s",
                    self.inner.send_timeout.as_secs()
                )))
            }
            Ok(Ok(true)) => Ok(()),
            Ok(Ok(false)) => Err(unreachable(
                "connected, but the server did not answer NOOP".to_owned(),
            )),
            Ok(Err(e)) => {
                let code = e.status().map(u16::from);
                match (code, &self.inner.user) {
                    (Some(code), Some(user)) if AUTH_CODES.contains(&code) => {
                        Err(MailError::AuthRefused {
                            server,
                            user: user.clone(),
                            reply: reply_of(&e, code),
                        })
                    }
                    (Some(code), None) if AUTH_CODES.contains(&code) => Err(unreachable(format!(
                        "the server wants a login ({}); put user:password in the provider URL",
                        reply_of(&e, code)
                    ))),
                    (Some(code), _) => Err(unreachable(reply_of(&e, code))),
                    (None, _) => Err(unreachable(no_reply_reason(&e))),
                }
            }
        }
    }

    /// Sends one message. `raw` is the complete, signed message; `envelope_from` is the bounce
    /// address (MAIL FROM), `to` the one recipient (RCPT TO). Waits for a free connection when
    /// `pool_size` sends are already under way.
    pub async fn send_raw(&self, envelope_from: &str, to: &str, raw: &[u8]) -> SendOutcome {
        let sender = match parse_address(envelope_from) {
            Ok(a) => a,
            Err(e) => {
                // Our configuration, not the recipient: retrying after a fix will work.
                return SendOutcome::Deferred {
                    code: None,
                    reply: format!("not sent: the envelope sender is invalid ({e})"),
                    rate_limited: false,
                };
            }
        };
        let recipient = match parse_address(to) {
            Ok(a) => a,
            Err(e) => {
                return SendOutcome::Failed {
                    code: 553,
                    reply: format!("553 5.1.3 not sent: {e}"),
                };
            }
        };
        let envelope = match Envelope::new(Some(sender), vec![recipient]) {
            Ok(env) => env,
            Err(e) => {
                return SendOutcome::Failed {
                    code: 553,
                    reply: format!("553 5.1.3 not sent: {e}"),
                };
            }
        };
        let Ok(_permit) = self.inner.permits.acquire().await else {
            return deferred_no_reply("the SMTP pool is shut down".to_owned());
        };
        let Some(transport) = self.transport() else {
            return deferred_no_reply("the SMTP pool is shut down".to_owned());
        };
        // lettre ends DATA with CRLF "." CRLF even when the message already ends in CRLF, which
        // would give every message an extra empty last line; without ours, the server receives
        // exactly `raw`.
        let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        let sent =
            tokio::time::timeout(self.inner.send_timeout, transport.send_raw(&envelope, body))
                .await;
        // lettre puts the connection back in its pool from a spawned task; yielding once lets that
        // task run before the permit goes to the next send, which would otherwise find no idle
        // connection and open an extra one.
        tokio::task::yield_now().await;
        match sent {
            Err(_) => {
                self.reset_transport();
                deferred_no_reply(format!(
                    "no answer from {} within {} s",
                    self.inner.server,
                    self.inner.send_timeout.as_secs()
                ))
            }
            Ok(Ok(response)) => {
                let code = u16::from(response.code());
                let text = response.message().collect::<Vec<_>>().join(" ");
                SendOutcome::Sent {
                    reply: format!("{code} {text}"),
                }
            }
            Ok(Err(e)) => match e.status().map(u16::from) {
                Some(code) => classify_reply(code, reply_of(&e, code)),
                None => {
                    deferred_no_reply(format!("{}: {}", self.inner.server, no_reply_reason(&e)))
                }
            },
        }
    }
}

fn deferred_no_reply(reply: String) -> SendOutcome {
    SendOutcome::Deferred {
        code: None,
        reply,
        rate_limited: false,
    }
}

/// Sorts a negative SMTP reply into deferred (4xx, or our login refused) and failed (5xx).
pub(crate) fn classify_reply(code: u16, reply: String) -> SendOutcome {
    if AUTH_CODES.contains(&code) || code == BAD_SEQUENCE {
        let what = if code == BAD_SEQUENCE {
            "the provider refused our command sequence (does it want a login?)"
        } else {
            "the provider refused our login"
        };
        return SendOutcome::Deferred {
            code: Some(code),
            reply: format!("{what}: {reply}"),
            rate_limited: false,
        };
    }
    match code {
        400..=499 => SendOutcome::Deferred {
            code: Some(code),
            rate_limited: is_rate_limit(code, &reply),
            reply,
        },
        _ => SendOutcome::Failed { code, reply },
    }
}

/// 421 always (the server is shedding load and closes the connection); 450/451/452 when the
/// text says so. Other 4xx (greylisting, a full mailbox) are plain deferrals.
fn is_rate_limit(code: u16, reply: &str) -> bool {
    if code == 421 {
        return true;
    }
    if !matches!(code, 450..=452) {
        return false;
    }
    let text = reply.to_ascii_lowercase();
    let word_rate = text
        .match_indices("rate")
        .any(|(i, _)| i == 0 || !text.as_bytes()[i - 1].is_ascii_alphabetic());
    word_rate
        || text.contains("too many")
        || text.contains("try again later")
        || text.contains("throttl")
}

/// `"550 5.1.1 User unknown"`: the code and the server's own text, which lettre keeps as the
/// error's source.
fn reply_of(e: &lettre::transport::smtp::Error, code: u16) -> String {
    match e.source() {
        Some(text) => format!("{code} {text}"),
        None => code.to_string(),
    }
}

/// Why there was no SMTP reply: refused, timed out, TLS, or a garbled response.
fn no_reply_reason(e: &lettre::transport::smtp::Error) -> String {
    let chain = error_chain(e);
    if e.is_client() && chain.contains("STARTTLS") {
        return format!(
            "{chain}; the server offers no encryption on this port: use TLS mode \"tls\" (port 465) \
             if it has it, \"none\" only on a trusted network"
        );
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_tls() {
        "TLS failed"
    } else if e.is_client() {
        "not sent"
    } else if e.is_response() {
        "unexpected reply"
    } else {
        "could not connect"
    };
    format!("{what}: {chain}")
}

/// An error and its causes in one line, skipping causes already quoted by the one above.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_classified_as_the_campaign_sender_needs() {
        assert!(matches!(
            classify_reply(550, "550 5.1.1 User unknown".into()),
            SendOutcome::Failed { code: 550, .. }
        ));
        assert!(matches!(
            classify_reply(451, "451 4.3.0 Temporary local problem".into()),
            SendOutcome::Deferred {
                code: Some(451),
                rate_limited: false,
                ..
            }
        ));
        for reply in [
            "421 4.7.0 Try again later, closing connection",
            "451 4.7.1 Rate limited, slow down",
            "450 4.2.1 Too many messages from your IP",
            "452 4.3.2 Ratelimit exceeded",
        ] {
            let code = reply[..3].parse().unwrap();
            assert!(
                matches!(
                    classify_reply(code, reply.into()),
                    SendOutcome::Deferred {
                        rate_limited: true,
                        ..
                    }
                ),
                "{reply}"
            );
        }
        assert!(matches!(
            classify_reply(451, "451 4.3.0 could not generate a reply".into()),
            SendOutcome::Deferred {
                rate_limited: false,
                ..
            }
        ));
        assert!(matches!(
            classify_reply(503, "503 5.5.1 Error: authentication required".into()),
            SendOutcome::Deferred {
                code: Some(503),
                ..
            }
        ));
        assert!(matches!(
            classify_reply(535, "535 5.7.8 Authentication failed".into()),
            SendOutcome::Deferred {
                code: Some(535),
                ..
            }
        ));
    }
}
