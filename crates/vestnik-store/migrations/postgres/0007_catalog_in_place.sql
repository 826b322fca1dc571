-- Catalog imports write offers in place, in one transaction, instead of staging every offer
-- and copying it over (each offer's bytes were written three times). An offer whose content
-- hash matches the feed's is not rewritten on a refresh; NULL (offers imported before this
-- migration) never matches, so the first refresh fills it in.
-- From here on offers.import_id is the import that last changed the offer.
ALTER TABLE offers ADD COLUMN content_hash BIGINT;
DROP TABLE catalog_staged_offers;
DROP TABLE catalog_staged_categories;
