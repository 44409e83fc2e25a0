//! A fresh, migrated database per test.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use todo_mcp::db::DatabaseUrl;
use todo_migrations::{HostMigrator, TaskMigrator};
use uuid::Uuid;

use crate::skip::skip;

/// Which database server a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test and is removed when dropped.
pub struct TestDb {
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// A database owned by something else (a [`crate::pg_cluster::PrivatePostgres`]).
    None,
    /// Removing the directory removes the SQLite file and its WAL.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    /// A new database on `backend`, or `None` (after reporting the skip) when PostgreSQL is
    /// wanted but `TEST_DATABASE_URL` is not set.
    pub async fn create(backend: Backend, test: &str) -> Option<Self> {
        Some(match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres(&postgres_admin_url(test)?).await,
        })
    }

    /// Like [`TestDb::create`], with no tables at all: for tests of the migrations themselves.
    pub async fn create_empty(backend: Backend, test: &str) -> Option<Self> {
        Some(match backend {
            Backend::Sqlite => Self::sqlite_file(),
            Backend::Postgres => Self::postgres_from(&postgres_admin_url(test)?, "template0").await,
        })
    }

    /// A SQLite file, not yet created, in a new temporary directory.
    fn sqlite_file() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        Self {
            url: format!("sqlite://{}/todo.db", dir.path().display()),
            cleanup: Cleanup::Sqlite { _dir: dir },
        }
    }

    async fn sqlite() -> Self {
        let test_db = Self::sqlite_file();
        let db = todo_mcp::db::connect(&test_db.database_url())
            .await
            .expect("open the SQLite test database");
        migrate(&db).await;
        test_db
    }

    async fn postgres(admin_url: &str) -> Self {
        let template = TEMPLATE
            .get_or_init(|| migrated_template(admin_url))
            .await
            .clone();
        Self::postgres_from(admin_url, &template).await
    }

    async fn postgres_from(admin_url: &str, template: &str) -> Self {
        let name = format!("todo_test_{}", Uuid::new_v4().simple());
        let admin = Database::connect(admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!(
                r#"CREATE DATABASE "{name}" TEMPLATE "{template}""#
            ))
            .await
            .expect("create a test database from the migrated template");
        admin.close().await.ok();
        Self {
            url: replace_database(admin_url, &name),
            cleanup: Cleanup::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        }
    }

    /// The database at `url`, which the test owns some other way; servers started on it run
    /// the migrations themselves.
    pub fn external(url: String) -> Self {
        Self {
            url,
            cleanup: Cleanup::None,
        }
    }

    /// The URL to hand to a server as `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn database_url(&self) -> DatabaseUrl {
        self.url.parse().expect("test database URLs are valid")
    }

    /// The number a `SELECT COUNT(*) AS n ...` query returns.
    pub async fn count(&self, sql: &str) -> i64 {
        let db = self.connect().await;
        db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
            .expect("a count returns one row")
            .try_get::<i64>("", "n")
            .expect("the count is the column n")
    }

    /// A new connection pool on this database.
    pub async fn connect(&self) -> DatabaseConnection {
        todo_mcp::db::connect(&self.database_url())
            .await
            .expect("connect to the test database")
    }
}

/// The migrated PostgreSQL database every test database of this process is copied from.
static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

/// A database with every migration applied, made once and kept between runs: copying it is
/// much faster than migrating each test's database. Its name comes from this test executable,
/// which is rebuilt whenever a migration changes, so a template never outlives its migrations.
/// It is built under a temporary name and renamed when complete, so a process that finds it
/// finds it whole; templates of older executables are dropped when nobody uses them.
async fn migrated_template(admin_url: &str) -> String {
    let name = format!("todo_test_tpl_{:016x}", executable_fingerprint());
    let admin = Database::connect(admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    let existing = |name: String| {
        Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'todo_test_tpl_%' AND datname <> $1",
            [name.into()],
        )
    };
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await
        .expect("look for the template")
        .is_some();
    if !exists {
        let building = format!("{name}_{}", Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{building}""#))
            .await
            .expect("create the template database");
        let db = Database::connect(replace_database(admin_url, &building).as_str())
            .await
            .expect("connect to the template database");
        migrate(&db).await;
        db.close().await.ok();
        let renamed = admin
            .execute_unprepared(&format!(
                r#"ALTER DATABASE "{building}" RENAME TO "{name}""#
            ))
            .await;
        if renamed.is_err() {
            // Another process finished the same template first: use theirs.
            admin
                .execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{building}""#))
                .await
                .ok();
        }
        let stale = admin
            .query_all_raw(existing(name.clone()))
            .await
            .unwrap_or_default();
        for row in stale {
            if let Ok(old) = row.try_get::<String>("", "datname")
                && !old.starts_with(&name)
                && old.len() == name.len()
            {
                // Fails while another run copies from it; then it goes next time.
                let _ = admin
                    .execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{old}""#))
                    .await;
            }
        }
    }
    admin.close().await.ok();
    name
}

/// Identifies this build of the test executable.
fn executable_fingerprint() -> u64 {
    use std::hash::{Hash as _, Hasher as _};

    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    if let Ok(exe) = std::env::current_exe() {
        exe.hash(&mut hasher);
        if let Ok(meta) = std::fs::metadata(&exe) {
            meta.len().hash(&mut hasher);
            meta.modified().ok().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// `TEST_DATABASE_URL`, or `None` after reporting that `test` skips its PostgreSQL part.
fn postgres_admin_url(test: &str) -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.trim().is_empty() => Some(admin_url.trim().to_owned()),
        _ => {
            skip(
                test,
                "needs PostgreSQL; set TEST_DATABASE_URL=postgres://user@host:5432/db (a role that may create databases)",
            );
            None
        }
    }
}

async fn migrate(db: &DatabaseConnection) {
    todo_migrations::up::<TaskMigrator>(db)
        .await
        .expect("run the task migrations");
    todo_migrations::up::<HostMigrator>(db)
        .await
        .expect("run the host migrations");
}

/// `postgres://u@h:5432/test?x` with the database name replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |at| at + scheme_end);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            return;
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop runs outside async code, possibly inside a runtime: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build a runtime to drop the test database");
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await?;
                admin
                    .execute_unprepared(&format!(
                        r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
                    ))
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"warning: a PostgreSQL test database could not be dropped\n",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}
