//! The database layer: owns every line of SQL. SQLite in WAL mode with one writer connection
//! and a few read-only ones; all calls are blocking, so they run on `spawn_blocking`, never on
//! the reactor. Row structs here are plain data: no serde, no axum.

pub mod artifacts;
pub mod audit;
pub mod gc;
pub mod groups;
pub mod immutable;
pub mod jobs;
pub mod members;
pub mod metrics;
mod migrations;
pub mod projects;
pub mod quotas;
pub mod registry;
pub mod replication;
pub mod retention;
pub mod robots;
pub mod settings;
pub mod snapshot;
pub mod users;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

pub use migrations::SCHEMA_VERSION;

/// The database layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database file: {0}")]
    Io(#[from] std::io::Error),
    #[error("database worker failed: {0}")]
    Worker(String),
    #[error(
        "the database is at schema version {found}, written by a newer Berth; this berthd knows \
         versions up to {known} and changed nothing. Run the Berth release that wrote it, or \
         restore a backup (or the copy in the data directory's pre-upgrade/) taken before \
         the upgrade"
    )]
    TooNew { found: i64, known: i64 },
    #[error(
        "upgrading the database from schema version {from} to {to} failed: {cause}. Nothing was \
         changed: the database is still at version {from}, and a copy taken just before the \
         attempt is {copy}. To roll back, reinstall the Berth release you ran before (it uses \
         schema version {from}) and start it; to retry, start this one again once the cause \
         is fixed"
    )]
    MigrationFailed {
        from: i64,
        to: i64,
        cause: String,
        copy: std::path::PathBuf,
    },
}

pub type DbResult<T> = Result<T, DbError>;

const READERS: usize = 4;

/// Where, beside the database, the copy taken before each schema upgrade goes.
pub const PRE_UPGRADE_DIR: &str = "pre-upgrade";

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Vec<Mutex<Connection>>>,
    next_reader: Arc<AtomicUsize>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

impl Db {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> DbResult<Db> {
        let mut writer = Connection::open(path)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        configure(&writer)?;
        let copies = path.parent().map(|dir| dir.join(PRE_UPGRADE_DIR));
        migrations::apply(&mut writer, copies.as_deref())?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            configure(&r)?;
            readers.push(Mutex::new(r));
        }
        Ok(Db {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(readers),
            next_reader: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Runs `f` on a read-only connection, off the reactor.
    pub async fn read<T, F>(&self, f: F) -> DbResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            // Prefer an idle reader; otherwise wait on the one round-robin picked.
            for i in 0..readers.len() {
                if let Ok(conn) = readers[(start + i) % readers.len()].try_lock() {
                    return f(&conn);
                }
            }
            let conn = readers[start % readers.len()]
                .lock()
                .map_err(|e| DbError::Worker(e.to_string()))?;
            f(&conn)
        })
        .await
        .map_err(|e| DbError::Worker(e.to_string()))?
    }

    /// Runs `f` inside one write transaction on the single writer, off the reactor. The
    /// transaction commits when `f` returns `Ok`, and rolls back otherwise.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, E> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().map_err(|e| DbError::Worker(e.to_string()))?;
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(DbError::from)?;
            let out = f(&tx)?;
            tx.commit().map_err(DbError::from)?;
            Ok(out)
        })
        .await
        .map_err(|e| E::from(DbError::Worker(e.to_string())))?
    }

    /// The health check: a real write through the single writer (so a stuck writer, a
    /// read-only file or a full disk shows), then a read.
    pub async fn check(&self) -> DbResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO health_probe (id, checked_at) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                [now()],
            )?;
            Ok::<_, DbError>(())
        })
        .await?;
        self.read(|c| Ok(c.query_row("SELECT checked_at FROM health_probe", [], |_| Ok(()))?))
            .await
    }
}

/// Seconds since the Unix epoch, the form every timestamp takes in the database.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
