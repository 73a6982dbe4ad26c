//! `ping` and `health`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::json;

use crate::server::AppState;

pub(super) async fn ping() -> &'static str {
    "Pong"
}

/// Harbor's health shape: overall status and one entry per component.
pub(super) async fn health(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let database = state.db.check().await.map_err(|e| e.to_string());
    let store = state.registry.store().clone();
    let storage = tokio::task::spawn_blocking(move || store.check())
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()));
    let entry = |name: &str, r: &Result<(), String>| match r {
        Ok(()) => json!({"name": name, "status": "healthy"}),
        Err(e) => json!({"name": name, "status": "unhealthy", "error": e}),
    };
    let healthy = database.is_ok() && storage.is_ok();
    let body = json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "components": [
            {"name": "core", "status": "healthy"},
            entry("database", &database),
            entry("storage", &storage),
        ],
    });
    (
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}
