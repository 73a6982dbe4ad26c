//! Project members: users (and, with LDAP, groups) with a role id.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, DbResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    User,
    Group,
}

impl EntityType {
    pub fn code(self) -> &'static str {
        match self {
            EntityType::User => "u",
            EntityType::Group => "g",
        }
    }
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: i64,
    pub project_id: i64,
    pub entity_type: String,
    pub entity_id: i64,
    pub entity_name: String,
    pub role_id: u8,
}

const SELECT: &str = "SELECT m.id, m.project_id, m.entity_type, m.entity_id,
        COALESCE(u.username, g.group_name, ''), m.role_id
     FROM members m
     LEFT JOIN users u ON m.entity_type = 'u' AND u.id = m.entity_id
     LEFT JOIN user_groups g ON m.entity_type = 'g' AND g.id = m.entity_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MemberRow> {
    Ok(MemberRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        entity_type: r.get(2)?,
        entity_id: r.get(3)?,
        entity_name: r.get(4)?,
        role_id: r.get(5)?,
    })
}

pub fn insert(
    conn: &Connection,
    project_id: i64,
    kind: EntityType,
    entity_id: i64,
    role_id: u8,
) -> DbResult<i64> {
    let t = now();
    conn.execute(
        "INSERT INTO members (project_id, entity_type, entity_id, role_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![project_id, kind.code(), entity_id, role_id, t],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn list(conn: &Connection, project_id: i64) -> DbResult<Vec<MemberRow>> {
    let mut stmt = conn.prepare(&format!("{SELECT} WHERE m.project_id = ?1 ORDER BY m.id"))?;
    let rows = stmt.query_map([project_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn get(conn: &Connection, project_id: i64, id: i64) -> DbResult<Option<MemberRow>> {
    Ok(conn
        .query_row(
            &format!("{SELECT} WHERE m.project_id = ?1 AND m.id = ?2"),
            [project_id, id],
            row,
        )
        .optional()?)
}

pub fn find(
    conn: &Connection,
    project_id: i64,
    kind: EntityType,
    entity_id: i64,
) -> DbResult<Option<MemberRow>> {
    Ok(conn
        .query_row(
            &format!(
                "{SELECT} WHERE m.project_id = ?1 AND m.entity_type = ?2 AND m.entity_id = ?3"
            ),
            params![project_id, kind.code(), entity_id],
            row,
        )
        .optional()?)
}

pub fn set_role(conn: &Connection, project_id: i64, id: i64, role_id: u8) -> DbResult<bool> {
    Ok(conn.execute(
        "UPDATE members SET role_id = ?3, updated_at = ?4 WHERE project_id = ?1 AND id = ?2",
        params![project_id, id, role_id, now()],
    )? > 0)
}

pub fn delete(conn: &Connection, project_id: i64, id: i64) -> DbResult<bool> {
    Ok(conn.execute(
        "DELETE FROM members WHERE project_id = ?1 AND id = ?2",
        [project_id, id],
    )? > 0)
}
