//! Segment conditions compiled to SQL, written once for both backends; the pieces where
//! SQLite and PostgreSQL differ (JSON access to custom fields and tags, exact decimal sums,
//! index hints) come from each backend's [`SegmentDialect`].
//!
//! Every query is scoped by the site (`$1`), and every value of the condition is a bound
//! parameter: the SQL text holds only constant fragments and placeholders.
//!
//! Each test compiles to an expression that is never NULL, so `NOT` is an exact complement
//! (`ne` = `not eq`, and "did not do X" = everyone who did not). Tests of related rows
//! (events, orders, lists, state, engagement) take the shape each backend counts fastest
//! (see [`Form`]: sets built once per query on SQLite, join-able `EXISTS` on PostgreSQL),
//! and a lookup per contact for paging members.

use std::fmt::Write;
use vestnik_domain::segment::{
    CATEGORY_VIEWED_EVENT, Cmp, Condition, CustomTest, Decimal, FieldTest, OrderTest, TextTest,
    TimeBound,
};
use vestnik_domain::{ContactId, SiteId, Timestamp};

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    Real(f64),
}

/// SQL text and the values for its `$N` placeholders; `$1` is always the site.
#[derive(Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    fn for_site(site: &SiteId) -> Sql {
        Sql {
            text: String::new(),
            params: vec![Param::Text(site.as_str().to_string())],
        }
    }

    /// Binds a value and returns its placeholder.
    pub(crate) fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        format!("${}", self.params.len())
    }

    pub(crate) fn text(&mut self, s: &str) -> String {
        self.bind(Param::Text(s.to_string()))
    }

    pub(crate) fn int(&mut self, i: i64) -> String {
        self.bind(Param::Int(i))
    }
}

/// How tests of related rows are evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// `c.id IN (SELECT contact_id …)`: the database builds each set once per query from the
    /// site's rows (through `events_site_type_time`, `orders_site_created`, …). Counting a
    /// million contacts costs one pass per set instead of a million lookups.
    Sets,
    /// `EXISTS (SELECT … WHERE contact_id = c.id …)`: a primary-key or `*_contact` index
    /// lookup per contact examined, so a page of members costs what the page covers.
    PerContact,
    /// As `PerContact`, except that counts and sums are grouped first and matched to the
    /// contact outside the grouping (`EXISTS (SELECT 1 FROM (… GROUP BY contact_id HAVING …)
    /// x WHERE x.contact_id = c.id)`). PostgreSQL turns every test of this form into a
    /// semi-join (anti-join under NOT), or a hashed subplan under an OR when the set fits in
    /// memory, or else a lookup per contact; an EXISTS with the GROUP BY inside stays a
    /// subplan run for every contact (2 s over a million).
    Joinable,
}

/// The SQL that differs between backends. Fragments refer to the contact as `c`, an event as
/// `e`, an order as `o` and a behaviour state as `s`.
pub(crate) trait SegmentDialect {
    /// How `count_segment` evaluates tests of related rows.
    const COUNT_FORM: Form;
    /// How one contact's events (`e`) are found.
    const EVENTS_BY_CONTACT: ByContact;
    /// Appended to a text comparison so that it orders by bytes (code points) on both.
    const BYTE_ORDER: &'static str;
    /// The contact's bonus as a number that compares with [`SegmentDialect::number`].
    const BONUS: &'static str;
    /// The viewed category id of event `e`, as text.
    const EVENT_CATEGORY: &'static str;
    /// True when behaviour state `s` has items in its cart.
    const CART_NOT_EMPTY: &'static str;
    /// True when text `hay` contains `needle` (both known not to be NULL).
    fn contains(hay: &str, needle: &str) -> String;
    fn starts_with(hay: &str, prefix: &str) -> String;
    /// `from` (a table and alias) read through `index`, where the backend needs telling.
    fn indexed_by(from: &str, index: &str) -> String;
    /// True when contact `c` has `tag`; never NULL.
    fn has_tag(q: &mut Sql, tag: &str) -> String;
    /// Binds what names custom field `key`; the fragments below take the placeholder.
    fn custom_key(q: &mut Sql, key: &str) -> String;
    /// The custom field as text when it holds a JSON string, else NULL.
    fn custom_text(k: &str) -> String;
    /// The custom field as a number when it holds a JSON number, else NULL.
    fn custom_number(k: &str) -> String;
    /// True when the custom field is the JSON boolean `value`; never NULL.
    fn custom_bool(k: &str, value: bool) -> String;
    /// True when the custom field is missing, null or ""; never NULL.
    fn custom_empty(k: &str) -> String;
    /// Binds a decimal as the backend compares numbers; returns the placeholder expression.
    fn number(q: &mut Sql, d: &Decimal) -> String;
    /// An aggregate over orders `o`: the sign (-1, 0, 1) of the sum of their totals minus `d`,
    /// computed exactly (`d` is never negative).
    fn order_sum_sign(q: &mut Sql, d: &Decimal) -> String;
}

/// `SELECT count(*)` of the site's contacts satisfying `condition` at `now`.
pub(crate) fn count_query<D: SegmentDialect>(
    site: &SiteId,
    condition: &Condition,
    now: Timestamp,
) -> Sql {
    let mut q = Sql::for_site(site);
    let filter = Compiler::<D>::new(&mut q, now, D::COUNT_FORM).condition(condition);
    q.text = format!("SELECT count(*) FROM contacts c WHERE c.site_id = $1 AND {filter}");
    q
}

/// The ids of the next `limit` members after `after`, in id order.
pub(crate) fn members_query<D: SegmentDialect>(
    site: &SiteId,
    condition: &Condition,
    now: Timestamp,
    after: Option<ContactId>,
    limit: u32,
) -> Sql {
    let mut q = Sql::for_site(site);
    let filter = Compiler::<D>::new(&mut q, now, Form::PerContact).condition(condition);
    let after = q.int(after.map_or(i64::MIN, |a| a.0));
    let limit = q.int(i64::from(limit));
    q.text = format!(
        "SELECT c.id FROM contacts c WHERE c.site_id = $1 AND c.id > {after} AND {filter} \
         ORDER BY c.id LIMIT {limit}"
    );
    q
}

/// Rows related to a contact that a test looks for.
struct Related {
    /// The table and its alias.
    from: &'static str,
    /// Its contact id column.
    contact: &'static str,
    /// How a contact's rows are found, for [`Form::PerContact`].
    by_contact: ByContact,
    /// Conditions on the rows, the site's scope included.
    filter: String,
    /// A condition on the aggregate of one contact's rows, when a count or sum decides.
    having: Option<String>,
}

/// How [`Form::PerContact`] finds one contact's related rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ByContact {
    /// The planner finds them (a primary key or the only index on the contact).
    Planner,
    /// Through this index, named to the planner where the dialect can (`indexed_by`).
    Index(&'static str),
    /// From this FROM clause instead, whose rows name the contact in `contact`. It may name
    /// the contact being tested as `c.id`.
    Through {
        from: &'static str,
        contact: &'static str,
    },
}

/// How expensive a test is to evaluate per contact, so that groups try cheap tests first
/// (AND and OR stop at the first decisive child).
fn cost(c: &Condition) -> u8 {
    match c {
        Condition::Field { .. } => 0,
        Condition::Tag(_) | Condition::Custom { .. } => 1,
        Condition::LastCategory(_) | Condition::Cart { .. } | Condition::List(_) => 2,
        Condition::Engagement {
            campaign: Some(_), ..
        } => 2,
        Condition::Event { .. }
        | Condition::ViewedCategory { .. }
        | Condition::Orders(_)
        | Condition::Engagement { .. } => 3,
        Condition::All(children) | Condition::Any(children) => {
            children.iter().map(cost).max().unwrap_or(0)
        }
        Condition::Not(inner) => cost(inner),
    }
}

struct Compiler<'q, D> {
    q: &'q mut Sql,
    now: Timestamp,
    form: Form,
    dialect: std::marker::PhantomData<D>,
}

impl<'q, D: SegmentDialect> Compiler<'q, D> {
    fn new(q: &'q mut Sql, now: Timestamp, form: Form) -> Self {
        Compiler {
            q,
            now,
            form,
            dialect: std::marker::PhantomData,
        }
    }

    fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::All(children) => self.group(children, " AND ", "(1 = 1)"),
            Condition::Any(children) => self.group(children, " OR ", "(1 = 0)"),
            Condition::Not(inner) => format!("(NOT {})", self.condition(inner)),
            Condition::Field { field, test } => {
                let column = format!("c.{}", field.name());
                match test {
                    FieldTest::Text(t) => self.text(&column, t),
                    FieldTest::Number(cmp, d) => self.number(D::BONUS, *cmp, d),
                    FieldTest::Time(t) => match t.bound(self.now) {
                        TimeBound::AtOrAfter(at) => format!("({column} >= {})", self.q.int(at.0)),
                        TimeBound::Before(at) => format!("({column} < {})", self.q.int(at.0)),
                    },
                }
            }
            Condition::Custom { key, test } => {
                let k = D::custom_key(self.q, key);
                match test {
                    CustomTest::Text(TextTest::Empty) => format!("({})", D::custom_empty(&k)),
                    CustomTest::Text(TextTest::NotEmpty) => {
                        format!("(NOT {})", D::custom_empty(&k))
                    }
                    CustomTest::Text(t) => self.text(&D::custom_text(&k), t),
                    CustomTest::Number(cmp, d) => self.number(&D::custom_number(&k), *cmp, d),
                    CustomTest::Bool { value, negated } => {
                        let test = D::custom_bool(&k, *value);
                        if *negated {
                            format!("(NOT {test})")
                        } else {
                            format!("({test})")
                        }
                    }
                }
            }
            Condition::Tag(tag) => format!("({})", D::has_tag(self.q, tag)),
            Condition::List(list) => {
                let list = self.q.int(list.0);
                self.related(Related {
                    from: "list_members m JOIN lists l ON l.id = m.list_id",
                    contact: "m.contact_id",
                    by_contact: ByContact::Planner,
                    filter: format!("m.list_id = {list} AND l.site_id = $1"),
                    having: None,
                })
            }
            Condition::Event {
                event_type,
                within_days,
                min_count,
            } => {
                let mut filter = format!(
                    "e.site_id = $1 AND e.event_type = {}",
                    self.q.text(event_type)
                );
                self.window(&mut filter, "e.received_at", *within_days);
                let having = (*min_count > 1)
                    .then(|| format!("count(*) >= {}", self.q.int(i64::from(*min_count))));
                self.related(events::<D>(filter, having))
            }
            Condition::ViewedCategory {
                category_id,
                within_days,
            } => {
                let mut filter = format!(
                    "e.site_id = $1 AND e.event_type = {} AND {} = {}",
                    self.q.text(CATEGORY_VIEWED_EVENT),
                    D::EVENT_CATEGORY,
                    self.q.text(category_id)
                );
                self.window(&mut filter, "e.received_at", *within_days);
                self.related(events::<D>(filter, None))
            }
            Condition::LastCategory(category) => {
                let filter = format!(
                    "s.site_id = $1 AND s.last_category_id = {}",
                    self.q.text(category)
                );
                self.related(state(filter))
            }
            Condition::Cart { empty } => {
                let has_items =
                    self.related(state(format!("s.site_id = $1 AND {}", D::CART_NOT_EMPTY)));
                if *empty {
                    format!("(NOT {has_items})")
                } else {
                    has_items
                }
            }
            Condition::Orders(test) => self.orders(test),
            Condition::Engagement {
                action,
                campaign,
                within_days,
            } => {
                let kinds = action
                    .kinds()
                    .iter()
                    .map(|k| format!("'{k}'"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let mut filter = format!("t.site_id = $1 AND t.kind IN ({kinds})");
                if let Some(campaign) = campaign {
                    let _ = write!(filter, " AND t.campaign_id = {}", self.q.int(*campaign));
                }
                self.window(&mut filter, "t.created_at", *within_days);
                self.related(Related {
                    from: "tracking_events t",
                    contact: "t.contact_id",
                    by_contact: ByContact::Index("tracking_events_contact"),
                    filter,
                    having: None,
                })
            }
        }
    }

    fn group(&mut self, children: &[Condition], joiner: &str, empty: &str) -> String {
        if children.is_empty() {
            return empty.to_string();
        }
        let mut ordered: Vec<&Condition> = children.iter().collect();
        ordered.sort_by_key(|c| cost(c));
        let parts: Vec<String> = ordered.into_iter().map(|c| self.condition(c)).collect();
        format!("({})", parts.join(joiner))
    }

    fn window(&mut self, filter: &mut String, column: &str, days: Option<u32>) {
        if let Some(days) = days {
            let since = Condition::window_start(self.now, days);
            let _ = write!(filter, " AND {column} >= {}", self.q.int(since.0));
        }
    }

    /// A text test on `expr`, which may be NULL (and then the test is false). `coalesce`
    /// keeps the result two-valued while evaluating `expr` (a JSON extraction) only once.
    fn text(&mut self, expr: &str, test: &TextTest) -> String {
        let eq = |s: &mut Self, v: &str| {
            let p = s.q.text(v);
            format!("coalesce({expr} = {p}, FALSE)")
        };
        let any_of = |s: &mut Self, vs: &[String]| {
            let ps: Vec<String> = vs.iter().map(|v| s.q.text(v)).collect();
            format!("coalesce({expr} IN ({}), FALSE)", ps.join(", "))
        };
        let empty = format!("(coalesce({expr}, '') = '')");
        match test {
            TextTest::Eq(v) => eq(self, v),
            TextTest::Ne(v) => format!("(NOT {})", eq(self, v)),
            TextTest::In(vs) => any_of(self, vs),
            TextTest::NotIn(vs) => format!("(NOT {})", any_of(self, vs)),
            TextTest::Contains(v) => {
                let p = self.q.text(v);
                format!("coalesce({}, FALSE)", D::contains(expr, &p))
            }
            TextTest::StartsWith(v) => {
                let p = self.q.text(v);
                format!("coalesce({}, FALSE)", D::starts_with(expr, &p))
            }
            TextTest::Empty => empty,
            TextTest::NotEmpty => format!("(NOT {empty})"),
            TextTest::Order(cmp, v) => {
                let p = self.q.text(v);
                format!("coalesce({expr}{} {} {p}, FALSE)", D::BYTE_ORDER, cmp.sql())
            }
        }
    }

    /// `expr cmp d`, false when `expr` is NULL; `ne` as `not eq`.
    fn number(&mut self, expr: &str, cmp: Cmp, d: &Decimal) -> String {
        let p = D::number(self.q, d);
        match cmp {
            Cmp::Ne => format!("(NOT coalesce({expr} = {p}, FALSE))"),
            _ => format!("coalesce({expr} {} {p}, FALSE)", cmp.sql()),
        }
    }

    fn related(&mut self, r: Related) -> String {
        match self.form {
            Form::Sets => {
                let group = r
                    .having
                    .map(|h| format!(" GROUP BY {} HAVING {h}", r.contact))
                    .unwrap_or_default();
                format!(
                    "c.id IN (SELECT {contact} FROM {from} WHERE {filter} AND {contact} IS NOT NULL{group})",
                    contact = r.contact,
                    from = r.from,
                    filter = r.filter,
                )
            }
            Form::Joinable if r.having.is_some() => {
                format!(
                    "EXISTS (SELECT 1 FROM (SELECT {contact} FROM {from} WHERE {filter} GROUP BY {contact} \
                     HAVING {having}) x WHERE x.contact_id = c.id)",
                    contact = r.contact,
                    from = r.from,
                    filter = r.filter,
                    having = r.having.unwrap_or_default(),
                )
            }
            Form::PerContact | Form::Joinable => {
                let (from, contact) = match r.by_contact {
                    ByContact::Planner => (r.from.to_string(), r.contact),
                    ByContact::Index(index) => (D::indexed_by(r.from, index), r.contact),
                    ByContact::Through { from, contact } => (from.to_string(), contact),
                };
                let group = r
                    .having
                    .map(|h| format!(" GROUP BY {contact} HAVING {h}"))
                    .unwrap_or_default();
                format!(
                    "EXISTS (SELECT 1 FROM {from} WHERE {contact} = c.id AND {filter}{group})",
                    filter = r.filter,
                )
            }
        }
    }

    fn orders(&mut self, test: &OrderTest) -> String {
        match test {
            OrderTest::Count {
                cmp,
                value,
                within_days,
            } => {
                let p = self.q.int(*value);
                self.order_aggregate(*within_days, cmp.holds(0.cmp(value)), |_| {
                    format!("count(*) {} {p}", cmp.sql())
                })
            }
            OrderTest::Sum {
                cmp,
                value,
                within_days,
            } => {
                let zero = if value.as_i64() == Some(0) {
                    std::cmp::Ordering::Equal
                } else {
                    std::cmp::Ordering::Less
                };
                self.order_aggregate(*within_days, cmp.holds(zero), |q| {
                    format!("{} {} 0", D::order_sum_sign(q, value), cmp.sql())
                })
            }
            OrderTest::LastStatus(t) => {
                let (statuses, negated) = match t {
                    TextTest::Eq(v) => (std::slice::from_ref(v), false),
                    TextTest::Ne(v) => (std::slice::from_ref(v), true),
                    TextTest::In(vs) => (vs.as_slice(), false),
                    TextTest::NotIn(vs) => (vs.as_slice(), true),
                    // The parser allows nothing else for statuses.
                    _ => (&[][..], false),
                };
                let ps: Vec<String> = statuses.iter().map(|s| self.q.text(s)).collect();
                // An order of the status that no other order of the contact comes after
                // (by creation time, then id): one index probe per order of the status.
                let filter = format!(
                    "o.site_id = $1 AND o.status IN ({}) AND NOT EXISTS (SELECT 1 FROM orders n \
                     WHERE n.site_id = o.site_id AND n.contact_id = o.contact_id \
                     AND (n.created_at > o.created_at OR (n.created_at = o.created_at AND n.id > o.id)))",
                    ps.join(", ")
                );
                let last_in = self.related(orders(filter, None));
                if negated {
                    format!("(NOT {last_in})")
                } else {
                    last_in
                }
            }
            OrderTest::LastDate(t) => {
                let having = match t.bound(self.now) {
                    TimeBound::AtOrAfter(at) => {
                        format!("max(o.created_at) >= {}", self.q.int(at.0))
                    }
                    TimeBound::Before(at) => format!("max(o.created_at) < {}", self.q.int(at.0)),
                };
                self.related(orders("o.site_id = $1".to_string(), Some(having)))
            }
        }
    }

    /// A count or sum over the contact's orders that are not cancelled (in the window).
    /// Contacts without such orders have a count and sum of 0: when 0 satisfies the test,
    /// the result is everyone except those whose orders fail it.
    fn order_aggregate(
        &mut self,
        within_days: Option<u32>,
        zero_holds: bool,
        having: impl FnOnce(&mut Sql) -> String,
    ) -> String {
        let mut filter = "o.site_id = $1 AND o.status <> 'cancelled'".to_string();
        self.window(&mut filter, "o.created_at", within_days);
        let having = having(self.q);
        if zero_holds {
            let failing = self.related(orders(filter, Some(format!("NOT ({having})"))));
            format!("(NOT {failing})")
        } else {
            self.related(orders(filter, Some(having)))
        }
    }
}

fn events<D: SegmentDialect>(filter: String, having: Option<String>) -> Related {
    Related {
        from: "events e",
        contact: "e.contact_id",
        by_contact: D::EVENTS_BY_CONTACT,
        filter,
        having,
    }
}

fn orders(filter: String, having: Option<String>) -> Related {
    Related {
        from: "orders o",
        contact: "o.contact_id",
        by_contact: ByContact::Index("orders_site_contact"),
        filter,
        having,
    }
}

fn state(filter: String) -> Related {
    Related {
        from: "contact_state s",
        contact: "s.contact_id",
        by_contact: ByContact::Planner,
        filter,
        having: None,
    }
}
