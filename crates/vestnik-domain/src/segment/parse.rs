//! Reading the JSON form of a condition, with errors that name the bad node's path and say
//! what is allowed there (`canonical.rs` writes it back).

use serde_json::{Map, Value};

use super::{
    Cmp, Condition, ConditionError, ContactField, CustomTest, Decimal, EngagementAction, FieldKind,
    FieldTest, MAX_DAYS, MAX_DEPTH, MAX_LEAVES, MAX_TEXT_CHARS, MAX_VALUES, ORDER_STATUSES,
    OrderTest, TextTest, TimeTest, TimeValue,
};
use crate::ids::ListId;
use crate::time::Timestamp;

/// The key that says what kind of condition an object is.
const KINDS: &[&str] = &[
    "all",
    "any",
    "not",
    "field",
    "custom",
    "tag",
    "list",
    "event",
    "viewed_category",
    "last_category",
    "cart",
    "orders",
    "opened",
    "clicked",
];
const MAX_KEY_CHARS: usize = 100;
const MAX_MIN_COUNT: u64 = 1_000_000;
const MAX_ORDER_COUNT: u64 = 1_000_000_000;

const TEXT_OPS: &[&str] = &[
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "empty",
    "not_empty",
];
const CHOICE_OPS: &[&str] = &["eq", "ne", "in", "not_in"];
const DATE_OPS: &[&str] = &["eq", "ne", "gt", "gte", "lt", "lte", "empty", "not_empty"];
const NUMBER_OPS: &[&str] = &["eq", "ne", "gt", "gte", "lt", "lte"];
const TIME_OPS: &[&str] = &["gt", "gte", "lt", "lte", "within_days", "older_than_days"];
const CUSTOM_TEXT_OPS: &[&str] = &[
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "empty",
    "not_empty",
];
const BOOL_OPS: &[&str] = &["eq", "ne"];

fn err(path: &str, message: impl Into<String>) -> ConditionError {
    ConditionError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// `a, b, c or d`.
fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn cmp_from(op: &str) -> Option<Cmp> {
    Some(match op {
        "eq" => Cmp::Eq,
        "ne" => Cmp::Ne,
        "gt" => Cmp::Gt,
        "gte" => Cmp::Gte,
        "lt" => Cmp::Lt,
        "lte" => Cmp::Lte,
        _ => return None,
    })
}

impl Condition {
    /// Reads and checks a condition in its JSON form; errors name the path from `condition`.
    pub fn parse(value: &Value) -> Result<Condition, ConditionError> {
        Parser { leaves: 0 }.node(value, "condition", 1)
    }
}

struct Parser {
    leaves: usize,
}

/// One object node being read: its members and path.
struct Node<'a> {
    obj: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Node<'a> {
    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.path)
    }

    /// Refuses members other than `allowed`, naming what this kind of condition takes.
    fn only(&self, what: &str, allowed: &[&str]) -> Result<(), ConditionError> {
        match self.obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(extra) => Err(err(
                &self.at(extra),
                format!("not allowed here; {what} takes {}", one_of(allowed)),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key)
    }

    fn required(&self, key: &str, what: &str) -> Result<&'a Value, ConditionError> {
        self.get(key)
            .ok_or_else(|| err(&self.at(key), format!("missing; {what}")))
    }

    fn text(&self, key: &str, what: &str) -> Result<String, ConditionError> {
        text_value(self.required(key, what)?, &self.at(key))
    }

    fn days(&self, key: &str) -> Result<Option<u32>, ConditionError> {
        self.get(key).map(|v| days(v, &self.at(key))).transpose()
    }
}

/// A non-empty text of at most `MAX_TEXT_CHARS`; numbers are read as their text, since ids
/// (categories, custom values) come either way.
fn text_value(v: &Value, path: &str) -> Result<String, ConditionError> {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(err(path, format!("expected a text value, got {v}"))),
    };
    if s.is_empty() {
        return Err(err(
            path,
            "an empty text matches nothing; use the operator empty to find missing values",
        ));
    }
    if s.chars().count() > MAX_TEXT_CHARS {
        return Err(err(
            path,
            format!("values are at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(s)
}

fn text_list(v: &Value, path: &str) -> Result<Vec<String>, ConditionError> {
    let items = v.as_array().ok_or_else(|| {
        err(
            path,
            "in and not_in take a list of values, e.g. [\"Москва\", \"Казань\"]",
        )
    })?;
    if items.is_empty() || items.len() > MAX_VALUES {
        return Err(err(
            path,
            format!("the list needs 1 to {MAX_VALUES} values"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| text_value(item, &format!("{path}[{i}]")))
        .collect()
}

fn days(v: &Value, path: &str) -> Result<u32, ConditionError> {
    v.as_u64()
        .filter(|d| (1..=u64::from(MAX_DAYS)).contains(d))
        .map(|d| d as u32)
        .ok_or_else(|| {
            err(
                path,
                format!("a number of days is a whole number from 1 to {MAX_DAYS}, got {v}"),
            )
        })
}

fn decimal(v: &Value, path: &str, non_negative: bool) -> Result<Decimal, ConditionError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    };
    let parsed = Decimal::parse(&text).ok_or_else(|| {
        err(
            path,
            format!(
                "expected a number in plain decimal notation such as 1500 or 1500.50 (at most {} digits before the point and {} after), got {v}",
                super::decimal::MAX_INTEGER_DIGITS,
                super::decimal::MAX_FRACTION_DIGITS
            ),
        )
    })?;
    if non_negative && parsed.is_negative() {
        return Err(err(path, "must be 0 or more"));
    }
    Ok(parsed)
}

fn date_value(v: &Value, path: &str) -> Result<time::Date, ConditionError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    v.as_str()
        .and_then(|s| time::Date::parse(s, &format).ok())
        .ok_or_else(|| err(path, format!("expected a date as YYYY-MM-DD, got {v}")))
}

fn time_value(v: &Value, path: &str) -> Result<TimeValue, ConditionError> {
    if let Ok(date) = date_value(v, path) {
        return Ok(TimeValue::Date(date));
    }
    v.as_str()
        .and_then(Timestamp::parse_rfc3339)
        .map(TimeValue::Instant)
        .ok_or_else(|| {
            err(
                path,
                format!("expected a date (YYYY-MM-DD) or a moment (2026-01-31T12:00:00Z), got {v}"),
            )
        })
}

/// Reads `op` and checks it is one of `allowed` for `subject` (the error names both).
fn op<'a>(n: &Node<'a>, subject: &str, allowed: &[&str]) -> Result<&'a str, ConditionError> {
    let path = n.at("op");
    let raw = n.get("op").ok_or_else(|| {
        err(
            &path,
            format!(
                "missing; an operator for {subject} is one of {}",
                one_of(allowed)
            ),
        )
    })?;
    match raw.as_str() {
        Some(o) if allowed.contains(&o) => Ok(o),
        _ => Err(err(
            &path,
            format!(
                "{raw} is not an operator for {subject}; use {}",
                one_of(allowed)
            ),
        )),
    }
}

/// The value of a text-kind test for `op`; `check` vets each value (choices, dates).
fn text_test(
    n: &Node<'_>,
    op: &str,
    check: &dyn Fn(&str, &str) -> Result<(), ConditionError>,
) -> Result<TextTest, ConditionError> {
    let path = n.at("value");
    if matches!(op, "empty" | "not_empty") {
        if n.get("value").is_some() {
            return Err(err(&path, format!("{op} takes no value")));
        }
        return Ok(if op == "empty" {
            TextTest::Empty
        } else {
            TextTest::NotEmpty
        });
    }
    let raw = n.required("value", &format!("{op} compares with a value"))?;
    if matches!(op, "in" | "not_in") {
        let values = text_list(raw, &path)?;
        for (i, v) in values.iter().enumerate() {
            check(v, &format!("{path}[{i}]"))?;
        }
        return Ok(if op == "in" {
            TextTest::In(values)
        } else {
            TextTest::NotIn(values)
        });
    }
    let value = text_value(raw, &path)?;
    check(&value, &path)?;
    Ok(match op {
        "eq" => TextTest::Eq(value),
        "ne" => TextTest::Ne(value),
        "contains" => TextTest::Contains(value),
        "starts_with" => TextTest::StartsWith(value),
        other => match cmp_from(other) {
            Some(cmp) => TextTest::Order(cmp, value),
            None => return Err(err(&n.at("op"), format!("{other} is not a text operator"))),
        },
    })
}

fn any_text(_: &str, _: &str) -> Result<(), ConditionError> {
    Ok(())
}

fn choice_check(
    subject: &'static str,
    choices: &'static [&'static str],
) -> impl Fn(&str, &str) -> Result<(), ConditionError> {
    move |v, path| {
        if choices.contains(&v) {
            Ok(())
        } else {
            Err(err(
                path,
                format!("{subject} {v:?} does not exist; use {}", one_of(choices)),
            ))
        }
    }
}

fn time_test(n: &Node<'_>, op: &str) -> Result<TimeTest, ConditionError> {
    let path = n.at("value");
    let raw = n.required("value", &format!("{op} compares with a value"))?;
    Ok(match op {
        "within_days" => TimeTest::WithinDays(days(raw, &path)?),
        "older_than_days" => TimeTest::OlderThanDays(days(raw, &path)?),
        other => {
            let cmp = cmp_from(other).unwrap_or(Cmp::Gte);
            TimeTest::Cmp(cmp, time_value(raw, &path)?)
        }
    })
}

impl Parser {
    fn node(&mut self, v: &Value, path: &str, depth: usize) -> Result<Condition, ConditionError> {
        if depth > MAX_DEPTH {
            return Err(err(
                path,
                format!("conditions nest at most {MAX_DEPTH} levels deep; flatten the groups"),
            ));
        }
        let obj = v.as_object().ok_or_else(|| {
            err(
                path,
                format!(
                    "a condition is a JSON object such as {{\"field\": \"city\", \"op\": \"eq\", \"value\": \"Москва\"}}, got {v}"
                ),
            )
        })?;
        let n = Node { obj, path };
        let kinds: Vec<&str> = KINDS
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let kind = match kinds.as_slice() {
            [one] => *one,
            [] => {
                let what = match obj.keys().next() {
                    Some(k) => format!("{k:?} is not a kind of condition"),
                    None => "an empty object is not a condition".to_string(),
                };
                return Err(err(path, format!("{what}; use one of {}", one_of(KINDS))));
            }
            [a, b, ..] => {
                return Err(err(
                    path,
                    format!(
                        "one condition per object: {a} and {b} are two; put them in an \"all\" or \"any\" group"
                    ),
                ));
            }
        };
        match kind {
            "all" | "any" => {
                n.only(&format!("an {kind} group"), &[kind])?;
                let at = n.at(kind);
                let items = obj[kind]
                    .as_array()
                    .ok_or_else(|| err(&at, format!("{kind} takes a list of conditions")))?;
                if kind == "any" && items.is_empty() {
                    return Err(err(
                        &at,
                        "an empty any group matches nobody; add a condition or remove the group",
                    ));
                }
                let children = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, &format!("{at}[{i}]"), depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(if kind == "all" {
                    Condition::All(children)
                } else {
                    Condition::Any(children)
                });
            }
            "not" => {
                n.only("a not group", &["not"])?;
                let inner = self.node(&obj["not"], &n.at("not"), depth + 1)?;
                return Ok(Condition::Not(Box::new(inner)));
            }
            _ => {}
        }
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return Err(err(
                path,
                format!("a condition holds at most {MAX_LEAVES} tests; split it into segments"),
            ));
        }
        match kind {
            "field" => field(&n),
            "custom" => custom(&n),
            "tag" => {
                n.only("a tag condition", &["tag"])?;
                let tag = n.text("tag", "the tag to look for")?.trim().to_string();
                if tag.is_empty() || tag.chars().count() > 100 {
                    return Err(err(&n.at("tag"), "a tag is 1 to 100 characters"));
                }
                Ok(Condition::Tag(tag))
            }
            "list" => {
                n.only("a list condition", &["list"])?;
                let id = obj["list"].as_i64().filter(|id| *id > 0).ok_or_else(|| {
                    err(
                        &n.at("list"),
                        "a list is named by its id, a positive number",
                    )
                })?;
                Ok(Condition::List(ListId(id)))
            }
            "event" => {
                n.only("an event condition", &["event", "within_days", "min_count"])?;
                let event_type = n.text("event", "the event type, e.g. productViewed")?;
                if event_type.chars().count() > 100 {
                    return Err(err(
                        &n.at("event"),
                        "event types are at most 100 characters",
                    ));
                }
                let min_count = match n.get("min_count") {
                    None => 1,
                    Some(v) => v
                        .as_u64()
                        .filter(|c| (1..=MAX_MIN_COUNT).contains(c))
                        .map(|c| c as u32)
                        .ok_or_else(|| {
                            err(
                                &n.at("min_count"),
                                format!("min_count is a whole number from 1 to {MAX_MIN_COUNT}"),
                            )
                        })?,
                };
                Ok(Condition::Event {
                    event_type,
                    within_days: n.days("within_days")?,
                    min_count,
                })
            }
            "viewed_category" => {
                n.only(
                    "a viewed_category condition",
                    &["viewed_category", "within_days"],
                )?;
                Ok(Condition::ViewedCategory {
                    category_id: n.text("viewed_category", "the category id")?,
                    within_days: n.days("within_days")?,
                })
            }
            "last_category" => {
                n.only("a last_category condition", &["last_category"])?;
                Ok(Condition::LastCategory(
                    n.text("last_category", "the category id")?,
                ))
            }
            "cart" => {
                n.only("a cart condition", &["cart"])?;
                match obj["cart"].as_str() {
                    Some("empty") => Ok(Condition::Cart { empty: true }),
                    Some("not_empty") => Ok(Condition::Cart { empty: false }),
                    _ => Err(err(&n.at("cart"), "cart is \"empty\" or \"not_empty\"")),
                }
            }
            "orders" => orders(&n),
            _ => engagement(&n, kind),
        }
    }
}

fn field(n: &Node<'_>) -> Result<Condition, ConditionError> {
    n.only("a field condition", &["field", "op", "value"])?;
    let at = n.at("field");
    let raw = n.required("field", "name a contact field, e.g. city")?;
    let field = raw.as_str().and_then(ContactField::from_name).ok_or_else(|| {
        let names: Vec<&str> = ContactField::ALL.iter().map(|f| f.name()).collect();
        err(
            &at,
            format!(
                "{raw} is not a contact field; use {} (custom fields: {{\"custom\": \"key\", …}})",
                one_of(&names)
            ),
        )
    })?;
    let name = field.name();
    let test = match field.kind() {
        FieldKind::Text => FieldTest::Text(text_test(n, op(n, name, TEXT_OPS)?, &any_text)?),
        FieldKind::Choice(choices) => {
            let op = op(n, name, CHOICE_OPS)?;
            FieldTest::Text(text_test(n, op, &choice_check(name, choices))?)
        }
        FieldKind::Date => {
            let op = op(n, name, DATE_OPS)?;
            FieldTest::Text(text_test(n, op, &|v, path| {
                date_value(&Value::from(v), path).map(|_| ())
            })?)
        }
        FieldKind::Number => {
            let cmp = cmp_from(op(n, name, NUMBER_OPS)?).unwrap_or(Cmp::Eq);
            let value = decimal(
                n.required("value", "compare with a number")?,
                &n.at("value"),
                false,
            )?;
            FieldTest::Number(cmp, value)
        }
        FieldKind::Time => FieldTest::Time(time_test(n, op(n, name, TIME_OPS)?)?),
    };
    Ok(Condition::Field { field, test })
}

fn custom(n: &Node<'_>) -> Result<Condition, ConditionError> {
    n.only("a custom field condition", &["custom", "op", "value"])?;
    let key = n.text("custom", "name the custom field")?;
    if key.chars().count() > MAX_KEY_CHARS
        || key.chars().any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return Err(err(
            &n.at("custom"),
            format!(
                "a custom field key is 1 to {MAX_KEY_CHARS} characters without quotes, backslashes or control characters"
            ),
        ));
    }
    let subject = format!("custom field {key}");
    let test = match n.get("value") {
        None | Some(Value::String(_)) | Some(Value::Array(_)) => {
            CustomTest::Text(text_test(n, op(n, &subject, CUSTOM_TEXT_OPS)?, &any_text)?)
        }
        Some(v @ Value::Number(_)) => {
            let cmp =
                cmp_from(op(n, &format!("{subject} and a number"), NUMBER_OPS)?).unwrap_or(Cmp::Eq);
            CustomTest::Number(cmp, decimal(v, &n.at("value"), false)?)
        }
        Some(Value::Bool(value)) => {
            let op = op(n, &format!("{subject} and true/false"), BOOL_OPS)?;
            CustomTest::Bool {
                value: *value,
                negated: op == "ne",
            }
        }
        Some(other) => {
            return Err(err(
                &n.at("value"),
                format!("compare a custom field with text, a number or true/false, not {other}"),
            ));
        }
    };
    Ok(Condition::Custom { key, test })
}

fn orders(n: &Node<'_>) -> Result<Condition, ConditionError> {
    let at = n.at("orders");
    let aggregate = n.required(
        "orders",
        "what of the orders: count, sum, last_status or last_date",
    )?;
    let test = match aggregate.as_str() {
        Some(what @ ("count" | "sum")) => {
            n.only(
                &format!("an orders {what} condition"),
                &["orders", "op", "value", "within_days"],
            )?;
            let cmp =
                cmp_from(op(n, &format!("the orders {what}"), NUMBER_OPS)?).unwrap_or(Cmp::Eq);
            let value = n.required("value", "compare with a number")?;
            let within_days = n.days("within_days")?;
            if what == "count" {
                let value = value
                    .as_u64()
                    .filter(|c| *c <= MAX_ORDER_COUNT)
                    .ok_or_else(|| {
                        err(
                            &n.at("value"),
                            "an order count is a whole number, 0 or more",
                        )
                    })?;
                OrderTest::Count {
                    cmp,
                    value: value as i64,
                    within_days,
                }
            } else {
                OrderTest::Sum {
                    cmp,
                    value: decimal(value, &n.at("value"), true)?,
                    within_days,
                }
            }
        }
        Some("last_status") => {
            n.only(
                "an orders last_status condition",
                &["orders", "op", "value"],
            )?;
            let op = op(n, "the last order's status", CHOICE_OPS)?;
            OrderTest::LastStatus(text_test(
                n,
                op,
                &choice_check("order status", ORDER_STATUSES),
            )?)
        }
        Some("last_date") => {
            n.only("an orders last_date condition", &["orders", "op", "value"])?;
            OrderTest::LastDate(time_test(n, op(n, "the last order's date", TIME_OPS)?)?)
        }
        _ => {
            return Err(err(
                &at,
                format!(
                    "{aggregate} is not an order aggregate; use count, sum, last_status or last_date"
                ),
            ));
        }
    };
    Ok(Condition::Orders(test))
}

fn engagement(n: &Node<'_>, kind: &str) -> Result<Condition, ConditionError> {
    n.only(&format!("an {kind} condition"), &[kind, "within_days"])?;
    let action = if kind == "opened" {
        EngagementAction::Opened
    } else {
        EngagementAction::Clicked
    };
    let raw = &n.obj[kind];
    let campaign = match raw {
        Value::String(s) if s == "any" => None,
        _ => Some(raw.as_i64().filter(|id| *id > 0).ok_or_else(|| {
            err(
                &n.at(kind),
                "name a campaign by its id (a positive number), or \"any\"",
            )
        })?),
    };
    Ok(Condition::Engagement {
        action,
        campaign,
        within_days: n.days("within_days")?,
    })
}
