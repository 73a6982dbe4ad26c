//! Replication's SQL: endpoints (`registries`), policies, an execution's tasks and their logs,
//! the instance id, and the local listings a push-based policy plans from. Executions
//! themselves are the job runner's (`db::jobs`).

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::DbResult;

/// An endpoint, as stored: `access_secret` is sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub kind: String,
    pub url: String,
    pub credential_type: String,
    pub access_key: String,
    pub access_secret: String,
    pub insecure: bool,
    pub ca_certificate: String,
    pub status: String,
    /// The Berth instance id the endpoint reported when last reached (empty: not a Berth).
    pub peer_instance: String,
    pub created_at: i64,
    pub updated_at: i64,
}

const REGISTRY_COLUMNS: &str = "id, name, description, type, url, credential_type, access_key, \
     access_secret, insecure, ca_certificate, status, peer_instance, created_at, updated_at";

fn registry_row(r: &Row<'_>) -> rusqlite::Result<RegistryRow> {
    Ok(RegistryRow {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        kind: r.get(3)?,
        url: r.get(4)?,
        credential_type: r.get(5)?,
        access_key: r.get(6)?,
        access_secret: r.get(7)?,
        insecure: r.get(8)?,
        ca_certificate: r.get(9)?,
        status: r.get(10)?,
        peer_instance: r.get(11)?,
        created_at: r.get(12)?,
        updated_at: r.get(13)?,
    })
}

pub fn instance_id(conn: &Connection) -> DbResult<String> {
    Ok(
        conn.query_row("SELECT instance_id FROM instance WHERE id = 1", [], |r| {
            r.get(0)
        })?,
    )
}

pub fn insert_registry(tx: &Transaction<'_>, r: &RegistryRow, now: i64) -> DbResult<i64> {
    tx.execute(
        "INSERT INTO registries (name, description, type, url, credential_type, access_key,
                                 access_secret, insecure, ca_certificate, status,
                                 peer_instance, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)",
        params![
            r.name,
            r.description,
            r.kind,
            r.url,
            r.credential_type,
            r.access_key,
            r.access_secret,
            r.insecure,
            r.ca_certificate,
            r.status,
            r.peer_instance,
            now
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

pub fn update_registry(tx: &Transaction<'_>, r: &RegistryRow, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE registries SET name = ?2, description = ?3, type = ?4, url = ?5,
                credential_type = ?6, access_key = ?7, access_secret = ?8, insecure = ?9,
                ca_certificate = ?10, status = ?11, peer_instance = ?12, updated_at = ?13
         WHERE id = ?1",
        params![
            r.id,
            r.name,
            r.description,
            r.kind,
            r.url,
            r.credential_type,
            r.access_key,
            r.access_secret,
            r.insecure,
            r.ca_certificate,
            r.status,
            r.peer_instance,
            now
        ],
    )?;
    Ok(())
}

pub fn set_registry_status(
    tx: &Transaction<'_>,
    id: i64,
    status: &str,
    peer_instance: &str,
) -> DbResult<()> {
    tx.execute(
        "UPDATE registries SET status = ?2, peer_instance = ?3 WHERE id = ?1",
        params![id, status, peer_instance],
    )?;
    Ok(())
}

pub fn registry(conn: &Connection, id: i64) -> DbResult<Option<RegistryRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {REGISTRY_COLUMNS} FROM registries WHERE id = ?1"),
            [id],
            registry_row,
        )
        .optional()?)
}

pub fn registry_by_name(conn: &Connection, name: &str) -> DbResult<Option<RegistryRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {REGISTRY_COLUMNS} FROM registries WHERE name = ?1"),
            [name],
            registry_row,
        )
        .optional()?)
}

/// Endpoints whose name contains `name` (all with an empty one), by id, with the total.
pub fn registries(
    conn: &Connection,
    name: &str,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<RegistryRow>, i64)> {
    let filter = "instr(name, ?1) > 0";
    let total = conn.query_row(
        &format!("SELECT COUNT(*) FROM registries WHERE {filter}"),
        [name],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {REGISTRY_COLUMNS} FROM registries WHERE {filter} ORDER BY id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt
        .query_map(params![name, limit, offset], registry_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

pub fn delete_registry(tx: &Transaction<'_>, id: i64) -> DbResult<bool> {
    Ok(tx.execute("DELETE FROM registries WHERE id = ?1", [id])? == 1)
}

/// The names of the policies that use an endpoint.
pub fn policies_using(conn: &Connection, registry_id: i64) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM replication_policies
         WHERE src_registry_id = ?1 OR dest_registry_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([registry_id], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A policy, as stored: `filters` is JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub src_registry_id: Option<i64>,
    pub dest_registry_id: Option<i64>,
    pub dest_namespace: String,
    pub dest_namespace_replace_count: i64,
    pub filters: String,
    pub trigger_type: String,
    pub trigger_cron: String,
    pub replicate_deletion: bool,
    pub override_: bool,
    pub enabled: bool,
    pub speed: i64,
    pub copy_by_chunk: bool,
    pub single_active_replication: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const POLICY_COLUMNS: &str = "id, name, description, src_registry_id, dest_registry_id, \
     dest_namespace, dest_namespace_replace_count, filters, trigger_type, trigger_cron, \
     replicate_deletion, override, enabled, speed, copy_by_chunk, single_active_replication, \
     created_at, updated_at";

fn policy_row(r: &Row<'_>) -> rusqlite::Result<PolicyRow> {
    Ok(PolicyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        src_registry_id: r.get(3)?,
        dest_registry_id: r.get(4)?,
        dest_namespace: r.get(5)?,
        dest_namespace_replace_count: r.get(6)?,
        filters: r.get(7)?,
        trigger_type: r.get(8)?,
        trigger_cron: r.get(9)?,
        replicate_deletion: r.get(10)?,
        override_: r.get(11)?,
        enabled: r.get(12)?,
        speed: r.get(13)?,
        copy_by_chunk: r.get(14)?,
        single_active_replication: r.get(15)?,
        created_at: r.get(16)?,
        updated_at: r.get(17)?,
    })
}

pub fn insert_policy(tx: &Transaction<'_>, p: &PolicyRow, now: i64) -> DbResult<i64> {
    tx.execute(
        "INSERT INTO replication_policies (name, description, src_registry_id,
                dest_registry_id, dest_namespace, dest_namespace_replace_count, filters,
                trigger_type, trigger_cron, replicate_deletion, override, enabled, speed,
                copy_by_chunk, single_active_replication, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
        params![
            p.name,
            p.description,
            p.src_registry_id,
            p.dest_registry_id,
            p.dest_namespace,
            p.dest_namespace_replace_count,
            p.filters,
            p.trigger_type,
            p.trigger_cron,
            p.replicate_deletion,
            p.override_,
            p.enabled,
            p.speed,
            p.copy_by_chunk,
            p.single_active_replication,
            now
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

pub fn update_policy(tx: &Transaction<'_>, p: &PolicyRow, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE replication_policies SET name = ?2, description = ?3, src_registry_id = ?4,
                dest_registry_id = ?5, dest_namespace = ?6, dest_namespace_replace_count = ?7,
                filters = ?8, trigger_type = ?9, trigger_cron = ?10, replicate_deletion = ?11,
                override = ?12, enabled = ?13, speed = ?14, copy_by_chunk = ?15,
                single_active_replication = ?16, updated_at = ?17
         WHERE id = ?1",
        params![
            p.id,
            p.name,
            p.description,
            p.src_registry_id,
            p.dest_registry_id,
            p.dest_namespace,
            p.dest_namespace_replace_count,
            p.filters,
            p.trigger_type,
            p.trigger_cron,
            p.replicate_deletion,
            p.override_,
            p.enabled,
            p.speed,
            p.copy_by_chunk,
            p.single_active_replication,
            now
        ],
    )?;
    Ok(())
}

pub fn policy(conn: &Connection, id: i64) -> DbResult<Option<PolicyRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {POLICY_COLUMNS} FROM replication_policies WHERE id = ?1"),
            [id],
            policy_row,
        )
        .optional()?)
}

pub fn policy_by_name(conn: &Connection, name: &str) -> DbResult<Option<PolicyRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {POLICY_COLUMNS} FROM replication_policies WHERE name = ?1"),
            [name],
            policy_row,
        )
        .optional()?)
}

pub fn policies(
    conn: &Connection,
    name: &str,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<PolicyRow>, i64)> {
    let filter = "instr(name, ?1) > 0";
    let total = conn.query_row(
        &format!("SELECT COUNT(*) FROM replication_policies WHERE {filter}"),
        [name],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {POLICY_COLUMNS} FROM replication_policies WHERE {filter}
         ORDER BY id LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = stmt
        .query_map(params![name, limit, offset], policy_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// Enabled event-based policies that push from here (every one is checked per event).
pub fn event_policies(conn: &Connection) -> DbResult<Vec<PolicyRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {POLICY_COLUMNS} FROM replication_policies
         WHERE enabled = 1 AND trigger_type = 'event_based' AND dest_registry_id IS NOT NULL
         ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([], policy_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn delete_policy(tx: &Transaction<'_>, id: i64) -> DbResult<bool> {
    Ok(tx.execute("DELETE FROM replication_policies WHERE id = ?1", [id])? == 1)
}

/// What a task does, before it is stored.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub operation: &'static str,
    pub resource_type: &'static str,
    pub src_resource: String,
    pub dst_resource: String,
    pub spec: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    pub id: i64,
    pub execution_id: i64,
    pub operation: String,
    pub resource_type: String,
    pub src_resource: String,
    pub dst_resource: String,
    pub spec: String,
    pub status: String,
    pub attempts: i64,
    pub bytes_total: i64,
    pub bytes_done: i64,
    pub error: String,
    pub created_at: i64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub updated_at: i64,
}

const TASK_COLUMNS: &str = "id, execution_id, operation, resource_type, src_resource, \
     dst_resource, spec, status, attempts, bytes_total, bytes_done, error, created_at, \
     start_time, end_time, updated_at";

fn task_row(r: &Row<'_>) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        id: r.get(0)?,
        execution_id: r.get(1)?,
        operation: r.get(2)?,
        resource_type: r.get(3)?,
        src_resource: r.get(4)?,
        dst_resource: r.get(5)?,
        spec: r.get(6)?,
        status: r.get(7)?,
        attempts: r.get(8)?,
        bytes_total: r.get(9)?,
        bytes_done: r.get(10)?,
        error: r.get(11)?,
        created_at: r.get(12)?,
        start_time: r.get(13)?,
        end_time: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

/// Stores an execution's plan, all at once.
pub fn insert_tasks(
    tx: &Transaction<'_>,
    execution_id: i64,
    tasks: &[NewTask],
    now: i64,
) -> DbResult<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO replication_tasks (execution_id, operation, resource_type, src_resource,
                                        dst_resource, spec, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'Pending', ?7, ?7)",
    )?;
    for t in tasks {
        stmt.execute(params![
            execution_id,
            t.operation,
            t.resource_type,
            t.src_resource,
            t.dst_resource,
            t.spec,
            now
        ])?;
    }
    Ok(())
}

/// Drops a plan that a crash cut short (its tasks have not run).
pub fn delete_tasks(tx: &Transaction<'_>, execution_id: i64) -> DbResult<usize> {
    Ok(tx.execute(
        "DELETE FROM replication_tasks WHERE execution_id = ?1",
        [execution_id],
    )?)
}

/// Tasks a stop or a shutdown left unfinished go back to `Pending`.
pub fn requeue_in_progress(tx: &Transaction<'_>, execution_id: i64, now: i64) -> DbResult<usize> {
    Ok(tx.execute(
        "UPDATE replication_tasks SET status = 'Pending', updated_at = ?2
         WHERE execution_id = ?1 AND status = 'InProgress'",
        params![execution_id, now],
    )?)
}

pub fn has_tasks(conn: &Connection, execution_id: i64) -> DbResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM replication_tasks WHERE execution_id = ?1")?
        .exists([execution_id])?)
}

pub fn task(conn: &Connection, id: i64) -> DbResult<Option<TaskRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {TASK_COLUMNS} FROM replication_tasks WHERE id = ?1"),
            [id],
            task_row,
        )
        .optional()?)
}

/// An execution's tasks by id, optionally in one status, with the total.
pub fn tasks(
    conn: &Connection,
    execution_id: i64,
    status: Option<&str>,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<TaskRow>, i64)> {
    let filter = "execution_id = ?1 AND (?2 IS NULL OR status = ?2)";
    let total = conn.query_row(
        &format!("SELECT COUNT(*) FROM replication_tasks WHERE {filter}"),
        params![execution_id, status],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM replication_tasks WHERE {filter}
         ORDER BY id LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = stmt
        .query_map(params![execution_id, status, limit, offset], task_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, total))
}

/// An execution's tasks in each status, and its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    pub total: i64,
    pub pending: i64,
    pub in_progress: i64,
    pub succeed: i64,
    pub failed: i64,
    pub stopped: i64,
    pub bytes_total: i64,
    pub bytes_done: i64,
}

pub fn counts(conn: &Connection, execution_id: i64) -> DbResult<TaskCounts> {
    Ok(conn.query_row(
        "SELECT COUNT(*),
                COALESCE(SUM(status = 'Pending'), 0),
                COALESCE(SUM(status = 'InProgress'), 0),
                COALESCE(SUM(status = 'Succeed'), 0),
                COALESCE(SUM(status = 'Failed'), 0),
                COALESCE(SUM(status = 'Stopped'), 0),
                COALESCE(SUM(bytes_total), 0),
                COALESCE(SUM(bytes_done), 0)
         FROM replication_tasks WHERE execution_id = ?1",
        [execution_id],
        |r| {
            Ok(TaskCounts {
                total: r.get(0)?,
                pending: r.get(1)?,
                in_progress: r.get(2)?,
                succeed: r.get(3)?,
                failed: r.get(4)?,
                stopped: r.get(5)?,
                bytes_total: r.get(6)?,
                bytes_done: r.get(7)?,
            })
        },
    )?)
}

/// Tasks still to run, in order: those a crash left in progress are run again.
pub fn unfinished_tasks(conn: &Connection, execution_id: i64) -> DbResult<Vec<TaskRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM replication_tasks
         WHERE execution_id = ?1 AND status IN ('Pending', 'InProgress') ORDER BY id"
    ))?;
    let rows = stmt
        .query_map([execution_id], task_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn start_task(tx: &Transaction<'_>, id: i64, now: i64) -> DbResult<()> {
    tx.execute(
        "UPDATE replication_tasks SET status = 'InProgress', attempts = attempts + 1,
                start_time = COALESCE(start_time, ?2), end_time = NULL, updated_at = ?2
         WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub fn finish_task(
    tx: &Transaction<'_>,
    id: i64,
    status: &str,
    error: &str,
    now: i64,
) -> DbResult<()> {
    tx.execute(
        "UPDATE replication_tasks SET status = ?2, error = ?3, end_time = ?4, updated_at = ?4
         WHERE id = ?1",
        params![id, status, error, now],
    )?;
    Ok(())
}

pub fn task_progress(
    tx: &Transaction<'_>,
    id: i64,
    bytes_done: i64,
    bytes_total: i64,
    now: i64,
) -> DbResult<()> {
    tx.execute(
        "UPDATE replication_tasks SET bytes_done = ?2, bytes_total = ?3, updated_at = ?4
         WHERE id = ?1",
        params![id, bytes_done, bytes_total, now],
    )?;
    Ok(())
}

/// Pending tasks of a stopped execution end `Stopped`.
pub fn stop_unfinished(tx: &Transaction<'_>, execution_id: i64, now: i64) -> DbResult<usize> {
    Ok(tx.execute(
        "UPDATE replication_tasks SET status = 'Stopped', end_time = ?2, updated_at = ?2
         WHERE execution_id = ?1 AND status IN ('Pending', 'InProgress')",
        params![execution_id, now],
    )?)
}

/// Failed and stopped tasks go back to `Pending`, for a retry by hand; returns how many.
pub fn retry_failed(tx: &Transaction<'_>, execution_id: i64, now: i64) -> DbResult<usize> {
    Ok(tx.execute(
        "UPDATE replication_tasks SET status = 'Pending', attempts = 0, error = '',
                                      end_time = NULL, updated_at = ?2
         WHERE execution_id = ?1 AND status IN ('Failed', 'Stopped')",
        params![execution_id, now],
    )?)
}

/// Appends to a task's log, bounded like an execution's.
pub fn append_task_log(
    tx: &Transaction<'_>,
    task_id: i64,
    line: &str,
    max_lines: i64,
    now: i64,
) -> DbResult<()> {
    super::jobs::append_bounded(
        tx,
        super::jobs::BoundedLog::ReplicationTask,
        task_id,
        line,
        max_lines,
        now,
    )
}

pub fn task_log(conn: &Connection, task_id: i64) -> DbResult<Vec<(i64, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, line FROM replication_task_logs WHERE task_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([task_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// An event waiting for its policy's next execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub deleted: bool,
}

/// Records an event for a policy; the same one waiting already counts once.
pub fn insert_event(tx: &Transaction<'_>, policy_id: i64, e: &EventRow, now: i64) -> DbResult<()> {
    tx.execute(
        "INSERT OR IGNORE INTO replication_events
             (policy_id, repository, tag, digest, deleted, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![policy_id, e.repository, e.tag, e.digest, e.deleted, now],
    )?;
    Ok(())
}

/// Takes up to `limit` of a policy's waiting events, oldest first (they are removed), and
/// says whether more are left.
pub fn claim_events(
    tx: &Transaction<'_>,
    policy_id: i64,
    limit: i64,
) -> DbResult<(Vec<EventRow>, bool)> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, repository, tag, digest, deleted FROM replication_events
         WHERE policy_id = ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows: Vec<(i64, EventRow)> = stmt
        .query_map(params![policy_id, limit], |r| {
            Ok((
                r.get(0)?,
                EventRow {
                    repository: r.get(1)?,
                    tag: r.get(2)?,
                    digest: r.get(3)?,
                    deleted: r.get(4)?,
                },
            ))
        })?
        .collect::<Result<_, _>>()?;
    if let Some((last, _)) = rows.last() {
        tx.execute(
            "DELETE FROM replication_events WHERE policy_id = ?1 AND id <= ?2",
            params![policy_id, last],
        )?;
    }
    let more = tx
        .prepare_cached("SELECT 1 FROM replication_events WHERE policy_id = ?1")?
        .exists([policy_id])?;
    Ok((rows.into_iter().map(|(_, e)| e).collect(), more))
}

/// Every repository here that holds a manifest, by name.
pub fn local_repositories(conn: &Connection) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM repositories r
         WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = r.id)
         ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A local repository's tags and the digests they point at.
pub fn local_tags(conn: &Connection, repository: &str) -> DbResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.name, m.digest FROM tags t
         JOIN repositories r ON r.id = t.repository_id
         JOIN manifests m ON m.id = t.manifest_id
         WHERE r.name = ?1 ORDER BY t.name",
    )?;
    let rows = stmt.query_map([repository], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
