//! `vestnik`: the one binary. `serve` runs a node (HTTP API + job runner); the other commands
//! administer the same database from a shell, safely beside a running server.
//!
//! Machine-readable results go to stdout as JSON; logs and messages for people go to stderr.

mod commands;
mod config;
mod demo;
mod mailing;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "vestnik",
    version,
    about = "Self-hosted marketing automation for online stores"
)]
struct Cli {
    /// Config file (default: ./vestnik.toml when present; env VESTNIK_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Database: sqlite://PATH, a file path, or postgres://… (env VESTNIK_DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run background jobs.
    Serve {
        /// Address to listen on (env VESTNIK_BIND; default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// Create a demo site with sample contacts, an API key and an admin login, if there is none.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Sites (tenants: one per store).
    #[command(subcommand)]
    Site(SiteCommand),
    /// A site's API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Admin users of the personal account.
    #[command(subcommand)]
    User(UserCommand),
    /// Background jobs in the shared queue.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The product catalog from the shop's YML feed.
    #[command(subcommand)]
    Feed(FeedCommand),
    /// Promo code pools for get_promocode().
    #[command(subcommand)]
    Promocodes(PromocodesCommand),
    /// Email templates.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// SMTP providers that campaigns send through.
    #[command(subcommand)]
    Provider(mailing::ProviderCommand),
    /// Mass mailings.
    #[command(subcommand)]
    Campaign(mailing::CampaignCommand),
}

#[derive(Subcommand)]
pub enum TemplateCommand {
    /// Render a template file (HTML or MJML with Jinja) for a contact, or for a sample one
    /// without --contact, and print the HTML. Promo codes are shown, not handed out. A
    /// template error goes to stderr with its line and column, and the exit code is 2.
    Render {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        /// The contact's email.
        #[arg(long, value_name = "EMAIL")]
        contact: Option<String>,
        /// The subject template (printed to stderr).
        #[arg(long, default_value = "")]
        subject: String,
        /// html or mjml; by default MJML when the file starts with <mjml.
        #[arg(long)]
        kind: Option<String>,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum PromocodesCommand {
    /// Import codes from a file with one code per line into a pool (created on first use).
    /// Prints {"pool", "added", "duplicates", "skipped_lines": [{"line", "reason"}]}.
    Import {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        /// Pool name; templates pick it with get_promocode(pool='NAME').
        #[arg(long, default_value = vestnik_domain::promo::DEFAULT_POOL)]
        pool: String,
        file: PathBuf,
    },
    /// Pools with their size and how many codes were handed out, as JSON.
    List {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
    },
}

#[derive(Subcommand)]
pub enum FeedCommand {
    /// Import a YML feed (a file, or an http(s) URL) into a site's catalog. Prints
    /// {"offers", "categories", "skipped", "errors": [{"offer_id", "line", "reason"}]}; a
    /// progress bar goes to stderr on a terminal. On failure the catalog is left as it was.
    Import {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        #[arg(value_name = "PATH_OR_URL")]
        source: String,
    },
}

#[derive(Subcommand)]
pub enum JobsCommand {
    /// Jobs newest first, as JSON; `--state dead` shows what gave up and why.
    List {
        /// pending, running, done or dead.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// How many jobs are in each state.
    Counts,
}

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Create a site; prints {"site_id": …, "api_key": …}.
    Create { name: String },
    /// List sites as JSON.
    List,
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints it once.
    Create {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        /// What the key is for, e.g. "shop backend".
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List a site's keys (without secrets).
    List {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
    },
    /// Revoke a key by its id (see `key list`).
    Revoke {
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        key_id: i64,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create an admin user with a role on a site. The password is read from stdin when it
    /// is not a terminal, otherwise prompted for.
    Create {
        email: String,
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        /// owner, editor or viewer.
        #[arg(long)]
        role: String,
    },
    /// Give an existing user a role on a site (or change it).
    Grant {
        email: String,
        #[arg(long, value_name = "SITE_ID")]
        site: String,
        #[arg(long)]
        role: String,
    },
}

/// mimalloc instead of glibc's malloc: ingestion allocates many small, short-lived values
/// (JSON params, states) across threads, where glibc's arenas spent ~15 % of the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<commands::TemplateFailed>() => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut overrides = config::Overrides {
        config_file: cli.config,
        database: cli.database,
        bind: None,
    };
    if let Command::Serve { bind, .. } = &cli.command {
        overrides.bind = bind.clone();
    }
    let config = config::Config::load(&overrides)?;
    commands::init_logging(
        config.log_json,
        matches!(cli.command, Command::Serve { .. }),
    );
    match cli.command {
        Command::Serve { demo, .. } => commands::serve(config, demo).await,
        Command::Migrate => commands::migrate(config).await,
        Command::Site(cmd) => commands::site(config, cmd).await,
        Command::Key(cmd) => commands::key(config, cmd).await,
        Command::User(cmd) => commands::user(config, cmd).await,
        Command::Jobs(cmd) => commands::jobs(config, cmd).await,
        Command::Feed(cmd) => commands::feed(config, cmd).await,
        Command::Promocodes(cmd) => commands::promocodes(config, cmd).await,
        Command::Template(cmd) => commands::template(config, cmd).await,
        Command::Provider(cmd) => mailing::provider(config, cmd).await,
        Command::Campaign(cmd) => mailing::campaign(config, cmd).await,
    }
}
