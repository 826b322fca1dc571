-- The event writer writes a contact's state row a while after the events that changed it
-- (sqlite/ingest/memory.rs), so that a contact with many events in that while costs one
-- row write instead of one per event. Events are committed before their 2xx as before; a
-- state change not yet written is redone from its event after a crash.
--
-- last_event_id: the newest event already applied to this row (NULL: every event up to
-- ingest_progress.states_through as of this migration, which is all of them).
ALTER TABLE contact_state ADD COLUMN last_event_id INTEGER;

-- Every state row includes every event with an id up to states_through; the writer redoes
-- the events after it (skipping those a row's last_event_id already includes).
CREATE TABLE ingest_progress (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    states_through  INTEGER NOT NULL
);
INSERT INTO ingest_progress (id, states_through)
    SELECT 1, coalesce(max(id), 0) FROM events;
