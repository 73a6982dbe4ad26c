//! Forward-only schema migrations, embedded in the binary and applied in one transaction at
//! start. `PRAGMA user_version` records how far a database has come. Never edit a migration
//! that has shipped: add the next one.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::{DbError, DbResult};

const MIGRATIONS: &[&str] = &[
    // 1: users, projects, members, the registry's content.
    r#"
    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        email         TEXT UNIQUE,
        realname      TEXT NOT NULL DEFAULT '',
        password_hash TEXT,
        sysadmin      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE projects (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        public     INTEGER NOT NULL,
        owner_id   INTEGER NOT NULL REFERENCES users(id),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    -- Harbor's role ids: 1 project admin, 2 developer, 3 guest, 4 maintainer, 5 limited guest.
    CREATE TABLE project_members (
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        role_id    INTEGER NOT NULL CHECK (role_id BETWEEN 1 AND 5),
        created_at INTEGER NOT NULL,
        PRIMARY KEY (project_id, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE repositories (
        id         INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name       TEXT NOT NULL UNIQUE,
        pull_count INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX repositories_project ON repositories(project_id);
    -- One row per stored blob; `last_seen` feeds garbage collection's grace period.
    CREATE TABLE blobs (
        digest     TEXT PRIMARY KEY,
        size       INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    ) WITHOUT ROWID;
    -- A blob is served from a repository only through a link: isolation between repositories.
    CREATE TABLE repository_blobs (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest        TEXT NOT NULL REFERENCES blobs(digest),
        linked_at     INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest)
    ) WITHOUT ROWID;
    CREATE TABLE manifests (
        id             INTEGER PRIMARY KEY,
        repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest         TEXT NOT NULL,
        media_type     TEXT NOT NULL,
        artifact_type  TEXT,
        subject_digest TEXT,
        annotations    TEXT,
        size           INTEGER NOT NULL,
        content        BLOB NOT NULL,
        push_time      INTEGER NOT NULL,
        pull_time      INTEGER,
        UNIQUE (repository_id, digest)
    );
    CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest);
    -- What a manifest points at: blobs (config, layers) or manifests (an index's children).
    CREATE TABLE manifest_references (
        manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
        digest      TEXT NOT NULL,
        kind        TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
        PRIMARY KEY (manifest_id, kind, digest)
    ) WITHOUT ROWID;
    CREATE INDEX manifest_references_digest ON manifest_references(digest);
    CREATE TABLE tags (
        repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        manifest_id   INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
        push_time     INTEGER NOT NULL,
        PRIMARY KEY (repository_id, name)
    );
    CREATE INDEX tags_manifest ON tags(manifest_id);
    "#,
    // 2: members get their own ids and may be users or (later) groups; robot accounts.
    r#"
    CREATE TABLE members (
        id          INTEGER PRIMARY KEY,
        project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        entity_type TEXT NOT NULL CHECK (entity_type IN ('u', 'g')),
        entity_id   INTEGER NOT NULL,
        role_id     INTEGER NOT NULL CHECK (role_id BETWEEN 1 AND 5),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (project_id, entity_type, entity_id)
    );
    CREATE INDEX members_entity ON members(entity_type, entity_id);
    INSERT INTO members (project_id, entity_type, entity_id, role_id, created_at, updated_at)
        SELECT project_id, 'u', user_id, role_id, created_at, created_at FROM project_members;
    DROP TABLE project_members;
    ALTER TABLE users ADD COLUMN comment TEXT NOT NULL DEFAULT '';
    -- Harbor's robot v2. The secret is stored only as an argon2id hash.
    CREATE TABLE robots (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        level       TEXT NOT NULL CHECK (level IN ('system', 'project')),
        project_id  INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL,
        duration    INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        disabled    INTEGER NOT NULL DEFAULT 0,
        permissions TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    "#,
    // 3: the audit log.
    r#"
    CREATE TABLE audit_log (
        id            INTEGER PRIMARY KEY,
        project_id    INTEGER,
        operation     TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource      TEXT NOT NULL,
        username      TEXT NOT NULL,
        success       INTEGER NOT NULL,
        client_ip     TEXT NOT NULL DEFAULT '',
        op_time       INTEGER NOT NULL
    );
    CREATE INDEX audit_log_time ON audit_log(op_time);
    CREATE INDEX audit_log_project ON audit_log(project_id, op_time);
    "#,
    // 4: user groups (directory groups that can be project members) and what the directory said
    // about each user at their last login.
    r#"
    CREATE TABLE user_groups (
        id            INTEGER PRIMARY KEY,
        group_name    TEXT NOT NULL,
        group_type    INTEGER NOT NULL CHECK (group_type IN (1, 2, 3)),
        ldap_group_dn TEXT NOT NULL DEFAULT '',
        -- The DN in comparable form (lower case, no spaces around separators).
        dn_key        TEXT NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX user_groups_dn ON user_groups(dn_key) WHERE dn_key != '';
    CREATE TABLE user_directory_groups (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        dn_key  TEXT NOT NULL,
        PRIMARY KEY (user_id, dn_key)
    );
    CREATE INDEX user_directory_groups_dn ON user_directory_groups(dn_key);
    ALTER TABLE users ADD COLUMN directory_admin INTEGER NOT NULL DEFAULT 0;
    "#,
    // 5: ids are never reused (AUTOINCREMENT), so nothing that outlives a row (an audit entry, a
    // robot grant, a token's subject) can ever point at its successor; a project keeps its owner
    // of record when that user is deleted; robot grants hold the project's id beside its name.
    // Tables are rebuilt the way SQLite documents (new table, copy, drop, rename), with foreign
    // keys off for the duration (see `apply`).
    r#"
    CREATE TABLE users_new (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        username        TEXT NOT NULL UNIQUE,
        email           TEXT UNIQUE,
        realname        TEXT NOT NULL DEFAULT '',
        password_hash   TEXT,
        sysadmin        INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL,
        comment         TEXT NOT NULL DEFAULT '',
        directory_admin INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO users_new (id, username, email, realname, password_hash, sysadmin, created_at, updated_at, comment, directory_admin)
        SELECT id, username, email, realname, password_hash, sysadmin, created_at, updated_at, comment, directory_admin FROM users;
    DROP TABLE users;
    ALTER TABLE users_new RENAME TO users;

    -- owner_id is the owner of record: no foreign key, so deleting the user keeps the project.
    CREATE TABLE projects_new (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL UNIQUE,
        public     INTEGER NOT NULL,
        owner_id   INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    INSERT INTO projects_new SELECT id, name, public, owner_id, created_at, updated_at FROM projects;
    DROP TABLE projects;
    ALTER TABLE projects_new RENAME TO projects;

    CREATE TABLE repositories_new (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        name       TEXT NOT NULL UNIQUE,
        pull_count INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    INSERT INTO repositories_new SELECT id, project_id, name, pull_count, created_at, updated_at FROM repositories;
    DROP TABLE repositories;
    ALTER TABLE repositories_new RENAME TO repositories;
    CREATE INDEX repositories_project ON repositories(project_id);

    CREATE TABLE manifests_new (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
        digest         TEXT NOT NULL,
        media_type     TEXT NOT NULL,
        artifact_type  TEXT,
        subject_digest TEXT,
        annotations    TEXT,
        size           INTEGER NOT NULL,
        content        BLOB NOT NULL,
        push_time      INTEGER NOT NULL,
        pull_time      INTEGER,
        UNIQUE (repository_id, digest)
    );
    INSERT INTO manifests_new SELECT id, repository_id, digest, media_type, artifact_type, subject_digest,
        annotations, size, content, push_time, pull_time FROM manifests;
    DROP TABLE manifests;
    ALTER TABLE manifests_new RENAME TO manifests;
    CREATE INDEX manifests_subject ON manifests(repository_id, subject_digest);

    CREATE TABLE members_new (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        entity_type TEXT NOT NULL CHECK (entity_type IN ('u', 'g')),
        entity_id   INTEGER NOT NULL,
        role_id     INTEGER NOT NULL CHECK (role_id BETWEEN 1 AND 5),
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (project_id, entity_type, entity_id)
    );
    INSERT INTO members_new SELECT id, project_id, entity_type, entity_id, role_id, created_at, updated_at FROM members;
    DROP TABLE members;
    ALTER TABLE members_new RENAME TO members;
    CREATE INDEX members_entity ON members(entity_type, entity_id);

    CREATE TABLE robots_new (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        level       TEXT NOT NULL CHECK (level IN ('system', 'project')),
        project_id  INTEGER REFERENCES projects(id) ON DELETE CASCADE,
        secret_hash TEXT NOT NULL,
        duration    INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        disabled    INTEGER NOT NULL DEFAULT 0,
        permissions TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    INSERT INTO robots_new SELECT id, name, description, level, project_id, secret_hash, duration,
        expires_at, disabled, permissions, created_at, updated_at FROM robots;
    DROP TABLE robots;
    ALTER TABLE robots_new RENAME TO robots;
    -- Each stored permission gets the id of the project its namespace names (by name, never
    -- digits as an id); a project robot's only entry is its own project.
    UPDATE robots SET permissions = (
        SELECT json_group_array(json(CASE
            WHEN json_extract(e.value, '$.namespace') = '*' THEN e.value
            WHEN robots.level = 'project' THEN json_set(e.value, '$.project_id', robots.project_id)
            ELSE json_set(e.value, '$.project_id',
                 (SELECT p.id FROM projects p WHERE p.name = json_extract(e.value, '$.namespace')))
        END))
        FROM json_each(robots.permissions) e
    );

    CREATE TABLE user_groups_new (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        group_name    TEXT NOT NULL,
        group_type    INTEGER NOT NULL CHECK (group_type IN (1, 2, 3)),
        ldap_group_dn TEXT NOT NULL DEFAULT '',
        dn_key        TEXT NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    INSERT INTO user_groups_new SELECT id, group_name, group_type, ldap_group_dn, dn_key, created_at, updated_at FROM user_groups;
    DROP TABLE user_groups;
    ALTER TABLE user_groups_new RENAME TO user_groups;
    CREATE UNIQUE INDEX user_groups_dn ON user_groups(dn_key) WHERE dn_key != '';
    "#,
    // 6: which repositories hold a blob (mounts without `from`, and garbage collection).
    r#"
    CREATE INDEX repository_blobs_digest ON repository_blobs(digest);
    "#,
    // 7: the job runner: executions with Harbor's statuses, their logs, and schedules.
    r#"
    CREATE TABLE job_executions (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        kind           TEXT NOT NULL,
        triggered_by   TEXT NOT NULL CHECK (triggered_by IN ('manual', 'schedule', 'event')),
        status         TEXT NOT NULL
                       CHECK (status IN ('Pending', 'Running', 'Stopped', 'Error', 'Success')),
        parameters     TEXT NOT NULL DEFAULT '{}',
        result         TEXT NOT NULL DEFAULT '{}',
        done           INTEGER NOT NULL DEFAULT 0,
        total          INTEGER NOT NULL DEFAULT 0,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        retry_of       INTEGER,
        created_at     INTEGER NOT NULL,
        started_at     INTEGER,
        ended_at       INTEGER,
        updated_at     INTEGER NOT NULL
    );
    CREATE INDEX job_executions_kind ON job_executions(kind, id);
    CREATE INDEX job_executions_status ON job_executions(status);
    CREATE TABLE job_logs (
        execution_id INTEGER NOT NULL REFERENCES job_executions(id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,
        at           INTEGER NOT NULL,
        line         TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE job_schedules (
        kind       TEXT PRIMARY KEY,
        schedule   TEXT NOT NULL,
        parameters TEXT NOT NULL DEFAULT '{}',
        next_run   INTEGER,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 8: the run-time settings (see `crate::settings`): one document, one row.
    r#"
    CREATE TABLE settings (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        document   TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );
    "#,
    // 9: replication. Executions run one at a time per lane (a replication policy's own; NULL
    // is the kind), a resumable job's attempts are counted, schedules can be keyed apart from
    // their kind (one per policy), and the instance has an id its peers can see.
    r#"
    ALTER TABLE job_executions ADD COLUMN lane TEXT;
    ALTER TABLE job_executions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX job_executions_lane ON job_executions(lane, id);
    ALTER TABLE job_schedules ADD COLUMN job_kind TEXT;
    CREATE TABLE instance (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        instance_id TEXT NOT NULL
    );
    INSERT INTO instance (id, instance_id) VALUES (1, lower(hex(randomblob(16))));
    CREATE TABLE registries (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        name            TEXT NOT NULL UNIQUE,
        description     TEXT NOT NULL DEFAULT '',
        type            TEXT NOT NULL CHECK (type IN ('harbor', 'docker-registry')),
        url             TEXT NOT NULL,
        credential_type TEXT NOT NULL DEFAULT '',
        access_key      TEXT NOT NULL DEFAULT '',
        access_secret   TEXT NOT NULL DEFAULT '',
        insecure        INTEGER NOT NULL DEFAULT 0,
        ca_certificate  TEXT NOT NULL DEFAULT '',
        status          TEXT NOT NULL DEFAULT 'unknown',
        peer_instance   TEXT NOT NULL DEFAULT '',
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );
    CREATE TABLE replication_policies (
        id                           INTEGER PRIMARY KEY AUTOINCREMENT,
        name                         TEXT NOT NULL UNIQUE,
        description                  TEXT NOT NULL DEFAULT '',
        src_registry_id              INTEGER REFERENCES registries(id),
        dest_registry_id             INTEGER REFERENCES registries(id),
        dest_namespace               TEXT NOT NULL DEFAULT '',
        dest_namespace_replace_count INTEGER NOT NULL DEFAULT -1,
        filters                      TEXT NOT NULL DEFAULT '[]',
        trigger_type                 TEXT NOT NULL
                                     CHECK (trigger_type IN ('manual', 'scheduled', 'event_based')),
        trigger_cron                 TEXT NOT NULL DEFAULT '',
        replicate_deletion           INTEGER NOT NULL DEFAULT 0,
        override                     INTEGER NOT NULL DEFAULT 0,
        enabled                      INTEGER NOT NULL DEFAULT 1,
        speed                        INTEGER NOT NULL DEFAULT -1,
        copy_by_chunk                INTEGER NOT NULL DEFAULT 0,
        single_active_replication    INTEGER NOT NULL DEFAULT 0,
        created_at                   INTEGER NOT NULL,
        updated_at                   INTEGER NOT NULL,
        CHECK ((src_registry_id IS NULL) != (dest_registry_id IS NULL))
    );
    CREATE TABLE replication_tasks (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        execution_id  INTEGER NOT NULL REFERENCES job_executions(id) ON DELETE CASCADE,
        operation     TEXT NOT NULL CHECK (operation IN ('copy', 'deletion')),
        resource_type TEXT NOT NULL,
        src_resource  TEXT NOT NULL,
        dst_resource  TEXT NOT NULL,
        spec          TEXT NOT NULL,
        status        TEXT NOT NULL
                      CHECK (status IN ('Pending', 'InProgress', 'Succeed', 'Failed', 'Stopped')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        bytes_total   INTEGER NOT NULL DEFAULT 0,
        bytes_done    INTEGER NOT NULL DEFAULT 0,
        error         TEXT NOT NULL DEFAULT '',
        created_at    INTEGER NOT NULL,
        start_time    INTEGER,
        end_time      INTEGER,
        updated_at    INTEGER NOT NULL
    );
    CREATE INDEX replication_tasks_execution ON replication_tasks(execution_id, id);
    CREATE TABLE replication_events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        policy_id  INTEGER NOT NULL REFERENCES replication_policies(id) ON DELETE CASCADE,
        repository TEXT NOT NULL,
        tag        TEXT NOT NULL DEFAULT '',
        digest     TEXT NOT NULL DEFAULT '',
        deleted    INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        UNIQUE (policy_id, repository, tag, digest, deleted)
    );
    CREATE TABLE replication_task_logs (
        task_id INTEGER NOT NULL REFERENCES replication_tasks(id) ON DELETE CASCADE,
        seq     INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        line    TEXT NOT NULL,
        PRIMARY KEY (task_id, seq)
    ) WITHOUT ROWID;
    "#,
    // 10: retention, immutability and quotas. Tags get their own pull time. A project's usage
    // is kept by triggers, so every path that links or unlinks content (pushes, mounts,
    // deletes, garbage collection, replication) counts it the same way, in its own
    // transaction: `quota_content` holds each digest a project stores once, with how many
    // links and manifests hold it, and `quotas.used` is the sum of its sizes.
    r#"
    ALTER TABLE tags ADD COLUMN pull_time INTEGER;
    -- Until now only artifacts had a pull time: their tags start from it.
    UPDATE tags SET pull_time = (SELECT pull_time FROM manifests m WHERE m.id = tags.manifest_id);

    CREATE TABLE quotas (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
        hard       INTEGER NOT NULL DEFAULT -1,
        used       INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE quota_content (
        project_id INTEGER NOT NULL,
        digest     TEXT NOT NULL,
        size       INTEGER NOT NULL,
        refs       INTEGER NOT NULL,
        PRIMARY KEY (project_id, digest)
    ) WITHOUT ROWID;
    INSERT INTO quotas (project_id, hard, used, created_at, updated_at)
        SELECT id, -1, 0, created_at, created_at FROM projects;
    INSERT INTO quota_content (project_id, digest, size, refs)
        SELECT project_id, digest, MAX(size), COUNT(*) FROM (
            SELECT r.project_id, l.digest, b.size FROM repository_blobs l
                JOIN repositories r ON r.id = l.repository_id JOIN blobs b ON b.digest = l.digest
            UNION ALL
            SELECT r.project_id, m.digest, m.size FROM manifests m
                JOIN repositories r ON r.id = m.repository_id)
        GROUP BY project_id, digest;
    UPDATE quotas SET used = COALESCE(
        (SELECT SUM(size) FROM quota_content c WHERE c.project_id = quotas.project_id), 0);

    CREATE TRIGGER quota_content_added AFTER INSERT ON quota_content BEGIN
        UPDATE quotas SET used = used + NEW.size WHERE project_id = NEW.project_id;
    END;
    CREATE TRIGGER quota_content_removed AFTER DELETE ON quota_content BEGIN
        UPDATE quotas SET used = used - OLD.size WHERE project_id = OLD.project_id;
    END;
    CREATE TRIGGER quota_blob_linked AFTER INSERT ON repository_blobs BEGIN
        INSERT INTO quota_content (project_id, digest, size, refs)
            SELECT r.project_id, NEW.digest, b.size, 1 FROM repositories r, blobs b
            WHERE r.id = NEW.repository_id AND b.digest = NEW.digest
            ON CONFLICT (project_id, digest) DO UPDATE SET refs = refs + 1;
    END;
    CREATE TRIGGER quota_blob_unlinked AFTER DELETE ON repository_blobs BEGIN
        UPDATE quota_content SET refs = refs - 1
            WHERE digest = OLD.digest
              AND project_id = (SELECT project_id FROM repositories WHERE id = OLD.repository_id);
        DELETE FROM quota_content WHERE digest = OLD.digest AND refs <= 0
              AND project_id = (SELECT project_id FROM repositories WHERE id = OLD.repository_id);
    END;
    CREATE TRIGGER quota_manifest_added AFTER INSERT ON manifests BEGIN
        INSERT INTO quota_content (project_id, digest, size, refs)
            SELECT r.project_id, NEW.digest, NEW.size, 1 FROM repositories r
            WHERE r.id = NEW.repository_id
            ON CONFLICT (project_id, digest) DO UPDATE SET refs = refs + 1;
    END;
    CREATE TRIGGER quota_manifest_removed AFTER DELETE ON manifests BEGIN
        UPDATE quota_content SET refs = refs - 1
            WHERE digest = OLD.digest
              AND project_id = (SELECT project_id FROM repositories WHERE id = OLD.repository_id);
        DELETE FROM quota_content WHERE digest = OLD.digest AND refs <= 0
              AND project_id = (SELECT project_id FROM repositories WHERE id = OLD.repository_id);
    END;
    -- A repository's content goes while the repository row still names its project (the
    -- cascade would run after it is gone, and nothing would be subtracted).
    CREATE TRIGGER quota_repository_deleted BEFORE DELETE ON repositories BEGIN
        DELETE FROM tags WHERE repository_id = OLD.id;
        DELETE FROM manifests WHERE repository_id = OLD.id;
        DELETE FROM repository_blobs WHERE repository_id = OLD.id;
    END;
    CREATE TRIGGER quota_project_deleted AFTER DELETE ON projects BEGIN
        DELETE FROM quota_content WHERE project_id = OLD.id;
    END;

    -- Harbor's immutable tag rules: selectors as JSON in Harbor's shapes.
    CREATE TABLE immutable_rules (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        priority        INTEGER NOT NULL DEFAULT 0,
        disabled        INTEGER NOT NULL DEFAULT 0,
        tag_selectors   TEXT NOT NULL,
        scope_selectors TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        updated_at      INTEGER NOT NULL
    );
    CREATE INDEX immutable_rules_project ON immutable_rules(project_id);

    -- Harbor's retention policies, one per project: rules and trigger as Harbor's JSON.
    CREATE TABLE retention_policies (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
        rules      TEXT NOT NULL,
        trigger    TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    -- One task per repository of a retention execution, with its counts and its log.
    CREATE TABLE retention_tasks (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        execution_id INTEGER NOT NULL REFERENCES job_executions(id) ON DELETE CASCADE,
        repository   TEXT NOT NULL,
        status       TEXT NOT NULL,
        started_at   INTEGER,
        ended_at     INTEGER,
        total        INTEGER NOT NULL DEFAULT 0,
        retained     INTEGER NOT NULL DEFAULT 0,
        log          TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX retention_tasks_execution ON retention_tasks(execution_id, id);
    -- A policy's schedule goes with it, also when its project's deletion takes it.
    CREATE TRIGGER retention_policy_deleted AFTER DELETE ON retention_policies BEGIN
        DELETE FROM job_schedules WHERE kind = 'retention:' || OLD.id;
    END;
    "#,
    // 11: the health check's database write: one row, rewritten by each check.
    r#"
    CREATE TABLE health_probe (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at INTEGER NOT NULL
    );
    "#,
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`] in one transaction. When `copies` is given
/// and the database already holds data (any version but 0), a copy of it is first written
/// there (see [`pre_upgrade_copy`]); a failure then names it.
pub(super) fn apply(conn: &mut Connection, copies: Option<&Path>) -> DbResult<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(DbError::TooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    let copy = match copies {
        Some(dir) if found > 0 => Some(pre_upgrade_copy(conn, dir, found)?),
        _ => None,
    };
    migrate(conn, found).map_err(|cause| match copy {
        Some(copy) => DbError::MigrationFailed {
            from: found,
            to: SCHEMA_VERSION,
            cause: cause.to_string(),
            copy,
        },
        None => cause,
    })
}

/// How many pre-upgrade copies are kept; older ones are removed after a new one is taken.
const KEPT_COPIES: usize = 3;

/// Writes `DIR/berth-schema{N}-{UTC time}.db`, a copy of the database as it is before the
/// migration from schema `N`, fsynced, and keeps the newest [`KEPT_COPIES`].
fn pre_upgrade_copy(conn: &Connection, dir: &Path, found: i64) -> DbResult<PathBuf> {
    let io = |what: &str, e: std::io::Error| {
        DbError::Worker(format!(
            "{what} {}: {e}; nothing was changed",
            dir.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let copy = dir.join(format!("berth-schema{found}-{stamp}.db"));
    let partial = dir.join(format!(".berth-schema{found}-{stamp}.db.partial"));
    let _ = std::fs::remove_file(&partial);
    super::snapshot::copy_open(conn, &partial)?;
    std::fs::rename(&partial, &copy).map_err(|e| io("renaming a copy in", e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("syncing", e))?;
    let mut copies: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io("listing", e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("berth-schema") && n.ends_with(".db"))
        })
        .collect();
    copies.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let excess = copies.len().saturating_sub(KEPT_COPIES);
    for old in copies.into_iter().take(excess) {
        let _ = std::fs::remove_file(old);
    }
    tracing::info!(
        copy = %copy.display(),
        from = found,
        to = SCHEMA_VERSION,
        "copied the database before upgrading its schema"
    );
    Ok(copy)
}

fn migrate(conn: &mut Connection, found: i64) -> DbResult<()> {
    // Rebuilding a table means dropping it, which with foreign keys on would cascade into the
    // rows that reference it. They are off while migrating (the pragma cannot change inside a
    // transaction) and every reference is checked before committing.
    let keys_were_on: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = (|| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        }
        let broken: i64 =
            tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })?;
        if broken > 0 {
            return Err(DbError::Worker(format!(
                "migration left {broken} broken references; nothing was changed"
            )));
        }
        tx.commit()?;
        Ok(())
    })();
    if keys_were_on {
        conn.pragma_update(None, "foreign_keys", "ON")?;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_from_empty_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().expect("open");
        apply(&mut conn, None).expect("first");
        apply(&mut conn, None).expect("again");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION);
    }

    /// A database at the previous version, in a file, with a row that must survive.
    fn previous_version_file(dir: &Path) -> PathBuf {
        let path = dir.join("berth.db");
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        for (i, sql) in MIGRATIONS.iter().enumerate().take(MIGRATIONS.len() - 1) {
            conn.execute_batch(sql).expect("old migration");
            conn.pragma_update(None, "user_version", (i + 1) as i64)
                .expect("version");
        }
        conn.execute(
            "INSERT INTO users (username, created_at, updated_at) VALUES ('kept', 0, 0)",
            [],
        )
        .expect("row");
        path
    }

    fn version_of(path: &Path) -> i64 {
        Connection::open(path)
            .expect("open")
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version")
    }

    #[test]
    fn an_upgrade_first_copies_the_database_beside_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = previous_version_file(dir.path());
        let db = crate::db::Db::open(&path).expect("upgrade");
        drop(db);
        assert_eq!(version_of(&path), SCHEMA_VERSION);
        let copies: Vec<_> = std::fs::read_dir(dir.path().join(crate::db::PRE_UPGRADE_DIR))
            .expect("copies")
            .map(|e| e.expect("entry").path())
            .collect();
        assert_eq!(copies.len(), 1, "{copies:?}");
        let name = copies[0].file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(
            name.starts_with(&format!("berth-schema{}-", SCHEMA_VERSION - 1)),
            "{name}"
        );
        assert_eq!(version_of(&copies[0]), SCHEMA_VERSION - 1);
        let kept: i64 = Connection::open(&copies[0])
            .expect("copy")
            .query_row(
                "SELECT count(*) FROM users WHERE username = 'kept'",
                [],
                |r| r.get(0),
            )
            .expect("row");
        assert_eq!(kept, 1);
        // Already current: no further copy.
        drop(crate::db::Db::open(&path).expect("reopen"));
        let count = std::fs::read_dir(dir.path().join(crate::db::PRE_UPGRADE_DIR))
            .expect("copies")
            .count();
        assert_eq!(count, 1);
    }

    #[test]
    fn a_failed_upgrade_changes_nothing_and_says_how_to_roll_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = previous_version_file(dir.path());
        // The last migration's first table exists already, so the migration fails midway.
        let conn = Connection::open(&path).expect("open");
        let last = MIGRATIONS[MIGRATIONS.len() - 1];
        let created = last
            .split("CREATE TABLE ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("the last migration creates a table");
        conn.execute_batch(&format!("CREATE TABLE {created} (x INTEGER);"))
            .expect("conflict");
        drop(conn);
        let before: i64 = Connection::open(&path)
            .expect("open")
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .expect("objects");
        let err = match crate::db::Db::open(&path) {
            Ok(_) => panic!("the migration must fail"),
            Err(e) => e,
        };
        let message = err.to_string();
        assert!(matches!(err, DbError::MigrationFailed { .. }), "{message}");
        let needles = [
            format!(
                "from schema version {} to {SCHEMA_VERSION} failed",
                SCHEMA_VERSION - 1
            ),
            "Nothing was".to_string(),
            "To roll back".to_string(),
            crate::db::PRE_UPGRADE_DIR.to_string(),
        ];
        for needle in &needles {
            assert!(message.contains(needle), "{needle:?} not in: {message}");
        }
        assert_eq!(version_of(&path), SCHEMA_VERSION - 1);
        let after: i64 = Connection::open(&path)
            .expect("open")
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .expect("objects");
        assert_eq!(before, after, "the failed migration left objects behind");
    }

    #[test]
    fn every_earlier_version_upgrades() {
        for start in 0..MIGRATIONS.len() {
            let mut conn = Connection::open_in_memory().expect("open");
            for (i, sql) in MIGRATIONS.iter().enumerate().take(start) {
                conn.execute_batch(sql).expect("old migration");
                conn.pragma_update(None, "user_version", (i + 1) as i64)
                    .expect("version");
            }
            apply(&mut conn, None).expect("upgrade");
        }
    }

    /// Migration 5 gives each stored robot grant the id of the project its namespace names, by
    /// name even when the name is all digits, and never the project whose id those digits are.
    #[test]
    fn robot_grants_gain_the_named_projects_id() {
        let mut conn = Connection::open_in_memory().expect("open");
        for (i, sql) in MIGRATIONS.iter().enumerate().take(4) {
            conn.execute_batch(sql).expect("old migration");
            conn.pragma_update(None, "user_version", (i + 1) as i64)
                .expect("version");
        }
        conn.execute_batch(
            r#"
            INSERT INTO users (id, username, created_at, updated_at) VALUES (1, 'admin', 0, 0);
            INSERT INTO projects (id, name, public, owner_id, created_at, updated_at) VALUES
                (1, 'library', 1, 1, 0, 0), (2, '1', 0, 1, 0, 0), (3, 'team', 0, 1, 0, 0);
            INSERT INTO robots (id, name, level, project_id, secret_hash, duration, expires_at,
                                permissions, created_at, updated_at) VALUES
                (1, 'robot$team+ci', 'project', 3, 'h', -1, -1,
                 '[{"kind":"project","namespace":"team","access":[{"resource":"repository","action":"pull"}]}]', 0, 0),
                (2, 'robot$sys', 'system', NULL, 'h', -1, -1,
                 '[{"kind":"project","namespace":"1","access":[]},{"kind":"project","namespace":"*","access":[]},{"kind":"project","namespace":"gone","access":[]}]', 0, 0),
                (3, 'robot$none', 'system', NULL, 'h', -1, -1, '[]', 0, 0);
            "#,
        )
        .expect("old rows");
        apply(&mut conn, None).expect("upgrade");
        let grants = |id: i64| -> serde_json::Value {
            let raw: String = conn
                .query_row("SELECT permissions FROM robots WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .expect("robot");
            serde_json::from_str(&raw).expect("json")
        };
        let team = grants(1);
        assert_eq!(team[0]["project_id"], 3);
        assert_eq!(team[0]["access"][0]["action"], "pull");
        let system = grants(2);
        assert_eq!(system[0]["project_id"], 2, "the project named 1, not id 1");
        assert!(
            system[1].get("project_id").is_none(),
            "'*' stays all projects"
        );
        assert!(
            system[2]["project_id"].is_null(),
            "a missing project grants nothing"
        );
        assert_eq!(grants(3), serde_json::json!([]));
    }

    #[test]
    fn refuses_newer_database() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("set");
        assert!(matches!(
            apply(&mut conn, None),
            Err(DbError::TooNew { .. })
        ));
    }
}
