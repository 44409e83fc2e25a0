//! The one sentence every frontend shows for a tool call ("Added task 'buy milk', due tomorrow
//! at 17:00"), made once here from the call's typed result, so the web page, the API's clients
//! and a ChatKit UI all say the same. Due dates are told relative to the user's clock.

use chrono::{DateTime, Datelike as _, FixedOffset};
use serde::de::DeserializeOwned;
use serde_json::Value;
use todo_mcp::tools::{
    ToolName,
    dto::{ChangeStatus, TaskChangeView, TaskListView, TaskView},
};

use super::clock::UserClock;
use crate::tasks::ToolOutcome;

/// The sentence for a call of `tool` that ended with `outcome`.
pub fn summarize(tool: &str, outcome: &ToolOutcome, clock: &UserClock) -> String {
    let Some(name) = ToolName::parse(tool) else {
        return format!("Called {tool}");
    };
    if outcome.is_error {
        let reason = outcome.value["message"]
            .as_str()
            .unwrap_or("the task server refused");
        return format!("Could not {}: {reason}", attempt(name));
    }
    let summary = match name {
        ToolName::AddTask => read::<TaskChangeView>(&outcome.value).map(|change| {
            let mut text = format!("Added task '{}'", change.title);
            if let Some(due) = due_phrase(&change.task, clock) {
                text.push_str(", due ");
                text.push_str(&due);
            }
            text
        }),
        ToolName::ListTasks => read::<TaskListView>(&outcome.value).map(|page| {
            let more = if page.next_cursor.is_some() { "+" } else { "" };
            match page.tasks.len() {
                0 => "Found no tasks".to_owned(),
                1 => format!("Found 1{more} task"),
                count => format!("Found {count}{more} tasks"),
            }
        }),
        ToolName::GetTask => {
            read::<TaskView>(&outcome.value).map(|task| format!("Looked up task '{}'", task.title))
        }
        ToolName::CompleteTask | ToolName::UpdateTask | ToolName::DeleteTask => {
            read::<TaskChangeView>(&outcome.value).map(|change| {
                let verb = match change.status {
                    ChangeStatus::Completed => "Completed",
                    ChangeStatus::Reopened => "Reopened",
                    ChangeStatus::Deleted => "Deleted",
                    ChangeStatus::Created => "Added",
                    ChangeStatus::Updated => "Updated",
                };
                format!("{verb} task '{}'", change.title)
            })
        }
    };
    summary.unwrap_or_else(|| format!("Called {tool}"))
}

/// What the failed call was trying to do, to follow "Could not".
fn attempt(tool: ToolName) -> &'static str {
    match tool {
        ToolName::AddTask => "add the task",
        ToolName::ListTasks => "list the tasks",
        ToolName::GetTask => "find the task",
        ToolName::CompleteTask => "change the task",
        ToolName::UpdateTask => "update the task",
        ToolName::DeleteTask => "delete the task",
    }
}

fn read<T: DeserializeOwned>(value: &Value) -> Option<T> {
    serde_json::from_value(value.clone()).ok()
}

/// "today at 17:00", "tomorrow at 09:30", "on Friday at 17:00", "on 24 Dec at 17:00",
/// "on 3 Jan 2028 at 08:00", "yesterday at 17:00", in the user's zone.
fn due_phrase(task: &TaskView, clock: &UserClock) -> Option<String> {
    let due = DateTime::parse_from_rfc3339(task.due_at.as_deref()?).ok()?;
    Some(relative(due, clock))
}

fn relative(due: DateTime<FixedOffset>, clock: &UserClock) -> String {
    let local = due.with_timezone(clock.local_now().offset());
    let today = clock.today();
    let days = (local.date_naive() - today).num_days();
    let day = match days {
        0 => "today".to_owned(),
        1 => "tomorrow".to_owned(),
        -1 => "yesterday".to_owned(),
        2..=6 => local.format("on %A").to_string(),
        _ if local.year() == today.year() => local.format("on %-d %b").to_string(),
        _ => local.format("on %-d %b %Y").to_string(),
    };
    format!("{day} at {}", local.format("%H:%M"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use todo_mcp::tools::ToolErrorKind;

    use super::*;
    use crate::chat::clock::test_clock;

    fn ok(value: Value) -> ToolOutcome {
        ToolOutcome {
            is_error: false,
            for_model: value.to_string(),
            value,
        }
    }

    fn task(title: &str, due_at: Option<&str>) -> Value {
        json!({"id": "t1", "title": title, "completed": false, "priority": "medium", "tags": [],
               "due_at": due_at, "created_at": "2026-11-25T10:00:00.000000Z",
               "updated_at": "2026-11-25T10:00:00.000000Z"})
    }

    fn change(status: &str, title: &str, due_at: Option<&str>) -> ToolOutcome {
        ok(json!({"task_id": "t1", "status": status, "title": title, "task": task(title, due_at)}))
    }

    #[test]
    fn each_tool_gets_its_sentence() {
        // The test clock: Wednesday 25 November 2026, 10:00 UTC.
        let clock = test_clock("UTC");
        let cases = [
            (
                "add_task",
                change("created", "buy milk", Some("2026-11-26T17:00:00.000000Z")),
                "Added task 'buy milk', due tomorrow at 17:00",
            ),
            (
                "add_task",
                change("created", "plan", Some("2026-11-27T09:30:00.000000Z")),
                "Added task 'plan', due on Friday at 09:30",
            ),
            (
                "add_task",
                change("created", "gifts", Some("2026-12-24T17:00:00.000000Z")),
                "Added task 'gifts', due on 24 Dec at 17:00",
            ),
            (
                "add_task",
                change("created", "no date", None),
                "Added task 'no date'",
            ),
            (
                "complete_task",
                change("completed", "buy milk", None),
                "Completed task 'buy milk'",
            ),
            (
                "complete_task",
                change("reopened", "x", None),
                "Reopened task 'x'",
            ),
            (
                "update_task",
                change("updated", "x", None),
                "Updated task 'x'",
            ),
            (
                "delete_task",
                change("deleted", "x", None),
                "Deleted task 'x'",
            ),
            ("get_task", ok(task("x", None)), "Looked up task 'x'"),
            (
                "list_tasks",
                ok(json!({"tasks": [task("a", None), task("b", None)], "next_cursor": null})),
                "Found 2 tasks",
            ),
            (
                "list_tasks",
                ok(json!({"tasks": [], "next_cursor": null})),
                "Found no tasks",
            ),
            (
                "add_task",
                ToolOutcome::failed(
                    ToolErrorKind::InvalidArgument,
                    "title must not be empty".into(),
                ),
                "Could not add the task: title must not be empty",
            ),
            ("drop_tables", ok(json!({})), "Called drop_tables"),
            (
                "add_task",
                ok(json!({"unexpected": true})),
                "Called add_task",
            ),
        ];
        for (tool, outcome, expected) in cases {
            assert_eq!(summarize(tool, &outcome, &clock), expected);
        }
    }

    #[test]
    fn due_dates_are_told_in_the_users_zone() {
        // 23:30 UTC on the 25th is already the 26th in Berlin, and due the 27th is tomorrow.
        let clock = UserClock::new(
            crate::chat::clock::Zone::parse("Europe/Berlin").unwrap(),
            DateTime::parse_from_rfc3339("2026-11-25T23:30:00Z")
                .unwrap()
                .to_utc(),
        );
        let outcome = change("created", "x", Some("2026-11-27T08:00:00.000000Z"));
        assert_eq!(
            summarize("add_task", &outcome, &clock),
            "Added task 'x', due tomorrow at 09:00"
        );
    }
}
