//! Projects: the rules for creating and finding them.

use crate::auth::permissions::ProjectRole;
use crate::auth::Principal;
use crate::db::{self, projects::ProjectRow, Db, DbError};
use crate::names::valid_project_name;

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("invalid project name {0:?}: use 1 to 255 lower-case letters, digits and single . _ - between them")]
    InvalidName(String),
    #[error("project {0} already exists")]
    Conflict(String),
    #[error("only a system administrator may create projects")]
    Forbidden,
    #[error("project {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

#[derive(Clone)]
pub struct Projects {
    db: Db,
}

impl Projects {
    pub fn new(db: Db) -> Projects {
        Projects { db }
    }

    /// Creates a project; its creator becomes its project admin.
    pub async fn create(
        &self,
        by: &Principal,
        name: &str,
        public: bool,
    ) -> Result<ProjectRow, ProjectError> {
        let Principal::User {
            id: owner,
            sysadmin,
            ..
        } = by
        else {
            return Err(ProjectError::Forbidden);
        };
        if !sysadmin {
            return Err(ProjectError::Forbidden);
        }
        if !valid_project_name(name) {
            return Err(ProjectError::InvalidName(name.to_string()));
        }
        let (owner, name) = (*owner, name.to_string());
        self.db
            .write(move |tx| {
                if db::projects::by_name(tx, &name)?.is_some() {
                    return Err(ProjectError::Conflict(name));
                }
                let id =
                    db::projects::insert(tx, &name, public, owner, ProjectRole::ProjectAdmin.id())?;
                db::projects::by_id(tx, id)?.ok_or(ProjectError::NotFound(name))
            })
            .await
    }

    pub async fn get(&self, name_or_id: &str) -> Result<ProjectRow, ProjectError> {
        let key = name_or_id.to_string();
        let found = self
            .db
            .read(move |c| match key.parse::<i64>() {
                Ok(id) => db::projects::by_id(c, id),
                Err(_) => db::projects::by_name(c, &key),
            })
            .await?;
        found.ok_or_else(|| ProjectError::NotFound(name_or_id.to_string()))
    }
}
