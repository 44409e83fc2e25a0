//! SQLite on the serving thread, for `todo-mcp stdio`.
//!
//! sqlx runs every SQLite connection on a thread of its own: each statement is a message to that
//! thread and each result row a message back, so one `add_task` cost four thread wake-ups and a
//! `list_tasks` of 50 one per row; in the mcp bench those hand-offs were a third of the stdio
//! server's CPU. Here the statement runs on the caller's thread with rusqlite, as better-sqlite3
//! does for Node.
//!
//! That blocks the caller's thread while SQLite works (or waits for another process's write
//! lock, up to the busy timeout), so it is only for a process whose one thread serves one
//! client: `todo-mcp stdio`. A server of many clients keeps sqlx's pool, where a wait blocks no
//! one else (or sends its statements to a `db::SqliteThread`).
//!
//! The statements are the async store's own, built by the same SeaORM entities and query
//! builders and bound as `db::rusqlite_conn` binds them; only their execution differs. (SeaORM's
//! own synchronous driver, `sea-orm-sync`, was the first choice, but its connection is neither
//! `Send` nor `Sync`, which every MCP handler must be.)

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, types::ValueRef};
use sea_orm::{DbErr, Statement};

use super::entity::task;
use crate::db::{
    DatabaseUrl,
    rusqlite_conn::{self, bind, query_error},
    stored_instant,
};

/// One rusqlite connection to the task database, used on the caller's thread.
#[derive(Debug)]
pub(super) struct LocalSqlite {
    // Held for one statement at a time; in the stdio process, with its one thread, it is never
    // contended.
    connection: Mutex<Connection>,
}

impl LocalSqlite {
    /// Opens the SQLite file of `url`, which must exist and be migrated; `None` when `url` is
    /// not a plain file name (PostgreSQL, an in-memory database, a URL with parameters), where
    /// the caller keeps its pool.
    pub(super) fn open(url: &DatabaseUrl) -> Option<Result<Self, DbErr>> {
        Some(rusqlite_conn::open(url)?.map(|connection| Self {
            connection: Mutex::new(connection),
        }))
    }

    /// Runs a statement that returns task rows (a SELECT, or a write with RETURNING).
    pub(super) fn query(&self, statement: Statement) -> Result<Vec<task::Model>, DbErr> {
        let (sql, values) = bind(statement);
        self.with_connection(|connection| {
            let mut prepared = connection.prepare_cached(&sql)?;
            let columns = TaskColumns::of(&prepared)?;
            let rows =
                prepared.query_map(&*values.as_params(), |row| model_from_row(row, &columns))?;
            rows.collect()
        })
        .map_err(|err| query_error(&sql, &err))
    }

    /// Runs a statement and answers how many rows it changed.
    pub(super) fn execute(&self, statement: Statement) -> Result<u64, DbErr> {
        let (sql, values) = bind(statement);
        self.with_connection(|connection| {
            let mut prepared = connection.prepare_cached(&sql)?;
            prepared.execute(&*values.as_params())
        })
        .map(|changed| changed as u64)
        .map_err(|err| query_error(&sql, &err))
    }

    fn with_connection<T>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>,
    ) -> Result<T, rusqlite::Error> {
        // A panic while holding the lock left the connection as SQLite keeps it: usable.
        let connection = self
            .connection
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        work(&connection)
    }
}

/// Where each column of a task is in a statement's result, looked up once per statement
/// (rusqlite looks a name up by comparing it with every column's).
struct TaskColumns([usize; 12]);

const TASK_COLUMNS: [&str; 12] = [
    "id",
    "user_id",
    "title",
    "description",
    "search_text",
    "completed",
    "completed_at",
    "priority",
    "due_at",
    "tags",
    "created_at",
    "updated_at",
];

impl TaskColumns {
    fn of(statement: &rusqlite::Statement<'_>) -> Result<Self, rusqlite::Error> {
        let mut at = [0; 12];
        for (index, name) in at.iter_mut().zip(TASK_COLUMNS) {
            *index = statement.column_index(name)?;
        }
        Ok(Self(at))
    }
}

fn model_from_row(row: &Row<'_>, columns: &TaskColumns) -> Result<task::Model, rusqlite::Error> {
    let [
        id,
        user_id,
        title,
        description,
        search_text,
        completed,
        completed_at,
        priority,
        due_at,
        tags,
        created_at,
        updated_at,
    ] = columns.0;
    Ok(task::Model {
        id: row.get(id)?,
        user_id: row.get(user_id)?,
        title: row.get(title)?,
        description: row.get(description)?,
        search_text: row.get(search_text)?,
        completed: row.get(completed)?,
        completed_at: timestamp(row, completed_at)?,
        priority: row.get(priority)?,
        due_at: timestamp(row, due_at)?,
        tags: row.get(tags)?,
        created_at: required(timestamp(row, created_at)?, created_at, "created_at")?,
        updated_at: required(timestamp(row, updated_at)?, updated_at, "updated_at")?,
    })
}

/// The value of a NOT NULL column.
fn required<T>(value: Option<T>, index: usize, name: &str) -> Result<T, rusqlite::Error> {
    value.ok_or_else(|| {
        rusqlite::Error::InvalidColumnType(index, name.to_owned(), rusqlite::types::Type::Null)
    })
}

/// A timestamp column: the RFC 3339 text sqlx writes is read by `db::stored_instant` (chrono's
/// RFC 3339 parser where it is not the usual form), about ten times faster than the
/// format-string parser rusqlite uses, which still reads anything else.
fn timestamp(row: &Row<'_>, index: usize) -> Result<Option<DateTime<Utc>>, rusqlite::Error> {
    match row.get_ref(index)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(text) => match std::str::from_utf8(text)
            .ok()
            .and_then(stored_instant::parse)
        {
            Some(at) => Ok(Some(at)),
            None => row.get(index),
        },
        _ => row.get(index),
    }
}
