-- SQLite's 0010 lets its event writer write contact states a while after their events;
-- the PostgreSQL writer writes them with their events, and nothing changes here.
COMMENT ON TABLE contact_state IS 'A contact''s state: written with its events.';
