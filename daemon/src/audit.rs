//! The audit log: who did what to which resource, from where, when, and whether it worked.
//! Handlers hand entries to [`AuditLog`] without waiting; one writer task stores them in
//! batches (with the pull counters), so recording never sits in a pull's path.

use std::collections::HashMap;

use tokio::sync::{mpsc, oneshot};

pub use crate::db::audit::{AuditRow, Filter};
use crate::db::{self, Db, DbError};

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct Entry {
    pub project_id: Option<i64>,
    pub operation: &'static str,
    pub resource_type: &'static str,
    pub resource: String,
    pub username: String,
    pub success: bool,
    pub client_ip: String,
}

impl Entry {
    /// A credential check.
    pub fn login(username: &str, success: bool, client_ip: String) -> Entry {
        Entry {
            project_id: None,
            operation: "login",
            resource_type: "user",
            resource: username.to_string(),
            username: username.to_string(),
            success,
            client_ip,
        }
    }
}

enum Event {
    Entry(Entry, i64),
    Pull {
        repository_id: i64,
        manifest_id: i64,
        tag: Option<String>,
        at: i64,
    },
    Flush(oneshot::Sender<()>),
}

/// A cheap handle for recording and reading; clone it freely.
#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::UnboundedSender<Event>,
    db: Db,
}

const MAX_BATCH: usize = 2000;

impl AuditLog {
    /// Starts the writer task and returns the handle.
    pub fn start(db: Db) -> AuditLog {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(db.clone(), rx));
        AuditLog { tx, db }
    }

    pub fn record(&self, entry: Entry) {
        // Only fails once the writer has stopped, at shutdown.
        let _ = self.tx.send(Event::Entry(entry, db::now()));
    }

    /// Counts a pull for the repository's pull count, the artifact's pull time and, when it
    /// was pulled by tag, the tag's (retention ranks tags by it).
    pub fn pulled(&self, repository_id: i64, manifest_id: i64, tag: Option<String>) {
        let _ = self.tx.send(Event::Pull {
            repository_id,
            manifest_id,
            tag,
            at: db::now(),
        });
    }

    /// Entries matching every filter (of one project, or all), newest first, with the total;
    /// everything recorded before the call is included. Who may read is the caller's check.
    pub async fn search(
        &self,
        project_id: Option<i64>,
        filters: Vec<(&'static str, Filter)>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<AuditRow>, i64), DbError> {
        self.flush().await;
        self.db
            .read(move |c| db::audit::search(c, project_id, &filters, offset, limit))
            .await
    }

    /// Waits until everything recorded so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Event::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(db: Db, mut rx: mpsc::UnboundedReceiver<Event>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(e) => batch.push(e),
                Err(_) => break,
            }
        }
        let mut entries = Vec::new();
        let mut pulls: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
        let mut tag_pulls: HashMap<(i64, String), i64> = HashMap::new();
        let mut waiters = Vec::new();
        for event in batch {
            match event {
                Event::Entry(e, at) => entries.push((e, at)),
                Event::Pull {
                    repository_id,
                    manifest_id,
                    tag,
                    at,
                } => {
                    let p = pulls.entry((repository_id, manifest_id)).or_insert((0, at));
                    p.0 += 1;
                    p.1 = p.1.max(at);
                    if let Some(tag) = tag {
                        let t = tag_pulls.entry((repository_id, tag)).or_insert(at);
                        *t = (*t).max(at);
                    }
                }
                Event::Flush(w) => waiters.push(w),
            }
        }
        let (n_entries, n_pulls) = (entries.len(), pulls.len());
        let result = db
            .write(move |tx| {
                for (e, at) in &entries {
                    db::audit::insert(
                        tx,
                        &AuditRow {
                            id: 0,
                            project_id: e.project_id,
                            operation: e.operation.to_string(),
                            resource_type: e.resource_type.to_string(),
                            resource: e.resource.clone(),
                            username: e.username.clone(),
                            success: e.success,
                            client_ip: e.client_ip.clone(),
                            op_time: *at,
                        },
                    )?;
                }
                for ((repo, manifest), (n, at)) in &pulls {
                    db::audit::record_pulls(tx, *repo, *manifest, *n, *at)?;
                }
                for ((repo, tag), at) in &tag_pulls {
                    db::audit::record_tag_pull(tx, *repo, tag, *at)?;
                }
                Ok::<_, DbError>(())
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, entries = n_entries, pulls = n_pulls, "writing the audit log failed");
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

/// Deletes entries older than `days`; returns how many.
pub async fn purge(db: &Db, days: u32) -> Result<usize, DbError> {
    let before = db::now() - i64::from(days) * 86_400;
    db.write(move |tx| db::audit::purge(tx, before)).await
}
