//! Retention policies, their tasks (one per repository of an execution), and what an
//! evaluation reads and deletes.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub id: i64,
    pub project_id: i64,
    /// Harbor's `rules`, as JSON.
    pub rules: String,
    /// Harbor's `trigger`, as JSON.
    pub trigger: String,
    pub created_at: i64,
    pub updated_at: i64,
}

fn policy_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyRow> {
    Ok(PolicyRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        rules: r.get(2)?,
        trigger: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

const POLICY: &str =
    "SELECT id, project_id, rules, trigger, created_at, updated_at FROM retention_policies";

pub fn policy(conn: &Connection, id: i64) -> DbResult<Option<PolicyRow>> {
    Ok(conn
        .query_row(&format!("{POLICY} WHERE id = ?1"), [id], policy_row)
        .optional()?)
}

pub fn policy_of_project(conn: &Connection, project_id: i64) -> DbResult<Option<PolicyRow>> {
    Ok(conn
        .query_row(
            &format!("{POLICY} WHERE project_id = ?1"),
            [project_id],
            policy_row,
        )
        .optional()?)
}

/// Inserts the project's policy; `None` when it already has one.
pub fn insert_policy(
    tx: &Transaction<'_>,
    project_id: i64,
    rules: &str,
    trigger: &str,
) -> DbResult<Option<i64>> {
    let t = now();
    let n = tx.execute(
        "INSERT INTO retention_policies (project_id, rules, trigger, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (project_id) DO NOTHING",
        params![project_id, rules, trigger, t],
    )?;
    Ok((n > 0).then(|| tx.last_insert_rowid()))
}

pub fn update_policy(tx: &Transaction<'_>, id: i64, rules: &str, trigger: &str) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE retention_policies SET rules = ?2, trigger = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, rules, trigger, now()],
    )? > 0)
}

pub fn delete_policy(tx: &Transaction<'_>, id: i64) -> DbResult<bool> {
    Ok(tx.execute("DELETE FROM retention_policies WHERE id = ?1", [id])? > 0)
}

/// The project's repositories, by name.
pub fn repositories(conn: &Connection, project_id: i64) -> DbResult<Vec<(i64, String)>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, name FROM repositories WHERE project_id = ?1 ORDER BY name")?;
    let rows = stmt.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A candidate as stored: an artifact's tag, or the artifact alone when it has none.
#[derive(Debug, Clone)]
pub struct CandidateRow {
    pub manifest_id: i64,
    pub digest: String,
    pub tag: Option<String>,
    pub pushed: i64,
    pub pulled: Option<i64>,
}

/// The repository's top-level artifacts (not an index's child, not a referrer: those go with
/// what they belong to), one row per tag, or one row for an artifact without tags. A tag's
/// pull time is its own or its artifact's, whichever is later: an artifact deployed by digest
/// is in use under every tag it has.
pub fn candidates(conn: &Connection, repository_id: i64) -> DbResult<Vec<CandidateRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.digest, t.name, COALESCE(t.push_time, m.push_time),
                NULLIF(MAX(COALESCE(t.pull_time, 0), COALESCE(m.pull_time, 0)), 0)
         FROM manifests m LEFT JOIN tags t ON t.manifest_id = m.id
         WHERE m.repository_id = ?1 AND m.subject_digest IS NULL
           AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN manifests p ON p.id = r.manifest_id
                           WHERE p.repository_id = ?1 AND r.kind = 'manifest' AND r.digest = m.digest)
         ORDER BY m.id, t.name",
    )?;
    let rows = stmt.query_map([repository_id], |r| {
        Ok(CandidateRow {
            manifest_id: r.get(0)?,
            digest: r.get(1)?,
            tag: r.get(2)?,
            pushed: r.get(3)?,
            pulled: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every tag of the repository.
pub fn tag_names(conn: &Connection, repository_id: i64) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT name FROM tags WHERE repository_id = ?1")?;
    let rows = stmt.query_map([repository_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The tags an artifact has now.
pub fn tags_of(conn: &Connection, manifest_id: i64) -> DbResult<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT name FROM tags WHERE manifest_id = ?1 ORDER BY name")?;
    let rows = stmt.query_map([manifest_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: i64,
    pub execution_id: i64,
    pub repository: String,
    pub status: String,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub total: i64,
    pub retained: i64,
}

fn task_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: r.get(0)?,
        execution_id: r.get(1)?,
        repository: r.get(2)?,
        status: r.get(3)?,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
        total: r.get(6)?,
        retained: r.get(7)?,
    })
}

const TASK: &str =
    "SELECT id, execution_id, repository, status, started_at, ended_at, total, retained
     FROM retention_tasks";

/// Records a repository's outcome (tasks are written once their repository is done).
#[allow(clippy::too_many_arguments)]
pub fn insert_task(
    tx: &Transaction<'_>,
    execution_id: i64,
    repository: &str,
    status: &str,
    started_at: i64,
    total: i64,
    retained: i64,
    log: &str,
) -> DbResult<i64> {
    tx.execute(
        "INSERT INTO retention_tasks (execution_id, repository, status, started_at, ended_at, total, retained, log)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![execution_id, repository, status, started_at, now(), total, retained, log],
    )?;
    Ok(tx.last_insert_rowid())
}

pub fn tasks(
    conn: &Connection,
    execution_id: i64,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<TaskRow>, i64)> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM retention_tasks WHERE execution_id = ?1",
        [execution_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "{TASK} WHERE execution_id = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt
        .query_map(params![execution_id, limit, offset], task_row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total))
}

/// A task's repository and log, if the task belongs to the execution.
pub fn task_log(
    conn: &Connection,
    execution_id: i64,
    task_id: i64,
) -> DbResult<Option<(String, String)>> {
    Ok(conn
        .query_row(
            "SELECT repository, log FROM retention_tasks WHERE id = ?1 AND execution_id = ?2",
            [task_id, execution_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}
