//! What each CLI command does. `serve` wires the node together; the rest are one store call
//! each, printing JSON on stdout.

use anyhow::{Context, bail};
use serde_json::json;
use std::io::{IsTerminal, Read};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use vestnik_domain::{ApiKeyId, Email, Role, SiteId, SiteRole, Store};
use vestnik_engine::{JobRunner, RunnerConfig};
use vestnik_http::{AppState, Metrics};

use crate::config::Config;
use crate::{
    FeedCommand, JobsCommand, KeyCommand, PromocodesCommand, SiteCommand, TemplateCommand,
    UserCommand,
};

pub fn init_logging(json: bool, serving: bool) {
    use tracing_subscriber::EnvFilter;
    // One-shot commands stay quiet unless asked: their stdout is for scripts.
    let default = if serving {
        "info,sqlx=warn,tower_http=info"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("VESTNIK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub(crate) async fn open(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    vestnik_store::open(&config.database, config.sqlite_durability)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

pub(crate) fn site_id(raw: &str) -> anyhow::Result<SiteId> {
    SiteId::parse(raw).with_context(|| {
        format!("`{raw}` is not a site id (24 hex digits; see `vestnik site list`)")
    })
}

pub(crate) fn store_err(e: vestnik_domain::StoreError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn migrate(config: Config) -> anyhow::Result<()> {
    let store = open(&config).await?;
    eprintln!("database is up to date ({})", store.backend());
    Ok(())
}

pub async fn site(config: Config, cmd: SiteCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        SiteCommand::Create { name } => {
            let (site, key) = store.create_site(&name).await.map_err(store_err)?;
            // The exact shape scripts parse: {"site_id": "...", "api_key": "..."}.
            println!(
                "{{\"site_id\": {}, \"api_key\": {}}}",
                json!(site.id.as_str()),
                json!(key.plain.as_str())
            );
        }
        SiteCommand::List => {
            let sites = store.list_sites().await.map_err(store_err)?;
            let out: Vec<_> = sites
                .iter()
                .map(|s| json!({"site_id": s.id, "name": s.name, "created_at": s.created_at}))
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}

pub async fn key(config: Config, cmd: KeyCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        KeyCommand::Create { site, label } => {
            let site = site_id(&site)?;
            let key = store
                .create_api_key(&site, &label)
                .await
                .map_err(store_err)?;
            println!(
                "{}",
                json!({"key_id": key.record.id, "site_id": site, "api_key": key.plain.as_str()})
            );
        }
        KeyCommand::List { site } => {
            let keys = store
                .list_api_keys(&site_id(&site)?)
                .await
                .map_err(store_err)?;
            println!("{}", serde_json::to_string_pretty(&keys)?);
        }
        KeyCommand::Revoke { site, key_id } => {
            let key = store
                .revoke_api_key(&site_id(&site)?, ApiKeyId(key_id))
                .await
                .map_err(store_err)?;
            println!("{}", serde_json::to_string(&key)?);
        }
    }
    Ok(())
}

pub async fn user(config: Config, cmd: UserCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        UserCommand::Create { email, site, role } => {
            let email = Email::parse(&email)?;
            let role: Role = role.parse()?;
            let site = site_id(&site)?;
            let password = read_password()?;
            vestnik_domain::user::validate_password(&password)?;
            let hash =
                tokio::task::spawn_blocking(move || vestnik_domain::user::hash_password(&password))
                    .await?;
            let user = store
                .create_user(&email, &hash, &[SiteRole { site_id: site.clone(), role }])
                .await
                .map_err(|e| match e {
                    vestnik_domain::StoreError::Conflict(_) => anyhow::anyhow!(
                        "a user with email {email} already exists; give them a role with `vestnik user grant`"
                    ),
                    other => store_err(other),
                })?;
            println!(
                "{}",
                json!({"user_id": user.id, "email": user.email, "site_id": site, "role": role})
            );
        }
        UserCommand::Grant { email, site, role } => {
            let email = Email::parse(&email)?;
            let role: Role = role.parse()?;
            let site = site_id(&site)?;
            let (user, _) = store
                .find_user_by_email(&email)
                .await
                .map_err(store_err)?
                .with_context(|| {
                    format!("no user with email {email}; create one with `vestnik user create`")
                })?;
            store
                .set_role(user.id, &site, role)
                .await
                .map_err(store_err)?;
            println!(
                "{}",
                json!({"user_id": user.id, "email": user.email, "site_id": site, "role": role})
            );
        }
    }
    Ok(())
}

pub async fn jobs(config: Config, cmd: JobsCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        JobsCommand::List { state, limit } => {
            let state = state
                .map(|s| s.parse::<vestnik_domain::JobState>())
                .transpose()
                .map_err(|e| anyhow::anyhow!("{e}; expected pending, running, done or dead"))?;
            let jobs = store.list_jobs(state, limit).await.map_err(store_err)?;
            println!("{}", serde_json::to_string_pretty(&jobs)?);
        }
        JobsCommand::Counts => {
            let counts = store.job_counts().await.map_err(store_err)?;
            let out: serde_json::Map<String, serde_json::Value> = counts
                .into_iter()
                .map(|(s, n)| (s.as_str().to_string(), json!(n)))
                .collect();
            println!("{}", serde_json::Value::Object(out));
        }
    }
    Ok(())
}

pub async fn feed(config: Config, cmd: FeedCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        FeedCommand::Import { site, source } => {
            let site = site_id(&site)?;
            store.get_site(&site).await.map_err(store_err)?;
            let progress = Arc::new(vestnik_engine::ImportProgress::default());
            let bar = std::io::stderr()
                .is_terminal()
                .then(|| feed_progress_bar(progress.clone()));
            let imported = vestnik_engine::import_feed(
                store,
                &site,
                &vestnik_engine::FeedSource::parse(&source),
                &vestnik_engine::DownloadLimits::default(),
                Some(progress),
            )
            .await;
            if let Some((bar, ticker)) = bar {
                ticker.abort();
                bar.finish_and_clear();
            }
            let imported = imported.map_err(|e| anyhow::anyhow!("{e}"))?;
            let summary = imported.summary.unwrap_or_default();
            println!("{}", serde_json::to_string(&summary)?);
            if let Some(retired) = imported.retired.filter(|n| *n > 0) {
                eprintln!("{retired} offers no longer in the feed are now unavailable");
            }
        }
    }
    Ok(())
}

pub async fn promocodes(config: Config, cmd: PromocodesCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        PromocodesCommand::Import { site, pool, file } => {
            let site = site_id(&site)?;
            vestnik_domain::promo::validate_pool(&pool).map_err(|e| anyhow::anyhow!("{e}"))?;
            store.get_site(&site).await.map_err(store_err)?;
            let text = std::fs::read_to_string(&file).with_context(|| {
                format!(
                    "cannot read {} (a UTF-8 text file with one code per line)",
                    file.display()
                )
            })?;
            let (codes, skipped_lines) = vestnik_domain::promo::parse_code_lines(&text);
            if codes.is_empty() {
                bail!("{} holds no codes; put one code per line", file.display());
            }
            let imported = store
                .import_promo_codes(&site, &pool, &codes)
                .await
                .map_err(store_err)?;
            println!(
                "{}",
                json!({
                    "pool": pool,
                    "added": imported.added,
                    "duplicates": imported.duplicates,
                    "skipped_lines": skipped_lines,
                })
            );
        }
        PromocodesCommand::List { site } => {
            let site = site_id(&site)?;
            let pools = store.promo_pools(&site).await.map_err(store_err)?;
            println!("{}", serde_json::to_string_pretty(&pools)?);
        }
    }
    Ok(())
}

/// A template that does not render: the CLI exits with 2 (bad input), not 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TemplateFailed(pub String);

pub async fn template(config: Config, cmd: TemplateCommand) -> anyhow::Result<()> {
    let TemplateCommand::Render {
        site,
        contact,
        subject,
        kind,
        file,
    } = cmd;
    let site = site_id(&site)?;
    let body = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read the template {}", file.display()))?;
    let kind = match kind.as_deref() {
        None => vestnik_domain::template::TemplateKind::detect(&body),
        Some(k) => vestnik_domain::template::TemplateKind::parse(k)
            .with_context(|| format!("--kind {k}: expected html or mjml"))?,
    };
    let content = vestnik_domain::template::TemplateContent {
        subject,
        body,
        kind,
    };
    content
        .validate()
        .map_err(|e| TemplateFailed(e.to_string()))?;
    let compiled =
        vestnik_render::CompiledTemplate::compile(&vestnik_engine::render_template(&content))
            .map_err(|e| TemplateFailed(format!("{}: {e}", file.display())))?;
    let store = open(&config).await?;
    store.get_site(&site).await.map_err(store_err)?;
    let contact = match contact {
        Some(email) => {
            let email = vestnik_domain::Email::parse(&email).map_err(|e| anyhow::anyhow!("{e}"))?;
            let found = store
                .find_contact(&site, Some(&email), None)
                .await
                .map_err(store_err)?;
            Some(found.with_context(|| {
                format!("no contact with email {email} in site {}", site.as_str())
            })?)
        }
        None => None,
    };
    let rendered = vestnik_engine::render_preview(store, site, Arc::new(compiled), contact)
        .await
        .map_err(|e| match e {
            vestnik_engine::RenderFailure::Template(e) => {
                anyhow::Error::new(TemplateFailed(format!("{}: {e}", file.display())))
            }
            other => anyhow::anyhow!("{other}"),
        })?;
    match rendered {
        vestnik_render::Rendered::Email(message) => {
            if !message.subject.is_empty() {
                eprintln!("Subject: {}", message.subject);
            }
            for warning in &message.warnings {
                eprintln!("warning: {warning}");
            }
            println!("{}", message.html);
            Ok(())
        }
        vestnik_render::Rendered::Skipped { line, .. } => Err(TemplateFailed(format!(
            "{}: the template called exit(){}; no message for this contact",
            file.display(),
            line.map(|l| format!(" at line {l}")).unwrap_or_default()
        ))
        .into()),
    }
}

/// A spinner with offers and bytes read, redrawn from the import's counters.
fn feed_progress_bar(
    progress: Arc<vestnik_engine::ImportProgress>,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    use std::sync::atomic::Ordering;
    let bar = indicatif::ProgressBar::new_spinner();
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}]")
    {
        bar.set_style(style);
    }
    let shown = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            let offers = progress.offers.load(Ordering::Relaxed);
            let bytes = progress.bytes.load(Ordering::Relaxed);
            shown.set_message(format!("{offers} offers, {}", indicatif::HumanBytes(bytes)));
            shown.tick();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    (bar, ticker)
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            bail!("the passwords do not match");
        }
        Ok(first)
    } else {
        let mut input = String::new();
        std::io::stdin()
            .read_to_string(&mut input)
            .context("cannot read the password from stdin")?;
        let password = input.lines().next().unwrap_or_default().to_string();
        if password.is_empty() {
            bail!(
                "no password on stdin; pipe one in, e.g. `echo 'long secret' | vestnik user create …`"
            );
        }
        Ok(password)
    }
}

/// Names this node in job leases: host, process and a random suffix (a restarted process on
/// the same host must not look like the one that died).
fn node_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "node".to_string());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        vestnik_domain::site::random_token(4)
    )
}

pub async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let store = open(&config).await?;
    if demo {
        crate::demo::ensure_demo(store.as_ref()).await?;
    }
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}; choose another with --bind",
                config.bind
            )
        })?;
    let addr = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let mail = vestnik_engine::campaign::MailContext::load(store.clone(), &public_url).await?;
    let mut runner = JobRunner::new(
        store.clone(),
        node_name(),
        RunnerConfig {
            concurrency: config.job_concurrency,
            lease: config.job_lease,
            ..Default::default()
        },
    );
    runner.register(
        vestnik_engine::FEED_IMPORT_JOB,
        vestnik_engine::FeedImportJob {
            store: store.clone(),
            limits: vestnik_engine::DownloadLimits::default(),
        },
    );
    runner.register(
        vestnik_engine::campaign::CAMPAIGN_SEND_JOB,
        vestnik_engine::campaign::CampaignSendJob::new(
            mail.clone(),
            vestnik_engine::campaign::SendConfig {
                lease: config.job_lease,
                ..Default::default()
            },
        ),
    );
    let metrics = Arc::new(Metrics::new(Some(runner.stats())));
    let state = AppState::new(store.clone(), metrics, config.http.clone(), mail);
    let app = vestnik_http::router(state);
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    let runner_task = tokio::spawn(runner.run(shutdown.clone()));
    let where_ = match &config.database {
        vestnik_store::DatabaseUrl::Sqlite(path) => format!("SQLite file {}", path.display()),
        vestnik_store::DatabaseUrl::Postgres(_) => "PostgreSQL".to_string(),
    };
    eprintln!(
        "Vestnik {} listening on http://{addr} ({where_}); API docs at http://{addr}/docs",
        env!("CARGO_PKG_VERSION")
    );
    vestnik_http::serve(listener, app, shutdown.clone()).await?;
    runner_task.await.ok();
    eprintln!("Vestnik stopped");
    Ok(())
}

async fn wait_for_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing requests and jobs in flight");
    shutdown.cancel();
}
