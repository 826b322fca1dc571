-- A contact's newest events are listed in its state row instead of event_contacts_recent.
-- The event writer rewrites a contact's state row for every event anyway, so adding the
-- event's id to it costs a few bytes; an entry in event_contacts_recent cost an insert into
-- a table of its own, and later a read, an insert into event_contacts and a delete. Once a
-- state lists FLUSH_AT ids (sqlite/ingest/contact_index.rs), the writer moves them into
-- event_contacts together: one contact's entries, side by side.
ALTER TABLE contact_state ADD COLUMN recent_events TEXT NOT NULL DEFAULT '[]';

INSERT OR IGNORE INTO event_contacts (contact_id, event_id)
    SELECT contact_id, event_id FROM event_contacts_recent ORDER BY contact_id, event_id;

DROP VIEW contact_events;
DROP TABLE event_contacts_recent;

-- recent_events is a JSON array of event ids, oldest first. A lookup by contact pushes its
-- contact id into both branches (a primary key search each); a query that joins the view to
-- other tables gets it built whole, so those name the two sources themselves
-- (sqlite/dialect.rs, sqlite/segments.rs).
CREATE VIEW contact_events (contact_id, event_id) AS
    SELECT contact_id, event_id FROM event_contacts
    UNION ALL
    SELECT s.contact_id, r.value FROM contact_state s, json_each(s.recent_events) r;
