//! Online garbage collection: a job on the runner that frees what nothing references, while
//! pushes and pulls go on. Mark and sweep over the database, then the files:
//!
//! 1. with `delete_untagged`, untagged manifests go (never a child of an index that stays,
//!    never a referrer whose subject stays), repeated until nothing more qualifies, so an
//!    untagged index takes its unused children with it;
//! 2. blobs that no manifest references, last seen (uploaded, linked, mounted, `HEAD`) before
//!    the grace period and not leased by a push in flight (`leases`): each batch is checked
//!    again and its rows deleted in one write transaction, then the files removed, under the
//!    blobs' locks (`locks`), so an upload of the same blob waits rather than racing;
//! 3. links of blobs to repositories where no manifest uses them any more;
//! 4. orphan files (a file with no row: a crash between a row's deletion and its file's) and
//!    upload files no live session owns.
//!
//! A dry run simulates steps 1-3 in one read transaction (the deletions in a temporary table)
//! and counts the files of step 4, so it reports exactly what a real run at that moment would
//! delete, deletes nothing and never holds the writer. Rows always go before files: a crash in
//! between leaves an orphan file, which the next run removes, never a row pointing at nothing.
//! A manifest `PUT` checks its blobs in its own transaction through the same single
//! writer, so it either comes first (and the blob is referenced) or is refused cleanly.

pub mod leases;
pub mod locks;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::db::gc::{self as q, Candidate};
use crate::db::{self, Db, DbError};
use crate::digest::Digest;
use crate::jobs::{Job, JobContext};
use crate::service::registry::Registry;

pub const GARBAGE_COLLECTION: &str = "GARBAGE_COLLECTION";

/// Rows handled per write transaction: short enough that pushes wait milliseconds, long enough
/// that 100,000 blobs take a few hundred transactions.
const BATCH: usize = 256;
/// Log lines naming single items; after that only the totals.
const ITEM_LINES: usize = 2_000;

/// What a run was asked to do, in Harbor's parameter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameters {
    pub delete_untagged: bool,
    pub dry_run: bool,
    pub workers: usize,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            delete_untagged: false,
            dry_run: false,
            workers: 1,
        }
    }
}

impl Parameters {
    /// Harbor's `parameters` object; other keys Harbor sends (`time_window`, `redis_url_reg`)
    /// are ignored, wrong types and `workers` outside 1-5 refused.
    pub fn parse(v: &Value) -> Result<Parameters, String> {
        let mut p = Parameters::default();
        let Some(map) = v.as_object() else {
            return if v.is_null() {
                Ok(p)
            } else {
                Err("parameters must be an object".into())
            };
        };
        let flag = |key: &str| -> Result<Option<bool>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(format!("parameters.{key} must be true or false")),
            }
        };
        if let Some(b) = flag("delete_untagged")? {
            p.delete_untagged = b;
        }
        if let Some(b) = flag("dry_run")? {
            p.dry_run = b;
        }
        match map.get("workers") {
            None | Some(Value::Null) => {}
            Some(w) => match w.as_u64() {
                Some(n @ 1..=5) => p.workers = n as usize,
                _ => return Err("parameters.workers must be a whole number from 1 to 5".into()),
            },
        }
        Ok(p)
    }

    pub fn to_json(self) -> Value {
        json!({
            "delete_untagged": self.delete_untagged,
            "dry_run": self.dry_run,
            "workers": self.workers,
        })
    }
}

/// What a run did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub deleted_manifests: i64,
    pub deleted_blobs: i64,
    pub freed_space: i64,
    pub unlinked: i64,
    pub orphan_files: i64,
    pub purged_uploads: i64,
    pub stopped: bool,
}

impl Outcome {
    fn to_json(&self, p: Parameters, grace: Duration) -> Value {
        json!({
            "deleted_manifests": self.deleted_manifests,
            "deleted_blobs": self.deleted_blobs,
            "freed_space": self.freed_space,
            "unlinked": self.unlinked,
            "orphan_files": self.orphan_files,
            "purged_uploads": self.purged_uploads,
            "dry_run": p.dry_run,
            "delete_untagged": p.delete_untagged,
            "workers": p.workers,
            "time_window_seconds": grace.as_secs(),
            "stopped": self.stopped,
        })
    }
}

/// The job. `grace` is the time window: content seen within it is never collected.
#[derive(Clone)]
pub struct GarbageCollector {
    pub db: Db,
    pub registry: Registry,
    pub grace: Duration,
    pub upload_max_age: Duration,
}

impl Job for GarbageCollector {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Value, String>> {
        let this = self.clone();
        Box::pin(async move {
            let p = Parameters::parse(&ctx.parameters)?;
            ctx.log(format!(
                "garbage collection started: delete_untagged={}, dry_run={}, workers={}, time window {} s",
                p.delete_untagged, p.dry_run, p.workers, this.grace.as_secs()
            ))
            .await;
            let outcome = if p.dry_run {
                this.dry_run(&ctx, p).await
            } else {
                this.collect(&ctx, p).await
            }
            .map_err(|e| e.to_string())?;
            let verb = if p.dry_run { "would delete" } else { "deleted" };
            ctx.log(format!(
                "{}: {verb} {} manifests and {} blobs, {} bytes; {} stale links, {} orphan files, {} abandoned uploads",
                if outcome.stopped { "stopped" } else { "done" },
                outcome.deleted_manifests,
                outcome.deleted_blobs,
                outcome.freed_space,
                outcome.unlinked,
                outcome.orphan_files,
                outcome.purged_uploads,
            ))
            .await;
            Ok(outcome.to_json(p, this.grace))
        })
    }
}

impl GarbageCollector {
    fn cutoff(&self) -> i64 {
        db::now() - self.grace.as_secs() as i64
    }

    async fn collect(&self, ctx: &JobContext, p: Parameters) -> Result<Outcome, DbError> {
        let mut out = Outcome::default();
        let cutoff = self.cutoff();
        let mut lines = Lines::default();
        if p.delete_untagged {
            self.delete_untagged(ctx, cutoff, &mut out, &mut lines)
                .await?;
        }
        if !ctx.stopped() {
            self.sweep_blobs(ctx, p, cutoff, &mut out, &mut lines)
                .await?;
        }
        if !ctx.stopped() {
            self.sweep_links(cutoff, &mut out).await?;
        }
        if !ctx.stopped() {
            self.sweep_files(false, &mut out, &mut lines).await?;
        }
        lines.flush(ctx).await;
        out.stopped = ctx.stopped();
        Ok(out)
    }

    /// Untagged manifests, round after round until none qualifies (an index's children
    /// qualify once the index is gone; a referrer once its subject is).
    async fn delete_untagged(
        &self,
        ctx: &JobContext,
        cutoff: i64,
        out: &mut Outcome,
        lines: &mut Lines,
    ) -> Result<(), DbError> {
        loop {
            let leases = self.registry.leases().clone();
            let candidates: Vec<_> = self
                .db
                .read(move |c| q::untagged_manifests(c, cutoff))
                .await?
                .into_iter()
                .filter(|m| !leases.held_in(&m.repository, &m.digest))
                .collect();
            let mut deleted_this_round = 0;
            for chunk in candidates.chunks(BATCH) {
                if ctx.stopped() {
                    return Ok(());
                }
                let chunk = chunk.to_vec();
                let leases = self.registry.leases().clone();
                let deleted = self
                    .db
                    .write(move |tx| {
                        let mut deleted = Vec::new();
                        for m in chunk {
                            if !leases.held_in(&m.repository, &m.digest)
                                && q::delete_untagged_manifest(tx, m.id, cutoff)?
                            {
                                deleted.push(m);
                            }
                        }
                        Ok::<_, DbError>(deleted)
                    })
                    .await?;
                deleted_this_round += deleted.len();
                out.deleted_manifests += deleted.len() as i64;
                for m in &deleted {
                    lines.item(format!("deleted manifest {}@{}", m.repository, m.digest));
                }
                lines.flush(ctx).await;
            }
            if deleted_this_round == 0 {
                return Ok(());
            }
        }
    }

    async fn sweep_blobs(
        &self,
        ctx: &JobContext,
        p: Parameters,
        cutoff: i64,
        out: &mut Outcome,
        lines: &mut Lines,
    ) -> Result<(), DbError> {
        let leases = self.registry.leases().clone();
        let candidates: Vec<Candidate> = self
            .db
            .read(move |c| q::unreferenced_blobs(c, cutoff))
            .await?
            .into_iter()
            .filter(|b| !leases.held(&b.digest))
            .collect();
        let total = candidates.len() as i64;
        ctx.log(format!(
            "{total} unreferenced blobs last seen before the time window"
        ))
        .await;
        ctx.progress(0, total).await;
        let mut done = 0i64;
        let chunks: Vec<Vec<Candidate>> = candidates.chunks(BATCH).map(<[_]>::to_vec).collect();
        let mut swept = futures_util::stream::iter(chunks)
            .map(|chunk| self.sweep_chunk(ctx, chunk, cutoff))
            .buffer_unordered(p.workers);
        while let Some(result) = swept.next().await {
            let (handled, deleted) = result?;
            done += handled as i64;
            for (digest, size) in deleted {
                out.deleted_blobs += 1;
                out.freed_space += size;
                lines.item(format!("deleted blob {digest} ({size} bytes)"));
            }
            lines.flush(ctx).await;
            ctx.progress(done, total).await;
        }
        Ok(())
    }

    /// One batch: lock what is not busy, check and delete the rows, then remove the files.
    async fn sweep_chunk(
        &self,
        ctx: &JobContext,
        chunk: Vec<Candidate>,
        cutoff: i64,
    ) -> Result<(usize, Vec<(String, i64)>), DbError> {
        if ctx.stopped() {
            return Ok((0, Vec::new()));
        }
        let handled = chunk.len();
        // Rows and files go inside one removal, so a backup sees both or neither. Entered
        // before the blobs' locks, so a run waiting for a backup holds up no upload.
        let store = self.registry.store().clone();
        let removal = tokio::task::spawn_blocking(move || store.removal())
            .await
            .map_err(|e| DbError::Worker(e.to_string()))?
            .map_err(|e| DbError::Worker(format!("waiting for a backup: {e}")))?;
        let locks = self.registry.locks();
        let guards: Vec<_> = chunk
            .iter()
            .filter_map(|c| locks.try_lock(&c.digest).map(|g| (c.digest.clone(), g)))
            .collect();
        let digests: Vec<String> = guards.iter().map(|(d, _)| d.clone()).collect();
        if digests.is_empty() {
            return Ok((handled, Vec::new()));
        }
        let leases = self.registry.leases().clone();
        let deleted = self
            .db
            .write(move |tx| {
                let mut deleted = Vec::new();
                for d in digests {
                    if leases.held(&d) {
                        continue;
                    }
                    if let Some(size) = q::delete_blob(tx, &d, cutoff)? {
                        deleted.push((d, size));
                    }
                }
                Ok::<_, DbError>(deleted)
            })
            .await?;
        let store = self.registry.store().clone();
        let files: Vec<Digest> = deleted.iter().filter_map(|(d, _)| d.parse().ok()).collect();
        // The locks go with the files: released only once they are removed, even if this
        // future is dropped (another batch failed) while the removal runs.
        let removed = tokio::task::spawn_blocking(move || {
            let mut failed = Vec::new();
            for d in &files {
                if let Err(e) = store.remove_blob(d) {
                    // The row is gone; the file is an orphan now, which step 4 removes (and
                    // counts, so it is not counted here).
                    tracing::warn!(digest = %d, error = %e, "could not remove a blob file");
                    failed.push(d.to_string());
                }
            }
            drop(guards);
            drop(removal);
            failed
        })
        .await;
        let failed = removed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "removing blob files failed");
            Vec::new()
        });
        let deleted = deleted
            .into_iter()
            .filter(|(d, _)| !failed.contains(d))
            .collect();
        Ok((handled, deleted))
    }

    async fn sweep_links(&self, cutoff: i64, out: &mut Outcome) -> Result<(), DbError> {
        let leases = self.registry.leases().clone();
        let stale: Vec<_> = self
            .db
            .read(move |c| q::stale_links(c, cutoff))
            .await?
            .into_iter()
            .filter(|l| !leases.held_in(&l.repository, &l.digest))
            .collect();
        for chunk in stale.chunks(BATCH) {
            let chunk = chunk.to_vec();
            let leases = self.registry.leases().clone();
            out.unlinked += self
                .db
                .write(move |tx| {
                    let mut n = 0;
                    for l in chunk {
                        if !leases.held_in(&l.repository, &l.digest)
                            && q::delete_stale_link(tx, l.repository_id, &l.digest, cutoff)?
                        {
                            n += 1;
                        }
                    }
                    Ok::<_, DbError>(n)
                })
                .await?;
        }
        Ok(())
    }

    /// Files with no row, shard by shard, each checked again under its lock; then upload files
    /// whose session is gone or idle past the upload age.
    /// With `dry`, counts what it would remove and removes nothing.
    async fn sweep_files(
        &self,
        dry: bool,
        out: &mut Outcome,
        lines: &mut Lines,
    ) -> Result<(), DbError> {
        let store = self.registry.store().clone();
        for shard in 0..=255u8 {
            let shard = format!("{shard:02x}");
            let listed = {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.list_blobs(&shard))
                    .await
                    .map_err(|e| DbError::Worker(e.to_string()))?
            };
            let files = match listed {
                Ok(files) => files,
                Err(e) => {
                    tracing::warn!(error = %e, "could not list blob files");
                    continue;
                }
            };
            let names: Vec<String> = files.iter().map(|(d, _)| d.to_string()).collect();
            let recorded = self.db.read(move |c| q::recorded_among(c, &names)).await?;
            for (digest, size) in files {
                let name = digest.to_string();
                if recorded.contains(&name) {
                    continue;
                }
                if dry {
                    out.orphan_files += 1;
                    out.freed_space += size as i64;
                    lines.item(format!("would remove an orphan file of {size} bytes"));
                    continue;
                }
                // Inside a removal, entered before the blob's lock (a removal waiting for a
                // backup holds up no upload); checked again under the lock: an upload may
                // have recorded it since.
                let removal = {
                    let store = store.clone();
                    tokio::task::spawn_blocking(move || store.removal())
                        .await
                        .map_err(|e| DbError::Worker(e.to_string()))?
                        .map_err(|e| DbError::Worker(format!("waiting for a backup: {e}")))?
                };
                let Some(_guard) = self.registry.locks().try_lock(&name) else {
                    continue;
                };
                if self.db.read(move |c| q::blob_recorded(c, &name)).await? {
                    continue;
                }
                let store = store.clone();
                let removed = tokio::task::spawn_blocking(move || {
                    let _removal = removal;
                    store.remove_blob(&digest)
                })
                .await
                .map_err(|e| DbError::Worker(e.to_string()))?;
                if let Ok(true) = removed {
                    out.orphan_files += 1;
                    out.freed_space += size as i64;
                    lines.item(format!("removed orphan file of {size} bytes"));
                }
            }
        }
        if dry {
            out.purged_uploads += self.registry.idle_uploads(self.upload_max_age) as i64;
            out.purged_uploads += self.registry.abandoned_uploads(false).await.unwrap_or(0) as i64;
            return Ok(());
        }
        let expired = self
            .registry
            .expire_uploads(self.upload_max_age)
            .await
            .unwrap_or(0);
        out.purged_uploads += expired as i64;
        out.purged_uploads += self.registry.abandoned_uploads(true).await.unwrap_or(0) as i64;
        Ok(())
    }

    /// Steps 1-3 simulated in one read transaction (`db::gc::dry_run`), and the files of step 4
    /// counted: exactly what a real run would delete now, without holding the writer or
    /// deleting anything.
    async fn dry_run(&self, ctx: &JobContext, p: Parameters) -> Result<Outcome, DbError> {
        let cutoff = self.cutoff();
        let leases = self.registry.leases().clone();
        let found = self
            .db
            .read(move |c| {
                q::dry_run(
                    c,
                    cutoff,
                    p.delete_untagged,
                    &|repository, digest| leases.held_in(repository, digest),
                    &|digest| leases.held(digest),
                )
            })
            .await?;
        let mut out = Outcome {
            deleted_manifests: found.manifests.len() as i64,
            deleted_blobs: found.blobs.len() as i64,
            freed_space: found.blobs.iter().map(|b| b.size).sum(),
            unlinked: found.links as i64,
            ..Outcome::default()
        };
        let mut lines = Lines::default();
        for m in &found.manifests {
            lines.item(format!(
                "would delete manifest {}@{}",
                m.repository, m.digest
            ));
        }
        for b in &found.blobs {
            lines.item(format!("would delete blob {} ({} bytes)", b.digest, b.size));
        }
        self.sweep_files(true, &mut out, &mut lines).await?;
        lines.flush(ctx).await;
        out.stopped = ctx.stopped();
        Ok(out)
    }
}

/// Log lines gathered and written in one transaction per batch; single items only up to
/// [`ITEM_LINES`], so a run over millions of blobs keeps a readable log.
#[derive(Default)]
struct Lines {
    pending: Vec<String>,
    items: usize,
}

impl Lines {
    fn item(&mut self, line: String) {
        self.items += 1;
        if self.items <= ITEM_LINES {
            self.pending.push(line);
        } else if self.items == ITEM_LINES + 1 {
            self.pending.push(format!(
                "(more than {ITEM_LINES} items: only the totals follow)"
            ));
        }
    }

    async fn flush(&mut self, ctx: &JobContext) {
        if !self.pending.is_empty() {
            ctx.log_lines(std::mem::take(&mut self.pending)).await;
        }
    }
}

/// The job, for the runner's list of kinds.
pub fn kind(
    db: &Db,
    registry: &Registry,
    grace: Duration,
    upload_max_age: Duration,
) -> (&'static str, Arc<dyn Job>) {
    (
        GARBAGE_COLLECTION,
        Arc::new(GarbageCollector {
            db: db.clone(),
            registry: registry.clone(),
            grace,
            upload_max_age,
        }),
    )
}
