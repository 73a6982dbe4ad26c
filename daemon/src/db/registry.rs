//! The registry's content: repositories, blobs and their links, manifests, references, tags.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::{now, DbResult};

pub fn repository_id(conn: &Connection, name: &str) -> DbResult<Option<i64>> {
    Ok(conn
        .query_row("SELECT id FROM repositories WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?)
}

/// The repository's id, creating the row on first push.
pub fn ensure_repository(tx: &Transaction<'_>, project_id: i64, name: &str) -> DbResult<i64> {
    if let Some(id) = repository_id(tx, name)? {
        return Ok(id);
    }
    let t = now();
    tx.execute(
        "INSERT INTO repositories (project_id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
        params![project_id, name, t],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Size of a blob if it is linked to the repository: the only way a blob is served.
pub fn linked_blob_size(
    conn: &Connection,
    repository: &str,
    digest: &str,
) -> DbResult<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT b.size FROM blobs b
             JOIN repository_blobs l ON l.digest = b.digest
             JOIN repositories r ON r.id = l.repository_id
             WHERE r.name = ?1 AND b.digest = ?2",
            [repository, digest],
            |r| r.get(0),
        )
        .optional()?)
}

/// Size and `last_seen` of a blob linked to the repository.
pub fn linked_blob_seen(
    conn: &Connection,
    repository: &str,
    digest: &str,
) -> DbResult<Option<(i64, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT b.size, b.last_seen FROM blobs b
             JOIN repository_blobs l ON l.digest = b.digest
             JOIN repositories r ON r.id = l.repository_id
             WHERE r.name = ?1 AND b.digest = ?2",
        )?
        .query_row([repository, digest], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn blob_exists(conn: &Connection, digest: &str) -> DbResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM blobs WHERE digest = ?1")?
        .exists([digest])?)
}

/// The digest a tag of the repository points at.
pub fn tag_digest(conn: &Connection, repository: &str, tag: &str) -> DbResult<Option<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.digest FROM tags t JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.id = t.manifest_id WHERE r.name = ?1 AND t.name = ?2",
        )?
        .query_row([repository, tag], |r| r.get(0))
        .optional()?)
}

/// The tags on a manifest of the repository.
pub fn tags_of_digest(
    conn: &Connection,
    repository_id: i64,
    digest: &str,
) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT t.name FROM tags t JOIN manifests m ON m.id = t.manifest_id
         WHERE m.repository_id = ?1 AND m.digest = ?2 ORDER BY t.name",
    )?;
    let rows = stmt.query_map(params![repository_id, digest], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks a blob as seen now (a `HEAD`): the grace period counts from here.
pub fn touch_blob(tx: &Transaction<'_>, digest: &str) -> DbResult<()> {
    tx.execute(
        "UPDATE blobs SET last_seen = ?2 WHERE digest = ?1 AND last_seen < ?2",
        params![digest, now()],
    )?;
    Ok(())
}

/// Names of up to `limit` repositories the blob is linked to, oldest link first.
pub fn repositories_holding(conn: &Connection, digest: &str, limit: u32) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT r.name FROM repository_blobs l
         JOIN repositories r ON r.id = l.repository_id
         WHERE l.digest = ?1 ORDER BY l.linked_at, r.id LIMIT ?2",
    )?;
    let names = stmt
        .query_map(rusqlite::params![digest, limit], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

/// Records a stored blob (or refreshes it) and links it to the repository.
pub fn record_blob(
    tx: &Transaction<'_>,
    repository_id: i64,
    digest: &str,
    size: i64,
) -> DbResult<()> {
    let t = now();
    tx.execute(
        "INSERT INTO blobs (digest, size, created_at, last_seen) VALUES (?1, ?2, ?3, ?3)
         ON CONFLICT(digest) DO UPDATE SET last_seen = excluded.last_seen",
        params![digest, size, t],
    )?;
    link_blob(tx, repository_id, digest)
}

pub fn link_blob(tx: &Transaction<'_>, repository_id: i64, digest: &str) -> DbResult<()> {
    let t = now();
    tx.execute(
        "INSERT INTO repository_blobs (repository_id, digest, linked_at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO UPDATE SET linked_at = excluded.linked_at",
        params![repository_id, digest, t],
    )?;
    tx.execute(
        "UPDATE blobs SET last_seen = ?2 WHERE digest = ?1",
        params![digest, t],
    )?;
    Ok(())
}

/// Removes a blob's link from a repository; the blob itself stays for garbage collection.
/// Callers check first, in the same transaction, that no manifest there uses it.
pub fn unlink_blob(tx: &Transaction<'_>, repository_id: i64, digest: &str) -> DbResult<bool> {
    let n = tx.execute(
        "DELETE FROM repository_blobs WHERE repository_id = ?1 AND digest = ?2",
        params![repository_id, digest],
    )?;
    Ok(n > 0)
}

/// Of `digests`, those not linked to the repository.
pub fn unlinked_blobs(
    conn: &Connection,
    repository_id: i64,
    digests: &[String],
) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM repository_blobs WHERE repository_id = ?1 AND digest = ?2",
    )?;
    let mut missing = Vec::new();
    for d in digests {
        if !stmt.exists(params![repository_id, d])? {
            missing.push(d.clone());
        }
    }
    Ok(missing)
}

/// Of `digests`, those that are not manifests of the repository.
pub fn missing_manifests(
    conn: &Connection,
    repository_id: i64,
    digests: &[String],
) -> DbResult<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM manifests WHERE repository_id = ?1 AND digest = ?2")?;
    let mut missing = Vec::new();
    for d in digests {
        if !stmt.exists(params![repository_id, d])? {
            missing.push(d.clone());
        }
    }
    Ok(missing)
}

/// A manifest as the registry stores it.
pub struct NewManifest<'a> {
    pub digest: &'a str,
    pub media_type: &'a str,
    pub artifact_type: Option<&'a str>,
    pub subject_digest: Option<&'a str>,
    pub annotations: Option<&'a str>,
    pub content: &'a [u8],
    pub blobs: &'a [String],
    pub manifests: &'a [String],
}

/// Inserts the manifest with its references (a re-push of the same digest keeps the row) and
/// returns its id.
pub fn put_manifest(
    tx: &Transaction<'_>,
    repository_id: i64,
    m: &NewManifest<'_>,
) -> DbResult<i64> {
    let t = now();
    if let Some(id) = tx
        .query_row(
            "SELECT id FROM manifests WHERE repository_id = ?1 AND digest = ?2",
            params![repository_id, m.digest],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
    {
        return Ok(id);
    }
    tx.execute(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, subject_digest, annotations,
                                size, content, push_time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            repository_id,
            m.digest,
            m.media_type,
            m.artifact_type,
            m.subject_digest,
            m.annotations,
            m.content.len() as i64,
            m.content,
            t
        ],
    )?;
    let id = tx.last_insert_rowid();
    let mut refs = tx.prepare_cached(
        "INSERT OR IGNORE INTO manifest_references (manifest_id, digest, kind) VALUES (?1, ?2, ?3)",
    )?;
    for d in m.blobs {
        refs.execute(params![id, d, "blob"])?;
    }
    for d in m.manifests {
        refs.execute(params![id, d, "manifest"])?;
    }
    tx.execute(
        "UPDATE repositories SET updated_at = ?2 WHERE id = ?1",
        params![repository_id, t],
    )?;
    Ok(id)
}

pub fn put_tag(
    tx: &Transaction<'_>,
    repository_id: i64,
    tag: &str,
    manifest_id: i64,
) -> DbResult<()> {
    tx.execute(
        "INSERT INTO tags (repository_id, name, manifest_id, push_time) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(repository_id, name) DO UPDATE SET manifest_id = excluded.manifest_id,
                                                        push_time = excluded.push_time",
        params![repository_id, tag, manifest_id, now()],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub id: i64,
    pub repository_id: i64,
    pub project_id: i64,
    pub digest: String,
    pub media_type: String,
    pub subject_digest: Option<String>,
    pub content: Vec<u8>,
}

fn manifest_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ManifestRow> {
    Ok(ManifestRow {
        digest: r.get(0)?,
        media_type: r.get(1)?,
        subject_digest: r.get(2)?,
        content: r.get(3)?,
        id: r.get(4)?,
        repository_id: r.get(5)?,
        project_id: r.get(6)?,
    })
}

pub fn manifest_by_digest(
    conn: &Connection,
    repository: &str,
    digest: &str,
) -> DbResult<Option<ManifestRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.digest, m.media_type, m.subject_digest, m.content, m.id, r.id, r.project_id FROM manifests m
             JOIN repositories r ON r.id = m.repository_id WHERE r.name = ?1 AND m.digest = ?2",
        )?
        .query_row([repository, digest], manifest_row)
        .optional()?)
}

pub fn manifest_by_tag(
    conn: &Connection,
    repository: &str,
    tag: &str,
) -> DbResult<Option<ManifestRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT m.digest, m.media_type, m.subject_digest, m.content, m.id, r.id, r.project_id FROM tags t
             JOIN repositories r ON r.id = t.repository_id
             JOIN manifests m ON m.id = t.manifest_id
             WHERE r.name = ?1 AND t.name = ?2",
        )?
        .query_row([repository, tag], manifest_row)
        .optional()?)
}

/// What deleting a manifest did, or why it could not.
#[derive(Debug, PartialEq, Eq)]
pub enum ManifestDeletion {
    /// The digests deleted: the manifest, the children of an index that nothing else uses,
    /// and the referrers of a subject (with theirs), as Harbor's artifact delete does.
    Deleted(Vec<String>),
    /// Another manifest of the repository references it (an index's child): deleting it would
    /// leave that manifest pointing at nothing.
    Referenced {
        by: String,
    },
    NotFound,
}

/// What deleting a manifest of the repository would delete (the manifest, the children of an
/// index that nothing else uses, the referrers of a subject, with theirs), without deleting:
/// callers check those manifests' tags (immutability, retention) before [`delete_manifest`].
pub fn deletion_of(
    tx: &Transaction<'_>,
    repository_id: i64,
    digest: &str,
) -> DbResult<ManifestDeletion> {
    let exists = tx
        .prepare_cached("SELECT 1 FROM manifests WHERE repository_id = ?1 AND digest = ?2")?
        .exists(params![repository_id, digest])?;
    if !exists {
        return Ok(ManifestDeletion::NotFound);
    }
    let mut referencing = tx.prepare_cached(
        "SELECT m.digest FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id
         WHERE m.repository_id = ?1 AND r.kind = 'manifest' AND r.digest = ?2",
    )?;
    let mut referencers = |d: &str| -> DbResult<Vec<String>> {
        Ok(referencing
            .query_map(params![repository_id, d], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?)
    };
    if let Some(by) = referencers(digest)?.into_iter().next() {
        return Ok(ManifestDeletion::Referenced { by });
    }
    let mut children = tx.prepare_cached(
        "SELECT r.digest FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id
         WHERE m.repository_id = ?1 AND m.digest = ?2 AND r.kind = 'manifest'",
    )?;
    let mut referrers = tx.prepare_cached(
        "SELECT digest FROM manifests WHERE repository_id = ?1 AND subject_digest = ?2",
    )?;
    let mut doomed: Vec<String> = vec![digest.to_string()];
    let mut queue: std::collections::VecDeque<String> = [digest.to_string()].into();
    while let Some(current) = queue.pop_front() {
        let mut candidates: Vec<String> = children
            .query_map(params![repository_id, current], |r| r.get::<_, String>(0))?
            .collect::<Result<_, _>>()?;
        candidates.extend(
            referrers
                .query_map(params![repository_id, current], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<String>, _>>()?,
        );
        for c in candidates {
            if doomed.contains(&c) {
                continue;
            }
            // A child that a manifest outside the deletion still uses stays.
            if referencers(&c)?.iter().all(|by| doomed.contains(by)) {
                doomed.push(c.clone());
                queue.push_back(c);
            }
        }
    }
    Ok(ManifestDeletion::Deleted(doomed))
}

/// Deletes a manifest of the repository (and every tag on it) with what belongs to it (see
/// [`deletion_of`]), never one that another manifest still references.
pub fn delete_manifest(
    tx: &Transaction<'_>,
    repository_id: i64,
    digest: &str,
) -> DbResult<ManifestDeletion> {
    let deletion = deletion_of(tx, repository_id, digest)?;
    if let ManifestDeletion::Deleted(doomed) = &deletion {
        let mut delete =
            tx.prepare_cached("DELETE FROM manifests WHERE repository_id = ?1 AND digest = ?2")?;
        for d in doomed {
            delete.execute(params![repository_id, d])?;
        }
    }
    Ok(deletion)
}

/// The tags on any of these manifests of the repository.
pub fn tags_of_digests(
    conn: &Connection,
    repository_id: i64,
    digests: &[String],
) -> DbResult<Vec<String>> {
    let mut out = vec![];
    for d in digests {
        out.extend(tags_of_digest(conn, repository_id, d)?);
    }
    Ok(out)
}

/// A manifest of the repository that uses the blob, if any.
pub fn blob_user(conn: &Connection, repository_id: i64, digest: &str) -> DbResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT m.digest FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id
             WHERE m.repository_id = ?1 AND r.kind = 'blob' AND r.digest = ?2 LIMIT 1",
            params![repository_id, digest],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn delete_tag(tx: &Transaction<'_>, repository: &str, tag: &str) -> DbResult<bool> {
    let n = tx.execute(
        "DELETE FROM tags WHERE name = ?2 AND repository_id = (SELECT id FROM repositories WHERE name = ?1)",
        [repository, tag],
    )?;
    Ok(n > 0)
}

/// Up to `limit` tag names after `last`, in lexical order.
pub fn tags_page(
    conn: &Connection,
    repository_id: i64,
    last: Option<&str>,
    limit: i64,
) -> DbResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM tags WHERE repository_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![repository_id, last.unwrap_or(""), limit], |r| {
        r.get(0)
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` repository names after `last` in the given projects, in lexical order.
pub fn catalog_page(
    conn: &Connection,
    project_ids: &[i64],
    last: Option<&str>,
    limit: i64,
) -> DbResult<Vec<String>> {
    let ids = serde_json::Value::from(project_ids.to_vec()).to_string();
    let mut stmt = conn.prepare_cached(
        "SELECT name FROM repositories
         WHERE project_id IN (SELECT value FROM json_each(?1)) AND name > ?2
               AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = repositories.id)
         ORDER BY name LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![ids, last.unwrap_or(""), limit], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone)]
pub struct ReferrerRow {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
    pub size: i64,
}

/// Manifests of the repository whose `subject` is `digest`.
pub fn referrers(conn: &Connection, repository: &str, digest: &str) -> DbResult<Vec<ReferrerRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.digest, m.media_type, m.artifact_type, m.annotations, m.size FROM manifests m
         JOIN repositories r ON r.id = m.repository_id
         WHERE r.name = ?1 AND m.subject_digest = ?2 ORDER BY m.push_time, m.digest",
    )?;
    let rows = stmt.query_map([repository, digest], |r| {
        Ok(ReferrerRow {
            digest: r.get(0)?,
            media_type: r.get(1)?,
            artifact_type: r.get(2)?,
            annotations: r.get(3)?,
            size: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
