//! End-to-end campaign throughput: claim → render (Jinja + MJML + text) → tracked links →
//! MIME → DKIM → SMTP → record, through the same `campaign.send` job `vestnik serve` runs,
//! into an in-process SMTP server that keeps only envelopes (so it is not the bottleneck; its
//! own ceiling is measured by `cargo run --release -p vestnik-mail --example sink_throughput`).
//!
//! `cargo bench -p vestnik-engine --bench campaign_send [-- sqlite|postgres] [unsigned|ed25519|rsa2048]`,
//! `RECIPIENTS` (default 100 000) in the environment. Without a DKIM argument all three run,
//! each as its own campaign to the same list. Prints messages per second from the moment the
//! campaign starts until its last outcome is recorded, and the process's peak RSS.

use std::sync::Arc;
use std::time::{Duration, Instant};

/// The allocator `vestnik serve` runs with, so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tokio_util::sync::CancellationToken;
use vestnik_domain::campaign::{CampaignState, DkimAlgorithm, NewProvider, SmtpTls};
use vestnik_domain::template::{TemplateContent, TemplateKind};
use vestnik_domain::{ContactFields, Email, NewContact, SiteId, Store};
use vestnik_engine::campaign::{
    CAMPAIGN_SEND_JOB, CampaignRequest, CampaignSendJob, MailContext, RecipientsRequest,
    SendConfig, create_campaign, generate_dkim_key,
};
use vestnik_engine::{JobRunner, RunnerConfig};
use vestnik_testkit::smtp::{SinkOptions, SmtpSink};
use vestnik_testkit::{Backend, TestDb};

/// A personalised MJML newsletter: greeting and city from the contact, a tracked button, the
/// contact's recently viewed products, unsubscribe and web-view links.
const TEMPLATE: &str = r#"<mjml><mj-body>
<mj-section><mj-column>
  <mj-image src="https://cdn.shop.example/banner.jpg" alt="Распродажа" />
  <mj-text font-size="20px">Здравствуйте, {{ lead.name }}!</mj-text>
  <mj-text>Для покупателей из города {{ lead.city }} — скидки до 50% на всё до воскресенья.</mj-text>
  <mj-button href="https://shop.example/sale?from=newsletter">Смотреть скидки</mj-button>
</mj-column></mj-section>
<mj-section>
{% for item in get_viewed_items()[0:2] %}
  <mj-column><mj-image src="{{ item.picture }}" /><mj-text>{{ item.name }} — {{ item.price }} ₽</mj-text>
  <mj-button href="{{ item.url }}">Купить</mj-button></mj-column>
{% endfor %}
</mj-section>
<mj-section><mj-column>
  <mj-text font-size="12px"><a href="https://shop.example/delivery">Доставка</a> · <a href="https://shop.example/returns">Возврат</a> · <a href="https://shop.example/contacts">Контакты</a></mj-text>
  <mj-text font-size="11px"><a href="{{ unsubscribe_url }}">Отписаться</a> · <a href="{{ webview_url }}">Открыть в браузере</a></mj-text>
</mj-column></mj-section>
</mj-body></mjml>"#;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

async fn setup(store: &Arc<dyn Store>, recipients: usize) -> SiteId {
    let site = store.create_site("Bench shop").await.unwrap().0.id;
    let list = store.create_list(&site, "Newsletter").await.unwrap();
    let cities = ["Москва", "Санкт-Петербург", "Казань", "Новосибирск"];
    let started = Instant::now();
    for chunk_start in (0..recipients).step_by(5000) {
        let contacts: Vec<NewContact> = (chunk_start..(chunk_start + 5000).min(recipients))
            .map(|i| NewContact {
                email: Some(Email::parse(&format!("buyer{i}@example.com")).unwrap()),
                fields: ContactFields {
                    name: Some(format!("Покупатель {i}")),
                    city: Some(cities[i % cities.len()].into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .collect();
        let ids: Vec<_> = store
            .insert_contacts(&site, &contacts)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        store.add_to_list(&site, list.id, &ids).await.unwrap();
    }
    eprintln!(
        "  {recipients} contacts in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    store
        .create_template(
            &site,
            "Newsletter",
            &TemplateContent {
                subject: "{{ lead.name }}, скидки до 50% для вас".into(),
                body: TEMPLATE.into(),
                kind: TemplateKind::Mjml,
            },
            "bench",
        )
        .await
        .unwrap();
    site
}

async fn run(backend: Backend, recipients: usize, modes: &[&str]) {
    let Some(db) = TestDb::new(backend).await else {
        eprintln!("{backend:?}: database unreachable, skipped");
        return;
    };
    let store = db.store();
    eprintln!("{backend:?}:");
    let site = setup(&store, recipients).await;
    let sink = SmtpSink::start_with(SinkOptions {
        keep_data: false,
        ..Default::default()
    });
    store
        .create_provider(
            &site,
            &NewProvider {
                name: "sink".into(),
                host: "127.0.0.1".into(),
                port: sink.port(),
                tls: SmtpTls::None,
                username: None,
                password: None,
                rate_per_sec: None,
                pool_size: 16,
            },
        )
        .await
        .unwrap();
    let ctx = MailContext::load(store.clone(), "https://mail.shop.example")
        .await
        .unwrap();
    let template = store.list_templates(&site).await.unwrap()[0].id.0;
    let mut runner = JobRunner::new(store.clone(), "bench", RunnerConfig::default());
    runner.register(
        CAMPAIGN_SEND_JOB,
        CampaignSendJob::new(ctx.clone(), SendConfig::default()),
    );
    let stop = CancellationToken::new();
    let runner_task = tokio::spawn(runner.run(stop.clone()));
    for (n, mode) in modes.iter().enumerate() {
        // Each mode sends from its own domain, signed as the mode says.
        let domain = format!("m{n}.shop.example");
        let algorithm = match *mode {
            "ed25519" => Some(DkimAlgorithm::Ed25519),
            "rsa2048" => Some(DkimAlgorithm::Rsa2048),
            _ => None,
        };
        if let Some(algorithm) = algorithm {
            let key = generate_dkim_key(algorithm, &domain, "bench").unwrap();
            store
                .create_sender_domain(&site, &domain, "bench", algorithm, &key)
                .await
                .unwrap();
        }
        let before = sink.count();
        let created = create_campaign(
            &ctx,
            &site,
            CampaignRequest {
                name: Some(format!("bench {mode}")),
                template_id: template,
                subject: None,
                from_email: format!("news@{domain}"),
                from_name: "Магазин".into(),
                recipients: RecipientsRequest {
                    list: Some(serde_json::json!("Newsletter")),
                    ..Default::default()
                },
                send_at: None,
                segment_size: None,
                interval_minutes: None,
                provider: None,
                disable_banner: false,
                utm: None,
                draft: false,
            },
        )
        .await
        .unwrap();
        let id = created.campaign.id;
        let started = Instant::now();
        let state = loop {
            let c = store.get_campaign(&site, id).await.unwrap();
            if !matches!(c.state, CampaignState::Sending | CampaignState::Scheduled) {
                break c.state;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let elapsed = started.elapsed().as_secs_f64();
        let counts = store.delivery_counts(id).await.unwrap();
        let arrived = sink.count() - before;
        eprintln!(
            "  {mode:>8}: {} sent ({arrived} arrived, state {state:?}) in {elapsed:.1} s = {:.0} msg/s; peak RSS {:.0} MiB",
            counts.sent,
            counts.sent as f64 / elapsed,
            peak_rss_mib()
        );
    }
    stop.cancel();
    let _ = runner_task.await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let recipients = std::env::var("RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut modes: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| ["unsigned", "ed25519", "rsa2048"].contains(a))
        .collect();
    if modes.is_empty() {
        modes = vec!["unsigned", "ed25519", "rsa2048"];
    }
    let backends: Vec<Backend> = if args.iter().any(|a| a == "postgres") {
        vec![Backend::Postgres]
    } else if args.iter().any(|a| a == "sqlite") {
        vec![Backend::Sqlite]
    } else {
        vec![Backend::Sqlite, Backend::Postgres]
    };
    for backend in backends {
        run(backend, recipients, &modes).await;
    }
}
