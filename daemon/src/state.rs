//! [`AppState`]: every service a handler may use, built from already-opened parts with no I/O,
//! so router tests can build one over a temporary database and call the router directly
//! (`tower::ServiceExt::oneshot`), without a socket.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::audit::AuditLog;
use crate::auth::refusals::RepeatedRefusals;
use crate::auth::session::Sessions;
use crate::auth::token::TokenKeys;
use crate::auth::Auth;
use crate::config::Config;
use crate::db::Db;
use crate::jobs::Jobs;
use crate::service::configuration::ConfigurationService;
use crate::service::directory::DirectoryService;
use crate::service::projects::Projects;
use crate::service::registry::Registry;
use crate::service::repositories::Repositories;
use crate::service::robots::Robots;
use crate::service::system::SystemService;
use crate::service::uploads::SessionLimits;
use crate::service::users::Users;
use crate::settings::{Settings, SettingsHandle};
use crate::storage::BlobStore;

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
    pub system: SystemService,
    /// The job runner: every background job runs through it.
    pub jobs: Jobs,
    pub gc: crate::service::gc::GcService,
    /// Endpoints, policies and executions (see [`crate::replication`]).
    pub replication: crate::service::replication::ReplicationService,
    /// Tag retention policies and their runs (see [`crate::retention`]).
    pub retention: crate::service::retention::RetentionService,
    pub immutability: crate::service::immutability::ImmutabilityService,
    pub quotas: crate::service::quotas::QuotaService,
    /// The run-time settings (see [`crate::settings`]); `config` is how Berth is deployed.
    pub settings: SettingsHandle,
    /// Harbor's `/configurations` over the settings.
    pub configuration: ConfigurationService,
    pub sessions: Arc<Sessions>,
    /// Tokens refused for a scope, so a client that resends one gets a 403 (see the module).
    pub refusals: Arc<RepeatedRefusals>,
    /// The daemon's claim on its data directory (set by `server::prepare`; none in tests
    /// that build a state without a server).
    pub instance: Option<Arc<crate::storage::fence::InstanceLock>>,
    /// Counters and histograms (requests, blob bytes, jobs); see [`crate::metrics`].
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    /// Wires the services together. Starts the audit log's writer task, so it must run inside
    /// a Tokio runtime.
    pub fn new(
        config: Arc<Config>,
        settings: Settings,
        db: Db,
        store: Arc<dyn BlobStore>,
        keys: Arc<TokenKeys>,
    ) -> anyhow::Result<AppState> {
        let token_lifetime = Duration::from_secs(u64::from(settings.token_expiration_minutes) * 60);
        let session_timeout =
            Duration::from_secs(u64::from(settings.system.session_timeout_minutes) * 60);
        let settings = SettingsHandle::new(settings);
        let auth = Auth::new(db.clone(), keys, config.clone(), settings.clone())
            .context("setting up login")?;
        let directory = DirectoryService::new(db.clone(), auth.clone());
        let sessions = Arc::new(Sessions::new(session_timeout));
        let projects = Projects::new(
            db.clone(),
            auth.clone(),
            settings.clone(),
            directory.clone(),
        );
        let registry = Registry::new(
            db.clone(),
            store.clone(),
            SessionLimits {
                per_user: config.storage.max_upload_sessions_per_user,
                total: config.storage.max_upload_sessions,
            },
            token_lifetime,
            settings.clone(),
            config
                .storage
                .free_space_reserve_mib
                .saturating_mul(1 << 20),
        );
        let upload_max_age =
            Duration::from_secs(u64::from(config.storage.upload_max_age_hours) * 3600);
        let mut kinds = crate::jobs::housekeeping::kinds(&db, &registry, &settings, upload_max_age);
        kinds.push(crate::gc::kind(
            &db,
            &registry,
            Duration::from_secs(u64::from(config.gc.time_window_minutes) * 60),
            upload_max_age,
        ));
        let audit = AuditLog::start(db.clone());
        kinds.push(crate::replication::kind(crate::replication::Replicator {
            local: crate::replication::side::Local {
                db: db.clone(),
                registry: registry.clone(),
                projects: projects.clone(),
                audit: audit.clone(),
            },
            settings: crate::replication::ReplicationSettings::from(&config.replication),
            data_dir: config.data_dir.clone(),
        }));
        kinds.push(crate::retention::kind(
            &db,
            &audit,
            registry.leases(),
            Duration::from_secs(u64::from(config.gc.time_window_minutes) * 60),
        ));
        let metrics = if config.metrics.enabled {
            crate::metrics::Metrics::enabled()
        } else {
            crate::metrics::Metrics::disabled()
        };
        let jobs = Jobs::new(db.clone(), kinds).with_metrics(metrics.clone());
        Ok(AppState {
            retention: crate::service::retention::RetentionService::new(
                db.clone(),
                jobs.clone(),
                projects.clone(),
            ),
            immutability: crate::service::immutability::ImmutabilityService::new(
                db.clone(),
                projects.clone(),
            ),
            quotas: crate::service::quotas::QuotaService::new(db.clone()),
            gc: crate::service::gc::GcService::new(jobs.clone()),
            replication: crate::service::replication::ReplicationService::new(
                db.clone(),
                jobs.clone(),
                config.data_dir.clone(),
            ),
            auth,
            system: SystemService::new(
                db.clone(),
                store,
                config.tls.as_ref().and_then(|t| t.ca_certificate.clone()),
            )
            .with_parts(crate::service::system::Parts {
                jobs: jobs.clone(),
                directory: directory.clone(),
                registry: registry.clone(),
                settings: settings.clone(),
                database: config.data_dir.join("berth.db"),
                reserve_bytes: config
                    .storage
                    .free_space_reserve_mib
                    .saturating_mul(1 << 20),
            }),
            registry: registry.clone(),
            jobs,
            projects: projects.clone(),
            users: Users::new(db.clone(), settings.clone()),
            audit,
            repositories: Repositories::new(db.clone(), projects.clone(), registry.clone()),
            robots: Robots::new(db.clone(), projects, settings.clone()),
            directory,
            configuration: ConfigurationService::new(
                db.clone(),
                config.data_dir.clone(),
                settings.clone(),
                sessions.clone(),
                registry.leases().clone(),
            ),
            sessions,
            settings,
            refusals: Arc::new(RepeatedRefusals::default()),
            instance: None,
            metrics,
            db,
            config,
        })
    }
}

/// Why a browser could not sign in.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    #[error("robot accounts cannot sign in to the portal")]
    Robot,
}

impl AppState {
    /// Checks a person's credentials (audited as a login) and opens a browser session:
    /// `(session id, CSRF token)`. Shared by `/c/login` and the portal's sign-in page.
    pub async fn open_session(
        &self,
        principal: &str,
        password: &str,
        client_ip: String,
    ) -> Result<(String, String), SignInError> {
        let result = self.auth.login(principal, password, &client_ip).await;
        self.audit.record(crate::audit::Entry::login(
            principal,
            result.is_ok(),
            client_ip,
        ));
        match result? {
            crate::auth::Principal::User { id, .. } => Ok(self.sessions.create(id)),
            _ => Err(SignInError::Robot),
        }
    }
}
