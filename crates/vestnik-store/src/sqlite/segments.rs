//! Segments on SQLite: counts build each related set once per query (`Form::Sets`: SQLite
//! keeps it in a temporary B-tree, whatever its size); member pages look up each contact's
//! rows through the `*_contact` indexes, named explicitly because without statistics the
//! planner prefers the site-wide indexes, which are the wrong choice per contact.
//!
//! JSON is text here: custom fields and tags are read with `json_type`/`json_extract`/
//! `json_each`. Bonus balances compare as REAL (exact up to 15 significant digits, which
//! is what the seed API's float bonus carries); order sums are added exactly, as whole
//! units and millionths in integers.

use vestnik_domain::segment::Decimal;

use crate::common::segments::{ByContact, Form, Param, SegmentDialect, Sql};

pub(crate) struct SqliteSegments;

/// The whole units and the millionths (six digits, right-padded) of an order total.
const UNITS: &str = "CAST(substr(o.total, 1, instr(o.total || '.', '.') - 1) AS INTEGER)";
const MICROS: &str =
    "CAST(substr(substr(o.total, instr(o.total || '.', '.') + 1) || '000000', 1, 6) AS INTEGER)";

impl SegmentDialect for SqliteSegments {
    const COUNT_FORM: Form = Form::Sets;
    // `events` has no index on the contact; its entries are in `event_contacts` and in the
    // contact's state row (migrations 0008, 0009). Both are named here for the contact `c.id`
    // of the enclosing query, not through the view `contact_events`: inside a correlated
    // subquery, SQLite would build the view whole (its second part is a join with
    // `json_each`). `CROSS JOIN` keeps the contact's entries first: the planner would rather
    // walk the site's events by type and time and probe the index with each, for every contact.
    const EVENTS_BY_CONTACT: ByContact = ByContact::Through {
        from: "(SELECT contact_id, event_id FROM event_contacts WHERE contact_id = c.id \
                UNION ALL SELECT s.contact_id, r.value FROM contact_state s, \
                    json_each(s.recent_events) r WHERE s.contact_id = c.id) ce \
               CROSS JOIN events e ON e.id = ce.event_id",
        contact: "ce.contact_id",
    };
    // SQLite's default collation is BINARY already.
    const BYTE_ORDER: &'static str = "";
    const BONUS: &'static str = "CAST(c.bonus AS REAL)";
    const EVENT_CATEGORY: &'static str =
        "CAST(json_extract(e.params, '$.category.productCategoryId') AS TEXT)";
    const CART_NOT_EMPTY: &'static str = "json_array_length(s.cart) > 0";

    fn contains(hay: &str, needle: &str) -> String {
        format!("instr({hay}, {needle}) > 0")
    }

    fn starts_with(hay: &str, prefix: &str) -> String {
        format!("substr({hay}, 1, length({prefix})) = {prefix}")
    }

    fn indexed_by(from: &str, index: &str) -> String {
        format!("{from} INDEXED BY {index}")
    }

    fn has_tag(q: &mut Sql, tag: &str) -> String {
        // The tag as JSON text, as every writer stores it (serde_json), finds candidates
        // with a substring test; json_each then confirms, so a tag that merely contains
        // the quoted text (`a","vip`) is not taken for it.
        let quoted = serde_json::to_string(tag).unwrap_or_default();
        let quoted = q.text(&quoted);
        let tag = q.text(tag);
        format!(
            "instr(c.tags, {quoted}) > 0 AND EXISTS (SELECT 1 FROM json_each(c.tags) WHERE json_each.value = {tag})"
        )
    }

    fn custom_key(q: &mut Sql, key: &str) -> String {
        // The parser refuses keys with quotes or backslashes, so this path names exactly `key`.
        q.text(&format!("$.\"{key}\""))
    }

    fn custom_text(k: &str) -> String {
        format!(
            "(CASE WHEN json_type(c.custom_fields, {k}) = 'text' THEN json_extract(c.custom_fields, {k}) END)"
        )
    }

    fn custom_number(k: &str) -> String {
        format!(
            "(CASE WHEN json_type(c.custom_fields, {k}) IN ('integer', 'real') THEN json_extract(c.custom_fields, {k}) END)"
        )
    }

    fn custom_bool(k: &str, value: bool) -> String {
        format!("json_type(c.custom_fields, {k}) IS '{value}'")
    }

    fn custom_empty(k: &str) -> String {
        format!("coalesce(c.custom_fields ->> {k}, '') = ''")
    }

    fn number(q: &mut Sql, d: &Decimal) -> String {
        match d.as_i64() {
            Some(i) => q.bind(Param::Int(i)),
            None => q.bind(Param::Real(d.as_f64())),
        }
    }

    fn order_sum_sign(q: &mut Sql, d: &Decimal) -> String {
        let Some((units, micros)) = d.units_and_micros() else {
            // A negative threshold: every sum (0 or more) is above it.
            return "1".to_string();
        };
        let (u, m) = (q.int(units), q.int(micros));
        let whole = format!("(coalesce(sum({UNITS}), 0) + coalesce(sum({MICROS}), 0) / 1000000)");
        let part = format!("(coalesce(sum({MICROS}), 0) % 1000000)");
        format!(
            "(CASE WHEN {whole} > {u} THEN 1 WHEN {whole} < {u} THEN -1 \
             WHEN {part} > {m} THEN 1 WHEN {part} < {m} THEN -1 ELSE 0 END)"
        )
    }
}

mod store {
    crate::common::impl_segment_store!(super::super::SqliteStore, super::SqliteSegments);
}
