-- SQLite's 0009 moves a contact's newest event ids into its state row; here the
-- events_contact index serves contact_events as before, and nothing changes.
COMMENT ON VIEW contact_events IS 'A contact''s events: served by the events_contact index.';
