//! Robot accounts, as Harbor 2 has them: project robots named `<prefix><project>+<name>` with
//! permissions in that project, and system robots (`<prefix><name>`, system admins only) with
//! permissions in any projects. The secret is shown once and stored as an argon2id hash.

use std::sync::Arc;

use crate::auth::permissions::{Operation, Resource};
use crate::auth::robot::{self, RobotPermission};
use crate::auth::{password, Principal};
use crate::config::Config;
use crate::db::robots::RobotRow;
use crate::db::{self, Db, DbError};
use crate::names::valid_project_name;

use super::projects::{ProjectError, Projects};
use super::users::check_password;

type Result<T> = std::result::Result<T, ProjectError>;

/// What creating or changing a robot takes.
pub struct RobotRequest {
    pub name: String,
    pub description: String,
    pub level: String,
    pub duration: i64,
    pub disable: bool,
    pub secret: Option<String>,
    pub permissions: Vec<RobotPermission>,
}

/// A new robot, with the secret to show once.
pub struct Created {
    pub robot: RobotRow,
    pub secret: String,
}

#[derive(Clone)]
pub struct Robots {
    db: Db,
    projects: Projects,
    config: Arc<Config>,
}

const MAX_DURATION_DAYS: i64 = 36_500;

fn secret_for(given: Option<String>) -> Result<String> {
    match given {
        Some(s) => {
            check_password(&s).map_err(|_| {
                ProjectError::Invalid("a robot secret must be 8 to 128 characters with upper-case, lower-case and a digit".into())
            })?;
            Ok(s)
        }
        None => Ok(format!("{}{}", password::generate(), password::generate())),
    }
}

async fn hash(secret: &str) -> Result<String> {
    let s = secret.to_string();
    tokio::task::spawn_blocking(move || password::hash(&s))
        .await
        .map_err(|e| ProjectError::Db(DbError::Worker(e.to_string())))
}

fn expiry(duration: i64) -> Result<i64> {
    match duration {
        -1 => Ok(-1),
        d if (1..=MAX_DURATION_DAYS).contains(&d) => Ok(db::now() + d * 86_400),
        d => Err(ProjectError::Invalid(format!(
            "duration must be -1 (never expires) or 1 to {MAX_DURATION_DAYS} days, not {d}"
        ))),
    }
}

impl Robots {
    pub fn new(db: Db, projects: Projects, config: Arc<Config>) -> Robots {
        Robots {
            db,
            projects,
            config,
        }
    }

    /// Checks that the caller may `operation` robots where this permission list reaches, and
    /// returns the project id for a project robot.
    async fn authorize(
        &self,
        by: &Principal,
        level: &str,
        permissions: &[RobotPermission],
        operation: Operation,
    ) -> Result<Option<i64>> {
        robot::grants(permissions).map_err(ProjectError::Invalid)?;
        match level {
            "system" => {
                if !by.is_sysadmin() {
                    return Err(ProjectError::Forbidden(
                        "only a system administrator may manage system robots".into(),
                    ));
                }
                for p in permissions.iter().filter(|p| p.namespace != "*") {
                    self.projects.view(by, &p.namespace).await?;
                }
                Ok(None)
            }
            "project" => {
                let [only] = permissions else {
                    return Err(ProjectError::Invalid(
                        "a project robot has exactly one permission entry, for its project".into(),
                    ));
                };
                if only.namespace == "*" {
                    return Err(ProjectError::Invalid(
                        "a project robot's namespace is its project".into(),
                    ));
                }
                let view = self
                    .projects
                    .require(by, &only.namespace, Resource::Robot, operation)
                    .await?;
                Ok(Some(view.project.id))
            }
            other => Err(ProjectError::Invalid(format!(
                "level must be \"project\" or \"system\", not {other:?}"
            ))),
        }
    }

    pub async fn create(&self, by: &Principal, req: RobotRequest) -> Result<Created> {
        if !valid_project_name(&req.name) || req.name.len() > 128 {
            return Err(ProjectError::Invalid(format!(
                "invalid robot name {:?}: lower-case letters, digits and single . _ - between them",
                req.name
            )));
        }
        let project_id = self
            .authorize(by, &req.level, &req.permissions, Operation::Create)
            .await?;
        let prefix = &self.config.system.robot_name_prefix;
        let full_name = match req.level.as_str() {
            "project" => format!("{prefix}{}+{}", req.permissions[0].namespace, req.name),
            _ => format!("{prefix}{}", req.name),
        };
        let expires_at = expiry(req.duration)?;
        let secret = secret_for(req.secret)?;
        let row = RobotRow {
            id: 0,
            name: full_name,
            description: req.description,
            level: req.level,
            project_id,
            secret_hash: hash(&secret).await?,
            duration: req.duration,
            expires_at,
            disabled: req.disable,
            permissions: serde_json::to_string(&req.permissions)
                .map_err(|e| ProjectError::Invalid(e.to_string()))?,
            created_at: 0,
            updated_at: 0,
        };
        let robot = self
            .db
            .write(move |tx| {
                if db::robots::by_name(tx, &row.name)?.is_some() {
                    return Err(ProjectError::Conflict(format!(
                        "robot {} already exists",
                        row.name
                    )));
                }
                let id = db::robots::insert(tx, &row)?;
                db::robots::by_id(tx, id)?.ok_or(ProjectError::NotFound(format!("robot {id}")))
            })
            .await?;
        Ok(Created { robot, secret })
    }

    fn permissions_of(r: &RobotRow) -> Result<Vec<RobotPermission>> {
        serde_json::from_str(&r.permissions)
            .map_err(|e| ProjectError::Db(DbError::Worker(format!("robot {}: {e}", r.id))))
    }

    /// A robot the caller may `operation` (read, update, delete).
    async fn robot(&self, by: &Principal, id: i64, operation: Operation) -> Result<RobotRow> {
        let r = self
            .db
            .read(move |c| db::robots::by_id(c, id))
            .await?
            .ok_or(ProjectError::NotFound(format!("robot {id}")))?;
        let permissions = Self::permissions_of(&r)?;
        self.authorize(by, &r.level, &permissions, operation)
            .await?;
        Ok(r)
    }

    pub async fn get(&self, by: &Principal, id: i64) -> Result<(RobotRow, Vec<RobotPermission>)> {
        let r = self.robot(by, id, Operation::Read).await?;
        let p = Self::permissions_of(&r)?;
        Ok((r, p))
    }

    /// Robots the caller may read; `project_id` narrows to one project's robots.
    pub async fn list(
        &self,
        by: &Principal,
        level: Option<&str>,
        project_id: Option<i64>,
    ) -> Result<Vec<(RobotRow, Vec<RobotPermission>)>> {
        let all = self.db.read(db::robots::all).await?;
        let mut out = Vec::new();
        for r in all {
            if level.is_some_and(|l| l != r.level)
                || project_id.is_some_and(|p| r.project_id != Some(p))
            {
                continue;
            }
            let permissions = Self::permissions_of(&r)?;
            if self
                .authorize(by, &r.level, &permissions, Operation::List)
                .await
                .is_ok()
            {
                out.push((r, permissions));
            }
        }
        Ok(out)
    }

    pub async fn update(&self, by: &Principal, id: i64, req: RobotRequest) -> Result<RobotRow> {
        let current = self.robot(by, id, Operation::Update).await?;
        // The request may be well formed and still disagree with the robot as it is: 409.
        // Its name is ignored, as Harbor does: robots cannot be renamed.
        if req.level != current.level {
            return Err(ProjectError::Conflict(format!(
                "robot {} is a {} robot; its level cannot change",
                current.name, current.level
            )));
        }
        let project_id = self
            .authorize(by, &req.level, &req.permissions, Operation::Update)
            .await?;
        if project_id != current.project_id {
            return Err(ProjectError::Conflict(format!(
                "robot {} belongs to another project",
                current.name
            )));
        }
        let expires_at = if req.duration == current.duration {
            current.expires_at
        } else {
            expiry(req.duration)?
        };
        let updated = RobotRow {
            description: req.description,
            duration: req.duration,
            expires_at,
            disabled: req.disable,
            permissions: serde_json::to_string(&req.permissions)
                .map_err(|e| ProjectError::Invalid(e.to_string()))?,
            ..current
        };
        let row = updated.clone();
        self.db
            .write(move |tx| Ok::<_, ProjectError>(db::robots::update(tx, &row)?))
            .await?;
        Ok(updated)
    }

    /// Sets a new secret (given, or generated) and returns it; the old one stops working.
    pub async fn refresh_secret(
        &self,
        by: &Principal,
        id: i64,
        secret: Option<String>,
    ) -> Result<(RobotRow, String)> {
        let r = self.robot(by, id, Operation::Update).await?;
        let secret = secret_for(secret)?;
        let h = hash(&secret).await?;
        self.db
            .write(move |tx| Ok::<_, ProjectError>(db::robots::set_secret_hash(tx, id, &h)?))
            .await?;
        Ok((r, secret))
    }

    pub async fn delete(&self, by: &Principal, id: i64) -> Result<RobotRow> {
        let r = self.robot(by, id, Operation::Delete).await?;
        self.db
            .write(move |tx| Ok::<_, ProjectError>(db::robots::delete(tx, id)?))
            .await?;
        Ok(r)
    }
}
