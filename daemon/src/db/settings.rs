//! The run-time settings document (`crate::settings` owns its meaning).

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::DbResult;

pub fn load(conn: &Connection) -> DbResult<Option<String>> {
    Ok(conn
        .query_row("SELECT document FROM settings WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?)
}

pub fn store(tx: &Transaction<'_>, document: &str, now: i64) -> DbResult<()> {
    tx.execute(
        "INSERT INTO settings (id, document, updated_at) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
        params![document, now],
    )?;
    Ok(())
}
