//! `todo-agent` for tests, and a typed HTTP client for its API.
//!
//! [`TestApp`] runs the real `App::build` in the test's own process on port 0, with a
//! `Config` made in code (timing knobs included); [`AgentServer::start_process`] runs the real
//! binary, for what only a process shows (signals, its log, its commands).

use std::{collections::HashMap, process::Stdio, sync::Arc, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_agent::{
    app::App,
    chat::ChatService,
    config::{Config, ModelTiming, Timing},
    retry::RetryPolicy,
};
use tokio::{
    process::{Child, Command},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{
    TEST_JWT_SECRET, db::TestDb, fake_openai::FakeOpenAi, mcp::workspace_binary,
    process::logged_url,
};

pub use crate::process::{ServerLog, cpu_time, resident_kb};

/// Tells a benchmark executable which server it is to be.
pub const BENCH_ROLE_VAR: &str = "TODO_BENCH_ROLE";
const BENCH_AGENT_ROLE: &str = "agent-server";
/// The role of [`crate::mcp::HttpServer::start_bench`].
pub const BENCH_MCP_ROLE: &str = "mcp-server";

/// In a benchmark's `main`: when [`AgentServer::start_bench`] or
/// [`crate::mcp::HttpServer::start_bench`] started this process, runs `todo-agent serve` or
/// `todo-mcp serve` exactly as the binary's `main` does and returns true.
pub fn serve_if_bench_role() -> bool {
    use clap::Parser as _;

    match std::env::var(BENCH_ROLE_VAR).as_deref() {
        Ok(BENCH_AGENT_ROLE) => {
            let runtime = tokio::runtime::Runtime::new().expect("build the runtime");
            let cli = todo_agent::cli::Cli::parse_from(["todo-agent", "serve"]);
            if let Err(err) = runtime.block_on(todo_agent::cli::run(cli)) {
                panic!("agent server failed: {err:#}");
            }
            true
        }
        Ok(BENCH_MCP_ROLE) => {
            let cli =
                todo_mcp::cli::Cli::parse_from(["todo-mcp", "serve", "--bind", "127.0.0.1:0"]);
            let runtime = cli.runtime().expect("build the runtime");
            if let Err(err) = runtime.block_on(todo_mcp::cli::run(cli)) {
                panic!("task server failed: {err:#}");
            }
            true
        }
        _ => false,
    }
}

/// A running `todo-agent`: a child process (killed when dropped) or a server task in the
/// test's process (stopped when dropped).
pub struct AgentServer {
    /// `http://127.0.0.1:<port>` without a trailing slash.
    pub base: String,
    pub http: reqwest::Client,
    /// `http://127.0.0.1:<port>/metrics` of an in-process server started with `METRICS_BIND`.
    pub metrics_url: Option<String>,
    running: Running,
}

enum Running {
    Process(Child),
    /// Something else runs it, such as hosts behind a balancer.
    Elsewhere,
    InProcess {
        stop: CancellationToken,
        served: Option<JoinHandle<std::io::Result<()>>>,
        chat: Arc<ChatService>,
    },
}

impl Drop for AgentServer {
    fn drop(&mut self) {
        if let Running::InProcess { stop, served, .. } = &mut self.running {
            stop.cancel();
            if let Some(served) = served.take() {
                served.abort();
            }
        }
    }
}

/// The timing of in-process test servers: the production structure, at test speed. Retries
/// are short but several fit in the budget; a 1 s `Retry-After` is still honoured.
pub fn test_timing() -> Timing {
    Timing {
        heartbeat: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(3),
        turn_grace: Duration::from_millis(500),
        model: ModelTiming {
            first_chunk: Duration::from_secs(10),
            idle: Duration::from_secs(10),
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(40),
                budget: Duration::from_millis(1_500),
            },
        },
    }
}

/// Builds an in-process `todo-agent` on a test database.
pub struct TestApp {
    vars: HashMap<String, String>,
    timing: Timing,
}

impl TestApp {
    /// `todo-agent serve` on `db` in production mode with the test secret, on port 0, the
    /// offline agent as its model, and [`test_timing`].
    pub fn new(db: &TestDb) -> Self {
        let vars = [
            ("BIND", "127.0.0.1:0"),
            ("DATABASE_URL", db.url()),
            ("JWT_SECRET", TEST_JWT_SECRET),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        Self {
            vars,
            timing: test_timing(),
        }
    }

    /// Sets an environment variable of the configuration (nothing is read from the real
    /// environment).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.vars.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Uses `fake` as the model.
    pub fn model(self, fake: &FakeOpenAi) -> Self {
        self.env("OPENAI_API_KEY", FAKE_API_KEY)
            .env("OPENAI_BASE_URL", &fake.base_url)
            .env("OPENAI_MODEL", "fake-model")
    }

    /// Changes the timing knobs.
    pub fn timing(mut self, change: impl FnOnce(&mut Timing)) -> Self {
        change(&mut self.timing);
        self
    }

    /// Binds, migrates and serves until the returned server is dropped or stopped.
    pub async fn start(self) -> AgentServer {
        let mut config =
            Config::from_lookup(|key| self.vars.get(key).cloned()).expect("a valid test config");
        config.timing = self.timing;
        let secret = config.jwt_secret.clone().expect("JWT_SECRET is set");
        let acceptor = App::bind(&config).await.expect("bind port 0");
        let app = App::build(&config, &secret, acceptor)
            .await
            .expect("build the app");
        let address = app.bound_addr().expect("a bound address");
        let metrics_url = app
            .metrics_addr()
            .map(|address| format!("http://{address}/metrics"));
        let chat = app.chat();
        let stop = CancellationToken::new();
        let served = tokio::spawn(app.run_until_stopped(stop.clone()));
        AgentServer {
            base: format!("http://{address}"),
            http: http_client(),
            metrics_url,
            running: Running::InProcess {
                stop,
                served: Some(served),
                chat,
            },
        }
    }
}

/// The `OPENAI_API_KEY` of tests: never sent anywhere but the fake, and never logged.
pub const FAKE_API_KEY: &str = "sk-test-fake-key-never-logged-0123456789";

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("build an HTTP client")
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
    /// The API at `base` (`http://host:port`, no trailing slash), served by something the test
    /// runs some other way (a balancer in front of hosts).
    pub fn elsewhere(base: String) -> Self {
        Self {
            base,
            http: http_client(),
            metrics_url: None,
            running: Running::Elsewhere,
        }
    }

    /// An in-process server on `db` with the given configuration variables.
    pub async fn start(db: &TestDb, extra_env: &[(&str, &str)]) -> Self {
        extra_env
            .iter()
            .fold(TestApp::new(db), |app, (key, value)| app.env(key, value))
            .start()
            .await
    }

    /// Starts the `todo-agent serve` binary on `db` with `JWT_SECRET` set and the given extra
    /// variables.
    pub async fn start_process(db: &TestDb, extra_env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(workspace_binary("todo-agent"));
        command.arg("serve");
        Self::start_command(command, db, extra_env).await
    }

    /// Starts the binary like [`Self::start_process`], with the default log filter, and keeps
    /// every line it logs.
    pub async fn start_logged(db: &TestDb, env: &[(&str, &str)]) -> (Self, ServerLog) {
        let mut command = Command::new(workspace_binary("todo-agent"));
        command.arg("serve");
        let (server, log) = Self::spawn(command, db, env).await;
        (server, log)
    }

    /// Waits (up to 10 s) until no chat turn of an in-process server is running: every reply,
    /// however it ended, is stored.
    pub async fn turns_settled(&self) {
        let Running::InProcess { chat, .. } = &self.running else {
            panic!("only an in-process server can be watched");
        };
        let mut running = chat.running_turns();
        tokio::time::timeout(
            Duration::from_secs(10),
            running.wait_for(|count| *count == 0),
        )
        .await
        .expect("the chat turns settle in time")
        .expect("the chat service is alive");
    }

    /// Stops an in-process server the way a shutdown signal stops the binary, and waits until
    /// it has finished (open requests and chat turns included).
    pub async fn stop(&mut self) {
        if let Running::InProcess { stop, served, .. } = &mut self.running {
            stop.cancel();
            if let Some(served) = served.take() {
                served
                    .await
                    .expect("the server task ends")
                    .expect("the server stops cleanly");
            }
        }
    }

    /// Starts the running executable again as `todo-agent serve` (its `main` must call
    /// [`serve_if_bench_role`] first), so a benchmark measures the server at its own
    /// optimisation level, in a process of its own.
    pub async fn start_bench(db: &TestDb, extra_env: &[(&str, &str)]) -> Self {
        let command =
            Command::new(std::env::current_exe().expect("the bench executable has a path"));
        // The benchmarks measure the work, not the abuse limits: many users sign up from one
        // address, and each sends many messages at once.
        let mut env = vec![
            (BENCH_ROLE_VAR, BENCH_AGENT_ROLE),
            ("RUST_LOG", "warn,todo_agent::cli=info"),
            ("SIGNIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", "1000000"),
            ("CHAT_MESSAGES_PER_MINUTE", "1000000"),
            ("CHAT_TURNS_PER_USER", "100000"),
            ("CHAT_TURNS_TOTAL", "100000"),
        ];
        env.extend_from_slice(extra_env);
        Self::start_command(command, db, &env).await
    }

    /// Starts `command`, which must run `todo-agent serve` (benchmarks run it from their own
    /// executable), with the test environment and `RUST_LOG=info`.
    pub async fn start_command(command: Command, db: &TestDb, extra_env: &[(&str, &str)]) -> Self {
        let mut env = vec![("RUST_LOG", "info")];
        env.extend_from_slice(extra_env);
        Self::spawn(command, db, &env).await.0
    }

    /// Spawns `command` on `db` with the test secret and `env`, and waits until it is ready.
    async fn spawn(mut command: Command, db: &TestDb, env: &[(&str, &str)]) -> (Self, ServerLog) {
        command
            .env_clear()
            .env("BIND", "127.0.0.1:0")
            .env("DATABASE_URL", db.url())
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn todo-agent");
        let (base, log) = logged_url(&mut child, "todo-agent", "ready").await;
        let server = Self {
            base,
            http: http_client(),
            metrics_url: None,
            running: Running::Process(child),
        };
        (server, log)
    }

    /// `/metrics` of a server started with `METRICS_BIND`: each sample line's series (name and
    /// labels, as written) and its value.
    pub async fn metrics(&self) -> HashMap<String, f64> {
        let url = self
            .metrics_url
            .as_deref()
            .expect("the server was started with METRICS_BIND");
        let response = self.http.get(url).send().await.expect("GET /metrics");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()[reqwest::header::CONTENT_TYPE].clone();
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        let text = response.text().await.expect("read /metrics");
        text.lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample line");
                (
                    series.to_owned(),
                    value.parse().expect("a sample's value is a number"),
                )
            })
            .collect()
    }

    /// The server's process id (for a binary), to signal it or read its memory use.
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Process(child) => child.id(),
            Running::InProcess { .. } | Running::Elsewhere => None,
        }
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) to the server's process, as `kill -<signal>` would.
    pub fn signal(&self, signal: &str) {
        let pid = self
            .pid()
            .expect("only a process can be signalled")
            .to_string();
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}").as_str(), &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid}: {sent}");
    }

    /// Waits for the process to exit and returns how it ended.
    pub async fn wait(&mut self) -> Option<std::process::ExitStatus> {
        match &mut self.running {
            Running::Process(child) => child.wait().await.ok(),
            Running::InProcess { .. } | Running::Elsewhere => None,
        }
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
