-- Sites, keys, admin users, contacts, lists, jobs. Times are UTC unix milliseconds.
CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    key_hash    TEXT NOT NULL UNIQUE,
    label       TEXT NOT NULL,
    hint        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_site ON api_keys(site_id);

CREATE TABLE users (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE user_site_roles (
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    site_id  TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    PRIMARY KEY (user_id, site_id)
);

CREATE TABLE admin_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE contacts (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id             TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    email               TEXT,
    phone               TEXT,
    name                TEXT,
    last_name           TEXT,
    position            TEXT,
    region              TEXT,
    country             TEXT,
    city                TEXT,
    address             TEXT,
    company             TEXT,
    birthday            TEXT,
    sex                 TEXT,
    status              TEXT NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'contacted', 'customer', 'manager', 'regular', 'wholesale')),
    bonus               TEXT NOT NULL DEFAULT '0',
    custom_fields       JSONB NOT NULL DEFAULT '{}',
    tags                JSONB NOT NULL DEFAULT '[]',
    email_subscription  TEXT NOT NULL DEFAULT 'subscribed',
    sms_subscription    TEXT NOT NULL DEFAULT 'subscribed',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);
CREATE UNIQUE INDEX contacts_site_email ON contacts(site_id, email) WHERE email IS NOT NULL;
CREATE UNIQUE INDEX contacts_site_phone ON contacts(site_id, phone) WHERE phone IS NOT NULL;

CREATE TABLE lists (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE list_members (
    list_id     BIGINT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    contact_id  BIGINT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX list_members_contact ON list_members(contact_id);

CREATE TABLE jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          TEXT NOT NULL,
    site_id       TEXT REFERENCES sites(id) ON DELETE CASCADE,
    payload       JSONB NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'done', 'dead')),
    run_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    lease_owner   TEXT,
    lease_until   BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
-- Claims walk these in order and stop at LIMIT: pending jobs by due time, held jobs by lease end.
CREATE INDEX jobs_pending ON jobs(run_at, id) WHERE state = 'pending';
CREATE INDEX jobs_running ON jobs(lease_until) WHERE state = 'running';
