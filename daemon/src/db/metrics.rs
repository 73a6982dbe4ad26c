//! What a metrics scrape reads from the database: Harbor's exporter figures, counted in one
//! read transaction.

use rusqlite::Connection;

use super::DbResult;

/// One project's figures (Harbor's `harbor_project_*` and `harbor_artifact_pulled`).
#[derive(Debug, Clone)]
pub struct ProjectFigures {
    pub name: String,
    pub public: bool,
    pub repositories: i64,
    pub members: i64,
    pub artifacts: i64,
    pub quota_used: i64,
    /// -1: no limit.
    pub quota_hard: i64,
    pub pulls: i64,
}

/// The job runner's queue: executions waiting and running per kind, and schedules.
#[derive(Debug, Clone, Default)]
pub struct QueueFigures {
    pub pending: Vec<(String, i64)>,
    pub running: Vec<(String, i64)>,
    pub schedules: i64,
}

pub fn projects(conn: &Connection) -> DbResult<Vec<ProjectFigures>> {
    let mut stmt = conn.prepare(
        "SELECT p.name, p.public,
                (SELECT count(*) FROM repositories r WHERE r.project_id = p.id),
                (SELECT count(*) FROM members m WHERE m.project_id = p.id),
                (SELECT count(*) FROM manifests m JOIN repositories r ON r.id = m.repository_id
                   WHERE r.project_id = p.id),
                COALESCE((SELECT used FROM quotas q WHERE q.project_id = p.id), 0),
                COALESCE((SELECT hard FROM quotas q WHERE q.project_id = p.id), -1),
                (SELECT COALESCE(sum(pull_count), 0) FROM repositories r WHERE r.project_id = p.id)
         FROM projects p ORDER BY p.name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(ProjectFigures {
            name: r.get(0)?,
            public: r.get::<_, i64>(1)? != 0,
            repositories: r.get(2)?,
            members: r.get(3)?,
            artifacts: r.get(4)?,
            quota_used: r.get(5)?,
            quota_hard: r.get(6)?,
            pulls: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn queue(conn: &Connection) -> DbResult<QueueFigures> {
    let by_kind = |status: &str| -> DbResult<Vec<(String, i64)>> {
        let mut stmt = conn.prepare(
            "SELECT kind, count(*) FROM job_executions WHERE status = ?1 GROUP BY kind ORDER BY kind",
        )?;
        let rows = stmt.query_map([status], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    Ok(QueueFigures {
        pending: by_kind("Pending")?,
        running: by_kind("Running")?,
        schedules: conn.query_row("SELECT count(*) FROM job_schedules", [], |r| r.get(0))?,
    })
}

/// Bytes of every blob recorded.
pub fn stored_bytes(conn: &Connection) -> DbResult<i64> {
    Ok(conn.query_row("SELECT COALESCE(sum(size), 0) FROM blobs", [], |r| r.get(0))?)
}
