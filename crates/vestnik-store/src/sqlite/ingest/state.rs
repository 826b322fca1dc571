//! A contact's state while a batch changes it, and writing it back.

use std::collections::HashMap;
use std::sync::LazyLock;
use vestnik_domain::ingest::StateChange;
use vestnik_domain::{ContactId, ContactState, SiteId, StoreResult, Timestamp};

use super::CHUNK;
use crate::error::internal;
use crate::sqlite::bulk::sqlite_err;

/// The state of every contact the batch touched, as its events leave it.
pub(super) type States = HashMap<ContactId, PendingState, foldhash::fast::RandomState>;

/// A contact's state during a batch. Its JSON lists stay as the stored text until an event
/// needs them decoded, and that text is written back as it was: most events change one list
/// or none, so the others need no decoding and re-encoding.
pub(super) struct PendingState {
    site: SiteId,
    /// The lists held in `stored` are empty here.
    state: ContactState,
    /// The stored text of `viewed`, `cart` and `wishlist`, until decoded into `state`.
    stored: [Option<String>; 3],
    /// Whether the contact has a state row to update (else one is inserted).
    is_stored: bool,
}

const VIEWED: usize = 0;
const CART: usize = 1;
const WISHLIST: usize = 2;

impl PendingState {
    pub(super) fn new(site: &SiteId) -> Self {
        PendingState {
            site: site.clone(),
            state: ContactState::default(),
            stored: [None, None, None],
            is_stored: false,
        }
    }

    /// Reads columns 1..=8 of a `find_contact_sql!` row; NULLs (no state row) read as the
    /// empty state.
    pub(super) fn read(r: &rusqlite::Row<'_>, site: &SiteId) -> rusqlite::Result<Self> {
        let stored: [Option<String>; 3] = [r.get(1)?, r.get(2)?, r.get(4)?];
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
            // `viewed` is NOT NULL: NULL means the LEFT JOIN found no state row.
            is_stored: stored[VIEWED].is_some(),
            stored,
        })
    }

    pub(super) fn apply(&mut self, change: &StateChange, at: Timestamp) {
        // Exhaustive on purpose: a new kind of change must say which list it reads.
        match change {
            StateChange::Viewed(_) => self.decode(VIEWED),
            StateChange::Wishlist(_) => self.decode(WISHLIST),
            // Replaced whole: the old cart is never read.
            StateChange::Cart { .. } => self.stored[CART] = None,
            StateChange::None | StateChange::Category(_) | StateChange::Search { .. } => {}
        }
        self.state.apply(change, at);
    }

    /// Marks the state as written: the next batch updates its row.
    pub(super) fn mark_stored(&mut self) {
        self.is_stored = true;
    }

    /// About how much memory the state takes, for the writer's cache limit.
    pub(super) fn approx_bytes(&self) -> usize {
        const PER_ITEM: usize = 256;
        let text: usize = self.stored.iter().flatten().map(String::len).sum();
        let items = self.state.viewed.len() + self.state.cart.len() + self.state.wishlist.len();
        std::mem::size_of::<Self>() + text + items * PER_ITEM
    }

    fn decode(&mut self, list: usize) {
        if let Some(text) = self.stored[list].take() {
            let items = json_list(&text);
            match list {
                VIEWED => self.state.viewed = items,
                CART => self.state.cart = items,
                _ => self.state.wishlist = items,
            }
        }
    }

    /// The list's text as it is to be stored.
    fn list_text(&self, list: usize) -> StoreResult<std::borrow::Cow<'_, str>> {
        if let Some(text) = &self.stored[list] {
            return Ok(text.as_str().into());
        }
        let items = match list {
            VIEWED => &self.state.viewed,
            CART => &self.state.cart,
            _ => &self.state.wishlist,
        };
        serde_json::to_string(items)
            .map(Into::into)
            .map_err(|e| internal(format!("encoding contact state: {e}")))
    }
}

fn json_list(text: &str) -> Vec<serde_json::Value> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// `INSERT INTO contact_state` of `rows` new rows. `OR FAIL`, as every multi-row statement of
/// the batch: an error fails the whole batch anyway, and without it SQLite would copy each
/// page the statement touches into a statement journal, to undo just this statement.
fn insert_states_sql(rows: usize) -> String {
    format!(
        "INSERT OR FAIL INTO contact_state (contact_id, site_id, viewed, cart, recycle_state_id, \
             wishlist, last_search, last_search_found, last_category_id, last_activity_at) \
         VALUES {}",
        super::placeholder_rows(rows, 10)
    )
}

/// `UPDATE contact_state` of one stored row, in the parameter order of `insert_states_sql`
/// (`?2`, the site, does not change). One row per statement: a multi-row UPDATE ... FROM
/// (VALUES ...) materialized its VALUES in a temporary table each time, which cost more than
/// the statements it saved.
const UPDATE_STATE_SQL: &str = "UPDATE OR FAIL contact_state SET viewed = ?3, cart = ?4, \
     recycle_state_id = ?5, wishlist = ?6, last_search = ?7, last_search_found = ?8, \
     last_category_id = ?9, last_activity_at = ?10 WHERE contact_id = ?1";

static INSERT_STATES_CHUNK_SQL: LazyLock<String> = LazyLock::new(|| insert_states_sql(CHUNK));
static INSERT_STATE_SQL: LazyLock<String> = LazyLock::new(|| insert_states_sql(1));

/// Writes the batch's states back, `CHUNK` contacts per statement (as `insert_events`): new
/// rows inserted, stored ones updated.
pub(super) fn save_states(tx: &rusqlite::Transaction<'_>, states: &States) -> StoreResult<()> {
    let bind = |stmt: &mut rusqlite::CachedStatement<'_>,
                first_param: usize,
                contact: ContactId,
                pending: &PendingState|
     -> StoreResult<()> {
        let state = &pending.state;
        let (viewed, cart, wishlist) = (
            pending.list_text(VIEWED)?,
            pending.list_text(CART)?,
            pending.list_text(WISHLIST)?,
        );
        // In the column order of `insert_states_sql`.
        let p = first_param;
        let bound = (|| {
            stmt.raw_bind_parameter(p, contact.0)?;
            stmt.raw_bind_parameter(p + 1, pending.site.as_str())?;
            stmt.raw_bind_parameter(p + 2, &viewed)?;
            stmt.raw_bind_parameter(p + 3, &cart)?;
            stmt.raw_bind_parameter(p + 4, &state.recycle_state_id)?;
            stmt.raw_bind_parameter(p + 5, &wishlist)?;
            stmt.raw_bind_parameter(p + 6, &state.last_search)?;
            stmt.raw_bind_parameter(p + 7, state.last_search_found)?;
            stmt.raw_bind_parameter(p + 8, &state.last_category_id)?;
            stmt.raw_bind_parameter(p + 9, state.last_activity_at.map(Timestamp::millis))
        })();
        bound.map_err(sqlite_err)
    };
    let (stored, new): (Vec<_>, Vec<_>) = states.iter().partition(|(_, p)| p.is_stored);
    super::insert_rows(
        tx,
        &new,
        10,
        (INSERT_STATES_CHUNK_SQL.as_str(), INSERT_STATE_SQL.as_str()),
        |insert, p, (contact, pending)| bind(insert, p, **contact, pending),
    )?;
    let mut update = tx.prepare_cached(UPDATE_STATE_SQL).map_err(sqlite_err)?;
    for (contact, pending) in stored {
        bind(&mut update, 1, *contact, pending)?;
        update.raw_execute().map_err(sqlite_err)?;
    }
    Ok(())
}
