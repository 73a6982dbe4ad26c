//! Robot accounts, as Harbor 2 has them: project robots named `<prefix><project>+<name>` with
//! permissions in that project, and system robots (`<prefix><name>`, system admins only) with
//! permissions in any projects. The secret is shown once and stored as an argon2id hash.

use crate::auth::permissions::{self, Operation, Resource};
use crate::auth::robot::{self, RobotPermission, StoredPermission};
use crate::auth::{password, Principal};
use crate::db::robots::RobotRow;
use crate::db::{self, Db, DbError};
use crate::names::valid_project_name;
use crate::settings::SettingsHandle;

use super::projects::{ProjectError, ProjectRef, Projects};
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
    settings: SettingsHandle,
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
    password::hash_pooled(s)
        .await
        .ok_or_else(|| ProjectError::Db(DbError::Worker("secret hashing failed".into())))
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
    pub fn new(db: Db, projects: Projects, settings: SettingsHandle) -> Robots {
        Robots {
            db,
            projects,
            settings,
        }
    }

    /// Checks that the caller may `operation` robots where this permission list reaches, and
    /// resolves each namespace (always a project **name**) to its project's id. Returns the
    /// project id for a project robot, and the permissions as stored.
    async fn authorize(
        &self,
        by: &Principal,
        level: &str,
        permissions: &[RobotPermission],
        operation: Operation,
    ) -> Result<(Option<i64>, Vec<StoredPermission>)> {
        robot::check(permissions).map_err(ProjectError::Invalid)?;
        match level {
            "system" => {
                if !by.is_sysadmin() {
                    return Err(ProjectError::Forbidden(
                        "only a system administrator may manage system robots".into(),
                    ));
                }
                let mut stored = Vec::new();
                for p in permissions {
                    let id = if p.kind == "system" || p.namespace == "*" {
                        None
                    } else {
                        let view = self
                            .projects
                            .view(by, &ProjectRef::name(&p.namespace))
                            .await?;
                        Some(view.project.id)
                    };
                    stored.push(StoredPermission::new(p.clone(), id));
                }
                Ok((None, stored))
            }
            "project" => {
                let [only] = permissions else {
                    return Err(ProjectError::Invalid(
                        "a project robot has exactly one permission entry, for its project".into(),
                    ));
                };
                if only.namespace == "*" || only.kind != "project" {
                    return Err(ProjectError::Invalid(
                        "a project robot's one permission entry is of kind \"project\", for its project".into(),
                    ));
                }
                let view = self
                    .projects
                    .require(
                        by,
                        &ProjectRef::name(&only.namespace),
                        Resource::Robot,
                        operation,
                    )
                    .await?;
                let id = view.project.id;
                Ok((
                    Some(id),
                    vec![StoredPermission::new(only.clone(), Some(id))],
                ))
            }
            other => Err(ProjectError::Invalid(format!(
                "level must be \"project\" or \"system\", not {other:?}"
            ))),
        }
    }

    /// Nobody hands out what they do not hold: every permission a robot will hold after a
    /// create, an update or a new secret must be one its author holds in that project.
    async fn author_holds(&self, by: &Principal, stored: &[StoredPermission]) -> Result<()> {
        if by.is_sysadmin() {
            return Ok(());
        }
        let public: Vec<RobotPermission> = stored.iter().map(StoredPermission::public).collect();
        let wanted = robot::check(&public).map_err(ProjectError::Invalid)?;
        for (p, pairs) in stored.iter().zip(wanted) {
            let Some(project_id) = p.project_id else {
                return Err(ProjectError::Forbidden(
                    "only a system administrator may grant permissions in every project".into(),
                ));
            };
            let access = self
                .projects
                .access(by, &ProjectRef::Id(project_id))
                .await?;
            if let Some((resource, operation)) = pairs
                .into_iter()
                .find(|(r, o)| !permissions::allowed(&access, *r, *o))
            {
                return Err(ProjectError::Forbidden(format!(
                    "you may not grant {}:{} in project {}: you do not hold it yourself",
                    resource.as_str(),
                    operation.as_str(),
                    p.namespace
                )));
            }
        }
        Ok(())
    }

    /// A robot may read itself, but never change, refresh or delete itself.
    fn not_itself(by: &Principal, target: &RobotRow) -> Result<()> {
        match by {
            Principal::Robot { id, .. } if *id == target.id => Err(ProjectError::Forbidden(
                "a robot account cannot change itself".into(),
            )),
            _ => Ok(()),
        }
    }

    pub async fn create(&self, by: &Principal, req: RobotRequest) -> Result<Created> {
        if !valid_project_name(&req.name) || req.name.len() > 128 {
            return Err(ProjectError::Invalid(format!(
                "invalid robot name {:?}: lower-case letters, digits and single . _ - between them",
                req.name
            )));
        }
        let (project_id, stored) = self
            .authorize(by, &req.level, &req.permissions, Operation::Create)
            .await?;
        self.author_holds(by, &stored).await?;
        let settings = self.settings.current();
        let prefix = &settings.system.robot_name_prefix;
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
            permissions: serde_json::to_string(&stored)
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

    fn stored_permissions(r: &RobotRow) -> Result<Vec<StoredPermission>> {
        serde_json::from_str(&r.permissions)
            .map_err(|e| ProjectError::Db(DbError::Worker(format!("robot {}: {e}", r.id))))
    }

    fn permissions_of(r: &RobotRow) -> Result<Vec<RobotPermission>> {
        Ok(Self::stored_permissions(r)?
            .iter()
            .map(StoredPermission::public)
            .collect())
    }

    /// A robot the caller may `operation` (read, update, delete).
    async fn robot(&self, by: &Principal, id: i64, operation: Operation) -> Result<RobotRow> {
        let r = self
            .db
            .read(move |c| db::robots::by_id(c, id))
            .await?
            .ok_or(ProjectError::NotFound(format!("robot {id}")))?;
        if operation != Operation::Read && operation != Operation::List {
            Self::not_itself(by, &r)?;
        }
        self.authorize_existing(by, &r, operation).await?;
        Ok(r)
    }

    /// Whether the caller may `operation` an existing robot: system robots are a system
    /// admin's; a project robot is decided in the project it belongs to (by id).
    async fn authorize_existing(
        &self,
        by: &Principal,
        r: &RobotRow,
        operation: Operation,
    ) -> Result<()> {
        match (r.level.as_str(), r.project_id) {
            ("project", Some(project_id)) => {
                self.projects
                    .require(by, &ProjectRef::Id(project_id), Resource::Robot, operation)
                    .await?;
                Ok(())
            }
            _ if by.is_sysadmin() => Ok(()),
            _ => Err(ProjectError::Forbidden(
                "only a system administrator may manage system robots".into(),
            )),
        }
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
        // Listing a project's robots is a permission of its own, refused rather than empty.
        if let Some(project_id) = project_id {
            self.projects
                .require(
                    by,
                    &ProjectRef::Id(project_id),
                    Resource::Robot,
                    Operation::List,
                )
                .await?;
        }
        let all = self.db.read(db::robots::all).await?;
        let mut out = Vec::new();
        for r in all {
            if level.is_some_and(|l| l != r.level)
                || project_id.is_some_and(|p| r.project_id != Some(p))
            {
                continue;
            }
            if self
                .authorize_existing(by, &r, Operation::List)
                .await
                .is_ok()
            {
                let permissions = Self::permissions_of(&r)?;
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
        Self::not_itself(by, &current)?;
        let (project_id, stored) = self
            .authorize(by, &req.level, &req.permissions, Operation::Update)
            .await?;
        self.author_holds(by, &stored).await?;
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
            permissions: serde_json::to_string(&stored)
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
        // Whoever sets the secret can log in as the robot: they must hold all it holds.
        self.author_holds(by, &Self::stored_permissions(&r)?)
            .await?;
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
