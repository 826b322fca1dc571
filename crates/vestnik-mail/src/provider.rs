//! Provider settings: where and how to connect to an SMTP relay, parsed from the one-line URL an
//! admin pastes (`smtp://user:pass@host:port`) plus the few knobs a URL cannot say well.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;

use crate::MailError;

/// How the connection to the provider is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain connect, then `STARTTLS` is required (port 587). The usual submission setup.
    StartTls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption at all. Only for a relay on localhost or a trusted private network.
    None,
}

impl TlsMode {
    /// The name used in settings files and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::StartTls => "starttls",
            TlsMode::Tls => "tls",
            TlsMode::None => "none",
        }
    }

    /// The port a provider normally listens on in this mode.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::StartTls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TlsMode {
    type Err = MailError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "starttls" => Ok(TlsMode::StartTls),
            "tls" | "ssl" | "smtps" => Ok(TlsMode::Tls),
            "none" | "plain" => Ok(TlsMode::None),
            other => Err(MailError::InvalidSetting {
                reason: format!(
                    "unknown TLS mode {other:?}; use \"starttls\" (port 587), \"tls\" (port 465) or \"none\""
                ),
            }),
        }
    }
}

/// Everything needed to open connections to one provider.
#[derive(Clone, PartialEq)]
pub struct ProviderSettings {
    /// Host name (also the name the TLS certificate must carry) or IP address.
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Absent for relays that accept mail without a login (localhost, IP-allowlisted relays).
    pub username: Option<String>,
    /// Never printed by `Debug`.
    pub password: Option<String>,
    /// Most connections open at once. Providers cap parallel connections (often 5–20); one
    /// connection alone is slow (see [`SmtpPool`](crate::SmtpPool)), so this is the main lever on
    /// throughput.
    pub pool_size: u32,
    /// The provider's contractual cap in messages per second, `None` when there is none. The
    /// adaptive throttle never exceeds it.
    pub rate_per_sec: Option<f64>,
    /// Bound on connecting; a whole send (connect, login, transaction) gets twice this, so a
    /// silent server cannot hang a send.
    pub timeout: Duration,
}

impl ProviderSettings {
    /// Default number of pooled connections.
    pub const DEFAULT_POOL_SIZE: u32 = 8;
    /// Default connect/command timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Parses `smtp://user:pass@host:port` (STARTTLS unless `tls` says otherwise) or
    /// `smtps://user:pass@host:port` (implicit TLS). User and password are percent-decoded, so a
    /// password containing `@` or `:` is written `%40` / `%3A`. Without a port, the usual one
    /// for the TLS mode is used (587, 465, 25).
    pub fn from_url(url: &str, tls: Option<TlsMode>, rate: Option<f64>) -> Result<Self, MailError> {
        let bad = |reason: String| MailError::InvalidProviderUrl { reason };
        if !url.contains("://") {
            return Err(bad(
                "it has no scheme; expected smtp://user:password@host:port or smtps://user:password@host:port"
                    .to_owned(),
            ));
        }
        let parsed = url::Url::parse(url.trim()).map_err(|e| {
            bad(format!(
                "{e}; expected smtp://user:password@host:port or smtps://user:password@host:port \
                 (write @ and : inside the user or password as %40 and %3A)"
            ))
        })?;
        let tls = match (parsed.scheme(), tls) {
            ("smtps", None | Some(TlsMode::Tls)) => TlsMode::Tls,
            ("smtps", Some(other)) => {
                return Err(bad(format!(
                    "smtps:// means TLS from the first byte, but the TLS mode says {other}; \
                     use smtp:// with that mode, or drop the mode"
                )));
            }
            ("smtp", mode) => mode.unwrap_or(TlsMode::StartTls),
            (scheme, _) => {
                return Err(bad(format!(
                    "unsupported scheme {scheme:?}; use smtp:// (STARTTLS or plain) or smtps:// (implicit TLS)"
                )));
            }
        };
        let host = match parsed.host_str() {
            // IPv6 literals come back bracketed; connecting and TLS want the bare address.
            Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
            _ => {
                return Err(bad(
                    "the host is missing; expected smtp://user:password@host:port".to_owned(),
                ));
            }
        };
        if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() {
            return Err(bad(
                "unexpected path or query after the host; put only user, password, host and port in the URL"
                    .to_owned(),
            ));
        }
        let decode = |raw: &str, what: &str| {
            percent_decode_str(raw)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| {
                    bad(format!(
                        "the {what} is not valid UTF-8 once percent-decoded"
                    ))
                })
        };
        let username = match parsed.username() {
            "" => None,
            raw => Some(decode(raw, "user name")?),
        };
        let password = match parsed.password() {
            None => None,
            Some(raw) => Some(decode(raw, "password")?),
        };
        if password.is_some() && username.is_none() {
            return Err(bad("a password was given without a user name".to_owned()));
        }
        let settings = ProviderSettings {
            host,
            port: parsed.port().unwrap_or(tls.default_port()),
            tls,
            username,
            password,
            pool_size: Self::DEFAULT_POOL_SIZE,
            rate_per_sec: None,
            timeout: Self::DEFAULT_TIMEOUT,
        };
        settings.with_rate(rate)
    }

    /// Sets the provider's cap in messages per second (`None` = no cap).
    pub fn with_rate(mut self, rate: Option<f64>) -> Result<Self, MailError> {
        if let Some(r) = rate
            && !(r.is_finite() && r > 0.0)
        {
            return Err(MailError::InvalidSetting {
                reason: format!(
                    "the rate limit must be a positive number of messages per second, not {r}"
                ),
            });
        }
        self.rate_per_sec = rate;
        Ok(self)
    }

    /// Sets how many connections may be open at once (at least 1).
    pub fn with_pool_size(mut self, pool_size: u32) -> Result<Self, MailError> {
        if pool_size == 0 {
            return Err(MailError::InvalidSetting {
                reason: "the pool size must be at least 1 connection".to_owned(),
            });
        }
        self.pool_size = pool_size;
        Ok(self)
    }

    /// Sets the connect timeout (a whole send may take twice this).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `host:port`, as it appears in error messages and logs.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("pool_size", &self.pool_size)
            .field("rate_per_sec", &self.rate_per_sec)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_url_defaults_to_starttls_on_587_and_decodes_credentials() {
        let s = ProviderSettings::from_url(
            "smtp://news%40shop.example:p%40ss%3Aw@mail.example",
            None,
            None,
        )
        .unwrap();
        assert_eq!(s.host, "mail.example");
        assert_eq!(s.port, 587);
        assert_eq!(s.tls, TlsMode::StartTls);
        assert_eq!(s.username.as_deref(), Some("news@shop.example"));
        assert_eq!(s.password.as_deref(), Some("p@ss:w"));
        assert_eq!(s.pool_size, 8);
        assert_eq!(s.rate_per_sec, None);
    }

    #[test]
    fn smtps_url_means_implicit_tls_on_465() {
        let s = ProviderSettings::from_url("smtps://u:p@mail.example", None, Some(50.0)).unwrap();
        assert_eq!(
            (s.tls, s.port, s.rate_per_sec),
            (TlsMode::Tls, 465, Some(50.0))
        );
        let err = ProviderSettings::from_url("smtps://u:p@mail.example", Some(TlsMode::None), None)
            .unwrap_err();
        assert!(err.to_string().contains("smtps://"), "{err}");
    }

    #[test]
    fn explicit_tls_mode_and_port_win_over_defaults() {
        let s =
            ProviderSettings::from_url("smtp://127.0.0.1:2525", Some(TlsMode::None), None).unwrap();
        assert_eq!((s.tls, s.port, s.username), (TlsMode::None, 2525, None));
        let s =
            ProviderSettings::from_url("smtp://relay.local", Some(TlsMode::None), None).unwrap();
        assert_eq!(s.port, 25);
        let s = ProviderSettings::from_url("smtp://[::1]:2525", Some(TlsMode::None), None).unwrap();
        assert_eq!(
            (s.host.as_str(), s.server()),
            ("::1", "[::1]:2525".to_owned())
        );
    }

    #[test]
    fn bad_urls_say_what_to_write_and_never_echo_the_password() {
        for (url, expect) in [
            ("mail.example:587", "expected smtp://"),
            ("http://u:secret@mail.example", "unsupported scheme"),
            ("smtp://u:secret@mail.example/inbox", "unexpected path"),
            ("smtp://u:secret@:25", "host"),
        ] {
            let err = ProviderSettings::from_url(url, None, None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{url}: {err}");
            assert!(!err.contains("secret"), "{url}: {err}");
        }
        let err = ProviderSettings::from_url("smtp://h", None, Some(-1.0)).unwrap_err();
        assert!(err.to_string().contains("positive"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let s = ProviderSettings::from_url("smtp://user:hunter2@mail.example", None, None).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("user"), "{shown}");
    }

    #[test]
    fn tls_mode_parses_and_prints() {
        for mode in [TlsMode::StartTls, TlsMode::Tls, TlsMode::None] {
            assert_eq!(mode.as_str().parse::<TlsMode>().unwrap(), mode);
        }
        assert!(
            "ssl3"
                .parse::<TlsMode>()
                .unwrap_err()
                .to_string()
                .contains("starttls")
        );
    }
}
