//! The installation as a whole: whether its parts work, and how much it stores.

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::permissions::{Operation, Resource};
use crate::auth::Principal;
use crate::db::{self, Db, DbError};
use crate::storage::BlobStore;

/// Each component checked, in Harbor's names where Harbor has the component: `Err` carries
/// what is wrong (shown to system administrators only).
#[derive(Clone, Debug)]
pub struct Health {
    pub components: Vec<(&'static str, Result<(), String>)>,
}

impl Health {
    pub fn healthy(&self) -> bool {
        self.components.iter().all(|(_, r)| r.is_ok())
    }
}

/// A job runner that has not finished a round for this long is reported unhealthy (it rounds
/// every second).
const RUNNER_SILENCE_SECONDS: i64 = 30;
/// A check that takes longer than this fails: health must answer even when a part hangs.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a check's result is served before the next caller runs a new one. Anonymous
/// callers cannot make berthd write, sync and bind to the directory more often than this.
const HEALTH_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// What the health check and the metrics read beyond the database and the store.
#[derive(Clone)]
pub struct Parts {
    pub jobs: crate::jobs::Jobs,
    pub directory: crate::service::directory::DirectoryService,
    pub registry: crate::service::registry::Registry,
    pub settings: crate::settings::SettingsHandle,
    /// The database file, for its size.
    pub database: PathBuf,
    /// The free space kept on the data volume (see `storage.free_space_reserve_mib`).
    pub reserve_bytes: u64,
}

#[derive(Clone)]
pub struct SystemService {
    db: Db,
    store: Arc<dyn BlobStore>,
    ca_certificate: Option<PathBuf>,
    parts: Option<Parts>,
    /// The last check and when it ran; the lock makes checks single-flight.
    last_health: Arc<tokio::sync::Mutex<Option<(std::time::Instant, Health)>>>,
}

/// The CA that clients must trust, with what they check it by.
pub struct CaCertificate {
    pub pem: String,
    /// SHA-256 of the DER certificate, as `openssl x509 -fingerprint -sha256` prints it.
    pub fingerprint: String,
}

impl SystemService {
    pub fn new(
        db: Db,
        store: Arc<dyn BlobStore>,
        ca_certificate: Option<PathBuf>,
    ) -> SystemService {
        SystemService {
            db,
            store,
            ca_certificate,
            parts: None,
            last_health: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Adds the job runner, directory, registry and settings to what is checked.
    pub fn with_parts(mut self, parts: Parts) -> SystemService {
        self.parts = Some(parts);
        self
    }

    /// The configured CA certificate (`tls.ca_certificate`), if any.
    pub async fn ca_certificate(&self) -> std::io::Result<Option<CaCertificate>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        use sha2::{Digest, Sha256};
        let Some(path) = self.ca_certificate.clone() else {
            return Ok(None);
        };
        let pem = tokio::fs::read_to_string(&path).await?;
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| std::io::Error::other(format!("{}: {e:?}", path.display())))?;
        let fingerprint = Sha256::digest(der.as_ref())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        Ok(Some(CaCertificate { pem, fingerprint }))
    }

    /// The projects storing the most, with what they store, for system administrators.
    pub async fn storage_by_project(
        &self,
        by: &Principal,
        limit: i64,
    ) -> Result<Vec<(String, i64)>, DbError> {
        if !by.may_system(Resource::SystemVolumes, Operation::Read) {
            return Ok(vec![]);
        }
        self.db
            .read(move |c| db::projects::storage_by_project(c, limit))
            .await
    }

    /// Successful pushes and pulls per day over the last `days` days, everywhere, for who may
    /// read the audit log.
    pub async fn daily_activity(
        &self,
        by: &Principal,
        days: i64,
    ) -> Result<Vec<crate::service::projects::DayActivity>, DbError> {
        if !by.may_system(Resource::AuditLog, Operation::List) {
            return Ok(vec![]);
        }
        let today = db::now() / 86400;
        let since = (today - days + 1) * 86400;
        let rows = self
            .db
            .read(move |c| db::audit::daily_activity(c, None, since))
            .await?;
        Ok(crate::service::projects::fill_days(today, days, rows))
    }

    /// The health of each part: the last check if it is younger than [`HEALTH_TTL`] and
    /// `fresh` is false, otherwise a new one. One check runs at a time; callers meanwhile wait
    /// for its result.
    pub async fn health(&self, fresh: bool) -> Health {
        let mut last = self.last_health.lock().await;
        if let Some((at, health)) = last.as_ref() {
            if !fresh && at.elapsed() < HEALTH_TTL {
                return health.clone();
            }
        }
        let health = self.check_now().await;
        *last = Some((std::time::Instant::now(), health.clone()));
        health
    }

    /// Checks each part for real, at once, each within [`CHECK_TIMEOUT`]: a database write,
    /// a file written and synced in the store and its free space against the reserve, the job
    /// runner's last round, and in LDAP mode the directory (connection and search bind).
    async fn check_now(&self) -> Health {
        let bounded = |what: &'static str, r: Option<Result<(), String>>| {
            r.unwrap_or_else(|| {
                Err(format!(
                    "{what} did not answer within {} s",
                    CHECK_TIMEOUT.as_secs()
                ))
            })
        };
        let database = async {
            bounded(
                "the database",
                tokio::time::timeout(CHECK_TIMEOUT, self.db.check())
                    .await
                    .ok()
                    .map(|r| r.map_err(|e| format!("a write failed: {e}"))),
            )
        };
        let storage = async {
            let store = self.store.clone();
            let checked = tokio::time::timeout(
                CHECK_TIMEOUT,
                tokio::task::spawn_blocking(move || store.check().and_then(|()| store.volume())),
            )
            .await
            .ok()
            .map(|joined| match joined {
                Err(e) => Err(e.to_string()),
                Ok(Err(e)) => Err(format!("writing a file failed: {e}")),
                Ok(Ok((_, free))) => {
                    let reserve = self.parts.as_ref().map_or(0, |p| p.reserve_bytes);
                    // As the registry decides: an upload must be able to claim its first room.
                    if reserve > 0 && free < reserve.saturating_add(crate::service::room::CLAIM_BYTES) {
                        Err(format!(
                            "{} MiB free, below the reserve of {} MiB: pushes are refused until space is freed",
                            free / (1 << 20),
                            reserve / (1 << 20)
                        ))
                    } else {
                        Ok(())
                    }
                }
            });
            bounded("the blob store", checked)
        };
        let directory = async {
            match &self.parts {
                Some(p) => p.directory.reachable().await,
                None => None,
            }
        };
        let (database, storage, directory) = tokio::join!(database, storage, directory);
        let mut components = vec![
            ("core", Ok(())),
            ("database", database),
            ("storage", storage),
        ];
        if let Some(p) = &self.parts {
            let last = p.jobs.last_round();
            let silent = db::now() - last;
            let runner = if silent > RUNNER_SILENCE_SECONDS {
                Err(format!("the job runner's last round was {silent} s ago"))
            } else {
                Ok(())
            };
            components.push(("jobservice", runner));
        }
        if let Some(reachable) = directory {
            components.push(("ldap", reachable));
        }
        Health { components }
    }

    /// Everything a metrics scrape reports besides what is counted as it happens.
    pub async fn figures(&self) -> Result<crate::metrics::Figures, DbError> {
        let (projects, queue, stored_bytes) = self
            .db
            .read(|c| {
                Ok((
                    db::metrics::projects(c)?,
                    db::metrics::queue(c)?,
                    db::metrics::stored_bytes(c)?,
                ))
            })
            .await?;
        let health = self.health(false).await;
        let mut figures = crate::metrics::Figures {
            projects,
            queue,
            stored_bytes,
            volume: self.volume().await.ok(),
            components: health
                .components
                .iter()
                .map(|(name, r)| (*name, r.is_ok()))
                .collect(),
            ..Default::default()
        };
        if let Some(p) = &self.parts {
            figures.uploads_open = p.registry.uploads_open();
            let settings = p.settings.current();
            figures.auth_mode = match settings.auth_mode {
                crate::config::AuthMode::Ldap => "ldap_auth",
                _ => "db_auth",
            };
            figures.self_registration = settings.system.self_registration;
            figures.database_bytes = ["", "-wal"]
                .iter()
                .filter_map(|suffix| {
                    let mut path = p.database.clone().into_os_string();
                    path.push(suffix);
                    std::fs::metadata(path).ok().map(|m| m.len())
                })
                .sum();
        }
        Ok(figures)
    }

    /// Total and free bytes of the blob store's volume.
    pub async fn volume(&self) -> std::io::Result<(u64, u64)> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.volume())
            .await
            .map_err(std::io::Error::other)?
    }

    /// Bytes stored in all, for callers who may read the system's volumes; 0 for others, as
    /// Harbor reports it.
    pub async fn storage_used(&self, by: &Principal) -> Result<i64, DbError> {
        if !by.may_system(Resource::SystemVolumes, Operation::Read) {
            return Ok(0);
        }
        Ok(self.db.read(db::artifacts::totals).await?.3)
    }
}
