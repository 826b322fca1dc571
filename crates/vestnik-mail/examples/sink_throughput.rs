//! How many messages a second go through `SmtpPool` into the test SMTP sink, with nothing else
//! in the way: one ~20 KB message, built and signed once, sent N times.
//!
//! `cargo run --release -p vestnik-mail --example sink_throughput [-- N]` (default 20 000)
//!
//! Environment: `CONCURRENCY` (default 16) sending tasks over `POOL` connections (default =
//! CONCURRENCY); `PROMPT_ACKS=0` makes the sink delay its ACKs as real servers do, which shows
//! lettre's Nagle stall (~23 msg/s per connection).

use std::time::{Duration, Instant, SystemTime};

use vestnik_mail::{
    DkimAlgorithm, DkimKey, DkimSigner, Mailbox, OutgoingMessage, ProviderSettings, SmtpPool,
    TlsMode, build_message,
};
use vestnik_testkit::smtp::{SinkOptions, SmtpSink};

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let concurrency = env_num("CONCURRENCY", 16).max(1);
    let pool_size = env_num("POOL", concurrency).max(1);
    let prompt_acks = std::env::var("PROMPT_ACKS").map_or(true, |v| v != "0");

    let sink = SmtpSink::start_with(SinkOptions {
        keep_data: false,
        prompt_acks,
    });
    let settings = ProviderSettings::from_url(&sink.url(), Some(TlsMode::None), None)?
        .with_pool_size(u32::try_from(pool_size)?)?;
    let pool = SmtpPool::new(&settings)?;

    let html = "<p>Товар: электрический чайник «Заря» — 990 ₽. <a href=\"https://shop.example/t/x\">Купить</a></p>\n"
        .repeat(200);
    let message = OutgoingMessage {
        from: Mailbox::new(Some("Магазин"), "news@shop.example"),
        to: Mailbox::address("anna@example.org"),
        reply_to: None,
        subject: "Скидки для вас, Анна".into(),
        html,
        text: "Скидки для вас".into(),
        message_id: "c1.r1.s1@shop.example".into(),
        list_unsubscribe_url: Some("https://shop.example/u/x".into()),
        list_unsubscribe_mailto: None,
        feedback_id: None,
        campaign_header: None,
        date: SystemTime::now(),
    };
    let key = DkimKey::generate(DkimAlgorithm::Rsa2048, "shop.example", "s1")?;
    let raw = DkimSigner::new(&key)?.sign(&build_message(&message)?)?;
    let raw: &'static [u8] = Box::leak(raw.into_boxed_slice());

    // Warm the pool so connection set-up is not in the figure.
    pool.verify().await?;

    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let pool = pool.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut not_sent = 0usize;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    if !pool
                        .send_raw("bounces@shop.example", "anna@example.org", raw)
                        .await
                        .is_sent()
                    {
                        not_sent += 1;
                    }
                }
                not_sent
            })
        })
        .collect();
    let mut not_sent = 0;
    for w in workers {
        not_sent += w.await?;
    }
    let elapsed = started.elapsed();
    let arrived = sink
        .wait_for(total - not_sent, Duration::from_secs(10))
        .await;
    println!(
        "{} messages of {} KB, concurrency {concurrency}, pool {pool_size}, prompt ACKs {}: \
         {:.2} s, {:.0} msg/s ({} not sent, sink saw {}{}; peak {} connections)",
        total,
        raw.len() / 1024,
        if prompt_acks { "on" } else { "off" },
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        not_sent,
        sink.count(),
        if arrived { "" } else { ", some missing" },
        sink.peak_connections(),
    );
    Ok(())
}
