//! The Unicode migrations bring rows written before them along: titles and descriptions to
//! NFC, search text and tags case-folded (two spellings of a tag merged), emails folded
//! unless that would merge two accounts. Run on both databases by rolling the two migrations
//! back, writing rows the way the old code did, and migrating again.
//!
//! And processes that start together on a fresh database take turns at the migrations, on
//! connections without the statement timeout the serving pool has.

use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement};
use todo_migrations::{HostMigrator, MigratorTrait as _, TaskMigrator};
use todo_tests::db::{Backend, TestDb};

async fn execute(db: &DatabaseConnection, sql: &str, values: Vec<sea_orm::Value>) {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .await
    .unwrap_or_else(|err| panic!("{sql}: {err}"));
}

async fn strings(db: &DatabaseConnection, sql: &str, column: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("query")
        .into_iter()
        .map(|row| row.try_get::<String>("", column).expect("a string"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_rows_are_brought_to_the_unicode_rule() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(test_db) = TestDb::create(backend, "migrations::unicode").await else {
            continue;
        };
        let db = test_db.connect().await;
        TaskMigrator::down(&db, Some(1))
            .await
            .expect("roll the task text migration back");
        // The last three host migrations: message feedback, the conversation trigger, then
        // the emails.
        HostMigrator::down(&db, Some(3))
            .await
            .expect("roll the email migration back");

        let user = uuid::Uuid::now_v7();
        let now = chrono::Utc::now();
        // As the old code wrote them: titles as sent (NFD here), lower-cased search text and
        // tags, two spellings of one tag on two tasks.
        for (title, tags) in [
            ("Cafe\u{301} Stra\u{df}e", r#"["straße"]"#),
            ("STRASSE fegen", r#"["strasse","work"]"#),
        ] {
            execute(
                &db,
                r#"INSERT INTO "tasks" ("id", "user_id", "title", "description", "search_text", "completed", "priority", "tags", "created_at", "updated_at")
                   VALUES ($1, $2, $3, NULL, $4, false, 2, $5, $6, $6)"#,
                vec![
                    uuid::Uuid::now_v7().into(),
                    user.into(),
                    title.into(),
                    format!("{}\u{1f}", title.to_lowercase()).into(),
                    tags.into(),
                    now.into(),
                ],
            )
            .await;
        }
        for (email, name) in [
            ("jose\u{301}@example.com", "Jose\u{301}"),
            ("stra\u{df}e@example.com", "A"),
            ("strasse@example.com", "B"),
        ] {
            execute(
                &db,
                r#"INSERT INTO "users" ("id", "email", "name", "password_hash", "created_at") VALUES ($1, $2, $3, 'x', $4)"#,
                vec![uuid::Uuid::now_v7().into(), email.into(), name.into(), now.into()],
            )
            .await;
        }

        TaskMigrator::up(&db, None)
            .await
            .expect("migrate the tasks");
        HostMigrator::up(&db, None)
            .await
            .expect("migrate the users");

        let mut titles = strings(&db, r#"SELECT "title" FROM "tasks""#, "title").await;
        titles.sort();
        assert_eq!(titles, ["Café Straße", "STRASSE fegen"], "{backend:?}");
        let search = strings(&db, r#"SELECT "search_text" FROM "tasks""#, "search_text").await;
        assert!(
            search
                .iter()
                .all(|text| text.starts_with("café strasse") || text.starts_with("strasse fegen")),
            "{search:?}"
        );
        let mut tags = strings(
            &db,
            r#"SELECT "tag" FROM "task_tags" ORDER BY "tag""#,
            "tag",
        )
        .await;
        tags.dedup();
        assert_eq!(
            tags,
            ["strasse", "work"],
            "{backend:?}: the index follows the tags"
        );
        let mut emails = strings(&db, r#"SELECT "email" FROM "users""#, "email").await;
        emails.sort();
        // One of the two that fold alike keeps its old spelling, so neither account is lost.
        assert_eq!(emails.len(), 3);
        assert!(
            emails.contains(&"josé@example.com".to_owned()),
            "{emails:?}"
        );
        assert!(
            emails.contains(&"strasse@example.com".to_owned()),
            "{emails:?}"
        );
        assert!(
            emails.contains(&"straße@example.com".to_owned()),
            "{emails:?}"
        );
    }
}

/// Several processes starting at once on a fresh database (hosts with their embedded task
/// server, standalone task servers): every one of them comes up, and each migration is
/// recorded once. Each "process" here is a pool of its own, so PostgreSQL sees separate
/// sessions exactly as it would from separate machines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_take_turns_at_the_migrations() {
    const PROCESSES: usize = 6;
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(test_db) = TestDb::create_empty(backend, "migrations::concurrent").await else {
            continue;
        };
        let url = test_db.database_url();
        let starts = (0..PROCESSES).map(|process| {
            let url = url.clone();
            tokio::spawn(async move {
                // Half start as hosts (both migrators), half as task servers.
                let db = todo_mcp::db::connect_and_migrate(&url).await?;
                if process % 2 == 0 {
                    todo_migrations::up::<HostMigrator>(&db).await?;
                }
                db.close().await?;
                anyhow::Ok(())
            })
        });
        for started in futures::future::join_all(starts).await {
            started
                .expect("the start-up task ran")
                .unwrap_or_else(|err| panic!("{backend:?}: a process failed to start: {err:#}"));
        }
        for (table, migrations) in [
            ("seaql_migrations_tasks", TaskMigrator::migrations().len()),
            ("seaql_migrations_host", HostMigrator::migrations().len()),
        ] {
            let recorded = test_db
                .count(&format!(r#"SELECT COUNT(*) AS n FROM "{table}""#))
                .await;
            assert_eq!(recorded, migrations as i64, "{backend:?} {table}");
        }
    }
}

/// `DATABASE_STATEMENT_TIMEOUT_SECS` reaches PostgreSQL on every connection of the serving pool
/// (a statement past it is cancelled), while the pool that runs the migrations has none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_connections_have_the_statement_timeout_and_migrations_none() {
    let Some(test_db) = TestDb::create(Backend::Postgres, "migrations::statement_timeout").await
    else {
        return;
    };
    let url = test_db
        .database_url()
        .with_pool(todo_mcp::db::PoolSettings {
            max_connections: Some(3),
            statement_timeout: Some(std::time::Duration::from_secs(1)),
        });
    let serving = todo_mcp::db::connect(&url).await.expect("connect");
    assert_eq!(
        strings(&serving, "SHOW statement_timeout", "statement_timeout").await,
        ["1s"]
    );
    let slow = serving
        .query_all_raw(Statement::from_string(
            serving.get_database_backend(),
            "SELECT pg_sleep(3)",
        ))
        .await
        .expect_err("a statement past the timeout is cancelled");
    assert!(slow.to_string().contains("statement timeout"), "{slow}");
    let migrating = todo_mcp::db::migration_pool(&url, &serving)
        .await
        .expect("connect for migrations");
    assert_eq!(
        strings(&migrating, "SHOW statement_timeout", "statement_timeout").await,
        ["0"]
    );
    assert_eq!(todo_mcp::db::pool_usage(&migrating).max, 2);
    assert_eq!(todo_mcp::db::pool_usage(&serving).max, 3);
}
