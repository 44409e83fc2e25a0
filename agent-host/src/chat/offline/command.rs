//! Plain task commands in English, parsed into a [`Command`]: what the offline agent does.
//!
//! The parser is deliberately small and predictable: a command is recognised by how it starts
//! ("add", "complete", "rename ... to ...", "move ... to ...", "make ... high priority",
//! "delete", "what", "show", ...), and the details of a new task (priority, due date, tags) are
//! picked out of it wherever they are.

use chrono::{DateTime, Duration, FixedOffset};
use todo_mcp::tools::dto::{AddTaskArgs, ListTasksArgs};

use super::dates;
use crate::chat::clock::UserClock;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Add(AddTaskArgs),
    /// A list; `due` narrows it to a window of due dates, which the tool cannot filter by, so
    /// the agent filters the page it gets.
    List {
        filters: ListTasksArgs,
        due: Option<DueWindow>,
    },
    /// Give the task `target` names a new due date.
    Reschedule {
        target: String,
        when: NewDue,
    },
    /// Give the task `target` names a new priority.
    Prioritize {
        target: String,
        priority: &'static str,
    },
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

impl Command {
    /// The task a change names, when it is a change.
    pub fn target_mut(&mut self) -> Option<&mut String> {
        match self {
            Command::Complete { target, .. }
            | Command::Reschedule { target, .. }
            | Command::Prioritize { target, .. }
            | Command::Rename { target, .. }
            | Command::Delete { target } => Some(target),
            Command::Add(_) | Command::List { .. } | Command::Help => None,
        }
    }
}

/// Which due dates a list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueWindow {
    /// Due before now and still open.
    Overdue,
    /// Due today, where the user is.
    Today,
    Tomorrow,
    /// Due from now to the end of Sunday.
    ThisWeek,
}

/// A task's new due date: a date, or its old one (or now) moved by a span.
#[derive(Debug, Clone, PartialEq)]
pub enum NewDue {
    At(DateTime<FixedOffset>),
    Later(Duration),
}

const RESCHEDULE_PREFIXES: [&str; 9] = [
    "reschedule ",
    "move ",
    "postpone ",
    "push back ",
    "push ",
    "delay ",
    "change the due date of ",
    "set the due date of ",
    "change the date of ",
];
/// Questions that ask what the assistant is, not for tasks.
const HELP_PHRASES: [&str; 9] = [
    "what can you do",
    "what can i say",
    "what do you do",
    "what do you understand",
    "what are you",
    "who are you",
    "how do i",
    "how does this work",
    "help",
];

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
const LIST_STARTS: [&str; 13] = [
    "what",
    "which",
    "show",
    "list",
    "do i have",
    "any ",
    "anything ",
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
    if HELP_PHRASES.iter().any(|phrase| lower.starts_with(phrase)) {
        return Command::Help;
    }
    if let Some(rest) = strip_any(&text, &lower, &RESCHEDULE_PREFIXES)
        && let Some(command) = reschedule(rest, clock)
    {
        return command;
    }
    if let Some(command) = prioritize(&text, &lower) {
        return command;
    }
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
        let (filters, due) = list_filters(&lower);
        return Command::List { filters, due };
    }
    Command::Help
}

/// "call mum to next monday", "the report by 2 days", "rent until the 1st of january".
fn reschedule(rest: &str, clock: &UserClock) -> Option<Command> {
    let lower = rest.to_ascii_lowercase();
    for connector in [" by ", " to ", " until ", " till ", " for ", " on "] {
        let Some(split) = lower.rfind(connector) else {
            continue;
        };
        let target = target(&rest[..split]);
        let when: Vec<&str> = lower[split + connector.len()..]
            .split_whitespace()
            .map(|word| word.trim_matches(|c: char| matches!(c, ',' | '.' | '!' | '?')))
            .collect();
        if target.is_empty() || when.is_empty() {
            continue;
        }
        let postponed = if connector == " by " {
            span(&when).map(NewDue::Later)
        } else {
            None
        };
        // The whole rest must be the date: "move dinner to the garden" is no reschedule.
        let Some(when) = postponed.or_else(|| {
            dates::find(&when, clock)
                .filter(|found| found.start == 0 && found.end == when.len())
                .map(|found| NewDue::At(found.due))
        }) else {
            continue;
        };
        return Some(Command::Reschedule { target, when });
    }
    None
}

/// "2 days", "a week", "3 hours": how far a postponement moves a task.
fn span(words: &[&str]) -> Option<Duration> {
    let [count, unit] = words else { return None };
    let count = match *count {
        "a" | "an" | "one" => 1,
        number => number
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=3650).contains(n))?,
    };
    Some(match *unit {
        "hour" | "hours" => Duration::hours(count),
        "day" | "days" => Duration::days(count),
        "week" | "weeks" => Duration::weeks(count),
        _ => return None,
    })
}

/// "make X high priority", "set the priority of X to low", "change X to high priority",
/// "prioritize X", "deprioritize X".
fn prioritize(text: &str, lower: &str) -> Option<Command> {
    let level = |word: &str| match word {
        "high" | "urgent" | "important" => Some("high"),
        "medium" | "normal" => Some("medium"),
        "low" => Some("low"),
        _ => None,
    };
    let command = |target: &str, priority| {
        let target = self::target(target);
        (!target.is_empty()).then_some(Command::Prioritize { target, priority })
    };
    for (prefix, priority) in [
        ("prioritize ", "high"),
        ("prioritise ", "high"),
        ("deprioritize ", "low"),
        ("deprioritise ", "low"),
    ] {
        if lower.starts_with(prefix) {
            return command(&text[prefix.len()..], priority);
        }
    }
    for prefix in [
        "set the priority of ",
        "change the priority of ",
        "set priority of ",
        "change priority of ",
    ] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let split = rest.rfind(" to ")?;
            let priority = level(rest[split + 4..].trim())?;
            return command(&text[prefix.len()..prefix.len() + split], priority);
        }
    }
    // "make X high priority", "set X to low priority", "change X to high priority".
    let rest_at = ["make ", "set ", "change ", "mark "]
        .iter()
        .find(|verb| lower.starts_with(**verb))?
        .len();
    let rest = &lower[rest_at..];
    let without = rest.strip_suffix(" priority")?;
    let (target_end, word) = without.rsplit_once(' ')?;
    let priority = level(word)?;
    let target_end = target_end
        .strip_suffix(" to")
        .or_else(|| target_end.strip_suffix(" as"))
        .unwrap_or(target_end);
    command(&text[rest_at..rest_at + target_end.len()], priority)
}

/// Verbs a typo in the first word is mended to ("ad" → "add", "complet" → "complete", "shwo" →
/// "show"). Not `delete` and `remove`: a word one letter from them ("remote") must not delete.
const MENDABLE_VERBS: [&str; 12] = [
    "add",
    "create",
    "complete",
    "finish",
    "rename",
    "reopen",
    "move",
    "reschedule",
    "postpone",
    "show",
    "list",
    "mark",
];
/// Words one letter from a verb that are words of their own.
const NOT_TYPOS: [&str; 20] = [
    "and", "ado", "dad", "odd", "how", "now", "low", "row", "snow", "slow", "stow", "shoe", "last",
    "lost", "lust", "mist", "more", "mode", "love", "mask",
];

/// The message with a one-letter typo in its first word mended, when exactly one verb is that
/// close and the word is not an English word of its own.
fn mend_first_word(text: &str) -> String {
    let (first, rest) = text.split_once(' ').unwrap_or((text, ""));
    let lower = first.to_ascii_lowercase();
    if lower.len() < 2
        || NOT_TYPOS.contains(&lower.as_str())
        || MENDABLE_VERBS.contains(&lower.as_str())
    {
        return text.to_owned();
    }
    let close: Vec<&str> = MENDABLE_VERBS
        .iter()
        .copied()
        .filter(|verb| strsim::damerau_levenshtein(&lower, verb) == 1)
        .collect();
    match close.as_slice() {
        [verb] if !rest.is_empty() => format!("{verb} {rest}"),
        _ => text.to_owned(),
    }
}

/// Trims, drops a trailing `?`, `!` or `.` and a polite opening, and mends a typo in the verb.
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
    mend_first_word(text.trim_start_matches([',', ' ']))
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

/// `list_tasks` arguments from "what's still open?", "show high priority tasks tagged work",
/// and the window of due dates of "show overdue tasks", "what's due today?".
fn list_filters(lower: &str) -> (ListTasksArgs, Option<DueWindow>) {
    let words: Vec<&str> = lower
        .split_whitespace()
        .map(|word| word.trim_matches(|c: char| matches!(c, ',' | ';' | '.' | '!' | '?')))
        .collect();
    let mut filters = ListTasksArgs::default();
    let has = |wanted: &[&str]| words.iter().any(|word| wanted.contains(word));
    let due = if has(&["overdue", "late"]) || lower.contains("past due") {
        Some(DueWindow::Overdue)
    } else if lower.contains("this week") {
        Some(DueWindow::ThisWeek)
    } else if has(&["today", "tonight"]) {
        Some(DueWindow::Today)
    } else if has(&["tomorrow"]) {
        Some(DueWindow::Tomorrow)
    } else {
        None
    };
    let done = has(&["done", "completed", "finished", "complete"]);
    if due == Some(DueWindow::Overdue) || (due.is_some() && !done) {
        // What is due is what is not done yet; overdue means not done.
        filters.status = Some("pending".to_owned());
    } else if done {
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
    (filters, due)
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
            Command::List { filters, due: None } => serde_json::to_value(filters).unwrap(),
            other => panic!("{message:?} parsed as {other:?}"),
        }
    }

    fn due_window(message: &str) -> (Value, DueWindow) {
        match parse(message, &clock()) {
            Command::List {
                filters,
                due: Some(due),
            } => (serde_json::to_value(filters).unwrap(), due),
            other => panic!("{message:?} parsed as {other:?}"),
        }
    }

    fn reschedule(target: &str, due: &str) -> Command {
        Command::Reschedule {
            target: target.to_owned(),
            when: NewDue::At(DateTime::parse_from_rfc3339(due).unwrap()),
        }
    }

    fn prioritize(target: &str, priority: &'static str) -> Command {
        Command::Prioritize {
            target: target.to_owned(),
            priority,
        }
    }

    #[test]
    fn a_typo_in_the_verb_is_mended_but_never_into_a_deletion() {
        assert_eq!(add("ad buy milk"), json!({"title": "buy milk"}));
        assert_eq!(
            parse("complet buy milk", &clock()),
            Command::Complete {
                target: "buy milk".to_owned(),
                completed: true
            }
        );
        assert_eq!(list("shwo my tasks"), json!({}));
        assert_eq!(parse("remote work setup", &clock()), Command::Help);
        assert_eq!(parse("and buy milk", &clock()), Command::Help);
    }

    #[test]
    fn questions_about_the_assistant_get_help() {
        for question in [
            "what can you do?",
            "Help",
            "how do I add a task?",
            "who are you",
        ] {
            assert_eq!(parse(question, &clock()), Command::Help, "{question}");
        }
    }

    #[test]
    fn due_questions_become_windows() {
        assert_eq!(
            due_window("show overdue tasks"),
            (json!({"status": "pending"}), DueWindow::Overdue)
        );
        assert_eq!(due_window("what's due today?").1, DueWindow::Today);
        assert_eq!(due_window("anything due tomorrow?").1, DueWindow::Tomorrow);
        assert_eq!(due_window("what's due this week").1, DueWindow::ThisWeek);
        assert_eq!(
            due_window("any high priority tasks due tomorrow"),
            (
                json!({"status": "pending", "priority": "high"}),
                DueWindow::Tomorrow
            )
        );
    }

    #[test]
    fn moves_and_postponements_reschedule() {
        // Today is Wednesday 25 November 2026, 10:00 UTC.
        assert_eq!(
            parse("move call mum to next monday", &clock()),
            reschedule("call mum", "2026-11-30T17:00:00+00:00")
        );
        assert_eq!(
            parse("reschedule the dentist to friday at 9am", &clock()),
            reschedule("dentist", "2026-11-27T09:00:00+00:00")
        );
        assert_eq!(
            parse("postpone pay rent until the 1st of january", &clock()),
            reschedule("pay rent", "2027-01-01T17:00:00+00:00")
        );
        assert_eq!(
            parse("postpone write report by 2 days", &clock()),
            Command::Reschedule {
                target: "write report".to_owned(),
                when: NewDue::Later(Duration::days(2)),
            }
        );
        assert_eq!(
            parse("move talk to bob to tomorrow by 5pm", &clock()),
            reschedule("talk to bob", "2026-11-26T17:00:00+00:00")
        );
        // Not a date after "to": not a reschedule.
        assert!(matches!(
            parse("move dinner to the garden", &clock()),
            Command::Help
        ));
    }

    #[test]
    fn priority_changes_name_their_task_and_level() {
        assert_eq!(
            parse("make buy milk high priority", &clock()),
            prioritize("buy milk", "high")
        );
        assert_eq!(
            parse("set the priority of the report to low", &clock()),
            prioritize("report", "low")
        );
        assert_eq!(
            parse("change call mum to medium priority", &clock()),
            prioritize("call mum", "medium")
        );
        assert_eq!(
            parse("prioritize taxes", &clock()),
            prioritize("taxes", "high")
        );
    }

    #[test]
    fn a_time_after_the_date_is_the_due_time() {
        assert_eq!(
            add("add write report by friday 5pm"),
            json!({"title": "write report", "due_at": "2026-11-27T17:00:00+00:00"})
        );
        assert_eq!(
            add("add pay rent on the 1st of january"),
            json!({"title": "pay rent", "due_at": "2027-01-01T17:00:00+00:00"})
        );
        assert_eq!(
            add("add call grandma december 24 at 10:00"),
            json!({"title": "call grandma", "due_at": "2026-12-24T10:00:00+00:00"})
        );
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
            verb in proptest::sample::select(vec![
                "add ", "complete ", "rename ", "delete ", "mark ", "show ", "what ", "move ",
                "postpone ", "make ", "set the priority of ", "change ", "show overdue ",
            ]),
            rest in "[ a-zA-Zé#,.:0-9“”'\"-]{0,60}",
        ) {
            let _ = parse(&format!("{verb}{rest}"), &clock());
        }
    }
}
