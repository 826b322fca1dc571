//! Sites (tenants) and their API keys.
//!
//! A key looks like the seed's: `<site_id>:<secret>` (`4f8425fc77796b0266000009:TKW0i5FP5vkIrgMlnpoZbfOEagA`).
//! Only its SHA-256 is stored. A slow password hash is not needed: the secret has 160 random
//! bits, so the fast hash cannot be brute-forced, and a fast hash keeps every API call cheap.

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::ids::{ApiKeyId, SiteId};
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub created_at: Timestamp,
}

/// Site names are what an operator recognises in lists; they need not be unique.
pub fn validate_site_name(name: &str) -> Result<String, crate::ValidationError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(crate::ValidationError::new(
            "name",
            "site name must not be empty",
        ));
    }
    if name.chars().count() > 200 {
        return Err(crate::ValidationError::new(
            "name",
            "site name must be at most 200 characters",
        ));
    }
    Ok(name.to_string())
}

/// Fills `buf` from the operating system's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) {
    // The OS RNG failing means the machine cannot make secrets at all; nothing sensible remains.
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// Random bytes as unpadded base64url: for secrets and tokens.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    fill_random(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A key as the user sends it. Never stored, never logged (its `Debug` hides the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct PlainApiKey(String);

impl PlainApiKey {
    pub fn generate(site: &SiteId) -> Self {
        PlainApiKey(format!("{}:{}", site, random_token(20)))
    }

    pub fn from_header(value: &str) -> Self {
        PlainApiKey(value.trim().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps and looks keys up by.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The last characters, shown in key listings so an owner can tell keys apart.
    pub fn hint(&self) -> String {
        let n = self.0.len();
        self.0[n.saturating_sub(4)..].to_string()
    }
}

impl fmt::Debug for PlainApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainApiKey(…{})", self.hint())
    }
}

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub site_id: SiteId,
    /// Free text so owners remember which integration holds the key.
    pub label: String,
    pub hint: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A key just created: the only moment its plain form exists.
#[derive(Debug, Clone)]
pub struct IssuedApiKey {
    pub record: ApiKeyRecord,
    pub plain: PlainApiKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_site_and_hash_deterministically() {
        let site = SiteId::generate();
        let key = PlainApiKey::generate(&site);
        let (prefix, secret) = key.as_str().split_once(':').expect("key has a colon");
        assert_eq!(prefix, site.as_str());
        assert_eq!(secret.len(), 27);
        assert_eq!(key.hash(), PlainApiKey::from_header(key.as_str()).hash());
        assert_ne!(key.hash(), PlainApiKey::generate(&site).hash());
        assert!(!format!("{key:?}").contains(secret));
    }
}
