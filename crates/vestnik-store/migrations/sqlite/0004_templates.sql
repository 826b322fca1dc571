-- Email templates per site. Every save is a new version; the template row points at the
-- current one, so a campaign can keep rendering the version it was created with.
CREATE TABLE templates (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id          TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    current_version  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE template_versions (
    template_id  INTEGER NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('html', 'mjml')),
    -- Who saved it (an admin's email, or "cli").
    saved_by     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (template_id, version)
);
