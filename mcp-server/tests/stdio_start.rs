//! `todo-mcp stdio` refuses to start without a valid token: one line on stderr, nothing on
//! stdout (which belongs to the MCP protocol).

use std::process::{Command, Output, Stdio};

use chrono::Duration;
use todo_mcp::{
    auth::{Audience, JwtSecret, TokenKeys},
    task::UserId,
};

const SECRET: &str = "stdio-start-test-secret-0123456789abcdef";

#[expect(clippy::expect_used, reason = "a panic is how a test fails")]
fn run_stdio(vars: &[(&str, &str)]) -> Output {
    let data = std::env::temp_dir().join(format!("todo-mcp-stdio-start-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_todo-mcp"));
    command
        .arg("stdio")
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/todo.db", data.display()),
        )
        .stdin(Stdio::null());
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().expect("run todo-mcp")
}

#[expect(clippy::unwrap_used, reason = "a panic is how a test fails")]
fn token(audience: Audience, hours: i64) -> String {
    TokenKeys::new(&JwtSecret::new(SECRET).unwrap())
        .issue(
            UserId::new(uuid::Uuid::now_v7()),
            audience,
            Duration::hours(hours),
        )
        .unwrap()
        .token
}

#[expect(clippy::unwrap_used, reason = "a panic is how a test fails")]
fn check_refused(vars: &[(&str, &str)], expected: &str) {
    let output = run_stdio(vars);
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "stdout must stay empty");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.contains(expected), "{expected:?} in {stderr:?}");
}

#[test]
fn stdio_without_a_token_refuses_to_start() {
    check_refused(&[("JWT_SECRET", SECRET)], "TODO_MCP_TOKEN is not set");
}

#[test]
fn stdio_without_a_secret_refuses_to_start() {
    check_refused(&[("TODO_MCP_TOKEN", "x")], "JWT_SECRET is not set");
}

#[test]
fn stdio_with_a_bad_token_refuses_to_start() {
    let expired = token(Audience::Mcp, -2);
    let agent = token(Audience::Agent, 1);
    for bad in ["not-a-jwt", expired.as_str(), agent.as_str()] {
        check_refused(
            &[("JWT_SECRET", SECRET), ("TODO_MCP_TOKEN", bad)],
            "TODO_MCP_TOKEN is refused",
        );
    }
}

#[test]
fn a_bad_database_url_is_named() {
    check_refused(
        &[("DATABASE_URL", "mysql://db"), ("JWT_SECRET", SECRET)],
        "DATABASE_URL must start with sqlite: or postgres://",
    );
}
