//! What the event writer remembers between batches: the contacts its last batches touched,
//! with their states.
//!
//! Looking a contact up by email with its state, and decoding the state's JSON lists, was a
//! fifth of a batch's work for contacts the writer itself had just written. The remembered
//! contacts are exactly what the writer's own commits left, so they hold while nothing else
//! writes the database: SQLite's `PRAGMA data_version` changes on the writer's connection
//! when another connection commits (the contacts API changing an email, an erasure, an
//! order creating a contact), and then everything is forgotten. A failed batch forgets too.

use foldhash::fast::RandomState;
use std::collections::HashMap;
use vestnik_domain::{ContactId, StoreResult};

use super::state::PendingState;
use crate::sqlite::bulk::sqlite_err;

/// `(site, column, value)` as one text, into `key`. Column names and site ids hold no NUL, so
/// no two locators share a key.
fn locator_key(key: &mut String, site: &str, column: &str, value: &str) {
    key.clear();
    key.push_str(column);
    key.push('\0');
    key.push_str(site);
    key.push('\0');
    key.push_str(value);
}

/// Past this many bytes of remembered states (as `PendingState::approx_bytes` counts them),
/// the writer forgets them all and starts over.
const MAX_STATE_BYTES: usize = if cfg!(test) {
    16 * 1024
} else {
    64 * 1024 * 1024
};

#[derive(Default)]
pub(crate) struct WriterMemory {
    /// `PRAGMA data_version` as of the last commit.
    data_version: Option<i64>,
    /// A locator (`locator_key`) → the contact it names. Every contact named here has its
    /// state in `states`. One flat key rather than a map of values to (site, column) lists:
    /// a lookup is one hash and one comparison, with no list or site text to chase.
    by_locator: HashMap<String, ContactId, RandomState>,
    /// `locator_key`'s buffer, reused so that a lookup allocates nothing.
    key: String,
    /// The states of remembered contacts. A batch changes them in place: a batch that fails
    /// forgets everything, so nothing needs undoing.
    states: HashMap<ContactId, PendingState, RandomState>,
    /// The contacts whose state the current batch changed, in the order it first did.
    changed: Vec<ContactId>,
    state_bytes: usize,
}

impl WriterMemory {
    /// At the start of a batch's transaction: forgets everything when another connection
    /// has committed since the last batch.
    pub(super) fn check(&mut self, tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
        let version: i64 = tx
            .prepare_cached("SELECT data_version FROM pragma_data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(sqlite_err)?;
        if self.data_version != Some(version) {
            self.forget();
            self.data_version = Some(version);
        }
        Ok(())
    }

    pub(super) fn forget(&mut self) {
        *self = WriterMemory::default();
    }

    /// The contact of `site` whose `column` (email or phone) is `value`, if remembered.
    pub(super) fn contact(&mut self, site: &str, column: &str, value: &str) -> Option<ContactId> {
        locator_key(&mut self.key, site, column, value);
        self.by_locator.get(self.key.as_str()).copied()
    }

    /// Remembers a contact the batch found in the database or created, under one of its
    /// locators (`(site, column, value)`), with its state as stored — unless its state is
    /// remembered already (found earlier in the batch by its other locator: that state has
    /// the batch's changes, the stored one does not).
    pub(super) fn learn(
        &mut self,
        (site, column, value): (&str, &'static str, &str),
        id: ContactId,
        state: impl FnOnce() -> PendingState,
    ) {
        self.states.entry(id).or_insert_with(state);
        locator_key(&mut self.key, site, column, value);
        self.by_locator.insert(self.key.clone(), id);
    }

    /// The remembered contact's state, for the batch to change (and then write).
    pub(super) fn state_to_change(&mut self, contact: ContactId) -> Option<&mut PendingState> {
        let state = self.states.get_mut(&contact)?;
        if state.mark_changed() {
            self.changed.push(contact);
        }
        Some(state)
    }

    /// The states the batch changed, to write.
    pub(super) fn changed_states(&self) -> impl Iterator<Item = (ContactId, &PendingState)> {
        self.changed
            .iter()
            .filter_map(|id| self.states.get(id).map(|state| (*id, state)))
    }

    /// After the batch's commit: its changed states are now the stored ones.
    pub(super) fn committed(&mut self) {
        for id in self.changed.drain(..) {
            if let Some(state) = self.states.get_mut(&id) {
                let (before, now) = state.mark_stored();
                self.state_bytes = self.state_bytes.saturating_sub(before) + now;
            }
        }
        if self.state_bytes > MAX_STATE_BYTES {
            self.forget();
        }
    }
}
