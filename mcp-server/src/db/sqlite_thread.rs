//! A thread of its own with a rusqlite connection, for a server of many clients on SQLite.
//!
//! On sqlx's pool every statement is a message to the connection's worker thread and every row
//! a message back; for the host's small writes (a chat turn's messages) those hand-offs cost more
//! than the statements, and a turn spent a third of its CPU in them (`docs/perf/README.md`).
//! Here a statement is one message to this thread and one answer back, and runs on a connection
//! with its statements kept prepared.
//!
//! One thread, one connection: the statements sent here run one after another, which for writes
//! is what SQLite's write lock does anyway. A statement waiting for another process's write lock
//! (up to the busy timeout) holds up the ones queued behind it, so a statement that waited in
//! the queue longer than a pooled query waits for a connection fails instead of running late.

use std::{
    panic::{self, AssertUnwindSafe},
    sync::mpsc,
    time::{Duration, Instant},
};

use rusqlite::{Connection, types::FromSql};
use sea_orm::{DbErr, RuntimeErr, Statement};
use tokio::sync::oneshot;

use super::{
    ACQUIRE_TIMEOUT, DatabaseUrl,
    rusqlite_conn::{self, Violation},
};

/// Statements sent to one connection on its own thread.
#[derive(Clone, Debug)]
pub struct SqliteThread {
    jobs: mpsc::Sender<Job>,
}

/// How long a statement may wait in the queue: as long as a pooled query waits for a connection.
const QUEUE_TIMEOUT: Duration = ACQUIRE_TIMEOUT;

/// A statement sent to the thread.
struct Job {
    queued_at: Instant,
    work: Work,
}

/// A statement's work, given the connection or, when it waited too long, nothing.
type Work = Box<dyn FnOnce(Option<&mut Connection>) + Send>;

/// Why a statement sent to the thread did not answer.
#[derive(Debug, thiserror::Error)]
pub enum SqliteThreadError {
    /// SQLite refused or failed the statement, which starts with `statement`.
    #[error("SQLite ({statement}...): {source}")]
    Sqlite {
        statement: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the statement waited {0:?} for the SQLite thread, which is held up (by another process's write lock?)"
    )]
    Overloaded(Duration),
    /// The statement panicked (a bug), or the thread is gone.
    #[error("the SQLite thread dropped the statement")]
    Dropped,
}

impl SqliteThreadError {
    /// The constraint the statement broke, if that is why it failed.
    pub fn violation(&self) -> Option<Violation> {
        match self {
            Self::Sqlite { source, .. } => rusqlite_conn::violation(source),
            Self::Overloaded(_) | Self::Dropped => None,
        }
    }
}

/// For callers that treat every failure of a statement alike, as they do sqlx's.
impl From<SqliteThreadError> for DbErr {
    fn from(err: SqliteThreadError) -> Self {
        DbErr::Query(RuntimeErr::Internal(err.to_string()))
    }
}

impl SqliteThread {
    /// A thread named `name` with a connection to the SQLite file of `url`; `None` when `url` is
    /// not a plain SQLite file (see [`rusqlite_conn::open`]). The thread ends when the last clone
    /// of the returned handle is dropped, after the statements already sent.
    pub fn open(url: &DatabaseUrl, name: &str) -> Option<Result<Self, DbErr>> {
        let connection = match rusqlite_conn::open(url)? {
            Ok(connection) => connection,
            Err(err) => return Some(Err(err)),
        };
        Some(Self::spawn(connection, name, QUEUE_TIMEOUT).map_err(|err| {
            DbErr::Conn(RuntimeErr::Internal(format!(
                "start the thread {name}: {err}"
            )))
        }))
    }

    fn spawn(
        mut connection: Connection,
        name: &str,
        queue_timeout: Duration,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                for Job { queued_at, work } in queue {
                    let connection =
                        (queued_at.elapsed() <= queue_timeout).then_some(&mut connection);
                    // A statement that panics (a bug) fails alone: its caller sees `Dropped`,
                    // and the connection, which SQLite keeps consistent, serves the next one.
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| work(connection)));
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `statement` and answers how many rows it changed.
    pub async fn execute(&self, statement: Statement) -> Result<usize, SqliteThreadError> {
        let (sql, values) = rusqlite_conn::bind(statement);
        self.run(sql, move |connection, sql| {
            connection
                .prepare_cached(sql)?
                .execute(&*values.as_params())
        })
        .await
    }

    /// Runs `statement` and answers the first column of its first row, `None` when it answered
    /// no row.
    pub async fn query_value<T>(&self, statement: Statement) -> Result<Option<T>, SqliteThreadError>
    where
        T: FromSql + Send + 'static,
    {
        let (sql, values) = rusqlite_conn::bind(statement);
        self.run(sql, move |connection, sql| {
            let mut prepared = connection.prepare_cached(sql)?;
            let mut rows = prepared.query(&*values.as_params())?;
            rows.next()?.map(|row| row.get(0)).transpose()
        })
        .await
    }

    /// Runs `work` with the statement `sql` on the thread's connection and answers what it
    /// answered. The work runs to its end even when the caller stops waiting: a write that was
    /// sent is not lost.
    async fn run<T>(
        &self,
        sql: String,
        work: impl FnOnce(&mut Connection, &str) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, SqliteThreadError>
    where
        T: Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let queued_at = Instant::now();
        let job = Job {
            queued_at,
            work: Box::new(move |connection| {
                let result = match connection {
                    Some(connection) => {
                        work(connection, &sql).map_err(|source| SqliteThreadError::Sqlite {
                            statement: sql.chars().take(40).collect(),
                            source,
                        })
                    }
                    None => Err(SqliteThreadError::Overloaded(queued_at.elapsed())),
                };
                // The caller may have stopped waiting; the work is done either way.
                let _ = answer.send(result);
            }),
        };
        self.jobs
            .send(job)
            .map_err(|_| SqliteThreadError::Dropped)?;
        answered.await.map_err(|_| SqliteThreadError::Dropped)?
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, Value};

    use super::*;

    fn thread() -> SqliteThread {
        thread_with_queue_timeout(QUEUE_TIMEOUT)
    }

    fn thread_with_queue_timeout(queue_timeout: Duration) -> SqliteThread {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (n INTEGER NOT NULL UNIQUE)")
            .unwrap();
        SqliteThread::spawn(connection, "sqlite-test", queue_timeout).unwrap()
    }

    fn insert(n: i64) -> Statement {
        Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "INSERT INTO t VALUES (?)",
            [Value::BigInt(Some(n))],
        )
    }

    async fn digits(thread: &SqliteThread) -> Option<String> {
        let all = "SELECT group_concat(n, '') FROM (SELECT n FROM t ORDER BY rowid)";
        // `group_concat` of no rows is NULL.
        thread
            .query_value::<Option<String>>(Statement::from_string(DbBackend::Sqlite, all))
            .await
            .unwrap()
            .flatten()
    }

    #[tokio::test]
    async fn statements_run_in_the_order_sent_and_answer() {
        let thread = thread();
        for n in 1..=3 {
            assert_eq!(thread.execute(insert(n)).await.unwrap(), 1);
        }
        assert_eq!(digits(&thread).await.as_deref(), Some("123"));
        let none = Statement::from_string(DbBackend::Sqlite, "SELECT n FROM t WHERE n > 9");
        assert_eq!(thread.query_value::<i64>(none).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_failing_or_panicking_statement_leaves_the_thread_serving() {
        let thread = thread();
        thread.execute(insert(1)).await.unwrap();
        let taken = thread.execute(insert(1)).await.unwrap_err();
        assert_eq!(taken.violation(), Some(Violation::Unique), "{taken}");
        assert!(
            taken.to_string().starts_with("SQLite (INSERT INTO t"),
            "{taken}"
        );
        let nowhere = Statement::from_string(DbBackend::Sqlite, "INSERT INTO nowhere VALUES (1)");
        let failed = thread.execute(nowhere).await.unwrap_err();
        assert!(
            matches!(failed, SqliteThreadError::Sqlite { .. }),
            "{failed:?}"
        );
        assert_eq!(failed.violation(), None);
        let panicked = thread
            .run(String::new(), |_, _| -> Result<(), rusqlite::Error> {
                panic!("a bug")
            })
            .await;
        assert!(
            matches!(panicked, Err(SqliteThreadError::Dropped)),
            "{panicked:?}"
        );
        thread.execute(insert(2)).await.unwrap();
        assert_eq!(digits(&thread).await.as_deref(), Some("12"));
    }

    #[tokio::test]
    async fn a_statement_held_up_in_the_queue_fails_instead_of_running_late() {
        let thread = thread_with_queue_timeout(Duration::from_millis(50));
        let (release, released) = mpsc::channel::<()>();
        let holding = thread.run(String::new(), move |_, _| {
            let _ = released.recv_timeout(Duration::from_secs(5));
            Ok(())
        });
        tokio::pin!(holding);
        // Polled once, it is sent: the thread is busy with it from here on.
        assert!(futures::poll!(&mut holding).is_pending());
        let late = thread.execute(insert(1));
        let releasing = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            release.send(()).unwrap();
        });
        let (holding, late) = tokio::join!(holding, late);
        releasing.await.unwrap();
        holding.unwrap();
        assert!(
            matches!(late, Err(SqliteThreadError::Overloaded(_))),
            "{late:?}"
        );
        assert_eq!(digits(&thread).await, None, "the late insert did not run");
    }
}
