//! Projects and their members.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub owner_id: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, public, owner_id, created_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectRow> {
    Ok(ProjectRow {
        id: r.get(0)?,
        name: r.get(1)?,
        public: r.get(2)?,
        owner_id: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

pub fn by_name(conn: &Connection, name: &str) -> DbResult<Option<ProjectRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM projects WHERE name = ?1"),
            [name],
            row,
        )
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> DbResult<Option<ProjectRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM projects WHERE id = ?1"),
            [id],
            row,
        )
        .optional()?)
}

/// Inserts a project and makes its owner a member with `owner_role_id`.
pub fn insert(
    conn: &Connection,
    name: &str,
    public: bool,
    owner_id: i64,
    owner_role_id: u8,
) -> DbResult<i64> {
    let t = now();
    conn.execute(
        "INSERT INTO projects (name, public, owner_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![name, public, owner_id, t],
    )?;
    let id = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO project_members (project_id, user_id, role_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, owner_id, owner_role_id, t],
    )?;
    Ok(id)
}

/// The role id a user holds in a project, if any.
pub fn member_role(conn: &Connection, project_id: i64, user_id: i64) -> DbResult<Option<u8>> {
    Ok(conn
        .query_row(
            "SELECT role_id FROM project_members WHERE project_id = ?1 AND user_id = ?2",
            [project_id, user_id],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every project with the caller's role in it (None where not a member).
pub fn all_with_role(
    conn: &Connection,
    user_id: Option<i64>,
) -> DbResult<Vec<(ProjectRow, Option<u8>)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {cols}, (SELECT role_id FROM project_members m WHERE m.project_id = p.id AND m.user_id = ?1)
         FROM projects p ORDER BY name",
        cols = COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
    ))?;
    let rows = stmt.query_map([user_id.unwrap_or(-1)], |r| Ok((row(r)?, r.get(6)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
