//! The real `todo-agent` binary on a free port, and a typed HTTP client for its API.

use std::process::Stdio;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::{TEST_JWT_SECRET, db::TestDb, mcp::workspace_binary, process::logged_url};

/// Tells a benchmark executable which server it is to be.
pub const BENCH_ROLE_VAR: &str = "TODO_BENCH_ROLE";
const BENCH_AGENT_ROLE: &str = "agent-server";

/// In a benchmark's `main`: when [`AgentServer::start_bench`] started this process, runs
/// `todo-agent serve` exactly as the binary's `main` does and returns true.
pub fn serve_if_bench_role() -> bool {
    use clap::Parser as _;

    if std::env::var(BENCH_ROLE_VAR).as_deref() != Ok(BENCH_AGENT_ROLE) {
        return false;
    }
    let runtime = tokio::runtime::Runtime::new().expect("build the runtime");
    let cli = todo_agent::cli::Cli::parse_from(["todo-agent", "serve"]);
    if let Err(err) = runtime.block_on(todo_agent::cli::run(cli)) {
        panic!("agent server failed: {err:#}");
    }
    true
}

/// A running `todo-agent`, killed when dropped.
pub struct AgentServer {
    /// `http://127.0.0.1:<port>` without a trailing slash.
    pub base: String,
    pub http: reqwest::Client,
    _child: Child,
}

/// A signed-up user and their API token.
#[derive(Debug, Clone)]
pub struct ApiUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// A response: status, headers and JSON body (null when empty or not JSON).
#[derive(Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl ApiUser {
    /// An MCP access token for this user, as `todo-agent token` would print.
    pub fn mcp_token(&self) -> String {
        let id = uuid::Uuid::try_parse(&self.id).expect("user ids are UUIDs");
        crate::mcp::mcp_token(todo_mcp::task::UserId::new(id))
    }
}

impl ApiResponse {
    /// The error code of an error body.
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }
}

impl AgentServer {
    /// Starts `todo-agent serve` on `db` with `JWT_SECRET` set and the given extra variables.
    pub async fn start(db: &TestDb, extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(workspace_binary("todo-agent"));
        command.arg("serve");
        Self::start_command(command, db, extra_env).await
    }

    /// Starts the running executable again as `todo-agent serve` (its `main` must call
    /// [`serve_if_bench_role`] first), so a benchmark measures the server at its own
    /// optimisation level, in a process of its own.
    pub async fn start_bench(db: &TestDb, extra_env: &[(&str, &str)]) -> Self {
        let command =
            Command::new(std::env::current_exe().expect("the bench executable has a path"));
        let mut env = vec![
            (BENCH_ROLE_VAR, BENCH_AGENT_ROLE),
            ("RUST_LOG", "warn,todo_agent::cli=info"),
        ];
        env.extend_from_slice(extra_env);
        Self::start_command(command, db, &env).await
    }

    /// Starts `command`, which must run `todo-agent serve` (benchmarks run it from their own
    /// executable), with the test environment.
    pub async fn start_command(
        mut command: Command,
        db: &TestDb,
        extra_env: &[(&str, &str)],
    ) -> Self {
        command
            .env_clear()
            .env("BIND", "127.0.0.1:0")
            .env("DATABASE_URL", db.url())
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn todo-agent");
        let base = logged_url(&mut child, "todo-agent", "ready").await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("build an HTTP client");
        Self {
            base,
            http,
            _child: child,
        }
    }

    /// The server's process id, to read its memory use.
    pub fn pid(&self) -> Option<u32> {
        self._child.id()
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> ApiResponse {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("reach todo-agent")).await
    }

    /// `GET path` with `user`'s token.
    pub async fn get(&self, user: &ApiUser, path: &str) -> ApiResponse {
        self.request(Method::GET, path, Some(&user.token), None)
            .await
    }

    /// Signs up a new user with a unique email.
    pub async fn sign_up(&self) -> ApiUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        let response = self
            .request(
                Method::POST,
                "/api/auth/signup",
                None,
                Some(json!({"email": email, "password": "correct horse battery", "name": "Test"})),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
        ApiUser {
            id: response.body["user_id"]
                .as_str()
                .expect("user_id")
                .to_owned(),
            email,
            token: response.body["token"].as_str().expect("token").to_owned(),
        }
    }

    /// `POST /api/{user}/tasks`, expecting 201.
    pub async fn add_task(&self, user: &ApiUser, body: Value) -> Value {
        let response = self
            .request(
                Method::POST,
                &format!("/api/{}/tasks", user.id),
                Some(&user.token),
                Some(body),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{:?}", response.body);
        response.body
    }
}

/// Reads a response into an [`ApiResponse`].
pub async fn read(response: reqwest::Response) -> ApiResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("read the body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    ApiResponse {
        status,
        headers,
        body,
    }
}
