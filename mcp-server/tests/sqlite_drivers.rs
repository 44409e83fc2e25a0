//! `todo-mcp stdio` reaches a SQLite file with rusqlite on its serving thread while the host and
//! `todo-mcp serve` reach the same file through sqlx's pool. Rows written by either must read,
//! order and compare the same through the other: SQLite compares timestamps as text, so a
//! timestamp written in another format would break list order, cursors and the `updated_at`
//! check every update makes.

#![expect(clippy::expect_used, reason = "a panic is how a test fails")]

use chrono::{DateTime, Duration, Utc};
use todo_mcp::{
    db::{self, DatabaseUrl},
    store::TaskStore,
    task::{ListFilter, NewTask, PageSize, Priority, Tags, TaskPatch, Title, UserId},
};

fn new_task(title: &str, due_at: Option<DateTime<Utc>>) -> NewTask {
    NewTask {
        title: Title::parse(title).expect("a title"),
        description: None,
        priority: Priority::Medium,
        due_at,
        tags: Tags::parse(&["both"]).expect("tags"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn rows_written_by_either_driver_read_order_and_update_the_same_through_the_other() {
    let dir = std::env::temp_dir().join(format!("todo-sqlite-drivers-{}", std::process::id()));
    let url: DatabaseUrl = format!("sqlite://{}/todo.db?mode=rwc", dir.display())
        .parse()
        .expect("a SQLite URL");
    let pool = db::connect_and_migrate(&url).await.expect("migrate");
    let plain: DatabaseUrl = format!("sqlite://{}/todo.db", dir.display())
        .parse()
        .expect("a SQLite URL");
    let pooled = TaskStore::new(pool.clone());
    let local = TaskStore::serving_one_client(&plain, pool).expect("open with rusqlite");
    assert!(local.runs_on_serving_thread());
    assert!(!pooled.runs_on_serving_thread());

    let user = UserId::new(uuid::Uuid::new_v4());
    // Due dates a second apart, written alternately by the two drivers.
    let base = DateTime::parse_from_rfc3339("2027-01-05T09:00:00.250Z")
        .expect("a date")
        .to_utc();
    let mut expected = Vec::new();
    for i in 0..6 {
        let store = if i % 2 == 0 { &local } else { &pooled };
        let title = format!("task {i}");
        store
            .add(user, new_task(&title, Some(base + Duration::seconds(i))))
            .await
            .expect("add");
        expected.push(title);
    }

    for (reader, name) in [(&local, "rusqlite"), (&pooled, "sqlx")] {
        let page = reader
            .list(user, &ListFilter::default(), PageSize::default(), None)
            .await
            .expect("list");
        let titles: Vec<String> = page
            .tasks
            .iter()
            .map(|task| task.title.to_string())
            .collect();
        assert_eq!(titles, expected, "list order read through {name}");
    }

    // Each driver updates and completes the other's rows: the update finds the row by the
    // `updated_at` it read, so it fails (as contended) if the formats differ.
    let tasks = local
        .list(user, &ListFilter::default(), PageSize::default(), None)
        .await
        .expect("list")
        .tasks;
    for (i, task) in tasks.iter().enumerate() {
        let (writer, reader) = if i % 2 == 0 {
            (&pooled, &local)
        } else {
            (&local, &pooled)
        };
        let patch = TaskPatch {
            priority: Some(Priority::High),
            ..TaskPatch::default()
        };
        let updated = writer.update(user, task.id, patch).await.expect("update");
        assert_eq!(updated.priority, Priority::High);
        let completed = reader
            .set_completed(user, task.id, true)
            .await
            .expect("complete");
        assert!(completed.completed);
        let read_back = writer.get(user, task.id).await.expect("get");
        assert_eq!(read_back, completed, "read back through the other driver");
    }

    let removed = pooled.delete(user, tasks[0].id).await.expect("delete");
    assert_eq!(removed.id, tasks[0].id);
    assert!(local.get(user, tasks[0].id).await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
