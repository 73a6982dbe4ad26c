//! Projects and their members: the rules for creating, listing, changing and deleting them.
//! Every decision about a caller goes through [`Auth`] and the permission table.

use crate::auth::permissions::{self, Operation, ProjectAccess, ProjectRole, Resource};
use crate::auth::{Auth, AuthError, Principal};
use crate::config::CreationRestriction;
use crate::db::members::{EntityType, MemberRow};
use crate::db::projects::ProjectRow;
use crate::db::{self, Db, DbError};
use crate::names::valid_project_name;
pub use crate::names::ProjectRef;
use crate::service::directory::{DirectoryError, DirectoryService, GroupRef};
use crate::settings::SettingsHandle;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("invalid project name {0:?}: use 1 to 255 lower-case letters, digits and single . _ - between them")]
    InvalidName(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// A project as one caller sees it.
pub struct ProjectView {
    pub project: ProjectRow,
    pub access: ProjectAccess,
}

impl ProjectView {
    pub fn may(&self, resource: Resource, operation: Operation) -> bool {
        permissions::allowed(&self.access, resource, operation)
    }
}

pub struct Summary {
    pub repo_count: i64,
    pub role_counts: Vec<(ProjectRole, i64)>,
    pub storage_used: i64,
    /// The quota's limit in bytes, -1 for none.
    pub storage_limit: i64,
    /// Whether the caller holds `quota:read` here (Harbor shows the quota only then).
    pub quota_readable: bool,
}

/// Pushes and pulls on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayActivity {
    /// Days since the epoch.
    pub day: i64,
    pub pushes: i64,
    pub pulls: i64,
}

/// Every one of the `days` days up to `today`, zero where nothing happened.
pub fn fill_days(today: i64, days: i64, rows: Vec<(i64, i64, i64)>) -> Vec<DayActivity> {
    let mut out: Vec<DayActivity> = (today - days + 1..=today)
        .map(|day| DayActivity {
            day,
            pushes: 0,
            pulls: 0,
        })
        .collect();
    for (day, pushes, pulls) in rows {
        if let Some(d) = out.iter_mut().find(|d| d.day == day) {
            d.pushes = pushes;
            d.pulls = pulls;
        }
    }
    out
}

/// Who to add as a member: by id or by name.
pub enum MemberUser {
    Id(i64),
    Name(String),
}

/// A new member: a user, or a user group (which may be created for an LDAP group).
pub enum NewMember {
    User(MemberUser),
    Group(GroupRef),
}

#[derive(Clone)]
pub struct Projects {
    db: Db,
    auth: Auth,
    settings: SettingsHandle,
    directory: DirectoryService,
}

impl Projects {
    pub fn new(
        db: Db,
        auth: Auth,
        settings: SettingsHandle,
        directory: DirectoryService,
    ) -> Projects {
        Projects {
            db,
            auth,
            settings,
            directory,
        }
    }

    /// Creates a project; its creator becomes its project admin. Who may create is the
    /// configuration's `project_creation_restriction`.
    /// `storage_limit` (bytes, -1 for none) is a system administrator's to give; everyone
    /// else's is ignored and their projects get `storage_per_project`, as in Harbor.
    pub async fn create(
        &self,
        by: &Principal,
        name: &str,
        public: bool,
        storage_limit: Option<i64>,
    ) -> Result<ProjectRow, ProjectError> {
        if let Principal::Robot { .. } = by {
            return Err(ProjectError::Forbidden(
                "robot accounts cannot create projects: a project's owner is a person".into(),
            ));
        }
        let Principal::User { id: owner, .. } = by else {
            return Err(ProjectError::Unauthorized);
        };
        if !by.may_system(Resource::Project, Operation::Create)
            && self.settings.current().system.project_creation_restriction
                == CreationRestriction::AdminOnly
        {
            return Err(ProjectError::Forbidden(
                "only a system administrator may create projects".into(),
            ));
        }
        if !valid_project_name(name) {
            return Err(ProjectError::InvalidName(name.to_string()));
        }
        // As Harbor: only a system administrator's `storage_limit` counts (0 or none means the
        // default); everyone else's projects get `storage_per_project`.
        let default_limit = self.settings.current().system.storage_per_project;
        let storage_limit = match storage_limit {
            Some(l) if l != 0 && by.may_system(Resource::Quota, Operation::Update) => {
                crate::service::quotas::check_limit("storage_limit", l)
                    .map_err(ProjectError::Invalid)?
            }
            _ => default_limit,
        };
        let (owner, name) = (*owner, name.to_string());
        self.db
            .write(move |tx| {
                if db::projects::by_name(tx, &name)?.is_some() {
                    return Err(ProjectError::Conflict(format!(
                        "project {name} already exists"
                    )));
                }
                let id = db::projects::insert(
                    tx,
                    &name,
                    public,
                    owner,
                    ProjectRole::ProjectAdmin.id(),
                    storage_limit,
                )?;
                db::projects::by_id(tx, id)?
                    .ok_or(ProjectError::NotFound(format!("project {name}")))
            })
            .await
    }

    /// Makes sure a project exists for content replicated in: a missing one is made private
    /// and owned by the `admin` account, as Harbor's replication makes them. Only the
    /// replication job calls this; the policy that asked was a system administrator's.
    pub async fn ensure_for_replication(&self, name: &str) -> Result<(), ProjectError> {
        if !valid_project_name(name) {
            return Err(ProjectError::InvalidName(name.to_string()));
        }
        let name = name.to_string();
        let limit = self.settings.current().system.storage_per_project;
        self.db
            .write(move |tx| {
                if db::projects::by_name(tx, &name)?.is_some() {
                    return Ok(());
                }
                let admin = db::users::by_name(tx, "admin")?
                    .ok_or_else(|| ProjectError::NotFound("the admin account".into()))?;
                db::projects::insert(
                    tx,
                    &name,
                    false,
                    admin.id,
                    ProjectRole::ProjectAdmin.id(),
                    limit,
                )?;
                Ok(())
            })
            .await
    }

    /// Whether a project of that name exists (Harbor's `HEAD /projects?project_name=`).
    pub async fn exists(&self, name: &str) -> Result<bool, ProjectError> {
        let name = name.to_string();
        Ok(self
            .db
            .read(move |c| db::projects::by_name(c, &name))
            .await?
            .is_some())
    }

    /// A project by name or numeric id, if the caller may read it. A project the caller may not
    /// see is "not found" to a signed-in user and "authentication required" to anyone else.
    pub async fn view(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
    ) -> Result<ProjectView, ProjectError> {
        let not_found = || ProjectError::NotFound(format!("project {name_or_id}"));
        let (project, access) = self
            .auth
            .project_access(by, name_or_id)
            .await?
            .ok_or_else(not_found)?;
        let view = ProjectView { project, access };
        if permissions::sees_project(&view.access) {
            Ok(view)
        } else if *by == Principal::Anonymous {
            Err(ProjectError::Unauthorized)
        } else {
            Err(not_found())
        }
    }

    /// What the caller may do in a project, whether or not they may see it.
    pub async fn access(
        &self,
        by: &Principal,
        project: &ProjectRef,
    ) -> Result<ProjectAccess, ProjectError> {
        self.auth
            .project_access(by, project)
            .await?
            .map(|(_, access)| access)
            .ok_or_else(|| ProjectError::NotFound(format!("project {project}")))
    }

    /// A project the caller must be allowed `operation` on `resource` in.
    pub async fn require(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        resource: Resource,
        operation: Operation,
    ) -> Result<ProjectView, ProjectError> {
        let view = self.view(by, name_or_id).await?;
        if view.may(resource, operation) {
            Ok(view)
        } else {
            Err(ProjectError::Forbidden(format!(
                "you may not {} {} in project {}",
                operation.as_str(),
                resource.as_str(),
                view.project.name
            )))
        }
    }

    /// Every project the caller may read, with its view.
    pub async fn list(&self, by: &Principal) -> Result<Vec<ProjectView>, ProjectError> {
        Ok(self
            .auth
            .all_project_access(by)
            .await?
            .into_iter()
            .map(|(project, access)| ProjectView { project, access })
            .filter(|v| permissions::sees_project(&v.access))
            .collect())
    }

    pub async fn set_public(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        public: bool,
    ) -> Result<(), ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Project, Operation::Update)
            .await?;
        let id = view.project.id;
        self.db
            .write(move |tx| Ok::<_, ProjectError>(db::projects::set_public(tx, id, public)?))
            .await
    }

    /// Deletes a project, only when it holds no repositories (412 otherwise, as Harbor).
    pub async fn delete(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
    ) -> Result<ProjectRow, ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Project, Operation::Delete)
            .await?;
        let project = view.project;
        let id = project.id;
        self.db
            .write(move |tx| {
                let current = db::projects::by_id(tx, id)?
                    .ok_or(ProjectError::NotFound(format!("project {id}")))?;
                if current.repo_count > 0 {
                    return Err(ProjectError::PreconditionFailed(format!(
                        "project {} still holds {} repositories: delete them first",
                        current.name, current.repo_count
                    )));
                }
                db::projects::delete(tx, id)?;
                Ok(current)
            })
            .await?;
        Ok(project)
    }

    pub async fn summary(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
    ) -> Result<Summary, ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Project, Operation::Read)
            .await?;
        let id = view.project.id;
        let (counts, quota) = self
            .db
            .read(move |c| {
                Ok((
                    db::projects::role_counts(c, id)?,
                    db::quotas::by_project(c, id)?,
                ))
            })
            .await?;
        let (storage_used, storage_limit) = quota.map(|q| (q.used, q.hard)).unwrap_or((0, -1));
        Ok(Summary {
            repo_count: view.project.repo_count,
            role_counts: counts
                .into_iter()
                .filter_map(|(r, n)| ProjectRole::from_id(r).map(|r| (r, n)))
                .collect(),
            storage_used,
            storage_limit,
            quota_readable: view.may(Resource::Quota, Operation::Read),
        })
    }

    /// Storage per repository, largest first (see `db::projects::repository_storage`).
    pub async fn repository_storage(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
    ) -> Result<Vec<(String, i64)>, ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Repository, Operation::List)
            .await?;
        let id = view.project.id;
        Ok(self
            .db
            .read(move |c| db::projects::repository_storage(c, id))
            .await?)
    }

    /// Successful pushes and pulls per day over the last `days` days, as counts only, for
    /// those who may list the members (the entries themselves need `log:list`).
    pub async fn daily_activity(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        days: i64,
    ) -> Result<Vec<DayActivity>, ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Member, Operation::List)
            .await?;
        let id = view.project.id;
        let today = db::now() / 86400;
        let since = (today - days + 1) * 86400;
        let rows = self
            .db
            .read(move |c| db::audit::daily_activity(c, Some(id), since))
            .await?;
        Ok(fill_days(today, days, rows))
    }

    pub async fn members(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
    ) -> Result<(ProjectView, Vec<MemberRow>), ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Member, Operation::List)
            .await?;
        let id = view.project.id;
        let rows = self.db.read(move |c| db::members::list(c, id)).await?;
        Ok((view, rows))
    }

    pub async fn member(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        member_id: i64,
    ) -> Result<MemberRow, ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Member, Operation::Read)
            .await?;
        let id = view.project.id;
        self.db
            .read(move |c| db::members::get(c, id, member_id))
            .await?
            .ok_or(ProjectError::NotFound(format!("member {member_id}")))
    }

    fn role(role_id: i64) -> Result<ProjectRole, ProjectError> {
        u8::try_from(role_id)
            .ok()
            .and_then(ProjectRole::from_id)
            .ok_or_else(|| ProjectError::Invalid(format!("role_id must be 1 to 5, not {role_id}")))
    }

    pub async fn add_member(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        who: NewMember,
        role_id: i64,
    ) -> Result<(ProjectView, MemberRow), ProjectError> {
        let role = Self::role(role_id)?;
        let view = self
            .require(by, name_or_id, Resource::Member, Operation::Create)
            .await?;
        let project_id = view.project.id;
        let user = match who {
            NewMember::User(user) => user,
            NewMember::Group(group) => {
                let group = self.directory.resolve_group(group).await?;
                let member = self
                    .db
                    .write(move |tx| {
                        if db::members::find(tx, project_id, EntityType::Group, group.id)?.is_some()
                        {
                            return Err(ProjectError::Conflict(format!(
                                "group {} is already a member",
                                group.group_name
                            )));
                        }
                        let id = db::members::insert(
                            tx,
                            project_id,
                            EntityType::Group,
                            group.id,
                            role.id(),
                        )?;
                        db::members::get(tx, project_id, id)?
                            .ok_or(ProjectError::NotFound(format!("member {id}")))
                    })
                    .await?;
                return Ok((view, member));
            }
        };
        let member = self
            .db
            .write(move |tx| {
                let found = match &user {
                    MemberUser::Id(id) => db::users::by_id(tx, *id)?,
                    MemberUser::Name(name) => db::users::by_name(tx, name)?,
                };
                let user = found.ok_or_else(|| {
                    ProjectError::NotFound(match &user {
                        MemberUser::Id(id) => format!("user {id}"),
                        MemberUser::Name(n) => format!("user {n}"),
                    })
                })?;
                if db::members::find(tx, project_id, EntityType::User, user.id)?.is_some() {
                    return Err(ProjectError::Conflict(format!(
                        "{} is already a member",
                        user.username
                    )));
                }
                let id = db::members::insert(tx, project_id, EntityType::User, user.id, role.id())?;
                db::members::get(tx, project_id, id)?
                    .ok_or(ProjectError::NotFound(format!("member {id}")))
            })
            .await?;
        Ok((view, member))
    }

    /// Members other than oneself: a project admin cannot demote or remove themselves (a system
    /// admin can), so no project is left without its admin by accident.
    async fn changeable_member(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        member_id: i64,
        operation: Operation,
    ) -> Result<(ProjectView, MemberRow), ProjectError> {
        let view = self
            .require(by, name_or_id, Resource::Member, operation)
            .await?;
        let project_id = view.project.id;
        let member = self
            .db
            .read(move |c| db::members::get(c, project_id, member_id))
            .await?
            .ok_or(ProjectError::NotFound(format!("member {member_id}")))?;
        if let Principal::User {
            id,
            sysadmin: false,
            ..
        } = by
        {
            if member.entity_type == "u" && member.entity_id == *id {
                return Err(ProjectError::Forbidden(
                    "you cannot change your own membership".into(),
                ));
            }
        }
        Ok((view, member))
    }

    pub async fn update_member(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        member_id: i64,
        role_id: i64,
    ) -> Result<(ProjectView, MemberRow), ProjectError> {
        let role = Self::role(role_id)?;
        let (view, member) = self
            .changeable_member(by, name_or_id, member_id, Operation::Update)
            .await?;
        let project_id = view.project.id;
        self.db
            .write(move |tx| {
                Ok::<_, ProjectError>(db::members::set_role(tx, project_id, member_id, role.id())?)
            })
            .await?;
        Ok((
            view,
            MemberRow {
                role_id: role.id(),
                ..member
            },
        ))
    }

    pub async fn remove_member(
        &self,
        by: &Principal,
        name_or_id: &ProjectRef,
        member_id: i64,
    ) -> Result<(ProjectView, MemberRow), ProjectError> {
        let (view, member) = self
            .changeable_member(by, name_or_id, member_id, Operation::Delete)
            .await?;
        let project_id = view.project.id;
        self.db
            .write(move |tx| Ok::<_, ProjectError>(db::members::delete(tx, project_id, member_id)?))
            .await?;
        Ok((view, member))
    }
}
