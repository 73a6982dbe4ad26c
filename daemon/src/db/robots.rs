//! Robot accounts. The permission list is stored as Harbor's JSON; the secret only as a hash.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct RobotRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub level: String,
    pub project_id: Option<i64>,
    pub secret_hash: String,
    pub duration: i64,
    pub expires_at: i64,
    pub disabled: bool,
    pub permissions: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, name, description, level, project_id, secret_hash, duration, expires_at, disabled,
                       permissions, created_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RobotRow> {
    Ok(RobotRow {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        level: r.get(3)?,
        project_id: r.get(4)?,
        secret_hash: r.get(5)?,
        duration: r.get(6)?,
        expires_at: r.get(7)?,
        disabled: r.get(8)?,
        permissions: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

pub fn by_name(conn: &Connection, name: &str) -> DbResult<Option<RobotRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM robots WHERE name = ?1"),
            [name],
            row,
        )
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> DbResult<Option<RobotRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM robots WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

pub fn all(conn: &Connection) -> DbResult<Vec<RobotRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM robots ORDER BY id"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert(conn: &Connection, r: &RobotRow) -> DbResult<i64> {
    let t = now();
    conn.execute(
        "INSERT INTO robots (name, description, level, project_id, secret_hash, duration, expires_at, disabled,
                             permissions, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        params![
            r.name,
            r.description,
            r.level,
            r.project_id,
            r.secret_hash,
            r.duration,
            r.expires_at,
            r.disabled,
            r.permissions,
            t
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Changes what an update may change: description, expiry, disabled, permissions.
pub fn update(conn: &Connection, r: &RobotRow) -> DbResult<()> {
    conn.execute(
        "UPDATE robots SET description = ?2, duration = ?3, expires_at = ?4, disabled = ?5, permissions = ?6,
                           updated_at = ?7 WHERE id = ?1",
        params![r.id, r.description, r.duration, r.expires_at, r.disabled, r.permissions, now()],
    )?;
    Ok(())
}

pub fn set_secret_hash(conn: &Connection, id: i64, hash: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE robots SET secret_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, hash, now()],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id: i64) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM robots WHERE id = ?1", [id])? > 0)
}
