-- Mass mailings: SMTP providers, DKIM sender domains, campaigns, per-recipient deliveries,
-- tracking (opens, clicks, unsubscribes) and the installation's own secrets.

-- Secrets every node must share (the tracking-link HMAC key), created on first use.
CREATE TABLE install_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- A site's SMTP accounts ("Провайдер" in the mailing form).
CREATE TABLE smtp_providers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id       TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    host          TEXT NOT NULL,
    port          INTEGER NOT NULL,
    tls           TEXT NOT NULL CHECK (tls IN ('starttls', 'tls', 'none')),
    username      TEXT,
    password      TEXT,
    -- Messages per second across every campaign on this provider; NULL = no cap.
    rate_per_sec  REAL,
    pool_size     INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (site_id, name)
);

-- Domains a site sends from, with the DKIM key that signs their mail.
CREATE TABLE sender_domains (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    domain       TEXT NOT NULL,
    selector     TEXT NOT NULL,
    algorithm    TEXT NOT NULL CHECK (algorithm IN ('rsa2048', 'ed25519')),
    private_key  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (site_id, domain)
);

CREATE TABLE campaigns (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id           TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    -- The template version is frozen at creation: editing the template later does not change a sent campaign.
    template_id       INTEGER NOT NULL REFERENCES templates(id),
    template_version  INTEGER NOT NULL,
    subject           TEXT NOT NULL,
    from_email        TEXT NOT NULL,
    from_name         TEXT NOT NULL,
    -- address | list | all | segment | non_openers; recipient_ref is the address, list id, segment id or campaign id.
    recipient_kind    TEXT NOT NULL,
    recipient_ref     TEXT,
    provider_id       INTEGER NOT NULL REFERENCES smtp_providers(id),
    send_at           INTEGER NOT NULL,
    segment_size      INTEGER NOT NULL,
    interval_minutes  INTEGER NOT NULL,
    disable_banner    INTEGER NOT NULL DEFAULT 0,
    -- JSON object of utm_* tags added to every tracked link, or NULL.
    utm               TEXT,
    state             TEXT NOT NULL
        CHECK (state IN ('draft', 'scheduled', 'sending', 'paused', 'done', 'cancelled')),
    -- Why the campaign is paused or how it ended (e.g. "provider down: connection refused").
    state_reason      TEXT,
    -- Filled when recipients are snapshotted.
    recipients        INTEGER NOT NULL DEFAULT 0,
    excluded_unsubscribed INTEGER NOT NULL DEFAULT 0,
    excluded_bounced  INTEGER NOT NULL DEFAULT 0,
    excluded_blocked  INTEGER NOT NULL DEFAULT 0,
    -- The recipient snapshot's progress: the last contact examined, and whether it is finished.
    snapshot_after    INTEGER,
    snapshot_complete INTEGER NOT NULL DEFAULT 0,
    -- The current adaptive sending rate and why, for the report.
    throttle_note     TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER
);
CREATE INDEX campaigns_site ON campaigns(site_id, id);

-- One row per recipient: the unit of exactly-once sending.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id     INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    contact_id      INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
    email           TEXT NOT NULL,
    -- Which "segment size / interval" batch the row belongs to (0, 1, 2…).
    batch           INTEGER NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'sent', 'deferred', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     INTEGER,
    -- When a deferred row may be tried again.
    retry_at        INTEGER,
    smtp_code       INTEGER,
    smtp_reply      TEXT,
    -- Set when a crash left the row mid-send and it was sent again: the receiver may have two copies.
    possibly_duplicated INTEGER NOT NULL DEFAULT 0,
    sent_at         INTEGER,
    updated_at      INTEGER NOT NULL,
    UNIQUE (campaign_id, contact_id)
);
CREATE INDEX deliveries_claim ON deliveries(campaign_id, state, batch, id);

-- Opens, clicks and unsubscribes from campaign mail.
CREATE TABLE tracking_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    contact_id   INTEGER REFERENCES contacts(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('open', 'click', 'unsubscribe')),
    -- The clicked link (without tracking parameters); NULL for opens and unsubscribes.
    url          TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX tracking_events_campaign ON tracking_events(campaign_id, kind, contact_id);
CREATE INDEX tracking_events_contact ON tracking_events(contact_id, kind, campaign_id);

-- A contact's code for a purpose ("campaign:12") is looked up before a new one is claimed, so a
-- retried or re-rendered message (a deferral, a crash, the web view) shows the same code.
CREATE INDEX promo_codes_issued ON promo_codes(contact_id, issued_for) WHERE contact_id IS NOT NULL;
