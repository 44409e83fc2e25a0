//! `cargo bench -p todo-tests --bench api`: `GET /api/{user_id}/tasks?limit=20` and
//! `POST /api/{user_id}/tasks` through the full HTTP stack (auth, API, MCP in-process, SQLite)
//! at 1, 16 and 64 concurrent clients. Prints requests per second and p50/p99 latency.
//!
//! The server is this executable started again with `TODO_BENCH_ROLE=agent-server`, running
//! `todo_agent::cli::run` exactly as the `todo-agent` binary's `main` does, at the bench's
//! optimisation level, in its own process.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::Method;
use serde_json::json;
use todo_tests::{
    agent::{AgentServer, ApiUser},
    db::{Backend, TestDb},
};

// The same allocator as the `todo-agent` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REQUESTS: usize = 4_000;
const SEEDED_TASKS: usize = 100;
const MAX_CLIENTS: usize = 64;
/// Each line runs this often: on a shared 2-core machine one run can be far off the others.
const ROUNDS: usize = 3;

fn main() {
    if todo_tests::agent::serve_if_bench_role() {
        return;
    }
    // The load generator needs a small share of one core; a second thread would only add
    // cross-thread wake-ups on the two cores it shares with the server under test.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build the runtime");
    runtime.block_on(run());
}

struct Row {
    operation: &'static str,
    round: usize,
    clients: usize,
    histogram: Histogram<u64>,
    elapsed: Duration,
    count: usize,
}

async fn run() {
    let db = TestDb::create(Backend::Sqlite, "bench api")
        .await
        .expect("SQLite is always available");
    let server = AgentServer::start_bench(&db, &[]).await;
    // Each client is a person of their own, as on a real server.
    let mut users = Vec::new();
    for _ in 0..MAX_CLIENTS {
        let user = server.sign_up().await;
        for i in 0..SEEDED_TASKS {
            let body = json!({"title": format!("seeded task {i}"), "tags": ["bench"]});
            server.add_task(&user, body).await;
        }
        users.push(user);
    }

    let mut rows = Vec::new();
    for clients in [1, 16, 64] {
        for round in 1..=ROUNDS {
            rows.push(
                load(
                    &server,
                    &users[..clients],
                    "GET tasks?limit=20",
                    false,
                    round,
                )
                .await,
            );
        }
        for round in 1..=ROUNDS {
            rows.push(load(&server, &users[..clients], "POST tasks", true, round).await);
        }
    }
    print_table(&rows);
}

async fn load(
    server: &AgentServer,
    users: &[ApiUser],
    operation: &'static str,
    write: bool,
    round: usize,
) -> Row {
    let clients = users.len();
    let per_client = REQUESTS / clients;
    let started = Instant::now();
    let workers = users.iter().enumerate().map(|(client, user)| {
        let http = server.http.clone();
        let list_url = format!("{}/api/{}/tasks?limit=20", server.base, user.id);
        let add_url = format!("{}/api/{}/tasks", server.base, user.id);
        let token = user.token.clone();
        tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            for i in 0..per_client {
                let request = if write {
                    http.request(Method::POST, &add_url)
                        .json(&json!({"title": format!("bench {client}-{i}"), "priority": "high"}))
                } else {
                    http.request(Method::GET, &list_url)
                };
                let sent = Instant::now();
                let response = request.bearer_auth(&token).send().await.expect("request");
                let status = response.status();
                response.bytes().await.expect("read the body");
                assert!(status.is_success(), "{operation} answered {status}");
                histogram
                    .record(sent.elapsed().as_micros() as u64)
                    .expect("record a latency");
            }
            histogram
        })
    });
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    for worker in futures::future::join_all(workers).await {
        histogram
            .add(worker.expect("a load client"))
            .expect("merge histograms");
    }
    Row {
        operation,
        round,
        clients,
        elapsed: started.elapsed(),
        count: per_client * clients,
        histogram,
    }
}

#[expect(clippy::print_stdout, reason = "the table is the benchmark's output")]
fn print_table(rows: &[Row]) {
    println!(
        "\n{:<22} {:>8} {:>6} {:>12} {:>9} {:>9}",
        "operation (SQLite)", "clients", "round", "requests/s", "p50 ms", "p99 ms"
    );
    for row in rows {
        let millis = |q: f64| row.histogram.value_at_quantile(q) as f64 / 1000.0;
        println!(
            "{:<22} {:>8} {:>6} {:>12.0} {:>9.3} {:>9.3}",
            row.operation,
            row.clients,
            row.round,
            row.count as f64 / row.elapsed.as_secs_f64(),
            millis(0.50),
            millis(0.99),
        );
    }
    println!(
        "\n{REQUESTS} requests per line, {ROUNDS} rounds each, each client a user of its own with a bearer token and \
         {SEEDED_TASKS} tasks seeded before the first line"
    );
}
