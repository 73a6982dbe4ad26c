//! Projects, their members and their figures.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, DbResult};

#[derive(Debug, Clone)]
pub struct ProjectRow {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub owner_id: i64,
    pub owner_name: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub repo_count: i64,
    /// Harbor's `retention_id` metadata: the project's retention policy.
    pub retention_id: Option<i64>,
    /// The quota's usage and limit (bytes; -1 for none).
    pub quota_used: i64,
    pub quota_hard: i64,
}

const SELECT: &str = "SELECT p.id, p.name, p.public, p.owner_id, COALESCE(u.username, ''), p.created_at, p.updated_at,
        (SELECT COUNT(*) FROM repositories r WHERE r.project_id = p.id),
        (SELECT id FROM retention_policies rp WHERE rp.project_id = p.id),
        COALESCE(q.used, 0), COALESCE(q.hard, -1)
     FROM projects p LEFT JOIN users u ON u.id = p.owner_id
     LEFT JOIN quotas q ON q.project_id = p.id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProjectRow> {
    Ok(ProjectRow {
        id: r.get(0)?,
        name: r.get(1)?,
        public: r.get(2)?,
        owner_id: r.get(3)?,
        owner_name: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
        repo_count: r.get(7)?,
        retention_id: r.get(8)?,
        quota_used: r.get(9)?,
        quota_hard: r.get(10)?,
    })
}

pub fn by_name(conn: &Connection, name: &str) -> DbResult<Option<ProjectRow>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE p.name = ?1"), [name], row)
        .optional()?)
}

pub fn by_id(conn: &Connection, id: i64) -> DbResult<Option<ProjectRow>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE p.id = ?1"), [id], row)
        .optional()?)
}

/// Inserts a project with its quota (`storage_limit` bytes, -1 for none) and makes its owner
/// a member with `owner_role_id`.
pub fn insert(
    conn: &Connection,
    name: &str,
    public: bool,
    owner_id: i64,
    owner_role_id: u8,
    storage_limit: i64,
) -> DbResult<i64> {
    let t = now();
    conn.execute(
        "INSERT INTO projects (name, public, owner_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![name, public, owner_id, t],
    )?;
    let id = conn.last_insert_rowid();
    super::quotas::insert(conn, id, storage_limit)?;
    super::members::insert(
        conn,
        id,
        super::members::EntityType::User,
        owner_id,
        owner_role_id,
    )?;
    Ok(id)
}

pub fn set_public(conn: &Connection, id: i64, public: bool) -> DbResult<()> {
    conn.execute(
        "UPDATE projects SET public = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, public, now()],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, id: i64) -> DbResult<bool> {
    Ok(conn.execute("DELETE FROM projects WHERE id = ?1", [id])? > 0)
}

/// The role id a user holds in a project, if any.
/// Roles given by membership of user groups, for a user whose directory groups are on record.
const GROUP_ROLES: &str = "SELECT m.project_id, m.role_id FROM members m
     JOIN user_groups g ON m.entity_type = 'g' AND m.entity_id = g.id
     JOIN user_directory_groups d ON d.dn_key = g.dn_key AND g.dn_key != ''
     WHERE d.user_id = ?1";

/// The user's roles in a project: their own membership and, with `via_groups`, those of the
/// user groups the directory put them in at their last login. Strongest first is the caller's
/// business.
pub fn member_roles(
    conn: &Connection,
    project_id: i64,
    user_id: i64,
    via_groups: bool,
) -> DbResult<Vec<u8>> {
    let mut roles: Vec<u8> = conn
        .prepare_cached(
            "SELECT role_id FROM members WHERE project_id = ?1 AND entity_type = 'u' AND entity_id = ?2",
        )?
        .query_map([project_id, user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if via_groups {
        let mut stmt = conn.prepare_cached(&format!("{GROUP_ROLES} AND m.project_id = ?2"))?;
        let by_group = stmt.query_map([user_id, project_id], |r| r.get::<_, u8>(1))?;
        for role in by_group {
            roles.push(role?);
        }
    }
    Ok(roles)
}

/// Every project with the caller's roles in it (empty where not a member), as
/// [`member_roles`] finds them.
pub fn all_with_roles(
    conn: &Connection,
    user_id: Option<i64>,
    via_groups: bool,
) -> DbResult<Vec<(ProjectRow, Vec<u8>)>> {
    let mut projects = conn.prepare(&format!("{SELECT} ORDER BY p.name"))?;
    let projects: Vec<ProjectRow> = projects.query_map([], row)?.collect::<Result<_, _>>()?;
    let mut roles: std::collections::HashMap<i64, Vec<u8>> = std::collections::HashMap::new();
    if let Some(uid) = user_id {
        let mut own = conn.prepare(
            "SELECT project_id, role_id FROM members WHERE entity_type = 'u' AND entity_id = ?1",
        )?;
        let mut found: Vec<(i64, u8)> = own
            .query_map([uid], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        if via_groups {
            let mut stmt = conn.prepare(GROUP_ROLES)?;
            let by_group = stmt.query_map([uid], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for pair in by_group {
                found.push(pair?);
            }
        }
        for (project_id, role) in found {
            roles.entry(project_id).or_default().push(role);
        }
    }
    Ok(projects
        .into_iter()
        .map(|p| {
            let r = roles.remove(&p.id).unwrap_or_default();
            (p, r)
        })
        .collect())
}

/// Bytes a project stores, as its quota counts them (see `db::quotas`): each blob linked to
/// its repositories and each manifest, once (shared layers count in every project that holds
/// them, as in Harbor), until deletion or garbage collection unlinks them.
pub fn storage_used(conn: &Connection, project_id: i64) -> DbResult<i64> {
    Ok(conn
        .query_row(
            "SELECT used FROM quotas WHERE project_id = ?1",
            [project_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Members per role id.
pub fn role_counts(conn: &Connection, project_id: i64) -> DbResult<Vec<(u8, i64)>> {
    let mut stmt = conn
        .prepare("SELECT role_id, COUNT(*) FROM members WHERE project_id = ?1 GROUP BY role_id")?;
    let rows = stmt.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Storage of each repository of a project: the blobs its manifests reference, each once,
/// plus the manifests themselves; largest first.
pub fn repository_storage(conn: &Connection, project_id: i64) -> DbResult<Vec<(String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT r.name,
                COALESCE((SELECT SUM(b.size) FROM blobs b WHERE b.digest IN (
                    SELECT x.digest FROM manifest_references x JOIN manifests m ON m.id = x.manifest_id
                    WHERE m.repository_id = r.id AND x.kind = 'blob')), 0)
              + COALESCE((SELECT SUM(m.size) FROM manifests m WHERE m.repository_id = r.id), 0) AS used
         FROM repositories r WHERE r.project_id = ?1 ORDER BY used DESC, r.name",
    )?;
    let rows = stmt.query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Storage of every project (as `storage_used` counts it), largest first, at most `limit`.
pub fn storage_by_project(conn: &Connection, limit: i64) -> DbResult<Vec<(String, i64)>> {
    let mut stmt = conn.prepare(
        "SELECT pr.name, COALESCE(q.used, 0) AS used FROM projects pr
         LEFT JOIN quotas q ON q.project_id = pr.id ORDER BY used DESC, pr.name LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
