-- Events, behavioural contact state, orders, the automation outbox, and the audit log.

-- Event types seen per site: the 7 standard ones and custom ones registered on first use.
CREATE TABLE event_types (
    site_id        TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    key            TEXT NOT NULL,
    is_standard    BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON array of the parameter names seen with this type.
    params         JSONB NOT NULL DEFAULT '[]',
    event_count    BIGINT NOT NULL DEFAULT 0,
    first_seen_at  BIGINT NOT NULL,
    last_seen_at   BIGINT NOT NULL,
    PRIMARY KEY (site_id, key)
);

CREATE TABLE events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    key_value        TEXT NOT NULL,
    contact_id       BIGINT REFERENCES contacts(id) ON DELETE CASCADE,
    -- JSON object: param name -> value (JSON-in-a-string params decoded).
    params           JSONB NOT NULL,
    -- Client-supplied eventId / Idempotency-Key; a retry with the same key is a no-op.
    idempotency_key  TEXT,
    received_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX events_idempotency ON events(site_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX events_contact ON events(contact_id, id) WHERE contact_id IS NOT NULL;
CREATE INDEX events_site_type_time ON events(site_id, event_type, received_at);

-- What events taught us about a contact: the sources of get_viewed_items() and get_cart_items().
CREATE TABLE contact_state (
    contact_id         BIGINT PRIMARY KEY REFERENCES contacts(id) ON DELETE CASCADE,
    site_id            TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    -- JSON array of {productId, price, viewed_at}, most recent first, de-duplicated, capped.
    viewed             JSONB NOT NULL DEFAULT '[]',
    -- JSON array of {productId, quantity, price}: the whole cart as of the last cartUpdated.
    cart               JSONB NOT NULL DEFAULT '[]',
    recycle_state_id   TEXT,
    -- JSON array of {productId, price, added_at}.
    wishlist           JSONB NOT NULL DEFAULT '[]',
    last_search        TEXT,
    last_search_found  BOOLEAN,
    last_category_id   TEXT,
    last_activity_at   BIGINT
);

CREATE TABLE orders (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    -- The shop's own order number.
    order_id    TEXT NOT NULL,
    contact_id  BIGINT REFERENCES contacts(id) ON DELETE SET NULL,
    email       TEXT,
    phone       TEXT,
    -- JSON array of {offer_id, price, quantity}.
    items       JSONB NOT NULL DEFAULT '[]',
    -- Decimal text, as sent.
    total       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'submitted'
        CHECK (status IN ('submitted', 'paid', 'delivered', 'cancelled')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (site_id, order_id)
);
CREATE INDEX orders_contact ON orders(contact_id) WHERE contact_id IS NOT NULL;

CREATE TABLE order_status_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_pk    BIGINT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    changed_at  BIGINT NOT NULL
);
CREATE INDEX order_status_history_order ON order_status_history(order_pk, id);

-- Facts for automation, written in the same transaction as the fact itself and consumed in
-- id order (HARD-PARTS §2). topic: 'event', 'order_status', 'list_join'.
CREATE TABLE outbox (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    topic        TEXT NOT NULL,
    -- The row the fact is about (events.id, orders.id, …).
    ref_id       BIGINT NOT NULL,
    payload      JSONB NOT NULL,
    created_at   BIGINT NOT NULL,
    consumed_at  BIGINT
);
CREATE INDEX outbox_unconsumed ON outbox(id) WHERE consumed_at IS NULL;

-- Who did what to personal data (GDPR access and erasure, among others).
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     TEXT NOT NULL,
    -- `api_key:<id>` or `user:<id>`.
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    details     JSONB NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_log_site_time ON audit_log(site_id, created_at);
