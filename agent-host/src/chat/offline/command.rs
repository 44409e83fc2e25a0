//! Plain task commands in English, parsed into a [`Command`]: what the offline agent does.
//!
//! The parser is deliberately small and predictable: a command is recognised by how it starts
//! ("add", "complete", "rename ... to ...", "delete", "what", "show", ...), and the details of a
//! new task (priority, due date, tags) are picked out of it wherever they are.

use todo_mcp::tools::dto::{AddTaskArgs, ListTasksArgs};

use super::dates;
use crate::chat::clock::UserClock;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Add(AddTaskArgs),
    List(ListTasksArgs),
    /// Complete (or reopen) the task that `target` names.
    Complete {
        target: String,
        completed: bool,
    },
    Rename {
        target: String,
        title: String,
    },
    Delete {
        target: String,
    },
    Help,
}

const ADD_PREFIXES: [&str; 14] = [
    "add a new task to ",
    "add a task to ",
    "add a new task ",
    "add a task ",
    "add task ",
    "add ",
    "create a task to ",
    "create a task ",
    "create task ",
    "create ",
    "new task ",
    "remind me to ",
    "remember to ",
    "i need to ",
];
const COMPLETE_PREFIXES: [&str; 14] = [
    "complete ",
    "finish ",
    "finished ",
    "i finished ",
    "i've finished ",
    "i have finished ",
    "i completed ",
    "i did ",
    "i'm done with ",
    "im done with ",
    "done with ",
    "done ",
    "check off ",
    "tick off ",
];
const REOPEN_PREFIXES: [&str; 4] = ["reopen ", "re-open ", "uncomplete ", "undo "];
const DELETE_PREFIXES: [&str; 5] = ["delete ", "remove ", "drop ", "get rid of ", "cancel "];
const LIST_STARTS: [&str; 12] = [
    "what",
    "which",
    "show",
    "list",
    "do i have",
    "any ",
    "search",
    "find",
    "tasks",
    "my tasks",
    "open tasks",
    "how many",
];

/// Parses one message.
pub fn parse(message: &str, clock: &UserClock) -> Command {
    let text = normalize(message);
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = strip_any(
        &text,
        &lower,
        &["rename ", "change the title of ", "retitle "],
    ) && let Some(split) = rest.to_ascii_lowercase().rfind(" to ")
    {
        let target = target(&rest[..split]);
        let title = unquote(rest[split + 4..].trim());
        if !target.is_empty() && !title.is_empty() {
            return Command::Rename {
                target,
                title: title.to_owned(),
            };
        }
    }
    if let Some(rest) = strip_any(&text, &lower, &DELETE_PREFIXES) {
        return Command::Delete {
            target: target(rest),
        };
    }
    if let Some(rest) = strip_any(&text, &lower, &REOPEN_PREFIXES) {
        return Command::Complete {
            target: target(rest),
            completed: false,
        };
    }
    if let Some(rest) = lower.strip_prefix("mark ").map(|_| &text["mark ".len()..]) {
        let rest_lower = rest.to_ascii_lowercase();
        for (suffix, completed) in [
            (" as not done", false),
            (" as open", false),
            (" as undone", false),
            (" as done", true),
            (" as complete", true),
            (" as completed", true),
            (" as finished", true),
            (" done", true),
            (" complete", true),
        ] {
            if rest_lower.ends_with(suffix) {
                return Command::Complete {
                    target: target(&rest[..rest.len() - suffix.len()]),
                    completed,
                };
            }
        }
    }
    if let Some(rest) = strip_any(&text, &lower, &COMPLETE_PREFIXES) {
        return Command::Complete {
            target: target(rest),
            completed: true,
        };
    }
    for suffix in [" is done", " is finished", " is complete"] {
        if lower.ends_with(suffix) {
            return Command::Complete {
                target: target(&text[..text.len() - suffix.len()]),
                completed: true,
            };
        }
    }
    if let Some(rest) = strip_any(&text, &lower, &ADD_PREFIXES) {
        return new_task(rest, clock).map_or(Command::Help, Command::Add);
    }
    if LIST_STARTS.iter().any(|start| lower.starts_with(start)) {
        return Command::List(list_filters(&lower));
    }
    Command::Help
}

/// Trims, drops a trailing `?`, `!` or `.` and a polite opening.
fn normalize(message: &str) -> String {
    let mut text = message
        .trim()
        .trim_end_matches(['?', '!', '.', ' '])
        .to_owned();
    loop {
        let lower = text.to_ascii_lowercase();
        let Some(polite) = ["please ", "can you ", "could you ", "hey ", "ok ", "okay "]
            .iter()
            .find(|polite| lower.starts_with(**polite))
        else {
            break;
        };
        text = text[polite.len()..].trim_start().to_owned();
    }
    text.trim_start_matches([',', ' ']).to_owned()
}

/// `text` after the first of `prefixes` that `lower` (its ASCII lower case) starts with.
fn strip_any<'a>(text: &'a str, lower: &str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes
        .iter()
        .find(|prefix| lower.starts_with(**prefix))
        .map(|prefix| text[prefix.len()..].trim())
}

/// A task named in a command: without "the task", "my", quotes and a trailing "task".
fn target(raw: &str) -> String {
    let mut target = unquote(raw.trim()).to_owned();
    loop {
        let lower = target.to_ascii_lowercase();
        let Some(prefix) = ["the task ", "task ", "the ", "my "]
            .iter()
            .find(|prefix| lower.starts_with(**prefix))
        else {
            break;
        };
        target = target[prefix.len()..].trim_start().to_owned();
    }
    if target.to_ascii_lowercase().ends_with(" task") {
        target.truncate(target.len() - " task".len());
    }
    unquote(target.trim()).to_owned()
}

fn unquote(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, '"' | '\'' | '“' | '”' | '‘' | '’'))
        .trim()
}

/// `add_task` arguments from "buy milk tomorrow, high priority #home".
fn new_task(spec: &str, clock: &UserClock) -> Option<AddTaskArgs> {
    let originals: Vec<&str> = spec.split_whitespace().collect();
    let words: Vec<String> = originals
        .iter()
        .map(|word| {
            word.trim_matches(|c: char| matches!(c, ',' | ';' | '.' | '!' | '?'))
                .to_ascii_lowercase()
        })
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let mut used = vec![false; words.len()];
    let mut arguments = AddTaskArgs::default();

    if let Some(found) = dates::find(&words, clock) {
        used[found.start..found.end]
            .iter_mut()
            .for_each(|u| *u = true);
        arguments.due_at = Some(found.due.to_rfc3339());
    }
    let mut priority = None;
    let mut tags = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let next = words.get(i + 1).copied().unwrap_or("");
        match (words[i], next) {
            (level @ ("high" | "low" | "medium" | "normal"), "priority") if !used[i] => {
                priority = Some(if level == "normal" { "medium" } else { level });
                used[i] = true;
                used[i + 1] = true;
                i += 1;
            }
            ("priority", level @ ("high" | "low" | "medium" | "normal")) if !used[i] => {
                priority = Some(if level == "normal" { "medium" } else { level });
                used[i] = true;
                used[i + 1] = true;
                i += 1;
            }
            ("urgent" | "urgently" | "asap", _) => {
                priority = Some("high");
                used[i] = true;
            }
            ("tagged" | "tag" | "tags", tag) if !tag.is_empty() => {
                used[i] = true;
                let mut k = i + 1;
                while k < words.len() && !used[k] {
                    if words[k] != "and" {
                        tags.push(words[k].trim_start_matches('#').to_owned());
                    }
                    used[k] = true;
                    // "tagged work, home and errands": a list ends where commas stop.
                    let listed = originals[k].ends_with(',') || words.get(k + 1) == Some(&"and");
                    k += 1;
                    if !listed {
                        break;
                    }
                }
                i = k - 1;
            }
            (word, _) if word.len() > 1 && word.starts_with('#') => {
                tags.push(word[1..].to_owned());
                used[i] = true;
            }
            _ => {}
        }
        i += 1;
    }
    // Connectors left dangling by what was taken out: "buy milk for", "with high priority".
    let mut title: Vec<&str> = originals
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(word, _)| *word)
        .collect();
    let dangling = ["for", "by", "due", "with", "and", "on", "at", "-", "–"];
    while title.last().is_some_and(|word| {
        dangling.contains(&word.trim_matches(',').to_ascii_lowercase().as_str())
    }) {
        title.pop();
    }
    let title = title.join(" ");
    let title = unquote(title.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | ' ' | '-')));
    if title.is_empty() {
        return None;
    }
    arguments.title = title.to_owned();
    arguments.priority = priority.map(str::to_owned);
    arguments.tags = (!tags.is_empty()).then_some(tags);
    Some(arguments)
}

/// `list_tasks` arguments from "what's still open?", "show high priority tasks tagged work".
fn list_filters(lower: &str) -> ListTasksArgs {
    let words: Vec<&str> = lower
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| matches!(c, ',' | ';' | '.' | '!' | '?')))
        .collect();
    let mut filters = ListTasksArgs::default();
    let has = |wanted: &[&str]| words.iter().any(|word| wanted.contains(word));
    if has(&["done", "completed", "finished", "complete"]) {
        filters.status = Some("completed".to_owned());
    } else if has(&[
        "open",
        "pending",
        "left",
        "remaining",
        "todo",
        "unfinished",
        "incomplete",
        "still",
        "outstanding",
    ]) || lower.contains("to do")
    {
        filters.status = Some("pending".to_owned());
    }
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        match (*word, next) {
            (level @ ("high" | "low" | "medium"), "priority") => {
                filters.priority = Some(level.to_owned());
            }
            ("tagged" | "tag", tag) if !tag.is_empty() => {
                filters.tag = Some(tag.trim_start_matches('#').to_owned());
            }
            (word, _) if word.len() > 1 && word.starts_with('#') => {
                filters.tag = Some(word[1..].to_owned());
            }
            _ => {}
        }
    }
    for marker in [
        "search for ",
        "search ",
        "find ",
        "about ",
        "matching ",
        "containing ",
        "mentioning ",
    ] {
        if let Some(at) = lower.find(marker) {
            let query = lower[at + marker.len()..].trim();
            let query = query
                .strip_prefix("tasks ")
                .unwrap_or(query)
                .trim_start_matches("about ")
                .trim();
            if !query.is_empty() && query != "tasks" {
                filters.query = Some(unquote(query).to_owned());
            }
            break;
        }
    }
    filters
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::chat::clock::test_clock;

    fn clock() -> UserClock {
        test_clock("UTC")
    }

    fn add(message: &str) -> Value {
        match parse(message, &clock()) {
            Command::Add(arguments) => serde_json::to_value(arguments).unwrap(),
            other => panic!("{message:?} parsed as {other:?}"),
        }
    }

    fn list(message: &str) -> Value {
        match parse(message, &clock()) {
            Command::List(arguments) => serde_json::to_value(arguments).unwrap(),
            other => panic!("{message:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn adds_pick_out_priority_date_and_tags() {
        assert_eq!(
            add("add buy milk tomorrow high priority"),
            json!({"title": "buy milk", "priority": "high", "due_at": "2026-11-26T17:00:00+00:00"})
        );
        assert_eq!(
            add("Add buy milk for tomorrow, high priority"),
            json!({"title": "buy milk", "priority": "high", "due_at": "2026-11-26T17:00:00+00:00"})
        );
        assert_eq!(
            add("please add call the bank next friday at 9am #finance"),
            json!({"title": "call the bank", "due_at": "2026-11-27T09:00:00+00:00", "tags": ["finance"]})
        );
        assert_eq!(
            add("remind me to water the plants in 3 days tagged home, garden"),
            json!({"title": "water the plants", "due_at": "2026-11-28T17:00:00+00:00", "tags": ["home", "garden"]})
        );
        assert_eq!(add("add Write Report"), json!({"title": "Write Report"}));
        assert_eq!(parse("add", &clock()), Command::Help);
        assert_eq!(parse("add tomorrow", &clock()), Command::Help);
    }

    #[test]
    fn questions_become_list_filters() {
        assert_eq!(list("what's still open?"), json!({"status": "pending"}));
        assert_eq!(list("What is left to do"), json!({"status": "pending"}));
        assert_eq!(list("show tasks tagged work"), json!({"tag": "work"}));
        assert_eq!(list("show my tasks"), json!({}));
        assert_eq!(
            list("list open high priority tasks"),
            json!({"status": "pending", "priority": "high"})
        );
        assert_eq!(list("what have I finished"), json!({"status": "completed"}));
        assert_eq!(list("find milk"), json!({"query": "milk"}));
        assert_eq!(
            list("search for tasks about the report"),
            json!({"query": "the report"})
        );
    }

    #[test]
    fn changes_name_their_task() {
        let complete = |target: &str| Command::Complete {
            target: target.to_owned(),
            completed: true,
        };
        assert_eq!(parse("complete buy milk", &clock()), complete("buy milk"));
        assert_eq!(parse("I finished the report", &clock()), complete("report"));
        assert_eq!(
            parse("mark \"buy milk\" as done", &clock()),
            complete("buy milk")
        );
        assert_eq!(parse("buy milk is done.", &clock()), complete("buy milk"));
        assert_eq!(
            parse("reopen buy milk", &clock()),
            Command::Complete {
                target: "buy milk".to_owned(),
                completed: false
            }
        );
        assert_eq!(
            parse("rename buy milk to buy oat milk", &clock()),
            Command::Rename {
                target: "buy milk".to_owned(),
                title: "buy oat milk".to_owned()
            }
        );
        assert_eq!(
            parse("delete the task buy milk", &clock()),
            Command::Delete {
                target: "buy milk".to_owned()
            }
        );
        assert_eq!(parse("hello there", &clock()), Command::Help);
    }

    proptest::proptest! {
        /// Whatever a person types, the parser answers without panicking, and a new task's
        /// title is never empty.
        #[test]
        fn any_message_parses(message in "\\PC{0,120}") {
            if let Command::Add(arguments) = parse(&message, &clock()) {
                proptest::prop_assert!(!arguments.title.trim().is_empty());
            }
        }

        #[test]
        fn commands_with_odd_text_parse(
            verb in proptest::sample::select(vec!["add ", "complete ", "rename ", "delete ", "mark ", "show ", "what "]),
            rest in "[ a-zA-Zé#,.:0-9“”'\"-]{0,60}",
        ) {
            let _ = parse(&format!("{verb}{rest}"), &clock());
        }
    }
}
