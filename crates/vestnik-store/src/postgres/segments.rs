//! Segments on PostgreSQL: every related test is an `EXISTS` correlated with the contact
//! (`Form::Joinable` to count, `Form::PerContact` to page). The planner turns a top-level
//! `EXISTS` into a semi-join (`NOT EXISTS` into an anti-join) and one under an OR into a
//! hashed subplan when its set fits in memory, a lookup per contact otherwise. That is the
//! set form without its risk: an `IN (subquery)` whose set outgrows `hash_mem` is re-scanned
//! for every contact.
//!
//! JSONB is read with `->`/`->>`/`@>`; bonus balances and order sums compare as `numeric`,
//! exactly; text orders under the "C" collation (bytes, as on SQLite) whatever the
//! database's default.

use vestnik_domain::segment::Decimal;

use crate::common::segments::{ByContact, Form, Param, SegmentDialect, Sql};

pub(crate) struct PostgresSegments;

impl SegmentDialect for PostgresSegments {
    const COUNT_FORM: Form = Form::Joinable;
    const EVENTS_BY_CONTACT: ByContact = ByContact::Index("events_contact");
    const BYTE_ORDER: &'static str = " COLLATE \"C\"";
    const BONUS: &'static str = "c.bonus::numeric";
    const EVENT_CATEGORY: &'static str = "(e.params -> 'category' ->> 'productCategoryId')";
    const CART_NOT_EMPTY: &'static str = "jsonb_array_length(s.cart) > 0";

    fn contains(hay: &str, needle: &str) -> String {
        format!("strpos({hay}, {needle}) > 0")
    }

    fn starts_with(hay: &str, prefix: &str) -> String {
        format!("starts_with({hay}, {prefix})")
    }

    fn indexed_by(from: &str, _index: &str) -> String {
        from.to_string()
    }

    fn has_tag(q: &mut Sql, tag: &str) -> String {
        let tag = q.text(tag);
        format!("c.tags @> jsonb_build_array({tag}::text)")
    }

    fn custom_key(q: &mut Sql, key: &str) -> String {
        q.text(key)
    }

    fn custom_text(k: &str) -> String {
        format!(
            "(CASE WHEN jsonb_typeof(c.custom_fields -> {k}) = 'string' THEN c.custom_fields ->> {k} END)"
        )
    }

    fn custom_number(k: &str) -> String {
        format!(
            "(CASE WHEN jsonb_typeof(c.custom_fields -> {k}) = 'number' THEN (c.custom_fields ->> {k})::numeric END)"
        )
    }

    fn custom_bool(k: &str, value: bool) -> String {
        format!("coalesce(c.custom_fields -> {k} = '{value}'::jsonb, false)")
    }

    fn custom_empty(k: &str) -> String {
        format!("coalesce(c.custom_fields ->> {k}, '') = ''")
    }

    fn number(q: &mut Sql, d: &Decimal) -> String {
        format!("{}::numeric", q.bind(Param::Text(d.to_string())))
    }

    fn order_sum_sign(q: &mut Sql, d: &Decimal) -> String {
        format!(
            "sign(coalesce(sum(o.total::numeric), 0) - {})",
            Self::number(q, d)
        )
    }
}

mod store {
    crate::common::impl_segment_store!(super::super::PostgresStore, super::PostgresSegments);
}
