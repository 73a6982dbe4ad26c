//! Listeners, TLS, request logging, background housekeeping and graceful shutdown. Builds the
//! [`AppState`] that every handler receives; nothing here is global.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use axum::{Extension, Router};

use crate::auth::token::TokenKeys;
use crate::config::Config;
use crate::db::Db;
use crate::service::bootstrap::{self, AdminBootstrap};
pub use crate::state::AppState;
use crate::storage::{BlobStore, FsBlobStore};

mod limits;
pub mod observe;
pub use limits::LocalAddr;

/// The scheme of the listener a request came in on, for building absolute URLs.
#[derive(Clone, Copy)]
pub struct Scheme(pub &'static str);

/// The whole HTTP application, without a socket, so router tests can call it directly.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .merge(crate::registry::router())
        .merge(crate::api::router())
        .merge(crate::portal::router(state.clone()))
        .route("/service/token", get(crate::api::token::get_token));
    let metrics = &state.config.metrics;
    if metrics.enabled {
        router = router.route(&metrics.path, get(crate::api::metrics::guarded));
    }
    router
        .route_layer(axum::middleware::from_fn(observe::keep_matched_path))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}

/// The listening sockets, bound before anything else happens at start: a busy port is found
/// before a first start creates the admin (whose generated password is shown only once).
pub struct Listeners {
    http: Option<std::net::TcpListener>,
    tls: Option<std::net::TcpListener>,
    metrics: Option<std::net::TcpListener>,
}

impl Listeners {
    /// Binds every configured listener; the error names the address that failed.
    pub fn bind(config: &Config) -> anyhow::Result<Listeners> {
        let bind = |addr: SocketAddr| {
            std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))
        };
        Ok(Listeners {
            http: config.http.as_ref().map(|h| bind(h.listen)).transpose()?,
            tls: config.tls.as_ref().map(|t| bind(t.listen)).transpose()?,
            metrics: match (&config.metrics.enabled, config.metrics.listen) {
                (true, Some(addr)) => Some(bind(addr)?),
                _ => None,
            },
        })
    }
}

/// Opens the database and blob store, loads (or creates) the token key, and makes sure `admin`
/// and `library` exist. A first start's admin password must pass Harbor's rule.
pub async fn prepare(
    config: Config,
    admin_password: Option<String>,
) -> anyhow::Result<(AppState, AdminBootstrap)> {
    if let Some(pw) = &admin_password {
        crate::service::users::check_password(pw)
            .map_err(|e| anyhow::anyhow!("BERTH_ADMIN_PASSWORD: {e}"))?;
    }
    crate::storage::create_private_dir(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let instance = crate::storage::fence::InstanceLock::acquire(&config.data_dir)
        .context("claiming the data directory")?;
    let restoring = config.data_dir.join(crate::backup::RESTORING);
    if restoring.exists() {
        anyhow::bail!(
            "a restore into {} did not finish ({} is there): run `berthd restore ... --force` \
             again; berthd will not serve a half-restored registry",
            config.data_dir.display(),
            restoring.display()
        );
    }
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
    // The run-time settings: the database's, or the file's first values the first time.
    let settings = crate::settings::load_or_seed(&db, &config)
        .await
        .context("loading the run-time settings")?;
    let problems = settings.problems();
    if !problems.is_empty() {
        anyhow::bail!(
            "the stored settings are not usable: {}; fix them with berth-setup",
            problems.join("; ")
        );
    }
    let mut state = AppState::new(Arc::new(config), settings, db, store, keys)?;
    state.instance = Some(Arc::new(instance));
    Ok((state, admin))
}

/// Serves until SIGTERM or Ctrl-C, then drains connections for up to 30 seconds.
pub async fn serve(state: AppState, listeners: Listeners) -> anyhow::Result<()> {
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
    // The job runner: first what a crash or restart interrupted, then the built-in schedules.
    let retried = state
        .jobs
        .recover()
        .await
        .context("recovering interrupted jobs")?;
    if !retried.is_empty() {
        tracing::warn!(executions = ?retried, "retrying jobs a restart interrupted");
    }
    for (kind, schedule) in crate::jobs::housekeeping::defaults() {
        state
            .jobs
            .ensure_schedule(kind, &schedule, serde_json::Value::Null)
            .await
            .with_context(|| format!("scheduling {kind}"))?;
    }
    let stop_jobs = tokio_util::sync::CancellationToken::new();
    let runner = tokio::spawn(state.jobs.clone().run_forever(stop_jobs.clone()));
    let audit = state.audit.clone();
    let mut handles: Vec<axum_server::Handle<SocketAddr>> = Vec::new();
    let mut schemes: Vec<&str> = Vec::new();
    let mut servers = tokio::task::JoinSet::new();
    let config = state.config.clone();
    let metrics_app = Router::new()
        .route(&config.metrics.path, get(crate::api::metrics::open))
        .with_state(state.clone());
    let app = app(state);
    let header_timeout = Duration::from_secs(config.server.header_read_timeout_seconds);
    let idle_timeout = Duration::from_secs(config.server.idle_timeout_seconds);
    // One pool of connection slots for all listeners: what bounds open descriptors.
    let connection_slots = Arc::new(tokio::sync::Semaphore::new(config.server.max_connections));

    if let Some(http) = &config.http {
        let mut app = app.clone().layer(Extension(Scheme("http")));
        if let Some(tls) = &config.tls {
            // The port actually bound (the configured one, or the kernel's pick for port 0).
            let https_port = listeners
                .tls
                .as_ref()
                .and_then(|l| l.local_addr().ok())
                .map_or(tls.listen.port(), |a| a.port());
            app = app.layer(axum::middleware::from_fn(move |req, next| {
                redirect_portal_to_https(https_port, req, next)
            }));
        }
        let listener = listeners.http.context("the HTTP listener was not bound")?;
        let limits = (connection_slots.clone(), idle_timeout, header_timeout);
        let handle = spawn_plain(&mut servers, listener, app, limits)
            .with_context(|| format!("listening on {}", http.listen))?;
        handles.push(handle);
        schemes.push("http");
    }
    if let Some(tls) = &config.tls {
        let rustls = axum_server::tls_rustls::RustlsConfig::from_pem_file(
            &tls.certificate,
            &tls.private_key,
        )
        .await
        .context("loading the TLS certificate and key")?;
        tokio::spawn(reload_certificate_on_sighup(rustls.clone(), tls.clone()));
        let app = app.clone().layer(Extension(Scheme("https")));
        let handle = axum_server::Handle::new();
        handles.push(handle.clone());
        schemes.push("https");
        let listener = listeners.tls.context("the HTTPS listener was not bound")?;
        let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
            .handshake_timeout(header_timeout)
            .acceptor(limits::LimitAcceptor::new(
                axum_server::accept::DefaultAcceptor::new(),
                connection_slots.clone(),
                idle_timeout,
            ));
        let mut server = axum_server::from_tcp(listener)
            .with_context(|| format!("listening on {}", tls.listen))?
            .acceptor(acceptor)
            .first_request_timeout(header_timeout)
            .handle(handle);
        limits::configure(server.http_builder(), header_timeout);
        servers.spawn(async move {
            server
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
        });
    }
    if let Some(listener) = listeners.metrics {
        if let Ok(addr) = listener.local_addr() {
            if !addr.ip().is_loopback() {
                tracing::warn!(
                    %addr,
                    "metrics are served without a login on an address other hosts may reach; \
                     they name every project: bind [metrics] listen to loopback or firewall it"
                );
            }
        }
        // Only the metrics, on their own port; the same connection limits.
        let limits = (connection_slots.clone(), idle_timeout, header_timeout);
        let handle = spawn_plain(&mut servers, listener, metrics_app, limits)
            .context("listening for metrics")?;
        handles.push(handle);
        schemes.push("metrics");
    }
    // Ready only once every listener is bound: systemd (Type=notify) and the tests rely on it.
    let mut bound = Vec::new();
    for (handle, scheme) in handles.iter().zip(&schemes) {
        match handle.listening().await {
            Some(addr) if *scheme == "metrics" => {
                tracing::info!("serving metrics at http://{addr}{}", config.metrics.path);
                bound.push(addr.to_string())
            }
            Some(addr) => {
                // Tests read this line to learn a port-0 listener's port.
                tracing::info!("listening on {scheme}://{addr}");
                bound.push(addr.to_string())
            }
            // The listener failed to bind; its task holds the error.
            None => break,
        }
    }
    if bound.len() == handles.len() {
        tracing::info!(listen = %bound.join(" "), version = crate::VERSION, "berthd serving");
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
            tracing::warn!(error = %e, "could not tell systemd that berthd is ready");
        }
    }

    let draining = handles.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining connections");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        for handle in &draining {
            handle.graceful_shutdown(Some(Duration::from_secs(30)));
        }
    });
    let mut result = Ok(());
    while let Some(done) = servers.join_next().await {
        if let Ok(Err(e)) | Err(e) = done.map_err(std::io::Error::other) {
            for handle in &handles {
                handle.shutdown();
            }
            result = Err(anyhow::Error::new(e).context("listener failed"));
        }
    }
    stop_jobs.cancel();
    let _ = runner.await;
    audit.flush().await;
    tracing::info!("stopped");
    result
}

/// Serves `app` over plain HTTP on `listener` within the shared connection limits (slots,
/// idle timeout, header timeout); returns the handle that reports the address and drains.
fn spawn_plain(
    servers: &mut tokio::task::JoinSet<std::io::Result<()>>,
    listener: std::net::TcpListener,
    app: Router,
    (slots, idle_timeout, header_timeout): (Arc<tokio::sync::Semaphore>, Duration, Duration),
) -> std::io::Result<axum_server::Handle<SocketAddr>> {
    let handle = axum_server::Handle::new();
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(limits::LimitAcceptor::new(
            axum_server::accept::DefaultAcceptor::new(),
            slots,
            idle_timeout,
        ))
        .first_request_timeout(header_timeout)
        .handle(handle.clone());
    limits::configure(server.http_builder(), header_timeout);
    servers.spawn(async move {
        server
            .serve(app.into_make_service_with_connect_info::<SocketAddr>())
            .await
    });
    Ok(handle)
}

/// On SIGHUP, loads the certificate and key again (after `berth-setup` or a renewal). New
/// connections get the new certificate; open ones keep theirs; a bad file keeps the old one.
async fn reload_certificate_on_sighup(
    rustls: axum_server::tls_rustls::RustlsConfig,
    tls: crate::config::TlsConfig,
) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: the certificate will not be reloaded");
        return;
    };
    while hup.recv().await.is_some() {
        match rustls
            .reload_from_pem_file(&tls.certificate, &tls.private_key)
            .await
        {
            Ok(()) => {
                tracing::info!(certificate = %tls.certificate.display(), "reloaded the TLS certificate")
            }
            Err(e) => {
                tracing::error!(error = %e, certificate = %tls.certificate.display(), "reloading the TLS certificate failed; still serving the old one")
            }
        }
    }
}

/// `host` of a `Host` header `host[:port]`, keeping an IPv6 literal's brackets.
fn host_without_port(header: &str) -> String {
    match header.strip_prefix('[') {
        Some(rest) => match rest.find(']') {
            Some(end) => header[..end + 2].to_string(),
            None => header.to_string(),
        },
        None => header.split(':').next().unwrap_or(header).to_string(),
    }
}

/// With HTTPS on, the plain HTTP listener sends browsers to HTTPS. The registry, the token
/// service and the REST API still answer on HTTP, for clients that were told to use it.
async fn redirect_portal_to_https(
    https_port: u16,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let machine = ["/v2", "/service/", "/api/", "/c/"]
        .iter()
        .any(|p| path == p.trim_end_matches('/') || path.starts_with(p));
    if machine
        || !(req.method() == axum::http::Method::GET || req.method() == axum::http::Method::HEAD)
    {
        return next.run(req).await;
    }
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(host_without_port);
    let Some(host) = host else {
        return next.run(req).await;
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let target = format!(
        "https://{host}{port}{}",
        req.uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    axum::response::Redirect::permanent(&target).into_response()
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
