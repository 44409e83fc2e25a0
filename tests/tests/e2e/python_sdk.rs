//! The official Python MCP SDK drives `todo-mcp` over stdio and streamable HTTP, so a protocol
//! mistake shared by rmcp's client and server cannot hide.

use std::path::PathBuf;

use todo_tests::{
    TEST_JWT_SECRET,
    db::{Backend, TestDb},
    mcp::{HttpServer, mcp_token, new_user, workspace_binary},
    skip::tool_available,
};
use tokio::process::Command;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/sdk_client.py")
}

/// True when `python3` can import the SDK; otherwise reports the skip.
async fn sdk_available(test: &str) -> bool {
    tool_available(
        test,
        "python3",
        &["-c", "import mcp"],
        "needs python3 with the MCP SDK: pip install -r tests/python/requirements.txt",
    )
    .await
}

async fn run_script(command: &mut Command) {
    let output = command.output().await.expect("run the Python SDK client");
    assert!(
        output.status.success(),
        "the Python SDK client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_python_sdk_uses_every_tool_over_stdio() {
    if !sdk_available("python_sdk::over_stdio").await {
        return;
    }
    let db = TestDb::create(Backend::Sqlite, "python_sdk")
        .await
        .expect("SQLite");
    run_script(
        Command::new("python3")
            .arg(script())
            .arg("stdio")
            .arg(workspace_binary("todo-mcp"))
            .env("DATABASE_URL", db.url())
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("TODO_MCP_TOKEN", mcp_token(new_user()))
            .env("RUST_LOG", "warn"),
    )
    .await;
}

#[tokio::test]
async fn the_python_sdk_uses_every_tool_over_http() {
    if !sdk_available("python_sdk::over_http").await {
        return;
    }
    let db = TestDb::create(Backend::Sqlite, "python_sdk")
        .await
        .expect("SQLite");
    let server = HttpServer::start(&db).await;
    run_script(
        Command::new("python3")
            .arg(script())
            .arg("http")
            .arg(&server.url)
            .arg(mcp_token(new_user())),
    )
    .await;
}
