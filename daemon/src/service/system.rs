//! The installation as a whole: whether its parts work, and how much it stores.

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
}

impl SystemService {
    pub fn new(db: Db, store: Arc<dyn BlobStore>) -> SystemService {
        SystemService { db, store }
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
