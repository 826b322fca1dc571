//! The sending side of a site's mail settings: SMTP providers ("Провайдер" in the mailing
//! form) and the sender domains whose DKIM keys sign campaign mail.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::{ProviderId, SenderDomainId, validate_name};
use crate::contact::ValidationError;
use crate::ids::SiteId;
use crate::time::Timestamp;

/// How a provider's connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test server.
    None,
}

impl SmtpTls {
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "starttls" => Some(SmtpTls::Starttls),
            "tls" => Some(SmtpTls::Tls),
            "none" => Some(SmtpTls::None),
            _ => None,
        }
    }
}

/// An SMTP account of a site ("Провайдер" in the mailing form).
#[derive(Clone, Serialize)]
pub struct SmtpProvider {
    pub id: ProviderId,
    #[serde(skip)]
    pub site_id: SiteId,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// Never serialised: the admin API shows only whether one is set.
    #[serde(skip)]
    pub password: Option<String>,
    /// Messages per second across every campaign on this provider; `None` = no cap.
    pub rate_per_sec: Option<f64>,
    /// SMTP connections kept open; sending runs with at least this much concurrency.
    pub pool_size: u32,
    pub created_at: Timestamp,
}

impl fmt::Debug for SmtpProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpProvider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

/// What a new provider needs; validated by [`NewProvider::validate`].
#[derive(Clone, Deserialize)]
pub struct NewProvider {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
}

fn default_pool_size() -> u32 {
    8
}

impl fmt::Debug for NewProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewProvider")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl NewProvider {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_name("name", &self.name)?;
        if self.host.trim().is_empty() || self.host.contains(char::is_whitespace) {
            return Err(ValidationError::new(
                "host",
                "give the SMTP server's host name, e.g. smtp.example.com",
            ));
        }
        if self.port == 0 {
            return Err(ValidationError::new("port", "the port must be 1–65535"));
        }
        if let Some(rate) = self.rate_per_sec
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(ValidationError::new(
                "rate",
                "the rate cap is messages per second and must be above 0 (leave it out for no cap)",
            ));
        }
        if !(1..=256).contains(&self.pool_size) {
            return Err(ValidationError::new(
                "pool_size",
                "the connection pool size must be 1–256",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ValidationError::new(
                "username",
                "a password was given without a user name",
            ));
        }
        Ok(())
    }
}

/// The signing algorithm of a sender domain's DKIM key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    Rsa2048,
    Ed25519,
}

impl DkimAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa2048 => "rsa2048",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rsa2048" | "rsa" => Some(DkimAlgorithm::Rsa2048),
            "ed25519" => Some(DkimAlgorithm::Ed25519),
            _ => None,
        }
    }
}

/// A domain the site sends from, with the key that signs its mail.
#[derive(Clone, Serialize)]
pub struct SenderDomain {
    pub id: SenderDomainId,
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// Stored so every node can sign; never serialised.
    #[serde(skip)]
    pub private_key: String,
    pub created_at: Timestamp,
}

impl fmt::Debug for SenderDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderDomain")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Lower-cases and checks a domain name (letters, digits, hyphens, dots; at least one dot).
pub fn parse_domain(raw: &str) -> Result<String, ValidationError> {
    let d = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(d)
    } else {
        Err(ValidationError::new(
            "domain",
            format!("{raw:?} is not a domain name; give one like shop.example.com"),
        ))
    }
}

/// A DKIM selector: one DNS label.
pub fn parse_selector(raw: &str) -> Result<String, ValidationError> {
    let s = raw.trim().to_ascii_lowercase();
    if !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(s)
    } else {
        Err(ValidationError::new(
            "selector",
            "the selector is one DNS label of letters, digits and hyphens, e.g. vestnik1",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_selectors_are_checked() {
        assert_eq!(
            parse_domain("Shop.Example.COM.").unwrap(),
            "shop.example.com"
        );
        assert!(parse_domain("localhost").is_err());
        assert!(parse_domain("bad_domain.com").is_err());
        assert!(parse_domain("-x.com").is_err());
        assert_eq!(parse_selector("Vestnik1").unwrap(), "vestnik1");
        assert!(parse_selector("a.b").is_err());
    }

    #[test]
    fn provider_rate_must_be_positive() {
        let mut p = NewProvider {
            name: "main".into(),
            host: "smtp.example.com".into(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            rate_per_sec: Some(0.0),
            pool_size: 8,
        };
        assert_eq!(p.validate().unwrap_err().field, "rate");
        p.rate_per_sec = Some(50.0);
        assert!(p.validate().is_ok());
        p.password = Some("x".into());
        assert_eq!(p.validate().unwrap_err().field, "username");
    }
}
