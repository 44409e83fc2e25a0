//! The host's modules form layers, and no module imports one above it (docs/ARCHITECTURE.md).
//!
//! This reads every source file of the crate, collects each `crate::...` and `super::...` path
//! (in `use` trees and inline), and checks it against the layer lists below: at the first
//! segment where the importing module and the imported path part, the imported module must
//! come earlier in that parent's list. An item of a parent module (`super::Something` that is
//! not a module) counts as the parent itself, which sits above all its children.

#![allow(clippy::expect_used, reason = "a panic is how a test fails")]

use std::{
    fs,
    path::{Path, PathBuf},
};

/// Each parent module and its children, lowest layer first. `mod` is the parent's own items.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "error_code",
            "telemetry",
            "metrics",
            "retry",
            "client",
            "config",
            "limits",
            "accounts",
            "auth",
            "tasks",
            "chat",
            "api",
            "chatkit",
            "middleware",
            "web_pages",
            "app",
            "cli",
            "mod",
        ],
    ),
    ("accounts", &["entity", "password", "revocations", "mod"]),
    (
        "chatkit",
        &[
            "protocol", "items", "stream", "error", "request", "openapi", "mod",
        ],
    ),
    (
        "chat",
        &[
            "clock",
            "events",
            "model",
            "offline",
            "openai",
            "metered",
            "entity",
            "conversations",
            "history",
            "summary",
            "agent",
            "mod",
        ],
    ),
    (
        "chat::offline",
        &["dates", "command", "context", "several", "mod"],
    ),
    (
        "api",
        &[
            "schema",
            "tags",
            "timestamp",
            "password",
            "text",
            "error",
            "event_stream",
            "auth_routes",
            "task_routes",
            "chat_routes",
            "mod",
        ],
    ),
];

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(own) = module_path(relative) else {
            continue;
        };
        let text = fs::read_to_string(&file).expect("read a source file");
        for imported in imported_paths(&strip_comments(&text), &own) {
            checked += 1;
            if let Some(problem) = check(&own, &imported) {
                violations.push(format!("{}: {problem}", relative.display()));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} imports found: is the parser broken?"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_checker_catches_an_upward_import() {
    let own = vec!["auth".to_owned()];
    let text = "use crate::{api::error::ApiError, config::Security};";
    let found: Vec<String> = imported_paths(text, &own)
        .iter()
        .filter_map(|path| check(&own, path))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    let own = vec!["chat".to_owned(), "agent".to_owned()];
    let paths = imported_paths("use super::{ChatService, clock::UserClock};", &own);
    assert!(check(&own, &paths[0]).is_some(), "{paths:?}");
    assert!(check(&own, &paths[1]).is_none(), "{paths:?}");
}

/// Why `imported` may not be imported by `own`, if it may not.
fn check(own: &[String], imported: &[String]) -> Option<String> {
    let depth = own.iter().zip(imported).take_while(|(a, b)| a == b).count();
    let parent = own[..depth].join("::");
    let (_, layers) = LAYERS.iter().find(|(name, _)| *name == parent)?;
    let rank = |name: Option<&String>| {
        name.and_then(|name| layers.iter().position(|layer| layer == name))
            .unwrap_or(layers.len() - 1)
    };
    // A parent importing its child is always fine; so is a module naming its own items.
    let own_rank = own.get(depth).map(|name| rank(Some(name)))?;
    imported.get(depth)?;
    let imported_rank = rank(imported.get(depth));
    (imported_rank >= own_rank).then(|| {
        format!(
            "{} imports {}, which is not below it",
            own.join("::"),
            imported.join("::")
        )
    })
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files
}

/// `chat/agent.rs` is `chat::agent`; `chat/mod.rs` is `chat`; the crate roots are skipped.
fn module_path(relative: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    let root = parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main");
    (!root && !parts.is_empty()).then_some(parts)
}

/// The text without `//` comments (doc links are not imports).
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::...` and `super::...` path in `text`, as absolute module paths.
fn imported_paths(text: &str, own: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (start, root) in text
        .match_indices("crate::")
        .chain(text.match_indices("super::"))
    {
        let before = text[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let base = if root == "crate::" {
            Vec::new()
        } else {
            own[..own.len().saturating_sub(1)].to_vec()
        };
        let mut rest = &text[start + root.len()..];
        tree(&mut rest, base, &mut paths);
    }
    paths
}

/// Reads a path tree (`a::b`, `a::{b, c::d}`) from the front of `rest`, pushing each leaf.
fn tree(rest: &mut &str, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        *rest = rest.trim_start();
        if let Some(inner) = rest.strip_prefix('{') {
            *rest = inner;
            loop {
                tree(rest, prefix.clone(), out);
                *rest = rest.trim_start();
                if let Some(after) = rest.strip_prefix(',') {
                    *rest = after;
                    if let Some(after) = rest.trim_start().strip_prefix('}') {
                        *rest = after;
                        return;
                    }
                } else {
                    *rest = rest.strip_prefix('}').unwrap_or(rest);
                    return;
                }
            }
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let segment = &rest[..end];
        *rest = &rest[end..];
        if !segment.is_empty() && segment != "self" {
            prefix.push(segment.to_owned());
        }
        match rest.strip_prefix("::") {
            Some(after) => *rest = after,
            None => {
                out.push(prefix);
                return;
            }
        }
    }
}
