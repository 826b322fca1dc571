//! The API describing itself: `/openapi.json`, and `/docs`, a self-contained page that renders
//! it (no CDN: installations are often offline or behind strict firewalls).

use axum::Json;
use axum::extract::State;
use axum::response::Html;

use crate::AppState;

pub async fn openapi(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json((*state.openapi).clone())
}

pub async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
