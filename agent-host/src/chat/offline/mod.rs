//! The `offline` provider: a small deterministic agent, the default when no `OPENAI_API_KEY`
//! is set, so the product works out of the box.
//!
//! It is a model like any other to the agent loop: it reads the conversation, answers with
//! tool calls or text, and its reply is streamed the same way. Within a turn it works in
//! phases, counted by the tool results since the user's message: a new task is added and
//! confirmed; a change to a named task first finds it with `list_tasks`, then calls the
//! change, then confirms.

mod command;
mod context;
mod dates;
mod several;

use chrono::{DateTime, Datelike as _, Duration, FixedOffset, NaiveTime};
use futures::{StreamExt as _, future::BoxFuture, stream};
use serde::de::DeserializeOwned;
use todo_mcp::tools::{
    ToolName,
    dto::{
        AddTaskArgs, CompleteTaskArgs, DeleteTaskArgs, ListTasksArgs, PriorityView, TaskChangeView,
        TaskListView, TaskView, UpdateTaskArgs,
    },
};

use self::command::{Command, DueWindow, NewDue};
use super::{
    clock::UserClock,
    model::{
        ChatMessage, ChatModel, ModelDelta, ModelError, ModelRequest, ModelStream, ToolCallDelta,
    },
};

/// Tasks a lookup considers when a command names a task.
const LOOKUP_LIMIT: i64 = 20;
/// Tasks a list answer shows.
const LIST_LIMIT: i64 = 50;
/// How a due date reads in an answer: `Thu 26 Nov 17:00`, on the user's clock.
const DUE_FORMAT: &str = "%a %-d %b %H:%M";
/// Tasks read for a list by due date, which the agent filters itself: the tool's most.
const DUE_LIST_LIMIT: i64 = 200;

const HELP: &str = "I can keep your to-do list. Try “add buy milk tomorrow high priority”, \
    “add pay rent on the 1st of january”, “what's still open?”, “show overdue tasks”, \
    “what's due this week?”, “show tasks tagged work”, “complete buy milk”, \
    “move call mum to next monday”, “postpone the report by 2 days”, \
    “make buy milk high priority”, “rename buy milk to buy oat milk” or “delete buy milk”.";

/// The built-in agent.
#[derive(Debug, Default, Clone)]
pub struct OfflineModel;

/// What the agent does next.
#[derive(Debug, PartialEq)]
enum Action {
    Call(ToolCall),
    Say(String),
}

/// A tool call with its typed arguments.
#[derive(Debug, PartialEq)]
enum ToolCall {
    Add(AddTaskArgs),
    List(ListTasksArgs),
    Complete(CompleteTaskArgs),
    Update(UpdateTaskArgs),
    Delete(DeleteTaskArgs),
}

impl ToolCall {
    fn name(&self) -> ToolName {
        match self {
            ToolCall::Add(_) => ToolName::AddTask,
            ToolCall::List(_) => ToolName::ListTasks,
            ToolCall::Complete(_) => ToolName::CompleteTask,
            ToolCall::Update(_) => ToolName::UpdateTask,
            ToolCall::Delete(_) => ToolName::DeleteTask,
        }
    }

    /// The arguments as the JSON text a model would write.
    fn arguments(&self) -> Result<String, serde_json::Error> {
        match self {
            ToolCall::Add(args) => serde_json::to_string(args),
            ToolCall::List(args) => serde_json::to_string(args),
            ToolCall::Complete(args) => serde_json::to_string(args),
            ToolCall::Update(args) => serde_json::to_string(args),
            ToolCall::Delete(args) => serde_json::to_string(args),
        }
    }
}

/// A tool result of this turn.
struct Seen<'a> {
    content: &'a str,
    is_error: bool,
}

impl Seen<'_> {
    /// The result as the tool's typed output; `None` when it is not that.
    fn read<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(self.content).ok()
    }
}

impl ChatModel for OfflineModel {
    fn start<'a>(
        &'a self,
        request: ModelRequest<'a>,
    ) -> BoxFuture<'a, Result<ModelStream, ModelError>> {
        let reply = self.reply(request);
        Box::pin(async move { reply })
    }
}

impl OfflineModel {
    fn reply(&self, request: ModelRequest<'_>) -> Result<ModelStream, ModelError> {
        let deltas = match decide(request.messages, request.clock) {
            Action::Call(call) => vec![
                ModelDelta::ToolCall(ToolCallDelta {
                    index: 0,
                    id: Some(format!("offline_{}", uuid::Uuid::now_v7().simple())),
                    name: Some(call.name().as_str().to_owned()),
                    arguments: Some(call.arguments().map_err(|err| {
                        tracing::error!(error = %err, "the offline agent could not write its arguments");
                        ModelError::Unreadable
                    })?),
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
        Ok(stream::iter(deltas.into_iter().map(Ok)).boxed())
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
    let earlier = &messages[..asked];
    let command = match command::parse(text, clock) {
        Command::Help => context::answer_to_question(text, earlier, clock).unwrap_or(Command::Help),
        command => context::resolve_reference(command, earlier),
    };
    if let Some(step) = several_step(&command, &seen, clock) {
        return step;
    }
    match (command, seen.as_slice()) {
        (Command::Help, _) => Action::Say(HELP.to_owned()),
        (Command::Add(arguments), []) => Action::Call(ToolCall::Add(arguments)),
        (Command::Add(_), [added, ..]) => Action::Say(match added.read::<TaskChangeView>() {
            Some(change) => format!("Added {}.", describe(&change.task, clock)),
            None => "Added the task.".to_owned(),
        }),
        (Command::List { filters, due }, []) => Action::Call(ToolCall::List(ListTasksArgs {
            limit: Some(if due.is_some() {
                DUE_LIST_LIMIT
            } else {
                LIST_LIMIT
            }),
            ..filters
        })),
        (Command::List { filters, due }, [page, ..]) => {
            Action::Say(list_answer(page.read(), &filters, due, clock))
        }
        (Command::Complete { target, completed }, []) => {
            lookup(&target, if completed { "pending" } else { "completed" })
        }
        (Command::Reschedule { target, .. } | Command::Prioritize { target, .. }, []) => {
            lookup(&target, "pending")
        }
        (Command::Rename { target, .. } | Command::Delete { target }, []) => lookup(&target, "all"),
        (command, [found]) => act_on_found(command, found.read(), clock),
        (command, [_, changed, ..]) => Action::Say(confirm(&command, changed.read(), clock)),
    }
}

/// The next step of a change of several tasks ("complete A and B"), or `None` when `command`
/// is not one: after the whole phrase found nothing, each name is found, then changed.
fn several_step(command: &Command, seen: &[Seen<'_>], clock: &UserClock) -> Option<Action> {
    let (target, status) = match command {
        Command::Complete { target, completed } => {
            (target, if *completed { "pending" } else { "completed" })
        }
        Command::Delete { target } => (target, "all"),
        _ => return None,
    };
    let names = several::split(target)?;
    let (whole, rest) = seen.split_first()?;
    if !whole.read::<TaskListView>()?.tasks.is_empty() {
        return None;
    }
    // The results after the first lookup: (found, changed) for each name so far.
    let changed: Vec<String> = rest
        .iter()
        .skip(1)
        .step_by(2)
        .filter_map(|seen| seen.read::<TaskChangeView>())
        .map(|change| change.title)
        .collect();
    let done = rest.len() / 2;
    if let Some(found) = rest.get(2 * done) {
        let mut one = command.clone();
        *one.target_mut()? = names[done].clone();
        return Some(match act_on_found(one, found.read(), clock) {
            Action::Say(problem) if !changed.is_empty() => {
                Action::Say(format!("{} {problem}", several::confirm(command, &changed)))
            }
            next => next,
        });
    }
    Some(match names.get(done) {
        Some(name) => lookup(name, status),
        None => Action::Say(several::confirm(command, &changed)),
    })
}

/// Looks a named task up.
fn lookup(target: &str, status: &str) -> Action {
    Action::Call(ToolCall::List(ListTasksArgs {
        query: Some(target.to_owned()),
        status: Some(status.to_owned()),
        limit: Some(LOOKUP_LIMIT),
        ..ListTasksArgs::default()
    }))
}

/// With the lookup's tasks: the change, or why there is none.
fn act_on_found(command: Command, found: Option<TaskListView>, clock: &UserClock) -> Action {
    let (target, open_only) = match &command {
        Command::Complete { target, completed } => (target.as_str(), Some(*completed)),
        Command::Reschedule { target, .. } | Command::Prioritize { target, .. } => {
            (target.as_str(), Some(true))
        }
        Command::Rename { target, .. } | Command::Delete { target } => (target.as_str(), None),
        Command::Add(_) | Command::List { .. } | Command::Help => {
            return Action::Say(HELP.to_owned());
        }
    };
    let tasks = found.map(|page| page.tasks).unwrap_or_default();
    let exact: Vec<&TaskView> = tasks
        .iter()
        .filter(|task| task.title.to_lowercase() == target.to_lowercase())
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
                .map(|task| format!("“{}”", task.title))
                .collect();
            return Action::Say(format!(
                "Several tasks match “{target}”: {}. {}",
                titles.join(", "),
                context::AMBIGUOUS
            ));
        }
    };
    let task_id = chosen.id.clone();
    Action::Call(match command {
        Command::Complete { completed, .. } => ToolCall::Complete(CompleteTaskArgs {
            task_id,
            completed: Some(completed),
        }),
        Command::Rename { title, .. } => ToolCall::Update(UpdateTaskArgs {
            task_id,
            title: Some(title),
            ..UpdateTaskArgs::default()
        }),
        Command::Reschedule { when, .. } => {
            let due = match when {
                NewDue::At(due) => due,
                // Later than it was due, or than now for a task with no due date.
                NewDue::Later(span) => {
                    due_of(chosen, clock).unwrap_or_else(|| clock.local_now()) + span
                }
            };
            ToolCall::Update(UpdateTaskArgs {
                task_id,
                due_at: Some(due.to_rfc3339()),
                ..UpdateTaskArgs::default()
            })
        }
        Command::Prioritize { priority, .. } => ToolCall::Update(UpdateTaskArgs {
            task_id,
            priority: Some(priority.to_owned()),
            ..UpdateTaskArgs::default()
        }),
        _ => ToolCall::Delete(DeleteTaskArgs { task_id }),
    })
}

/// A task's due date on the user's clock.
fn due_of(task: &TaskView, clock: &UserClock) -> Option<DateTime<FixedOffset>> {
    let due = DateTime::parse_from_rfc3339(task.due_at.as_deref()?).ok()?;
    Some(due.with_timezone(clock.local_now().offset()))
}

/// The sentence after a change went through.
fn confirm(command: &Command, change: Option<TaskChangeView>, clock: &UserClock) -> String {
    let due = change
        .as_ref()
        .and_then(|change| due_of(&change.task, clock))
        .map(|due| due.format(DUE_FORMAT).to_string());
    let title = change.map_or_else(|| "the task".to_owned(), |change| change.title);
    match command {
        Command::Reschedule { .. } => match due {
            Some(due) => format!("Moved “{title}” to {due}."),
            None => format!("Moved “{title}”."),
        },
        Command::Prioritize { priority, .. } => format!("“{title}” is now {priority} priority."),
        Command::Complete {
            completed: true, ..
        } => format!("Marked “{title}” as done."),
        Command::Complete { .. } => format!("Reopened “{title}”."),
        Command::Rename { target, .. } => format!("Renamed “{target}” to “{title}”."),
        Command::Delete { .. } => format!("Deleted “{title}”."),
        Command::Add(_) | Command::List { .. } | Command::Help => HELP.to_owned(),
    }
}

fn list_answer(
    page: Option<TaskListView>,
    filters: &ListTasksArgs,
    due: Option<DueWindow>,
    clock: &UserClock,
) -> String {
    let more = page.as_ref().is_some_and(|page| page.next_cursor.is_some());
    let mut tasks = page.map(|page| page.tasks).unwrap_or_default();
    if let Some(window) = due {
        tasks.retain(|task| due_of(task, clock).is_some_and(|at| window_holds(window, at, clock)));
        let when = match window {
            DueWindow::Overdue => "overdue",
            DueWindow::Today => "due today",
            DueWindow::Tomorrow => "due tomorrow",
            DueWindow::ThisWeek => "due this week",
        };
        let more = if more { " (of the first ones)" } else { "" };
        if tasks.is_empty() {
            return format!("Nothing is {when}{more}.");
        }
        let mut answer = match tasks.len() {
            1 => format!("1 task is {when}{more}:"),
            count => format!("{count} tasks are {when}{more}:"),
        };
        for task in &tasks {
            answer.push_str("\n- ");
            answer.push_str(&describe(task, clock));
        }
        return answer;
    }
    let status = filters.status.as_deref();
    let kind = match status {
        Some("pending") => "open tasks",
        Some("completed") => "completed tasks",
        _ => "tasks",
    };
    if tasks.is_empty() {
        let narrowed =
            filters.query.is_some() || filters.priority.is_some() || filters.tag.is_some();
        return match (status, narrowed) {
            (Some("pending"), false) => "Nothing is open: you're all caught up.".to_owned(),
            (None, false) => "You have no tasks yet. Try “add buy milk tomorrow”.".to_owned(),
            _ => format!("No {kind} match."),
        };
    }
    let more = if more { " (the first ones)" } else { "" };
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

/// Whether a task due `at` falls in `window`, on the user's clock (the list asked for open
/// tasks, unless the user asked for done ones).
fn window_holds(window: DueWindow, at: DateTime<FixedOffset>, clock: &UserClock) -> bool {
    let now = clock.local_now();
    let today = clock.today();
    let day = at.date_naive();
    match window {
        DueWindow::Overdue => at < now,
        DueWindow::Today => day == today,
        DueWindow::Tomorrow => day == today + Duration::days(1),
        DueWindow::ThisWeek => {
            let days_left = 6 - i64::from(today.weekday().num_days_from_monday());
            at >= clock.at(today, NaiveTime::MIN) && day <= today + Duration::days(days_left)
        }
    }
}

/// “buy milk” (high priority, due Thu 26 Nov 17:00, #home), or done.
fn describe(task: &TaskView, clock: &UserClock) -> String {
    let mut details = Vec::new();
    if task.completed {
        details.push("done".to_owned());
    }
    match task.priority {
        PriorityView::Medium => {}
        PriorityView::Low => details.push("low priority".to_owned()),
        PriorityView::High => details.push("high priority".to_owned()),
    }
    if let Some(due) = due_of(task, clock) {
        details.push(format!("due {}", due.format(DUE_FORMAT)));
    }
    if !task.tags.is_empty() {
        let tags: Vec<String> = task.tags.iter().map(|tag| format!("#{tag}")).collect();
        details.push(tags.join(" "));
    }
    if details.is_empty() {
        format!("“{}”", task.title)
    } else {
        format!("“{}” ({})", task.title, details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

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
        json!({"id": id, "title": title, "completed": false, "priority": "medium", "tags": [],
               "created_at": "2026-11-25T10:00:00.000000Z", "updated_at": "2026-11-25T10:00:00.000000Z"})
    }

    #[test]
    fn a_change_finds_its_task_then_acts_then_confirms() {
        let user = ChatMessage::User("complete buy milk".to_owned());
        let first = decide(std::slice::from_ref(&user), &clock());
        assert_eq!(
            first,
            Action::Call(ToolCall::List(ListTasksArgs {
                query: Some("buy milk".to_owned()),
                status: Some("pending".to_owned()),
                limit: Some(20),
                ..ListTasksArgs::default()
            }))
        );
        let found = tool(
            json!({"tasks": [task("t1", "Buy milk"), task("t2", "buy milk and eggs")], "next_cursor": null}),
        );
        let second = decide(&[user.clone(), found.clone()], &clock());
        assert_eq!(
            second,
            Action::Call(ToolCall::Complete(CompleteTaskArgs {
                task_id: "t1".to_owned(),
                completed: Some(true),
            }))
        );
        let done = tool(
            json!({"task_id": "t1", "status": "completed", "title": "Buy milk", "task": task("t1", "Buy milk")}),
        );
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
             "due_at": "2026-11-26T17:00:00.000000Z", "tags": ["home"],
             "created_at": "2026-11-25T10:00:00.000000Z", "updated_at": "2026-11-25T10:00:00.000000Z"}
        ], "next_cursor": null}));
        assert_eq!(
            decide(&[user, page], &clock()),
            Action::Say(
                "You have 1 open task:\n- “buy milk” (high priority, due Thu 26 Nov 17:00, #home)"
                    .to_owned()
            )
        );
    }

    fn task_due(id: &str, title: &str, due: &str) -> Value {
        let mut task = task(id, title);
        task["due_at"] = json!(due);
        task
    }

    #[test]
    fn overdue_lists_only_what_is_past_due() {
        // Now is Wednesday 25 November 2026, 10:00 UTC.
        let user = ChatMessage::User("show overdue tasks".to_owned());
        let Action::Call(ToolCall::List(asked)) = decide(std::slice::from_ref(&user), &clock())
        else {
            panic!("expected a list");
        };
        assert_eq!(asked.status.as_deref(), Some("pending"));
        assert_eq!(asked.limit, Some(DUE_LIST_LIMIT));
        let page = tool(json!({"tasks": [
            task_due("a", "pay bill", "2026-11-24T17:00:00.000000Z"),
            task_due("b", "call mum", "2026-11-25T17:00:00.000000Z"),
            task("c", "someday"),
        ], "next_cursor": null}));
        assert_eq!(
            decide(&[user, page.clone()], &clock()),
            Action::Say("1 task is overdue:\n- “pay bill” (due Tue 24 Nov 17:00)".to_owned())
        );
        let today = ChatMessage::User("what's due today?".to_owned());
        assert_eq!(
            decide(&[today, page], &clock()),
            Action::Say("1 task is due today:\n- “call mum” (due Wed 25 Nov 17:00)".to_owned())
        );
    }

    #[test]
    fn a_postponement_moves_the_old_due_date() {
        let user = ChatMessage::User("postpone pay bill by 2 days".to_owned());
        let found =
            tool(json!({"tasks": [task_due("a", "pay bill", "2026-11-24T17:00:00.000000Z")]}));
        assert_eq!(
            decide(&[user.clone(), found.clone()], &clock()),
            Action::Call(ToolCall::Update(UpdateTaskArgs {
                task_id: "a".to_owned(),
                due_at: Some("2026-11-26T17:00:00+00:00".to_owned()),
                ..UpdateTaskArgs::default()
            }))
        );
        let moved = tool(
            json!({"task_id": "a", "status": "updated", "title": "pay bill",
            "task": task_due("a", "pay bill", "2026-11-26T17:00:00.000000Z")}),
        );
        assert_eq!(
            decide(&[user, found, moved], &clock()),
            Action::Say("Moved “pay bill” to Thu 26 Nov 17:00.".to_owned())
        );
    }

    fn assistant(text: &str) -> ChatMessage {
        ChatMessage::Assistant {
            text: text.to_owned(),
            tool_calls: Vec::new(),
        }
    }

    fn change(id: &str, title: &str) -> ChatMessage {
        tool(json!({"task_id": id, "status": "completed", "title": title, "task": task(id, title)}))
    }

    #[test]
    fn several_tasks_in_one_sentence_are_found_and_changed_in_turn() {
        let user = ChatMessage::User("I finished buy milk and call mum".to_owned());
        let nothing = tool(json!({"tasks": []}));
        let mut messages = vec![user, nothing];
        let expect_lookup = |messages: &[ChatMessage], query: &str| match decide(messages, &clock())
        {
            Action::Call(ToolCall::List(args)) => assert_eq!(args.query.as_deref(), Some(query)),
            other => panic!("expected a lookup of {query}: {other:?}"),
        };
        expect_lookup(&messages, "buy milk");
        messages.push(tool(json!({"tasks": [task("m", "buy milk")]})));
        assert!(matches!(
            decide(&messages, &clock()),
            Action::Call(ToolCall::Complete(CompleteTaskArgs { ref task_id, .. })) if task_id == "m"
        ));
        messages.push(change("m", "buy milk"));
        expect_lookup(&messages, "call mum");
        messages.push(tool(json!({"tasks": [task("c", "call mum")]})));
        messages.push(change("c", "call mum"));
        assert_eq!(
            decide(&messages, &clock()),
            Action::Say("Marked “buy milk” and “call mum” as done.".to_owned())
        );
        // A task whose own title has "and" in it is one task.
        let user = ChatMessage::User("complete salt and pepper".to_owned());
        let found = tool(json!({"tasks": [task("s", "salt and pepper")]}));
        assert!(matches!(
            decide(&[user, found], &clock()),
            Action::Call(ToolCall::Complete(CompleteTaskArgs { ref task_id, .. })) if task_id == "s"
        ));
    }

    #[test]
    fn follow_ups_lean_on_the_conversation() {
        // "mark it done" after adding: the task the last turn named.
        let earlier = vec![
            ChatMessage::User("add buy milk".to_owned()),
            tool(
                json!({"task_id": "m", "status": "created", "title": "buy milk", "task": task("m", "buy milk")}),
            ),
            assistant("Added “buy milk”."),
            ChatMessage::User("mark it done".to_owned()),
        ];
        match decide(&earlier, &clock()) {
            Action::Call(ToolCall::List(args)) => {
                assert_eq!(args.query.as_deref(), Some("buy milk"))
            }
            other => panic!("{other:?}"),
        }
        // "the second one" after a list.
        let earlier = vec![
            ChatMessage::User("what's still open?".to_owned()),
            tool(json!({"tasks": [task("a", "alpha"), task("b", "beta")]})),
            assistant("You have 2 open tasks: ..."),
            ChatMessage::User("complete the second one".to_owned()),
        ];
        match decide(&earlier, &clock()) {
            Action::Call(ToolCall::List(args)) => assert_eq!(args.query.as_deref(), Some("beta")),
            other => panic!("{other:?}"),
        }
        // The answer to "Which one do you mean?".
        let earlier = vec![
            ChatMessage::User("delete report".to_owned()),
            tool(json!({"tasks": [task("a", "report for Anna"), task("b", "report for Ben")]})),
            assistant(
                "Several tasks match “report”: “report for Anna”, “report for Ben”. Which one do you mean?",
            ),
            ChatMessage::User("the one for Ben".to_owned()),
        ];
        match decide(&earlier, &clock()) {
            Action::Call(ToolCall::List(args)) => {
                assert_eq!(args.query.as_deref(), Some("report for Ben"));
                assert_eq!(args.status.as_deref(), Some("all"));
            }
            other => panic!("{other:?}"),
        }
        // An answer that names no candidate, or both, is not guessed at.
        let mut unclear = earlier.clone();
        unclear.pop();
        unclear.push(ChatMessage::User("the one for Carl".to_owned()));
        assert_eq!(decide(&unclear, &clock()), Action::Say(HELP.to_owned()));
    }

    proptest::proptest! {
        /// Whatever the user answers after a list and a question, the agent decides without
        /// panicking (references, ordinals, answers and several names included).
        #[test]
        fn any_follow_up_is_decided(answer in "\\PC{0,60}", verb in proptest::sample::select(vec![
            "", "complete ", "delete ", "mark ", "reopen ", "the one for ", "move ", "make ",
        ])) {
            let earlier = vec![
                ChatMessage::User("delete report".to_owned()),
                tool(json!({"tasks": [task("a", "report for Anna"), task("b", "report for Ben")]})),
                assistant("Several tasks match “report”: “report for Anna”, “report for Ben”. Which one do you mean?"),
                ChatMessage::User(format!("{verb}{answer}")),
                tool(json!({"tasks": []})),
            ];
            let _ = decide(&earlier[..4], &clock());
            let _ = decide(&earlier, &clock());
        }
    }
}
