//! The real `todo-mcp` binary, reached the ways clients reach it.

use std::{path::PathBuf, process::Stdio};

use chrono::Duration as TokenLifetime;
use rmcp::{
    RoleClient, ServiceExt as _,
    model::CallToolRequestParams,
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use todo_mcp::{
    auth::{Audience, JwtSecret, TokenKeys},
    task::UserId,
};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::{
    TEST_JWT_SECRET,
    db::TestDb,
    process::{START_TIMEOUT, ServerLog, logged_url},
};

/// A connected MCP client.
pub type McpClient = RunningService<RoleClient, ()>;

/// The path of a binary of this workspace, built next to the test executable.
///
/// `cargo test --workspace` builds `todo-mcp` because that package has integration tests;
/// `TODO_MCP_BIN` overrides the path.
pub fn workspace_binary(name: &str) -> PathBuf {
    let override_var = format!("{}_BIN", name.to_uppercase().replace('-', "_"));
    if let Ok(path) = std::env::var(&override_var) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test executables live in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (which builds it) or set {override_var}",
        path.display()
    );
    path
}

/// A new user id, as the host would create.
pub fn new_user() -> UserId {
    UserId::new(Uuid::now_v7())
}

pub fn token_keys() -> TokenKeys {
    TokenKeys::new(&JwtSecret::new(TEST_JWT_SECRET).expect("the test secret is long enough"))
}

/// A valid MCP access token for `user`.
pub fn mcp_token(user: UserId) -> String {
    token_keys()
        .issue(user, Audience::Mcp, TokenLifetime::hours(1))
        .expect("sign a test token")
        .token
}

/// The real `todo-mcp` with `args`, on `db`, with nothing of the test's environment but the
/// database, the test secret and `RUST_LOG=log`.
pub fn todo_mcp_command(db: &TestDb, args: &[&str], log: &str) -> Command {
    let mut command = Command::new(workspace_binary("todo-mcp"));
    command.args(args);
    task_server_env(&mut command, db, log);
    command
}

/// Only the database, the test secret and `RUST_LOG=log` in `command`'s environment.
fn task_server_env(command: &mut Command, db: &TestDb, log: &str) {
    command
        .env_clear()
        .env("DATABASE_URL", db.url())
        .env("JWT_SECRET", TEST_JWT_SECRET)
        .env("RUST_LOG", log);
}

/// `todo-mcp stdio` for `user` on `db`, with the rmcp client connected to it.
pub async fn stdio_client(db: &TestDb, user: UserId) -> McpClient {
    let mut command = todo_mcp_command(db, &["stdio"], "warn");
    command.env("TODO_MCP_TOKEN", mcp_token(user));
    let transport = TokioChildProcess::new(command).expect("spawn todo-mcp stdio");
    tokio::time::timeout(START_TIMEOUT, ().serve(transport))
        .await
        .expect("todo-mcp stdio starts in time")
        .expect("initialize an MCP session over stdio")
}

/// A running `todo-mcp serve` (killed when dropped), or any other `/mcp` endpoint.
pub struct HttpServer {
    pub url: String,
    child: Option<Child>,
    log: Option<ServerLog>,
}

impl HttpServer {
    /// An MCP endpoint that something else serves, such as the host's `/mcp`.
    pub fn at(url: String) -> Self {
        Self {
            url,
            child: None,
            log: None,
        }
    }

    /// Starts `todo-mcp serve` on a free port of 127.0.0.1 and waits until it listens.
    pub async fn start(db: &TestDb) -> Self {
        Self::spawn(todo_mcp_command(
            db,
            &["serve", "--bind", "127.0.0.1:0"],
            "info",
        ))
        .await
    }

    /// Starts the running executable again as `todo-mcp serve` (its `main` must call
    /// [`crate::agent::serve_if_bench_role`] first), so a benchmark measures the task server at
    /// its own optimisation level.
    pub async fn start_bench(db: &TestDb) -> Self {
        let mut command =
            Command::new(std::env::current_exe().expect("the bench executable has a path"));
        task_server_env(&mut command, db, "warn,todo_mcp::cli=info");
        command.env(crate::agent::BENCH_ROLE_VAR, crate::agent::BENCH_MCP_ROLE);
        Self::spawn(command).await
    }

    async fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn todo-mcp serve");
        let (url, log) = logged_url(&mut child, "todo-mcp serve", "serving MCP at").await;
        Self {
            url,
            child: Some(child),
            log: Some(log),
        }
    }

    /// Every line a `todo-mcp serve` this test started has logged.
    pub fn log(&self) -> &ServerLog {
        self.log
            .as_ref()
            .expect("a todo-mcp serve this test started")
    }

    /// The process id of a `todo-mcp serve` this test started.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// An rmcp client on `/mcp` with a bearer token for `user`.
    pub async fn client(&self, user: UserId) -> McpClient {
        self.client_with_token(&mcp_token(user))
            .await
            .expect("initialize an MCP session over HTTP")
    }

    pub async fn client_with_token(
        &self,
        token: &str,
    ) -> Result<McpClient, rmcp::service::ClientInitializeError> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.url.clone()).auth_header(token),
        );
        tokio::time::timeout(START_TIMEOUT, ().serve(transport))
            .await
            .expect("the MCP handshake finishes in time")
    }
}

/// What a tool call answered.
#[derive(Debug, Clone)]
pub struct ToolOutcome {
    pub is_error: bool,
    pub structured: Option<Value>,
    pub text: String,
}

impl ToolOutcome {
    /// The structured result, read as `T`; panics with the tool's text on an error result.
    pub fn ok<T: DeserializeOwned>(&self) -> T {
        assert!(!self.is_error, "tool failed: {}", self.text);
        let value = self.structured.clone().expect("a structuredContent result");
        let text_value: Value = serde_json::from_str(&self.text).expect("text content is JSON");
        assert_eq!(
            value, text_value,
            "text content repeats the structured result"
        );
        serde_json::from_value(value).expect("the result has the documented shape")
    }

    /// The error sentence; panics when the call succeeded.
    pub fn err(&self) -> &str {
        assert!(
            self.is_error,
            "expected a tool error, got {:?}",
            self.structured
        );
        &self.text
    }
}

/// Calls `tool` with JSON `arguments`.
pub async fn call(client: &McpClient, tool: &str, arguments: Value) -> ToolOutcome {
    let arguments = match arguments {
        Value::Object(map) => map,
        other => panic!("tool arguments must be an object, got {other}"),
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap_or_else(|err| panic!("{tool} call failed at the protocol level: {err}"));
    let text = result
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|it| it.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    ToolOutcome {
        is_error: result.is_error == Some(true),
        structured: result.structured_content,
        text,
    }
}

/// How a test reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One `todo-mcp stdio` process per user, as Claude Desktop runs it.
    Stdio,
    /// One `todo-mcp serve` process; each user's client sends its own token.
    Http,
}

/// A fresh database and a way to connect users to `todo-mcp` on it.
pub struct Harness {
    pub db: TestDb,
    http: Option<HttpServer>,
}

impl Harness {
    /// `None` when the backend is not available here (the skip is reported).
    pub async fn start(
        backend: crate::db::Backend,
        transport: Transport,
        test: &str,
    ) -> Option<Self> {
        let db = TestDb::create(backend, test).await?;
        let http = match transport {
            Transport::Stdio => None,
            Transport::Http => Some(HttpServer::start(&db).await),
        };
        Some(Self { db, http })
    }

    /// An MCP client acting for `user`.
    pub async fn client(&self, user: UserId) -> McpClient {
        match &self.http {
            Some(server) => server.client(user).await,
            None => stdio_client(&self.db, user).await,
        }
    }
}
