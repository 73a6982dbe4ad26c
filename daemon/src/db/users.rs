//! Users: the rows behind logins.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub password_hash: Option<String>,
    pub sysadmin: bool,
}

const COLUMNS: &str = "id, username, password_hash, sysadmin";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        sysadmin: r.get(3)?,
    })
}

pub fn by_name(conn: &Connection, username: &str) -> DbResult<Option<UserRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
            [username],
            row,
        )
        .optional()?)
}

pub fn insert(
    conn: &Connection,
    username: &str,
    email: Option<&str>,
    password_hash: &str,
    sysadmin: bool,
) -> DbResult<i64> {
    let t = now();
    conn.execute(
        "INSERT INTO users (username, email, password_hash, sysadmin, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![username, email, password_hash, sysadmin, t],
    )?;
    Ok(conn.last_insert_rowid())
}
