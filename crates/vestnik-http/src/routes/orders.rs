//! The seed's orders node, `POST /api/v1/orders` (JSON-RPC 2.0): `add_order`,
//! `set_order_status`, `get_order`, and its method map at `GET /api/v1/orders/map`.
//!
//! The shop's backend reports orders and their status changes here; each change feeds
//! automation through the outbox. Answers match the seed byte for byte (see `jsonrpc`), and a
//! request without a valid `API-KEY` is refused with 403, as the seed documents.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use vestnik_domain::{
    Email, Money, NewOrder, Order, OrderItem, OrderStatus, Phone, SiteId, StatusUpdate, Store,
    StoreError, Timestamp,
};

use crate::AppState;
use crate::auth::SiteKey;
use crate::error::ApiError;
use crate::jsonrpc::{self, Args, MethodMap, MethodSpec, Node, ParamSpec, RpcError};

pub const NODE_PATH: &str = "/api/v1/orders";

static METHODS: [MethodSpec; 3] = [
    MethodSpec {
        name: "add_order",
        description: "Records a new order with status submitted and ties it to the buyer's contact (created when unknown).",
        params: &[
            ParamSpec {
                name: "order_id",
                kind: "string",
                required: true,
                description: "The shop's order number, unique within the site.",
            },
            ParamSpec {
                name: "email",
                kind: "string",
                required: false,
                description: "The buyer's email; email or phone is required.",
            },
            ParamSpec {
                name: "phone",
                kind: "string",
                required: false,
                description: "The buyer's phone, international format (+79161234567).",
            },
            ParamSpec {
                name: "items",
                kind: "array",
                required: true,
                description: "Order lines: [{\"offer_id\": \"...\", \"price\": 1500.50, \"quantity\": 2}].",
            },
            ParamSpec {
                name: "total",
                kind: "number",
                required: true,
                description: "The order total, kept exactly as sent.",
            },
            ParamSpec {
                name: "created_at",
                kind: "string",
                required: false,
                description: "When the order was placed, RFC 3339 (2024-05-01T12:00:00+03:00); now when omitted.",
            },
        ],
    },
    MethodSpec {
        name: "set_order_status",
        description: "Changes an order's status: submitted, paid, delivered or cancelled.",
        params: &[
            ParamSpec {
                name: "order_id",
                kind: "string",
                required: true,
                description: "The shop's order number.",
            },
            ParamSpec {
                name: "status",
                kind: "string",
                required: true,
                description: "One of submitted, paid, delivered, cancelled.",
            },
        ],
    },
    MethodSpec {
        name: "get_order",
        description: "Returns an order with its items, total, status and status history.",
        params: &[ParamSpec {
            name: "order_id",
            kind: "string",
            required: true,
            description: "The shop's order number.",
        }],
    },
];

/// The node for one authenticated site: every call acts on this site's orders only.
struct OrdersNode<'a> {
    store: &'a dyn Store,
    site: SiteId,
}

impl Node for OrdersNode<'_> {
    fn methods(&self) -> &'static [MethodSpec] {
        &METHODS
    }

    fn path(&self) -> &'static str {
        NODE_PATH
    }

    async fn call(
        &self,
        method: &'static MethodSpec,
        args: Args,
    ) -> Result<Box<RawValue>, RpcError> {
        match method.name {
            "add_order" => self.add_order(&args).await,
            "set_order_status" => self.set_order_status(&args).await,
            "get_order" => self.get_order(&args).await,
            // Only reachable if METHODS lists a method this match forgot.
            other => Err(RpcError::MethodNotFound(format!("no method `{other}`"))),
        }
    }
}

/// The seed's success shape: `{"status": "ok", "message": "..."}`.
#[derive(Serialize, ToSchema)]
pub struct StatusResult {
    status: &'static str,
    message: &'static str,
}

const ORDER_EXISTS: &str = "Order with this id already exists";
const ORDER_MISSING: &str = "Order with this id doesn't exist";
const STATUS_ALREADY_SET: &str = "Order status already set";

impl OrdersNode<'_> {
    async fn add_order(&self, args: &Args) -> Result<Box<RawValue>, RpcError> {
        let order = NewOrder {
            order_id: order_id(args)?,
            email: optional_text(args, "email")?
                .map(|e| Email::parse(&e))
                .transpose()
                .map_err(invalid)?,
            phone: optional_text(args, "phone")?
                .map(|p| Phone::parse(&p))
                .transpose()
                .map_err(invalid)?,
            items: items(args)?,
            total: money(args.raw("total"), "total")?,
            created_at: optional_text(args, "created_at")?
                .map(|t| {
                    Timestamp::parse_rfc3339(&t).ok_or_else(|| {
                        RpcError::Validation(format!(
                            "created_at: `{t}` is not an RFC 3339 time; send e.g. 2024-05-01T12:00:00+03:00"
                        ))
                    })
                })
                .transpose()?,
        };
        order.validate().map_err(invalid)?;
        match self.store.add_order(&self.site, &order).await {
            Ok(_) => jsonrpc::result(&StatusResult {
                status: "ok",
                message: "Order added",
            }),
            Err(StoreError::Conflict(_)) => Err(RpcError::Validation(ORDER_EXISTS.into())),
            Err(e) => Err(store_failure(e)),
        }
    }

    async fn set_order_status(&self, args: &Args) -> Result<Box<RawValue>, RpcError> {
        let order_id = order_id(args)?;
        // Any status that is not one of ours, whatever its JSON type, gets the seed's message.
        let status = args
            .raw("status")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
            .and_then(|s| s.parse::<OrderStatus>().ok())
            .ok_or_else(|| RpcError::Validation(OrderStatus::possible_statuses_message()))?;
        match self
            .store
            .set_order_status(&self.site, &order_id, status)
            .await
        {
            Ok(StatusUpdate::Changed(_)) => jsonrpc::result(&StatusResult {
                status: "ok",
                message: "Order status changed",
            }),
            Ok(StatusUpdate::AlreadySet) => Err(RpcError::Validation(STATUS_ALREADY_SET.into())),
            Err(e) => Err(store_failure(e)),
        }
    }

    async fn get_order(&self, args: &Args) -> Result<Box<RawValue>, RpcError> {
        let order_id = order_id(args)?;
        let order = self
            .store
            .get_order(&self.site, &order_id)
            .await
            .map_err(store_failure)?;
        jsonrpc::result(&OrderView::from(&order))
    }
}

fn invalid(e: vestnik_domain::ValidationError) -> RpcError {
    RpcError::Validation(e.to_string())
}

fn store_failure(e: StoreError) -> RpcError {
    match e {
        StoreError::NotFound(_) => RpcError::Validation(ORDER_MISSING.into()),
        StoreError::Conflict(msg) => RpcError::Validation(msg),
        StoreError::Invalid(v) => invalid(v),
        StoreError::Unavailable(msg) => {
            tracing::warn!(error = %msg, "orders node: database unavailable");
            RpcError::Unavailable
        }
        StoreError::Internal(msg) => {
            tracing::error!(error = %msg, "orders node: database error");
            RpcError::Internal
        }
    }
}

/// A JSON string or number as text; a number keeps the digits it was sent with.
fn text_of(raw: &RawValue, field: &str) -> Result<String, RpcError> {
    let t = raw.get().trim();
    if t.starts_with('"') {
        return serde_json::from_str::<String>(t)
            .map_err(|e| RpcError::Validation(format!("{field}: {e}")));
    }
    if t.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        return Ok(t.to_string());
    }
    Err(RpcError::Validation(format!(
        "{field}: must be a string, got {t}"
    )))
}

fn optional_text(args: &Args, name: &str) -> Result<Option<String>, RpcError> {
    args.raw(name).map(|raw| text_of(raw, name)).transpose()
}

fn order_id(args: &Args) -> Result<String, RpcError> {
    let id = optional_text(args, "order_id")?
        .ok_or_else(|| RpcError::InvalidParams("missing the parameter `order_id`".into()))?;
    vestnik_domain::order::validate_order_id(&id).map_err(invalid)?;
    Ok(id)
}

fn money(raw: Option<&RawValue>, field: &str) -> Result<Money, RpcError> {
    let raw = raw.ok_or_else(|| RpcError::Validation(format!("{field}: required")))?;
    Money::parse(field, &text_of(raw, field)?).map_err(invalid)
}

fn items(args: &Args) -> Result<Vec<OrderItem>, RpcError> {
    const FIELDS: [&str; 3] = ["offer_id", "price", "quantity"];
    let shape = || {
        RpcError::Validation(
            "items: must be a list of {\"offer_id\": ..., \"price\": ..., \"quantity\": ...}"
                .to_string(),
        )
    };
    let raw = args.raw("items").ok_or_else(shape)?;
    let lines: Vec<Box<RawValue>> = serde_json::from_str(raw.get()).map_err(|_| shape())?;
    if lines.len() > vestnik_domain::order::MAX_ORDER_ITEMS {
        return Err(RpcError::Validation(format!(
            "items: at most {} per order",
            vestnik_domain::order::MAX_ORDER_ITEMS
        )));
    }
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let fields: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(line.get()).map_err(|_| shape())?;
        if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(RpcError::Validation(format!(
                "items[{i}]: unknown field `{unknown}`; an item has offer_id, price and quantity"
            )));
        }
        let field = |name: &str| fields.get(name).map(|v| &**v).filter(|v| v.get() != "null");
        let offer_id = field("offer_id")
            .map(|v| text_of(v, &format!("items[{i}].offer_id")))
            .transpose()?
            .ok_or_else(|| RpcError::Validation(format!("items[{i}].offer_id: required")))?;
        let price = money(field("price"), &format!("items[{i}].price"))?;
        let quantity = field("quantity")
            .and_then(|v| {
                let t = v.get().trim().trim_matches('"');
                t.parse::<u32>().ok()
            })
            .filter(|q| *q > 0)
            .ok_or_else(|| {
                RpcError::Validation(format!(
                    "items[{i}].quantity: must be a whole number from 1"
                ))
            })?;
        out.push(OrderItem {
            offer_id,
            price,
            quantity,
        });
    }
    Ok(out)
}

/// An amount written as a JSON number with exactly the digits the shop sent.
#[derive(ToSchema)]
#[schema(value_type = f64)]
pub struct Amount(Box<RawValue>);

impl Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl From<&Money> for Amount {
    fn from(m: &Money) -> Self {
        // A Money is plain decimal text, hence valid JSON; the string form is only a fallback.
        Amount(
            RawValue::from_string(m.as_str().to_string())
                .or_else(|_| serde_json::value::to_raw_value(m.as_str()))
                .unwrap_or_default(),
        )
    }
}

/// `get_order`'s result.
#[derive(Serialize, ToSchema)]
pub struct OrderView {
    order_id: String,
    /// submitted, paid, delivered or cancelled.
    status: String,
    email: Option<String>,
    phone: Option<String>,
    /// The buyer's contact id in Vestnik; null once that contact was erased.
    contact_id: Option<i64>,
    items: Vec<ItemView>,
    total: Amount,
    /// RFC 3339.
    created_at: String,
    updated_at: String,
    /// Oldest first; the first entry is `submitted`.
    status_history: Vec<HistoryView>,
}

#[derive(Serialize, ToSchema)]
pub struct ItemView {
    offer_id: String,
    price: Amount,
    quantity: u32,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView {
    status: String,
    changed_at: String,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            order_id: o.order_id.clone(),
            status: o.status.as_str().to_string(),
            email: o.email.as_ref().map(|e| e.as_str().to_string()),
            phone: o.phone.as_ref().map(|p| p.as_str().to_string()),
            contact_id: o.contact_id.map(|c| c.0),
            items: o
                .items
                .iter()
                .map(|i| ItemView {
                    offer_id: i.offer_id.clone(),
                    price: Amount::from(&i.price),
                    quantity: i.quantity,
                })
                .collect(),
            total: Amount::from(&o.total),
            created_at: o.created_at.to_rfc3339(),
            updated_at: o.updated_at.to_rfc3339(),
            status_history: o
                .status_history
                .iter()
                .map(|h| HistoryView {
                    status: h.status.as_str().to_string(),
                    changed_at: h.changed_at.to_rfc3339(),
                })
                .collect(),
        }
    }
}

// ---- OpenAPI documentation types: the body is read by `jsonrpc`, these only describe it. ----

/// A JSON-RPC 2.0 call (or send a JSON array of them: a batch, answered in order).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct JsonRpcCall {
    /// Always "2.0".
    jsonrpc: String,
    /// add_order, set_order_status or get_order (see GET /api/v1/orders/map).
    method: String,
    /// By name (an object) or by position (an array, in the order the map lists them).
    params: Option<OrderParams>,
    /// Any string or number; the answer carries the same id. Omit it for a notification (no answer).
    #[schema(value_type = Object)]
    id: Option<serde_json::Value>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum OrderParams {
    AddOrder(AddOrderParams),
    SetOrderStatus(SetOrderStatusParams),
    GetOrder(GetOrderParams),
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AddOrderParams {
    order_id: String,
    email: Option<String>,
    phone: Option<String>,
    items: Vec<AddOrderItem>,
    /// Kept exactly as sent (`3001.00` stays `3001.00`).
    total: f64,
    /// RFC 3339; now when omitted.
    created_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AddOrderItem {
    offer_id: String,
    price: f64,
    /// 1 or more.
    quantity: u32,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct SetOrderStatusParams {
    order_id: String,
    /// submitted, paid, delivered or cancelled.
    status: String,
}

#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct GetOrderParams {
    order_id: String,
}

/// A JSON-RPC answer: `result` on success, `error` otherwise.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct JsonRpcAnswer {
    jsonrpc: String,
    /// StatusResult for add_order and set_order_status, OrderView for get_order.
    #[schema(value_type = Object)]
    result: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    id: Option<serde_json::Value>,
    /// `{"message": "Server error", "code": -32000, "data": {"message": ..., "args": [...], "type": "ValidationError"}}`
    /// for a refused call; standard codes -32700, -32600, -32601, -32602, -32603 otherwise.
    #[schema(value_type = Object)]
    error: Option<serde_json::Value>,
}

/// The orders node (seed: "Изменение статуса заказа"): JSON-RPC 2.0 methods `add_order`,
/// `set_order_status` and `get_order`; the path also works with a trailing slash.
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "public",
    security(("api_key" = [])),
    request_body(
        content = JsonRpcCall,
        examples(
            ("set_order_status" = (summary = "The seed's example", value = json!(
                {"method": "set_order_status", "params": {"order_id": "f168148717", "status": "paid"}, "jsonrpc": "2.0", "id": 0}
            ))),
            ("add_order" = (summary = "A new order", value = json!(
                {"method": "add_order", "params": {"order_id": "f168148717", "email": "buyer@mail.ru", "phone": "+79161234567",
                 "items": [{"offer_id": "sku-1", "price": 1500.50, "quantity": 2}], "total": 3001.00,
                 "created_at": "2024-05-01T12:00:00+03:00"}, "jsonrpc": "2.0", "id": 1}
            ))),
            ("get_order by position" = (summary = "Params as a list", value = json!(
                {"method": "get_order", "params": ["f168148717"], "jsonrpc": "2.0", "id": 2}
            )))
        )
    ),
    responses(
        (status = 200, description = "The answer, including a method's refusal (HTTP 200 with `error`, as the seed does); a batch gets a list", body = JsonRpcAnswer,
            examples(
                ("status changed" = (value = json!({"jsonrpc": "2.0", "result": {"status": "ok", "message": "Order status changed"}, "id": 0}))),
                ("invalid status" = (value = json!({"jsonrpc": "2.0", "id": 0, "error": {"message": "Server error", "code": -32000,
                    "data": {"message": "Possible statuses: cancelled, delivered, paid, submitted",
                             "args": ["Possible statuses: cancelled, delivered, paid, submitted"], "type": "ValidationError"}}}))),
                ("unknown order" = (value = json!({"jsonrpc": "2.0", "id": 0, "error": {"message": "Server error", "code": -32000,
                    "data": {"message": "Order with this id doesn't exist", "args": ["Order with this id doesn't exist"], "type": "ValidationError"}}})))
            )),
        (status = 204, description = "Only notifications (calls without id) were sent"),
        (status = 400, description = "Not JSON (-32700) or not a JSON-RPC call (-32600); the body is the JSON-RPC error", body = JsonRpcAnswer),
        (status = 403, description = "No API key, or an invalid or revoked one", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody)
    )
)]
pub async fn orders_rpc(
    State(state): State<AppState>,
    key: Result<SiteKey, ApiError>,
    body: Bytes,
) -> Response {
    let key = match key {
        Ok(k) => k,
        Err(e) => return refused(e),
    };
    let node = OrdersNode {
        store: state.store.as_ref(),
        site: key.site_id,
    };
    jsonrpc::dispatch(&node, &body).await.into_response()
}

/// The seed answers 403 to a request without a usable key; our extractor's 401 becomes 403
/// here, keeping its message. Failures on our side (the database) keep their 5xx.
fn refused(mut e: ApiError) -> Response {
    if e.status == StatusCode::UNAUTHORIZED {
        e.status = StatusCode::FORBIDDEN;
        e.detail.kind = "forbidden";
    }
    e.into_response()
}

/// The node's method map: each method with its params and a one-line description. JSON for
/// programs; an HTML page when a browser asks for `text/html`. Needs no key, like the seed's.
#[utoipa::path(
    get,
    path = "/api/v1/orders/map",
    tag = "public",
    responses(
        (status = 200, description = "The method map", content(
            ("application/json", example = json!({"node": "/api/v1/orders", "protocol": "JSON-RPC 2.0", "methods": [
                {"name": "set_order_status", "description": "Changes an order's status: submitted, paid, delivered or cancelled.",
                 "params": [{"name": "order_id", "type": "string", "required": true, "description": "The shop's order number."},
                            {"name": "status", "type": "string", "required": true, "description": "One of submitted, paid, delivered, cancelled."}]}
            ]})),
            ("text/html")
        ))
    )
)]
pub async fn orders_map(headers: HeaderMap) -> Response {
    let map = MethodMap::new(NODE_PATH, &METHODS);
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        return Html(map.to_html()).into_response();
    }
    match crate::seed_json::to_python_string(&map) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(_) => ApiError::internal().into_response(),
    }
}
