-- A contact's events, under the name SQLite gives them (there two tables behind a view, see
-- its 0008); here the events_contact index serves them directly.
CREATE VIEW contact_events (contact_id, event_id) AS
    SELECT contact_id, id FROM events WHERE contact_id IS NOT NULL;
