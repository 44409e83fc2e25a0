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
//!
//! Statements that queued up while others ran are run together in one transaction (group
//! commit): one commit, with its locks and WAL writes, instead of one per statement, and a page
//! that several of them change is written once. Each caller hears of its statement only after
//! that commit, so an answer still means the write is stored. A statement that fails inside the
//! transaction is undone alone (SQLite's default for a broken constraint), so it fails its own
//! caller only; should the whole transaction fail, every statement in it fails.

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
/// The most statements one transaction runs: it bounds how long the first of them waits for
/// its answer.
const MAX_BATCH: usize = 64;

/// A statement sent to the thread.
struct Job {
    queued_at: Instant,
    /// Whether it may write (anything but a `SELECT`): a batch of reads needs no transaction.
    writes: bool,
    work: Work,
}

/// A statement's work: given the connection (or, when it waited too long, nothing), it runs
/// the statement and answers how to tell the caller once its transaction has ended.
type Work = Box<dyn FnOnce(Option<&mut Connection>) -> Reply + Send>;

/// Tells the caller how its statement went, given why its transaction failed if it did.
type Reply = Box<dyn FnOnce(Option<&str>) + Send>;

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
    /// The statement ran, but the transaction it ran in was not committed.
    #[error("the statement's transaction failed: {0}")]
    NotCommitted(String),
    /// The statement panicked (a bug), or the thread is gone.
    #[error("the SQLite thread dropped the statement")]
    Dropped,
}

impl SqliteThreadError {
    /// The constraint the statement broke, if that is why it failed.
    pub fn violation(&self) -> Option<Violation> {
        match self {
            Self::Sqlite { source, .. } => rusqlite_conn::violation(source),
            Self::Overloaded(_) | Self::NotCommitted(_) | Self::Dropped => None,
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
                let mut batch = Vec::with_capacity(MAX_BATCH);
                while let Ok(first) = queue.recv() {
                    batch.push(first);
                    batch.extend(queue.try_iter().take(MAX_BATCH - 1));
                    run_batch(&mut connection, &mut batch, queue_timeout);
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
            writes: !sql.trim_start().starts_with("SELECT"),
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
                Box::new(move |not_committed: Option<&str>| {
                    let result = match (result, not_committed) {
                        (Ok(_), Some(why)) => Err(SqliteThreadError::NotCommitted(why.to_owned())),
                        (result, _) => result,
                    };
                    // The caller may have stopped waiting; the work is done either way.
                    let _ = answer.send(result);
                })
            }),
        };
        self.jobs
            .send(job)
            .map_err(|_| SqliteThreadError::Dropped)?;
        answered.await.map_err(|_| SqliteThreadError::Dropped)?
    }
}

/// Runs the statements of `batch` (emptying it), in one transaction when there are several and
/// one of them may write, and then tells each caller.
fn run_batch(connection: &mut Connection, batch: &mut Vec<Job>, queue_timeout: Duration) {
    // IMMEDIATE: the transaction holds the write lock from its start (waiting for it up to the
    // busy timeout); a deferred one that read first could be refused the lock later, without
    // waiting, once another connection had written.
    let mut open = batch.len() > 1
        && batch.iter().any(|job| job.writes)
        && connection.execute_batch("BEGIN IMMEDIATE").is_ok();
    // The replies of the statements run inside the transaction, and those run outside it (all
    // of them, when there is none).
    let mut inside = Vec::with_capacity(batch.len());
    let mut outside = Vec::new();
    for Job {
        queued_at, work, ..
    } in batch.drain(..)
    {
        let given = (queued_at.elapsed() <= queue_timeout).then_some(&mut *connection);
        // A statement that panics (a bug) fails alone: its reply is dropped, so its caller sees
        // `Dropped`, and the connection, which SQLite keeps consistent, serves the next one.
        let reply = panic::catch_unwind(AssertUnwindSafe(|| work(given)));
        if open && connection.is_autocommit() {
            // An error ended the whole transaction (SQLite does so for a few, such as a full
            // disk): what ran inside it is undone, and the rest commit one by one.
            open = false;
            let why = "an error rolled it back".to_owned();
            for reply in inside.drain(..) {
                tell(reply, Some(&why));
            }
        }
        if let Ok(reply) = reply {
            if open {
                inside.push(reply);
            } else {
                outside.push(reply);
            }
        }
    }
    let committed = if open {
        connection.execute_batch("COMMIT").map_err(|err| {
            // Leave no transaction open for the next batch, whatever state this one is in.
            let _ = connection.execute_batch("ROLLBACK");
            format!("COMMIT: {err}")
        })
    } else {
        Ok(())
    };
    let why = committed.err();
    for reply in inside {
        tell(reply, why.as_deref());
    }
    for reply in outside {
        tell(reply, None);
    }
}

/// Tells a caller, never letting a panic out of the thread's loop.
fn tell(reply: Reply, not_committed: Option<&str>) {
    let _ = panic::catch_unwind(AssertUnwindSafe(|| reply(not_committed)));
}

#[cfg(test)]
mod tests {
    use futures::FutureExt as _;
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

    /// Holds the thread until the answer's sender is used or dropped, so that what is sent
    /// meanwhile queues up and runs as one batch.
    async fn hold(thread: &SqliteThread) -> mpsc::Sender<()> {
        let (release, released) = mpsc::channel::<()>();
        let thread = thread.clone();
        tokio::spawn(async move {
            thread
                .run(String::new(), move |_, _| {
                    let _ = released.recv_timeout(Duration::from_secs(5));
                    Ok(())
                })
                .await
        });
        // Give the thread the holding statement before anything else is sent.
        tokio::time::sleep(Duration::from_millis(50)).await;
        release
    }

    /// Sends each of `statements` in order (a first poll sends) while the thread is held, then
    /// releases it and answers their results.
    async fn send_in_order<F: Future + Unpin>(
        release: mpsc::Sender<()>,
        mut statements: Vec<F>,
    ) -> Vec<F::Output> {
        for statement in &mut statements {
            assert!(futures::poll!(statement).is_pending());
        }
        drop(release);
        futures::future::join_all(statements).await
    }

    #[tokio::test]
    async fn statements_queued_together_commit_together_and_fail_alone() {
        let thread = thread();
        let release = hold(&thread).await;
        let results = send_in_order(
            release,
            vec![
                thread.execute(insert(1)).boxed(),
                thread.execute(insert(1)).boxed(),
                thread.execute(insert(2)).boxed(),
            ],
        )
        .await;
        let [one, again, two] = <[_; 3]>::try_from(results).unwrap();
        assert_eq!(one.unwrap(), 1);
        assert_eq!(again.unwrap_err().violation(), Some(Violation::Unique));
        assert_eq!(two.unwrap(), 1);
        assert_eq!(digits(&thread).await.as_deref(), Some("12"));
    }

    #[tokio::test]
    async fn statements_whose_transaction_ended_are_not_reported_stored() {
        let thread = thread();
        let release = hold(&thread).await;
        let results = send_in_order(
            release,
            vec![
                thread.execute(insert(1)).boxed(),
                // Ends the batch's transaction, as an error that rolls it back would.
                thread
                    .run("ROLLBACK".to_owned(), |c, sql| {
                        c.execute_batch(sql).map(|()| 0_usize)
                    })
                    .boxed(),
                thread.execute(insert(2)).boxed(),
            ],
        )
        .await;
        let [one, rollback, two] = <[_; 3]>::try_from(results).unwrap();
        assert!(
            matches!(one, Err(SqliteThreadError::NotCommitted(_))),
            "{one:?}"
        );
        rollback.unwrap();
        assert_eq!(two.unwrap(), 1);
        assert_eq!(digits(&thread).await.as_deref(), Some("2"));
    }
}
