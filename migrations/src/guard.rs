//! Running the migrations when several processes start at once.
//!
//! Two processes that start together on a fresh PostgreSQL database would both create the
//! migration table and the tables, and one of them fails (`duplicate key value violates unique
//! constraint "pg_type_typname_nsp_index"`). So on PostgreSQL each process first takes one
//! advisory lock, held by a transaction of its own while its migrations run: the others wait for
//! it, then find nothing left to do. The lock is the same for both migrators, and a process that
//! dies holding it releases it with its connection.
//!
//! SQLite has the same race (the host and a `todo-mcp stdio` that Claude Desktop starts on a new
//! file): there the lock is an exclusive `flock` on a file beside the database,
//! `<database>-migrations.lock`. Not the database file itself: closing any descriptor of it
//! would drop the POSIX locks SQLite holds on it in this process.

use std::{
    fs::File,
    path::{Path, PathBuf},
};

use sea_orm_migration::{
    MigratorTrait,
    sea_orm::{
        ConnectionTrait as _, DatabaseConnection, DbBackend, DbErr, Statement,
        TransactionTrait as _,
    },
};

/// The advisory lock's key: a fixed number ("todomigr" in ASCII) that other applications on the
/// same database are unlikely to use.
const MIGRATION_LOCK: i64 = 0x746f_646f_6d69_6772;

/// Applies `M`'s pending migrations, one process at a time. On PostgreSQL `db` must be a pool
/// of at least two connections: one holds the lock while another migrates.
pub async fn up<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => up_postgres::<M>(db).await,
        DbBackend::Sqlite => match sqlite_file(db).await? {
            Some(file) => {
                let _lock = lock_beside(file).await?;
                M::up(db, None).await
            }
            // In memory: no other process can see the database.
            None => M::up(db, None).await,
        },
        _ => M::up(db, None).await,
    }
}

async fn up_postgres<M: MigratorTrait>(db: &DatabaseConnection) -> Result<(), DbErr> {
    let lock = db.begin().await?;
    // Waiting for another process's migrations is not a slow statement.
    lock.execute_unprepared("SET LOCAL statement_timeout = 0")
        .await?;
    lock.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [MIGRATION_LOCK.into()],
    ))
    .await?;
    // The migrations run on the pool's other connections while this transaction holds the lock;
    // ending it releases the lock whatever they did.
    let migrated = M::up(db, None).await;
    let released = lock.rollback().await;
    migrated?;
    released
}

/// The file of SQLite's main database, or `None` in memory.
async fn sqlite_file(db: &DatabaseConnection) -> Result<Option<PathBuf>, DbErr> {
    let databases = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA database_list",
        ))
        .await?;
    for database in databases {
        if database.try_get::<String>("", "name")? == "main" {
            let file = database.try_get::<String>("", "file")?;
            return Ok((!file.is_empty()).then(|| PathBuf::from(file)));
        }
    }
    Ok(None)
}

/// Waits for the exclusive lock on `<database>-migrations.lock`; dropping the file releases it.
async fn lock_beside(database: PathBuf) -> Result<File, DbErr> {
    let mut name = database.into_os_string();
    name.push("-migrations.lock");
    let path = PathBuf::from(name);
    let locked = tokio::task::spawn_blocking(move || lock(&path).map_err(|err| (path, err)))
        .await
        .map_err(|err| DbErr::Custom(format!("waiting for the migration lock failed: {err}")))?;
    locked.map_err(|(path, err)| DbErr::Custom(format!("could not lock {}: {err}", path.display())))
}

fn lock(path: &Path) -> std::io::Result<File> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
}
