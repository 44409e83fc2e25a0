//! `cargo bench -p todo-tests --bench mcp`: add_task and list_tasks through MCP, in-process and
//! over stdio, on SQLite (and PostgreSQL when `TEST_DATABASE_URL` is set), next to the same
//! operations on `TaskStore` without MCP. A third path, the server in this process behind the
//! JSON-lines codec on an in-memory pipe, splits what stdio adds into its two parts: encoding
//! every message as JSON (in-process hands the messages over as values) and the second process
//! with its OS pipes. A fourth, `stdio raw`, drives the same stdio server with a bare JSON-RPC
//! client, because rmcp's client spends far more time decoding a large result than the server
//! spends encoding it.
//!
//! Each operation runs twice: one call at a time (latency: p50/p99) and with 16 calls in flight
//! (throughput: calls/s). The stdio server is this executable started again with
//! `TODO_BENCH_ROLE=stdio-server`, which runs `todo_mcp::cli::run` exactly as the `todo-mcp`
//! binary's `main` does, at the bench's optimisation level.

use std::{
    collections::HashMap,
    future::Future,
    process::Stdio,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use hdrhistogram::Histogram;
use rmcp::{
    ServiceExt as _,
    model::CallToolRequestParams,
    transport::{ConfigureCommandExt as _, TokioChildProcess},
};
use serde_json::{Value, json};
use todo_mcp::{
    in_process::{self, TaskClient},
    store::TaskStore,
    task::{ListFilter, NewTask, PageSize, Priority, SearchQuery, Tags, Title, UserId},
    tools::TaskServer,
};
use todo_tests::{
    TEST_JWT_SECRET,
    agent::cpu_time,
    db::{Backend, TestDb},
    mcp::{mcp_token, new_user},
};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    sync::oneshot,
};

// The same allocator as the `todo-mcp` and `todo-agent` binaries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROLE_VAR: &str = "TODO_BENCH_ROLE";
const CALLS: usize = 2_000;
const IN_FLIGHT: usize = 16;
const SEEDED_TASKS: usize = 10_000;
/// The task server in this process behind rmcp's JSON-lines codec on an in-memory pipe: stdio
/// without the second process and the OS pipes, to show what each of the two costs.
const JSON_PIPE: &str = "json pipe";
/// The stdio server driven by [`RawStdio`] instead of rmcp's client, whose decoding of a
/// response (serde's buffering of untagged enums) costs far more than the server's encoding.
const RAW_STDIO: &str = "stdio raw";

fn main() {
    if std::env::var(ROLE_VAR).as_deref() == Ok("stdio-server") {
        serve_stdio();
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build the runtime");
    runtime.block_on(run_all());
}

fn serve_stdio() {
    use clap::Parser as _;
    let cli = todo_mcp::cli::Cli::parse_from(["todo-mcp", "stdio"]);
    let runtime = cli.runtime().expect("build the runtime");
    if let Err(err) = runtime.block_on(todo_mcp::cli::run(cli)) {
        panic!("stdio server failed: {err:#}");
    }
}

/// One line of the table.
struct Row {
    backend: &'static str,
    path: &'static str,
    operation: &'static str,
    sequential: Histogram<u64>,
    throughput: f64,
}

async fn run_all() {
    let mut rows = Vec::new();
    let mut cpu_lines = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend, "bench mcp").await else {
            continue;
        };
        let backend = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        let store = TaskStore::new(db.connect().await);
        let reader = new_user();
        seed(&store, reader).await;

        cpu_lines.extend(stdio_cpu_lines(backend, &db, reader).await);
        // `cargo bench -p todo-tests --bench mcp -- cpu` prints the CPU-per-call lines only.
        if std::env::args().any(|arg| arg == "cpu") {
            continue;
        }
        rows.extend(store_rows(backend, &store, reader).await);
        for path in ["in-process", JSON_PIPE, "stdio", RAW_STDIO] {
            let writer = connect(path, &db, &store, new_user()).await;
            rows.push(
                row(backend, path, "add_task", |i| {
                    call(
                        &writer,
                        "add_task",
                        json!({"title": format!("bench task {i}"), "priority": "high", "tags": ["bench"]}),
                    )
                })
                .await,
            );
            let client = connect(path, &db, &store, reader).await;
            rows.push(
                row(backend, path, "list_tasks 50 of 10k", |_| {
                    call(&client, "list_tasks", json!({"limit": 50}))
                })
                .await,
            );
            rows.push(
                row(backend, path, "list_tasks 50 of 10k, query", |_| {
                    call(
                        &client,
                        "list_tasks",
                        json!({"limit": 50, "query": "report"}),
                    )
                })
                .await,
            );
        }
    }
    if !rows.is_empty() {
        print_table(&rows);
    }
    print_cpu_lines(&cpu_lines);
}

/// Calls measured for the server's CPU per call: enough for seconds of CPU time, which
/// `/proc/<pid>/stat` counts in 10 ms ticks.
const CPU_CALLS: usize = 3_000;

/// The stdio server's CPU time per call, one call in flight, driven by the bare client so
/// that the figure is the server's alone.
async fn stdio_cpu_lines(backend: &'static str, db: &TestDb, reader: UserId) -> Vec<String> {
    let writer = RawStdio::start(stdio_command(db, new_user())).await;
    let adds = cpu_per_call(&writer, |i| {
        json!({"name": "add_task", "arguments": {"title": format!("cpu task {i}"), "priority": "high", "tags": ["bench"]}})
    })
    .await;
    let lister = RawStdio::start(stdio_command(db, reader)).await;
    let lists = cpu_per_call(
        &lister,
        |_| json!({"name": "list_tasks", "arguments": {"limit": 50}}),
    )
    .await;
    vec![
        format!(
            "{backend:<9} add_task: {:.0} µs of server CPU per call",
            adds.as_secs_f64() * 1e6
        ),
        format!(
            "{backend:<9} list_tasks 50 of 10k: {:.0} µs of server CPU per call",
            lists.as_secs_f64() * 1e6
        ),
    ]
}

async fn cpu_per_call(client: &RawStdio, params: impl Fn(usize) -> Value) -> Duration {
    for i in 0..CPU_CALLS / 10 {
        client.request("tools/call", params(i)).await;
    }
    let before = cpu_time(client.pid());
    for i in 0..CPU_CALLS {
        let answer = client.request("tools/call", params(CPU_CALLS + i)).await;
        assert_eq!(answer["result"]["isError"], false, "{answer}");
    }
    (cpu_time(client.pid()) - before) / CPU_CALLS as u32
}

#[expect(clippy::print_stdout, reason = "the lines are the benchmark's output")]
fn print_cpu_lines(lines: &[String]) {
    println!(
        "
server CPU per call over stdio, one call in flight (from /proc/<pid>/stat)"
    );
    for line in lines {
        println!("  {line}");
    }
}

/// The same operations on `TaskStore` directly, to show what MCP adds.
async fn store_rows(backend: &'static str, store: &TaskStore, reader: UserId) -> Vec<Row> {
    let writer = new_user();
    let size = PageSize::parse(Some(50)).expect("valid size");
    let everything = ListFilter::default();
    let search = ListFilter {
        query: SearchQuery::parse("report").expect("valid query"),
        ..ListFilter::default()
    };
    vec![
        row(backend, "store only", "add_task", |i| async move {
            store
                .add(writer, new_task(&format!("bench task {i}"), i))
                .await
                .expect("add");
        })
        .await,
        row(backend, "store only", "list_tasks 50 of 10k", |_| async {
            store
                .list(reader, &everything, size, None)
                .await
                .expect("list");
        })
        .await,
        row(
            backend,
            "store only",
            "list_tasks 50 of 10k, query",
            |_| async {
                store.list(reader, &search, size, None).await.expect("list");
            },
        )
        .await,
    ]
}

/// A client of one of the paths.
enum Client {
    Rmcp(TaskClient),
    Raw(RawStdio),
}

async fn connect(path: &str, db: &TestDb, store: &TaskStore, user: UserId) -> Client {
    match path {
        RAW_STDIO => Client::Raw(RawStdio::start(stdio_command(db, user)).await),
        _ => Client::Rmcp(connect_rmcp(path, db, store, user).await),
    }
}

async fn connect_rmcp(path: &str, db: &TestDb, store: &TaskStore, user: UserId) -> TaskClient {
    if path == "in-process" {
        return in_process::connect(store.clone(), user)
            .await
            .expect("connect in-process");
    }
    if path == JSON_PIPE {
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let server = TaskServer::for_user(store.clone(), user);
        tokio::spawn(async move {
            let running = server.serve(server_end).await.expect("serve on the pipe");
            let _ = running.waiting().await;
        });
        return ().serve(client_end).await.expect("initialize over the pipe");
    }
    ().serve(TokioChildProcess::new(stdio_command(db, user)).expect("spawn the stdio server"))
        .await
        .expect("initialize over stdio")
}

/// This executable as `todo-mcp stdio` for `user`.
fn stdio_command(db: &TestDb, user: UserId) -> tokio::process::Command {
    let exe = std::env::current_exe().expect("the bench executable has a path");
    tokio::process::Command::new(exe).configure(|cmd| {
        cmd.env_clear()
            .env(ROLE_VAR, "stdio-server")
            .env("DATABASE_URL", db.url())
            .env("JWT_SECRET", TEST_JWT_SECRET)
            .env("TODO_MCP_TOKEN", mcp_token(user))
            .env("RUST_LOG", "warn");
    })
}

/// A bare MCP client over a stdio server's pipes: JSON-RPC lines parsed as `serde_json::Value`,
/// answers matched to requests by id, as a JSON.parse-based client (the TypeScript SDK) would.
struct RawStdio {
    stdin: tokio::sync::Mutex<tokio::process::ChildStdin>,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_id: AtomicU64,
    child: tokio::process::Child,
}

impl RawStdio {
    async fn start(mut command: tokio::process::Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the stdio server");
        let stdout = child.stdout.take().expect("piped stdout");
        let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>> = Arc::default();
        let answers = pending.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let message: Value = serde_json::from_str(&line).expect("a JSON-RPC line");
                let waiter = message["id"]
                    .as_u64()
                    .and_then(|id| answers.lock().expect("pending").remove(&id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(message);
                }
            }
        });
        let client = Self {
            stdin: tokio::sync::Mutex::new(child.stdin.take().expect("piped stdin")),
            pending,
            next_id: AtomicU64::new(1),
            child,
        };
        let info = json!({
            "protocolVersion": rmcp::model::ProtocolVersion::LATEST,
            "capabilities": {},
            "clientInfo": {"name": "bench", "version": "0"},
        });
        let answer = client.request("initialize", info).await;
        assert!(
            answer.get("result").is_some(),
            "initialize failed: {answer}"
        );
        client
            .send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        client
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    async fn request(&self, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        self.pending.lock().expect("pending").insert(id, answer);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        answered.await.expect("the server answered")
    }

    async fn send(&self, message: &Value) {
        let mut line = serde_json::to_vec(message).expect("encode a request");
        line.push(b'\n');
        let mut stdin = self.stdin.lock().await;
        stdin.write_all(&line).await.expect("write to the server");
        stdin.flush().await.expect("flush to the server");
    }
}

fn new_task(title: &str, i: usize) -> NewTask {
    NewTask {
        title: Title::parse(title).expect("valid title"),
        description: None,
        priority: Priority::ALL[i % 3],
        due_at: i
            .is_multiple_of(2)
            .then(|| chrono::Utc::now() + chrono::Duration::hours(i as i64)),
        tags: Tags::parse(&["seed"]).expect("valid tag"),
    }
}

/// 10,000 tasks, one in ten mentioning "report", a third of them done.
async fn seed(store: &TaskStore, user: UserId) {
    for i in 0..SEEDED_TASKS {
        let title = if i.is_multiple_of(10) {
            format!("Write report {i}")
        } else {
            format!("Errand number {i}")
        };
        let task = store
            .add(user, new_task(&title, i))
            .await
            .expect("seed a task");
        if i.is_multiple_of(3) {
            store
                .set_completed(user, task.id, true)
                .await
                .expect("complete a seeded task");
        }
    }
}

async fn call(client: &Client, tool: &'static str, arguments: Value) {
    match client {
        Client::Rmcp(client) => {
            let Value::Object(arguments) = arguments else {
                unreachable!("arguments are objects")
            };
            let result = client
                .call_tool(CallToolRequestParams::new(tool).with_arguments(arguments))
                .await
                .expect("tool call");
            assert_ne!(
                result.is_error,
                Some(true),
                "{tool} failed: {:?}",
                result.content
            );
        }
        Client::Raw(client) => {
            let params = json!({"name": tool, "arguments": arguments});
            let answer = client.request("tools/call", params).await;
            let failed = answer["result"]["isError"].as_bool() != Some(false);
            assert!(!failed, "{tool} failed: {answer}");
        }
    }
}

/// Latency one call at a time, then throughput with `IN_FLIGHT` calls at once.
async fn row<F, Fut>(
    backend: &'static str,
    path: &'static str,
    operation: &'static str,
    op: F,
) -> Row
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for i in 0..CALLS / 20 {
        op(i).await; // warm up connections and caches
    }
    let mut sequential = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..CALLS {
        let started = Instant::now();
        op(i).await;
        sequential
            .record(started.elapsed().as_micros() as u64)
            .expect("record a latency");
    }
    let started = Instant::now();
    futures::stream::iter(0..CALLS)
        .for_each_concurrent(IN_FLIGHT, |i| op(CALLS + i))
        .await;
    let throughput = CALLS as f64 / started.elapsed().as_secs_f64();
    Row {
        backend,
        path,
        operation,
        sequential,
        throughput,
    }
}

fn millis(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    Duration::from_micros(histogram.value_at_quantile(quantile)).as_secs_f64() * 1000.0
}

#[expect(clippy::print_stdout, reason = "the table is the benchmark's output")]
fn print_table(rows: &[Row]) {
    println!(
        "\n{:<9} {:<11} {:<28} {:>14} {:>9} {:>9}",
        "backend", "path", "operation", "calls/s (x16)", "p50 ms", "p99 ms"
    );
    for row in rows {
        println!(
            "{:<9} {:<11} {:<28} {:>14.0} {:>9.3} {:>9.3}",
            row.backend,
            row.path,
            row.operation,
            row.throughput,
            millis(&row.sequential, 0.50),
            millis(&row.sequential, 0.99),
        );
    }
    for (path, base_path, meaning) in [
        (
            "stdio",
            "in-process",
            "the JSON both ways, the pipes, and rmcp's client decoding the answer",
        ),
        (
            "stdio",
            JSON_PIPE,
            "the second process and its OS pipes alone",
        ),
        (
            RAW_STDIO,
            "in-process",
            "what the stdio server adds for a client that parses the answer as plain JSON",
        ),
    ] {
        println!("\n{path} over {base_path}, per call (p50 and p99 differences): {meaning}");
        for row in rows.iter().filter(|row| row.path == path) {
            let base = rows.iter().find(|it| {
                it.path == base_path && it.backend == row.backend && it.operation == row.operation
            });
            if let Some(base) = base {
                println!(
                    "  {:<9} {:<28} {:>+8.3} ms {:>+8.3} ms",
                    row.backend,
                    row.operation,
                    millis(&row.sequential, 0.50) - millis(&base.sequential, 0.50),
                    millis(&row.sequential, 0.99) - millis(&base.sequential, 0.99),
                );
            }
        }
    }
    println!(
        "\nlatency: {CALLS} calls one at a time; calls/s: {CALLS} calls with {IN_FLIGHT} in flight"
    );
}
