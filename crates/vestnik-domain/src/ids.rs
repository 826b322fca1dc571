//! Identifiers. Sites use the seed's 24-hex-digit shape (`4f8425fc77796b0266000009`) because
//! existing shop integrations send it in the `leadhit-site-id` header; rows that live inside a
//! site use 64-bit integers, which keep large tables (deliveries, events) lean.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::time::Timestamp;

/// The tenant a request acts for. 4 bytes of creation time + 8 random bytes, hex-encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SiteId(String);

impl SiteId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 12];
        let secs = (Timestamp::now().millis() / 1000) as u32;
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        crate::site::fill_random(&mut bytes[4..]);
        SiteId(hex::encode(bytes))
    }

    /// Accepts exactly 24 hex digits (any case; stored lower-case).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        (s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| SiteId(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For backends reading a value they wrote themselves.
    pub fn from_trusted(s: String) -> Self {
        SiteId(s)
    }
}

impl fmt::Display for SiteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! int_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

int_id!(
    /// A contact inside one site.
    ContactId
);
int_id!(
    /// A list inside one site.
    ListId
);
int_id!(
    /// An admin user of the installation.
    UserId
);
int_id!(
    /// A background job.
    JobId
);
int_id!(
    /// An API key; shown in key listings so a key can be revoked without knowing its secret.
    ApiKeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_ids_have_the_seed_shape() {
        let id = SiteId::generate();
        assert_eq!(id.as_str().len(), 24);
        assert_eq!(SiteId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(
            SiteId::parse("4F8425FC77796B0266000009").map(|s| s.to_string()),
            Some("4f8425fc77796b0266000009".to_string())
        );
        assert_eq!(SiteId::parse("not-a-site"), None);
        assert_ne!(SiteId::generate(), SiteId::generate());
    }
}
