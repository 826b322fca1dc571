//! The node's SMTP pools, one per provider, each with its adaptive throttle. Every campaign on
//! a provider shares them, so the provider's rate cap holds for the node as a whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vestnik_domain::campaign::{
    DkimAlgorithm, NewProvider, ProviderId, SenderDomain, SmtpProvider, SmtpTls,
};
use vestnik_mail::{AdaptiveRate, DkimKey, MailError, ProviderSettings, SmtpPool, TlsMode};

use super::CampaignError;

/// A provider's connection pool and the throttle in front of it.
pub struct ProviderHandle {
    pub pool: SmtpPool,
    pub rate: Arc<AdaptiveRate>,
    pub pool_size: usize,
}

#[derive(Default)]
pub struct Mailers {
    providers: Mutex<HashMap<ProviderId, Arc<ProviderHandle>>>,
}

/// The mail crate's settings for a stored provider.
pub fn provider_settings(p: &SmtpProvider) -> ProviderSettings {
    ProviderSettings {
        host: p.host.clone(),
        port: p.port,
        tls: mail_tls(p.tls),
        username: p.username.clone(),
        password: p.password.clone(),
        pool_size: p.pool_size,
        rate_per_sec: p.rate_per_sec,
        timeout: ProviderSettings::DEFAULT_TIMEOUT,
    }
}

impl Mailers {
    /// The pool of `provider`, opened on first use. Providers cannot be edited (only added and
    /// removed), so a pool never serves stale settings.
    pub fn get(&self, provider: &SmtpProvider) -> Result<Arc<ProviderHandle>, MailError> {
        let mut providers = self
            .providers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(handle) = providers.get(&provider.id) {
            return Ok(handle.clone());
        }
        let settings = provider_settings(provider);
        let handle = Arc::new(ProviderHandle {
            pool: SmtpPool::new(&settings)?,
            rate: Arc::new(AdaptiveRate::new(provider.rate_per_sec)),
            pool_size: provider.pool_size.max(1) as usize,
        });
        providers.insert(provider.id, handle.clone());
        Ok(handle)
    }
}

fn mail_tls(tls: SmtpTls) -> TlsMode {
    match tls {
        SmtpTls::Starttls => TlsMode::StartTls,
        SmtpTls::Tls => TlsMode::Tls,
        SmtpTls::None => TlsMode::None,
    }
}

/// Connects to a provider and logs in, so a wrong host or password is an error when the
/// provider is saved or a campaign created, not halfway through a mailing.
pub async fn verify_provider(p: &NewProvider) -> Result<(), CampaignError> {
    let settings = ProviderSettings {
        host: p.host.trim().to_string(),
        port: p.port,
        tls: mail_tls(p.tls),
        username: p.username.clone(),
        password: p.password.clone(),
        pool_size: 1,
        rate_per_sec: p.rate_per_sec,
        timeout: VERIFY_TIMEOUT,
    };
    let provider_error =
        |e: MailError| CampaignError::Provider(format!("provider {:?}: {e}", p.name));
    SmtpPool::new(&settings)
        .map_err(provider_error)?
        .verify()
        .await
        .map_err(provider_error)
}

/// A login check should not keep an admin request waiting for the full SMTP timeout.
const VERIFY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

fn mail_algorithm(a: DkimAlgorithm) -> vestnik_mail::DkimAlgorithm {
    match a {
        DkimAlgorithm::Rsa2048 => vestnik_mail::DkimAlgorithm::Rsa2048,
        DkimAlgorithm::Ed25519 => vestnik_mail::DkimAlgorithm::Ed25519,
    }
}

/// A new DKIM private key for a sender domain, in the form the store keeps.
pub fn generate_dkim_key(
    algorithm: DkimAlgorithm,
    domain: &str,
    selector: &str,
) -> Result<String, MailError> {
    Ok(DkimKey::generate(mail_algorithm(algorithm), domain, selector)?.private_key_for_storage())
}

/// The signing key of a stored sender domain.
pub fn dkim_key(d: &SenderDomain) -> Result<DkimKey, MailError> {
    DkimKey::from_stored(
        mail_algorithm(d.algorithm),
        &d.domain,
        &d.selector,
        &d.private_key,
    )
}
