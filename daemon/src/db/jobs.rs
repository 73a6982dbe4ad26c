//! Job executions, their logs and schedules (`jobs` owns the rules; this owns the SQL).

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::DbResult;

/// One execution, as stored. `parameters` and `result` are JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRow {
    pub id: i64,
    pub kind: String,
    pub triggered_by: String,
    pub status: String,
    pub parameters: String,
    pub result: String,
    pub done: i64,
    pub total: i64,
    pub stop_requested: bool,
    pub retry_of: Option<i64>,
    /// Executions of one lane run one at a time: the kind, or a narrower key (a replication
    /// policy's own).
    pub lane: String,
    /// How many times a resumable execution was picked up again after an interruption.
    pub attempts: i64,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, kind, triggered_by, status, parameters, result, done, total, \
                       stop_requested, retry_of, created_at, started_at, ended_at, updated_at, \
                       COALESCE(lane, kind), attempts";

fn execution(r: &Row<'_>) -> rusqlite::Result<ExecutionRow> {
    Ok(ExecutionRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        triggered_by: r.get(2)?,
        status: r.get(3)?,
        parameters: r.get(4)?,
        result: r.get(5)?,
        done: r.get(6)?,
        total: r.get(7)?,
        stop_requested: r.get(8)?,
        retry_of: r.get(9)?,
        created_at: r.get(10)?,
        started_at: r.get(11)?,
        ended_at: r.get(12)?,
        updated_at: r.get(13)?,
        lane: r.get(14)?,
        attempts: r.get(15)?,
    })
}

pub fn insert(
    tx: &Transaction<'_>,
    kind: &str,
    triggered_by: &str,
    parameters: &str,
    retry_of: Option<i64>,
    now: i64,
) -> DbResult<i64> {
    insert_in_lane(tx, kind, None, triggered_by, parameters, retry_of, now)
}

/// An execution in a lane of its own (`None`: the kind's).
pub fn insert_in_lane(
    tx: &Transaction<'_>,
    kind: &str,
    lane: Option<&str>,
    triggered_by: &str,
    parameters: &str,
    retry_of: Option<i64>,
    now: i64,
) -> DbResult<i64> {
    let lane = lane.filter(|l| *l != kind);
    tx.execute(
        "INSERT INTO job_executions (kind, lane, triggered_by, status, parameters, retry_of,
                                     created_at, updated_at)
         VALUES (?1, ?2, ?3, 'Pending', ?4, ?5, ?6, ?6)",
        params![kind, lane, triggered_by, parameters, retry_of, now],
    )?;
    Ok(tx.last_insert_rowid())
}

/// A resumable execution an interruption left running goes back to the queue, itself.
pub fn resume(tx: &Transaction<'_>, id: i64, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE job_executions SET status = 'Pending', attempts = attempts + 1, updated_at = ?2
         WHERE id = ?1 AND status = 'Running'",
        params![id, now],
    )?;
    Ok(())
}

/// An ended execution queued again (a replication's failed tasks retried by hand); false when
/// it has not ended.
pub fn requeue(tx: &Transaction<'_>, id: i64, now: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE job_executions SET status = 'Pending', stop_requested = 0, attempts = 0,
                                   result = '{}', ended_at = NULL, updated_at = ?2
         WHERE id = ?1 AND status NOT IN ('Pending', 'Running')",
        params![id, now],
    )? == 1)
}

/// Replaces an execution's parameters (a running replication records the events it took,
/// so a resume plans from the same ones).
pub fn set_parameters(tx: &Transaction<'_>, id: i64, parameters: &str, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE job_executions SET parameters = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, parameters, now],
    )?;
    Ok(())
}

/// A running execution goes back to the queue as itself (a graceful shutdown): the next start
/// picks it up without counting an interruption.
pub fn back_to_queue(tx: &Transaction<'_>, id: i64, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE job_executions SET status = 'Pending', updated_at = ?2
         WHERE id = ?1 AND status = 'Running'",
        params![id, now],
    )?;
    Ok(())
}

/// The lane's execution by the given trigger that waits and has never started, if any (the
/// newest): one that a retry or a restart queued again has its plan already.
pub fn pending_in_lane(
    conn: &Connection,
    lane: &str,
    triggered_by: &str,
) -> DbResult<Option<ExecutionRow>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {COLUMNS} FROM job_executions
                 WHERE COALESCE(lane, kind) = ?1 AND triggered_by = ?2 AND status = 'Pending'
                   AND stop_requested = 0 AND started_at IS NULL
                 ORDER BY id DESC LIMIT 1"
            ),
            params![lane, triggered_by],
            execution,
        )
        .optional()?)
}

/// One lane's executions, newest first, with the total; optionally only in one status.
pub fn page_in_lanes(
    conn: &Connection,
    kind: &str,
    lane: Option<&str>,
    statuses: &[&str],
    triggered_by: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<ExecutionRow>, i64)> {
    let statuses = serde_json::to_string(statuses).unwrap_or_else(|_| "[]".into());
    let filter = "kind = ?1 AND (?2 IS NULL OR COALESCE(lane, kind) = ?2)
                  AND (?3 = '[]' OR status IN (SELECT value FROM json_each(?3)))
                  AND (?4 IS NULL OR triggered_by = ?4)";
    let total = conn.query_row(
        &format!("SELECT COUNT(*) FROM job_executions WHERE {filter}"),
        params![kind, lane, statuses, triggered_by],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM job_executions WHERE {filter} ORDER BY id DESC LIMIT ?5 OFFSET ?6"
    ))?;
    let rows = stmt
        .query_map(
            params![kind, lane, statuses, triggered_by, limit, offset],
            execution,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// Deletes a lane's ended executions (their tasks and logs go with them); false when one is
/// still pending or running.
pub fn delete_lane(tx: &Transaction<'_>, lane: &str) -> DbResult<bool> {
    let busy = tx
        .prepare_cached(
            "SELECT 1 FROM job_executions
             WHERE COALESCE(lane, kind) = ?1 AND status IN ('Pending', 'Running')",
        )?
        .exists([lane])?;
    if busy {
        return Ok(false);
    }
    tx.execute(
        "DELETE FROM job_executions WHERE COALESCE(lane, kind) = ?1",
        [lane],
    )?;
    Ok(true)
}

pub fn get(conn: &Connection, id: i64) -> DbResult<Option<ExecutionRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM job_executions WHERE id = ?1"),
            [id],
            execution,
        )
        .optional()?)
}

/// Executions of one kind, newest first, with the total.
pub fn page(
    conn: &Connection,
    kind: &str,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<ExecutionRow>, i64)> {
    let total = conn.query_row(
        "SELECT COUNT(*) FROM job_executions WHERE kind = ?1",
        [kind],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM job_executions WHERE kind = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt
        .query_map(params![kind, limit, offset], execution)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// Executions in one status, oldest first.
pub fn in_status(conn: &Connection, status: &str) -> DbResult<Vec<ExecutionRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM job_executions WHERE status = ?1 ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([status], execution)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Pending → Running; false when it was not pending (stopped before it started).
pub fn start(tx: &Transaction<'_>, id: i64, now: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE job_executions SET status = 'Running', started_at = ?2, updated_at = ?2
         WHERE id = ?1 AND status = 'Pending'",
        params![id, now],
    )? == 1)
}

/// Running (or Pending) → a final status, with the result.
pub fn finish(tx: &Transaction<'_>, id: i64, status: &str, result: &str, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE job_executions SET status = ?2, result = ?3, ended_at = ?4, updated_at = ?4
         WHERE id = ?1 AND status IN ('Pending', 'Running')",
        params![id, status, result, now],
    )?;
    Ok(())
}

pub fn progress(tx: &Transaction<'_>, id: i64, done: i64, total: i64, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE job_executions SET done = ?2, total = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, done, total, now],
    )?;
    Ok(())
}

/// Marks a pending or running execution to stop; false when it had already ended.
pub fn request_stop(tx: &Transaction<'_>, id: i64, now: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE job_executions SET stop_requested = 1, updated_at = ?2
         WHERE id = ?1 AND status IN ('Pending', 'Running')",
        params![id, now],
    )? == 1)
}

/// Appends a line to an execution's log (see [`append_bounded`]).
pub fn append_log(
    tx: &Transaction<'_>,
    id: i64,
    line: &str,
    max_lines: i64,
    now: i64,
) -> DbResult<()> {
    append_bounded(tx, BoundedLog::Execution, id, line, max_lines, now)
}

/// The logs kept as numbered lines: (table, the column naming whose log it is).
#[derive(Clone, Copy)]
pub(crate) enum BoundedLog {
    Execution,
    ReplicationTask,
}

impl BoundedLog {
    fn table(self) -> (&'static str, &'static str) {
        match self {
            BoundedLog::Execution => ("job_logs", "execution_id"),
            BoundedLog::ReplicationTask => ("replication_task_logs", "task_id"),
        }
    }
}

/// Appends a line unless the log already holds `max_lines`; the last line kept says so.
pub(crate) fn append_bounded(
    tx: &Transaction<'_>,
    log: BoundedLog,
    owner: i64,
    line: &str,
    max_lines: i64,
    now: i64,
) -> DbResult<()> {
    let (table, column) = log.table();
    let next: i64 = tx.query_row(
        &format!("SELECT COALESCE(MAX(seq), -1) + 1 FROM {table} WHERE {column} = ?1"),
        [owner],
        |r| r.get(0),
    )?;
    if next > max_lines {
        return Ok(());
    }
    let line = if next == max_lines {
        "(the log is full; later lines were dropped)"
    } else {
        line
    };
    tx.execute(
        &format!("INSERT INTO {table} ({column}, seq, at, line) VALUES (?1, ?2, ?3, ?4)"),
        params![owner, next, now, line],
    )?;
    Ok(())
}

/// The log, oldest line first.
pub fn log(conn: &Connection, id: i64) -> DbResult<Vec<(i64, String)>> {
    let mut stmt =
        conn.prepare_cached("SELECT at, line FROM job_logs WHERE execution_id = ?1 ORDER BY seq")?;
    let rows = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A kind's schedule: the schedule's JSON, the parameters' JSON and the next run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleRow {
    /// The schedule's key: its job kind, or a lane of it (then `job_kind` names the kind).
    pub kind: String,
    pub job_kind: Option<String>,
    pub schedule: String,
    pub parameters: String,
    pub next_run: Option<i64>,
}

pub fn schedule(conn: &Connection, kind: &str) -> DbResult<Option<ScheduleRow>> {
    Ok(conn
        .query_row(
            "SELECT kind, schedule, parameters, next_run, job_kind FROM job_schedules
             WHERE kind = ?1",
            [kind],
            schedule_row,
        )
        .optional()?)
}

fn schedule_row(r: &Row<'_>) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        kind: r.get(0)?,
        schedule: r.get(1)?,
        parameters: r.get(2)?,
        next_run: r.get(3)?,
        job_kind: r.get(4)?,
    })
}

pub fn set_schedule(tx: &Transaction<'_>, row: &ScheduleRow, now: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO job_schedules (kind, schedule, parameters, next_run, updated_at, job_kind)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (kind) DO UPDATE SET schedule = ?2, parameters = ?3, next_run = ?4,
                                          updated_at = ?5, job_kind = ?6",
        params![
            row.kind,
            row.schedule,
            row.parameters,
            row.next_run,
            now,
            row.job_kind
        ],
    )?;
    Ok(())
}

pub fn remove_schedule(tx: &Transaction<'_>, key: &str) -> DbResult<()> {
    tx.execute("DELETE FROM job_schedules WHERE kind = ?1", [key])?;
    Ok(())
}

/// Schedules whose next run is due.
pub fn due(conn: &Connection, now: i64) -> DbResult<Vec<ScheduleRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, schedule, parameters, next_run, job_kind FROM job_schedules
         WHERE next_run IS NOT NULL AND next_run <= ?1 ORDER BY next_run",
    )?;
    let rows = stmt
        .query_map([now], schedule_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn set_next_run(tx: &Transaction<'_>, kind: &str, next: Option<i64>, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE job_schedules SET next_run = ?2, updated_at = ?3 WHERE kind = ?1",
        params![kind, next, now],
    )?;
    Ok(())
}

/// Whether an execution of the lane is waiting to start (a due schedule then queues no other).
pub fn has_pending(conn: &Connection, lane: &str) -> DbResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM job_executions WHERE COALESCE(lane, kind) = ?1 AND status = 'Pending'",
        )?
        .exists([lane])?)
}

/// An execution of the kind that is pending or running, if any: (id, status).
pub fn busy(conn: &Connection, kind: &str) -> DbResult<Option<(i64, String)>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, status FROM job_executions
             WHERE kind = ?1 AND status IN ('Pending', 'Running') ORDER BY id LIMIT 1",
        )?
        .query_row([kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// How many executions the one given ends a retry chain of (1 when it is no retry).
pub fn chain_length(conn: &Connection, id: i64) -> DbResult<i64> {
    Ok(conn.query_row(
        "WITH RECURSIVE chain(id, retry_of) AS (
             SELECT id, retry_of FROM job_executions WHERE id = ?1
             UNION ALL
             SELECT e.id, e.retry_of FROM job_executions e JOIN chain c ON e.id = c.retry_of)
         SELECT COUNT(*) FROM chain",
        [id],
        |r| r.get(0),
    )?)
}

/// Deletes ended executions (with their logs) beyond the newest `keep` of each lane; returns
/// how many.
pub fn purge_history(tx: &Transaction<'_>, keep: i64) -> DbResult<usize> {
    Ok(tx.execute(
        "DELETE FROM job_executions WHERE status NOT IN ('Pending', 'Running') AND id IN (
             SELECT id FROM (
                 SELECT id, ROW_NUMBER() OVER (PARTITION BY COALESCE(lane, kind) ORDER BY id DESC) AS n
                 FROM job_executions)
             WHERE n > ?1)",
        [keep],
    )?)
}
