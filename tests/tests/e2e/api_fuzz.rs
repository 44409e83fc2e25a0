//! The HTTP API fuzzed from its own OpenAPI document with schemathesis, with a valid token and
//! real ids: no request, however generated (wrong types, hostile strings, missing fields),
//! may get a 5xx, a status the document does not list, or a body that breaks its own schema.
//!
//! Bounded (a fixed seed and a fixed number of examples per operation), so it takes seconds.
//! `POST /auth/signout` is left out: it would revoke the fuzzer's own token.

use serde_json::json;
use todo_tests::{
    agent::TestApp,
    db::{Backend, TestDb},
    skip::tool_available,
};
use tokio::process::Command;

const EXAMPLES_PER_OPERATION: &str = "30";
const SEED: &str = "20261204";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let test = "api_fuzz::schemathesis_finds_no_server_error_and_no_schema_violation";
    if !tool_available(
        test,
        "schemathesis",
        &["--version"],
        "needs schemathesis: pip install -r tests/python/requirements.txt",
    )
    .await
    {
        return;
    }
    let db = TestDb::create(Backend::Sqlite, test).await.expect("SQLite");
    // The fuzzer sends hundreds of requests from one address for one user: limits that would
    // answer 429 are raised, so the run reaches the routes' own logic.
    let server = TestApp::new(&db)
        .env("CHAT_MESSAGES_PER_MINUTE", "100000")
        .env("SIGNIN_ATTEMPTS_PER_MINUTE", "100000")
        .env("SIGNIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", "100000")
        .start()
        .await;
    let user = server.sign_up().await;
    let task = server.add_task(&user, json!({"title": "fuzz me"})).await;
    let events = server
        .chat(&user, json!({"message": "show my tasks"}))
        .await;
    let conversation = events[0].data["conversation_id"]
        .as_str()
        .expect("a conversation id")
        .to_owned();
    let config = tempfile::tempdir().expect("a directory for the fuzzer's configuration");
    std::fs::write(
        config.path().join("schemathesis.toml"),
        format!(
            "[parameters]\n\"path.user_id\" = \"{}\"\n\"path.task_id\" = \"{}\"\n\"path.conversation_id\" = \"{conversation}\"\n",
            user.id,
            task["id"].as_str().expect("a task id"),
        ),
    )
    .expect("write schemathesis.toml");
    let output = Command::new("schemathesis")
        .current_dir(config.path())
        .env("NO_COLOR", "1")
        .args(["run", &format!("{}/api/openapi.json", server.base)])
        .args(["--header", &format!("Authorization: Bearer {}", user.token)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        // One worker: hypothesis's cache of lambda sources is not thread-safe, and two
        // workers now and then end a run with its "AST constructor recursion depth mismatch".
        .args(["--max-examples", EXAMPLES_PER_OPERATION, "--seed", SEED, "--workers", "1"])
        .args(["--exclude-path-regex", "signout"])
        .output()
        .await
        .expect("run schemathesis");
    let report = String::from_utf8_lossy(&output.stdout);
    let summary: String = report
        .lines()
        .filter(|line| {
            line.contains("generated") || line.contains("passed") || line.contains("failed")
        })
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("{summary}");
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
