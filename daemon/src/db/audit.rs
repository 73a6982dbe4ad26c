//! The audit log's rows, and the pull counters that are written in the same batches.

use rusqlite::{params, params_from_iter, Connection, Transaction};

use super::DbResult;

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub project_id: Option<i64>,
    pub operation: String,
    pub resource_type: String,
    pub resource: String,
    pub username: String,
    pub success: bool,
    pub client_ip: String,
    pub op_time: i64,
}

pub fn insert(tx: &Transaction<'_>, r: &AuditRow) -> DbResult<()> {
    tx.prepare_cached(
        "INSERT INTO audit_log (project_id, operation, resource_type, resource, username, success, client_ip, op_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![r.project_id, r.operation, r.resource_type, r.resource, r.username, r.success, r.client_ip, r.op_time])?;
    Ok(())
}

/// Counts `n` pulls of a manifest at `at`.
pub fn record_pulls(
    tx: &Transaction<'_>,
    repository_id: i64,
    manifest_id: i64,
    n: i64,
    at: i64,
) -> DbResult<()> {
    tx.prepare_cached("UPDATE repositories SET pull_count = pull_count + ?2 WHERE id = ?1")?
        .execute(params![repository_id, n])?;
    tx.prepare_cached(
        "UPDATE manifests SET pull_time = MAX(COALESCE(pull_time, 0), ?2) WHERE id = ?1",
    )?
    .execute(params![manifest_id, at])?;
    Ok(())
}

/// Records a pull of a tag at `at`.
pub fn record_tag_pull(
    tx: &Transaction<'_>,
    repository_id: i64,
    tag: &str,
    at: i64,
) -> DbResult<()> {
    tx.prepare_cached(
        "UPDATE tags SET pull_time = MAX(COALESCE(pull_time, 0), ?3)
         WHERE repository_id = ?1 AND name = ?2",
    )?
    .execute(params![repository_id, tag, at])?;
    Ok(())
}

/// A filter on one column: exact, substring, or an inclusive range.
pub enum Filter {
    Exact(String),
    Contains(String),
    Range(Option<i64>, Option<i64>),
}

/// Entries matching every filter, newest first, with the total count.
pub fn search(
    conn: &Connection,
    project_id: Option<i64>,
    filters: &[(&'static str, Filter)],
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<AuditRow>, i64)> {
    // Column names come only from the callers' fixed list; values are always bound parameters.
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(p) = project_id {
        values.push(p.into());
        clauses.push(format!("project_id = ?{}", values.len()));
    }
    for (column, f) in filters {
        match f {
            Filter::Exact(v) => {
                values.push(v.clone().into());
                clauses.push(format!("{column} = ?{}", values.len()));
            }
            Filter::Contains(v) => {
                values.push(v.clone().into());
                clauses.push(format!("instr({column}, ?{}) > 0", values.len()));
            }
            Filter::Range(a, b) => {
                if let Some(a) = a {
                    values.push((*a).into());
                    clauses.push(format!("{column} >= ?{}", values.len()));
                }
                if let Some(b) = b {
                    values.push((*b).into());
                    clauses.push(format!("{column} <= ?{}", values.len()));
                }
            }
        }
    }
    let where_ = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM audit_log {where_}"),
        params_from_iter(values.iter()),
        |r| r.get(0),
    )?;
    values.push(limit.into());
    let l = values.len();
    values.push(offset.into());
    let o = values.len();
    let mut stmt = conn.prepare(&format!(
        "SELECT id, project_id, operation, resource_type, resource, username, success, client_ip, op_time
         FROM audit_log {where_} ORDER BY op_time DESC, id DESC LIMIT ?{l} OFFSET ?{o}"
    ))?;
    let rows = stmt.query_map(params_from_iter(values.iter()), |r| {
        Ok(AuditRow {
            id: r.get(0)?,
            project_id: r.get(1)?,
            operation: r.get(2)?,
            resource_type: r.get(3)?,
            resource: r.get(4)?,
            username: r.get(5)?,
            success: r.get(6)?,
            client_ip: r.get(7)?,
            op_time: r.get(8)?,
        })
    })?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// Deletes entries older than `before`; returns how many.
pub fn purge(tx: &Transaction<'_>, before: i64) -> DbResult<usize> {
    Ok(tx.execute("DELETE FROM audit_log WHERE op_time < ?1", [before])?)
}

/// Successful pushes and pulls per UTC day since `since` (unix seconds), of one project or of
/// all: `(day number since the epoch, pushes, pulls)`, days without any left out.
pub fn daily_activity(
    conn: &Connection,
    project_id: Option<i64>,
    since: i64,
) -> DbResult<Vec<(i64, i64, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT op_time / 86400 AS day, SUM(operation = 'push'), SUM(operation = 'pull')
         FROM audit_log
         WHERE op_time >= ?1 AND success = 1 AND operation IN ('push', 'pull')
           AND (?2 IS NULL OR project_id = ?2)
         GROUP BY day ORDER BY day",
    )?;
    let rows = stmt.query_map(params![since, project_id], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(op_time: i64, username: &str) -> AuditRow {
        AuditRow {
            id: 0,
            project_id: Some(1),
            operation: "pull".into(),
            resource_type: "artifact".into(),
            resource: "p/r:1".into(),
            username: username.into(),
            success: true,
            client_ip: "127.0.0.1".into(),
            op_time,
        }
    }

    #[test]
    fn purge_removes_only_old_entries_and_search_binds_values() {
        let mut conn = Connection::open_in_memory().expect("db");
        super::super::migrations::apply(&mut conn, None).expect("schema");
        let tx = conn.transaction().expect("tx");
        for (t, u) in [
            (100, "old"),
            (200, "old"),
            (1000, "new"),
            (2000, "x' OR '1'='1"),
        ] {
            insert(&tx, &row(t, u)).expect("insert");
        }
        assert_eq!(purge(&tx, 500).expect("purge"), 2);
        tx.commit().expect("commit");
        let (rows, total) = search(&conn, None, &[], 0, 10).expect("search");
        assert_eq!((rows.len(), total), (2, 2));
        assert_eq!(rows[0].op_time, 2000, "newest first");
        let f = [("username", Filter::Exact("x' OR '1'='1".into()))];
        assert_eq!(search(&conn, Some(1), &f, 0, 10).expect("search").1, 1);
        let f = [("op_time", Filter::Range(Some(1500), None))];
        assert_eq!(search(&conn, None, &f, 0, 10).expect("search").1, 1);
        assert_eq!(search(&conn, Some(2), &[], 0, 10).expect("search").1, 0);
    }
}
