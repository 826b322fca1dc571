//! A contact's state while a batch changes it, and writing it back.

use std::borrow::Cow;
use std::sync::LazyLock;
use vestnik_domain::ingest::{ListEntry, StateChange, VIEWED_CAP, WISHLIST_CAP};
use vestnik_domain::{ContactId, ContactState, EventToStore, SiteId, StoreResult, Timestamp};

use super::CHUNK;
use super::contact_index::FLUSH_AT;
use crate::error::internal;
use crate::sqlite::bulk::sqlite_err;

/// A contact's state during a batch. The viewed and wishlist lists stay as their stored text
/// until an event changes them, and are then kept as `ListEntry`s, each already encoded
/// (by the request handler), so an event moves text instead of decoding, stamping and
/// re-encoding JSON values. The cart is replaced whole, so it is only ever text.
pub(super) struct PendingState {
    site: SiteId,
    /// All but the lists, which are empty here.
    state: ContactState,
    viewed: EntryList,
    wishlist: EntryList,
    cart: String,
    /// Ids of the contact's events not yet in `event_contacts`, oldest first
    /// (`contact_index.rs`), as stored: a JSON array, appended to in place rather than
    /// formatted anew for each write (that was 4 % of the writer).
    recent_events: String,
    /// How many ids `recent_events` lists.
    recent_count: usize,
    /// The newest event applied (stored as `last_event_id`); `None` when none has been since
    /// migration 0010.
    last_event_id: Option<i64>,
    /// The oldest event applied since the state was last written; `None` when the stored row
    /// has everything.
    unwritten_since: Option<i64>,
    /// `approx_bytes` when last counted into the writer memory's total.
    counted_bytes: usize,
}

enum EntryList {
    /// As stored: a JSON array.
    Text(String),
    Entries(Vec<ListEntry>),
}

impl EntryList {
    fn empty() -> Self {
        EntryList::Text("[]".to_string())
    }

    fn push(&mut self, entry: &ListEntry, cap: usize) {
        if let EntryList::Text(text) = self {
            *self = EntryList::Entries(ListEntry::decode_list(text));
        }
        if let EntryList::Entries(entries) = self {
            ListEntry::push(entries, entry.clone(), cap);
        }
    }

    fn text(&self) -> Cow<'_, str> {
        match self {
            EntryList::Text(text) => text.as_str().into(),
            EntryList::Entries(entries) => ListEntry::encode_list(entries).into(),
        }
    }

    fn approx_bytes(&self) -> usize {
        /// A `ListEntry`'s own size and its two allocations' overhead.
        const PER_ENTRY: usize = 80;
        match self {
            EntryList::Text(text) => text.len(),
            EntryList::Entries(entries) => entries
                .iter()
                .map(|e| PER_ENTRY + e.json.len() + e.product_id.as_ref().map_or(0, String::len))
                .sum(),
        }
    }
}

impl PendingState {
    pub(super) fn new(site: &SiteId) -> Self {
        PendingState {
            site: site.clone(),
            state: ContactState::default(),
            viewed: EntryList::empty(),
            wishlist: EntryList::empty(),
            cart: "[]".to_string(),
            recent_events: "[]".to_string(),
            recent_count: 0,
            last_event_id: None,
            unwritten_since: None,
            counted_bytes: 0,
        }
    }

    /// Reads columns 1..=10 of a `find_contact_sql!` row; NULLs (no state row) read as the
    /// empty state.
    pub(super) fn read(r: &rusqlite::Row<'_>, site: &SiteId) -> rusqlite::Result<Self> {
        // `viewed` is NOT NULL: NULL means the LEFT JOIN found no state row.
        let Some(viewed) = r.get::<_, Option<String>>(1)? else {
            return Ok(PendingState::new(site));
        };
        let list = |text: Option<String>| text.unwrap_or_else(|| "[]".to_string());
        let recent_events = list(r.get(9)?);
        Ok(PendingState {
            site: site.clone(),
            state: ContactState {
                contact_id: None,
                viewed: Vec::new(),
                cart: Vec::new(),
                recycle_state_id: r.get(3)?,
                wishlist: Vec::new(),
                last_search: r.get(5)?,
                last_search_found: r.get(6)?,
                last_category_id: r.get(7)?,
                last_activity_at: r.get::<_, Option<i64>>(8)?.map(Timestamp),
            },
            viewed: EntryList::Text(viewed),
            cart: list(r.get(2)?),
            wishlist: EntryList::Text(list(r.get(4)?)),
            recent_count: recent_ids(&recent_events).len(),
            recent_events,
            last_event_id: r.get(10)?,
            unwritten_since: None,
            counted_bytes: 0,
        })
    }

    /// Applies one event, as `ContactState::apply` would.
    pub(super) fn apply(&mut self, item: &EventToStore) -> StoreResult<()> {
        let change = &item.event.change;
        match (change, item.list_entry()) {
            (StateChange::Viewed(_), Some(entry)) => self.viewed.push(entry, VIEWED_CAP),
            (StateChange::Wishlist(_), Some(entry)) => self.wishlist.push(entry, WISHLIST_CAP),
            (StateChange::Cart { products, .. }, _) => {
                self.cart = serde_json::to_string(products)
                    .map_err(|e| internal(format!("encoding a cart: {e}")))?;
            }
            _ => {}
        }
        self.state.apply_except_lists(change, item.received_at);
        Ok(())
    }

    /// Whether the state includes the event already (stored or applied since): a contact's
    /// events are applied in id order.
    pub(super) fn includes(&self, event: i64) -> bool {
        self.last_event_id.is_some_and(|last| last >= event)
    }

    /// Lists a new event of the contact, applied just before; `true` when it is the first
    /// since the state was last written.
    pub(super) fn add_event(&mut self, event: i64) -> bool {
        use std::fmt::Write;
        if self.recent_count == 0 {
            self.recent_events.clear();
            self.recent_events.push('[');
        } else {
            // The closing bracket goes, the id and a new one come.
            self.recent_events.pop();
            self.recent_events.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(self.recent_events, "{event}]");
        self.recent_count += 1;
        self.last_event_id = Some(event);
        *self.unwritten_since.get_or_insert(event) == event
    }

    /// The oldest event applied since the state was last written.
    pub(super) fn unwritten_since(&self) -> Option<i64> {
        self.unwritten_since
    }

    /// Before the state is written: once it lists `FLUSH_AT` ids, they move to `moved`, as
    /// `(contact, event)` entries for `event_contacts`, in the transaction that writes the
    /// row, so that the index and the row never disagree.
    pub(super) fn move_listed_events(&mut self, contact: i64, moved: &mut Vec<(i64, i64)>) {
        if self.recent_count >= FLUSH_AT {
            moved.extend(
                recent_ids(&self.recent_events)
                    .into_iter()
                    .map(|event| (contact, event)),
            );
            self.recent_events.clear();
            self.recent_events.push_str("[]");
            self.recent_count = 0;
        }
    }

    /// After the transaction that wrote the state committed: the stored row has everything.
    /// Recounts its size: `(bytes counted before, bytes now)`.
    pub(super) fn mark_written(&mut self) -> (usize, usize) {
        self.unwritten_since = None;
        let now = self.approx_bytes();
        (std::mem::replace(&mut self.counted_bytes, now), now)
    }

    /// `approx_bytes` as of the last write.
    pub(super) fn counted_bytes(&self) -> usize {
        self.counted_bytes
    }

    /// About how much memory the state takes, for the writer's cache limit.
    fn approx_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.recent_events.capacity()
            + self.viewed.approx_bytes()
            + self.wishlist.approx_bytes()
            + self.cart.len()
    }
}

/// The ids a `recent_events` text lists; none if it is not a JSON array of integers, which
/// only this module writes.
fn recent_ids(text: &str) -> Vec<i64> {
    serde_json::from_str(text).unwrap_or_default()
}

/// Writes `rows` states, new or stored, in one statement: an insert that updates the row
/// already there. `OR FAIL`, as every multi-row statement of the batch (an error fails the
/// whole batch anyway). Unlike the plain inserts, the DO UPDATE still makes SQLite keep a
/// statement journal (a copy of each page the statement changes, about 1.5 % of the writer
/// in a profile); that costs less than the UPDATE per stored state this replaced, each a
/// statement of its own whose setup, bind and reset cost more than its row. (A multi-row
/// UPDATE ... FROM (VALUES ...) was tried earlier and materialized its VALUES in a temporary
/// table each time.)
fn upsert_states_sql(rows: usize) -> String {
    format!(
        "INSERT OR FAIL INTO contact_state (contact_id, site_id, viewed, cart, recycle_state_id, \
             wishlist, last_search, last_search_found, last_category_id, last_activity_at, \
             recent_events, last_event_id) \
         VALUES {} \
         ON CONFLICT (contact_id) DO UPDATE SET viewed = excluded.viewed, cart = excluded.cart, \
             recycle_state_id = excluded.recycle_state_id, wishlist = excluded.wishlist, \
             last_search = excluded.last_search, last_search_found = excluded.last_search_found, \
             last_category_id = excluded.last_category_id, \
             last_activity_at = excluded.last_activity_at, recent_events = excluded.recent_events, \
             last_event_id = excluded.last_event_id",
        super::placeholder_rows(rows, COLUMNS)
    )
}

/// Parameters per state row.
const COLUMNS: usize = 12;

static UPSERT_STATES_CHUNK_SQL: LazyLock<String> = LazyLock::new(|| upsert_states_sql(CHUNK));
static UPSERT_STATE_SQL: LazyLock<String> = LazyLock::new(|| upsert_states_sql(1));

/// Writes states, `CHUNK` contacts per statement (as `insert_events`), new and stored ones
/// alike.
pub(super) fn save_states<'s>(
    tx: &rusqlite::Transaction<'_>,
    states: impl Iterator<Item = (ContactId, &'s PendingState)>,
) -> StoreResult<()> {
    let bind = |stmt: &mut rusqlite::CachedStatement<'_>,
                first_param: usize,
                contact: ContactId,
                pending: &PendingState|
     -> StoreResult<()> {
        let state = &pending.state;
        let (viewed, cart, wishlist) = (
            pending.viewed.text(),
            pending.cart.as_str(),
            pending.wishlist.text(),
        );
        // In the column order of `upsert_states_sql`.
        let p = first_param;
        let bound = (|| {
            stmt.raw_bind_parameter(p, contact.0)?;
            stmt.raw_bind_parameter(p + 1, pending.site.as_str())?;
            stmt.raw_bind_parameter(p + 2, &viewed)?;
            stmt.raw_bind_parameter(p + 3, cart)?;
            stmt.raw_bind_parameter(p + 4, &state.recycle_state_id)?;
            stmt.raw_bind_parameter(p + 5, &wishlist)?;
            stmt.raw_bind_parameter(p + 6, &state.last_search)?;
            stmt.raw_bind_parameter(p + 7, state.last_search_found)?;
            stmt.raw_bind_parameter(p + 8, &state.last_category_id)?;
            stmt.raw_bind_parameter(p + 9, state.last_activity_at.map(Timestamp::millis))?;
            stmt.raw_bind_parameter(p + 10, pending.recent_events.as_str())?;
            stmt.raw_bind_parameter(p + 11, pending.last_event_id)
        })();
        bound.map_err(sqlite_err)
    };
    let states: Vec<_> = states.collect();
    super::insert_rows(
        tx,
        &states,
        COLUMNS,
        (UPSERT_STATES_CHUNK_SQL.as_str(), UPSERT_STATE_SQL.as_str()),
        |upsert, p, &(contact, pending)| bind(upsert, p, contact, pending),
    )
}
