//! Garbage collection's SQL: what is unreferenced and old enough, and deleting it with the
//! conditions checked again inside the deleting transaction, so that a concurrent push (which
//! goes through the same single writer) is either before the check and seen, or after it and
//! refused cleanly by its own check.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::DbResult;

/// An untagged manifest garbage collection may delete.
#[derive(Debug, Clone)]
pub struct UntaggedManifest {
    pub id: i64,
    pub repository: String,
    pub digest: String,
    pub size: i64,
}

/// The conditions for deleting an untagged manifest, on `m`: no tag, no manifest of its
/// repository referencing it (an index's child), no subject in its repository (a referrer
/// stays with its subject), pushed before the cutoff.
const UNTAGGED: &str = "
    NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
    AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN manifests p ON p.id = r.manifest_id
                    WHERE p.repository_id = m.repository_id AND r.kind = 'manifest'
                          AND r.digest = m.digest)
    AND (m.subject_digest IS NULL
         OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id
                                                   AND s.digest = m.subject_digest))
    AND m.push_time < ?1";

pub fn untagged_manifests(conn: &Connection, cutoff: i64) -> DbResult<Vec<UntaggedManifest>> {
    select_untagged(conn, UNTAGGED, cutoff)
}

/// The manifests meeting `condition` (on `m`, with the cutoff as `?1`), oldest first.
fn select_untagged(
    conn: &Connection,
    condition: &str,
    cutoff: i64,
) -> DbResult<Vec<UntaggedManifest>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT m.id, r.name, m.digest, m.size FROM manifests m
         JOIN repositories r ON r.id = m.repository_id WHERE {condition} ORDER BY m.id"
    ))?;
    let rows = stmt.query_map([cutoff], |r| {
        Ok(UntaggedManifest {
            id: r.get(0)?,
            repository: r.get(1)?,
            digest: r.get(2)?,
            size: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes the manifest if it still meets every condition; its references go with it.
pub fn delete_untagged_manifest(tx: &Transaction<'_>, id: i64, cutoff: i64) -> DbResult<bool> {
    let n = tx
        .prepare_cached(&format!(
            "DELETE FROM manifests WHERE id = ?2 AND id IN (SELECT m.id FROM manifests m WHERE m.id = ?2 AND {UNTAGGED})"
        ))?
        .execute(params![cutoff, id])?;
    Ok(n > 0)
}

/// A blob no manifest references, last seen before the cutoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub digest: String,
    pub size: i64,
}

const UNREFERENCED: &str = "
    b.last_seen < ?1
    AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest AND r.kind = 'blob')";

pub fn unreferenced_blobs(conn: &Connection, cutoff: i64) -> DbResult<Vec<Candidate>> {
    select_blobs(conn, UNREFERENCED, cutoff)
}

/// The blobs meeting `condition` (on `b`, with the cutoff as `?1`), in digest order.
fn select_blobs(conn: &Connection, condition: &str, cutoff: i64) -> DbResult<Vec<Candidate>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT b.digest, b.size FROM blobs b WHERE {condition} ORDER BY b.digest"
    ))?;
    let rows = stmt.query_map([cutoff], |r| {
        Ok(Candidate {
            digest: r.get(0)?,
            size: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a blob's row and its links if it is still unreferenced and unseen since the cutoff;
/// returns its size when it did. The file is the caller's to remove, after this commits.
pub fn delete_blob(tx: &Transaction<'_>, digest: &str, cutoff: i64) -> DbResult<Option<i64>> {
    let size: Option<i64> = tx
        .prepare_cached(&format!(
            "SELECT b.size FROM blobs b WHERE b.digest = ?2 AND {UNREFERENCED}"
        ))?
        .query_row(params![cutoff, digest], |r| r.get(0))
        .optional()?;
    if size.is_some() {
        tx.prepare_cached("DELETE FROM repository_blobs WHERE digest = ?1")?
            .execute([digest])?;
        tx.prepare_cached("DELETE FROM blobs WHERE digest = ?1")?
            .execute([digest])?;
    }
    Ok(size)
}

/// A blob linked to a repository where no manifest uses it any more.
#[derive(Debug, Clone)]
pub struct StaleLink {
    pub repository_id: i64,
    pub repository: String,
    pub digest: String,
}

const STALE_LINK: &str = "
    l.linked_at < ?1
    AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN manifests m ON m.id = r.manifest_id
                    WHERE m.repository_id = l.repository_id AND r.kind = 'blob'
                          AND r.digest = l.digest)";

pub fn stale_links(conn: &Connection, cutoff: i64) -> DbResult<Vec<StaleLink>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT l.repository_id, r.name, l.digest FROM repository_blobs l
         JOIN repositories r ON r.id = l.repository_id WHERE {STALE_LINK}"
    ))?;
    let rows = stmt.query_map([cutoff], |r| {
        Ok(StaleLink {
            repository_id: r.get(0)?,
            repository: r.get(1)?,
            digest: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete_stale_link(
    tx: &Transaction<'_>,
    repository_id: i64,
    digest: &str,
    cutoff: i64,
) -> DbResult<bool> {
    let n = tx
        .prepare_cached(&format!(
            "DELETE FROM repository_blobs WHERE repository_id = ?2 AND digest = ?3 AND EXISTS (
                 SELECT 1 FROM repository_blobs l WHERE l.repository_id = ?2 AND l.digest = ?3
                 AND {STALE_LINK})"
        ))?
        .execute(params![cutoff, repository_id, digest])?;
    Ok(n > 0)
}

/// Whether the database records the blob (a file without a row is an orphan).
pub fn blob_recorded(conn: &Connection, digest: &str) -> DbResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM blobs WHERE digest = ?1")?
        .exists([digest])?)
}

/// Of `digests`, those the database records.
pub fn recorded_among(
    conn: &Connection,
    digests: &[String],
) -> DbResult<std::collections::HashSet<String>> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM blobs WHERE digest = ?1")?;
    let mut found = std::collections::HashSet::new();
    for d in digests {
        if stmt.exists([d])? {
            found.insert(d.clone());
        }
    }
    Ok(found)
}

/// What a run would delete now, computed in one read transaction without writing: the
/// deletions are simulated in a temporary table (`gc_doomed`, on this connection only), so a
/// dry run never holds the writer, whatever the size of the registry.
#[derive(Debug, Default)]
pub struct DryRun {
    pub manifests: Vec<UntaggedManifest>,
    pub blobs: Vec<Candidate>,
    pub links: usize,
}

/// [`UNTAGGED`] with the manifests in `temp.gc_doomed` counted as gone.
const UNTAGGED_AFTER_DOOMED: &str = "
    m.id NOT IN (SELECT id FROM temp.gc_doomed)
    AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
    AND NOT EXISTS (SELECT 1 FROM manifest_references r JOIN manifests p ON p.id = r.manifest_id
                    WHERE p.repository_id = m.repository_id AND r.kind = 'manifest'
                          AND r.digest = m.digest
                          AND p.id NOT IN (SELECT id FROM temp.gc_doomed))
    AND (m.subject_digest IS NULL
         OR NOT EXISTS (SELECT 1 FROM manifests s WHERE s.repository_id = m.repository_id
                                                   AND s.digest = m.subject_digest
                                                   AND s.id NOT IN (SELECT id FROM temp.gc_doomed)))
    AND m.push_time < ?1";

/// [`UNREFERENCED`] with the manifests in `temp.gc_doomed` counted as gone.
const UNREFERENCED_AFTER_DOOMED: &str = "
    b.last_seen < ?1
    AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest AND r.kind = 'blob'
                    AND r.manifest_id NOT IN (SELECT id FROM temp.gc_doomed))";

pub fn dry_run(
    conn: &Connection,
    cutoff: i64,
    delete_untagged: bool,
    leased_in: &dyn Fn(&str, &str) -> bool,
    leased: &dyn Fn(&str) -> bool,
) -> DbResult<DryRun> {
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS gc_doomed (id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS gc_doomed_blobs (digest TEXT PRIMARY KEY);
         DELETE FROM temp.gc_doomed; DELETE FROM temp.gc_doomed_blobs;",
    )?;
    let mut out = DryRun::default();
    if delete_untagged {
        loop {
            let round: Vec<UntaggedManifest> = select_untagged(&tx, UNTAGGED_AFTER_DOOMED, cutoff)?
                .into_iter()
                .filter(|m| !leased_in(&m.repository, &m.digest))
                .collect();
            if round.is_empty() {
                break;
            }
            let mut doom = tx.prepare_cached("INSERT INTO temp.gc_doomed (id) VALUES (?1)")?;
            for m in &round {
                doom.execute([m.id])?;
            }
            out.manifests.extend(round);
        }
    }
    out.blobs = select_blobs(&tx, UNREFERENCED_AFTER_DOOMED, cutoff)?
        .into_iter()
        .filter(|b| !leased(&b.digest))
        .collect();
    let mut doom = tx.prepare_cached("INSERT INTO temp.gc_doomed_blobs (digest) VALUES (?1)")?;
    for b in &out.blobs {
        doom.execute([&b.digest])?;
    }
    drop(doom);
    {
        let mut stmt = tx.prepare(
            "SELECT r.name, l.digest FROM repository_blobs l
             JOIN repositories r ON r.id = l.repository_id
             WHERE l.linked_at < ?1
               AND l.digest NOT IN (SELECT digest FROM temp.gc_doomed_blobs)
               AND NOT EXISTS (SELECT 1 FROM manifest_references mr
                               JOIN manifests m ON m.id = mr.manifest_id
                               WHERE m.repository_id = l.repository_id AND mr.kind = 'blob'
                                     AND mr.digest = l.digest
                                     AND m.id NOT IN (SELECT id FROM temp.gc_doomed))",
        )?;
        let rows = stmt.query_map([cutoff], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (repository, digest) = row?;
            if !leased_in(&repository, &digest) {
                out.links += 1;
            }
        }
    }
    tx.execute_batch("DELETE FROM temp.gc_doomed; DELETE FROM temp.gc_doomed_blobs;")?;
    Ok(out)
}
