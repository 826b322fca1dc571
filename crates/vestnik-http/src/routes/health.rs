//! `GET /health`: is this node able to serve (its database answers)?

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    database: &'static str,
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Health check for load balancers and orchestrators.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "The node and its database are up", body = Health),
        (status = 503, description = "The database does not answer", body = Health)
    )
)]
pub async fn health(State(state): State<AppState>) -> Response {
    let database = state.store.backend();
    let version = env!("CARGO_PKG_VERSION");
    match state.store.ping().await {
        Ok(()) => Json(Health {
            status: "ok",
            database,
            version,
            error: None,
        })
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
                database,
                version,
                error: Some(e.to_string()),
            }),
        )
            .into_response(),
    }
}
