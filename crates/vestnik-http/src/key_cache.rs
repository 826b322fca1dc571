//! A short-lived in-process cache of API key lookups. Every public API call authenticates;
//! without the cache each one costs a database read before any work starts.
//!
//! Entries live `ttl` (10 s by default). A key revoked through this node's admin API is
//! evicted at once; one revoked on another node or with the CLI stops working within `ttl`.
//! Unknown keys are not cached, so a key created anywhere works immediately.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vestnik_domain::ApiKeyRecord;

pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (ApiKeyRecord, Instant)>>,
}

/// Beyond this many keys the cache starts over rather than growing without bound.
const MAX_ENTRIES: usize = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        KeyCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, hash: &str) -> Option<ApiKeyRecord> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(hash)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(record, _)| record.clone())
    }

    pub fn put(&self, hash: String, record: ApiKeyRecord) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(hash, (record, Instant::now()));
    }

    /// Drops every cached lookup of this key (by its id), e.g. after a revocation.
    pub fn evict(&self, key: vestnik_domain::ApiKeyId) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|_, (record, _)| record.id != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vestnik_domain::{ApiKeyId, SiteId, Timestamp};

    fn record(id: i64) -> ApiKeyRecord {
        ApiKeyRecord {
            id: ApiKeyId(id),
            site_id: SiteId::generate(),
            label: String::new(),
            hint: String::new(),
            created_at: Timestamp::now(),
            revoked_at: None,
        }
    }

    #[test]
    fn entries_expire_and_can_be_evicted() {
        let cache = KeyCache::new(Duration::from_millis(50));
        cache.put("h1".into(), record(1));
        cache.put("h2".into(), record(2));
        assert_eq!(cache.get("h1").map(|r| r.id), Some(ApiKeyId(1)));
        cache.evict(ApiKeyId(1));
        assert!(cache.get("h1").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("h2").is_none(), "expired");
    }
}
