//! A fresh, migrated database per test.

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use todo_mcp::db::DatabaseUrl;
use todo_migrations::{HostMigrator, MigratorTrait as _, TaskMigrator};
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
        match backend {
            Backend::Sqlite => Some(Self::sqlite().await),
            Backend::Postgres => match std::env::var("TEST_DATABASE_URL") {
                Ok(admin_url) if !admin_url.trim().is_empty() => {
                    Some(Self::postgres(admin_url.trim()).await)
                }
                _ => {
                    skip(
                        test,
                        "needs PostgreSQL; set TEST_DATABASE_URL=postgres://user@host:5432/db (a role that may create databases)",
                    );
                    None
                }
            },
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let url = format!("sqlite://{}/todo.db", dir.path().display());
        let db = todo_mcp::db::connect(&url.parse().expect("valid SQLite URL"))
            .await
            .expect("open the SQLite test database");
        migrate(&db).await;
        Self {
            url,
            cleanup: Cleanup::Sqlite { _dir: dir },
        }
    }

    async fn postgres(admin_url: &str) -> Self {
        let name = format!("todo_test_{}", Uuid::new_v4().simple());
        let admin = Database::connect(admin_url)
            .await
            .expect("connect to TEST_DATABASE_URL");
        admin
            .execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#))
            .await
            .expect("create a test database");
        admin.close().await.ok();
        let url = replace_database(admin_url, &name);
        let db = Database::connect(url.as_str())
            .await
            .expect("connect to the new test database");
        migrate(&db).await;
        db.close().await.ok();
        Self {
            url,
            cleanup: Cleanup::Postgres {
                admin_url: admin_url.to_owned(),
                name,
            },
        }
    }

    /// The URL to hand to a server as `DATABASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn database_url(&self) -> DatabaseUrl {
        self.url.parse().expect("test database URLs are valid")
    }

    /// A new connection pool on this database.
    pub async fn connect(&self) -> DatabaseConnection {
        todo_mcp::db::connect(&self.database_url())
            .await
            .expect("connect to the test database")
    }
}

async fn migrate(db: &DatabaseConnection) {
    TaskMigrator::up(db, None)
        .await
        .expect("run the task migrations");
    HostMigrator::up(db, None)
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
