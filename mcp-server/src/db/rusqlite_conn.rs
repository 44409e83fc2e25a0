//! SQLite through rusqlite instead of sqlx, for the statements where sqlx's hand-offs cost more
//! than the statement (`store::local` for `todo-mcp stdio`, [`SqliteThread`] for the host).
//!
//! sqlx runs every SQLite connection on a thread of its own: each statement is a message to that
//! thread and each result row a message back. rusqlite runs the statement where it is called.
//! The statements are still the ones SeaORM builds, bound by sea-query's rusqlite binder; only
//! their execution differs.
//!
//! One thing must be translated: rusqlite writes a timestamp as `2026-12-06 16:58:36.5+00:00`
//! and sqlx as `2026-12-06T16:58:36.5+00:00`, and SQLite compares them as text (list order,
//! cursors, the `updated_at` check of an update), so every timestamp is bound as the text sqlx
//! writes. Both drivers read either form.
//!
//! [`SqliteThread`]: super::SqliteThread

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, ffi};
use sea_orm::{DbErr, RuntimeErr, Statement, Value, Values};
use sea_query_rusqlite::{RusqliteValue, RusqliteValues};

use super::{DatabaseUrl, SQLITE_BUSY_TIMEOUT, SqliteDurability};

/// Statements kept prepared per connection: every statement a user of it runs, with room for
/// each list filter combination in use.
const PREPARED_STATEMENTS: usize = 64;

/// Opens the SQLite file of `url` with the settings of the async pool; `None` when `url` is not a
/// plain file name (PostgreSQL, an in-memory database, a URL with parameters), where the caller
/// keeps sqlx's pool. The file must exist and be migrated.
pub fn open(url: &DatabaseUrl) -> Option<Result<Connection, DbErr>> {
    let file = url.plain_sqlite_file()?;
    Some(open_file(&file, url.durability()).map_err(|err| {
        DbErr::Conn(RuntimeErr::Internal(format!(
            "open {} with rusqlite: {err}",
            file.display()
        )))
    }))
}

fn open_file(file: &Path, durability: SqliteDurability) -> Result<Connection, rusqlite::Error> {
    // Read-write, not create: the migrations made the file, and a missing one is an error
    // rather than a new empty database. NO_MUTEX: every owner uses its connection from one
    // thread at a time.
    let connection = Connection::open_with_flags(
        file,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The settings of the async pool (`db::connect`); WAL is kept in the file itself.
    connection.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    connection.pragma_update(None, "foreign_keys", true)?;
    let synchronous = match durability {
        SqliteDurability::Normal => "NORMAL",
        SqliteDurability::Full => "FULL",
    };
    connection.pragma_update(None, "synchronous", synchronous)?;
    connection.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    Ok(connection)
}

/// The statement's SQL and its values for rusqlite, the timestamps as sqlx writes them.
pub fn bind(statement: Statement) -> (String, RusqliteValues) {
    let values = statement
        .values
        .map(|Values(values)| values)
        .unwrap_or_default()
        .into_iter()
        .map(|value| {
            RusqliteValue(match value {
                Value::ChronoDateTimeUtc(at) => Value::String(at.map(as_sqlx_writes_it)),
                other => other,
            })
        })
        .collect();
    (statement.sql, RusqliteValues(values))
}

/// sqlx-sqlite's text for a `DateTime<Utc>`.
fn as_sqlx_writes_it(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A constraint a statement broke, for callers that answer it differently from other failures
/// (as [`sea_orm::SqlErr`] tells them apart for sqlx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// A `UNIQUE` or `PRIMARY KEY` constraint.
    Unique,
    /// A `FOREIGN KEY` constraint: the row referred to is gone.
    ForeignKey,
}

/// The constraint `err` reports broken, if that is what it is.
pub fn violation(err: &rusqlite::Error) -> Option<Violation> {
    let rusqlite::Error::SqliteFailure(failure, _) = err else {
        return None;
    };
    if failure.code != ErrorCode::ConstraintViolation {
        return None;
    }
    match failure.extended_code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            Some(Violation::Unique)
        }
        ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Violation::ForeignKey),
        _ => None,
    }
}

/// The async crate's error for a failed statement, naming the statement's first words.
pub fn query_error(sql: &str, err: &rusqlite::Error) -> DbErr {
    let start: String = sql.chars().take(40).collect();
    DbErr::Query(RuntimeErr::Internal(format!("SQLite ({start}...): {err}")))
}

#[cfg(test)]
mod tests {
    use sea_orm::DbBackend;

    use super::*;

    #[test]
    fn timestamps_are_bound_as_sqlx_writes_them() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T16:58:36.123456Z")
            .unwrap()
            .to_utc();
        let statement = Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT ?, ?, ?",
            [
                Value::ChronoDateTimeUtc(Some(at)),
                Value::ChronoDateTimeUtc(None),
                Value::Int(Some(3)),
            ],
        );
        let (_, RusqliteValues(values)) = bind(statement);
        let values: Vec<Value> = values.into_iter().map(|RusqliteValue(it)| it).collect();
        assert_eq!(
            values,
            [
                Value::String(Some("2026-12-06T16:58:36.123456+00:00".to_owned())),
                Value::String(None),
                Value::Int(Some(3)),
            ]
        );
    }

    #[test]
    fn constraint_violations_are_told_apart() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "PRAGMA foreign_keys = ON;
                 CREATE TABLE parent (id INTEGER PRIMARY KEY);
                 CREATE TABLE child (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
                                     parent INTEGER NOT NULL REFERENCES parent(id));
                 INSERT INTO parent VALUES (1);
                 INSERT INTO child VALUES (1, 'a', 1);",
            )
            .unwrap();
        let broken = |sql: &str| violation(&connection.execute(sql, []).unwrap_err());
        assert_eq!(
            broken("INSERT INTO child VALUES (1, 'b', 1)"),
            Some(Violation::Unique)
        );
        assert_eq!(
            broken("INSERT INTO child VALUES (2, 'a', 1)"),
            Some(Violation::Unique)
        );
        assert_eq!(
            broken("INSERT INTO child VALUES (2, 'b', 2)"),
            Some(Violation::ForeignKey)
        );
        assert_eq!(broken("INSERT INTO child VALUES (2, NULL, 1)"), None);
        assert_eq!(broken("INSERT INTO nowhere VALUES (1)"), None);
    }
}
