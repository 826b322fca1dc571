//! `vestnik provider …` and `vestnik campaign …`: SMTP providers and mass mailings from a
//! shell, for scripting. They write to the same database as the server; the server's job
//! runner sends the campaigns.

use anyhow::Context;
use clap::Subcommand;
use std::path::PathBuf;
use vestnik_domain::campaign::{CampaignId, NewProvider, SmtpTls};
use vestnik_domain::template::{TemplateContent, TemplateKind};
use vestnik_domain::{SiteId, Store};
use vestnik_engine::campaign::{
    CampaignRequest, MailContext, ProviderRef, RecipientsRequest, campaign_report, create_campaign,
};

use crate::commands::{open, site_id, store_err};
use crate::config::Config;

#[derive(Subcommand)]
pub enum ProviderCommand {
    /// Add an SMTP provider after logging in to it. Prints the provider as JSON.
    Add {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        #[arg(long)]
        name: String,
        /// smtp://user:password@host:port (percent-encode @ and : in the password).
        #[arg(long)]
        url: String,
        /// starttls (default for smtp://), tls (default for smtps://) or none.
        #[arg(long)]
        tls: Option<String>,
        /// Messages per second across every campaign on this provider.
        #[arg(long)]
        rate: Option<f64>,
        /// SMTP connections kept open (default 8).
        #[arg(long)]
        pool_size: Option<u32>,
        /// Save without logging in first.
        #[arg(long)]
        no_verify: bool,
    },
    /// The site's providers as JSON (passwords never shown).
    List {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process; boxing would only obscure clap's derive
pub enum CampaignCommand {
    /// Create a campaign and schedule it (now unless --at). The template file is saved as the
    /// site's template "cli: <file name>" (a new version when it changed). Prints
    /// {"campaign_id": N, "reachable": N, "warnings": [...]}. A running `vestnik serve` on the
    /// same database sends it.
    Create {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        #[arg(long, value_name = "FILE")]
        template: PathBuf,
        #[arg(long)]
        subject: String,
        #[arg(long, value_name = "EMAIL")]
        from_email: String,
        #[arg(long, value_name = "NAME", default_value = "")]
        from_name: String,
        /// A single address (a test send).
        #[arg(long, value_name = "EMAIL", conflicts_with_all = ["list", "all"])]
        to: Option<String>,
        /// A list by name.
        #[arg(long, value_name = "NAME", conflicts_with = "all")]
        list: Option<String>,
        /// Every contact of the site.
        #[arg(long)]
        all: bool,
        /// When to start, RFC 3339 (e.g. 2026-12-01T10:00:00+03:00); now by default.
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// Recipients per segment (default 1000).
        #[arg(long)]
        segment_size: Option<u32>,
        /// Minutes between segments (default 0: all at once).
        #[arg(long)]
        interval_min: Option<u32>,
        /// Provider name (default: the site's only one).
        #[arg(long)]
        provider: Option<String>,
        /// Campaign name (default: the subject).
        #[arg(long)]
        name: Option<String>,
        /// Mark clicks so the site's banner stays hidden for the visitor.
        #[arg(long)]
        disable_banner: bool,
    },
    /// A campaign's state and counts as JSON.
    Status {
        /// The campaign id.
        id: i64,
        /// The campaign's site (looked up when omitted).
        #[arg(long, value_name = "SITE_ID")]
        site: Option<String>,
    },
}

async fn mail_context(
    config: &Config,
    store: std::sync::Arc<dyn Store>,
) -> anyhow::Result<MailContext> {
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.bind));
    MailContext::load(store, &public_url)
        .await
        .map_err(store_err)
}

pub async fn provider(config: Config, cmd: ProviderCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        ProviderCommand::Add {
            site,
            name,
            url,
            tls,
            rate,
            pool_size,
            no_verify,
        } => {
            let site = site_id(&site)?;
            store.get_site(&site).await.map_err(store_err)?;
            let tls = match tls.as_deref() {
                None => None,
                Some("starttls") => Some(vestnik_mail::TlsMode::StartTls),
                Some("tls") => Some(vestnik_mail::TlsMode::Tls),
                Some("none") => Some(vestnik_mail::TlsMode::None),
                Some(other) => anyhow::bail!("--tls {other}: expected starttls, tls or none"),
            };
            let settings = vestnik_mail::ProviderSettings::from_url(&url, tls, rate)
                .map_err(|e| anyhow::anyhow!("--url: {e}"))?;
            let new = NewProvider {
                name,
                host: settings.host,
                port: settings.port,
                tls: match settings.tls {
                    vestnik_mail::TlsMode::StartTls => SmtpTls::Starttls,
                    vestnik_mail::TlsMode::Tls => SmtpTls::Tls,
                    vestnik_mail::TlsMode::None => SmtpTls::None,
                },
                username: settings.username,
                password: settings.password,
                rate_per_sec: rate,
                pool_size: pool_size.unwrap_or(settings.pool_size),
            };
            new.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
            if !no_verify {
                vestnik_engine::campaign::verify_provider(&new)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            let provider = store
                .create_provider(&site, &new)
                .await
                .map_err(store_err)?;
            println!("{}", serde_json::to_string(&provider)?);
        }
        ProviderCommand::List { site } => {
            let site = site_id(&site)?;
            let providers = store.providers(&site).await.map_err(store_err)?;
            println!("{}", serde_json::to_string(&providers)?);
        }
    }
    Ok(())
}

pub async fn campaign(config: Config, cmd: CampaignCommand) -> anyhow::Result<()> {
    let store = open(&config).await?;
    match cmd {
        CampaignCommand::Create {
            site,
            template,
            subject,
            from_email,
            from_name,
            to,
            list,
            all,
            at,
            segment_size,
            interval_min,
            provider,
            name,
            disable_banner,
        } => {
            let site = site_id(&site)?;
            store.get_site(&site).await.map_err(store_err)?;
            let template_id = save_template_file(&store, &site, &template, &subject).await?;
            let ctx = mail_context(&config, store.clone()).await?;
            let request = CampaignRequest {
                name,
                template_id,
                subject: Some(subject),
                from_email,
                from_name,
                recipients: RecipientsRequest {
                    to,
                    list: list.map(serde_json::Value::String),
                    segment_id: None,
                    all,
                },
                send_at: at,
                segment_size,
                interval_minutes: interval_min,
                provider: provider.map(ProviderRef::Name),
                disable_banner,
                utm: None,
                draft: false,
            };
            let created = create_campaign(&ctx, &site, request)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for warning in &created.warnings {
                eprintln!("warning: {warning}");
            }
            println!(
                "{}",
                serde_json::json!({
                    "campaign_id": created.campaign.id,
                    "reachable": created.reachable,
                    "warnings": created.warnings,
                })
            );
        }
        CampaignCommand::Status { id, site } => {
            let id = CampaignId(id);
            let site = match site {
                Some(s) => site_id(&s)?,
                None => find_campaign_site(&store, id).await?,
            };
            let ctx = mail_context(&config, store.clone()).await?;
            let report = campaign_report(&ctx, &site, id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let d = &report.deliveries;
            let e = &report.engagement;
            println!(
                "{}",
                serde_json::json!({
                    "campaign_id": id,
                    "state": report.campaign.state,
                    "reason": report.campaign.state_reason,
                    "recipients": report.recipients,
                    "pending": d.pending + d.sending,
                    "sent": d.sent,
                    "deferred": d.deferred,
                    "failed": d.failed,
                    "bounced": d.bounced,
                    "skipped": d.skipped,
                    "possibly_duplicated": d.possibly_duplicated,
                    "excluded": report.campaign.excluded,
                    "opened": e.opened,
                    "clicked": e.clicked,
                    "unsubscribed": e.unsubscribed,
                    "rates": report.rates,
                })
            );
        }
    }
    Ok(())
}

async fn find_campaign_site(
    store: &std::sync::Arc<dyn Store>,
    id: CampaignId,
) -> anyhow::Result<SiteId> {
    for site in store.list_sites().await.map_err(store_err)? {
        if store.get_campaign(&site.id, id).await.is_ok() {
            return Ok(site.id);
        }
    }
    anyhow::bail!("there is no campaign {id}")
}

/// Saves the file as the template "cli: <file name>", as a new version only when it changed.
async fn save_template_file(
    store: &std::sync::Arc<dyn Store>,
    site: &SiteId,
    path: &std::path::Path,
    subject: &str,
) -> anyhow::Result<i64> {
    let body = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the template {}", path.display()))?;
    let content = TemplateContent {
        subject: subject.to_string(),
        kind: TemplateKind::detect(&body),
        body,
    };
    content.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "template".into());
    let name = format!("cli: {file_name}");
    let existing = store
        .list_templates(site)
        .await
        .map_err(store_err)?
        .into_iter()
        .find(|t| t.name == name);
    let template = match existing {
        Some(t) if t.content == content => t,
        Some(t) => store
            .save_template_version(site, t.id, &content, "cli")
            .await
            .map_err(store_err)?,
        None => store
            .create_template(site, &name, &content, "cli")
            .await
            .map_err(store_err)?,
    };
    Ok(template.id.0)
}
