//! Users: the rows behind logins.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub realname: String,
    pub comment: String,
    pub password_hash: Option<String>,
    pub sysadmin: bool,
    /// In the directory's admin group at the last directory login.
    pub directory_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, username, email, realname, comment, password_hash, sysadmin, created_at, updated_at, directory_admin";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        realname: r.get(3)?,
        comment: r.get(4)?,
        password_hash: r.get(5)?,
        sysadmin: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        directory_admin: r.get(9)?,
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

/// The user whose name has this account key ([`crate::names::account_key`]): surrounding
/// whitespace ignored, ASCII letters in any case.
pub fn by_account_key(conn: &Connection, key: &str) -> DbResult<Option<UserRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM users
                 WHERE lower(trim(username, char(32, 9, 10, 11, 12, 13))) = ?1
                 ORDER BY id LIMIT 1"
            ),
            [key],
            row,
        )
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> DbResult<Option<UserRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

pub fn by_email(conn: &Connection, email: &str) -> DbResult<Option<UserRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM users WHERE email = ?1"),
            [email],
            row,
        )
        .optional()?)
}

/// Every user, by username.
pub fn all(conn: &Connection) -> DbResult<Vec<UserRow>> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The fields a new user is created with.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub realname: &'a str,
    pub comment: &'a str,
    pub password_hash: &'a str,
    pub sysadmin: bool,
}

pub fn insert(conn: &Connection, u: &NewUser<'_>) -> DbResult<i64> {
    let t = now();
    conn.execute(
        "INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
        params![u.username, u.email, u.realname, u.comment, u.password_hash, u.sysadmin, t],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn update_profile(
    conn: &Connection,
    id: i64,
    email: Option<&str>,
    realname: &str,
    comment: &str,
) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET email = ?2, realname = ?3, comment = ?4, updated_at = ?5 WHERE id = ?1",
        params![id, email, realname, comment, now()],
    )?;
    Ok(())
}

pub fn set_password_hash(conn: &Connection, id: i64, hash: &str) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, hash, now()],
    )?;
    Ok(())
}

pub fn set_sysadmin(conn: &Connection, id: i64, sysadmin: bool) -> DbResult<()> {
    conn.execute(
        "UPDATE users SET sysadmin = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, sysadmin, now()],
    )?;
    Ok(())
}

/// Deletes the user and their memberships. Projects they own keep them as owner of record
/// (ids are never reused, so that id can never name anyone else).
pub fn delete(conn: &Connection, id: i64) -> DbResult<bool> {
    conn.execute(
        "DELETE FROM members WHERE entity_type = 'u' AND entity_id = ?1",
        [id],
    )?;
    Ok(conn.execute("DELETE FROM users WHERE id = ?1", [id])? > 0)
}

/// Creates or refreshes the local record of a directory user (no local password), keeping the
/// existing e-mail when the directory's belongs to another account.
/// The local record of a directory user, matched by account key, created or refreshed.
/// `None` when the key belongs to a local-only account (one with a password of its own, such
/// as `admin` or a user created in database mode): a directory login never becomes one.
pub fn upsert_directory_user(
    conn: &Connection,
    username: &str,
    email: Option<&str>,
    realname: &str,
) -> DbResult<Option<UserRow>> {
    let key = crate::names::account_key(username);
    let existing = by_account_key(conn, &key)?;
    if existing.as_ref().is_some_and(|u| u.password_hash.is_some()) {
        return Ok(None);
    }
    let email = match email {
        Some(e)
            if by_email(conn, e)?
                .is_some_and(|other| existing.as_ref().is_none_or(|u| u.id != other.id)) =>
        {
            None
        }
        other => other,
    };
    let id = match existing {
        Some(u) => {
            let email = email.or(u.email.as_deref());
            update_profile(conn, u.id, email, realname, &u.comment)?;
            u.id
        }
        None => {
            let t = now();
            conn.execute(
                "INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
                 VALUES (?1, ?2, ?3, '', NULL, 0, ?4, ?4)",
                params![username.trim(), email, realname, t],
            )?;
            conn.last_insert_rowid()
        }
    };
    by_id(conn, id)
}
