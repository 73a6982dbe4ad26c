//! The built-in housekeeping jobs, on the runner's schedules: purging old audit entries and the
//! job history beyond the newest executions of each kind (`PURGE_AUDIT_LOG`, Harbor's name)
//! and expiring idle upload sessions (`UPLOAD_EXPIRY`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use super::{Job, JobContext, Schedule, ScheduleType};
use crate::db::Db;
use crate::service::registry::Registry;

pub const PURGE_AUDIT_LOG: &str = "PURGE_AUDIT_LOG";
/// Ended executions kept per kind, newest first (as Harbor's execution sweeper keeps its last
/// 50); older ones go with their logs.
pub const JOB_HISTORY_KEPT: i64 = 50;
pub const UPLOAD_EXPIRY: &str = "UPLOAD_EXPIRY";

/// Audit entries older than the retention go; daily unless the operator sets another schedule.
pub struct PurgeAuditLog {
    pub db: Db,
    /// Read at each run: the retention is a run-time setting.
    pub settings: crate::settings::SettingsHandle,
}

impl Job for PurgeAuditLog {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Value, String>> {
        let (db, days) = (
            self.db.clone(),
            self.settings.current().system.audit_log_retention_days,
        );
        Box::pin(async move {
            let purged = crate::audit::purge(&db, days)
                .await
                .map_err(|e| e.to_string())?;
            let executions = db
                .write(|tx| crate::db::jobs::purge_history(tx, JOB_HISTORY_KEPT))
                .await
                .map_err(|e| e.to_string())?;
            ctx.log(format!(
                "purged {purged} audit entries older than {days} days and {executions} job executions beyond the newest {JOB_HISTORY_KEPT} of each kind"
            ))
            .await;
            Ok(json!({"purged": purged, "retention_days": days, "purged_executions": executions}))
        })
    }
}

/// Upload sessions idle for longer than `upload_max_age_hours` are discarded with their files.
pub struct ExpireUploads {
    pub registry: Registry,
    pub max_age: Duration,
}

impl Job for ExpireUploads {
    fn run(&self, ctx: JobContext) -> BoxFuture<'static, Result<Value, String>> {
        let (registry, max_age) = (self.registry.clone(), self.max_age);
        Box::pin(async move {
            let expired = registry
                .expire_uploads(max_age)
                .await
                .map_err(|e| e.to_string())?;
            if expired > 0 {
                ctx.log(format!("discarded {expired} idle upload sessions"))
                    .await;
            }
            Ok(json!({"expired": expired}))
        })
    }
}

/// The kinds and their default schedules (set once; an operator's change is kept).
pub fn defaults() -> [(&'static str, Schedule); 2] {
    [
        (PURGE_AUDIT_LOG, Schedule::daily()),
        (
            UPLOAD_EXPIRY,
            Schedule {
                kind: ScheduleType::Custom,
                cron: "0 */10 * * * *".into(),
            },
        ),
    ]
}

pub fn kinds(
    db: &Db,
    registry: &Registry,
    settings: &crate::settings::SettingsHandle,
    upload_max_age: Duration,
) -> Vec<(&'static str, Arc<dyn Job>)> {
    vec![
        (
            PURGE_AUDIT_LOG,
            Arc::new(PurgeAuditLog {
                db: db.clone(),
                settings: settings.clone(),
            }) as Arc<dyn Job>,
        ),
        (
            UPLOAD_EXPIRY,
            Arc::new(ExpireUploads {
                registry: registry.clone(),
                max_age: upload_max_age,
            }),
        ),
    ]
}
