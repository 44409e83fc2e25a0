//! Connecting to the task database and bringing its schema up to date.
//!
//! SQLite is the default: a file under `./data/`, created on first run, in WAL mode with a busy
//! timeout so that several processes (the host, `todo-mcp stdio` started by Claude Desktop) and
//! concurrent writers wait for each other instead of failing.

pub mod rusqlite_conn;
mod select;
mod sqlite_thread;
pub(crate) mod stored_instant;

use std::{
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    sqlx::{
        self,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    },
};
use todo_migrations::TaskMigrator;

pub use select::SelectExt;
pub(crate) use select::build_up_to;
pub use sqlite_thread::{SqliteThread, SqliteThreadError};

/// Where the data lives when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/todo.db";

pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const SQLITE_CONNECT_RETRY: Duration = Duration::from_millis(20);
const POSTGRES_MAX_CONNECTIONS: u32 = 16;
/// The fewest connections a PostgreSQL pool may have: the migration guard holds its lock on one
/// while the migrations run on another (`todo_migrations::up`).
pub const POSTGRES_MIN_POOL: u32 = 2;
/// How long one PostgreSQL statement may run unless `DATABASE_STATEMENT_TIMEOUT_SECS` says
/// otherwise: every query of the product takes milliseconds, so one still running after this is
/// stuck (a lock held by a forgotten session) and its request should fail rather than hold a
/// connection.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections of the pool that runs the migrations at start-up.
const MIGRATION_POOL: u32 = POSTGRES_MIN_POOL;
const POSTGRES_PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a query waits for a connection: when the database is down, requests get their
/// 503 after this long instead of hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A database URL this product can use: `sqlite:...` or `postgres://...`, with the SQLite
/// durability setting that goes with it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    backend: Backend,
    durability: SqliteDurability,
    pool: PoolSettings,
}

/// `DATABASE_MAX_CONNECTIONS` and `DATABASE_STATEMENT_TIMEOUT_SECS`: how many connections one
/// process opens, and how long one PostgreSQL statement may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// `None`: 4 on SQLite (one writer at a time anyway), 16 on PostgreSQL.
    pub max_connections: Option<u32>,
    /// PostgreSQL's `statement_timeout`, sent when each connection opens; `None` sends none,
    /// for a connection pooler that refuses start-up options. SQLite ignores it.
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: None,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
        }
    }
}

/// `SQLITE_SYNCHRONOUS`: when SQLite waits for the disk.
///
/// `normal` (the default): in WAL mode every acknowledged write survives a crash of the
/// process, and the file is never corrupted; a power loss or an operating system crash may
/// lose the last writes before the power went (those since the last checkpoint). `full`: the
/// WAL is synced at every commit, so acknowledged writes survive a power loss too, at the
/// cost of one disk sync per write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteDurability {
    #[default]
    Normal,
    Full,
}

impl FromStr for SqliteDurability {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            other => Err(format!("is {other:?}; use normal or full")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A `DATABASE_URL` this product cannot use.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error("must start with sqlite: or postgres://")]
    Scheme,
    #[error("is not a valid SQLite URL such as sqlite://data/todo.db")]
    Sqlite,
}

impl FromStr for DatabaseUrl {
    type Err = DatabaseUrlError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let url = raw.trim().to_owned();
        let backend = if url.starts_with("sqlite:") {
            url.parse::<SqliteConnectOptions>()
                .map_err(|_| DatabaseUrlError::Sqlite)?;
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DatabaseUrlError::Scheme);
        };
        Ok(Self {
            url,
            backend,
            durability: SqliteDurability::default(),
            pool: PoolSettings::default(),
        })
    }
}

impl DatabaseUrl {
    pub fn default_sqlite() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            backend: Backend::Sqlite,
            durability: SqliteDurability::default(),
            pool: PoolSettings::default(),
        }
    }

    /// The same URL with SQLite's durability set (PostgreSQL ignores it).
    pub fn with_durability(mut self, durability: SqliteDurability) -> Self {
        self.durability = durability;
        self
    }

    /// The same URL with these pool settings.
    pub fn with_pool(mut self, pool: PoolSettings) -> Self {
        self.pool = pool;
        self
    }

    pub fn pool(&self) -> PoolSettings {
        self.pool
    }

    pub fn is_sqlite(&self) -> bool {
        self.backend == Backend::Sqlite
    }

    /// The SQLite file's path when the URL names a file and nothing else (no `?mode=...` or
    /// other parameters); `None` for PostgreSQL, in-memory databases and URLs with parameters.
    pub fn plain_sqlite_file(&self) -> Option<PathBuf> {
        if self.backend != Backend::Sqlite || self.url.contains('?') {
            return None;
        }
        let options = self.url.parse::<SqliteConnectOptions>().ok()?;
        let file = options.get_filename();
        // sqlx names an in-memory database `file:sqlx-in-memory-N`.
        let in_memory = file.as_os_str().is_empty() || file.to_string_lossy().starts_with("file:");
        (!in_memory).then(|| file.to_path_buf())
    }

    pub fn durability(&self) -> SqliteDurability {
        self.durability
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }
}

/// Shows the URL without its password, for logs.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.url.split_once("://"), self.url.rfind('@')) {
            (Some((scheme, rest)), Some(at)) if rest.contains(':') && at > scheme.len() => {
                let credentials = &self.url[scheme.len() + 3..at];
                let user = credentials.split(':').next().unwrap_or_default();
                write!(f, "{scheme}://{user}:***{}", &self.url[at..])
            }
            _ => f.write_str(&self.url),
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("could not create the directory {path} for the SQLite database")]
    CreateDirectory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: DbErr,
    },
    #[error("could not run the task migrations on {url}")]
    Migrate {
        url: String,
        #[source]
        source: DbErr,
    },
}

/// Opens a pool on `url`, creating a SQLite file (and its directory) when it does not exist.
pub async fn connect(url: &DatabaseUrl) -> Result<DatabaseConnection, ConnectError> {
    let mut options = ConnectOptions::new(url.as_str());
    options
        .connect_timeout(CONNECT_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false);
    match url.backend {
        Backend::Sqlite => {
            create_sqlite_directory(url)?;
            let synchronous = match url.durability {
                // In WAL mode NORMAL is safe from corruption and only syncs at checkpoints,
                // which keeps writes fast.
                SqliteDurability::Normal => SqliteSynchronous::Normal,
                SqliteDurability::Full => SqliteSynchronous::Full,
            };
            // A local file needs no liveness ping before each query.
            options
                .test_before_acquire(false)
                .max_connections(url.pool.max_connections.unwrap_or(SQLITE_MAX_CONNECTIONS))
                .map_sqlx_sqlite_opts(move |it| {
                    it.create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(synchronous)
                        .busy_timeout(SQLITE_BUSY_TIMEOUT)
                        .foreign_keys(true)
                });
        }
        Backend::Postgres => {
            // Ping only connections that sat idle long enough for a proxy or the server to
            // have dropped them, instead of adding a round trip to every query.
            options
                .max_connections(
                    url.pool
                        .max_connections
                        .unwrap_or(POSTGRES_MAX_CONNECTIONS)
                        .max(POSTGRES_MIN_POOL),
                )
                .test_before_acquire_if_idle_for(POSTGRES_PING_IF_IDLE_FOR);
            if let Some(timeout) = url.pool.statement_timeout {
                let millis = timeout.as_millis().to_string();
                options.map_sqlx_postgres_opts(move |it| {
                    it.options([("statement_timeout", millis.as_str())])
                });
            }
        }
    }
    let started = std::time::Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            // Processes that open a new SQLite file at the same moment race to switch it to WAL,
            // which SQLite refuses with "database is locked" without waiting: try again.
            Err(err) if is_sqlite_locked(&err) && started.elapsed() < SQLITE_BUSY_TIMEOUT => {
                tokio::time::sleep(SQLITE_CONNECT_RETRY).await;
            }
            connected => {
                return connected.map_err(|source| ConnectError::Connect {
                    url: url.to_string(),
                    source,
                });
            }
        }
    }
}

/// `SQLITE_BUSY` (5) or `SQLITE_LOCKED` (6), with any extended code.
fn is_sqlite_locked(err: &DbErr) -> bool {
    let DbErr::Conn(RuntimeErr::SqlxError(err)) = err else {
        return false;
    };
    let Some(code) = err.as_database_error().and_then(|err| err.code()) else {
        return false;
    };
    code.parse::<i32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// Connects and runs the task migrations, as every `todo-mcp` command does at start.
pub async fn connect_and_migrate(url: &DatabaseUrl) -> Result<DatabaseConnection, ConnectError> {
    let db = connect(url).await?;
    let migrating = migration_pool(url, &db).await?;
    todo_migrations::up::<TaskMigrator>(&migrating)
        .await
        .map_err(|source| ConnectError::Migrate {
            url: url.to_string(),
            source,
        })?;
    Ok(db)
}

/// The pool to run migrations on at start-up, beside `serving` (the pool of `url`): on SQLite
/// `serving` itself, on PostgreSQL [`connect_for_migrations`]. Dropping it closes its
/// connections.
pub async fn migration_pool(
    url: &DatabaseUrl,
    serving: &DatabaseConnection,
) -> Result<DatabaseConnection, ConnectError> {
    match url.backend {
        Backend::Sqlite => Ok(serving.clone()),
        Backend::Postgres => connect_for_migrations(url).await,
    }
}

/// A pool to run migrations on: on PostgreSQL a small one without the statement timeout,
/// because a migration that rewrites a large table may rightly run longer than any query.
pub async fn connect_for_migrations(url: &DatabaseUrl) -> Result<DatabaseConnection, ConnectError> {
    match url.backend {
        Backend::Sqlite => connect(url).await,
        Backend::Postgres => {
            let unlimited = url.clone().with_pool(PoolSettings {
                max_connections: Some(MIGRATION_POOL),
                statement_timeout: None,
            });
            connect(&unlimited).await
        }
    }
}

/// How many connections a pool has open, how many of them wait for work, and its maximum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// The pool of `db` as it is now (all zero for a connection that is not a pool).
pub fn pool_usage(db: &DatabaseConnection) -> PoolUsage {
    fn of<D: sqlx::Database>(pool: &sqlx::Pool<D>) -> PoolUsage {
        PoolUsage {
            open: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
    match db.get_database_backend() {
        DbBackend::Sqlite => of(db.get_sqlite_connection_pool()),
        DbBackend::Postgres => of(db.get_postgres_connection_pool()),
        _ => PoolUsage::default(),
    }
}

fn create_sqlite_directory(url: &DatabaseUrl) -> Result<(), ConnectError> {
    let Ok(options) = url.as_str().parse::<SqliteConnectOptions>() else {
        return Ok(());
    };
    let Some(directory) = Path::new(options.get_filename()).parent() else {
        return Ok(());
    };
    if directory.as_os_str().is_empty() || options.get_filename() == Path::new(":memory:") {
        return Ok(());
    }
    std::fs::create_dir_all(directory).map_err(|source| ConnectError::CreateDirectory {
        path: directory.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_by_scheme() {
        assert!(
            "sqlite://data/todo.db"
                .parse::<DatabaseUrl>()
                .unwrap()
                .is_sqlite()
        );
        assert!(
            !"postgres://u@h/db"
                .parse::<DatabaseUrl>()
                .unwrap()
                .is_sqlite()
        );
        assert!("mysql://u@h/db".parse::<DatabaseUrl>().is_err());
    }

    #[test]
    fn passwords_never_reach_logs() {
        let url: DatabaseUrl = "postgres://app:hunter2@db.example/tasks".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db.example/tasks");
        let url: DatabaseUrl = "postgres://app@db.example/tasks".parse().unwrap();
        assert_eq!(url.to_string(), "postgres://app@db.example/tasks");
    }
}
