//! Storage quotas (Harbor's `/quotas`): one per project, in bytes, -1 for unlimited. Usage is
//! counted by the database itself (see `db::quotas`): each blob and manifest once per project,
//! rising when content is linked and falling when it is unlinked or collected. The registry
//! refuses a push that would go over, in the transaction that would store it.
//!
//! A limit below what a project already stores is refused: it could never be met without
//! deleting content, and Harbor accepting one is a known source of confusion.

use crate::db::quotas::{self as q, Exceeded, QuotaOrder, QuotaRow};
use crate::db::Db;

use super::projects::ProjectError;
use super::registry::RegistryError;

/// The largest limit accepted: 1024 TiB, as Harbor's portal offers, and exact in JSON.
pub const MAX_LIMIT: i64 = 1 << 50;

/// Checks a limit given by a person: -1 (unlimited) or 1 to [`MAX_LIMIT`] bytes, as Harbor
/// accepts (a limit of 0 would refuse every push).
pub fn check_limit(key: &str, hard: i64) -> Result<i64, String> {
    if hard == -1 || (1..=MAX_LIMIT).contains(&hard) {
        Ok(hard)
    } else {
        Err(format!(
            "{key} must be -1 (unlimited) or 1 to {MAX_LIMIT} bytes, not {hard}"
        ))
    }
}

/// Bytes for people: "1.5 MiB (1572864 bytes)".
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {} ({n} bytes)", UNITS[unit])
}

/// The registry's refusal, as Docker shows it: the project, its limit, its usage and the
/// push's size.
pub fn quota_refusal(project: &str, e: &Exceeded) -> RegistryError {
    RegistryError::Denied(format!(
        "quota exceeded: project {project} is limited to {} and stores {}; this push needs {} more",
        bytes(e.hard),
        bytes(e.used),
        bytes(e.adding)
    ))
}

#[derive(Clone)]
pub struct QuotaService {
    db: Db,
}

impl QuotaService {
    pub fn new(db: Db) -> QuotaService {
        QuotaService { db }
    }

    /// Quotas, of one project when `reference_id` is given (`reference` must then be
    /// `project`, the only kind).
    pub async fn list(
        &self,
        reference: Option<&str>,
        reference_id: Option<i64>,
        order: QuotaOrder,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<QuotaRow>, i64), ProjectError> {
        if let Some(r) = reference {
            if r != "project" {
                return Err(ProjectError::Invalid(format!(
                    "reference must be \"project\", not {r:?}"
                )));
            }
        }
        Ok(self
            .db
            .read(move |c| {
                let only = reference_id.map(|id| vec![id]);
                q::page(c, only.as_deref(), order, offset, limit)
            })
            .await?)
    }

    pub async fn get(&self, id: i64) -> Result<QuotaRow, ProjectError> {
        self.db
            .read(move |c| q::by_id(c, id))
            .await?
            .ok_or_else(|| ProjectError::NotFound(format!("quota {id}")))
    }

    pub async fn of_project(&self, project_id: i64) -> Result<QuotaRow, ProjectError> {
        self.db
            .read(move |c| q::by_project(c, project_id))
            .await?
            .ok_or_else(|| ProjectError::NotFound(format!("the quota of project {project_id}")))
    }

    /// Sets a quota's limit; one below the project's usage is refused, checked in the same
    /// transaction as the change. Returns the quota before and after.
    pub async fn set_limit(
        &self,
        id: i64,
        hard: i64,
    ) -> Result<(QuotaRow, QuotaRow), ProjectError> {
        let hard = check_limit("hard.storage", hard).map_err(ProjectError::Invalid)?;
        self.db
            .write(move |tx| {
                let before =
                    q::by_id(tx, id)?.ok_or_else(|| ProjectError::NotFound(format!("quota {id}")))?;
                if hard >= 0 && hard < before.used {
                    return Err(ProjectError::Conflict(format!(
                        "the limit {} is below what project {} already stores ({}): delete content and run garbage collection first, or set at least {} bytes",
                        bytes(hard),
                        before.project_name,
                        bytes(before.used),
                        before.used
                    )));
                }
                q::set_hard(tx, id, hard)?;
                let after =
                    q::by_id(tx, id)?.ok_or_else(|| ProjectError::NotFound(format!("quota {id}")))?;
                Ok((before, after))
            })
            .await
    }

    /// The project's usage recounted from its content: equal to the running figure unless
    /// something is badly wrong (tests and `berthd` checks use it).
    pub async fn recount(&self, project_id: i64) -> Result<i64, ProjectError> {
        self.db
            .read(move |c| q::recount(c, project_id))
            .await
            .map_err(ProjectError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_sizes() {
        assert_eq!(check_limit("k", -1), Ok(-1));
        assert!(check_limit("k", 0).is_err());
        assert_eq!(check_limit("k", 1), Ok(1));
        assert!(check_limit("k", -2).is_err());
        assert!(check_limit("k", MAX_LIMIT + 1).is_err());
        assert_eq!(bytes(512), "512 bytes");
        assert_eq!(bytes(1536), "1.5 KiB (1536 bytes)");
        assert_eq!(bytes(10 << 20), "10.0 MiB (10485760 bytes)");
    }
}
