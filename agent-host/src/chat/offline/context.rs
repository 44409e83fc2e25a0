//! What the offline agent takes from the conversation before the user's message: the task "it"
//! or "the second one" means, and the answer to its own question "Which one do you mean?".

use todo_mcp::tools::dto::{TaskChangeView, TaskListView};

use super::command::{self, Command};
use crate::chat::{clock::UserClock, model::ChatMessage};

/// How the agent asks which task a name means; its next turn reads an answer to it.
pub const AMBIGUOUS: &str = "Which one do you mean?";

/// `command` with a reference ("it", "that", "the second one", "the last one") in its target
/// replaced by the title it refers to; unchanged when there is none to resolve.
pub fn resolve_reference(mut command: Command, earlier: &[ChatMessage]) -> Command {
    let Some(target) = command.target_mut() else {
        return command;
    };
    let reference = target.to_ascii_lowercase();
    let reference = reference
        .trim_end_matches(" one")
        .trim_end_matches(" task")
        .trim();
    let title = match reference {
        "it" | "that" | "this" => last_task_named(earlier),
        other => ordinal(other).and_then(|n| listed(earlier, n)),
    };
    if let Some(title) = title {
        *target = title;
    }
    command
}

/// The answer to "Which one do you mean?": the earlier command with the one task of the
/// candidates that the answer names ("the one for Ben", "report for Ben", "the second").
pub fn answer_to_question(
    answer: &str,
    earlier: &[ChatMessage],
    clock: &UserClock,
) -> Option<Command> {
    let asked = earlier.iter().rposition(|message| {
        matches!(message, ChatMessage::Assistant { text, .. } if text.contains(AMBIGUOUS))
    })?;
    let question_to = earlier[..asked]
        .iter()
        .rev()
        .find_map(|message| match message {
            ChatMessage::User(text) => Some(text),
            _ => None,
        })?;
    let mut command = command::parse(question_to, clock);
    let candidates = last_list(&earlier[..asked])?;
    let answer = answer
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .to_lowercase();
    let mut named = answer.as_str();
    for filler in [
        "i mean ",
        "the one for ",
        "the one with ",
        "the one about ",
        "the one ",
        "the ",
    ] {
        named = named.strip_prefix(filler).unwrap_or(named);
    }
    let named = named.trim_end_matches(" one").trim();
    let title = match ordinal(named) {
        Some(n) => nth(&candidates, n)?,
        None => {
            let matching: Vec<&String> = candidates
                .iter()
                .filter(|title| !named.is_empty() && title.to_lowercase().contains(named))
                .collect();
            match matching.as_slice() {
                [one] => (*one).clone(),
                _ => return None,
            }
        }
    };
    *command.target_mut()? = title;
    Some(command)
}

/// The title of the task the conversation last named: the last change, or a list of one.
fn last_task_named(earlier: &[ChatMessage]) -> Option<String> {
    results_newest_first(earlier).find_map(|content| {
        if let Ok(change) = serde_json::from_str::<TaskChangeView>(content) {
            return Some(change.title);
        }
        match serde_json::from_str::<TaskListView>(content) {
            Ok(page) if page.tasks.len() == 1 => {
                page.tasks.into_iter().next().map(|task| task.title)
            }
            _ => None,
        }
    })
}

/// The titles of the last list the conversation showed.
fn last_list(earlier: &[ChatMessage]) -> Option<Vec<String>> {
    results_newest_first(earlier).find_map(|content| {
        serde_json::from_str::<TaskListView>(content)
            .ok()
            .map(|page| page.tasks.into_iter().map(|task| task.title).collect())
    })
}

/// The successful tool results of the conversation, newest first.
fn results_newest_first(earlier: &[ChatMessage]) -> impl Iterator<Item = &str> {
    earlier.iter().rev().filter_map(|message| match message {
        ChatMessage::Tool {
            content,
            is_error: false,
            ..
        } => Some(content.as_str()),
        _ => None,
    })
}

/// The `n`th title (from 1; 0 is the last) of the last list.
fn listed(earlier: &[ChatMessage], n: usize) -> Option<String> {
    nth(&last_list(earlier)?, n)
}

fn nth(titles: &[String], n: usize) -> Option<String> {
    if n == 0 {
        titles.last().cloned()
    } else {
        titles.get(n - 1).cloned()
    }
}

/// `first`, `2nd`, `third`, `number 4`, `#5`, `last` (0).
fn ordinal(word: &str) -> Option<usize> {
    Some(match word.trim() {
        "first" | "1st" | "number 1" | "#1" => 1,
        "second" | "2nd" | "number 2" | "#2" => 2,
        "third" | "3rd" | "number 3" | "#3" => 3,
        "fourth" | "4th" | "number 4" | "#4" => 4,
        "fifth" | "5th" | "number 5" | "#5" => 5,
        "last" => 0,
        _ => return None,
    })
}
