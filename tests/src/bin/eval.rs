//! `cargo run -p todo-tests --bin eval`: the assistant's evaluation (`todo_tests::eval`)
//! through the HTTP API of a real `todo-agent`, started here on a fresh SQLite database.
//!
//! With no `OPENAI_BASE_URL` the host runs the offline assistant; with `OPENAI_BASE_URL`
//! (and `OPENAI_MODEL`, `OPENAI_API_KEY`, `OPENAI_MAX_TOKENS`, as the product reads them) it
//! runs that model:
//!
//! ```sh
//! cargo run -p todo-tests --bin eval
//! OPENAI_BASE_URL=http://127.0.0.1:8080/v1 OPENAI_MODEL=local cargo run -p todo-tests --bin eval
//! cargo run -p todo-tests --bin eval -- --category reschedule --require 95
//! ```
//!
//! `--category <name>` plays one category; `--require <percent>` exits with 1 when the success
//! rate within the offline assistant's documented English is below it.

use std::process::ExitCode;

use todo_agent::config::Timing;
use todo_tests::{
    agent::TestApp,
    db::{Backend, TestDb},
    eval,
};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|at| args.get(at + 1))
            .cloned()
    };
    let category = value("--category");
    let required = match value("--require").map(|raw| raw.parse::<f64>()) {
        None => None,
        Some(Ok(percent)) => Some(percent),
        Some(Err(_)) => {
            eprintln!("--require takes a percentage such as 95");
            return ExitCode::from(2);
        }
    };
    let Some(db) = TestDb::create(Backend::Sqlite, "eval").await else {
        eprintln!("could not create the SQLite database");
        return ExitCode::FAILURE;
    };
    let mut app = TestApp::new(&db)
        // One person's pace is not the subject; a fresh account per instruction is.
        .env("SIGNIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", "100000")
        .env("CHAT_MESSAGES_PER_MINUTE", "100000")
        // The tokens the model server reports are read from `/metrics`.
        .env("METRICS_BIND", "127.0.0.1:0")
        // A local model may take its time: the product's own timeouts, not the tests'.
        .timing(|timing| *timing = Timing::default());
    let model = match std::env::var("OPENAI_BASE_URL") {
        Ok(base_url) if !base_url.trim().is_empty() => {
            let name = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o".to_owned());
            let key = std::env::var("OPENAI_API_KEY").unwrap_or_else(|_| "none".to_owned());
            app = app
                .env("OPENAI_BASE_URL", &base_url)
                .env("OPENAI_MODEL", &name)
                .env("OPENAI_API_KEY", &key);
            if let Ok(max_tokens) = std::env::var("OPENAI_MAX_TOKENS") {
                app = app.env("OPENAI_MAX_TOKENS", &max_tokens);
            }
            format!("{name} at {base_url}")
        }
        _ => "the offline assistant".to_owned(),
    };
    let server = app.start().await;
    let cases = eval::cases::all_cases()
        .into_iter()
        .filter(|case| category.as_deref().is_none_or(|only| case.category == only))
        .collect();
    let report = eval::run(&server, cases).await;
    print_report(&report.render(&model));
    let (passed, run) = report.rate(|verdict| verdict.offline);
    match required {
        Some(percent) if run > 0 && (passed as f64) < percent / 100.0 * run as f64 => {
            eprintln!("below the required {percent} % within the offline assistant's English");
            ExitCode::FAILURE
        }
        _ => ExitCode::SUCCESS,
    }
}

#[expect(clippy::print_stdout, reason = "the report is the program's output")]
fn print_report(text: &str) {
    print!("{text}");
}
