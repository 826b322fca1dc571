//! Vestnik's HTTP surface.
//!
//! A request's life: tower layers (request id, tracing, JSON error rewriting, timeout, panic
//! catcher, body limit, metrics) → the router → an extractor authenticates it (`auth::SiteKey` for shop
//! integrations, `auth::AdminSession` for the personal account) and hands the handler the
//! `SiteId` it may touch → a thin handler calls the store or engine → `error::ApiError` maps
//! any failure to one JSON error shape. Anything that still leaves as a non-JSON error (axum's
//! own rejections, a timeout, a panic) is rewritten by `json_errors`, so clients always get JSON.
//!
//! Every route is declared through `utoipa_axum`, so `/openapi.json` cannot drift from the
//! router.

pub mod auth;
pub mod error;
pub mod json;
pub mod jsonrpc;
pub mod key_cache;
pub mod metrics;
pub mod routes;
pub mod seed_json;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestnik_domain::Store;

pub use error::{ApiError, ApiResult};
pub use metrics::Metrics;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted; larger ones get 413.
    pub body_limit: usize,
    /// Requests running longer are answered 408 and dropped.
    pub request_timeout: Duration,
    /// How long an admin login lasts.
    pub session_ttl: Duration,
    /// Mark the session cookie `Secure` (set when serving over HTTPS).
    pub secure_cookies: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit: 16 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
        }
    }
}

/// What every handler shares. One `Arc`: axum clones the state for every request (each
/// `State` extractor and middleware layer), and a clone of the fields one by one was a dozen
/// atomic increments and decrements per request, about 3 % of the workers' time under load.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

pub struct SharedState {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub config: Arc<HttpConfig>,
    /// Recent API key lookups (see `key_cache` for how revocation propagates).
    pub keys: Arc<key_cache::KeyCache>,
    /// The group-commit writer that event ingestion submits to.
    pub events: vestnik_engine::EventWriter,
    /// Campaign sending's shared parts: the tracking key, public URL and SMTP pools.
    pub mail: vestnik_engine::campaign::MailContext,
    openapi: Arc<utoipa::openapi::OpenApi>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vestnik API",
        description = "Self-hosted marketing automation for online stores: public API for shops, admin API for the personal account."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "public", description = "Called by the shop's site and backend with the site API key"),
        (name = "admin", description = "The personal account: log in, manage sites and keys"),
        (name = "operations", description = "Health and metrics")
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "api-key",
                "The site's API key, `<site_id>:<secret>`. `API-KEY` works too.",
            ))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The documented routes; the OpenAPI document is built from exactly these.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::health::health))
        .routes(routes!(metrics::metrics))
        .routes(routes!(routes::site::current_site))
        .routes(routes!(routes::site::site_by_id))
        .routes(routes!(routes::events::generate_event))
        .routes(routes!(routes::events::generate_events))
        .routes(routes!(routes::events::event_types))
        .routes(routes!(routes::catalog::feed, routes::catalog::save_feed))
        .routes(routes!(routes::catalog::import_now))
        .routes(routes!(routes::catalog::imports))
        .routes(routes!(routes::catalog::offers))
        .routes(routes!(
            routes::templates::list_templates,
            routes::templates::create_template
        ))
        .routes(routes!(
            routes::templates::get_template,
            routes::templates::save_template
        ))
        .routes(routes!(routes::templates::template_versions))
        .routes(routes!(routes::templates::preview_template))
        .routes(routes!(
            routes::segments::list_segments,
            routes::segments::create_segment
        ))
        .routes(routes!(
            routes::segments::get_segment,
            routes::segments::update_segment,
            routes::segments::delete_segment
        ))
        .routes(routes!(routes::segments::count_preview))
        .routes(routes!(routes::promo::import_codes))
        .routes(routes!(routes::promo::pools))
        .routes(routes!(
            routes::contacts::upsert_contacts,
            routes::contacts::find_contact
        ))
        .routes(routes!(routes::contacts::export_contact))
        .routes(routes!(routes::contacts::erase_contact))
        .routes(routes!(routes::lists::create_list, routes::lists::lists))
        .routes(routes!(routes::lists::add_members))
        .routes(routes!(routes::lists::remove_members))
        .routes(routes!(routes::multilead::update_multilead))
        .routes(routes!(routes::multilead::multilead_bonus))
        .routes(routes!(routes::orders::orders_rpc))
        .routes(routes!(routes::orders::orders_map))
        .routes(routes!(routes::admin::login))
        .routes(routes!(routes::admin::logout))
        .routes(routes!(routes::admin::me))
        .routes(routes!(routes::admin::list_keys, routes::admin::create_key))
        .routes(routes!(routes::admin::revoke_key))
        .routes(routes!(
            routes::campaigns::list_providers,
            routes::campaigns::create_provider
        ))
        .routes(routes!(routes::campaigns::delete_provider))
        .routes(routes!(
            routes::campaigns::list_sender_domains,
            routes::campaigns::create_sender_domain
        ))
        .routes(routes!(
            routes::campaigns::list_campaigns,
            routes::campaigns::create
        ))
        .routes(routes!(routes::campaigns::report))
        .routes(routes!(routes::campaigns::pause))
        .routes(routes!(routes::campaigns::resume))
        .routes(routes!(routes::campaigns::cancel))
        .routes(routes!(routes::campaigns::resend_non_openers))
        .routes(routes!(routes::messages::send_message))
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        config: HttpConfig,
        mail: vestnik_engine::campaign::MailContext,
    ) -> Self {
        let (_, mut openapi) = api_routes().split_for_parts();
        openapi.info.version = env!("CARGO_PKG_VERSION").to_string();
        let events = vestnik_engine::EventWriter::start(store.clone(), Default::default());
        AppState(Arc::new(SharedState {
            keys: Arc::new(key_cache::KeyCache::new(Duration::from_secs(10))),
            events,
            mail,
            store,
            metrics,
            config: Arc::new(config),
            openapi: Arc::new(openapi),
        }))
    }
}

/// The whole application: routes, fallbacks and layers.
pub fn router(state: AppState) -> Router {
    let (api, _) = api_routes().split_for_parts();
    let config = state.config.clone();
    let app = api
        .route("/openapi.json", get(routes::meta::openapi))
        .route("/docs", get(routes::meta::docs))
        // The seed documents one form of each path; integrations type the other too.
        .route(
            "/client/update_multilead",
            post(routes::multilead::update_multilead),
        )
        .route(
            "/client/multilead_bonus/",
            post(routes::multilead::multilead_bonus),
        )
        .route("/api/v1/orders/", post(routes::orders::orders_rpc))
        // Tracking links from campaign mail: public, undocumented, answering people.
        .merge(routes::tracking::router())
        .fallback(|| async { ApiError::for_status(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async {
            ApiError::for_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    with_layers(app, &config)
}

/// The layers every request passes, outermost first, wrapped once around the whole router.
/// (`Router::layer` wraps each route on its own instead, and axum clones a route's service
/// for every request it answers: with seven layers that was seven boxed services cloned and
/// dropped per request, a tenth of the request handling time of a single event.)
fn with_layers(app: Router, config: &HttpConfig) -> Router {
    let layered = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(NodeRequestIds::default()))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .extensions()
                .get::<RequestId>()
                .and_then(|id| id.header_value().to_str().ok())
                .unwrap_or("-");
            let uri = loggable_uri(req.uri());
            tracing::info_span!("request", method = %req.method(), uri = %uri, request_id = %id)
        }))
        // Outside the timeout and panic layers, so their bare responses are rewritten too.
        .layer(middleware::from_fn(json_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .service(app);
    Router::new().fallback_service(layered)
}

/// The request URI as logs may show it: a tracking token is a capability (it unsubscribes its
/// recipient, opens their message), so `/t/{kind}/{token}` is logged without the token.
fn loggable_uri(uri: &axum::http::Uri) -> std::borrow::Cow<'_, str> {
    let path = uri.path();
    match path
        .strip_prefix("/t/")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((kind, token)) if !token.is_empty() => format!("/t/{kind}/…").into(),
        _ => match uri.path_and_query() {
            Some(pq) => pq.as_str().into(),
            None => path.into(),
        },
    }
}

/// Serves until `shutdown` is cancelled, then stops accepting and lets in-flight requests end.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// Request ids: a random per-process prefix and a counter, cheap and unique enough to grep logs.
#[derive(Clone)]
struct NodeRequestIds {
    prefix: Arc<str>,
    next: Arc<AtomicU64>,
}

impl Default for NodeRequestIds {
    fn default() -> Self {
        NodeRequestIds {
            prefix: vestnik_domain::site::random_token(6).into(),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for NodeRequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// Rewrites any error response that is not JSON (axum rejections, 408 from the timeout
/// layer, 413, 405, a caught panic) into our JSON error shape, keeping a short plain-text
/// reason when there is one. HTML error pages are left alone: handlers that answer people
/// rather than programs (the tracking links' "damaged link" page) send them on purpose.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let deliberate = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.starts_with("text/html"));
    if deliberate {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && !t.starts_with('<'));
    let mut err = ApiError::for_status(status);
    if let Some(text) = text.filter(|_| status.is_client_error()) {
        err.detail.message = text;
    }
    let mut rewritten = err.into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    async fn call(app: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let res = app
            .oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).expect("a JSON body"))
    }

    fn app() -> Router {
        let config = HttpConfig {
            request_timeout: Duration::from_millis(100),
            ..Default::default()
        };
        let routes = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("handler bug");
                    }
                    "unreachable"
                }),
            );
        with_layers(routes, &config)
    }

    #[test]
    fn tracking_tokens_stay_out_of_the_logs() {
        let uri: axum::http::Uri = "/t/u/AQMGsecretTOKEN".parse().unwrap();
        assert_eq!(loggable_uri(&uri), "/t/u/…");
        let uri: axum::http::Uri = "/api/v1/contacts?email=a@b.c".parse().unwrap();
        assert_eq!(loggable_uri(&uri), "/api/v1/contacts?email=a@b.c");
    }

    #[tokio::test]
    async fn slow_requests_get_a_json_408() {
        let (status, body) = call(app(), "/slow").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["error"]["type"], "timeout");
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_json_500() {
        let (status, body) = call(app(), "/panic").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["type"], "internal");
    }
}
