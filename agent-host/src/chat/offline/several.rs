//! Several tasks in one sentence: "I finished buy milk and call mum", "delete A, B and C".
//!
//! The whole phrase is looked up first, as for one task (a task may be called "buy milk and
//! eggs"). Only when nothing matches it is it read as several names, each then found and
//! changed in turn: the phases after that first lookup come in pairs (find, change). The
//! phases are the agent's (`several_step` in `mod.rs`); here are the names and the sentence.

use super::command::Command;

/// "a, b and c" as `[a, b, c]`; `None` for one name.
pub fn split(target: &str) -> Option<Vec<String>> {
    let names: Vec<String> = target
        .replace(", and ", ", ")
        .split([','])
        .flat_map(|part| part.split(" and "))
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect();
    (names.len() > 1).then_some(names)
}

/// The sentence after several changes went through.
pub fn confirm(command: &Command, titles: &[String]) -> String {
    let quoted: Vec<String> = titles.iter().map(|title| format!("“{title}”")).collect();
    let list = match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, others)) => format!("{} and {last}", others.join(", ")),
        None => "nothing".to_owned(),
    };
    match command {
        Command::Complete {
            completed: true, ..
        } => format!("Marked {list} as done."),
        Command::Complete { .. } => format!("Reopened {list}."),
        _ => format!("Deleted {list}."),
    }
}
