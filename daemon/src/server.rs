//! Listeners, TLS, request logging, background housekeeping and graceful shutdown. Builds the
//! [`AppState`] that every handler receives; nothing here is global.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};

use crate::audit::AuditLog;
use crate::auth::session::Sessions;
use crate::auth::token::TokenKeys;
use crate::auth::Auth;
use crate::config::Config;
use crate::db::Db;
use crate::service::bootstrap::{self, AdminBootstrap};
use crate::service::directory::DirectoryService;
use crate::service::projects::Projects;
use crate::service::registry::Registry;
use crate::service::repositories::Repositories;
use crate::service::robots::Robots;
use crate::service::users::Users;
use crate::storage::{BlobStore, FsBlobStore};

/// Everything a handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub auth: Auth,
    pub registry: Registry,
    pub projects: Projects,
    pub users: Users,
    pub audit: AuditLog,
    pub repositories: Repositories,
    pub robots: Robots,
    pub directory: DirectoryService,
    pub sessions: Arc<Sessions>,
}

/// The scheme of the listener a request came in on, for building absolute URLs.
#[derive(Clone, Copy)]
pub struct Scheme(pub &'static str);

/// The whole HTTP application, without a socket, so router tests can call it directly.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(crate::registry::router())
        .merge(crate::api::router())
        .route("/service/token", get(crate::api::token::get_token))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One line per request: method, path, status, duration and client.
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let started = Instant::now();
    let response = next.run(req).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        %client,
        "request"
    );
    response
}

/// Opens the database and blob store, loads (or creates) the token key, and makes sure `admin`
/// and `library` exist.
pub async fn prepare(
    config: Config,
    admin_password: Option<String>,
) -> anyhow::Result<(AppState, AdminBootstrap)> {
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let db = Db::open(&config.data_dir.join("berth.db")).context("opening the database")?;
    let store: Arc<dyn BlobStore> =
        Arc::new(FsBlobStore::open(&config.data_dir).context("opening the blob store")?);
    let keys = Arc::new(TokenKeys::load_or_create(
        &config.data_dir.join("secret").join("token.pem"),
    )?);
    let admin = bootstrap::ensure_defaults(&db, admin_password)
        .await
        .context("creating defaults")?;
    // One TLS provider for everything that speaks TLS: the listener and the LDAP client.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let auth = Auth::new(db.clone(), keys, config.clone()).context("setting up login")?;
    let directory = DirectoryService::new(db.clone(), auth.clone(), config.clone())
        .context("setting up the LDAP helpers")?;
    let projects = Projects::new(db.clone(), auth.clone(), config.clone(), directory.clone());
    let state = AppState {
        auth: auth.clone(),
        registry: Registry::new(db.clone(), store),
        projects: projects.clone(),
        users: Users::new(db.clone(), config.clone()),
        audit: AuditLog::start(db.clone()),
        repositories: Repositories::new(db.clone(), projects.clone()),
        robots: Robots::new(db.clone(), projects.clone(), config.clone()),
        directory,
        sessions: Arc::new(Sessions::new(Duration::from_secs(
            u64::from(config.system.session_timeout_minutes) * 60,
        ))),
        db,
        config,
    };
    Ok((state, admin))
}

/// Serves until SIGTERM or Ctrl-C, then drains connections for up to 30 seconds.
pub async fn serve(state: AppState) -> anyhow::Result<()> {
    let leftovers = state
        .registry
        .purge_leftover_uploads()
        .await
        .context("removing leftover uploads")?;
    if leftovers > 0 {
        tracing::info!(
            files = leftovers,
            "removed upload files left by an earlier run"
        );
    }
    let housekeeping = tokio::spawn(housekeeping_forever(state.clone()));
    let audit = state.audit.clone();
    let handle = axum_server::Handle::new();
    let mut servers = tokio::task::JoinSet::new();
    let config = state.config.clone();
    let app = app(state);

    if let Some(http) = &config.http {
        let app = app.clone().layer(Extension(Scheme("http")));
        let server = axum_server::bind(http.listen).handle(handle.clone());
        servers.spawn(async move {
            server
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
        });
    }
    if let Some(tls) = &config.tls {
        let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(
            &tls.certificate,
            &tls.private_key,
        )
        .await
        .context("loading the TLS certificate and key")?;
        let app = app.clone().layer(Extension(Scheme("https")));
        let server = axum_server::bind_rustls(tls.listen, rustls).handle(handle.clone());
        servers.spawn(async move {
            server
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
        });
    }
    if let Some(addr) = handle.listening().await {
        tracing::info!(%addr, version = crate::VERSION, "berthd serving");
    }

    let shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining connections");
        shutdown.graceful_shutdown(Some(Duration::from_secs(30)));
    });
    let mut result = Ok(());
    while let Some(done) = servers.join_next().await {
        if let Ok(Err(e)) | Err(e) = done.map_err(std::io::Error::other) {
            handle.shutdown();
            result = Err(anyhow::Error::new(e).context("listener failed"));
        }
    }
    housekeeping.abort();
    audit.flush().await;
    tracing::info!("stopped");
    result
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        Err(_) => {
            let _ = ctrl_c.await;
        }
    }
}

/// Every ten minutes, discards upload sessions abandoned for longer than the configured age;
/// at start and then daily, purges audit entries older than their retention.
async fn housekeeping_forever(state: AppState) {
    let max_age = Duration::from_secs(u64::from(state.config.storage.upload_max_age_hours) * 3600);
    let retention = state.config.system.audit_log_retention_days;
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    let mut last_purge: Option<Instant> = None;
    loop {
        tick.tick().await;
        match state.registry.expire_uploads(max_age).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "expired idle upload sessions"),
            Err(e) => tracing::warn!(error = %e, "expiring upload sessions failed"),
        }
        if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(86_400)) {
            last_purge = Some(Instant::now());
            match crate::audit::purge(&state.db, retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    entries = n,
                    retention_days = retention,
                    "purged old audit log entries"
                ),
                Err(e) => tracing::warn!(error = %e, "purging the audit log failed"),
            }
        }
    }
}
