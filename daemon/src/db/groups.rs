//! User groups (Harbor's `user_group`): directory groups that can be project members, and the
//! groups each directory user belonged to at their last login.

use rusqlite::{params, Connection, OptionalExtension};

use super::{now, DbResult};

/// Harbor's group type for an LDAP group.
pub const LDAP_GROUP: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: i64,
    pub group_name: String,
    pub group_type: i64,
    pub ldap_group_dn: String,
}

const SELECT: &str = "SELECT id, group_name, group_type, ldap_group_dn FROM user_groups";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GroupRow> {
    Ok(GroupRow {
        id: r.get(0)?,
        group_name: r.get(1)?,
        group_type: r.get(2)?,
        ldap_group_dn: r.get(3)?,
    })
}

pub fn all(conn: &Connection) -> DbResult<Vec<GroupRow>> {
    let mut stmt = conn.prepare(&format!("{SELECT} ORDER BY group_name, id"))?;
    let rows = stmt.query_map([], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn by_id(conn: &Connection, id: i64) -> DbResult<Option<GroupRow>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
        .optional()?)
}

pub fn by_dn_key(conn: &Connection, dn_key: &str) -> DbResult<Option<GroupRow>> {
    Ok(conn
        .query_row(&format!("{SELECT} WHERE dn_key = ?1"), [dn_key], row)
        .optional()?)
}

pub fn by_name(conn: &Connection, name: &str) -> DbResult<Vec<GroupRow>> {
    let mut stmt = conn.prepare(&format!("{SELECT} WHERE group_name = ?1 ORDER BY id"))?;
    let rows = stmt.query_map([name], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn insert(
    conn: &Connection,
    name: &str,
    group_type: i64,
    dn: &str,
    dn_key: &str,
) -> DbResult<i64> {
    let t = now();
    conn.execute(
        "INSERT INTO user_groups (group_name, group_type, ldap_group_dn, dn_key, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![name, group_type, dn, dn_key, t],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn rename(conn: &Connection, id: i64, name: &str) -> DbResult<bool> {
    Ok(conn.execute(
        "UPDATE user_groups SET group_name = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, name, now()],
    )? > 0)
}

/// Deletes the group and its project memberships.
pub fn delete(conn: &Connection, id: i64) -> DbResult<bool> {
    conn.execute(
        "DELETE FROM members WHERE entity_type = 'g' AND entity_id = ?1",
        [id],
    )?;
    Ok(conn.execute("DELETE FROM user_groups WHERE id = ?1", [id])? > 0)
}

/// Replaces what the directory said about a user at login: their groups (as DN keys) and
/// whether they are in the admin group.
pub fn set_directory_membership(
    conn: &Connection,
    user_id: i64,
    dn_keys: &[String],
    admin: bool,
) -> DbResult<()> {
    let mut known: Vec<String> = conn
        .prepare_cached("SELECT dn_key FROM user_directory_groups WHERE user_id = ?1")?
        .query_map([user_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut wanted = dn_keys.to_vec();
    known.sort();
    wanted.sort();
    wanted.dedup();
    if known != wanted {
        conn.execute(
            "DELETE FROM user_directory_groups WHERE user_id = ?1",
            [user_id],
        )?;
    }
    let mut insert = conn
        .prepare("INSERT OR IGNORE INTO user_directory_groups (user_id, dn_key) VALUES (?1, ?2)")?;
    for key in wanted.iter().filter(|_| known != wanted) {
        insert.execute(params![user_id, key])?;
    }
    conn.execute(
        "UPDATE users SET directory_admin = ?2 WHERE id = ?1 AND directory_admin != ?2",
        params![user_id, admin],
    )?;
    Ok(())
}

/// The user groups a user belonged to at their last directory login.
pub fn of_user(conn: &Connection, user_id: i64) -> DbResult<Vec<GroupRow>> {
    let mut stmt = conn.prepare(
        "SELECT g.id, g.group_name, g.group_type, g.ldap_group_dn FROM user_groups g
         JOIN user_directory_groups d ON d.dn_key = g.dn_key
         WHERE d.user_id = ?1 ORDER BY g.group_name",
    )?;
    let rows = stmt.query_map([user_id], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[tokio::test]
    async fn directory_membership_is_replaced_and_groups_found_by_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("t.db")).expect("open");
        db.write(|c| -> DbResult<()> {
            let uid = crate::db::users::upsert_directory_user(c, "dana", None, "Dana")?
                .expect("a directory user")
                .id;
            let devs = insert(c, "devs", LDAP_GROUP, "cn=Devs,dc=x", "cn=devs,dc=x")?;
            insert(c, "ops", LDAP_GROUP, "cn=Ops,dc=x", "cn=ops,dc=x")?;
            assert!(insert(c, "again", LDAP_GROUP, "CN=Devs,dc=x", "cn=devs,dc=x").is_err());
            set_directory_membership(
                c,
                uid,
                &["cn=devs,dc=x".into(), "cn=other,dc=x".into()],
                true,
            )?;
            assert_eq!(
                of_user(c, uid)?.iter().map(|g| g.id).collect::<Vec<_>>(),
                vec![devs]
            );
            set_directory_membership(c, uid, &["cn=ops,dc=x".into()], false)?;
            let names: Vec<String> = of_user(c, uid)?.into_iter().map(|g| g.group_name).collect();
            assert_eq!(names, vec!["ops"]);
            assert!(delete(c, devs)?);
            assert!(by_id(c, devs)?.is_none());
            Ok(())
        })
        .await
        .expect("db");
    }
}
