//! Garbage collection as the API sees it: runs, their history and logs, stopping, and the
//! schedule. The collection itself is `crate::gc`; executions and timing are the job runner's.
//! Every id is checked to be a garbage collection's, so `/system/gc/{id}` never reaches
//! another kind of job.

use serde_json::Value;

use crate::db::jobs::ExecutionRow;
use crate::gc::{Parameters, GARBAGE_COLLECTION};
use crate::jobs::{JobError, Jobs, Schedule, ScheduleType, Trigger};

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error("{0}")]
    Invalid(String),
    #[error("no garbage collection with id {0}")]
    NotFound(i64),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Internal(String),
}

impl From<JobError> for GcError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::Invalid(m) => GcError::Invalid(m),
            other => GcError::Internal(other.to_string()),
        }
    }
}

/// The schedule and the parameters its runs get.
pub struct GcSchedule {
    pub schedule: Schedule,
    pub parameters: Parameters,
    pub next_run: Option<i64>,
}

#[derive(Clone)]
pub struct GcService {
    jobs: Jobs,
}

impl GcService {
    pub fn new(jobs: Jobs) -> GcService {
        GcService { jobs }
    }

    /// Starts a run now (Harbor's `Manual` schedule). One at a time: while a run is pending or
    /// running, another is refused rather than queued behind it.
    pub async fn run_now(&self, parameters: &Value) -> Result<i64, GcError> {
        let p = Parameters::parse(parameters).map_err(GcError::Invalid)?;
        match self
            .jobs
            .submit_unless_busy(GARBAGE_COLLECTION, Trigger::Manual, p.to_json())
            .await?
        {
            Ok(id) => Ok(id),
            Err((busy, status)) => Err(GcError::Conflict(format!(
                "garbage collection {busy} is {}: wait for it or stop it first",
                status.to_lowercase()
            ))),
        }
    }

    pub async fn history(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<ExecutionRow>, i64), GcError> {
        Ok(self
            .jobs
            .executions(GARBAGE_COLLECTION, offset, limit)
            .await?)
    }

    pub async fn get(&self, id: i64) -> Result<ExecutionRow, GcError> {
        match self.jobs.execution(id).await {
            Ok(e) if e.kind == GARBAGE_COLLECTION => Ok(e),
            Ok(_) | Err(JobError::NotFound) => Err(GcError::NotFound(id)),
            Err(e) => Err(e.into()),
        }
    }

    /// The run's log, readable while it runs.
    pub async fn log(&self, id: i64) -> Result<String, GcError> {
        self.get(id).await?;
        let mut text = String::new();
        for (at, line) in self.jobs.log(id).await? {
            text.push_str(&crate::api::rfc3339(at));
            text.push(' ');
            text.push_str(&line);
            text.push('\n');
        }
        Ok(text)
    }

    /// Asks a run to stop; what it already deleted stays deleted.
    pub async fn stop(&self, id: i64) -> Result<(), GcError> {
        self.get(id).await?;
        if self.jobs.stop(id).await? {
            Ok(())
        } else {
            Err(GcError::Conflict(format!(
                "garbage collection {id} has already ended"
            )))
        }
    }

    pub async fn schedule(&self) -> Result<GcSchedule, GcError> {
        Ok(match self.jobs.schedule(GARBAGE_COLLECTION).await? {
            Some((schedule, parameters, next_run)) => GcSchedule {
                schedule,
                parameters: Parameters::parse(&parameters).unwrap_or_default(),
                next_run,
            },
            None => GcSchedule {
                schedule: Schedule::none(),
                parameters: Parameters::default(),
                next_run: None,
            },
        })
    }

    /// Sets (or with `None` clears) the schedule. `create` refuses to replace one that exists,
    /// as Harbor's `POST` does.
    pub async fn set_schedule(
        &self,
        schedule: Schedule,
        parameters: &Value,
        create: bool,
    ) -> Result<(), GcError> {
        let p = Parameters::parse(parameters).map_err(GcError::Invalid)?;
        schedule.check().map_err(GcError::Invalid)?;
        if create && self.schedule().await?.schedule.kind != ScheduleType::None {
            return Err(GcError::Conflict(
                "garbage collection already has a schedule: change it with PUT".into(),
            ));
        }
        Ok(self
            .jobs
            .set_schedule(GARBAGE_COLLECTION, &schedule, p.to_json())
            .await?)
    }
}
