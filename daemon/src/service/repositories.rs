//! Repositories, artifacts and tags as the REST API manages them. Every call names the project,
//! and the caller must hold the matching permission there.

use crate::auth::permissions::{Operation, Resource};
use crate::auth::Principal;
use crate::db::artifacts::{self as q, ArtifactRow, RepositoryRow};
use crate::db::registry::{ManifestDeletion, ReferrerRow};
use crate::db::Db;
use crate::digest::Digest;
use crate::names::{valid_tag, RepoName};
use crate::service::registry::Registry;

use super::projects::{ProjectError, ProjectRef, ProjectView, Projects};

type Result<T> = std::result::Result<T, ProjectError>;

#[derive(Clone)]
pub struct Repositories {
    db: Db,
    projects: Projects,
    registry: Registry,
}

/// The most of a config blob read to show it: configs are a few KiB; a huge one is not shown.
const CONFIG_SHOWN_MAX: u64 = 1024 * 1024;

/// One artifact with what a reader wants to see of it.
pub struct ArtifactDetail {
    pub view: ProjectView,
    pub repository: RepositoryRow,
    pub artifact: ArtifactRow,
    /// The manifest document as pushed.
    pub manifest: Vec<u8>,
    /// The image configuration, when the manifest has one of a readable size.
    pub config: Option<Vec<u8>>,
    /// Artifacts attached through `subject` (signatures, SBOMs, ...).
    pub referrers: Vec<ReferrerRow>,
}

/// The repository's full name from the project and the path's repository part. Clients
/// encode a nested name's `/` as `%2F`, and often twice (`%252F`), so one more decode is due.
pub fn full_name(project: &str, repository: &str) -> Result<RepoName> {
    let repository = repository.replace("%2F", "/").replace("%2f", "/");
    RepoName::parse(&format!("{project}/{repository}"))
        .map_err(|e| ProjectError::Invalid(format!("invalid repository name: {e}")))
}

impl Repositories {
    pub fn new(db: Db, projects: Projects, registry: Registry) -> Repositories {
        Repositories {
            db,
            projects,
            registry,
        }
    }

    async fn repository(&self, view: &ProjectView, repository: &str) -> Result<RepositoryRow> {
        let name = full_name(&view.project.name, repository)?;
        let key = name.to_string();
        self.db
            .read(move |c| q::repository(c, &key))
            .await?
            .ok_or_else(|| ProjectError::NotFound(format!("repository {name}")))
    }

    pub async fn list(
        &self,
        by: &Principal,
        project: &str,
    ) -> Result<(ProjectView, Vec<RepositoryRow>)> {
        let view = self
            .projects
            .require(
                by,
                &ProjectRef::name(project),
                Resource::Repository,
                Operation::List,
            )
            .await?;
        let id = view.project.id;
        let rows = self
            .db
            .read(move |c| q::repositories(c, Some(&[id])))
            .await?;
        Ok((view, rows))
    }

    /// Repositories of every project the caller may list them in.
    pub async fn list_all(&self, by: &Principal) -> Result<Vec<RepositoryRow>> {
        let ids: Vec<i64> = self
            .projects
            .list(by)
            .await?
            .into_iter()
            .filter(|v| v.may(Resource::Repository, Operation::List))
            .map(|v| v.project.id)
            .collect();
        Ok(self
            .db
            .read(move |c| q::repositories(c, Some(&ids)))
            .await?)
    }

    pub async fn get(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
    ) -> Result<RepositoryRow> {
        let view = self
            .projects
            .require(
                by,
                &ProjectRef::name(project),
                Resource::Repository,
                Operation::Read,
            )
            .await?;
        self.repository(&view, repository).await
    }

    pub async fn delete(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
    ) -> Result<RepositoryRow> {
        let view = self
            .projects
            .require(
                by,
                &ProjectRef::name(project),
                Resource::Repository,
                Operation::Delete,
            )
            .await?;
        let repo = self.repository(&view, repository).await?;
        let (id, pid, name) = (repo.id, view.project.id, repo.name.clone());
        self.db
            .write(move |tx| {
                let tags = crate::db::retention::tag_names(tx, id)?;
                immutable_guard(tx, pid, &name, &tags)?;
                Ok::<_, ProjectError>(q::delete_repository(tx, id)?)
            })
            .await?;
        Ok(repo)
    }

    pub async fn artifacts(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
    ) -> Result<(ProjectView, RepositoryRow, Vec<ArtifactRow>)> {
        let view = self
            .projects
            .require(
                by,
                &ProjectRef::name(project),
                Resource::Artifact,
                Operation::List,
            )
            .await?;
        let repo = self.repository(&view, repository).await?;
        let id = repo.id;
        let rows = self.db.read(move |c| q::artifacts(c, id)).await?;
        Ok((view, repo, rows))
    }

    /// One artifact by digest or tag, after checking `operation` on `resource`.
    async fn artifact_for(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
        reference: &str,
        resource: Resource,
        operation: Operation,
    ) -> Result<(ProjectView, RepositoryRow, ArtifactRow)> {
        let view = self
            .projects
            .require(by, &ProjectRef::name(project), resource, operation)
            .await?;
        let repo = self.repository(&view, repository).await?;
        let id = repo.id;
        let rows = self.db.read(move |c| q::artifacts(c, id)).await?;
        let found = rows.into_iter().find(|a| {
            if reference.contains(':') {
                a.digest == reference
            } else {
                a.tags.iter().any(|t| t.name == reference)
            }
        });
        let artifact = found
            .ok_or_else(|| ProjectError::NotFound(format!("artifact {}:{reference}", repo.name)))?;
        Ok((view, repo, artifact))
    }

    pub async fn artifact(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
        reference: &str,
    ) -> Result<(RepositoryRow, ArtifactRow)> {
        let (_, repo, a) = self
            .artifact_for(
                by,
                project,
                repository,
                reference,
                Resource::Artifact,
                Operation::Read,
            )
            .await?;
        Ok((repo, a))
    }

    /// An artifact with its manifest, configuration and referrers, for reading.
    pub async fn artifact_detail(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
        reference: &str,
    ) -> Result<ArtifactDetail> {
        let (view, repo, artifact) = self
            .artifact_for(
                by,
                project,
                repository,
                reference,
                Resource::Artifact,
                Operation::Read,
            )
            .await?;
        let name = full_name(&view.project.name, repository)?;
        let gone = || ProjectError::NotFound(format!("artifact {}", artifact.digest));
        let manifest = self
            .registry
            .get_manifest(&name, &artifact.digest)
            .await
            .map_err(|_| gone())?
            .content;
        let config = match crate::manifest::config_digest(&manifest) {
            Some(d) => self
                .registry
                .read_small_blob(&name, &d, CONFIG_SHOWN_MAX)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let digest: Digest = artifact.digest.parse().map_err(|_| gone())?;
        let referrers = self
            .registry
            .referrers(&name, &digest, None)
            .await
            .map_err(|e| ProjectError::Invalid(e.to_string()))?;
        Ok(ArtifactDetail {
            view,
            repository: repo,
            artifact,
            manifest,
            config,
            referrers,
        })
    }

    pub async fn delete_artifact(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
        reference: &str,
    ) -> Result<(ProjectView, ArtifactRow)> {
        let (view, repo_row, a) = self
            .artifact_for(
                by,
                project,
                repository,
                reference,
                Resource::Artifact,
                Operation::Delete,
            )
            .await?;
        let (repo_id, digest) = (a.repository_id, a.digest.clone());
        let (pid, name) = (view.project.id, repo_row.name.clone());
        self.db
            .write(move |tx| {
                if let ManifestDeletion::Deleted(doomed) =
                    crate::db::registry::deletion_of(tx, repo_id, &digest)?
                {
                    let tags = crate::db::registry::tags_of_digests(tx, repo_id, &doomed)?;
                    immutable_guard(tx, pid, &name, &tags)?;
                }
                match crate::db::registry::delete_manifest(tx, repo_id, &digest)? {
                    ManifestDeletion::Deleted(_) => Ok(()),
                    ManifestDeletion::NotFound => {
                        Err(ProjectError::NotFound(format!("artifact {digest}")))
                    }
                    ManifestDeletion::Referenced { by } => Err(ProjectError::PreconditionFailed(
                        format!("artifact {digest} is referenced by artifact {by}: delete that one first"),
                    )),
                }
            })
            .await?;
        Ok((view, a))
    }

    pub async fn tags(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
        reference: &str,
    ) -> Result<ArtifactRow> {
        let (_, _, a) = self
            .artifact_for(
                by,
                project,
                repository,
                reference,
                Resource::Tag,
                Operation::List,
            )
            .await?;
        Ok(a)
    }

    pub async fn create_tag(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
        reference: &str,
        tag: &str,
    ) -> Result<ProjectView> {
        if !valid_tag(tag) {
            return Err(ProjectError::Invalid(format!("invalid tag {tag:?}")));
        }
        let (view, repo, a) = self
            .artifact_for(
                by,
                project,
                repository,
                reference,
                Resource::Tag,
                Operation::Create,
            )
            .await?;
        let (repo_id, manifest_id, name) = (repo.id, a.id, tag.to_string());
        let created = self
            .db
            .write(move |tx| Ok::<_, ProjectError>(q::create_tag(tx, repo_id, manifest_id, &name)?))
            .await?;
        match created {
            Some(true) => Ok(view),
            Some(false) => Err(ProjectError::Conflict(format!(
                "tag {tag} already exists in {}",
                repo.name
            ))),
            None => Err(ProjectError::NotFound(format!(
                "artifact {reference} in {}",
                repo.name
            ))),
        }
    }

    pub async fn delete_tag(
        &self,
        by: &Principal,
        project: &str,
        repository: &str,
        reference: &str,
        tag: &str,
    ) -> Result<ProjectView> {
        let (view, repo, a) = self
            .artifact_for(
                by,
                project,
                repository,
                reference,
                Resource::Tag,
                Operation::Delete,
            )
            .await?;
        let (repo_id, manifest_id, name) = (repo.id, a.id, tag.to_string());
        let (pid, repo_name) = (view.project.id, repo.name.clone());
        let deleted = self
            .db
            .write(move |tx| {
                immutable_guard(tx, pid, &repo_name, std::slice::from_ref(&name))?;
                Ok::<_, ProjectError>(q::delete_tag(tx, repo_id, manifest_id, &name)?)
            })
            .await?;
        if deleted {
            Ok(view)
        } else {
            Err(ProjectError::NotFound(format!(
                "tag {tag} of {}@{}",
                repo.name, a.digest
            )))
        }
    }
}

/// Refuses a deletion that would remove an immutable tag (412, as Harbor answers).
fn immutable_guard(
    conn: &rusqlite::Connection,
    project_id: i64,
    repository: &str,
    tags: &[String],
) -> Result<()> {
    let immutable = crate::service::immutability::Immutable::load(conn, project_id)?;
    match immutable.first_protected(repository, tags) {
        Some(t) => Err(ProjectError::PreconditionFailed(
            crate::service::immutability::refusal(repository, t),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::full_name;

    #[test]
    fn nested_names_are_decoded_once_more() {
        assert_eq!(
            full_name("p", "a%2Fb").map(|n| n.to_string()).ok(),
            Some("p/a/b".into())
        );
        assert_eq!(
            full_name("p", "app").map(|n| n.to_string()).ok(),
            Some("p/app".into())
        );
        assert!(full_name("p", "..%2Fx").is_err());
        assert!(full_name("p", "").is_err());
    }
}
