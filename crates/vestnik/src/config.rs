//! Configuration: built-in defaults, then `vestnik.toml`, then `VESTNIK_*` environment
//! variables, then command-line flags — each later source wins.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vestnik_store::{DatabaseUrl, SqliteDurability};

/// The file's shape. Every key is optional; unknown keys are an error so typos are caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database_url: Option<String>,
    pub bind: Option<String>,
    /// `text` or `json`.
    pub log_format: Option<String>,
    /// `normal` (survives process crashes) or `full` (survives power loss too).
    pub sqlite_durability: Option<String>,
    pub body_limit_bytes: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub session_ttl_hours: Option<u64>,
    pub secure_cookies: Option<bool>,
    pub job_concurrency: Option<usize>,
    /// How long a claimed job (and a campaign's claimed recipients) stays with a node that
    /// stopped renewing it; after a crash, work resumes on another node after this.
    pub job_lease_secs: Option<u64>,
    /// The address recipients reach this server at (tracking, unsubscribe and web-view links),
    /// e.g. `https://mail.shop.ru`. Defaults to `http://<bind>`.
    pub public_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseUrl,
    pub bind: String,
    pub log_json: bool,
    pub sqlite_durability: SqliteDurability,
    pub http: vestnik_http::HttpConfig,
    pub job_concurrency: usize,
    pub job_lease: Duration,
    pub public_url: Option<String>,
}

/// Flags that override everything else.
#[derive(Debug, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub database: Option<String>,
    pub bind: Option<String>,
}

pub const DEFAULT_CONFIG_FILE: &str = "vestnik.toml";
const ENV_PREFIX: &str = "VESTNIK_";

impl Config {
    pub fn load(overrides: &Overrides) -> anyhow::Result<Config> {
        let env = |name: &str| {
            std::env::var(format!("{ENV_PREFIX}{name}"))
                .ok()
                .filter(|v| !v.is_empty())
        };
        let file_path = overrides
            .config_file
            .clone()
            .or_else(|| env("CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => FileConfig::default(),
        };
        Config::resolve(file, env, overrides)
    }

    /// Pure merge of the three sources, for tests.
    pub fn resolve(
        file: FileConfig,
        env: impl Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> anyhow::Result<Config> {
        let pick = |flag: &Option<String>, var: &str, file: Option<String>| {
            flag.clone().or_else(|| env(var)).or(file)
        };
        let database = pick(&overrides.database, "DATABASE_URL", file.database_url)
            .unwrap_or_else(|| "sqlite://vestnik.db".to_string());
        let database = DatabaseUrl::parse(&database).map_err(|e| anyhow::anyhow!("{e}"))?;
        let bind = pick(&overrides.bind, "BIND", file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".to_string());
        let log_json = match pick(&None, "LOG_FORMAT", file.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("log_format must be `text` or `json`, not `{other}`"),
        };
        let sqlite_durability =
            match pick(&None, "SQLITE_DURABILITY", file.sqlite_durability).as_deref() {
                None | Some("normal") => SqliteDurability::Normal,
                Some("full") => SqliteDurability::Full,
                Some(other) => bail!("sqlite_durability must be `normal` or `full`, not `{other}`"),
            };
        let number = |var: &str, file: Option<u64>| -> anyhow::Result<Option<u64>> {
            match env(var) {
                Some(v) => v.parse().map(Some).with_context(|| {
                    format!("{ENV_PREFIX}{var} must be a whole number, not `{v}`")
                }),
                None => Ok(file),
            }
        };
        let defaults = vestnik_http::HttpConfig::default();
        let http = vestnik_http::HttpConfig {
            body_limit: number("BODY_LIMIT_BYTES", file.body_limit_bytes.map(|v| v as u64))?
                .map(|v| v as usize)
                .unwrap_or(defaults.body_limit),
            request_timeout: number("REQUEST_TIMEOUT_SECS", file.request_timeout_secs)?
                .map(Duration::from_secs)
                .unwrap_or(defaults.request_timeout),
            session_ttl: number("SESSION_TTL_HOURS", file.session_ttl_hours)?
                .map(|h| Duration::from_secs(h * 3600))
                .unwrap_or(defaults.session_ttl),
            secure_cookies: match env("SECURE_COOKIES") {
                Some(v) => matches!(v.as_str(), "1" | "true" | "yes"),
                None => file.secure_cookies.unwrap_or(false),
            },
        };
        let job_concurrency = number("JOB_CONCURRENCY", file.job_concurrency.map(|v| v as u64))?
            .map(|v| v as usize)
            .unwrap_or(16);
        let job_lease = number("JOB_LEASE_SECS", file.job_lease_secs)?
            .map(|s| Duration::from_secs(s.max(1)))
            .unwrap_or(Duration::from_secs(60));
        let public_url = pick(&None, "PUBLIC_URL", file.public_url)
            .map(|u| u.trim().trim_end_matches('/').to_string());
        if let Some(url) = &public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            bail!("public_url must start with https:// or http://, not `{url}`");
        }
        Ok(Config {
            database,
            bind,
            log_json,
            sqlite_durability,
            http,
            job_concurrency,
            job_lease,
            public_url,
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_to_a_local_sqlite_file() {
        let c = Config::resolve(FileConfig::default(), env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.database, DatabaseUrl::Sqlite("vestnik.db".into()));
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert!(!c.log_json);
    }

    #[test]
    fn flags_beat_env_which_beats_the_file() {
        let file: FileConfig = toml::from_str(
            "database_url = \"sqlite:///from/file.db\"\nbind = \"0.0.0.0:1\"\nlog_format = \"json\"\nrequest_timeout_secs = 5",
        )
        .unwrap();
        let c = Config::resolve(
            file,
            env(&[
                ("DATABASE_URL", "postgres://env/db"),
                ("BIND", "127.0.0.1:2"),
            ]),
            &Overrides {
                bind: Some("127.0.0.1:3".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            c.database,
            DatabaseUrl::Postgres("postgres://env/db".into())
        );
        assert_eq!(c.bind, "127.0.0.1:3");
        assert!(c.log_json);
        assert_eq!(c.http.request_timeout, Duration::from_secs(5));
    }

    #[test]
    fn typos_and_bad_values_are_reported() {
        assert!(toml::from_str::<FileConfig>("databse_url = \"x\"").is_err());
        let err = Config::resolve(
            FileConfig::default(),
            env(&[("LOG_FORMAT", "xml")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("log_format"));
        let err = Config::resolve(
            FileConfig::default(),
            env(&[("JOB_CONCURRENCY", "many")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("VESTNIK_JOB_CONCURRENCY"));
    }
}
