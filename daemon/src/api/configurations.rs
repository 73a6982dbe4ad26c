//! `GET|PUT /api/v2.0/configurations`: the run-time settings under Harbor's keys, for system
//! administrators (the system table's `configuration` entries). A change takes effect at once.

use axum::extract::State;
use axum::Json;
use serde_json::{Map, Value};

use super::audit;
use super::error::ApiError;
use super::extract::{ApiJson, ClientIp, ReadConfiguration, SystemAdmin, UpdateConfiguration};
use crate::server::AppState;
use crate::service::configuration::ConfigurationError;

impl From<ConfigurationError> for ApiError {
    fn from(e: ConfigurationError) -> Self {
        match e {
            ConfigurationError::Invalid(_) => ApiError::BadRequest(e.to_string()),
            ConfigurationError::Internal(m) => ApiError::Internal(m),
        }
    }
}

pub(super) async fn get_configurations(
    State(state): State<AppState>,
    _: SystemAdmin<ReadConfiguration>,
) -> Json<Value> {
    Json(state.configuration.view())
}

pub(super) async fn put_configurations(
    State(state): State<AppState>,
    SystemAdmin(by, _): SystemAdmin<UpdateConfiguration>,
    ClientIp(ip): ClientIp,
    ApiJson(changes): ApiJson<Map<String, Value>>,
) -> Result<(), ApiError> {
    let result = state.configuration.update(&changes).await;
    let resource = match &result {
        Ok(changed) => changed.join(","),
        Err(_) => changes.keys().cloned().collect::<Vec<_>>().join(","),
    };
    audit(
        &state,
        &by,
        &ip,
        None,
        "update",
        "configuration",
        &resource,
        result.is_ok(),
    );
    result?;
    Ok(())
}
