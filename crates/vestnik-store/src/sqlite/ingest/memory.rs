//! What the event writer remembers between batches: the contacts its last batches touched,
//! with their states, some of them not yet written.
//!
//! Looking a contact up by email with its state, and decoding the state's JSON lists, was a
//! fifth of a batch's work for contacts the writer itself had just written. The remembered
//! contacts are exactly what the writer's own commits left, so they hold while nothing else
//! writes the database: SQLite's `PRAGMA data_version` changes on the writer's connection
//! when another connection commits (the contacts API changing an email, an erasure, an
//! order creating a contact), and then everything is forgotten.
//!
//! A changed state is written `STATE_WRITE_DELAY` after its first unwritten event, not in
//! that event's batch: a contact active on the site has several events a second, and
//! rewriting its row (a full viewed list is about 4 KiB) for each of them was a quarter of
//! the writer's time, with as much again in the WAL. Nothing is lost meanwhile: the events
//! themselves are committed before their answer, `ingest_progress.states_through` says up
//! to which event every stored state is complete, and after a crash or a failed batch the
//! writer applies the events after it again (`replay.rs`), skipping those a state row's
//! `last_event_id` already includes. Only the writer writes `contact_state`; other writers
//! only delete rows (with their contacts), so before forgetting, unwritten states of
//! contacts that still exist are written. Readers of states and of the contact index call
//! `settle` (`ingest.rs`) first, which writes what they need. Another process that reads
//! states (a CLI command beside the server) settles with a memory of its own: it applies the
//! events the stored states lack and writes them; this writer's unwritten states include
//! those events and more, so writing them over is right, and the index entries both may
//! move are inserted once (`contact_index::insert`).

use foldhash::fast::RandomState;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use vestnik_domain::{ContactId, StoreResult};

use super::state::{PendingState, save_states};
use super::{contact_index, replay};
use crate::sqlite::bulk::sqlite_err;

/// How long a changed state may stay unwritten. Longer coalesces more of a contact's events
/// into one row write; the events after `states_through` are what a restart after a crash
/// applies again (at 150 000 events/s, a second's worth takes about a second).
const STATE_WRITE_DELAY: Duration = Duration::from_millis(1000);

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

/// Past this many bytes of remembered states (as `PendingState::approx_bytes` counts them
/// when they are written), the writer forgets the written ones.
const MAX_STATE_BYTES: usize = if cfg!(test) {
    16 * 1024
} else {
    64 * 1024 * 1024
};

/// A contact whose state has events not yet written: since which event, and since when.
struct Unwritten {
    contact: ContactId,
    since_event: i64,
    since: Instant,
}

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
    state_bytes: usize,
    /// The contacts whose state is not written yet, oldest first; their first unwritten
    /// events are in id order, as events are applied.
    unwritten: VecDeque<Unwritten>,
    /// The states the current transaction writes, to mark written once it commits.
    writing: Vec<ContactId>,
    /// Whether the states (remembered or stored) include every stored event; false at
    /// start and after a failure, until `replay` has run.
    caught_up: bool,
    /// The newest event id stored, as far as this memory knows.
    newest_event: i64,
    /// `ingest_progress.states_through`: as committed, and as the current transaction
    /// writes it.
    states_through: Option<i64>,
    writing_states_through: Option<i64>,
    /// `STATE_WRITE_DELAY` unless a test says otherwise.
    state_write_delay: Option<Duration>,
}

impl WriterMemory {
    /// At the start of a transaction of the writer's: when another connection has committed
    /// since the last one, writes the unwritten states of contacts that still exist and
    /// forgets the rest; after a start or a failure, applies again the events the stored
    /// states lack. Returns whether it did the latter, whose states the transaction should
    /// then write at once.
    pub(super) fn prepare(&mut self, tx: &rusqlite::Transaction<'_>) -> StoreResult<bool> {
        let version: i64 = tx
            .prepare_cached("SELECT data_version FROM pragma_data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(sqlite_err)?;
        if self.data_version != Some(version) {
            if self.caught_up {
                self.write_existing(tx)?;
            }
            self.forget_contacts();
            self.data_version = Some(version);
        }
        if self.caught_up {
            return Ok(false);
        }
        self.states_through = Some(replay::run(tx, self)?);
        self.caught_up = true;
        Ok(true)
    }

    /// Writes the unwritten states whose contacts still exist (another connection may have
    /// erased some), as part of `tx`.
    fn write_existing(&mut self, tx: &rusqlite::Transaction<'_>) -> StoreResult<()> {
        if self.unwritten.is_empty() {
            return Ok(());
        }
        let mut exists = tx
            .prepare_cached("SELECT 1 FROM contacts WHERE id = ?1")
            .map_err(sqlite_err)?;
        let mut moved = Vec::new();
        self.writing.clear();
        for entry in std::mem::take(&mut self.unwritten) {
            let Some(state) = self.states.get_mut(&entry.contact) else {
                continue;
            };
            // A stale entry (the state was written ahead of its turn since) is skipped, as in
            // `write_due`: the state's live entry comes later.
            if state.unwritten_since() != Some(entry.since_event)
                || !exists.exists([entry.contact.0]).map_err(sqlite_err)?
            {
                continue;
            }
            state.move_listed_events(entry.contact.0, &mut moved);
            self.writing.push(entry.contact);
        }
        // Nothing is unwritten now: `states_through` becomes the newest event.
        self.write_selected(tx, moved)
    }

    /// Forgets the remembered contacts and states, which must all be written.
    fn forget_contacts(&mut self) {
        self.by_locator.clear();
        self.states.clear();
        self.state_bytes = 0;
        self.unwritten.clear();
        self.writing.clear();
    }

    /// Forgets the contacts whose states are written, keeping the others (and the locators
    /// that name them). Writing every state first and forgetting them all would stall the
    /// writer on one big transaction.
    fn forget_written(&mut self) {
        self.states
            .retain(|_, state| state.unwritten_since().is_some());
        let states = &self.states;
        self.by_locator.retain(|_, id| states.contains_key(id));
        self.state_bytes = self.states.values().map(PendingState::counted_bytes).sum();
    }

    /// After a failed transaction: the states may hold its changes, and the unwritten ones
    /// are only in the events now; the next transaction starts over from the stored states.
    pub(super) fn failed(&mut self) {
        *self = WriterMemory {
            state_write_delay: self.state_write_delay,
            ..WriterMemory::default()
        };
    }

    #[cfg(test)]
    pub(super) fn set_state_write_delay(&mut self, delay: Duration) {
        self.state_write_delay = Some(delay);
    }

    /// Whether a reader must wait for `settle`: some state is not written, or the stored
    /// ones may lack events (before the first batch after a start or a failure).
    pub(super) fn needs_settling(&self) -> bool {
        !self.caught_up || !self.unwritten.is_empty()
    }

    /// Whether a reader of these contacts' states must wait for `settle`.
    pub(super) fn needs_writing(&self, contacts: &[ContactId]) -> bool {
        !self.caught_up
            || contacts.iter().any(|contact| {
                self.states
                    .get(contact)
                    .is_some_and(|state| state.unwritten_since().is_some())
            })
    }

    /// Writes, as part of `tx`, the unwritten states of these contacts, ahead of their turn.
    /// Their entries in `unwritten` stay behind, stale, and are skipped when they come up;
    /// until then `states_through` stays where they put it, lower than it could be, which
    /// only means more events to skip after a crash.
    pub(super) fn write_contacts(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        contacts: &[ContactId],
    ) -> StoreResult<()> {
        let mut moved = Vec::new();
        self.writing.clear();
        for &contact in contacts {
            if let Some(state) = self.states.get_mut(&contact)
                && state.unwritten_since().is_some()
                && !self.writing.contains(&contact)
            {
                state.move_listed_events(contact.0, &mut moved);
                self.writing.push(contact);
            }
        }
        self.write_selected(tx, moved)
    }

    /// The contact of `site` whose `column` (email or phone) is `value`, if remembered.
    pub(super) fn contact(&mut self, site: &str, column: &str, value: &str) -> Option<ContactId> {
        locator_key(&mut self.key, site, column, value);
        self.by_locator.get(self.key.as_str()).copied()
    }

    /// Remembers a contact the batch found in the database or created, under one of its
    /// locators (`(site, column, value)`), with its state as stored — unless its state is
    /// remembered already (found earlier by its other locator, or by `replay`: that state
    /// is newer than the stored one).
    pub(super) fn learn(
        &mut self,
        (site, column, value): (&str, &'static str, &str),
        id: ContactId,
        state: impl FnOnce() -> PendingState,
    ) {
        self.remember_state(id, state);
        locator_key(&mut self.key, site, column, value);
        self.by_locator.insert(self.key.clone(), id);
    }

    /// Remembers a contact's state as stored, unless it is remembered already.
    pub(super) fn remember_state(&mut self, id: ContactId, state: impl FnOnce() -> PendingState) {
        self.states.entry(id).or_insert_with(state);
    }

    /// The remembered contact's state, to apply an event to.
    pub(super) fn state_to_change(&mut self, contact: ContactId) -> Option<&mut PendingState> {
        self.states.get_mut(&contact)
    }

    /// Lists a stored event, just applied to its contact's state; `false` when the state is
    /// not remembered.
    pub(super) fn note_event(&mut self, contact: ContactId, event: i64, now: Instant) -> bool {
        self.newest_event = self.newest_event.max(event);
        let Some(state) = self.states.get_mut(&contact) else {
            return false;
        };
        if state.add_event(event) {
            self.unwritten.push_back(Unwritten {
                contact,
                since_event: event,
                since: now,
            });
        }
        true
    }

    /// Notes the newest stored event when it has no contact.
    pub(super) fn note_stored(&mut self, event: i64) {
        self.newest_event = self.newest_event.max(event);
    }

    /// Writes, as part of `tx`, the states unwritten for `STATE_WRITE_DELAY`, at most `limit`
    /// of them (all, delay or not, when `None`), with the index entries they move and the new
    /// `states_through`.
    ///
    /// The limit keeps a batch's cost near what writing its own contacts' states cost, and
    /// it matters: the contacts active in a second tend to be written in the same few
    /// batches, their next events come right after, and a second later they are all due
    /// again together (thousands of rows in one batch, 100 ms instead of 10). Spread over
    /// the batches that follow, the bunch comes apart.
    pub(super) fn write_due(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        now: Instant,
        limit: Option<usize>,
    ) -> StoreResult<()> {
        let delay = self.state_write_delay.unwrap_or(STATE_WRITE_DELAY);
        let mut moved = Vec::new();
        self.writing.clear();
        while let Some(front) = self.unwritten.front() {
            if let Some(limit) = limit
                && (self.writing.len() >= limit || now.duration_since(front.since) < delay)
            {
                break;
            }
            let Some(entry) = self.unwritten.pop_front() else {
                break;
            };
            if let Some(state) = self.states.get_mut(&entry.contact)
                && state.unwritten_since() == Some(entry.since_event)
            {
                state.move_listed_events(entry.contact.0, &mut moved);
                self.writing.push(entry.contact);
            }
        }
        self.write_selected(tx, moved)
    }

    /// Writes the states in `writing` and the index entries they `moved`, and the new
    /// `states_through`: just before the oldest unwritten state's first event.
    fn write_selected(
        &mut self,
        tx: &rusqlite::Transaction<'_>,
        mut moved: Vec<(i64, i64)>,
    ) -> StoreResult<()> {
        save_states(
            tx,
            self.writing
                .iter()
                .filter_map(|id| self.states.get(id).map(|s| (*id, s))),
        )?;
        contact_index::insert(tx, &mut moved)?;
        let through = self
            .unwritten
            .front()
            .map_or(self.newest_event, |u| u.since_event - 1);
        self.write_progress(tx, through)
    }

    fn write_progress(&mut self, tx: &rusqlite::Transaction<'_>, through: i64) -> StoreResult<()> {
        if self.states_through != Some(through) {
            tx.prepare_cached("UPDATE ingest_progress SET states_through = ?1 WHERE id = 1")
                .and_then(|mut s| s.execute([through]))
                .map_err(sqlite_err)?;
        }
        self.writing_states_through = Some(through);
        Ok(())
    }

    /// After the transaction's commit: the states it wrote are stored.
    pub(super) fn committed(&mut self) {
        for id in self.writing.drain(..) {
            if let Some(state) = self.states.get_mut(&id) {
                let (before, now) = state.mark_written();
                self.state_bytes = self.state_bytes.saturating_sub(before) + now;
            }
        }
        if let Some(through) = self.writing_states_through.take() {
            self.states_through = Some(through);
        }
        if self.state_bytes > MAX_STATE_BYTES {
            self.forget_written();
        }
    }
}
