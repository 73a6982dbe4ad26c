//! The installation as a whole: whether its parts work, and how much it stores.

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::permissions::{Operation, Resource};
use crate::auth::Principal;
use crate::db::{self, Db, DbError};
use crate::storage::BlobStore;

/// Each component's state: `Err` carries what is wrong.
pub struct Health {
    pub database: Result<(), String>,
    pub storage: Result<(), String>,
}

impl Health {
    pub fn healthy(&self) -> bool {
        self.database.is_ok() && self.storage.is_ok()
    }
}

#[derive(Clone)]
pub struct SystemService {
    db: Db,
    store: Arc<dyn BlobStore>,
    ca_certificate: Option<PathBuf>,
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
        }
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

    pub async fn health(&self) -> Health {
        let database = self.db.check().await.map_err(|e| e.to_string());
        let store = self.store.clone();
        let storage = tokio::task::spawn_blocking(move || store.check())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        Health { database, storage }
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
