//! The REST API's view of registry content: repositories with their figures, artifacts (a
//! manifest with its tags and total size) and tags.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::DbResult;

#[derive(Debug, Clone)]
pub struct RepositoryRow {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    pub pull_count: i64,
    pub artifact_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const REPO_SELECT: &str = "SELECT r.id, r.project_id, r.name, r.pull_count,
        (SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id), r.created_at, r.updated_at
     FROM repositories r";

fn repo_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RepositoryRow> {
    Ok(RepositoryRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        name: r.get(2)?,
        pull_count: r.get(3)?,
        artifact_count: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

/// Repositories of the given projects (all of them with `None`), by name.
pub fn repositories(
    conn: &Connection,
    project_ids: Option<&[i64]>,
) -> DbResult<Vec<RepositoryRow>> {
    let rows = match project_ids {
        Some(ids) => {
            let ids = serde_json::Value::from(ids.to_vec()).to_string();
            let mut stmt = conn.prepare(&format!(
                "{REPO_SELECT} WHERE r.project_id IN (SELECT value FROM json_each(?1)) ORDER BY r.name"
            ))?;
            let rows = stmt
                .query_map([ids], repo_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        }
        None => {
            let mut stmt = conn.prepare(&format!("{REPO_SELECT} ORDER BY r.name"))?;
            let rows = stmt
                .query_map([], repo_row)?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        }
    };
    Ok(rows)
}

pub fn repository(conn: &Connection, name: &str) -> DbResult<Option<RepositoryRow>> {
    Ok(conn
        .query_row(
            &format!("{REPO_SELECT} WHERE r.name = ?1"),
            [name],
            repo_row,
        )
        .optional()?)
}

/// Deletes a repository with its manifests, tags and blob links (the blobs stay for garbage
/// collection).
pub fn delete_repository(tx: &Transaction<'_>, id: i64) -> DbResult<bool> {
    Ok(tx.execute("DELETE FROM repositories WHERE id = ?1", [id])? > 0)
}

#[derive(Debug, Clone)]
pub struct TagRow {
    pub id: i64,
    pub repository_id: i64,
    pub manifest_id: i64,
    pub name: String,
    pub push_time: i64,
}

#[derive(Debug, Clone)]
pub struct ArtifactRow {
    pub id: i64,
    pub repository_id: i64,
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
    pub manifest_size: i64,
    /// The manifest, its blobs and (for an index) its children's totals.
    pub size: i64,
    pub push_time: i64,
    pub pull_time: Option<i64>,
    pub tags: Vec<TagRow>,
    /// Digests of child manifests (an index's platforms).
    pub children: Vec<String>,
}

/// Every artifact of a repository with its tags and sizes.
pub fn artifacts(conn: &Connection, repository_id: i64) -> DbResult<Vec<ArtifactRow>> {
    let mut stmt = conn.prepare(
        "SELECT m.id, m.digest, m.media_type, m.artifact_type, m.annotations, m.size, m.push_time, m.pull_time,
                (SELECT COALESCE(SUM(b.size), 0) FROM manifest_references x JOIN blobs b ON b.digest = x.digest
                 WHERE x.manifest_id = m.id AND x.kind = 'blob')
         FROM manifests m WHERE m.repository_id = ?1",
    )?;
    let mut rows: Vec<ArtifactRow> = stmt
        .query_map([repository_id], |r| {
            let manifest_size: i64 = r.get(5)?;
            let blobs: i64 = r.get(8)?;
            Ok(ArtifactRow {
                id: r.get(0)?,
                repository_id,
                digest: r.get(1)?,
                media_type: r.get(2)?,
                artifact_type: r.get(3)?,
                annotations: r.get(4)?,
                manifest_size,
                size: manifest_size + blobs,
                push_time: r.get(6)?,
                pull_time: r.get(7)?,
                tags: vec![],
                children: vec![],
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut tags: HashMap<i64, Vec<TagRow>> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT rowid, manifest_id, name, push_time FROM tags WHERE repository_id = ?1 ORDER BY name",
    )?;
    for t in stmt.query_map([repository_id], |r| {
        Ok(TagRow {
            id: r.get(0)?,
            repository_id,
            manifest_id: r.get(1)?,
            name: r.get(2)?,
            push_time: r.get(3)?,
        })
    })? {
        let t = t?;
        tags.entry(t.manifest_id).or_default().push(t);
    }
    let mut children: HashMap<i64, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT x.manifest_id, x.digest FROM manifest_references x JOIN manifests m ON m.id = x.manifest_id
         WHERE m.repository_id = ?1 AND x.kind = 'manifest'",
    )?;
    for c in stmt.query_map([repository_id], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
    })? {
        let (m, d) = c?;
        children.entry(m).or_default().push(d);
    }
    let own_size: HashMap<String, i64> = rows.iter().map(|a| (a.digest.clone(), a.size)).collect();
    for a in &mut rows {
        a.tags = tags.remove(&a.id).unwrap_or_default();
        a.children = children.remove(&a.id).unwrap_or_default();
        a.size += a
            .children
            .iter()
            .filter_map(|d| own_size.get(d))
            .sum::<i64>();
    }
    Ok(rows)
}

/// Adds a tag to a manifest; `false` when the tag name is taken in the repository.
/// Tags the manifest: `None` when it is gone (garbage collection may delete an untagged
/// manifest between the caller's lookup and this write), else whether the tag was new.
pub fn create_tag(
    tx: &Transaction<'_>,
    repository_id: i64,
    manifest_id: i64,
    name: &str,
) -> DbResult<Option<bool>> {
    let exists = tx
        .prepare_cached("SELECT 1 FROM manifests WHERE id = ?1 AND repository_id = ?2")?
        .exists(params![manifest_id, repository_id])?;
    if !exists {
        return Ok(None);
    }
    let n = tx.execute(
        "INSERT OR IGNORE INTO tags (repository_id, name, manifest_id, push_time) VALUES (?1, ?2, ?3, ?4)",
        params![repository_id, name, manifest_id, super::now()],
    )?;
    Ok(Some(n > 0))
}

/// Removes a tag from one manifest.
pub fn delete_tag(
    tx: &Transaction<'_>,
    repository_id: i64,
    manifest_id: i64,
    name: &str,
) -> DbResult<bool> {
    Ok(tx.execute(
        "DELETE FROM tags WHERE repository_id = ?1 AND manifest_id = ?2 AND name = ?3",
        params![repository_id, manifest_id, name],
    )? > 0)
}

/// Deletes a manifest (and its tags) by id.
pub fn delete_artifact(tx: &Transaction<'_>, manifest_id: i64) -> DbResult<bool> {
    Ok(tx.execute("DELETE FROM manifests WHERE id = ?1", [manifest_id])? > 0)
}

/// Totals for `statistics`: projects, repositories, and bytes stored.
pub fn totals(conn: &Connection) -> DbResult<(i64, i64, i64, i64)> {
    Ok(conn.query_row(
        "SELECT (SELECT COUNT(*) FROM projects WHERE public = 1), (SELECT COUNT(*) FROM projects WHERE public = 0),
                (SELECT COUNT(*) FROM repositories), (SELECT COALESCE(SUM(size), 0) FROM blobs)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?)
}
