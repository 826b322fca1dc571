//! A small JSON-RPC 2.0 dispatcher for the seed's API nodes (`/api/v1/<node>`).
//!
//! It owns the protocol, not the methods: parsing single and batch calls, binding params given
//! by name (object) or by position (array) against a node's declared parameters, and writing
//! answers in the seed's shape and spacing — the seed's service is Python's `json-rpc` package,
//! so a method's refusal is `{"message": "Server error", "code": -32000, "data": {"message": …,
//! "args": [...], "type": "ValidationError"}}` with HTTP 200. A node ([`Node`]) declares its
//! methods ([`MethodSpec`], also shown by its `/map` page) and runs them.
//!
//! Parameter values are kept as raw JSON text until the method reads them, so that a price sent
//! as `1500.50` reaches the method as `1500.50`, not as the float `1500.5`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::future::Future;

use crate::seed_json::to_python_string;

/// More calls in one batch than this is refused as a whole: one HTTP request should not hold
/// the database for minutes.
pub const MAX_BATCH: usize = 1000;

/// One method of a node, as dispatching binds it and as its method map shows it.
#[derive(Debug, Serialize)]
pub struct MethodSpec {
    pub name: &'static str,
    /// One line for the method map.
    pub description: &'static str,
    /// In positional order: a params array binds to these in turn.
    pub params: &'static [ParamSpec],
}

#[derive(Debug, Serialize)]
pub struct ParamSpec {
    pub name: &'static str,
    /// The JSON type expected, for the map (`string`, `number`, `array`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub required: bool,
    pub description: &'static str,
}

/// A call's parameters, bound to the method's declared names; values still raw JSON text.
#[derive(Debug)]
pub struct Args {
    values: BTreeMap<&'static str, Box<RawValue>>,
}

impl Args {
    /// The parameter's raw JSON, `None` when it was not sent or sent as `null`.
    pub fn raw(&self, name: &str) -> Option<&RawValue> {
        self.values.get(name).map(|v| &**v)
    }
}

/// Why a call failed, each with its JSON-RPC code.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("the body is not valid JSON: {0}")]
    Parse(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    MethodNotFound(String),
    #[error("{0}")]
    InvalidParams(String),
    /// The method refused the call; the message is for the shop's developer (the seed's
    /// `ValidationError`, code -32000).
    #[error("{0}")]
    Validation(String),
    /// The database is unreachable or busy; the same call may work shortly.
    #[error("temporarily unavailable; retry shortly")]
    Unavailable,
    /// A bug or a broken database; details are in the server log, not in the answer.
    #[error("internal error; the server log has the details")]
    Internal,
}

impl RpcError {
    pub fn code(&self) -> i32 {
        match self {
            RpcError::Parse(_) => -32700,
            RpcError::InvalidRequest(_) => -32600,
            RpcError::MethodNotFound(_) => -32601,
            RpcError::InvalidParams(_) => -32602,
            RpcError::Validation(_) => -32000,
            RpcError::Unavailable | RpcError::Internal => -32603,
        }
    }

    /// The standard short message for the code, as Python's `json-rpc` writes it.
    fn title(&self) -> &'static str {
        match self {
            RpcError::Parse(_) => "Parse error",
            RpcError::InvalidRequest(_) => "Invalid Request",
            RpcError::MethodNotFound(_) => "Method not found",
            RpcError::InvalidParams(_) => "Invalid params",
            RpcError::Validation(_) => "Server error",
            RpcError::Unavailable | RpcError::Internal => "Internal error",
        }
    }

    /// The Python exception name `json-rpc` puts in `data.type`.
    fn data_type(&self) -> &'static str {
        match self {
            RpcError::Parse(_) => "JSONDecodeError",
            RpcError::InvalidRequest(_) => "InvalidRequest",
            RpcError::MethodNotFound(_) => "MethodNotFound",
            RpcError::InvalidParams(_) => "TypeError",
            RpcError::Validation(_) => "ValidationError",
            RpcError::Unavailable => "Unavailable",
            RpcError::Internal => "InternalError",
        }
    }

    /// The HTTP status of a single (non-batch) call that failed this way: the seed answers
    /// 200 for everything a method says; a body that is not a call at all is the client's
    /// bug (400), and our own failure is a 5xx so that HTTP-level retries kick in.
    fn http_status(&self) -> StatusCode {
        match self {
            RpcError::Parse(_) | RpcError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            RpcError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RpcError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::OK,
        }
    }
}

/// An API node: its methods, and how to run one.
pub trait Node: Sync {
    fn methods(&self) -> &'static [MethodSpec];
    /// The node's URL path, named in "unknown method" answers so the client finds the map.
    fn path(&self) -> &'static str;
    /// Runs a method whose params were bound; the result is JSON text (see [`result`]).
    fn call(
        &self,
        method: &'static MethodSpec,
        args: Args,
    ) -> impl Future<Output = Result<Box<RawValue>, RpcError>> + Send;
}

/// A method's result as JSON text spaced as Python prints it, field order kept.
pub fn result<T: Serialize>(value: &T) -> Result<Box<RawValue>, RpcError> {
    to_python_string(value)
        .ok()
        .and_then(|text| RawValue::from_string(text).ok())
        .ok_or(RpcError::Internal)
}

/// The answer to a POST: a status and a body (none when every call was a notification).
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<String>,
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self.body {
            Some(body) => (
                self.status,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        }
    }
}

#[derive(Serialize)]
struct Success<'a> {
    jsonrpc: &'static str,
    result: &'a RawValue,
    id: &'a Value,
}

#[derive(Serialize)]
struct Failure<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    error: ErrorObject,
}

#[derive(Serialize)]
struct ErrorObject {
    message: &'static str,
    code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<ErrorData>,
}

#[derive(Serialize)]
struct ErrorData {
    message: String,
    args: Vec<String>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The fields a call may have; anything else makes it an invalid request.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCall {
    #[serde(default)]
    jsonrpc: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    params: Option<Box<RawValue>>,
    /// `None` when absent (a notification: no answer), `Some(Null)` when sent as null.
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn error_text(id: &Value, e: &RpcError) -> String {
    let data = match e {
        RpcError::Internal => None,
        other => Some(ErrorData {
            message: other.to_string(),
            args: vec![other.to_string()],
            kind: other.data_type(),
        }),
    };
    let failure = Failure {
        jsonrpc: "2.0",
        id,
        error: ErrorObject {
            message: e.title(),
            code: e.code(),
            data,
        },
    };
    to_python_string(&failure).unwrap_or_else(|_| {
        r#"{"jsonrpc": "2.0", "id": null, "error": {"message": "Internal error", "code": -32603}}"#
            .to_string()
    })
}

/// One call's answer: its text, and the error it carries, if any (for the HTTP status).
struct Answer {
    text: String,
    error: Option<RpcError>,
}

fn failed(id: &Value, e: RpcError) -> Answer {
    Answer {
        text: error_text(id, &e),
        error: Some(e),
    }
}

/// Runs a POSTed body: one call or a batch.
pub async fn dispatch<N: Node>(node: &N, body: &[u8]) -> Reply {
    let whole: Box<RawValue> = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let answer = failed(&Value::Null, RpcError::Parse(e.to_string()));
            return single_reply(answer);
        }
    };
    if !whole.get().trim_start().starts_with('[') {
        return match call_one(node, &whole).await {
            Some(answer) => single_reply(answer),
            None => Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
            },
        };
    }
    let calls: Vec<Box<RawValue>> = match serde_json::from_str(whole.get()) {
        Ok(calls) => calls,
        Err(e) => return single_reply(failed(&Value::Null, RpcError::Parse(e.to_string()))),
    };
    if calls.is_empty() {
        let e = RpcError::InvalidRequest("an empty batch; send at least one call".into());
        return single_reply(failed(&Value::Null, e));
    }
    if calls.len() > MAX_BATCH {
        let e = RpcError::InvalidRequest(format!(
            "a batch of {} calls; send at most {MAX_BATCH} per request",
            calls.len()
        ));
        return single_reply(failed(&Value::Null, e));
    }
    // In order, one after another: a batch that adds an order and then sets its status must
    // see the order.
    let mut answers = Vec::with_capacity(calls.len());
    for call in &calls {
        if let Some(answer) = call_one(node, call).await {
            answers.push(answer.text);
        }
    }
    if answers.is_empty() {
        return Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
        };
    }
    Reply {
        status: StatusCode::OK,
        // Python's list spacing, each answer already spaced the same way.
        body: Some(format!("[{}]", answers.join(", "))),
    }
}

fn single_reply(answer: Answer) -> Reply {
    Reply {
        status: answer
            .error
            .as_ref()
            .map_or(StatusCode::OK, RpcError::http_status),
        body: Some(answer.text),
    }
}

/// One call; `None` for a notification (no `id`), which runs but gets no answer.
async fn call_one<N: Node>(node: &N, raw: &RawValue) -> Option<Answer> {
    let call: RawCall = match serde_json::from_str(raw.get()) {
        Ok(c) => c,
        Err(e) => {
            // Answer with the id when the call has a readable one, as the spec asks.
            let id = serde_json::from_str::<serde_json::Map<String, Value>>(raw.get())
                .ok()
                .and_then(|m| m.get("id").cloned())
                .filter(valid_id)
                .unwrap_or(Value::Null);
            let why = if raw.get().trim_start().starts_with('{') {
                format!("not a JSON-RPC call: {e}")
            } else {
                "a call must be a JSON object with jsonrpc, method, params and id".to_string()
            };
            return Some(failed(&id, RpcError::InvalidRequest(why)));
        }
    };
    let id = call.id.clone().unwrap_or(Value::Null);
    if call.id.as_ref().is_some_and(|id| !valid_id(id)) {
        let e = RpcError::InvalidRequest("`id` must be a string, a number or null".into());
        return Some(failed(&Value::Null, e));
    }
    let notification = call.id.is_none();
    let outcome = run(node, call).await;
    if notification {
        return None;
    }
    Some(match outcome {
        Ok(result) => {
            let success = Success {
                jsonrpc: "2.0",
                result: &result,
                id: &id,
            };
            match to_python_string(&success) {
                Ok(text) => Answer { text, error: None },
                Err(_) => failed(&id, RpcError::Internal),
            }
        }
        Err(e) => failed(&id, e),
    })
}

fn valid_id(id: &Value) -> bool {
    matches!(id, Value::String(_) | Value::Number(_) | Value::Null)
}

async fn run<N: Node>(node: &N, call: RawCall) -> Result<Box<RawValue>, RpcError> {
    match &call.jsonrpc {
        Some(Value::String(v)) if v == "2.0" => {}
        _ => {
            return Err(RpcError::InvalidRequest(
                "`jsonrpc` must be \"2.0\"".to_string(),
            ));
        }
    }
    let name = match &call.method {
        Some(Value::String(m)) => m.as_str(),
        _ => {
            return Err(RpcError::InvalidRequest(
                "`method` must be the method's name as a string".to_string(),
            ));
        }
    };
    let method = node
        .methods()
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = node.methods().iter().map(|m| m.name).collect();
            RpcError::MethodNotFound(format!(
                "no method `{name}`; this node has {} (see GET {}/map)",
                names.join(", "),
                node.path()
            ))
        })?;
    let args = bind(method, call.params.as_deref())?;
    node.call(method, args).await
}

/// Binds params given by name or by position to the method's declared parameters.
fn bind(method: &'static MethodSpec, params: Option<&RawValue>) -> Result<Args, RpcError> {
    let declared = || {
        method
            .params
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut values: BTreeMap<&'static str, Box<RawValue>> = BTreeMap::new();
    let text = params.map(|p| p.get().trim_start()).unwrap_or("null");
    if text.starts_with('{') {
        let given: BTreeMap<String, Box<RawValue>> = serde_json::from_str(text)
            .map_err(|e| RpcError::InvalidParams(format!("params: {e}")))?;
        for (name, value) in given {
            let Some(spec) = method.params.iter().find(|p| p.name == name) else {
                return Err(RpcError::InvalidParams(format!(
                    "{}() got an unexpected parameter `{name}`; it takes {}",
                    method.name,
                    declared()
                )));
            };
            values.insert(spec.name, value);
        }
    } else if text.starts_with('[') {
        let given: Vec<Box<RawValue>> = serde_json::from_str(text)
            .map_err(|e| RpcError::InvalidParams(format!("params: {e}")))?;
        if given.len() > method.params.len() {
            return Err(RpcError::InvalidParams(format!(
                "{}() takes at most {} parameters ({}), {} given",
                method.name,
                method.params.len(),
                declared(),
                given.len()
            )));
        }
        for (spec, value) in method.params.iter().zip(given) {
            values.insert(spec.name, value);
        }
    } else if text != "null" {
        return Err(RpcError::InvalidRequest(
            "`params` must be an object (by name) or an array (by position)".to_string(),
        ));
    }
    // A null is the same as not sending the parameter.
    values.retain(|_, v| v.get().trim() != "null");
    if let Some(missing) = method
        .params
        .iter()
        .find(|p| p.required && !values.contains_key(p.name))
    {
        return Err(RpcError::InvalidParams(format!(
            "{}() is missing the required parameter `{}`",
            method.name, missing.name
        )));
    }
    Ok(Args { values })
}

/// The node's method map as JSON: what `GET /api/v1/<node>/map` answers to programs.
#[derive(Serialize)]
pub struct MethodMap {
    pub node: &'static str,
    pub protocol: &'static str,
    pub methods: &'static [MethodSpec],
}

impl MethodMap {
    pub fn new(node: &'static str, methods: &'static [MethodSpec]) -> Self {
        MethodMap {
            node,
            protocol: "JSON-RPC 2.0",
            methods,
        }
    }

    /// The same map as a page for people who open it in a browser.
    pub fn to_html(&self) -> String {
        let mut page = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Methods of {node}</title>\
             <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}}\
             table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}}\
             code{{background:#f4f4f4;padding:0 .2rem}}</style></head><body>\n\
             <h1>Methods of <code>{node}</code></h1>\n\
             <p>{protocol} over POST with the <code>API-KEY</code> header; params by name (object) or by position (array).</p>\n",
            node = escape(self.node),
            protocol = escape(self.protocol),
        );
        for m in self.methods {
            page.push_str(&format!(
                "<h2 id=\"{name}\"><code>{name}</code></h2>\n<p>{description}</p>\n\
                 <table><tr><th>#</th><th>param</th><th>type</th><th>required</th><th>description</th></tr>\n",
                name = escape(m.name),
                description = escape(m.description),
            ));
            for (i, p) in m.params.iter().enumerate() {
                page.push_str(&format!(
                    "<tr><td>{i}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                    escape(p.name),
                    escape(p.kind),
                    if p.required { "yes" } else { "no" },
                    escape(p.description),
                ));
            }
            page.push_str("</table>\n");
        }
        page.push_str("</body></html>\n");
        page
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    static ECHO_PARAMS: [ParamSpec; 2] = [
        ParamSpec {
            name: "a",
            kind: "number",
            required: true,
            description: "first",
        },
        ParamSpec {
            name: "b",
            kind: "number",
            required: false,
            description: "second",
        },
    ];
    static METHODS: [MethodSpec; 2] = [
        MethodSpec {
            name: "echo",
            description: "Returns its params as raw text.",
            params: &ECHO_PARAMS,
        },
        MethodSpec {
            name: "refuse",
            description: "Always refuses.",
            params: &[],
        },
    ];

    struct Echo;

    impl Node for Echo {
        fn methods(&self) -> &'static [MethodSpec] {
            &METHODS
        }
        fn path(&self) -> &'static str {
            "/api/v1/echo"
        }
        async fn call(
            &self,
            method: &'static MethodSpec,
            args: Args,
        ) -> Result<Box<RawValue>, RpcError> {
            if method.name == "refuse" {
                return Err(RpcError::Validation("Possible statuses: paid".into()));
            }
            let a = args.raw("a").map(RawValue::get).unwrap_or("-");
            let b = args.raw("b").map(RawValue::get).unwrap_or("-");
            result(&format!("{a} {b}"))
        }
    }

    async fn post(body: &str) -> (StatusCode, String) {
        let reply = dispatch(&Echo, body.as_bytes()).await;
        (reply.status, reply.body.unwrap_or_default())
    }

    #[tokio::test]
    async fn binds_params_by_name_and_by_position_keeping_number_text() {
        let (status, body) =
            post(r#"{"jsonrpc":"2.0","method":"echo","params":{"b":1.50,"a":2},"id":0}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, r#"{"jsonrpc": "2.0", "result": "2 1.50", "id": 0}"#);
        let (_, body) = post(r#"{"jsonrpc":"2.0","method":"echo","params":[3],"id":"x"}"#).await;
        assert_eq!(body, r#"{"jsonrpc": "2.0", "result": "3 -", "id": "x"}"#);
    }

    #[tokio::test]
    async fn method_refusals_have_the_seeds_shape() {
        let (status, body) = post(r#"{"jsonrpc":"2.0","method":"refuse","id":0}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            r#"{"jsonrpc": "2.0", "id": 0, "error": {"message": "Server error", "code": -32000, "data": {"message": "Possible statuses: paid", "args": ["Possible statuses: paid"], "type": "ValidationError"}}}"#
        );
    }

    #[tokio::test]
    async fn protocol_errors_use_the_standard_codes() {
        let code = |body: &str| -> i64 {
            let v: Value = serde_json::from_str(body).unwrap();
            v["error"]["code"].as_i64().unwrap()
        };
        let (status, body) = post("{not json").await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, -32700));
        let (status, body) = post(r#"{"method":"echo","id":1}"#).await;
        assert_eq!((status, code(&body)), (StatusCode::BAD_REQUEST, -32600));
        let (_, body) = post(r#"{"jsonrpc":"2.0","method":"echo","id":1,"extra":1}"#).await;
        assert_eq!(code(&body), -32600);
        let (status, body) = post(r#"{"jsonrpc":"2.0","method":"nope","id":1}"#).await;
        assert_eq!((status, code(&body)), (StatusCode::OK, -32601));
        assert!(body.contains("GET /api/v1/echo/map"), "{body}");
        for params in [r#"{"b":1}"#, r#"{"a":1,"c":2}"#, "[1,2,3]", "[]"] {
            let call = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{params},"id":1}}"#);
            let (status, body) = post(&call).await;
            assert_eq!((status, code(&body)), (StatusCode::OK, -32602), "{params}");
        }
        let (_, body) = post(r#"{"jsonrpc":"2.0","method":"echo","params":5,"id":1}"#).await;
        assert_eq!(code(&body), -32600);
        let (_, body) = post(r#"{"jsonrpc":"2.0","method":"echo","params":[1],"id":{}}"#).await;
        assert_eq!(code(&body), -32600);
    }

    #[tokio::test]
    async fn batches_answer_each_call_in_order_and_skip_notifications() {
        let (status, body) = post(
            r#"[{"jsonrpc":"2.0","method":"echo","params":[1],"id":1},
                {"jsonrpc":"2.0","method":"echo","params":[2]},
                {"jsonrpc":"2.0","method":"refuse","id":3},
                5]"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_str(&body).unwrap();
        let answers = v.as_array().unwrap();
        assert_eq!(answers.len(), 3);
        assert_eq!(answers[0]["result"], "1 -");
        assert_eq!(answers[1]["error"]["code"], -32000);
        assert_eq!(answers[2]["error"]["code"], -32600);
        assert!(body.starts_with(r#"[{"jsonrpc": "2.0", "#));

        let (status, body) = post("[]").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("-32600"));
        let (status, body) = post(r#"[{"jsonrpc":"2.0","method":"echo","params":[1]}]"#).await;
        assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    }

    #[test]
    fn the_html_map_lists_every_method_escaped() {
        let html = MethodMap::new("/api/v1/echo", &METHODS).to_html();
        assert!(html.contains("<code>echo</code>"));
        assert!(html.contains("<code>refuse</code>"));
        assert!(html.contains("Returns its params as raw text."));
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
