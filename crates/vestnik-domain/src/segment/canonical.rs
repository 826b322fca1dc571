//! Writing a condition back in its canonical JSON form: the form `Condition::parse` reads,
//! with values normalised (trimmed tags, decimals without redundant zeros, ids as text).

use serde_json::{Map, Value, json};

use super::{Condition, CustomTest, Decimal, FieldTest, OrderTest, TextTest, TimeTest, TimeValue};

fn text_json(test: &TextTest) -> (&'static str, Option<Value>) {
    match test {
        TextTest::Eq(v) => ("eq", Some(json!(v))),
        TextTest::Ne(v) => ("ne", Some(json!(v))),
        TextTest::In(v) => ("in", Some(json!(v))),
        TextTest::NotIn(v) => ("not_in", Some(json!(v))),
        TextTest::Contains(v) => ("contains", Some(json!(v))),
        TextTest::StartsWith(v) => ("starts_with", Some(json!(v))),
        TextTest::Empty => ("empty", None),
        TextTest::NotEmpty => ("not_empty", None),
        TextTest::Order(cmp, v) => (cmp.name(), Some(json!(v))),
    }
}

fn time_json(test: &TimeTest) -> (&'static str, Value) {
    match test {
        TimeTest::WithinDays(d) => ("within_days", json!(d)),
        TimeTest::OlderThanDays(d) => ("older_than_days", json!(d)),
        TimeTest::Cmp(cmp, TimeValue::Date(d)) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            (cmp.name(), json!(d.format(&format).unwrap_or_default()))
        }
        TimeTest::Cmp(cmp, TimeValue::Instant(t)) => (cmp.name(), json!(t.to_rfc3339())),
    }
}

/// Decimals are written as JSON numbers when that is exact, else as strings.
fn decimal_json(d: &Decimal) -> Value {
    let text = d.to_string();
    match serde_json::from_str::<serde_json::Number>(&text) {
        Ok(n) if n.to_string() == text => Value::Number(n),
        _ => Value::String(text),
    }
}

fn leaf(mut head: Map<String, Value>, op: &str, value: Option<Value>) -> Value {
    head.insert("op".into(), json!(op));
    if let Some(v) = value {
        head.insert("value".into(), v);
    }
    Value::Object(head)
}

fn with_days(mut v: Value, days: Option<u32>) -> Value {
    if let (Some(d), Some(obj)) = (days, v.as_object_mut()) {
        obj.insert("within_days".into(), json!(d));
    }
    v
}

impl Condition {
    /// The canonical JSON form; [`Condition::parse`] reads it back to an equal condition.
    pub fn to_json(&self) -> Value {
        let head = |k: &str, v: Value| {
            let mut m = Map::new();
            m.insert(k.to_string(), v);
            m
        };
        match self {
            Condition::All(children) => {
                json!({"all": children.iter().map(Condition::to_json).collect::<Vec<_>>()})
            }
            Condition::Any(children) => {
                json!({"any": children.iter().map(Condition::to_json).collect::<Vec<_>>()})
            }
            Condition::Not(inner) => json!({"not": inner.to_json()}),
            Condition::Field { field, test } => {
                let head = head("field", json!(field.name()));
                match test {
                    FieldTest::Text(t) => {
                        let (op, value) = text_json(t);
                        leaf(head, op, value)
                    }
                    FieldTest::Number(cmp, d) => leaf(head, cmp.name(), Some(decimal_json(d))),
                    FieldTest::Time(t) => {
                        let (op, value) = time_json(t);
                        leaf(head, op, Some(value))
                    }
                }
            }
            Condition::Custom { key, test } => {
                let head = head("custom", json!(key));
                match test {
                    CustomTest::Text(t) => {
                        let (op, value) = text_json(t);
                        leaf(head, op, value)
                    }
                    CustomTest::Number(cmp, d) => leaf(head, cmp.name(), Some(decimal_json(d))),
                    CustomTest::Bool { value, negated } => {
                        leaf(head, if *negated { "ne" } else { "eq" }, Some(json!(value)))
                    }
                }
            }
            Condition::Tag(tag) => json!({"tag": tag}),
            Condition::List(list) => json!({"list": list.0}),
            Condition::Event {
                event_type,
                within_days,
                min_count,
            } => {
                let mut v = with_days(json!({"event": event_type}), *within_days);
                if *min_count > 1
                    && let Some(obj) = v.as_object_mut()
                {
                    obj.insert("min_count".into(), json!(min_count));
                }
                v
            }
            Condition::ViewedCategory {
                category_id,
                within_days,
            } => with_days(json!({"viewed_category": category_id}), *within_days),
            Condition::LastCategory(c) => json!({"last_category": c}),
            Condition::Cart { empty } => {
                json!({"cart": if *empty { "empty" } else { "not_empty" }})
            }
            Condition::Orders(test) => match test {
                OrderTest::Count {
                    cmp,
                    value,
                    within_days,
                } => with_days(
                    leaf(
                        head("orders", json!("count")),
                        cmp.name(),
                        Some(json!(value)),
                    ),
                    *within_days,
                ),
                OrderTest::Sum {
                    cmp,
                    value,
                    within_days,
                } => with_days(
                    leaf(
                        head("orders", json!("sum")),
                        cmp.name(),
                        Some(decimal_json(value)),
                    ),
                    *within_days,
                ),
                OrderTest::LastStatus(t) => {
                    let (op, value) = text_json(t);
                    leaf(head("orders", json!("last_status")), op, value)
                }
                OrderTest::LastDate(t) => {
                    let (op, value) = time_json(t);
                    leaf(head("orders", json!("last_date")), op, Some(value))
                }
            },
            Condition::Engagement {
                action,
                campaign,
                within_days,
            } => with_days(
                json!({action.name(): campaign.map_or(json!("any"), |c| json!(c))}),
                *within_days,
            ),
        }
    }
}
