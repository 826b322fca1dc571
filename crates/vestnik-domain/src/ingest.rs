//! Validating incoming events ("Generate event v2") and what each one changes in a contact's
//! state. Pure functions: the HTTP layer parses, this module decides, the store writes.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::contact::{Email, Phone};
use crate::event::{ContactState, StandardEvent};
use crate::time::Timestamp;

/// How many recently viewed products a contact keeps.
pub const VIEWED_CAP: usize = 50;
/// How many wishlist items a contact keeps.
pub const WISHLIST_CAP: usize = 100;
/// Longest accepted custom event type key.
pub const MAX_EVENT_TYPE_LEN: usize = 100;
/// Most params in one event.
pub const MAX_PARAMS: usize = 100;

/// The request body, as the seed defines it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvent {
    #[serde(rename = "eventTypeKey")]
    pub event_type_key: String,
    #[serde(rename = "keyValue", default)]
    pub key_value: Option<Value>,
    #[serde(default)]
    pub params: Vec<RawParam>,
    /// Our addition: makes a retried request a no-op (the `Idempotency-Key` header also works).
    #[serde(rename = "eventId", default)]
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    pub name: String,
    #[serde(default)]
    pub value: Value,
}

/// Why an event was refused; `param` names the culprit so the sender can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EventError {
    pub param: Option<String>,
    pub message: String,
}

impl EventError {
    fn param(name: &str, message: impl Into<String>) -> Self {
        EventError {
            param: Some(name.to_string()),
            message: message.into(),
        }
    }

    fn general(message: impl Into<String>) -> Self {
        EventError {
            param: None,
            message: message.into(),
        }
    }
}

/// What an event changes in the contact's state.
#[derive(Debug, Clone, PartialEq)]
pub enum StateChange {
    None,
    Viewed(Value),
    Category(String),
    Cart {
        products: Vec<Value>,
        recycle_state_id: String,
    },
    Wishlist(Value),
    Search {
        query: String,
        found: bool,
    },
}

/// An event that passed validation, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidEvent {
    pub event_type: String,
    pub standard: Option<StandardEvent>,
    pub key_value: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    /// The params' names, in name order.
    pub param_names: Vec<String>,
    /// Param name → value, JSON-in-a-string values decoded, as a JSON object: encoded here,
    /// once, because validation runs in parallel request handlers while the store's writer
    /// is serial and should only write.
    pub params_json: String,
    pub idempotency_key: Option<String>,
    pub change: StateChange,
}

fn is_valid_custom_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_EVENT_TYPE_LEN
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Decodes a param documented as "JSON in a string"; an already-decoded object is accepted.
fn decode_json_param(name: &str, value: &Value) -> Result<Value, EventError> {
    match value {
        Value::String(s) => serde_json::from_str(s).map_err(|e| {
            EventError::param(
                name,
                format!("param `{name}` must be JSON in a string: {e}"),
            )
        }),
        Value::Object(_) | Value::Array(_) => Ok(value.clone()),
        _ => Err(EventError::param(
            name,
            format!("param `{name}` must be JSON in a string"),
        )),
    }
}

fn require_object<'v>(name: &str, v: &'v Value) -> Result<&'v Map<String, Value>, EventError> {
    v.as_object()
        .ok_or_else(|| EventError::param(name, format!("param `{name}` must be a JSON object")))
}

fn require_text(param: &str, obj: &Map<String, Value>, field: &str) -> Result<String, EventError> {
    obj.get(field)
        .and_then(text)
        .ok_or_else(|| EventError::param(param, format!("`{param}.{field}` is required")))
}

fn require_number(param: &str, obj: &Map<String, Value>, field: &str) -> Result<f64, EventError> {
    let v = obj
        .get(field)
        .ok_or_else(|| EventError::param(param, format!("`{param}.{field}` is required")))?;
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.filter(|n| n.is_finite() && *n >= 0.0).ok_or_else(|| {
        EventError::param(
            param,
            format!("`{param}.{field}` must be a non-negative number"),
        )
    })
}

/// Optional product fields the seed documents, checked when present.
fn check_optional_product_fields(param: &str, obj: &Map<String, Value>) -> Result<(), EventError> {
    if let Some(v) = obj.get("isInStock") {
        let ok = matches!(v.as_i64(), Some(0 | 1))
            || matches!(v.as_str().map(str::trim), Some("0" | "1"));
        if !ok {
            return Err(EventError::param(
                param,
                format!("`{param}.isInStock` must be 0 or 1"),
            ));
        }
    }
    if let Some(v) = obj.get("someProductProperty") {
        let ok = match v {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            return Err(EventError::param(
                param,
                format!("`{param}.someProductProperty` must be a string or a list of strings"),
            ));
        }
    }
    Ok(())
}

fn check_currency(params: &Map<String, Value>) -> Result<(), EventError> {
    if let Some(v) = params.get("currencyCode") {
        let code = v.as_str().unwrap_or_default();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(EventError::param(
                "currencyCode",
                "`currencyCode` must be an ISO 4217 code such as USD, EUR or RUB",
            ));
        }
    }
    Ok(())
}

/// Checks the `product` param of a productViewed or productAddedToWishlist event.
fn check_product(params: &Map<String, Value>) -> Result<(), EventError> {
    let param = "product";
    let value = params
        .get(param)
        .ok_or_else(|| EventError::param(param, format!("param `{param}` is required")))?;
    let obj = require_object(param, value)?;
    require_text(param, obj, "productId")?;
    require_number(param, obj, "price")?;
    check_optional_product_fields(param, obj)
}

fn product_list(
    params: &Map<String, Value>,
    need_price_and_quantity: bool,
) -> Result<Vec<Value>, EventError> {
    let value = params
        .get("products")
        .ok_or_else(|| EventError::param("products", "param `products` is required"))?;
    let items = value
        .as_array()
        .ok_or_else(|| EventError::param("products", "param `products` must be a JSON list"))?;
    for (i, item) in items.iter().enumerate() {
        let name = format!("products[{i}]");
        let obj = item.as_object().ok_or_else(|| {
            EventError::param("products", format!("`{name}` must be a JSON object"))
        })?;
        require_text("products", obj, "productId").map_err(|_| {
            EventError::param("products", format!("`{name}.productId` is required"))
        })?;
        if need_price_and_quantity {
            for field in ["quantity", "price"] {
                require_number("products", obj, field).map_err(|_| {
                    EventError::param(
                        "products",
                        format!("`{name}.{field}` is required and must be a non-negative number"),
                    )
                })?;
            }
        }
        check_optional_product_fields("products", obj)?;
    }
    Ok(items.clone())
}

/// Checks an event against the seed's rules and works out what it changes.
/// `idempotency_header` is the request's `Idempotency-Key`, if any.
pub fn validate(raw: RawEvent, idempotency_header: Option<&str>) -> Result<ValidEvent, EventError> {
    let event_type = raw.event_type_key.trim().to_string();
    let standard = StandardEvent::from_key(&event_type);
    if standard.is_none() && !is_valid_custom_key(&event_type) {
        return Err(EventError::param(
            "eventTypeKey",
            format!(
                "`eventTypeKey` must be 1 to {MAX_EVENT_TYPE_LEN} characters of letters, digits, _ - . or :"
            ),
        ));
    }
    if raw.params.len() > MAX_PARAMS {
        return Err(EventError::general(format!(
            "at most {MAX_PARAMS} params per event"
        )));
    }
    let json_params = standard.map(StandardEvent::json_params).unwrap_or(&[]);
    let mut params = Map::new();
    for p in raw.params {
        let name = p.name.trim().to_string();
        if name.is_empty() {
            return Err(EventError::general("every param needs a non-empty `name`"));
        }
        let value = if json_params.contains(&name.as_str()) {
            decode_json_param(&name, &p.value)?
        } else {
            p.value
        };
        params.insert(name, value);
    }

    let email = params
        .get("email")
        .and_then(text)
        .map(|e| Email::parse(&e).map_err(|err| EventError::param("email", err.message)))
        .transpose()?;
    let phone = params
        .get("phone")
        .and_then(text)
        .map(|p| Phone::parse(&p).map_err(|err| EventError::param("phone", err.message)))
        .transpose()?;
    // The seed fills keyValue from the locators when it is absent.
    let key_value = raw
        .key_value
        .as_ref()
        .and_then(text)
        .or_else(|| email.as_ref().map(|e| e.to_string()))
        .or_else(|| phone.as_ref().map(|p| p.to_string()))
        .or_else(|| params.get("externalCustomerId").and_then(text))
        .ok_or_else(|| {
            EventError::param(
                "keyValue",
                "the event needs `keyValue` or a locator param (`email`, `phone` or `externalCustomerId`)",
            )
        })?;
    check_currency(&params)?;

    let mut change = match standard {
        None => StateChange::None,
        Some(StandardEvent::PageViewed) => {
            let page = params
                .get("page")
                .ok_or_else(|| EventError::param("page", "param `page` is required"))?;
            require_text("page", require_object("page", page)?, "location")?;
            StateChange::None
        }
        // The product itself moves in from `params` below, once they are encoded.
        Some(StandardEvent::ProductViewed) => {
            check_product(&params)?;
            StateChange::Viewed(Value::Null)
        }
        Some(StandardEvent::ProductAddedToWishlist) => {
            check_product(&params)?;
            StateChange::Wishlist(Value::Null)
        }
        Some(StandardEvent::ProductCategoryViewed) => {
            let category = params
                .get("category")
                .ok_or_else(|| EventError::param("category", "param `category` is required"))?;
            StateChange::Category(require_text(
                "category",
                require_object("category", category)?,
                "productCategoryId",
            )?)
        }
        Some(StandardEvent::CartUpdated) => {
            let recycle_state_id =
                params.get("recycleStateId").and_then(text).ok_or_else(|| {
                    EventError::param("recycleStateId", "param `recycleStateId` is required")
                })?;
            // An empty or missing list is an emptied cart.
            let products = if params.contains_key("products") {
                product_list(&params, true)?
            } else {
                Vec::new()
            };
            StateChange::Cart {
                products,
                recycle_state_id,
            }
        }
        Some(StandardEvent::ProductImpressions) => {
            let variant = params.get("recomVariantId").and_then(text).ok_or_else(|| {
                EventError::param("recomVariantId", "param `recomVariantId` is required")
            })?;
            if !is_recom_variant(&variant) {
                return Err(EventError::param(
                    "recomVariantId",
                    format!(
                        "`recomVariantId` must look like r{{recomId}}v{{variantId}}, e.g. r12v3; got `{variant}`"
                    ),
                ));
            }
            product_list(&params, false)?;
            StateChange::None
        }
        Some(StandardEvent::SearchRequest) => {
            let query = params
                .get("search")
                .and_then(text)
                .ok_or_else(|| EventError::param("search", "param `search` is required"))?;
            let found = match params.get("isFound") {
                None => false,
                Some(v) => match (v.as_i64(), v.as_str().map(str::trim)) {
                    (Some(0), _) | (_, Some("0")) => false,
                    (Some(1), _) | (_, Some("1")) => true,
                    _ => return Err(EventError::param("isFound", "`isFound` must be 0 or 1")),
                },
            };
            StateChange::Search { query, found }
        }
    };

    let idempotency_key = raw
        .event_id
        .or_else(|| idempotency_header.map(str::to_string))
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty());
    if idempotency_key.as_ref().is_some_and(|k| k.len() > 200) {
        return Err(EventError::param(
            "eventId",
            "`eventId` must be at most 200 characters",
        ));
    }
    let params_json = serde_json::to_string(&params).expect("a map of JSON values always encodes");
    // From here on the params are needed by name only: their values are in `params_json`, and
    // a viewed or wishlist change takes its product without copying it.
    let mut param_names = Vec::with_capacity(params.len());
    for (name, value) in params {
        if name == "product"
            && let StateChange::Viewed(product) | StateChange::Wishlist(product) = &mut change
        {
            *product = value;
        }
        param_names.push(name);
    }
    Ok(ValidEvent {
        event_type,
        standard,
        key_value,
        email,
        phone,
        param_names,
        params_json,
        idempotency_key,
        change,
    })
}

fn is_recom_variant(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('r') else {
        return false;
    };
    let Some((recom, variant)) = rest.split_once('v') else {
        return false;
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    digits(recom) && digits(variant)
}

fn product_id(item: &Value) -> Option<String> {
    item.get("productId").and_then(text)
}

/// `product_id(item) == id`, without making a String of a text id (lists are compared on
/// every event, item by item).
fn has_product_id(item: &Value, id: Option<&str>) -> bool {
    match (item.get("productId"), id) {
        (Some(Value::String(s)), Some(id)) => s.trim() == id,
        (found, id) => found.and_then(text).as_deref() == id,
    }
}

/// The product an event puts on a list, stamped with the event's time under `field`.
fn stamped(product: &Value, field: &str, at: Timestamp) -> Value {
    let mut item = product.clone();
    if let Value::Object(map) = &mut item {
        map.insert(field.to_string(), Value::from(at.to_rfc3339()));
    }
    item
}

/// `stamped(product, field, at)` as compact JSON, written straight from the product: one
/// request handler's event spent a fifth of its time cloning the product's map, inserting
/// the stamp and encoding the copy. A JSON object's keys are kept sorted (serde_json's map
/// is a `BTreeMap`), so the stamp goes where the insert would have put it, replacing a key
/// of the same name.
fn stamped_json(product: &Value, field: &str, at: Timestamp) -> String {
    let Value::Object(map) = product else {
        return product.to_string();
    };
    /// One `"key":value` member, after a `{` or a `,`. Encoding JSON values and strings
    /// into memory cannot fail.
    fn member(out: &mut Vec<u8>, key: &str, value: &impl serde::Serialize) {
        out.push(if out.is_empty() { b'{' } else { b',' });
        let _ = serde_json::to_writer(&mut *out, key);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, value);
    }
    let stamp = at.to_rfc3339();
    let mut out: Vec<u8> = Vec::with_capacity(48 + 24 * map.len());
    let mut stamped = false;
    for (key, value) in map {
        if !stamped && key.as_str() >= field {
            member(&mut out, field, &stamp);
            stamped = true;
            if key == field {
                continue;
            }
        }
        member(&mut out, key, value);
    }
    if !stamped {
        member(&mut out, field, &stamp);
    }
    out.push(b'}');
    // serde_json writes UTF-8 only.
    String::from_utf8(out).unwrap_or_default()
}

impl ContactState {
    /// Applies what one event taught us. Viewed and wishlist lists keep the newest entry of
    /// each product first and drop the oldest beyond their caps.
    pub fn apply(&mut self, change: &StateChange, at: Timestamp) {
        let push_front = |list: &mut Vec<Value>, item: Value, cap: usize| {
            let id = product_id(&item);
            list.retain(|existing| !has_product_id(existing, id.as_deref()));
            list.insert(0, item);
            list.truncate(cap);
        };
        match change {
            StateChange::Viewed(product) => push_front(
                &mut self.viewed,
                stamped(product, "viewed_at", at),
                VIEWED_CAP,
            ),
            StateChange::Wishlist(product) => push_front(
                &mut self.wishlist,
                stamped(product, "added_at", at),
                WISHLIST_CAP,
            ),
            StateChange::Cart { products, .. } => self.cart = products.clone(),
            StateChange::None | StateChange::Category(_) | StateChange::Search { .. } => {}
        }
        self.apply_except_lists(change, at);
    }

    /// Applies all of the change but what it does to the `viewed`, `cart` and `wishlist`
    /// lists, for a store that keeps those itself (as `ListEntry` lists or JSON text).
    pub fn apply_except_lists(&mut self, change: &StateChange, at: Timestamp) {
        self.last_activity_at = Some(at);
        match change {
            StateChange::Category(id) => self.last_category_id = Some(id.clone()),
            StateChange::Cart {
                recycle_state_id, ..
            } => self.recycle_state_id = Some(recycle_state_id.clone()),
            StateChange::Search { query, found } => {
                self.last_search = Some(query.clone());
                self.last_search_found = Some(*found);
            }
            StateChange::None | StateChange::Viewed(_) | StateChange::Wishlist(_) => {}
        }
    }
}

/// An entry of a contact's viewed or wishlist list, already encoded: the product stamped
/// with the event's time, its JSON text, and the id lists compare entries by. Request
/// handlers make it (`EventToStore::new`), in parallel, so that a store's serial writer
/// moves text instead of cloning, stamping and encoding JSON values. The lists these entries
/// make are byte for byte the ones `ContactState::apply` makes.
#[derive(Debug, Clone, PartialEq)]
pub struct ListEntry {
    /// `productId`, trimmed (a number as its text); entries with the same id replace each other.
    pub product_id: Option<String>,
    /// The stamped product, as compact JSON.
    pub json: String,
}

impl ListEntry {
    /// The entry a viewed or wishlist change adds to its list; `None` for other changes.
    pub fn of_change(change: &StateChange, at: Timestamp) -> Option<ListEntry> {
        let (product, field) = match change {
            StateChange::Viewed(product) => (product, "viewed_at"),
            StateChange::Wishlist(product) => (product, "added_at"),
            _ => return None,
        };
        Some(ListEntry {
            product_id: product_id(product),
            json: stamped_json(product, field, at),
        })
    }

    /// The entries of a list as stored (a JSON array); anything else reads as an empty list,
    /// as `ContactState` reads it.
    pub fn decode_list(text: &str) -> Vec<ListEntry> {
        let Ok(items) = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(text) else {
            return Vec::new();
        };
        items
            .into_iter()
            .map(|raw| ListEntry {
                product_id: serde_json::from_str::<Value>(raw.get())
                    .ok()
                    .as_ref()
                    .and_then(product_id),
                json: raw.get().to_string(),
            })
            .collect()
    }

    /// Makes `entry` the list's newest: older entries of its product go, and the oldest
    /// beyond `cap`.
    pub fn push(list: &mut Vec<ListEntry>, entry: ListEntry, cap: usize) {
        list.retain(|existing| existing.product_id != entry.product_id);
        list.insert(0, entry);
        list.truncate(cap);
    }

    /// The list as a JSON array.
    pub fn encode_list(list: &[ListEntry]) -> String {
        let mut text =
            String::with_capacity(2 + list.iter().map(|e| e.json.len() + 1).sum::<usize>());
        text.push('[');
        for (i, entry) in list.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&entry.json);
        }
        text.push(']');
        text
    }
}

#[cfg(test)]
mod tests;
