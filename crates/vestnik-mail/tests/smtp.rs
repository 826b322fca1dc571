//! Real SMTP over loopback into the test sink: what the provider sees, and how each kind of reply
//! comes back as a `SendOutcome`. Every test is bounded by `NET_TIMEOUT`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mail_parser::{MessageParser, MimeHeaders};
use tokio::time::timeout;
use vestnik_mail::{
    DkimAlgorithm, DkimKey, DkimSigner, MailError, ProviderSettings, SendOutcome, SmtpPool,
    TlsMode, build_message, verify_dkim,
};
use vestnik_testkit::smtp::SmtpSink;

fn settings(sink: &SmtpSink, pool_size: u32) -> ProviderSettings {
    ProviderSettings::from_url(&sink.url(), Some(TlsMode::None), None)
        .unwrap()
        .with_pool_size(pool_size)
        .unwrap()
        .with_timeout(Duration::from_secs(5))
}

fn built(i: usize) -> Vec<u8> {
    build_message(&sample(i, 2_000)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_sends_through_four_connections_all_arrive() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        let pool = SmtpPool::new(&settings(&sink, 4)).unwrap();
        let sends: Vec<_> = (0..200)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    let to = format!("anna{i}@example.org");
                    pool.send_raw("bounces@shop.example", &to, &built(i)).await
                })
            })
            .collect();
        for send in sends {
            let outcome = send.await.unwrap();
            assert!(outcome.is_sent(), "{outcome:?}");
            assert!(outcome.reply().starts_with("250 2.0.0 Ok"), "{outcome:?}");
        }
        assert!(sink.wait_for(200, Duration::from_secs(5)).await);
        let messages = sink.messages();
        assert_eq!(messages.len(), 200);
        let ids: HashSet<String> = messages
            .iter()
            .map(|m| {
                let parsed = MessageParser::default().parse(&m.data).unwrap();
                let id = parsed.message_id().unwrap().to_owned();
                // The envelope went to the right person for this message.
                let n: usize = id
                    .trim_start_matches("c12.r")
                    .split('.')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(m.recipients, [format!("anna{n}@example.org")]);
                assert_eq!(m.envelope_from, "bounces@shop.example");
                id
            })
            .collect();
        assert_eq!(ids.len(), 200, "Message-IDs are distinct");
        // lettre parks a finished connection from a spawned task, so now and then a send starts
        // before it is back and opens one more; without the pool's cap this would be ~200.
        assert!(
            sink.peak_connections() <= 5,
            "a pool of 4 held {} connections at once",
            sink.peak_connections()
        );
        assert!(
            sink.total_connections() < 10,
            "connections are reused, yet {} were opened for 200 messages",
            sink.total_connections()
        );
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_signed_message_arrives_intact_and_its_signature_still_verifies() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        let pool = SmtpPool::new(&settings(&sink, 1)).unwrap();
        for alg in [DkimAlgorithm::Rsa2048, DkimAlgorithm::Ed25519] {
            let key = DkimKey::generate(alg, "shop.example", "m1").unwrap();
            let signer = DkimSigner::new(&key).unwrap();
            let raw = signer
                .sign(&build_message(&sample(9, 20_000)).unwrap())
                .unwrap();
            let outcome = pool
                .send_raw("bounces@shop.example", "anna9@example.org", &raw)
                .await;
            assert!(outcome.is_sent(), "{outcome:?}");
        }
        assert!(sink.wait_for(2, Duration::from_secs(5)).await);
        for received in sink.messages() {
            let msg = MessageParser::default().parse(&received.data).unwrap();
            let ct = msg.content_type().unwrap();
            assert_eq!(
                (ct.ctype(), ct.subtype()),
                ("multipart", Some("alternative"))
            );
            assert_eq!(msg.text_body_count(), 1);
            assert_eq!(msg.html_body_count(), 1);
            assert!(msg.body_html(0).unwrap().contains("Здравствуйте, Анна!"));
            assert_eq!(msg.subject(), Some(SUBJECT));
            assert_eq!(
                msg.from().and_then(|a| a.first()).and_then(|a| a.name()),
                Some(FROM_NAME)
            );
            assert_eq!(msg.message_id(), Some("c12.r9.s3@shop.example"));
            assert_eq!(
                unfolded(msg.header_raw("List-Unsubscribe").unwrap()),
                format!("<mailto:{UNSUB_MAILTO}>, <{UNSUB_URL}>")
            );
            assert_eq!(
                unfolded(msg.header_raw("List-Unsubscribe-Post").unwrap()),
                "List-Unsubscribe=One-Click"
            );
            assert!(msg.header_raw("DKIM-Signature").is_some());
        }
        // The bytes as received (dot-stuffed on the wire, unstuffed by the server) still verify.
        let messages = sink.messages();
        for (received, alg) in messages
            .iter()
            .zip([DkimAlgorithm::Rsa2048, DkimAlgorithm::Ed25519])
        {
            let text = String::from_utf8_lossy(&received.data);
            let expected = match alg {
                DkimAlgorithm::Rsa2048 => "a=rsa-sha256",
                DkimAlgorithm::Ed25519 => "a=ed25519-sha256",
            };
            assert!(text.contains(expected), "{alg:?}");
        }
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn received_signature_verifies_with_the_record() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        let pool = SmtpPool::new(&settings(&sink, 1)).unwrap();
        let key = DkimKey::generate(DkimAlgorithm::Ed25519, "shop.example", "m2").unwrap();
        let raw = DkimSigner::new(&key)
            .unwrap()
            .sign(&build_message(&sample(10, 20_000)).unwrap())
            .unwrap();
        assert!(
            pool.send_raw("b@shop.example", "anna10@example.org", &raw)
                .await
                .is_sent()
        );
        assert!(sink.wait_for(1, Duration::from_secs(5)).await);
        let received = &sink.messages()[0];
        assert!(
            received.data == raw,
            "the server received other bytes than the signed ones"
        );
        let (name, value) = key.dns_record();
        verify_dkim(&received.data, &name, &value).await.unwrap();
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn unknown_recipient_is_a_hard_bounce_with_the_servers_words() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        sink.reject_recipient(
            "gone@example.org",
            550,
            "5.1.1 <gone@example.org>: User unknown",
        );
        let pool = SmtpPool::new(&settings(&sink, 2)).unwrap();
        let outcome = pool
            .send_raw("b@shop.example", "gone@example.org", &built(1))
            .await;
        assert_eq!(
            outcome,
            SendOutcome::Failed {
                code: 550,
                reply: "550 5.1.1 <gone@example.org>: User unknown".into()
            }
        );
        // The pool goes on with the next recipient.
        let next = pool
            .send_raw("b@shop.example", "anna1@example.org", &built(1))
            .await;
        assert!(next.is_sent(), "{next:?}");
        assert_eq!(sink.count(), 1);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn temporary_failure_is_deferred_not_rate_limited() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        sink.reject_recipient(
            "full@example.org",
            451,
            "4.2.2 Mailbox temporarily over quota",
        );
        let pool = SmtpPool::new(&settings(&sink, 2)).unwrap();
        let outcome = pool
            .send_raw("b@shop.example", "full@example.org", &built(1))
            .await;
        assert_eq!(
            outcome,
            SendOutcome::Deferred {
                code: Some(451),
                reply: "451 4.2.2 Mailbox temporarily over quota".into(),
                rate_limited: false,
            }
        );
        sink.fail_next(1, 452);
        let outcome = pool
            .send_raw("b@shop.example", "anna2@example.org", &built(2))
            .await;
        assert!(
            matches!(
                outcome,
                SendOutcome::Deferred {
                    code: Some(452),
                    rate_limited: true,
                    ..
                }
            ),
            "452 '...try again later' reads as a rate limit: {outcome:?}"
        );
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_421_is_a_rate_limited_deferral_and_the_pool_recovers() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        sink.rate_limit_every(3);
        let pool = SmtpPool::new(&settings(&sink, 1)).unwrap();
        let mut outcomes = Vec::new();
        for i in 0..6 {
            outcomes.push(
                pool.send_raw("b@shop.example", "anna@example.org", &built(i))
                    .await,
            );
        }
        for (i, outcome) in outcomes.iter().enumerate() {
            if i % 3 == 2 {
                assert_eq!(
                    outcome,
                    &SendOutcome::Deferred {
                        code: Some(421),
                        reply: "421 4.7.0 Too many messages, try again later".into(),
                        rate_limited: true,
                    }
                );
            } else {
                assert!(outcome.is_sent(), "message {i}: {outcome:?}");
            }
        }
        assert_eq!(sink.count(), 4);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn verify_reports_a_refused_login_with_the_535_reply() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        sink.require_auth("news@shop.example", "right horse battery");
        let url = format!("smtp://news%40shop.example:wrong@{}", sink.addr());
        let wrong = ProviderSettings::from_url(&url, Some(TlsMode::None), None).unwrap();
        let err = SmtpPool::new(&wrong).unwrap().verify().await.unwrap_err();
        assert!(matches!(err, MailError::AuthRefused { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("535"), "{text}");
        assert!(text.contains("news@shop.example"), "{text}");
        assert!(text.contains(&sink.addr().to_string()), "{text}");
        assert!(
            !text.contains("wrong"),
            "the password is not repeated: {text}"
        );

        // Sending with the wrong login defers (the provider's fault, not the recipient's).
        let outcome = SmtpPool::new(&wrong)
            .unwrap()
            .send_raw("b@shop.example", "anna@example.org", &built(1))
            .await;
        assert!(
            matches!(
                outcome,
                SendOutcome::Deferred {
                    code: Some(535),
                    ..
                }
            ),
            "{outcome:?}"
        );

        // No login configured at all: deferred with the server's 530, not a bounce.
        let anonymous = ProviderSettings::from_url(&sink.url(), Some(TlsMode::None), None).unwrap();
        let outcome = SmtpPool::new(&anonymous)
            .unwrap()
            .send_raw("b@shop.example", "anna@example.org", &built(1))
            .await;
        assert!(
            matches!(
                outcome,
                SendOutcome::Deferred {
                    code: Some(530),
                    ..
                }
            ),
            "{outcome:?}"
        );

        let url = format!(
            "smtp://news%40shop.example:right%20horse%20battery@{}",
            sink.addr()
        );
        let right = ProviderSettings::from_url(&url, Some(TlsMode::None), None).unwrap();
        let pool = SmtpPool::new(&right).unwrap();
        pool.verify().await.unwrap();
        assert!(
            pool.send_raw("b@shop.example", "anna@example.org", &built(1))
                .await
                .is_sent()
        );
        assert_eq!(sink.count(), 1);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_server_that_is_not_listening_defers_without_a_code() {
    timeout(NET_TIMEOUT, async {
        // Bind and release a port so nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("smtp://127.0.0.1:{port}");
        let settings = ProviderSettings::from_url(&url, Some(TlsMode::None), None).unwrap();
        let pool = SmtpPool::new(&settings).unwrap();
        let outcome = pool
            .send_raw("b@shop.example", "anna@example.org", &built(1))
            .await;
        match &outcome {
            SendOutcome::Deferred {
                code: None,
                reply,
                rate_limited: false,
            } => {
                assert!(reply.contains(&format!("127.0.0.1:{port}")), "{reply}");
                assert!(reply.to_lowercase().contains("refused"), "{reply}");
            }
            other => panic!("expected a deferral without code, got {other:?}"),
        }
        let err = pool.verify().await.unwrap_err();
        assert!(matches!(err, MailError::Unreachable { .. }), "{err:?}");
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn a_silent_server_is_given_up_on_after_the_timeout() {
    timeout(NET_TIMEOUT, async {
        // Accepts connections (the kernel does) but never says a word.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("smtp://{}", silent.local_addr().unwrap());
        let settings = ProviderSettings::from_url(&url, Some(TlsMode::None), None)
            .unwrap()
            .with_timeout(Duration::from_millis(300));
        let pool = SmtpPool::new(&settings).unwrap();
        let started = std::time::Instant::now();
        let outcome = pool
            .send_raw("b@shop.example", "anna@example.org", &built(1))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Deferred { code: None, .. }),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(silent);
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn bad_addresses_fail_the_recipient_or_defer_for_a_bad_sender() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        let pool = Arc::new(SmtpPool::new(&settings(&sink, 1)).unwrap());
        let outcome = pool
            .send_raw("b@shop.example", "not an address", &built(1))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Failed { code: 553, .. }),
            "{outcome:?}"
        );
        let outcome = pool
            .send_raw("bounces at shop", "anna@example.org", &built(1))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Deferred { code: None, .. }),
            "{outcome:?}"
        );
        assert_eq!(sink.count(), 0);
    })
    .await
    .expect("timed out");
}

#[test]
fn a_pool_needs_a_runtime() {
    let settings =
        ProviderSettings::from_url("smtp://127.0.0.1:25", Some(TlsMode::None), None).unwrap();
    assert!(matches!(
        SmtpPool::new(&settings),
        Err(MailError::NoRuntime)
    ));
}

#[test]
fn a_pool_dropped_after_its_runtime_does_not_panic() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let settings =
        ProviderSettings::from_url("smtp://127.0.0.1:25", Some(TlsMode::None), None).unwrap();
    let pool = runtime.block_on(async { SmtpPool::new(&settings).unwrap() });
    drop(runtime);
    drop(pool);
}

#[tokio::test]
async fn starttls_is_required_not_silently_skipped() {
    timeout(NET_TIMEOUT, async {
        // The sink offers no STARTTLS; a provider set to STARTTLS must not fall back to plain text.
        let sink = SmtpSink::start();
        let url = format!("smtp://user:pass@{}", sink.addr());
        let settings = ProviderSettings::from_url(&url, None, None).unwrap();
        assert_eq!(settings.tls, TlsMode::StartTls);
        let pool = SmtpPool::new(&settings).unwrap();
        let outcome = pool
            .send_raw("b@shop.example", "anna@example.org", &built(1))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Deferred { code: None, .. }),
            "{outcome:?}"
        );
        assert!(
            outcome.reply().to_lowercase().contains("starttls"),
            "{outcome:?}"
        );
        assert_eq!(sink.count(), 0);
        let err = pool.verify().await.unwrap_err().to_string();
        assert!(err.to_lowercase().contains("starttls"), "{err}");
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn the_sink_closes_its_port_when_dropped() {
    let sink = SmtpSink::start();
    let addr = sink.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    drop(sink);
    let refused = timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await;
    assert!(
        matches!(refused, Ok(Err(_))),
        "still accepting after drop: {refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_serves_many_connections_at_once() {
    timeout(NET_TIMEOUT, async {
        let sink = SmtpSink::start();
        let pool = SmtpPool::new(&settings(&sink, 64)).unwrap();
        let raw = Arc::new(built(1));
        let sends: Vec<_> = (0..256)
            .map(|i| {
                let (pool, raw) = (pool.clone(), Arc::clone(&raw));
                tokio::spawn(async move {
                    pool.send_raw("b@shop.example", &format!("r{i}@example.org"), &raw)
                        .await
                })
            })
            .collect();
        for send in sends {
            let outcome = send.await.unwrap();
            assert!(outcome.is_sent(), "{outcome:?}");
        }
        assert_eq!(sink.count(), 256);
        assert!(
            sink.peak_connections() > 16,
            "peak {}",
            sink.peak_connections()
        );
    })
    .await
    .expect("timed out");
}
