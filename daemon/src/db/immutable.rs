//! Tag immutability rules, per project.

use rusqlite::{params, Connection, Transaction};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct RuleRow {
    pub id: i64,
    pub project_id: i64,
    pub priority: i64,
    pub disabled: bool,
    /// Harbor's `tag_selectors`, as JSON.
    pub tag_selectors: String,
    /// Harbor's `scope_selectors`, as JSON.
    pub scope_selectors: String,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RuleRow> {
    Ok(RuleRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        priority: r.get(2)?,
        disabled: r.get(3)?,
        tag_selectors: r.get(4)?,
        scope_selectors: r.get(5)?,
    })
}

/// The project's rules, in the order they were made.
pub fn rules(conn: &Connection, project_id: i64) -> DbResult<Vec<RuleRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, project_id, priority, disabled, tag_selectors, scope_selectors
         FROM immutable_rules WHERE project_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([project_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn count(conn: &Connection, project_id: i64) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM immutable_rules WHERE project_id = ?1",
        [project_id],
        |r| r.get(0),
    )?)
}

pub fn insert(
    tx: &Transaction<'_>,
    project_id: i64,
    priority: i64,
    disabled: bool,
    tag_selectors: &str,
    scope_selectors: &str,
) -> DbResult<i64> {
    let t = now();
    tx.execute(
        "INSERT INTO immutable_rules (project_id, priority, disabled, tag_selectors, scope_selectors, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![project_id, priority, disabled, tag_selectors, scope_selectors, t],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Updates a rule of the project; false when the project has no such rule.
pub fn update(
    tx: &Transaction<'_>,
    project_id: i64,
    id: i64,
    priority: i64,
    disabled: bool,
    tag_selectors: &str,
    scope_selectors: &str,
) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE immutable_rules SET priority = ?3, disabled = ?4, tag_selectors = ?5,
                scope_selectors = ?6, updated_at = ?7
         WHERE id = ?2 AND project_id = ?1",
        params![
            project_id,
            id,
            priority,
            disabled,
            tag_selectors,
            scope_selectors,
            now()
        ],
    )? > 0)
}

/// Deletes a rule of the project; false when the project has no such rule.
pub fn delete(tx: &Transaction<'_>, project_id: i64, id: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "DELETE FROM immutable_rules WHERE id = ?2 AND project_id = ?1",
        params![project_id, id],
    )? > 0)
}
