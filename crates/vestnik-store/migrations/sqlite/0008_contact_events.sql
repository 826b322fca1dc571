-- A contact's events are found through two small tables instead of an index on
-- events(contact_id). Events of many contacts arrive interleaved, so every new event landed
-- on a different page of that index: one 4 KiB page written to the WAL (and later to the
-- file) per event, half of ingestion's cost. New entries now go to event_contacts_recent,
-- which stays small enough that a batch's entries share its pages; the event writer moves
-- them into event_contacts in bulk, where a contact's new entries land together (a page per
-- contact, not per event). Readers see both through the view contact_events.
CREATE TABLE event_contacts (
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (contact_id, event_id)
) WITHOUT ROWID;

CREATE TABLE event_contacts_recent (
    contact_id  INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (contact_id, event_id)
) WITHOUT ROWID;

CREATE VIEW contact_events (contact_id, event_id) AS
    SELECT contact_id, event_id FROM event_contacts
    UNION ALL
    SELECT contact_id, event_id FROM event_contacts_recent;

INSERT INTO event_contacts (contact_id, event_id)
    SELECT contact_id, id FROM events WHERE contact_id IS NOT NULL ORDER BY contact_id, id;

-- events.contact_id loses its foreign key: without an index on the column, deleting a
-- contact would scan every event to cascade. Whoever deletes a contact deletes its events
-- (through contact_events) in the same transaction. SQLite cannot drop a constraint, so the
-- table is rebuilt.
CREATE TABLE events_rebuilt (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id          TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    key_value        TEXT NOT NULL,
    -- The contact the event was tied to; see contact_events.
    contact_id       INTEGER,
    -- JSON object: param name -> value (JSON-in-a-string params decoded).
    params           TEXT NOT NULL,
    -- Client-supplied eventId / Idempotency-Key; a retry with the same key is a no-op.
    idempotency_key  TEXT,
    received_at      INTEGER NOT NULL
);
INSERT INTO events_rebuilt (id, site_id, event_type, key_value, contact_id, params, idempotency_key, received_at)
    SELECT id, site_id, event_type, key_value, contact_id, params, idempotency_key, received_at FROM events ORDER BY id;
-- AUTOINCREMENT never reuses an id, including those of events deleted before the rebuild.
INSERT INTO sqlite_sequence (name, seq) SELECT 'events_rebuilt', 0
    WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_rebuilt');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'events'))
    WHERE name = 'events_rebuilt';
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE UNIQUE INDEX events_idempotency ON events(site_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_site_type_time ON events(site_id, event_type, received_at);
