//! The wire types of the MCP tools: arguments in, structured results out.
//!
//! Field doc comments become the JSON Schema text that clients and models read. Values a model
//! can get wrong (priority, dates, status, ids) are plain strings here and are parsed into domain
//! types inside the tool, so a mistake comes back as a readable tool error, not a protocol fault.
//! The output types also derive `Deserialize` so that frontends (the HTTP API, the agent) can
//! read tool results back.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::task::{Tag, Task};

/// Arguments of `add_task`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddTaskArgs {
    /// What to do, 1 to 200 characters.
    pub title: String,
    /// Optional notes, up to 4,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// One of "low", "medium", "high". Defaults to "medium".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// When the task is due, as an RFC 3339 date-time with an offset, e.g. "2026-05-01T17:00:00+02:00".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// Up to 10 tags, each 1 to 32 characters without spaces; stored in lower case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Arguments of `list_tasks`. All filters are optional and combine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ListTasksArgs {
    /// One of "all" (default), "pending", "completed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Case-insensitive text to find in the title or description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Only tasks of this priority: "low", "medium" or "high".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Only tasks with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// How many tasks to return, 1 to 200. Defaults to 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, to get the page after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Arguments of `get_task`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GetTaskArgs {
    /// The id of the task, as returned by add_task or list_tasks.
    pub task_id: String,
}

/// Arguments of `complete_task`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CompleteTaskArgs {
    /// The id of the task, as returned by add_task or list_tasks.
    pub task_id: String,
    /// true (default) marks the task done; false reopens it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
}

/// Arguments of `update_task`. Fields left out stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpdateTaskArgs {
    /// The id of the task, as returned by add_task or list_tasks.
    pub task_id: String,
    /// New title, 1 to 200 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New notes, up to 4,000 characters; "" removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// New priority: "low", "medium" or "high".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// New due date-time in RFC 3339 with an offset; "" removes the due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
    /// The complete new set of tags (replaces the old ones); [] removes all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// Arguments of `delete_task`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeleteTaskArgs {
    /// The id of the task, as returned by add_task or list_tasks.
    pub task_id: String,
}

/// A task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskView {
    /// The task's id (a UUID).
    pub id: String,
    pub title: String,
    /// Notes, or null.
    pub description: Option<String>,
    pub completed: bool,
    /// When the task was completed (RFC 3339, UTC), or null while it is open.
    pub completed_at: Option<String>,
    pub priority: PriorityView,
    /// When the task is due (RFC 3339, UTC), or null.
    pub due_at: Option<String>,
    /// Tags in lower case, sorted.
    pub tags: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

/// A task's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PriorityView {
    Low,
    Medium,
    High,
}

/// The result of `list_tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskListView {
    /// Open tasks first, then by due date (none last), priority (high first) and id.
    pub tasks: Vec<TaskView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The result of a tool that changes a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TaskChangeView {
    pub task_id: String,
    pub status: ChangeStatus,
    pub title: String,
    /// The task after the change (for delete_task: as it was).
    pub task: TaskView,
}

/// What a mutation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeStatus {
    Created,
    Completed,
    Reopened,
    Updated,
    Deleted,
}

impl TaskChangeView {
    pub fn new(status: ChangeStatus, task: &Task) -> Self {
        Self {
            task_id: task.id.to_string(),
            status,
            title: task.title.to_string(),
            task: TaskView::from(task),
        }
    }
}

impl From<&Task> for TaskView {
    fn from(task: &Task) -> Self {
        Self {
            id: task.id.to_string(),
            title: task.title.to_string(),
            description: task.description.as_ref().map(|it| it.as_str().to_owned()),
            completed: task.completed,
            completed_at: task.completed_at.map(timestamp),
            priority: match task.priority {
                crate::task::Priority::Low => PriorityView::Low,
                crate::task::Priority::Medium => PriorityView::Medium,
                crate::task::Priority::High => PriorityView::High,
            },
            due_at: task.due_at.map(timestamp),
            tags: task
                .tags
                .iter()
                .map(Tag::as_str)
                .map(str::to_owned)
                .collect(),
            created_at: timestamp(task.created_at),
            updated_at: timestamp(task.updated_at),
        }
    }
}

// The results as `structuredContent`, each string moved into the `Value` instead of copied as
// `serde_json::to_value` copies it (it serializes through a reference): for a `list_tasks` of 50
// that is some 300 allocations and copies fewer (`docs/perf/README.md`). The keys and forms
// must stay exactly serde's; a property test holds each to `to_value`.

impl From<TaskListView> for Value {
    fn from(view: TaskListView) -> Self {
        object([
            ("tasks", view.tasks.into_iter().map(Value::from).collect()),
            ("next_cursor", view.next_cursor.into()),
        ])
    }
}

impl From<TaskChangeView> for Value {
    fn from(view: TaskChangeView) -> Self {
        object([
            ("task_id", view.task_id.into()),
            ("status", view.status.as_str().into()),
            ("title", view.title.into()),
            ("task", view.task.into()),
        ])
    }
}

impl From<TaskView> for Value {
    fn from(view: TaskView) -> Self {
        object([
            ("id", view.id.into()),
            ("title", view.title.into()),
            ("description", view.description.into()),
            ("completed", view.completed.into()),
            ("completed_at", view.completed_at.into()),
            ("priority", view.priority.as_str().into()),
            ("due_at", view.due_at.into()),
            ("tags", view.tags.into()),
            ("created_at", view.created_at.into()),
            ("updated_at", view.updated_at.into()),
        ])
    }
}

fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

impl PriorityView {
    /// The priority as its JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

impl ChangeStatus {
    /// The status as its JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Completed => "completed",
            Self::Reopened => "reopened",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    format_instant(at)
}

/// The one RFC 3339 form every instant the product writes takes: UTC, `Z`, and always six
/// fractional digits (what both databases keep), e.g. `2026-12-04T10:41:49.429335Z`.
///
/// Written digit by digit: chrono's formatter (`to_rfc3339_opts`, the reference a property
/// test holds this to) goes through `fmt` padding for each field, 3.5 % of the stdio server's
/// CPU for a `list_tasks` of 50, which writes 150 of these. Years outside 0 to 9999 and leap
/// seconds are left to chrono.
pub fn format_instant(at: DateTime<Utc>) -> String {
    let (date, time) = (at.date_naive(), at.time());
    let nanos = time.nanosecond();
    if !(0..=9999).contains(&date.year()) || nanos >= 1_000_000_000 {
        return at.to_rfc3339_opts(SecondsFormat::Micros, true);
    }
    let mut text = String::with_capacity(27);
    let mut field = |separator: Option<char>, value: u32, width: u32| {
        if let Some(separator) = separator {
            text.push(separator);
        }
        for place in (0..width).rev() {
            let digit = value / 10u32.pow(place) % 10;
            text.push(char::from(b'0' + digit as u8));
        }
    };
    field(None, date.year().unsigned_abs(), 4);
    field(Some('-'), date.month(), 2);
    field(Some('-'), date.day(), 2);
    field(Some('T'), time.hour(), 2);
    field(Some(':'), time.minute(), 2);
    field(Some(':'), time.second(), 2);
    field(Some('.'), nanos / 1_000, 6);
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use proptest::{option, prelude::*};

    use super::*;

    fn any_task() -> impl Strategy<Value = TaskView> {
        (
            (
                any::<String>(),
                any::<String>(),
                option::of(any::<String>()),
                any::<bool>(),
            ),
            (
                option::of(any::<String>()),
                0..3u8,
                option::of(any::<String>()),
            ),
            (
                proptest::collection::vec(any::<String>(), 0..4),
                any::<String>(),
                any::<String>(),
            ),
        )
            .prop_map(
                |(
                    (id, title, description, completed),
                    (completed_at, priority, due_at),
                    (tags, created_at, updated_at),
                )| TaskView {
                    id,
                    title,
                    description,
                    completed,
                    completed_at,
                    priority: [PriorityView::Low, PriorityView::Medium, PriorityView::High]
                        [usize::from(priority)],
                    due_at,
                    tags,
                    created_at,
                    updated_at,
                },
            )
    }

    const STATUSES: [ChangeStatus; 5] = [
        ChangeStatus::Created,
        ChangeStatus::Completed,
        ChangeStatus::Reopened,
        ChangeStatus::Updated,
        ChangeStatus::Deleted,
    ];

    #[test]
    fn instants_are_written_in_the_one_form() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T10:41:49.429335789+01:00").unwrap();
        assert_eq!(format_instant(at.to_utc()), "2026-12-04T09:41:49.429335Z");
        let leap = DateTime::parse_from_rfc3339("2016-12-31T23:59:60.5Z").unwrap();
        assert_eq!(format_instant(leap.to_utc()), "2016-12-31T23:59:60.500000Z");
    }

    proptest! {
        #[test]
        fn instants_are_written_as_chrono_writes_them(
            seconds in -70_000_000_000i64..300_000_000_000,
            nanos in 0u32..2_000_000_000,
        ) {
            if let Some(at) = DateTime::from_timestamp(seconds, nanos) {
                let chrono = at.to_rfc3339_opts(SecondsFormat::Micros, true);
                prop_assert_eq!(format_instant(at), chrono);
            }
        }

        #[test]
        fn a_task_list_moves_into_the_value_serde_makes(
            tasks in proptest::collection::vec(any_task(), 0..4),
            next_cursor in option::of(any::<String>()),
        ) {
            let view = TaskListView { tasks, next_cursor };
            let expected = serde_json::to_value(&view).unwrap();
            prop_assert_eq!(Value::from(view), expected);
        }

        #[test]
        fn a_change_moves_into_the_value_serde_makes(
            task in any_task(),
            status in 0..STATUSES.len(),
            task_id in any::<String>(),
            title in any::<String>(),
        ) {
            let view = TaskChangeView { task_id, status: STATUSES[status], title, task };
            let expected = serde_json::to_value(&view).unwrap();
            prop_assert_eq!(Value::from(view), expected);
        }
    }
}
