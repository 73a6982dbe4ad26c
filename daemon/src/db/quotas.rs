//! Projects' storage quotas. `used` is kept by the triggers of migration 10 (see there); this
//! module reads it, sets limits, and answers whether new content fits, inside the writer's
//! transaction that would store it, so two pushes can never both take the last room.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct QuotaRow {
    pub id: i64,
    pub project_id: i64,
    pub project_name: String,
    pub owner_name: String,
    /// Bytes; -1 is unlimited.
    pub hard: i64,
    pub used: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT q.id, q.project_id, p.name, COALESCE(u.username, ''), q.hard, q.used,
        q.created_at, q.updated_at
     FROM quotas q JOIN projects p ON p.id = q.project_id LEFT JOIN users u ON u.id = p.owner_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QuotaRow> {
    Ok(QuotaRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        project_name: r.get(2)?,
        owner_name: r.get(3)?,
        hard: r.get(4)?,
        used: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// The project's quota, made (unlimited) if a project somehow has none.
pub fn insert(conn: &Connection, project_id: i64, hard: i64) -> DbResult<()> {
    let t = now();
    conn.execute(
        "INSERT INTO quotas (project_id, hard, used, created_at, updated_at) VALUES (?1, ?2, 0, ?3, ?3)
         ON CONFLICT (project_id) DO NOTHING",
        params![project_id, hard, t],
    )?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: i64) -> DbResult<Option<QuotaRow>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE q.id = ?1"), [id], row)
        .optional()?)
}

pub fn by_project(conn: &Connection, project_id: i64) -> DbResult<Option<QuotaRow>> {
    Ok(conn
        .query_row(
            &format!("{SELECT} WHERE q.project_id = ?1"),
            [project_id],
            row,
        )
        .optional()?)
}

/// How the quota list may be sorted (Harbor's `sort` on `/quotas`); the column is never
/// taken from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaOrder {
    Id,
    HardAsc,
    HardDesc,
    UsedAsc,
    UsedDesc,
    CreatedAsc,
    CreatedDesc,
}

impl QuotaOrder {
    fn sql(self) -> &'static str {
        match self {
            QuotaOrder::Id => "q.id",
            QuotaOrder::HardAsc => "CASE WHEN q.hard < 0 THEN 1 ELSE 0 END, q.hard, q.id",
            QuotaOrder::HardDesc => "CASE WHEN q.hard < 0 THEN 0 ELSE 1 END, q.hard DESC, q.id",
            QuotaOrder::UsedAsc => "q.used, q.id",
            QuotaOrder::UsedDesc => "q.used DESC, q.id",
            QuotaOrder::CreatedAsc => "q.created_at, q.id",
            QuotaOrder::CreatedDesc => "q.created_at DESC, q.id",
        }
    }
}

/// A page of quotas, optionally of the given projects only, with the total.
pub fn page(
    conn: &Connection,
    projects: Option<&[i64]>,
    order: QuotaOrder,
    offset: i64,
    limit: i64,
) -> DbResult<(Vec<QuotaRow>, i64)> {
    let ids = projects.map(|p| serde_json::Value::from(p.to_vec()).to_string());
    let filter = "(?1 IS NULL OR q.project_id IN (SELECT value FROM json_each(?1)))";
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM quotas q WHERE {filter}"),
        [&ids],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE {filter} ORDER BY {} LIMIT ?2 OFFSET ?3",
        order.sql()
    ))?;
    let rows = stmt
        .query_map(params![ids, limit, offset], row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total))
}

pub fn set_hard(tx: &Transaction<'_>, id: i64, hard: i64) -> DbResult<bool> {
    Ok(tx.execute(
        "UPDATE quotas SET hard = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, hard, now()],
    )? > 0)
}

/// Why new content does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub hard: i64,
    pub used: i64,
    pub adding: i64,
}

/// Whether storing `digest` (`size` bytes) in the project fits its quota. Content the project
/// already holds costs nothing, as it is counted once.
pub fn check_room(
    conn: &Connection,
    project_id: i64,
    digest: &str,
    size: i64,
) -> DbResult<Result<(), Exceeded>> {
    let quota: Option<(i64, i64)> = conn
        .prepare_cached("SELECT hard, used FROM quotas WHERE project_id = ?1")?
        .query_row([project_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((hard, used)) = quota else {
        return Ok(Ok(()));
    };
    if hard < 0 || used.saturating_add(size) <= hard {
        return Ok(Ok(()));
    }
    let held = conn
        .prepare_cached("SELECT 1 FROM quota_content WHERE project_id = ?1 AND digest = ?2")?
        .exists(params![project_id, digest])?;
    if held {
        return Ok(Ok(()));
    }
    Ok(Err(Exceeded {
        hard,
        used,
        adding: size,
    }))
}

/// The project's usage computed from its content, not from the running sum: what the
/// running sum must always equal.
pub fn recount(conn: &Connection, project_id: i64) -> DbResult<i64> {
    Ok(conn.query_row(
        "SELECT COALESCE(SUM(size), 0) FROM (
             SELECT l.digest, b.size FROM repository_blobs l
                 JOIN repositories r ON r.id = l.repository_id JOIN blobs b ON b.digest = l.digest
                 WHERE r.project_id = ?1
             UNION
             SELECT m.digest, m.size FROM manifests m
                 JOIN repositories r ON r.id = m.repository_id WHERE r.project_id = ?1)",
        [project_id],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{projects, registry};

    fn used(conn: &Connection, project: i64) -> i64 {
        let q = by_project(conn, project).expect("read").expect("quota");
        assert_eq!(
            q.used,
            recount(conn, project).expect("recount"),
            "the running sum equals the recount"
        );
        q.used
    }

    /// Every way content enters and leaves a project moves its usage, each digest counted once.
    #[test]
    fn usage_follows_links_and_manifests() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "foreign_keys", "ON").expect("fk");
        crate::db::migrations::apply(&mut conn, None).expect("schema");
        let tx = conn.transaction().expect("tx");
        tx.execute(
            "INSERT INTO users (id, username, created_at, updated_at) VALUES (1, 'admin', 0, 0)",
            [],
        )
        .expect("user");
        let p = projects::insert(&tx, "team", false, 1, 1, 70).expect("project");
        let other = projects::insert(&tx, "other", false, 1, 1, -1).expect("project");
        let r1 = registry::ensure_repository(&tx, p, "team/a").expect("repo");
        let r2 = registry::ensure_repository(&tx, p, "team/b").expect("repo");
        let r3 = registry::ensure_repository(&tx, other, "other/a").expect("repo");
        registry::record_blob(&tx, r1, "sha256:b1", 40).expect("blob");
        assert_eq!(used(&tx, p), 40);
        registry::record_blob(&tx, r2, "sha256:b1", 40).expect("same blob, other repo");
        registry::link_blob(&tx, r1, "sha256:b1").expect("relink");
        assert_eq!(used(&tx, p), 40, "a blob counts once per project");
        registry::record_blob(&tx, r3, "sha256:b1", 40).expect("other project");
        assert_eq!(used(&tx, other), 40, "and once in each project");
        registry::record_blob(&tx, r1, "sha256:b2", 20).expect("blob");
        assert_eq!(used(&tx, p), 60);
        let m = registry::NewManifest {
            digest: "sha256:m1",
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            subject_digest: None,
            annotations: None,
            content: b"0123456789",
            blobs: &["sha256:b1".to_string()],
            manifests: &[],
        };
        registry::put_manifest(&tx, r1, &m).expect("manifest");
        registry::put_manifest(&tx, r2, &m).expect("same manifest");
        assert_eq!(used(&tx, p), 70);

        assert_eq!(
            check_room(&tx, p, "sha256:new", 1).expect("check"),
            Err(Exceeded {
                hard: 70,
                used: 70,
                adding: 1
            })
        );
        assert_eq!(
            check_room(&tx, p, "sha256:b2", 20).expect("check"),
            Ok(()),
            "held content is free"
        );
        assert_eq!(
            check_room(&tx, other, "sha256:new", 1 << 40).expect("check"),
            Ok(()),
            "no limit"
        );

        registry::unlink_blob(&tx, r1, "sha256:b2").expect("unlink");
        assert_eq!(used(&tx, p), 50);
        registry::delete_manifest(&tx, r1, "sha256:m1").expect("delete");
        assert_eq!(used(&tx, p), 50, "still in team/b");
        crate::db::artifacts::delete_repository(&tx, r2).expect("delete repository");
        assert_eq!(
            used(&tx, p),
            40,
            "team/b's manifest is gone, b1 is still linked to team/a"
        );
        registry::unlink_blob(&tx, r1, "sha256:b1").expect("unlink");
        assert_eq!(used(&tx, p), 0);
        assert_eq!(used(&tx, other), 40);
    }
}
