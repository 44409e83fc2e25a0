//! What only the processes show: how `todo-agent` stops on a signal, and what it and a remote
//! `todo-mcp serve` log.

use reqwest::Method;
use serde_json::{Value, json};
use todo_tests::{
    TEST_JWT_SECRET,
    agent::{AgentServer, ApiUser, FAKE_API_KEY},
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply},
    mcp::HttpServer,
};

/// SIGTERM stops the host cleanly (exit 0), at once when nothing is open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_host_cleanly() {
    let db = TestDb::create(Backend::Sqlite, "process::sigterm")
        .await
        .expect("SQLite");
    let (mut server, log) = AgentServer::start_logged(&db, &[("APP_MODE", "developer")]).await;
    server.sign_up().await;
    server.signal("TERM");
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), server.wait())
        .await
        .expect("the host exits within 5 s of SIGTERM")
        .expect("the host was a process");
    assert!(status.success(), "{status:?}");
    log.wait_for("stopped").await;
}

/// In production mode the log is JSON lines. From the start of a chat turn with a tool call to
/// its end, every line names the request id the client got and the conversation, those of the
/// task server's own tool call included; and nothing anywhere in the log is a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_log_is_json_lines_that_follow_a_turn_and_hold_no_secret() {
    let db = TestDb::create(Backend::Sqlite, "process::log")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    let (server, log) = AgentServer::start_logged(
        &db,
        &[
            ("OPENAI_API_KEY", FAKE_API_KEY),
            ("OPENAI_BASE_URL", fake.base_url.as_str()),
            ("OPENAI_MODEL", "fake-model"),
        ],
    )
    .await;
    let user = server.sign_up().await;
    // A failed sign-in too: the password must not be logged on that path either.
    let refused = server
        .request(
            Method::POST,
            "/api/auth/signin",
            None,
            Some(json!({"email": user.email, "password": "wrong horse battery"})),
        )
        .await;
    assert_eq!(refused.status, reqwest::StatusCode::UNAUTHORIZED);
    let (request_id, conversation) = add_through_chat(&server, &fake, &user, "log me").await;
    log.wait_for("chat turn done").await;

    let lines = log.lines();
    for line in &lines {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not a JSON line ({err}): {line}"));
        assert!(parsed.is_object(), "{line}");
    }
    let started = lines
        .iter()
        .position(|line| line.contains("chat turn started"))
        .expect("the turn's first line");
    let ended = lines
        .iter()
        .position(|line| line.contains("chat turn done"))
        .expect("the turn's last line");
    let turn = &lines[started..=ended];
    assert!(
        turn.iter().any(|line| line.contains("task added")),
        "the task server's line is part of the turn: {turn:#?}"
    );
    for line in turn {
        assert!(line.contains(&request_id), "no request id in {line}");
        assert!(line.contains(&conversation), "no conversation id in {line}");
    }
    let everything = lines.join("\n");
    for (what, secret) in [
        ("the API key", FAKE_API_KEY),
        ("the JWT secret", TEST_JWT_SECRET),
        ("a password", "correct horse battery"),
        ("a wrong password", "wrong horse battery"),
        ("a bearer token", user.token.as_str()),
    ] {
        assert!(!everything.contains(secret), "{what} is in the log");
    }
}

/// With `MCP_TASKS_URL`, the tool call crosses to a `todo-mcp serve` process: its line for the
/// task it added names the request id the client got and the conversation, so one search
/// through both processes' logs follows the turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_task_servers_lines_name_the_hosts_request() {
    let db = TestDb::create(Backend::Sqlite, "process::remote_trace")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    let tasks = HttpServer::start(&db).await;
    let server = AgentServer::start_process(
        &db,
        &[
            ("OPENAI_API_KEY", FAKE_API_KEY),
            ("OPENAI_BASE_URL", fake.base_url.as_str()),
            ("MCP_TASKS_URL", tasks.url.as_str()),
        ],
    )
    .await;
    let user = server.sign_up().await;
    let (request_id, conversation) = add_through_chat(&server, &fake, &user, "trace me").await;

    tasks.log().wait_for("task added").await;
    let lines = tasks.log().lines();
    let added = lines
        .iter()
        .find(|line| line.contains("task added"))
        .expect("the task server's line");
    assert!(added.contains(&request_id), "no request id in {added}");
    assert!(
        added.contains(&conversation),
        "no conversation id in {added}"
    );
}

/// A chat turn in which the fake model adds `title` through `add_task`: the request id the
/// client got, and the conversation of the turn.
async fn add_through_chat(
    server: &AgentServer,
    fake: &FakeOpenAi,
    user: &ApiUser,
    title: &str,
) -> (String, String) {
    fake.push(Reply::calls(&[("add_task", json!({ "title": title }))]));
    fake.push(Reply::text("Added."));
    let response = server
        .http
        .post(format!("{}/api/{}/chat", server.base, user.id))
        .bearer_auth(&user.token)
        .json(&json!({ "message": format!("add {title}") }))
        .send()
        .await
        .expect("reach todo-agent");
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("a request id")
        .to_owned();
    let body = response.text().await.expect("the stream");
    assert!(body.contains("\"type\":\"done\""), "{body}");
    let conversation = body
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .and_then(|data| serde_json::from_str::<Value>(data).ok())
        .and_then(|start| start["conversation_id"].as_str().map(str::to_owned))
        .expect("the start event names the conversation");
    (request_id, conversation)
}
