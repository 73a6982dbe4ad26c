//! The two ends of a copy. One end is always this registry ([`Local`], through the same
//! registry service a push goes through, so every check, lease and lock applies), the other
//! an endpoint ([`Remote`]). [`Side`] lets the copy code treat them alike.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use super::remote::{Remote, RemoteError, UploadLocation};
use crate::audit::{AuditLog, Entry};
use crate::db::{self, Db};
use crate::digest::{Algorithm, Digest};
use crate::names::RepoName;
use crate::service::projects::Projects;
use crate::service::registry::{Registry, RegistryError};

/// This registry, as replication reads and writes it.
#[derive(Clone)]
pub struct Local {
    pub db: Db,
    pub registry: Registry,
    pub projects: Projects,
    pub audit: AuditLog,
}

/// Owner of the upload sessions replication opens here (counted against the session caps
/// like anyone's).
const UPLOAD_OWNER: &str = "replication";

fn local_error(e: RegistryError) -> RemoteError {
    match e {
        // The source's stream broke mid-upload: worth another try.
        RegistryError::BlobUploadInvalid(m) if m.starts_with("upload interrupted") => {
            RemoteError::Transient(m)
        }
        RegistryError::NameUnknown
        | RegistryError::ManifestUnknown
        | RegistryError::BlobUnknown
        | RegistryError::BlobUploadUnknown => RemoteError::NotFound(e.to_string()),
        RegistryError::Internal(_) | RegistryError::TooManyRequests(_) => {
            RemoteError::Transient(e.to_string())
        }
        other => RemoteError::Refused(other.to_string()),
    }
}

fn repo(name: &str) -> Result<RepoName, RemoteError> {
    RepoName::parse(name).map_err(|e| RemoteError::Refused(format!("{name}: {e}")))
}

fn digest(d: &str) -> Result<Digest, RemoteError> {
    d.parse()
        .map_err(|e| RemoteError::Refused(format!("{d}: {e}")))
}

impl Local {
    async fn repositories(&self) -> Result<Vec<String>, RemoteError> {
        self.db
            .read(db::replication::local_repositories)
            .await
            .map_err(|e| RemoteError::Transient(e.to_string()))
    }

    /// Tags with the digests they point at.
    pub async fn tagged(&self, name: &str) -> Result<Vec<(String, String)>, RemoteError> {
        let name = name.to_string();
        self.db
            .read(move |c| db::replication::local_tags(c, &name))
            .await
            .map_err(|e| RemoteError::Transient(e.to_string()))
    }

    async fn head_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<Option<(String, String)>, RemoteError> {
        match self.registry.get_manifest(&repo(name)?, reference).await {
            Ok(m) => Ok(Some((m.digest, m.media_type))),
            Err(RegistryError::ManifestUnknown | RegistryError::NameUnknown) => Ok(None),
            Err(e) => Err(local_error(e)),
        }
    }

    async fn manifest(&self, name: &str, reference: &str) -> Result<(Bytes, String), RemoteError> {
        let m = self
            .registry
            .get_manifest(&repo(name)?, reference)
            .await
            .map_err(local_error)?;
        Ok((Bytes::from(m.content), m.media_type))
    }

    async fn referrers(&self, name: &str, of: &str) -> Result<Vec<String>, RemoteError> {
        Ok(self
            .registry
            .referrers(&repo(name)?, &digest(of)?, None)
            .await
            .map_err(local_error)?
            .into_iter()
            .map(|r| r.digest)
            .collect())
    }

    /// A `HEAD` as a pusher makes it: a hit is leased, so GC keeps it until the manifest
    /// arrives.
    async fn has_blob(&self, name: &str, d: &str) -> Result<bool, RemoteError> {
        match self
            .registry
            .check_blob(&repo(name)?, &digest(d)?, true)
            .await
        {
            Ok(_) => Ok(true),
            Err(RegistryError::BlobUnknown | RegistryError::NameUnknown) => Ok(false),
            Err(e) => Err(local_error(e)),
        }
    }

    async fn blob(
        &self,
        name: &str,
        d: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, RemoteError> {
        let d = digest(d)?;
        let size = self
            .registry
            .blob_size(&repo(name)?, &d)
            .await
            .map_err(local_error)?;
        let offset = offset.min(size);
        let len = len.unwrap_or(u64::MAX).min(size - offset);
        Ok(self.registry.blob_stream(&d, offset, len))
    }

    /// Mounts from any local repository holding the blob; `None` when mounted, else a new
    /// upload session.
    async fn start_upload(
        &self,
        name: &str,
        d: &str,
    ) -> Result<Option<UploadLocation>, RemoteError> {
        let (target, d) = (repo(name)?, digest(d)?);
        for from in self
            .registry
            .repositories_holding(&d)
            .await
            .map_err(local_error)?
        {
            if self
                .registry
                .mount_blob(&target, &from, &d)
                .await
                .map_err(local_error)?
            {
                return Ok(None);
            }
        }
        let id = self
            .registry
            .start_upload(&target, UPLOAD_OWNER, Algorithm::Sha256)
            .await
            .map_err(local_error)?;
        Ok(Some(UploadLocation(id)))
    }

    async fn cancel_upload(&self, name: &str, upload: &UploadLocation) {
        if let Ok(target) = repo(name) {
            let _ = self.registry.cancel_upload(&target, &upload.0).await;
        }
    }

    async fn upload_offset(&self, name: &str, upload: &UploadLocation) -> Result<u64, RemoteError> {
        Ok(self
            .registry
            .upload_status(&repo(name)?, &upload.0)
            .await
            .map_err(local_error)?
            .offset)
    }

    async fn upload_chunk(
        &self,
        name: &str,
        upload: &UploadLocation,
        offset: u64,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<UploadLocation, RemoteError> {
        self.registry
            .append_upload(&repo(name)?, &upload.0, Some(offset), body)
            .await
            .map_err(local_error)?;
        Ok(upload.clone())
    }

    async fn finish_upload(
        &self,
        name: &str,
        upload: &UploadLocation,
        d: &str,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<(), RemoteError> {
        self.registry
            .finish_upload(&repo(name)?, &upload.0, d, None, body)
            .await
            .map_err(local_error)?;
        Ok(())
    }

    async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<(), RemoteError> {
        let target = repo(name)?;
        let pushed = self
            .registry
            .put_manifest(&target, reference, Some(media_type), body)
            .await;
        self.audit.record(Entry {
            project_id: pushed.as_ref().ok().map(|o| o.project_id),
            operation: "push",
            resource_type: "artifact",
            resource: if reference.contains(':') {
                format!("{name}@{reference}")
            } else {
                format!("{name}:{reference}")
            },
            username: UPLOAD_OWNER.into(),
            success: pushed.is_ok(),
            client_ip: String::new(),
        });
        pushed.map(|_| ()).map_err(local_error)
    }

    async fn delete_manifest(&self, name: &str, reference: &str) -> Result<bool, RemoteError> {
        match self.registry.delete_manifest(&repo(name)?, reference).await {
            Ok(project_id) => {
                self.audit.record(Entry {
                    project_id: Some(project_id),
                    operation: "delete",
                    resource_type: "artifact",
                    resource: format!("{name}:{reference}"),
                    username: UPLOAD_OWNER.into(),
                    success: true,
                    client_ip: String::new(),
                });
                Ok(true)
            }
            Err(RegistryError::ManifestUnknown | RegistryError::NameUnknown) => Ok(false),
            Err(e) => Err(local_error(e)),
        }
    }

    async fn ensure_project(&self, name: &str) -> Result<(), RemoteError> {
        self.projects
            .ensure_for_replication(name)
            .await
            .map_err(|e| RemoteError::Refused(format!("project {name}: {e}")))
    }
}

/// One end of a copy.
#[derive(Clone)]
pub enum Side {
    Local(Box<Local>),
    Remote(Arc<Remote>),
}

impl Side {
    pub fn describe(&self) -> String {
        match self {
            Side::Local(_) => "this registry".into(),
            Side::Remote(r) => r.endpoint().url.clone(),
        }
    }

    pub async fn repositories(&self) -> Result<Vec<String>, RemoteError> {
        match self {
            Side::Local(l) => l.repositories().await,
            Side::Remote(r) => r.repositories().await,
        }
    }

    /// Tags and their digests. A remote source costs one `HEAD` per tag.
    pub async fn tagged(&self, name: &str) -> Result<Vec<(String, String)>, RemoteError> {
        match self {
            Side::Local(l) => l.tagged(name).await,
            Side::Remote(r) => {
                let mut out = Vec::new();
                let tags = r.tags(name).await?;
                for tag in tags.into_iter().filter(|t| crate::names::valid_tag(t)) {
                    if let Some((digest, _)) = r.head_manifest(name, &tag, false).await? {
                        out.push((tag, digest));
                    }
                }
                Ok(out)
            }
        }
    }

    pub async fn head_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<Option<(String, String)>, RemoteError> {
        match self {
            Side::Local(l) => l.head_manifest(name, reference).await,
            Side::Remote(r) => r.head_manifest(name, reference, true).await,
        }
    }

    pub async fn manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<(Bytes, String), RemoteError> {
        match self {
            Side::Local(l) => l.manifest(name, reference).await,
            Side::Remote(r) => r.manifest(name, reference).await,
        }
    }

    pub async fn referrers(&self, name: &str, digest: &str) -> Result<Vec<String>, RemoteError> {
        match self {
            Side::Local(l) => l.referrers(name, digest).await,
            Side::Remote(r) => r.referrers(name, digest).await,
        }
    }

    pub async fn has_blob(&self, name: &str, digest: &str) -> Result<bool, RemoteError> {
        match self {
            Side::Local(l) => l.has_blob(name, digest).await,
            Side::Remote(r) => r.has_blob(name, digest).await,
        }
    }

    /// `len` bytes of a blob from `offset` (the rest with `None`).
    pub async fn blob(
        &self,
        name: &str,
        digest: &str,
        offset: u64,
        len: Option<u64>,
    ) -> Result<BoxStream<'static, std::io::Result<Bytes>>, RemoteError> {
        match self {
            Side::Local(l) => l.blob(name, digest, offset, len).await,
            Side::Remote(r) => r.blob(name, digest, offset, len).await,
        }
    }

    /// Starts an upload, mounting instead when the destination can (`None`).
    pub async fn start_upload(
        &self,
        name: &str,
        digest: &str,
        from: Option<&str>,
    ) -> Result<Option<UploadLocation>, RemoteError> {
        match self {
            Side::Local(l) => l.start_upload(name, digest).await,
            Side::Remote(r) => r.start_upload(name, digest, from).await,
        }
    }

    /// Gives up an upload: a local session ends at once (it counts against the session caps);
    /// a remote one is left to expire there.
    pub async fn cancel_upload(&self, name: &str, upload: &UploadLocation) {
        if let Side::Local(l) = self {
            l.cancel_upload(name, upload).await;
        }
    }

    pub async fn upload_offset(
        &self,
        name: &str,
        upload: &UploadLocation,
    ) -> Result<u64, RemoteError> {
        match self {
            Side::Local(l) => l.upload_offset(name, upload).await,
            Side::Remote(r) => r.upload_offset(name, upload).await,
        }
    }

    pub async fn upload_chunk(
        &self,
        name: &str,
        upload: &UploadLocation,
        offset: u64,
        len: u64,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<UploadLocation, RemoteError> {
        match self {
            Side::Local(l) => l.upload_chunk(name, upload, offset, body).await,
            Side::Remote(r) => r.upload_chunk(name, upload, offset, len, body).await,
        }
    }

    pub async fn finish_upload(
        &self,
        name: &str,
        upload: &UploadLocation,
        digest: &str,
        len: u64,
        body: BoxStream<'static, std::io::Result<Bytes>>,
    ) -> Result<(), RemoteError> {
        match self {
            Side::Local(l) => l.finish_upload(name, upload, digest, body).await,
            Side::Remote(r) => r.finish_upload(name, upload, digest, len, body).await,
        }
    }

    pub async fn put_manifest(
        &self,
        name: &str,
        reference: &str,
        media_type: &str,
        body: Bytes,
    ) -> Result<(), RemoteError> {
        match self {
            Side::Local(l) => l.put_manifest(name, reference, media_type, body).await,
            Side::Remote(r) => r.put_manifest(name, reference, media_type, body).await,
        }
    }

    pub async fn delete_manifest(&self, name: &str, reference: &str) -> Result<bool, RemoteError> {
        match self {
            Side::Local(l) => l.delete_manifest(name, reference).await,
            Side::Remote(r) => r.delete(name, reference).await,
        }
    }

    /// Makes sure the namespace (project) of a repository exists at this end.
    pub async fn ensure_namespace(&self, name: &str) -> Result<(), RemoteError> {
        let project = name.split('/').next().unwrap_or(name);
        match self {
            Side::Local(l) => l.ensure_project(project).await,
            Side::Remote(r) => r.ensure_project(project).await,
        }
    }
}

/// An empty body (the final `PUT` of a chunked upload).
pub fn empty_body() -> BoxStream<'static, std::io::Result<Bytes>> {
    futures_util::stream::empty().boxed()
}
