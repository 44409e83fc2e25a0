//! The `offline` provider: a small deterministic agent, the default when no `OPENAI_API_KEY`
//! is set, so the product works out of the box.
//!
//! It is a model like any other to the agent loop: it reads the conversation, answers with
//! tool calls or text, and its reply is streamed the same way. Within a turn it works in
//! phases, counted by the tool results since the user's message: a new task is added and
//! confirmed; a change to a named task first finds it with `list_tasks`, then calls the
//! change, then confirms.

mod command;
mod dates;

use chrono::DateTime;
use futures::{StreamExt as _, stream};
use serde_json::{Map, Value, json};

use self::command::Command;
use super::{
    clock::UserClock,
    model::{ChatMessage, ModelDelta, ModelRequest, ModelStream, ToolCallDelta},
};

/// Tasks a lookup considers when a command names a task.
const LOOKUP_LIMIT: u64 = 20;
/// Tasks a list answer shows.
const LIST_LIMIT: u64 = 50;

const HELP: &str = "I can keep your to-do list. Try “add buy milk tomorrow high priority”, \
    “what's still open?”, “show tasks tagged work”, “complete buy milk”, \
    “rename buy milk to buy oat milk” or “delete buy milk”.";

/// The built-in agent.
#[derive(Debug, Default, Clone)]
pub struct OfflineModel;

/// What the agent does next.
#[derive(Debug, PartialEq)]
enum Action {
    Call(&'static str, Map<String, Value>),
    Say(String),
}

/// A tool result of this turn.
struct Seen<'a> {
    content: &'a str,
    is_error: bool,
}

impl OfflineModel {
    pub fn reply(&self, request: ModelRequest<'_>) -> ModelStream {
        let deltas = match decide(request.messages, request.clock) {
            Action::Call(tool, arguments) => vec![
                ModelDelta::ToolCall(ToolCallDelta {
                    index: 0,
                    id: Some(format!("offline_{}", uuid::Uuid::now_v7().simple())),
                    name: Some(tool.to_owned()),
                    arguments: Some(Value::Object(arguments).to_string()),
                }),
                ModelDelta::Finish("tool_calls".to_owned()),
            ],
            Action::Say(text) => {
                // Word by word, like a model, so clients see the same stream either way.
                let mut deltas: Vec<_> = text
                    .split_inclusive(' ')
                    .map(|word| ModelDelta::Text(word.to_owned()))
                    .collect();
                deltas.push(ModelDelta::Finish("stop".to_owned()));
                deltas
            }
        };
        stream::iter(deltas.into_iter().map(Ok)).boxed()
    }
}

fn decide(messages: &[ChatMessage], clock: &UserClock) -> Action {
    let Some(asked) = messages
        .iter()
        .rposition(|message| matches!(message, ChatMessage::User(_)))
    else {
        return Action::Say(HELP.to_owned());
    };
    let ChatMessage::User(text) = &messages[asked] else {
        return Action::Say(HELP.to_owned());
    };
    let seen: Vec<Seen<'_>> = messages[asked + 1..]
        .iter()
        .filter_map(|message| match message {
            ChatMessage::Tool {
                content, is_error, ..
            } => Some(Seen {
                content,
                is_error: *is_error,
            }),
            _ => None,
        })
        .collect();
    if let Some(failed) = seen.iter().find(|seen| seen.is_error) {
        return Action::Say(format!("That didn't work: {}", failed.content));
    }
    let result = |phase: usize| -> Value {
        seen.get(phase)
            .and_then(|seen| serde_json::from_str(seen.content).ok())
            .unwrap_or(Value::Null)
    };
    match (command::parse(text, clock), seen.len()) {
        (Command::Help, _) => Action::Say(HELP.to_owned()),
        (Command::Add(arguments), 0) => Action::Call("add_task", arguments),
        (Command::Add(_), _) => {
            Action::Say(format!("Added {}.", describe(&result(0)["task"], clock)))
        }
        (Command::List(mut filters), 0) => {
            filters.insert("limit".to_owned(), json!(LIST_LIMIT));
            Action::Call("list_tasks", filters)
        }
        (Command::List(filters), _) => Action::Say(list_answer(&result(0), &filters, clock)),
        (Command::Complete { target, completed }, 0) => {
            lookup(&target, if completed { "pending" } else { "completed" })
        }
        (Command::Rename { target, .. } | Command::Delete { target }, 0) => lookup(&target, "all"),
        (command, 1) => act_on_found(command, &result(0)),
        (command, _) => Action::Say(confirm(&command, &result(1))),
    }
}

/// Looks a named task up.
fn lookup(target: &str, status: &str) -> Action {
    let mut arguments = Map::new();
    arguments.insert("query".to_owned(), json!(target));
    arguments.insert("status".to_owned(), json!(status));
    arguments.insert("limit".to_owned(), json!(LOOKUP_LIMIT));
    Action::Call("list_tasks", arguments)
}

/// With the lookup's tasks: the change, or why there is none.
fn act_on_found(command: Command, found: &Value) -> Action {
    let (target, open_only) = match &command {
        Command::Complete { target, completed } => (target.as_str(), Some(*completed)),
        Command::Rename { target, .. } | Command::Delete { target } => (target.as_str(), None),
        Command::Add(_) | Command::List(_) | Command::Help => return Action::Say(HELP.to_owned()),
    };
    let tasks = found["tasks"].as_array().cloned().unwrap_or_default();
    let exact: Vec<&Value> = tasks
        .iter()
        .filter(|task| {
            task["title"]
                .as_str()
                .is_some_and(|title| title.to_lowercase() == target.to_lowercase())
        })
        .collect();
    let chosen = match (exact.as_slice(), tasks.as_slice()) {
        ([one], _) => *one,
        ([], [one]) => one,
        ([], []) => {
            let which = match open_only {
                Some(true) => "an open task",
                Some(false) => "a completed task",
                None => "a task",
            };
            return Action::Say(format!("I couldn't find {which} matching “{target}”."));
        }
        (_, many) => {
            let titles: Vec<String> = many
                .iter()
                .take(5)
                .filter_map(|task| task["title"].as_str())
                .map(|title| format!("“{title}”"))
                .collect();
            return Action::Say(format!(
                "Several tasks match “{target}”: {}. Which one do you mean? Use its full title.",
                titles.join(", ")
            ));
        }
    };
    let task_id = json!(chosen["id"].as_str().unwrap_or_default());
    let mut arguments = Map::new();
    arguments.insert("task_id".to_owned(), task_id);
    match command {
        Command::Complete { completed, .. } => {
            arguments.insert("completed".to_owned(), json!(completed));
            Action::Call("complete_task", arguments)
        }
        Command::Rename { title, .. } => {
            arguments.insert("title".to_owned(), json!(title));
            Action::Call("update_task", arguments)
        }
        _ => Action::Call("delete_task", arguments),
    }
}

/// The sentence after a change went through.
fn confirm(command: &Command, change: &Value) -> String {
    let title = change["title"].as_str().unwrap_or("the task");
    match command {
        Command::Complete {
            completed: true, ..
        } => format!("Marked “{title}” as done."),
        Command::Complete { .. } => format!("Reopened “{title}”."),
        Command::Rename { target, .. } => format!("Renamed “{target}” to “{title}”."),
        Command::Delete { .. } => format!("Deleted “{title}”."),
        Command::Add(_) | Command::List(_) | Command::Help => HELP.to_owned(),
    }
}

fn list_answer(page: &Value, filters: &Map<String, Value>, clock: &UserClock) -> String {
    let tasks = page["tasks"].as_array().cloned().unwrap_or_default();
    let status = filters.get("status").and_then(Value::as_str);
    let kind = match status {
        Some("pending") => "open tasks",
        Some("completed") => "completed tasks",
        _ => "tasks",
    };
    if tasks.is_empty() {
        return match (status, filters.len()) {
            (Some("pending"), 1) => "Nothing is open: you're all caught up.".to_owned(),
            (None, 0) => "You have no tasks yet. Try “add buy milk tomorrow”.".to_owned(),
            _ => format!("No {kind} match."),
        };
    }
    let more = if page["next_cursor"].is_string() {
        " (the first ones)"
    } else {
        ""
    };
    let mut answer = match tasks.len() {
        1 => format!("You have 1 {}{more}:", kind.trim_end_matches('s')),
        count => format!("You have {count} {kind}{more}:"),
    };
    for task in &tasks {
        answer.push_str("\n- ");
        answer.push_str(&describe(task, clock));
    }
    answer
}

/// “buy milk” (high priority, due Thu 26 Nov 17:00, #home), or done.
fn describe(task: &Value, clock: &UserClock) -> String {
    let title = task["title"].as_str().unwrap_or("a task");
    let mut details = Vec::new();
    if task["completed"].as_bool() == Some(true) {
        details.push("done".to_owned());
    }
    match task["priority"].as_str() {
        Some("medium") | None => {}
        Some(priority) => details.push(format!("{priority} priority")),
    }
    if let Some(due) = task["due_at"]
        .as_str()
        .and_then(|due| DateTime::parse_from_rfc3339(due).ok())
    {
        let offset = clock.local_now().offset().to_owned();
        details.push(format!(
            "due {}",
            due.with_timezone(&offset).format("%a %-d %b %H:%M")
        ));
    }
    if let Some(tags) = task["tags"].as_array().filter(|tags| !tags.is_empty()) {
        let tags: Vec<String> = tags
            .iter()
            .filter_map(Value::as_str)
            .map(|tag| format!("#{tag}"))
            .collect();
        details.push(tags.join(" "));
    }
    if details.is_empty() {
        format!("“{title}”")
    } else {
        format!("“{title}” ({})", details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::clock::test_clock;

    fn clock() -> UserClock {
        test_clock("UTC")
    }

    fn tool(content: Value) -> ChatMessage {
        ChatMessage::Tool {
            call_id: "c".to_owned(),
            tool_name: "t".to_owned(),
            content: content.to_string(),
            is_error: false,
        }
    }

    fn task(id: &str, title: &str) -> Value {
        json!({"id": id, "title": title, "completed": false, "priority": "medium", "tags": []})
    }

    #[test]
    fn a_change_finds_its_task_then_acts_then_confirms() {
        let user = ChatMessage::User("complete buy milk".to_owned());
        let first = decide(std::slice::from_ref(&user), &clock());
        assert_eq!(
            first,
            Action::Call(
                "list_tasks",
                json!({"query": "buy milk", "status": "pending", "limit": 20})
                    .as_object()
                    .cloned()
                    .unwrap()
            )
        );
        let found = tool(
            json!({"tasks": [task("t1", "Buy milk"), task("t2", "buy milk and eggs")], "next_cursor": null}),
        );
        let second = decide(&[user.clone(), found.clone()], &clock());
        assert_eq!(
            second,
            Action::Call(
                "complete_task",
                json!({"task_id": "t1", "completed": true})
                    .as_object()
                    .cloned()
                    .unwrap()
            )
        );
        let done = tool(json!({"task_id": "t1", "status": "completed", "title": "Buy milk"}));
        assert_eq!(
            decide(&[user, found, done], &clock()),
            Action::Say("Marked “Buy milk” as done.".to_owned())
        );
    }

    #[test]
    fn ambiguous_or_missing_targets_are_explained() {
        let user = ChatMessage::User("delete report".to_owned());
        let many = tool(json!({"tasks": [task("a", "report A"), task("b", "report B")]}));
        let Action::Say(text) = decide(&[user.clone(), many], &clock()) else {
            panic!("expected a question");
        };
        assert!(text.contains("“report A”, “report B”"), "{text}");
        let none = tool(json!({"tasks": []}));
        assert_eq!(
            decide(&[user, none], &clock()),
            Action::Say("I couldn't find a task matching “report”.".to_owned())
        );
    }

    #[test]
    fn tool_errors_are_passed_on() {
        let user = ChatMessage::User("add x".to_owned());
        let failed = ChatMessage::Tool {
            call_id: "c".to_owned(),
            tool_name: "add_task".to_owned(),
            content: "title must be at most 200 characters".to_owned(),
            is_error: true,
        };
        assert_eq!(
            decide(&[user, failed], &clock()),
            Action::Say("That didn't work: title must be at most 200 characters".to_owned())
        );
    }

    #[test]
    fn lists_are_answered_with_details() {
        let user = ChatMessage::User("what's still open?".to_owned());
        let page = tool(json!({"tasks": [
            {"id": "a", "title": "buy milk", "completed": false, "priority": "high",
             "due_at": "2026-11-26T17:00:00Z", "tags": ["home"]}
        ], "next_cursor": null}));
        assert_eq!(
            decide(&[user, page], &clock()),
            Action::Say(
                "You have 1 open task:\n- “buy milk” (high priority, due Thu 26 Nov 17:00, #home)"
                    .to_owned()
            )
        );
    }
}
