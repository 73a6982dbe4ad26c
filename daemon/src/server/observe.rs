//! What every request leaves behind: its id (Harbor's `X-Request-Id`: the client's when it is
//! sane, a new one otherwise, echoed in the response and on every log line written while
//! serving it), one log line, and its metrics.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, for handlers that want to name it.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// A client's id is kept only if it is short and plain, so it cannot forge log lines or
/// bloat them; anything else gets a fresh UUID.
fn accepted(value: &HeaderValue) -> Option<String> {
    let v = value.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/+=".contains(c);
    (!v.is_empty() && v.len() <= 128 && v.chars().all(plain)).then(|| v.to_string())
}

pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(accepted)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let inflight = state.metrics.request_started();
    let mut response = next.run(req).instrument(span.clone()).await;
    drop(inflight);
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    // Labels are built only when something records them: a pull pays nothing otherwise.
    if state.metrics.is_enabled() {
        let operation = operation(&method, &path, response.extensions().get::<MatchedPath>());
        state
            .metrics
            .request_ended(method_label(&method), &operation, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(
            %method,
            %path,
            status,
            ms = elapsed.as_millis() as u64,
            %client,
            "request"
        )
    });
    response
}

/// Copies the route's template into the response, where `observe` (outside the router, so
/// before routing) can read it.
pub async fn keep_matched_path(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(m) = matched {
        response.extensions_mut().insert(m);
    }
    response
}

/// A label that names what a request did, from a bounded set: the registry's operation, the
/// route's template elsewhere.
fn operation(method: &Method, path: &str, matched: Option<&MatchedPath>) -> String {
    if path == "/v2" || path == "/v2/" {
        return "registry:base".into();
    }
    if let Some(rest) = path.strip_prefix("/v2/") {
        use crate::registry::path::Route;
        let kind = match crate::registry::path::parse(rest) {
            Some(Route::Catalog) => "catalog",
            Some(Route::Tags { .. }) => "tags",
            Some(Route::Manifest { .. }) => "manifest",
            Some(Route::Blob { .. }) => "blob",
            Some(Route::Uploads { .. }) | Some(Route::Upload { .. }) => "upload",
            Some(Route::Referrers { .. }) => "referrers",
            None => "unknown",
        };
        return format!("registry:{kind}:{}", method_label(method).to_lowercase());
    }
    match matched {
        Some(m) => m.as_str().to_string(),
        None => "unmatched".into(),
    }
}

/// The method as a label; anything unusual is `OTHER`, so a client cannot mint labels.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_short_ids_are_kept() {
        let ok = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(accepted(&ok).as_deref(), Some("abc-123_x.y:z"));
        for bad in ["", "a b", "line\\nbreak", "quote\"", &"x".repeat(129)] {
            if let Ok(v) = HeaderValue::from_str(bad) {
                assert_eq!(accepted(&v), None, "{bad:?}");
            }
        }
    }

    #[test]
    fn registry_operations_are_a_bounded_set() {
        let op = |m: Method, p: &str| operation(&m, p, None);
        assert_eq!(op(Method::GET, "/v2/"), "registry:base");
        assert_eq!(
            op(Method::GET, "/v2/a/b/c/manifests/latest"),
            "registry:manifest:get"
        );
        assert_eq!(
            op(Method::PATCH, "/v2/a/b/blobs/uploads/1234-abcd"),
            "registry:upload:patch"
        );
        assert_eq!(
            op(
                Method::from_bytes(b"BREW").expect("method"),
                "/v2/a/b/blobs/sha256:00"
            ),
            "registry:blob:other"
        );
        assert_eq!(op(Method::GET, "/no/such/page"), "unmatched");
    }
}
