//! The task tools, their errors, isolation between users, pagination and concurrency.

use std::collections::HashSet;

use serde_json::{Value, json};
use todo_mcp::tools::dto::{ChangeStatus, PriorityView, TaskChangeView, TaskListView, TaskView};
use todo_tests::mcp::{Harness, McpClient, call, new_user};

use crate::on_every_server;

on_every_server!(
    tools_are_listed_with_schemas_and_annotations,
    every_tool_works_end_to_end,
    bad_input_is_a_tool_error_and_changes_nothing,
    another_users_task_reads_exactly_like_a_missing_one,
    two_users_never_see_each_others_tasks,
    filters_combine_and_search_is_literal_and_case_insensitive,
    list_order_is_open_first_then_due_then_priority,
    pagination_stays_correct_when_a_task_is_added_between_pages,
    concurrent_adds_from_two_users_are_all_counted,
);

async fn add(client: &McpClient, args: Value) -> TaskView {
    let change: TaskChangeView = call(client, "add_task", args).await.ok();
    assert_eq!(change.status, ChangeStatus::Created);
    change.task
}

async fn list(client: &McpClient, args: Value) -> TaskListView {
    call(client, "list_tasks", args).await.ok()
}

async fn titles(client: &McpClient, args: Value) -> Vec<String> {
    list(client, args)
        .await
        .tasks
        .into_iter()
        .map(|task| task.title)
        .collect()
}

async fn tools_are_listed_with_schemas_and_annotations(harness: Harness) {
    let client = harness.client(new_user()).await;
    let info = client.peer_info().expect("the server introduced itself");
    assert!(
        info.instructions
            .as_deref()
            .is_some_and(|text| text.contains("list_tasks"))
    );
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: HashSet<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    assert_eq!(
        names,
        HashSet::from([
            "add_task",
            "list_tasks",
            "get_task",
            "complete_task",
            "update_task",
            "delete_task"
        ])
    );
    for tool in &tools {
        assert!(
            tool.description.is_some(),
            "{} has a description",
            tool.name
        );
        assert!(
            tool.output_schema.is_some(),
            "{} has an output schema",
            tool.name
        );
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")));
        let annotations = tool.annotations.as_ref().expect("annotations");
        match tool.name.as_ref() {
            "list_tasks" | "get_task" => assert_eq!(annotations.read_only_hint, Some(true)),
            "delete_task" => assert_eq!(annotations.destructive_hint, Some(true)),
            "complete_task" => assert_eq!(annotations.idempotent_hint, Some(true)),
            _ => assert_eq!(annotations.read_only_hint, Some(false)),
        }
    }
    let add_task = tools
        .iter()
        .find(|tool| tool.name == "add_task")
        .expect("add_task");
    let properties = add_task.input_schema["properties"]
        .as_object()
        .expect("properties");
    for argument in ["title", "description", "priority", "due_at", "tags"] {
        assert!(
            properties.contains_key(argument),
            "add_task takes {argument}"
        );
    }
}

async fn every_tool_works_end_to_end(harness: Harness) {
    let client = harness.client(new_user()).await;

    let task = add(
        &client,
        json!({"title": "  Buy milk ", "description": "2 litres", "priority": "high",
               "due_at": "2026-05-01T17:00:00+02:00", "tags": ["Home", "shopping", "home"]}),
    )
    .await;
    assert_eq!(task.title, "Buy milk");
    assert_eq!(task.description.as_deref(), Some("2 litres"));
    assert_eq!(task.priority, PriorityView::High);
    assert_eq!(task.due_at.as_deref(), Some("2026-05-01T15:00:00.000000Z"));
    assert_eq!(task.tags, ["home", "shopping"]);
    assert!(!task.completed);
    assert_eq!(task.completed_at, None);

    let plain = add(&client, json!({"title": "Call mum"})).await;
    assert_eq!(plain.priority, PriorityView::Medium);
    assert_eq!(plain.description, None);
    assert!(plain.tags.is_empty());

    let listed = list(&client, json!({})).await;
    assert_eq!(listed.tasks, [task.clone(), plain.clone()]);
    let got: TaskView = call(&client, "get_task", json!({"task_id": plain.id}))
        .await
        .ok();
    assert_eq!(got, plain);
    assert_eq!(listed.next_cursor, None);

    let done: TaskChangeView = call(&client, "complete_task", json!({"task_id": task.id}))
        .await
        .ok();
    assert_eq!(done.status, ChangeStatus::Completed);
    assert_eq!(done.title, "Buy milk");
    assert!(done.task.completed);
    let completed_at = done.task.completed_at.clone().expect("completed_at is set");
    let again: TaskChangeView = call(&client, "complete_task", json!({"task_id": task.id}))
        .await
        .ok();
    assert_eq!(
        again.task.completed_at.as_deref(),
        Some(completed_at.as_str())
    );

    let reopened: TaskChangeView = call(
        &client,
        "complete_task",
        json!({"task_id": task.id, "completed": false}),
    )
    .await
    .ok();
    assert_eq!(reopened.status, ChangeStatus::Reopened);
    assert!(!reopened.task.completed);
    assert_eq!(reopened.task.completed_at, None);

    let updated: TaskChangeView = call(
        &client,
        "update_task",
        json!({"task_id": task.id, "title": "Buy oat milk", "priority": "low",
               "tags": ["errands"], "description": "", "due_at": ""}),
    )
    .await
    .ok();
    assert_eq!(updated.status, ChangeStatus::Updated);
    assert_eq!(updated.task.title, "Buy oat milk");
    assert_eq!(updated.task.priority, PriorityView::Low);
    assert_eq!(updated.task.tags, ["errands"]);
    assert_eq!(updated.task.description, None);
    assert_eq!(updated.task.due_at, None);
    assert_eq!(updated.task.created_at, task.created_at);

    let deleted: TaskChangeView = call(&client, "delete_task", json!({"task_id": task.id}))
        .await
        .ok();
    assert_eq!(deleted.status, ChangeStatus::Deleted);
    assert_eq!(
        deleted.task,
        updated.task.clone().with_updated_at(&deleted.task)
    );
    let gone = call(&client, "delete_task", json!({"task_id": task.id})).await;
    assert!(gone.err().starts_with("No task with id"));
    assert_eq!(titles(&client, json!({})).await, ["Call mum"]);
}

/// Lets a test compare two views of one task that differ only by `updated_at`.
trait WithUpdatedAt {
    fn with_updated_at(self, other: &TaskView) -> TaskView;
}

impl WithUpdatedAt for TaskView {
    fn with_updated_at(mut self, other: &TaskView) -> TaskView {
        self.updated_at.clone_from(&other.updated_at);
        self
    }
}

async fn bad_input_is_a_tool_error_and_changes_nothing(harness: Harness) {
    let client = harness.client(new_user()).await;
    let existing = add(&client, json!({"title": "Keep me", "tags": ["a"]})).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let eleven_tags: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "add_task",
            json!({"title": "   "}),
            "Title must not be empty",
        ),
        (
            "add_task",
            json!({"title": "x".repeat(201)}),
            "Title is 201 characters",
        ),
        (
            "add_task",
            json!({"title": "a", "priority": "urgent"}),
            "Priority \"urgent\"",
        ),
        (
            "add_task",
            json!({"title": "a", "due_at": "next friday"}),
            "Due_at \"next friday\"",
        ),
        (
            "add_task",
            json!({"title": "a", "tags": eleven_tags}),
            "11 tags given",
        ),
        (
            "add_task",
            json!({"title": "a", "tags": ["has space"]}),
            "Tag \"has space\"",
        ),
        (
            "add_task",
            json!({"title": "a", "description": "d".repeat(4001)}),
            "Description is 4001",
        ),
        ("add_task", json!({"description": "no title"}), "title"),
        (
            "list_tasks",
            json!({"status": "finished"}),
            "Status \"finished\"",
        ),
        ("list_tasks", json!({"limit": 0}), "Limit 0 is out of range"),
        (
            "list_tasks",
            json!({"limit": 201}),
            "Limit 201 is out of range",
        ),
        (
            "list_tasks",
            json!({"cursor": "not-a-cursor"}),
            "Cursor is not one",
        ),
        ("list_tasks", json!({"priority": "top"}), "Priority \"top\""),
        (
            "complete_task",
            json!({"task_id": "42"}),
            "Task_id \"42\" is not a task id",
        ),
        (
            "complete_task",
            json!({"task_id": missing}),
            "No task with id",
        ),
        (
            "update_task",
            json!({"task_id": missing, "title": "x"}),
            "No task with id",
        ),
        (
            "update_task",
            json!({"task_id": existing.id}),
            "Nothing to update",
        ),
        (
            "update_task",
            json!({"task_id": existing.id, "title": "ok", "priority": "zzz"}),
            "Priority \"zzz\"",
        ),
        (
            "update_task",
            json!({"task_id": existing.id, "due_at": "2026-13-45"}),
            "Due_at",
        ),
        (
            "delete_task",
            json!({"task_id": missing}),
            "No task with id",
        ),
        ("delete_task", json!({}), "task_id"),
    ];
    for (tool, args, expected) in cases {
        let outcome = call(&client, tool, args.clone()).await;
        let message = outcome.err();
        assert!(
            message.contains(expected),
            "{tool} {args}: expected {expected:?} in {message:?}"
        );
    }

    let after = list(&client, json!({})).await;
    assert_eq!(after.tasks, [existing], "bad calls changed nothing");
}

async fn another_users_task_reads_exactly_like_a_missing_one(harness: Harness) {
    let alice = harness.client(new_user()).await;
    let bob = harness.client(new_user()).await;
    let secret = add(&alice, json!({"title": "Alice's secret"})).await;
    let missing = uuid::Uuid::now_v7().to_string();

    for (tool, extra) in [
        ("get_task", json!({})),
        ("complete_task", json!({})),
        ("update_task", json!({"title": "hijacked"})),
        ("delete_task", json!({})),
    ] {
        let mut on_hers = extra.clone();
        on_hers["task_id"] = json!(secret.id);
        let mut on_missing = extra;
        on_missing["task_id"] = json!(missing);
        let hers = call(&bob, tool, on_hers).await;
        let nobodys = call(&bob, tool, on_missing).await;
        assert_eq!(
            hers.err().replace(&secret.id, "<id>"),
            nobodys.err().replace(&missing, "<id>"),
            "{tool} must not reveal that the task exists"
        );
    }
    assert_eq!(list(&alice, json!({})).await.tasks, [secret]);
}

async fn two_users_never_see_each_others_tasks(harness: Harness) {
    let alice = harness.client(new_user()).await;
    let bob = harness.client(new_user()).await;
    add(&alice, json!({"title": "alice one", "tags": ["shared"]})).await;
    add(&alice, json!({"title": "alice two"})).await;
    add(&bob, json!({"title": "bob one", "tags": ["shared"]})).await;

    assert_eq!(titles(&alice, json!({})).await, ["alice one", "alice two"]);
    assert_eq!(titles(&bob, json!({})).await, ["bob one"]);
    assert_eq!(titles(&bob, json!({"tag": "shared"})).await, ["bob one"]);
    assert_eq!(
        titles(&bob, json!({"query": "alice"})).await,
        Vec::<String>::new()
    );

    // A cursor is only a position: used by another user, it still lists that user's own tasks.
    let page = list(&alice, json!({"limit": 1})).await;
    let cursor = page.next_cursor.expect("alice has a second page");
    let seen_by_bob = titles(&bob, json!({"cursor": cursor})).await;
    assert!(
        seen_by_bob.iter().all(|title| title.starts_with("bob")),
        "{seen_by_bob:?}"
    );
}

async fn filters_combine_and_search_is_literal_and_case_insensitive(harness: Harness) {
    let client = harness.client(new_user()).await;
    add(
        &client,
        json!({"title": "Pay 50% deposit", "priority": "high", "tags": ["money"]}),
    )
    .await;
    add(
        &client,
        json!({"title": "Pay 50 euros", "priority": "low", "tags": ["money"]}),
    )
    .await;
    add(
        &client,
        json!({"title": "rename file_a", "description": "Ünïcode NOTES"}),
    )
    .await;
    add(&client, json!({"title": "rename fileXa"})).await;
    let done = add(
        &client,
        json!({"title": "pay rent", "tags": ["money", "home"]}),
    )
    .await;
    call(&client, "complete_task", json!({"task_id": done.id}))
        .await
        .ok::<TaskChangeView>();

    assert_eq!(
        titles(&client, json!({"query": "50%"})).await,
        ["Pay 50% deposit"]
    );
    assert_eq!(
        titles(&client, json!({"query": "file_a"})).await,
        ["rename file_a"]
    );
    assert_eq!(
        titles(&client, json!({"query": "ünïcode notes"})).await,
        ["rename file_a"]
    );
    assert_eq!(titles(&client, json!({"query": "PAY"})).await.len(), 3);
    assert_eq!(
        titles(&client, json!({"query": "pay", "status": "pending"})).await,
        ["Pay 50% deposit", "Pay 50 euros"]
    );
    assert_eq!(
        titles(&client, json!({"status": "completed"})).await,
        ["pay rent"]
    );
    assert_eq!(
        titles(&client, json!({"tag": "MONEY", "priority": "low"})).await,
        ["Pay 50 euros"]
    );
    assert_eq!(titles(&client, json!({"tag": "home"})).await, ["pay rent"]);
    assert_eq!(
        titles(
            &client,
            json!({"tag": "money", "status": "pending", "query": "deposit"})
        )
        .await,
        ["Pay 50% deposit"]
    );
}

async fn list_order_is_open_first_then_due_then_priority(harness: Harness) {
    let client = harness.client(new_user()).await;
    let done = add(
        &client,
        json!({"title": "done early", "due_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    add(
        &client,
        json!({"title": "no date high", "priority": "high"}),
    )
    .await;
    add(&client, json!({"title": "no date low", "priority": "low"})).await;
    add(
        &client,
        json!({"title": "due later", "due_at": "2030-01-02T00:00:00Z"}),
    )
    .await;
    add(
        &client,
        json!({"title": "due soon low", "due_at": "2030-01-01T00:00:00Z", "priority": "low"}),
    )
    .await;
    add(
        &client,
        json!({"title": "due soon high", "due_at": "2030-01-01T00:00:00Z", "priority": "high"}),
    )
    .await;
    add(&client, json!({"title": "no date medium 1"})).await;
    add(&client, json!({"title": "no date medium 2"})).await;
    call(&client, "complete_task", json!({"task_id": done.id}))
        .await
        .ok::<TaskChangeView>();

    assert_eq!(
        titles(&client, json!({})).await,
        [
            "due soon high",
            "due soon low",
            "due later",
            "no date high",
            "no date medium 1",
            "no date medium 2",
            "no date low",
            "done early",
        ]
    );
}

async fn pagination_stays_correct_when_a_task_is_added_between_pages(harness: Harness) {
    let client = harness.client(new_user()).await;
    let mut expected = HashSet::new();
    for i in 0..7 {
        let due = format!("2030-01-{:02}T00:00:00Z", i + 1);
        expected.insert(
            add(
                &client,
                json!({"title": format!("task {i}"), "due_at": due}),
            )
            .await
            .id,
        );
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut args = json!({"limit": 3});
        if let Some(cursor) = &cursor {
            args["cursor"] = json!(cursor);
        }
        let page = list(&client, args).await;
        pages += 1;
        seen.extend(page.tasks.into_iter().map(|task| task.id));
        if pages == 1 {
            // One task sorts before the cursor (already passed), one after it.
            add(
                &client,
                json!({"title": "early", "due_at": "2029-01-01T00:00:00Z"}),
            )
            .await;
            let late = add(&client, json!({"title": "late"})).await;
            expected.insert(late.id);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(pages < 10, "pagination terminates");
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no task is listed twice");
    assert_eq!(
        unique, expected,
        "every task after the cursor is listed once"
    );
}

async fn concurrent_adds_from_two_users_are_all_counted(harness: Harness) {
    const PER_USER: usize = 25;
    let alice = harness.client(new_user()).await;
    let bob = harness.client(new_user()).await;
    let calls = (0..PER_USER).flat_map(|i| {
        [
            call(
                &alice,
                "add_task",
                json!({"title": format!("alice {i}"), "tags": ["load"]}),
            ),
            call(
                &bob,
                "add_task",
                json!({"title": format!("bob {i}"), "tags": ["load"]}),
            ),
        ]
    });
    let outcomes = futures::future::join_all(calls).await;
    assert_eq!(outcomes.len(), 2 * PER_USER);
    for outcome in &outcomes {
        outcome.ok::<TaskChangeView>();
    }
    for (client, name) in [(&alice, "alice"), (&bob, "bob")] {
        let page = list(client, json!({"limit": 200, "tag": "load"})).await;
        assert_eq!(page.tasks.len(), PER_USER);
        assert!(page.tasks.iter().all(|task| task.title.starts_with(name)));
        let unique: HashSet<_> = page.tasks.iter().map(|task| &task.id).collect();
        assert_eq!(unique.len(), PER_USER);
    }
}
