//! Users: who may create, see and change accounts, and the rules an account must meet.

use crate::auth::permissions::{Operation, Resource};
use crate::auth::{password, Principal};
use crate::db::users::{NewUser, UserRow};
use crate::db::{self, Db, DbError};
use crate::settings::SettingsHandle;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("user {0} not found")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Harbor's rule: 8 to 128 characters with at least one upper-case letter, one lower-case
/// letter and one digit.
pub fn check_password(p: &str) -> Result<(), UserError> {
    let n = p.chars().count();
    let ok = (8..=128).contains(&n)
        && p.chars().any(|c| c.is_ascii_uppercase())
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid(
            "the password must be 8 to 128 characters long with at least one upper-case letter, one lower-case letter and one digit".into(),
        ))
    }
}

/// Usernames: 1 to 255 characters, none of `,"~#$%:/\` or white space or control characters,
/// and not starting with the robot prefix (those names belong to robot accounts).
pub fn check_username(u: &str, robot_prefix: &str) -> Result<(), UserError> {
    let bad = u.is_empty()
        || u.chars().count() > 255
        || u.chars()
            .any(|c| c.is_whitespace() || c.is_control() || ",\"~#$%:/\\".contains(c))
        || u.starts_with(robot_prefix);
    if bad {
        Err(UserError::Invalid(format!(
            "invalid username {u:?}: 1 to 255 characters, none of , \" ~ # $ % : / \\ or spaces, not starting with {robot_prefix:?}"
        )))
    } else {
        Ok(())
    }
}

pub fn check_email(e: &str) -> Result<(), UserError> {
    let ok = e.len() <= 255
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(a, b)| {
            !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(UserError::Invalid(format!("invalid email address {e:?}")))
    }
}

/// What creating a user takes.
pub struct UserRequest {
    pub username: String,
    pub email: String,
    pub realname: String,
    pub comment: String,
    pub password: String,
}

#[derive(Clone)]
pub struct Users {
    db: Db,
    settings: SettingsHandle,
}

/// A person's user id (with whether the system table lets them do `operation` to any user):
/// what the rules about one's own account need. Robots have no account of their own.
fn caller(by: &Principal, operation: Operation) -> Result<(i64, bool), UserError> {
    match by {
        Principal::User { id, .. } => Ok((*id, by.may_system(Resource::User, operation))),
        Principal::Anonymous => Err(UserError::Unauthorized),
        Principal::Robot { .. } => Err(UserError::Forbidden(
            "robot accounts cannot manage users".into(),
        )),
    }
}

/// The caller holds `user:operation` at the system level (a system admin, or a robot granted
/// it); returns the caller's user id when a person.
fn holds(by: &Principal, operation: Operation) -> Result<Option<i64>, UserError> {
    if by.may_system(Resource::User, operation) {
        return Ok(by.user_id());
    }
    match by {
        Principal::Anonymous => Err(UserError::Unauthorized),
        _ => Err(UserError::Forbidden(
            "only a system administrator may do this".into(),
        )),
    }
}

async fn hash(password: String) -> Result<String, UserError> {
    password::hash_pooled(password)
        .await
        .ok_or_else(|| UserError::Db(DbError::Worker("password hashing failed".into())))
}

impl Users {
    pub fn new(db: Db, settings: SettingsHandle) -> Users {
        Users { db, settings }
    }

    /// A system admin creates users; anyone may sign up when self-registration is on.
    pub async fn create(&self, by: &Principal, req: UserRequest) -> Result<UserRow, UserError> {
        match by {
            _ if by.may_system(Resource::User, Operation::Create) => {}
            // Local accounts made while logins go to the directory would take directory users'
            // names from them: sign-up is for the database login mode only, as in Harbor.
            Principal::Anonymous
                if self.settings.current().system.self_registration
                    && self.settings.current().auth_mode == crate::config::AuthMode::Db => {}
            Principal::Anonymous => return Err(UserError::Unauthorized),
            Principal::User { .. } | Principal::Robot { .. } => {
                return Err(UserError::Forbidden(
                    "only a system administrator may create users".into(),
                ))
            }
        }
        check_username(
            &req.username,
            &self.settings.current().system.robot_name_prefix,
        )?;
        check_email(&req.email)?;
        check_password(&req.password)?;
        if req.realname.chars().count() > 255 || req.comment.chars().count() > 255 {
            return Err(UserError::Invalid(
                "realname and comment are at most 255 characters".into(),
            ));
        }
        let hash = hash(req.password.clone()).await?;
        self.db
            .write(move |tx| {
                if db::users::by_account_key(tx, &crate::names::account_key(&req.username))?
                    .is_some()
                {
                    return Err(UserError::Conflict(format!(
                        "username {} is already taken",
                        req.username
                    )));
                }
                if db::users::by_email(tx, &req.email)?.is_some() {
                    return Err(UserError::Conflict(format!(
                        "email {} is already in use",
                        req.email
                    )));
                }
                let id = db::users::insert(
                    tx,
                    &NewUser {
                        username: &req.username,
                        email: Some(&req.email),
                        realname: &req.realname,
                        comment: &req.comment,
                        password_hash: &hash,
                        sysadmin: false,
                    },
                )?;
                db::users::by_id(tx, id)?.ok_or_else(|| UserError::NotFound(id.to_string()))
            })
            .await
    }

    pub async fn list(&self, by: &Principal) -> Result<Vec<UserRow>, UserError> {
        holds(by, Operation::List)?;
        Ok(self.db.read(db::users::all).await?)
    }

    /// Usernames for pickers (adding members): any signed-in user may search.
    pub async fn search(&self, by: &Principal, fragment: &str) -> Result<Vec<UserRow>, UserError> {
        caller(by, Operation::List)?;
        let fragment = fragment.to_string();
        let all = self.db.read(db::users::all).await?;
        Ok(all
            .into_iter()
            .filter(|u| u.username.contains(&fragment))
            .collect())
    }

    /// A system admin may read anyone; a user themselves.
    pub async fn get(&self, by: &Principal, id: i64) -> Result<UserRow, UserError> {
        if by.may_system(Resource::User, Operation::Read) {
            return self
                .db
                .read(move |c| db::users::by_id(c, id))
                .await?
                .ok_or_else(|| UserError::NotFound(id.to_string()));
        }
        let (me, may_read_anyone) = caller(by, Operation::Read)?;
        if !may_read_anyone && me != id {
            return Err(UserError::Forbidden(
                "you may only read your own account".into(),
            ));
        }
        self.db
            .read(move |c| db::users::by_id(c, id))
            .await?
            .ok_or_else(|| UserError::NotFound(id.to_string()))
    }

    pub async fn current(&self, by: &Principal) -> Result<UserRow, UserError> {
        let (me, _) = caller(by, Operation::Read)?;
        self.get(by, me).await
    }

    pub async fn update_profile(
        &self,
        by: &Principal,
        id: i64,
        email: Option<String>,
        realname: Option<String>,
        comment: Option<String>,
    ) -> Result<UserRow, UserError> {
        let current = self.get(by, id).await?;
        if let Some(e) = &email {
            check_email(e)?;
        }
        for field in [&realname, &comment].into_iter().flatten() {
            if field.chars().count() > 255 {
                return Err(UserError::Invalid(
                    "realname and comment are at most 255 characters".into(),
                ));
            }
        }
        self.db
            .write(move |tx| {
                let email = email.or(current.email);
                if let Some(e) = &email {
                    if db::users::by_email(tx, e)?.is_some_and(|other| other.id != id) {
                        return Err(UserError::Conflict(format!("email {e} is already in use")));
                    }
                }
                db::users::update_profile(
                    tx,
                    id,
                    email.as_deref(),
                    &realname.unwrap_or(current.realname),
                    &comment.unwrap_or(current.comment),
                )?;
                db::users::by_id(tx, id)?.ok_or_else(|| UserError::NotFound(id.to_string()))
            })
            .await
    }

    /// Users change their own password with the old one; a system admin sets anyone else's.
    pub async fn change_password(
        &self,
        by: &Principal,
        id: i64,
        old: Option<String>,
        new: String,
    ) -> Result<(), UserError> {
        let (me, may_update_anyone) = caller(by, Operation::Update)?;
        let target = self.get(by, id).await?;
        check_password(&new)?;
        if me == id {
            let old = old.ok_or_else(|| {
                UserError::Forbidden("changing your own password needs old_password".into())
            })?;
            let stored = target.password_hash.clone().unwrap_or_default();
            let candidate = new.clone();
            let old_ok = password::verify_pooled(old, stored.clone()).await;
            let same = password::verify_pooled(candidate, stored).await;
            if !old_ok {
                return Err(UserError::Forbidden("the old password is wrong".into()));
            }
            if same {
                return Err(UserError::Invalid(
                    "the new password must differ from the old one".into(),
                ));
            }
        } else if !may_update_anyone {
            return Err(UserError::Forbidden(
                "you may only change your own password".into(),
            ));
        }
        let hash = hash(new).await?;
        self.db
            .write(move |tx| Ok::<_, UserError>(db::users::set_password_hash(tx, id, &hash)?))
            .await
    }

    /// Only a person can make or unmake a system administrator: a robot does not hold that
    /// power, so it cannot hand it out (whatever `user:update` it was granted).
    pub async fn set_sysadmin(&self, by: &Principal, id: i64, flag: bool) -> Result<(), UserError> {
        let me = holds(by, Operation::Update)?.ok_or_else(|| {
            UserError::Forbidden("a robot account cannot change system administrators".into())
        })?;
        if me == id {
            return Err(UserError::Forbidden(
                "you cannot change your own system administrator flag".into(),
            ));
        }
        self.db
            .write(move |tx| {
                let user =
                    db::users::by_id(tx, id)?.ok_or_else(|| UserError::NotFound(id.to_string()))?;
                if user.username == "admin" && !flag {
                    return Err(UserError::Forbidden(
                        "the built-in admin always stays a system administrator".into(),
                    ));
                }
                Ok(db::users::set_sysadmin(tx, id, flag)?)
            })
            .await
    }

    pub async fn delete(&self, by: &Principal, id: i64) -> Result<UserRow, UserError> {
        let me = holds(by, Operation::Delete)?;
        if me == Some(id) {
            return Err(UserError::Forbidden(
                "you cannot delete your own account".into(),
            ));
        }
        self.db
            .write(move |tx| {
                let user =
                    db::users::by_id(tx, id)?.ok_or_else(|| UserError::NotFound(id.to_string()))?;
                if user.username == "admin" {
                    return Err(UserError::Forbidden(
                        "the built-in admin cannot be deleted".into(),
                    ));
                }
                db::users::delete(tx, id)?;
                Ok(user)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rule() {
        assert!(check_password("Harbor12345").is_ok());
        for bad in [
            "short1A",
            "alllowercase1",
            "ALLUPPERCASE1",
            "NoDigitsHere",
            &format!("Aa1{}", "x".repeat(126)),
        ] {
            assert!(check_password(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn username_rule() {
        assert!(check_username("alice", "robot$").is_ok());
        assert!(check_username("alice.smith@corp", "robot$").is_ok());
        for bad in [
            "",
            "a b",
            "a,b",
            "a\"b",
            "robot$x",
            "a/b",
            "a\0b",
            &"x".repeat(256),
        ] {
            assert!(check_username(bad, "robot$").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn email_rule() {
        assert!(check_email("a@example.com").is_ok());
        for bad in ["", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@.c"] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
