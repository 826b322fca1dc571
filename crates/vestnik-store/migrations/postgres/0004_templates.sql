-- Email templates per site. Every save is a new version; the template row points at the
-- current one, so a campaign can keep rendering the version it was created with.
CREATE TABLE templates (
    id               BIGSERIAL PRIMARY KEY,
    site_id          TEXT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    current_version  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE template_versions (
    template_id  BIGINT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    version      BIGINT NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('html', 'mjml')),
    -- Who saved it (an admin's email, or "cli").
    saved_by     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (template_id, version)
);
