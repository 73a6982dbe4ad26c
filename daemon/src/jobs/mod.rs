//! The job runner: every background job (garbage collection, audit purge, upload expiry, later
//! replication and retention) runs as an execution persisted in SQLite, with Harbor's statuses
//! (`Pending`, `Running`, `Stopped`, `Error`, `Success`), progress counters, a bounded log and
//! a result. This module owns timing: one loop ([`Jobs::run_forever`]) fires due schedules and
//! starts pending executions; jobs never sleep in loops of their own.
//!
//! An execution a crash or restart interrupted is never left `Running`: at start
//! ([`Jobs::recover`]) it is marked `Error` ("interrupted") and a new execution of the same
//! kind and parameters is queued with `retry_of` pointing at it. Jobs are written so that a
//! rerun finishes what an interrupted run began.

pub mod housekeeping;
pub mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::db::jobs::{self as q, ExecutionRow, ScheduleRow};
use crate::db::{self, Db, DbError};
pub use schedule::{Schedule, ScheduleType};

/// Lines kept per execution's log; later ones are dropped (the log says so).
pub const MAX_LOG_LINES: i64 = 10_000;
/// An execution interrupted this many times in a row (a crash it causes itself, say) is not
/// retried again.
pub const MAX_ATTEMPTS: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("no such execution")]
    NotFound,
    #[error("unknown job kind {0:?}")]
    UnknownKind(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What started an execution, in Harbor's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Schedule,
    Event,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
            Trigger::Event => "event",
        }
    }
}

/// What a job gets while it runs.
pub struct JobContext {
    pub execution_id: i64,
    pub parameters: Value,
    cancel: CancellationToken,
    shutdown: CancellationToken,
    db: Db,
}

impl JobContext {
    /// Whether a stop was asked for; a job checks it between steps and returns promptly.
    pub fn stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Whether the stop is berthd shutting down rather than someone's request: a job that
    /// resumes in place then leaves its state ready to go on.
    pub fn shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// Resolves when a stop is asked for, for jobs waiting on something else.
    pub async fn stop_requested(&self) {
        self.cancel.cancelled().await
    }

    /// Appends a line to the execution's log (readable while the job runs).
    pub async fn log(&self, line: impl Into<String>) {
        let (id, line) = (self.execution_id, line.into());
        let stored = self
            .db
            .write(move |tx| q::append_log(tx, id, &line, MAX_LOG_LINES, db::now()))
            .await;
        if let Err(e) = stored {
            tracing::warn!(execution = id, error = %e, "could not write a job log line");
        }
    }

    /// Appends several lines in one write (jobs that log per item).
    pub async fn log_lines(&self, lines: Vec<String>) {
        let id = self.execution_id;
        let stored = self
            .db
            .write(move |tx| {
                let now = db::now();
                for line in &lines {
                    q::append_log(tx, id, line, MAX_LOG_LINES, now)?;
                }
                Ok::<_, DbError>(())
            })
            .await;
        if let Err(e) = stored {
            tracing::warn!(execution = id, error = %e, "could not write job log lines");
        }
    }

    pub async fn progress(&self, done: i64, total: i64) {
        let id = self.execution_id;
        let stored = self
            .db
            .write(move |tx| q::progress(tx, id, done, total, db::now()))
            .await;
        if let Err(e) = stored {
            tracing::warn!(execution = id, error = %e, "could not record job progress");
        }
    }
}

/// A kind of job. `run` returns the result attributes (Harbor's "extra attrs") or the reason
/// it failed; a job that saw [`JobContext::stopped`] returns whatever it has.
pub trait Job: Send + Sync + 'static {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Value, String>>;

    /// Whether an interrupted execution is picked up again as itself (its progress is kept
    /// in state of its own, as a replication's tasks are) rather than retried as a new one.
    fn resumes_in_place(&self) -> bool {
        false
    }
}

/// The runner. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    db: Db,
    kinds: Arc<HashMap<&'static str, Arc<dyn Job>>>,
    /// Executions running in this process, with their lanes and stop switches.
    running: Arc<Mutex<HashMap<i64, (String, CancellationToken)>>>,
    /// Cancelled when berthd shuts down (before the running jobs are stopped).
    shutdown: CancellationToken,
    metrics: Option<crate::metrics::Metrics>,
    /// See [`Jobs::last_round`].
    last_round: Arc<std::sync::atomic::AtomicI64>,
}

impl Jobs {
    pub fn new(db: Db, kinds: Vec<(&'static str, Arc<dyn Job>)>) -> Jobs {
        Jobs {
            db,
            kinds: Arc::new(kinds.into_iter().collect()),
            running: Arc::new(Mutex::new(HashMap::new())),
            shutdown: CancellationToken::new(),
            metrics: None,
            // Counted from now, so a runner that never starts shows after the grace period.
            last_round: Arc::new(std::sync::atomic::AtomicI64::new(db::now())),
        }
    }

    /// Counts each execution's end in `metrics`.
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Jobs {
        self.metrics = Some(metrics);
        self
    }

    /// When the runner last finished a round (seconds since the epoch; its creation before
    /// the first), for the health check.
    pub fn last_round(&self) -> i64 {
        self.last_round.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn kind(&self, kind: &str) -> Result<(&'static str, Arc<dyn Job>), JobError> {
        self.kinds
            .get_key_value(kind)
            .map(|(k, j)| (*k, j.clone()))
            .ok_or_else(|| JobError::UnknownKind(kind.to_string()))
    }

    /// Queues an execution; the runner's next round starts it.
    pub async fn submit(
        &self,
        kind: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<i64, JobError> {
        self.kind(kind)?;
        let (kind, params) = (kind.to_string(), parameters.to_string());
        Ok(self
            .db
            .write(move |tx| q::insert(tx, &kind, trigger.as_str(), &params, None, db::now()))
            .await?)
    }

    /// Queues an execution in a lane of the kind (one runs at a time per lane).
    pub async fn submit_in_lane(
        &self,
        kind: &str,
        lane: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<i64, JobError> {
        self.kind(kind)?;
        let (kind, lane, params) = (kind.to_string(), lane.to_string(), parameters.to_string());
        Ok(self
            .db
            .write(move |tx| {
                q::insert_in_lane(
                    tx,
                    &kind,
                    Some(&lane),
                    trigger.as_str(),
                    &params,
                    None,
                    db::now(),
                )
            })
            .await?)
    }

    /// Queues an ended execution again, as itself (a replication's failed tasks retried by
    /// hand); false when it has not ended.
    pub async fn requeue(&self, id: i64) -> Result<bool, JobError> {
        self.execution(id).await?;
        Ok(self
            .db
            .write(move |tx| q::requeue(tx, id, db::now()))
            .await?)
    }

    /// Queues an execution unless one of the kind is pending or running, checked and
    /// inserted in one transaction; `Err((id, status))` names the one in the way.
    pub async fn submit_unless_busy(
        &self,
        kind: &str,
        trigger: Trigger,
        parameters: Value,
    ) -> Result<Result<i64, (i64, String)>, JobError> {
        self.kind(kind)?;
        let (kind, params) = (kind.to_string(), parameters.to_string());
        Ok(self
            .db
            .write(move |tx| {
                if let Some(busy) = q::busy(tx, &kind)? {
                    return Ok::<_, DbError>(Err(busy));
                }
                Ok(Ok(q::insert(
                    tx,
                    &kind,
                    trigger.as_str(),
                    &params,
                    None,
                    db::now(),
                )?))
            })
            .await?)
    }

    pub async fn execution(&self, id: i64) -> Result<ExecutionRow, JobError> {
        self.db
            .read(move |c| q::get(c, id))
            .await?
            .ok_or(JobError::NotFound)
    }

    /// One kind's executions, newest first, with the total.
    pub async fn executions(
        &self,
        kind: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ExecutionRow>, i64), JobError> {
        let kind = kind.to_string();
        Ok(self
            .db
            .read(move |c| q::page(c, &kind, offset, limit))
            .await?)
    }

    pub async fn log(&self, id: i64) -> Result<Vec<(i64, String)>, JobError> {
        self.execution(id).await?;
        Ok(self.db.read(move |c| q::log(c, id)).await?)
    }

    /// Asks an execution to stop: a pending one ends `Stopped` at once, a running one as soon
    /// as its job returns. False when it had already ended.
    pub async fn stop(&self, id: i64) -> Result<bool, JobError> {
        self.execution(id).await?;
        let asked = self
            .db
            .write(move |tx| q::request_stop(tx, id, db::now()))
            .await?;
        if let Some((_, cancel)) = self.running_lock().get(&id) {
            cancel.cancel();
        }
        Ok(asked)
    }

    /// A kind's schedule (`None` when it has none).
    pub async fn schedule(
        &self,
        kind: &str,
    ) -> Result<Option<(Schedule, Value, Option<i64>)>, JobError> {
        let kind = kind.to_string();
        let row = self.db.read(move |c| q::schedule(c, &kind)).await?;
        Ok(row.and_then(|r| {
            let schedule = serde_json::from_str(&r.schedule).ok()?;
            let parameters = serde_json::from_str(&r.parameters).unwrap_or(Value::Null);
            Some((schedule, parameters, r.next_run))
        }))
    }

    /// Sets a kind's schedule and parameters; the next run is computed from now.
    pub async fn set_schedule(
        &self,
        kind: &str,
        schedule: &Schedule,
        parameters: Value,
    ) -> Result<(), JobError> {
        self.store_schedule(kind, None, kind, schedule, parameters)
            .await
    }

    /// Sets the schedule kept under `key` for executions of `kind` in the lane `key`.
    pub async fn set_lane_schedule(
        &self,
        key: &str,
        kind: &str,
        schedule: &Schedule,
        parameters: Value,
    ) -> Result<(), JobError> {
        self.store_schedule(key, Some(kind), kind, schedule, parameters)
            .await
    }

    async fn store_schedule(
        &self,
        key: &str,
        job_kind: Option<&str>,
        kind: &str,
        schedule: &Schedule,
        parameters: Value,
    ) -> Result<(), JobError> {
        self.kind(kind)?;
        schedule.check().map_err(JobError::Invalid)?;
        let now = db::now();
        let row = ScheduleRow {
            kind: key.to_string(),
            job_kind: job_kind.map(str::to_string),
            schedule: serde_json::to_string(schedule)
                .map_err(|e| JobError::Invalid(e.to_string()))?,
            parameters: parameters.to_string(),
            next_run: schedule.next_after(now),
        };
        Ok(self
            .db
            .write(move |tx| q::set_schedule(tx, &row, now))
            .await?)
    }

    pub async fn remove_schedule(&self, key: &str) -> Result<(), JobError> {
        let key = key.to_string();
        Ok(self
            .db
            .write(move |tx| q::remove_schedule(tx, &key))
            .await?)
    }

    /// Sets a schedule only when the kind has none yet (the built-in housekeeping jobs).
    pub async fn ensure_schedule(
        &self,
        kind: &str,
        schedule: &Schedule,
        parameters: Value,
    ) -> Result<(), JobError> {
        if self.schedule(kind).await?.is_none() {
            self.set_schedule(kind, schedule, parameters).await?;
        }
        Ok(())
    }

    /// At start: executions left `Running` by a crash or restart are marked `Error` and
    /// queued again (`retry_of`), or, for jobs that resume in place, queued again as
    /// themselves; returns the ids queued.
    pub async fn recover(&self) -> Result<Vec<i64>, JobError> {
        let now = db::now();
        let resumable: Vec<&'static str> = self
            .kinds
            .iter()
            .filter(|(_, job)| job.resumes_in_place())
            .map(|(k, _)| *k)
            .collect();
        Ok(self
            .db
            .write(move |tx| {
                let mut retried = Vec::new();
                for e in q::in_status(tx, "Running")? {
                    let resumes = resumable.contains(&e.kind.as_str());
                    if resumes && !e.stop_requested && e.attempts + 1 < MAX_ATTEMPTS {
                        q::resume(tx, e.id, now)?;
                        q::append_log(
                            tx,
                            e.id,
                            "interrupted: berthd stopped while it ran; resumed where it stood",
                            MAX_LOG_LINES,
                            now,
                        )?;
                        retried.push(e.id);
                        continue;
                    }
                    let note =
                        serde_json::json!({"error": "interrupted: berthd stopped while it ran"});
                    q::finish(tx, e.id, "Error", &note.to_string(), now)?;
                    q::append_log(
                        tx,
                        e.id,
                        "interrupted: berthd stopped while it ran",
                        MAX_LOG_LINES,
                        now,
                    )?;
                    if e.stop_requested {
                        continue;
                    }
                    if resumes || q::chain_length(tx, e.id)? >= MAX_ATTEMPTS {
                        q::append_log(
                            tx,
                            e.id,
                            &format!("not retried: interrupted {MAX_ATTEMPTS} times in a row"),
                            MAX_LOG_LINES,
                            now,
                        )?;
                    } else {
                        let retry = q::insert(
                            tx,
                            &e.kind,
                            &e.triggered_by,
                            &e.parameters,
                            Some(e.id),
                            now,
                        )?;
                        q::append_log(
                            tx,
                            e.id,
                            &format!("retried as execution {retry}"),
                            MAX_LOG_LINES,
                            now,
                        )?;
                        retried.push(retry);
                    }
                }
                Ok::<_, DbError>(retried)
            })
            .await?)
    }

    /// One round: queue the schedules that are due (unless one of that kind already waits), end pending executions that were asked to
    /// stop, and start the pending ones whose kind is not already running (one at a time per
    /// kind). Returns the executions it started.
    pub async fn run_once(&self) -> Result<Vec<i64>, JobError> {
        let now = db::now();
        for due in self.db.read(move |c| q::due(c, now)).await? {
            let schedule: Option<Schedule> = serde_json::from_str(&due.schedule).ok();
            let next = schedule.and_then(|s| s.next_after(now));
            let kind = due.job_kind.clone().unwrap_or_else(|| due.kind.clone());
            let queue = self.kinds.contains_key(kind.as_str());
            self.db
                .write(move |tx| {
                    q::set_next_run(tx, &due.kind, next, now)?;
                    // A run slower than its schedule never builds a queue: one waits at most.
                    if queue && !q::has_pending(tx, &due.kind)? {
                        q::insert_in_lane(
                            tx,
                            &kind,
                            Some(&due.kind),
                            Trigger::Schedule.as_str(),
                            &due.parameters,
                            None,
                            now,
                        )?;
                    }
                    Ok::<_, DbError>(())
                })
                .await?;
        }
        let mut started = Vec::new();
        for e in self.db.read(|c| q::in_status(c, "Pending")).await? {
            if e.stop_requested {
                let id = e.id;
                self.db
                    .write(move |tx| q::finish(tx, id, "Stopped", "{}", db::now()))
                    .await?;
                continue;
            }
            let Ok((_, job)) = self.kind(&e.kind) else {
                let id = e.id;
                let note = serde_json::json!({"error": format!("unknown job kind {:?}", e.kind)});
                self.db
                    .write(move |tx| q::finish(tx, id, "Error", &note.to_string(), db::now()))
                    .await?;
                continue;
            };
            if self
                .running_lock()
                .values()
                .any(|(lane, _)| *lane == e.lane)
            {
                continue;
            }
            let id = e.id;
            if !self.db.write(move |tx| q::start(tx, id, db::now())).await? {
                continue;
            }
            let cancel = CancellationToken::new();
            self.running_lock()
                .insert(id, (e.lane.clone(), cancel.clone()));
            let ctx = JobContext {
                execution_id: id,
                parameters: serde_json::from_str(&e.parameters).unwrap_or(Value::Null),
                cancel: cancel.clone(),
                shutdown: self.shutdown.clone(),
                db: self.db.clone(),
            };
            let resumes = job.resumes_in_place();
            let this = self.clone();
            let kind = e.kind.clone();
            tracing::info!(execution = id, kind = %kind, lane = %e.lane, "job started");
            let began = std::time::Instant::now();
            tokio::spawn(async move {
                // A job that panics still ends, as `Error`, and frees its kind.
                let outcome = std::panic::AssertUnwindSafe(job.run(ctx))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| Err("the job panicked".into()));
                // Interrupted by shutdown, a job that resumes in place goes back to the queue
                // as itself (and if berthd ends before this is written, the next start's
                // recovery resumes it anyway).
                if resumes && this.shutdown.is_cancelled() {
                    if let Err(e) = this
                        .db
                        .write(move |tx| q::back_to_queue(tx, id, db::now()))
                        .await
                    {
                        tracing::warn!(execution = id, error = %e, "could not queue an execution again");
                    }
                    this.running_lock().remove(&id);
                    return;
                }
                let (status, result) = match outcome {
                    Ok(result) if cancel.is_cancelled() => ("Stopped", result),
                    Ok(result) => ("Success", result),
                    Err(error) => ("Error", serde_json::json!({"error": error})),
                };
                let elapsed = began.elapsed();
                tracing::info!(
                    execution = id,
                    kind = %kind,
                    status,
                    ms = elapsed.as_millis() as u64,
                    "job ended"
                );
                if let Some(m) = &this.metrics {
                    m.job_ended(&kind, status, elapsed);
                }
                let result = result.to_string();
                if let Err(e) = this
                    .db
                    .write(move |tx| q::finish(tx, id, status, &result, db::now()))
                    .await
                {
                    tracing::error!(execution = id, error = %e, "could not record a job's end");
                }
                this.running_lock().remove(&id);
            });
            started.push(id);
        }
        Ok(started)
    }

    /// Rounds every second until `shutdown`; running jobs are asked to stop then.
    pub async fn run_forever(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            match self.run_once().await {
                Ok(_) => self
                    .last_round
                    .store(db::now(), std::sync::atomic::Ordering::Relaxed),
                Err(e) => tracing::warn!(error = %e, "the job runner's round failed"),
            }
        }
        self.shutdown.cancel();
        for (_, cancel) in self.running_lock().values() {
            cancel.cancel();
        }
    }

    /// Waits until an execution has ended (for tests and for callers that run a job inline).
    pub async fn wait(&self, id: i64) -> Result<ExecutionRow, JobError> {
        loop {
            let e = self.execution(id).await?;
            if !matches!(e.status.as_str(), "Pending" | "Running") {
                return Ok(e);
            }
            if e.status == "Pending" {
                self.run_once().await?;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn running_lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (String, CancellationToken)>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A job for the runner's own tests: counts to `n`, logging each step, and stops when told.
    struct Counter;

    impl Job for Counter {
        fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Value, String>> {
            Box::pin(async move {
                let n = ctx.parameters["n"].as_i64().unwrap_or(3);
                if n < 0 {
                    return Err("n must not be negative".into());
                }
                let mut done = 0;
                while done < n && !ctx.stopped() {
                    done += 1;
                    ctx.log(format!("step {done}")).await;
                    ctx.progress(done, n).await;
                    if ctx.parameters["slow"].as_bool().unwrap_or(false) {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                            _ = ctx.stop_requested() => {}
                        }
                    }
                }
                Ok(serde_json::json!({"counted": done}))
            })
        }
    }

    /// A job that panics, for the runner's own test.
    struct Panicker;

    impl Job for Panicker {
        fn run(&self, _ctx: JobContext) -> BoxFuture<'static, Result<Value, String>> {
            Box::pin(async move { panic!("a bug in a job") })
        }
    }

    #[tokio::test]
    async fn a_panicking_job_ends_as_error_and_frees_its_kind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("berth.db")).expect("db");
        let jobs = Jobs::new(db, vec![("PANIC", Arc::new(Panicker) as Arc<dyn Job>)]);
        for _ in 0..2 {
            let id = jobs
                .submit("PANIC", Trigger::Manual, Value::Null)
                .await
                .expect("submit");
            let e = jobs.wait(id).await.expect("ended");
            assert_eq!(e.status, "Error");
            assert!(e.result.contains("panicked"), "{}", e.result);
        }
    }

    fn runner() -> (Jobs, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("berth.db")).expect("db");
        (
            Jobs::new(db, vec![("COUNT", Arc::new(Counter) as Arc<dyn Job>)]),
            dir,
        )
    }

    #[tokio::test]
    async fn an_execution_runs_logs_and_records_its_result() {
        let (jobs, _dir) = runner();
        let id = jobs
            .submit("COUNT", Trigger::Manual, serde_json::json!({"n": 3}))
            .await
            .expect("submit");
        let e = jobs.wait(id).await.expect("ran");
        assert_eq!(e.status, "Success");
        assert_eq!((e.done, e.total), (3, 3));
        assert_eq!(e.result, r#"{"counted":3}"#);
        assert!(e.started_at.is_some() && e.ended_at.is_some());
        let log: Vec<String> = jobs
            .log(id)
            .await
            .expect("log")
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert_eq!(log, ["step 1", "step 2", "step 3"]);

        let failed = jobs
            .submit("COUNT", Trigger::Manual, serde_json::json!({"n": -1}))
            .await
            .expect("submit");
        let e = jobs.wait(failed).await.expect("ran");
        assert_eq!(e.status, "Error");
        assert!(e.result.contains("negative"));
        assert!(matches!(
            jobs.submit("NOPE", Trigger::Manual, Value::Null).await,
            Err(JobError::UnknownKind(_))
        ));
    }

    #[tokio::test]
    async fn a_stop_is_honoured_promptly() {
        let (jobs, _dir) = runner();
        let id = jobs
            .submit(
                "COUNT",
                Trigger::Manual,
                serde_json::json!({"n": 100000, "slow": true}),
            )
            .await
            .expect("submit");
        jobs.run_once().await.expect("round");
        assert_eq!(jobs.execution(id).await.expect("e").status, "Running");
        assert!(jobs.stop(id).await.expect("stop"));
        let e = jobs.wait(id).await.expect("ended");
        assert_eq!(e.status, "Stopped");
        assert!(e.done < 100000);
        // A pending execution that is stopped never starts.
        let pending = jobs
            .submit("COUNT", Trigger::Manual, serde_json::json!({"n": 1}))
            .await
            .expect("submit");
        jobs.stop(pending).await.expect("stop");
        assert_eq!(jobs.wait(pending).await.expect("ended").status, "Stopped");
        assert!(!jobs.stop(pending).await.expect("again"), "already ended");
    }

    #[tokio::test]
    async fn an_interrupted_execution_is_marked_and_retried() {
        let (jobs, dir) = runner();
        let id = jobs
            .submit("COUNT", Trigger::Schedule, serde_json::json!({"n": 2}))
            .await
            .expect("submit");
        // As a crash leaves it: Running, with no process behind it.
        jobs.db
            .write(move |tx| q::start(tx, id, db::now()))
            .await
            .expect("start");
        drop(jobs);
        let db = Db::open(&dir.path().join("berth.db")).expect("reopen");
        let jobs = Jobs::new(db, vec![("COUNT", Arc::new(Counter) as Arc<dyn Job>)]);
        let retried = jobs.recover().await.expect("recover");
        assert_eq!(retried.len(), 1);
        let old = jobs.execution(id).await.expect("old");
        assert_eq!(old.status, "Error");
        assert!(old.result.contains("interrupted"));
        let again = jobs.wait(retried[0]).await.expect("retry ran");
        assert_eq!(again.status, "Success");
        assert_eq!(again.retry_of, Some(id));
        assert_eq!(again.triggered_by, "schedule");
    }

    /// An execution interrupted again and again (a crash it causes itself) is retried at most
    /// `MAX_ATTEMPTS` times in all.
    #[tokio::test]
    async fn retries_of_retries_stop() {
        let (jobs, _dir) = runner();
        let mut id = jobs
            .submit("COUNT", Trigger::Manual, serde_json::json!({"n": 1}))
            .await
            .expect("submit");
        let mut attempts = 1;
        loop {
            jobs.db
                .write(move |tx| q::start(tx, id, db::now()))
                .await
                .expect("start");
            match jobs.recover().await.expect("recover").as_slice() {
                [retry] => {
                    id = *retry;
                    attempts += 1;
                }
                [] => break,
                more => panic!("{more:?}"),
            }
        }
        assert_eq!(attempts, MAX_ATTEMPTS);
        let log = jobs.log(id).await.expect("log");
        assert!(
            log.iter().any(|(_, l)| l.contains("not retried")),
            "{log:?}"
        );
    }

    /// Ended executions beyond the newest of each kind are purged with their logs.
    #[tokio::test]
    async fn history_is_bounded_per_kind() {
        let (jobs, _dir) = runner();
        let mut ids = Vec::new();
        for _ in 0..5 {
            let id = jobs
                .submit("COUNT", Trigger::Manual, serde_json::json!({"n": 1}))
                .await
                .expect("submit");
            jobs.wait(id).await.expect("ran");
            ids.push(id);
        }
        let purged = jobs
            .db
            .write(|tx| q::purge_history(tx, 2))
            .await
            .expect("purge");
        assert_eq!(purged, 3);
        let (left, total) = jobs.executions("COUNT", 0, 10).await.expect("page");
        assert_eq!(total, 2);
        assert_eq!(
            left.iter().map(|e| e.id).collect::<Vec<_>>(),
            [ids[4], ids[3]]
        );
        assert!(jobs.log(ids[0]).await.is_err(), "gone with its log");
    }

    #[tokio::test]
    async fn a_due_schedule_queues_one_execution_and_moves_on() {
        let (jobs, _dir) = runner();
        let every_second = Schedule {
            kind: ScheduleType::Custom,
            cron: "* * * * * *".into(),
        };
        jobs.set_schedule("COUNT", &every_second, serde_json::json!({"n": 1}))
            .await
            .expect("schedule");
        assert!(jobs
            .set_schedule(
                "COUNT",
                &Schedule {
                    kind: ScheduleType::Custom,
                    cron: "bad".into()
                },
                Value::Null
            )
            .await
            .is_err());
        // Make it due now.
        jobs.db
            .write(|tx| q::set_next_run(tx, "COUNT", Some(db::now() - 1), db::now()))
            .await
            .expect("due");
        let started = jobs.run_once().await.expect("round");
        assert_eq!(started.len(), 1);
        let e = jobs.wait(started[0]).await.expect("ran");
        assert_eq!(e.triggered_by, "schedule");
        let (_, _, next) = jobs.schedule("COUNT").await.expect("read").expect("kept");
        assert!(
            next.is_some_and(|n| n > db::now() - 1),
            "the next run moved on"
        );
    }

    /// One execution at a time per lane; lanes of one kind run side by side.
    #[tokio::test]
    async fn lanes_run_apart() {
        let (jobs, _dir) = runner();
        let slow = serde_json::json!({"n": 100000, "slow": true});
        let a1 = jobs
            .submit_in_lane("COUNT", "COUNT/a", Trigger::Manual, slow.clone())
            .await
            .expect("a1");
        let a2 = jobs
            .submit_in_lane("COUNT", "COUNT/a", Trigger::Manual, slow.clone())
            .await
            .expect("a2");
        let b1 = jobs
            .submit_in_lane("COUNT", "COUNT/b", Trigger::Manual, slow)
            .await
            .expect("b1");
        let started = jobs.run_once().await.expect("round");
        assert_eq!(started, [a1, b1], "a2 waits behind a1");
        assert_eq!(jobs.execution(a2).await.expect("a2").status, "Pending");
        for id in [a1, a2, b1] {
            jobs.stop(id).await.expect("stop");
        }
        for id in [a1, a2, b1] {
            assert_eq!(jobs.wait(id).await.expect("ended").status, "Stopped");
        }
        // An ended execution is queued again as itself.
        assert!(jobs.requeue(a1).await.expect("requeue"));
        assert_eq!(jobs.execution(a1).await.expect("a1").status, "Pending");
        assert!(!jobs.requeue(a1).await.expect("again"), "already queued");
    }

    #[tokio::test]
    async fn logs_are_bounded() {
        let (jobs, _dir) = runner();
        let id = jobs
            .submit(
                "COUNT",
                Trigger::Manual,
                serde_json::json!({"n": MAX_LOG_LINES + 50}),
            )
            .await
            .expect("submit");
        jobs.wait(id).await.expect("ran");
        let log = jobs.log(id).await.expect("log");
        assert_eq!(log.len() as i64, MAX_LOG_LINES + 1);
        assert!(log.last().is_some_and(|(_, l)| l.contains("log is full")));
    }
}
