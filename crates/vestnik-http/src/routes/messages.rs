//! Transactional email over the public API: one message, now, through the site's provider —
//! an order confirmation from the shop's backend, or (later) an automation step.

use axum::Json;
use axum::extract::State;
use vestnik_engine::campaign::{TransactionalOutcome, TransactionalRequest, send_transactional};

use crate::AppState;
use crate::auth::SiteKey;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::json::ApiJson;

/// Renders a template for one recipient with the given variables and sends it at once. The
/// answer is the SMTP server's: `sent`, `deferred` (try again later), `failed` (refused for
/// good) or `skipped` (the template called `exit()`), with the `message_id`.
#[utoipa::path(
    post,
    path = "/api/v1/messages",
    tag = "public",
    security(("api_key" = [])),
    request_body(content = Object, example = json!({
        "template_id": 2, "to": "anna@example.com", "from_email": "orders@shop.ru",
        "from_name": "Магазин", "subject": "Заказ {{ order_id }} принят",
        "variables": {"order_id": "A-1042", "total": "4 990 ₽"}
    })),
    responses(
        (status = 200, body = Object, description = "`{\"status\": \"sent\", \"message_id\", \"reply\"}` or deferred/failed/skipped"),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Invalid address, unknown template or provider, a template that does not render", body = ErrorBody)
    )
)]
pub async fn send_message(
    State(state): State<AppState>,
    key: SiteKey,
    ApiJson(input): ApiJson<serde_json::Value>,
) -> ApiResult<Json<TransactionalOutcome>> {
    let request: TransactionalRequest = serde_json::from_value(input).map_err(|e| {
        ApiError::invalid(vestnik_domain::ValidationError::new(
            "body",
            format!("expected {{\"template_id\", \"to\", \"from_email\", …}}: {e}"),
        ))
    })?;
    Ok(Json(
        send_transactional(&state.mail, &key.site_id, request).await?,
    ))
}
