//! What must exist from the first start: the `admin` system administrator and the public
//! `library` project.

use crate::auth::password;
use crate::auth::permissions::ProjectRole;
use crate::db::{self, Db, DbError};

/// What the first start did, for `main.rs` to tell the operator.
pub enum AdminBootstrap {
    AlreadyPresent,
    Created,
    CreatedWithGeneratedPassword(String),
}

/// Creates `admin` (with `initial_password`, or a generated one) and `library` when missing.
pub async fn ensure_defaults(
    db: &Db,
    initial_password: Option<String>,
) -> Result<AdminBootstrap, DbError> {
    let exists = db.read(|c| db::users::by_name(c, "admin")).await?.is_some();
    let outcome = if exists {
        AdminBootstrap::AlreadyPresent
    } else {
        let (pw, generated) = match initial_password {
            Some(p) => (p, false),
            None => (password::generate(), true),
        };
        let pw_for_hash = pw.clone();
        let hash = tokio::task::spawn_blocking(move || password::hash(&pw_for_hash))
            .await
            .map_err(|e| DbError::Worker(e.to_string()))?;
        db.write(move |tx| {
            if db::users::by_name(tx, "admin")?.is_none() {
                db::users::insert(tx, &admin_user(&hash))?;
            }
            Ok::<_, DbError>(())
        })
        .await?;
        if generated {
            AdminBootstrap::CreatedWithGeneratedPassword(pw)
        } else {
            AdminBootstrap::Created
        }
    };
    db.write(|tx| {
        if db::projects::by_name(tx, "library")?.is_none() {
            let admin = db::users::by_name(tx, "admin")?.map(|u| u.id).unwrap_or(1);
            db::projects::insert(
                tx,
                "library",
                true,
                admin,
                ProjectRole::ProjectAdmin.id(),
                -1,
            )?;
        }
        Ok::<_, DbError>(())
    })
    .await?;
    Ok(outcome)
}

/// The built-in `admin`, as Harbor creates it.
fn admin_user(hash: &str) -> db::users::NewUser<'_> {
    db::users::NewUser {
        username: "admin",
        email: Some("admin@example.com"),
        realname: "system admin",
        comment: "admin user",
        password_hash: hash,
        sysadmin: true,
    }
}

/// Sets the `admin` password to `password` (creating `admin` and `library` when missing): what
/// `berth-setup` does, so the plain password is written nowhere but as an argon2id hash.
pub async fn provision_admin(db: &Db, new_password: &str) -> Result<(), DbError> {
    reset_admin(db, new_password).await?;
    ensure_defaults(db, None).await.map(|_| ())
}

/// Sets the `admin` password (creating `admin` when missing) and changes nothing else: what
/// `berthd reset-admin-password` does on a live installation.
pub async fn reset_admin(db: &Db, new_password: &str) -> Result<(), DbError> {
    let pw = new_password.to_string();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| DbError::Worker(e.to_string()))?;
    db.write(move |tx| {
        match db::users::by_name(tx, "admin")? {
            Some(admin) => db::users::set_password_hash(tx, admin.id, &hash)?,
            None => {
                db::users::insert(tx, &admin_user(&hash))?;
            }
        }
        Ok::<_, DbError>(())
    })
    .await
}
