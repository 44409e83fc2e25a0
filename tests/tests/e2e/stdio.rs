//! `todo-mcp stdio` as a process: what a client sees when the token is refused, and that the
//! server ends cleanly when its client closes the pipe or the process is told to stop.
//! (The tools over stdio are tested in `tools`, on every database.)

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use todo_mcp::{auth::Audience, task::UserId};
use todo_tests::{
    db::{Backend, TestDb},
    mcp::{mcp_token, new_user, todo_mcp_command, token_keys},
};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    process::{Child, Command},
};

/// How long the server may take to exit once asked to.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

fn stdio_command(db: &TestDb, token: Option<&str>) -> Command {
    let mut command = todo_mcp_command(db, &["stdio"], "warn");
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("TODO_MCP_TOKEN", token);
    }
    command
}

#[tokio::test]
async fn a_refused_token_gets_one_stderr_line_and_an_empty_stdout() {
    let db = TestDb::create(Backend::Sqlite, "stdio refused token")
        .await
        .expect("SQLite is always available");
    let user = new_user();
    let agent_token = token_keys()
        .issue(user, Audience::Agent, chrono::Duration::hours(1))
        .expect("sign a token")
        .token;
    let expired = token_keys()
        .issue(user, Audience::Mcp, chrono::Duration::hours(-2))
        .expect("sign a token")
        .token;
    let cases = [
        ("missing", None),
        ("garbage", Some("not-a-token")),
        ("other audience", Some(agent_token.as_str())),
        ("expired", Some(expired.as_str())),
    ];
    for (case, token) in cases {
        let output = tokio::time::timeout(
            EXIT_TIMEOUT,
            stdio_command(&db, token).stdin(Stdio::null()).output(),
        )
        .await
        .unwrap_or_else(|_| panic!("{case}: todo-mcp exits in time"))
        .expect("run todo-mcp stdio");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{case}: {:?}", output.status);
        assert!(output.stdout.is_empty(), "{case}: stdout must stay clean");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{case}: one line, got {stderr:?}"
        );
        assert!(
            stderr.starts_with("todo-mcp: ") && stderr.contains("TODO_MCP_TOKEN"),
            "{case}: the line names the variable: {stderr:?}"
        );
    }
}

/// Starts the server for `user` and completes the MCP handshake by hand.
async fn start_and_initialize(db: &TestDb, user: UserId) -> Child {
    let mut child = stdio_command(db, Some(&mcp_token(user)))
        .spawn()
        .expect("spawn todo-mcp stdio");
    let stdin = child.stdin.as_mut().expect("piped stdin");
    let initialize = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": rmcp::model::ProtocolVersion::LATEST,
            "capabilities": {},
            "clientInfo": {"name": "e2e", "version": "0"},
        },
    });
    stdin
        .write_all(format!("{initialize}\n").as_bytes())
        .await
        .expect("send initialize");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(EXIT_TIMEOUT, lines.next_line())
        .await
        .expect("the server answers initialize in time")
        .expect("read stdout")
        .expect("an answer line");
    let answer: Value = serde_json::from_str(&line).expect("a JSON-RPC line");
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "todo-mcp",
        "{answer}"
    );
    child
}

#[tokio::test]
async fn the_server_exits_cleanly_when_the_client_closes_stdin() {
    let db = TestDb::create(Backend::Sqlite, "stdio eof")
        .await
        .expect("SQLite is always available");
    let mut child = start_and_initialize(&db, new_user()).await;
    drop(child.stdin.take());
    assert_exits_cleanly(child, "once stdin is closed").await;
}

#[tokio::test]
async fn the_server_exits_cleanly_on_sigterm() {
    let db = TestDb::create(Backend::Sqlite, "stdio sigterm")
        .await
        .expect("SQLite is always available");
    let child = start_and_initialize(&db, new_user()).await;
    let pid = child.id().expect("the server is running");
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(kill.success());
    assert_exits_cleanly(child, "after SIGTERM").await;
}

async fn assert_exits_cleanly(mut child: Child, when: &str) {
    let status = tokio::time::timeout(EXIT_TIMEOUT, child.wait())
        .await
        .unwrap_or_else(|_| panic!("todo-mcp exits {when}"))
        .expect("wait for todo-mcp");
    assert!(status.success(), "todo-mcp exited {when} with {status:?}");
}
