//! Point-in-time copies of the database and the checks a copy must pass: for `berthd backup`,
//! `verify` and `restore`, and for the copy taken before a migration. Plain blocking
//! rusqlite, because these run in a command or while opening, outside the runtime.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{DbError, DbResult, SCHEMA_VERSION};

/// What a database copy holds, as far as a backup cares.
#[derive(Debug)]
pub struct Contents {
    pub schema_version: i64,
    /// Every blob the database records, with its size, by digest.
    pub blobs: Vec<(String, u64)>,
}

/// What `check` found wrong with a copy; empty when it is sound.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<String>,
    pub manifests: u64,
}

/// Copies the live database at `live` into the new file `dest`, as of one instant: SQLite's
/// online backup in a single step is one read transaction, and in WAL mode the daemon's
/// writers carry on meanwhile. The copy is left in rollback-journal mode and fsynced, so it
/// is one self-contained file. Refuses a database newer than this binary.
pub fn snapshot(live: &Path, dest: &Path) -> DbResult<Contents> {
    let source = open_live(live)?;
    let schema_version = schema_version(&source)?;
    if schema_version > SCHEMA_VERSION {
        return Err(DbError::TooNew {
            found: schema_version,
            known: SCHEMA_VERSION,
        });
    }
    let mut copy = Connection::open(dest)?;
    copy_all(&source, &mut copy)?;
    drop(source);
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    let blobs = recorded_blobs(&copy)?;
    drop(copy);
    File::open(dest)?.sync_all()?;
    Ok(Contents {
        schema_version,
        blobs,
    })
}

/// Copies an open database into `dest` (a new file), for the copy before a migration.
pub fn copy_open(source: &Connection, dest: &Path) -> DbResult<()> {
    let mut copy = Connection::open(dest)?;
    copy_all(source, &mut copy)?;
    copy.pragma_update(None, "journal_mode", "DELETE")?;
    drop(copy);
    File::open(dest)?.sync_all()?;
    Ok(())
}

fn copy_all(source: &Connection, dest: &mut Connection) -> DbResult<()> {
    let backup = Backup::new(source, dest)?;
    // Another process holding a write lock at the wrong moment answers BUSY: try again a few
    // times, then give up with SQLite's error.
    for attempt in 0..50 {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More => continue,
            StepResult::Busy | StepResult::Locked if attempt < 49 => {
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => break,
        }
    }
    Err(DbError::Worker(
        "the database stayed busy; the copy was not taken".into(),
    ))
}

/// Opens a copy read-only and lists what it holds.
pub fn contents(copy: &Path) -> DbResult<Contents> {
    let conn = open_copy(copy)?;
    Ok(Contents {
        schema_version: schema_version(&conn)?,
        blobs: recorded_blobs(&conn)?,
    })
}

/// The consistency checks of a copy: SQLite's own integrity check, every reference sound
/// (`foreign_key_check`), every blob a manifest names recorded, and every manifest's
/// content matching its digest.
pub fn check(copy: &Path) -> DbResult<Findings> {
    let conn = open_copy(copy)?;
    let mut findings = Findings::default();
    let mut integrity = conn.prepare("PRAGMA integrity_check")?;
    for row in integrity.query_map([], |r| r.get::<_, String>(0))? {
        let row = row?;
        if row != "ok" {
            findings.problems.push(format!("integrity: {row}"));
        }
    }
    let broken: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
        r.get(0)
    })?;
    if broken > 0 {
        findings
            .problems
            .push(format!("{broken} rows reference rows that do not exist"));
    }
    let mut missing = conn.prepare(
        "SELECT DISTINCT r.digest FROM manifest_references r
         WHERE r.kind = 'blob' AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = r.digest)",
    )?;
    for digest in missing.query_map([], |r| r.get::<_, String>(0))? {
        findings
            .problems
            .push(format!("a manifest references {} but no blob row", digest?));
    }
    let mut manifests = conn.prepare("SELECT digest, content FROM manifests")?;
    let mut rows = manifests.query([])?;
    while let Some(row) = rows.next()? {
        findings.manifests += 1;
        let digest: String = row.get(0)?;
        let content: Vec<u8> = row.get(1)?;
        let matches = digest
            .parse::<crate::digest::Digest>()
            .map(|d| crate::digest::Digest::of(d.algorithm(), &content) == d)
            .unwrap_or(false);
        if !matches {
            findings
                .problems
                .push(format!("manifest {digest}: its content does not match"));
        }
    }
    Ok(findings)
}

fn open_copy(copy: &Path) -> DbResult<Connection> {
    let conn = Connection::open_with_flags(
        copy,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    Ok(conn)
}

/// Opens the live database for reading without creating it. When root opens it while no
/// daemon runs, SQLite creates its WAL and shared-memory files as root; they are handed to
/// the database's owner at once, so a daemon starting meanwhile can still use them.
fn open_live(live: &Path) -> DbResult<Connection> {
    let conn = Connection::open_with_flags(
        live,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(live).map_err(|e| DbError::Worker(e.to_string()))?;
        for suffix in ["-wal", "-shm"] {
            let mut side = live.as_os_str().to_owned();
            side.push(suffix);
            if let Ok(meta) = std::fs::symlink_metadata(&side) {
                if meta.is_file() && meta.uid() != owner.uid() {
                    std::os::unix::fs::lchown(&side, Some(owner.uid()), Some(owner.gid()))
                        .map_err(|e| DbError::Worker(e.to_string()))?;
                }
            }
        }
    }
    Ok(conn)
}

fn schema_version(conn: &Connection) -> DbResult<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

fn recorded_blobs(conn: &Connection) -> DbResult<Vec<(String, u64)>> {
    let mut stmt = conn.prepare("SELECT digest, size FROM blobs ORDER BY digest")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
