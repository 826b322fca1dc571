-- The product catalog from the shop's YML feed: offers and categories per site, the feed's
-- settings, and each import's outcome. An import writes into staging tables first and
-- switches the catalog in one transaction at the end, so a broken feed never leaves a
-- half-imported catalog behind.

CREATE TABLE feed_settings (
    site_id          TEXT PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
    url              TEXT,
    -- Minutes between automatic imports; NULL = import only on demand.
    refresh_minutes  BIGINT,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE catalog_imports (
    id           BIGSERIAL PRIMARY KEY,
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    -- A file path or URL, as given.
    source       TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    -- JSON: {"offers", "categories", "skipped", "errors": [{"offer_id", "line", "reason"}]}.
    summary      JSONB,
    -- Offers of the previous catalog that this feed no longer lists (now unavailable).
    retired      BIGINT,
    error        TEXT,
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX catalog_imports_site ON catalog_imports(site_id, id);

CREATE TABLE catalog_staged_offers (
    import_id    BIGINT NOT NULL REFERENCES catalog_imports(id) ON DELETE CASCADE,
    offer_id     TEXT NOT NULL,
    available    BOOLEAN NOT NULL,
    name         TEXT NOT NULL,
    -- The name lower-cased (Unicode) for search: SQLite's lower() folds ASCII only.
    search_name  TEXT NOT NULL,
    category_id  TEXT,
    -- JSON: the whole offer as parsed.
    data         JSONB NOT NULL,
    PRIMARY KEY (import_id, offer_id)
);

CREATE TABLE catalog_staged_categories (
    import_id    BIGINT NOT NULL REFERENCES catalog_imports(id) ON DELETE CASCADE,
    category_id  TEXT NOT NULL,
    parent_id    TEXT,
    name         TEXT NOT NULL,
    PRIMARY KEY (import_id, category_id)
);

CREATE TABLE offers (
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    offer_id     TEXT NOT NULL,
    available    BOOLEAN NOT NULL,
    name         TEXT NOT NULL,
    -- The name lower-cased (Unicode) for search: SQLite's lower() folds ASCII only.
    search_name  TEXT NOT NULL,
    category_id  TEXT,
    -- JSON: the whole offer as last imported (price and oldprice as decimal text).
    data         JSONB NOT NULL,
    -- The import that last listed this offer.
    import_id    BIGINT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (site_id, offer_id)
);
CREATE INDEX offers_site_category ON offers(site_id, category_id);
CREATE INDEX offers_site_first_seen ON offers(site_id, first_seen_at);
-- Recommendations count the orders of a recent window per site (top_offers).
CREATE INDEX orders_site_created ON orders(site_id, created_at);

CREATE TABLE categories (
    site_id      TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    category_id  TEXT NOT NULL,
    parent_id    TEXT,
    name         TEXT NOT NULL,
    PRIMARY KEY (site_id, category_id)
);

-- Promo codes imported in named pools; get_promocode() hands each out at most once.
CREATE TABLE promo_codes (
    id          BIGSERIAL PRIMARY KEY,
    site_id     TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    pool        TEXT NOT NULL,
    code        TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    -- Set once, when the code is handed out.
    contact_id  BIGINT REFERENCES contacts(id) ON DELETE SET NULL,
    -- What it was handed out for (e.g. "campaign:12"), for the report.
    issued_for  TEXT,
    issued_at   BIGINT,
    UNIQUE (site_id, pool, code)
);
CREATE INDEX promo_codes_free ON promo_codes(site_id, pool, id) WHERE issued_at IS NULL;
