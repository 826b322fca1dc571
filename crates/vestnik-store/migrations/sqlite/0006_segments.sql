-- Segments: saved conditions over a site's contacts (vestnik_domain::segment). Members are
-- never stored: a segment is counted and listed from the contacts, events and orders as they
-- are when asked, so it is always current. Event, list and engagement tests use the indexes
-- that exist already (events_site_type_time, events_contact, list_members' key,
-- tracking_events_*): no index is added to events, whose inserts are the ingestion hot path.
CREATE TABLE segments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    -- The condition in its canonical JSON form, checked before it was saved.
    condition   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (site_id, name)
);

-- Order tests (count, sum, last status, last date) read one range of this index per site,
-- already grouped by contact and with every column they need, instead of every order row
-- through orders_site_created: "orders count >= 2" over 200 000 orders went from 0.8 s to
-- 0.15 s on SQLite (BENCHMARKS.md "Segments"). Orders arrive far more slowly than events.
CREATE INDEX orders_site_contact ON orders(site_id, contact_id, created_at, status, total);
