//! `/metrics` (Prometheus' text format): on the main listeners for callers holding the
//! system entry `metrics:read`, or on a listener of its own (`[metrics] listen`) for
//! whoever can reach it, as Harbor's exporter port.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::{ReadMetrics, SystemAdmin};
use crate::server::AppState;

pub async fn guarded(_: SystemAdmin<ReadMetrics>, State(state): State<AppState>) -> Response {
    render(&state).await
}

pub async fn open(State(state): State<AppState>) -> Response {
    render(&state).await
}

async fn render(state: &AppState) -> Response {
    let text = match state.system.figures().await {
        Ok(figures) => state.metrics.render(&figures).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match text {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => ApiError::Internal(format!("rendering metrics: {e}")).into_response(),
    }
}
