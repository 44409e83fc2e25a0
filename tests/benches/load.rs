//! `cargo bench -p todo-tests --bench load`: the product as its load grows, one host and two.
//!
//! Simulated users each act every 2 s on average (exponential pauses, so arrivals are a
//! Poisson process and actions overlap as they would with real people), with this mix: list
//! tasks 50 %, add a task 20 %, complete one 10 %, and a chat turn 20 % (one `add_task` call,
//! then 20 tokens from the fake model at 40 tokens/s). The load is open: an action starts on
//! schedule whether or not the previous one has finished, so a slow server shows as latency
//! and errors, not as a politely slower client.
//!
//! For 1, 10, 100, 1,000, 1,500, 2,000 and 4,000 users, over two deployments on one PostgreSQL database
//! (`TEST_DATABASE_URL`):
//! - **one host**: a `todo-agent` using its own `todo-mcp serve` (`MCP_TASKS_URL`);
//! - **two hosts**: two such pairs behind nginx (round robin), as `docs/deployment.md` says.
//!
//! Each line prints actions/s, p50/p99 latency of the requests (list, add, complete), the chat's
//! time to the first text chunk (after its `add_task` step) and to its last event, errors, and
//! the CPU (cores busy) and
//! resident memory of each process: the hosts, the task servers, nginx, PostgreSQL (every
//! `postgres` process) and this one (the load generator and the fake model). A line is
//! saturated when the p99 of the requests or of the first chunk passes 1 s, or an action fails.
//!
//! `LOAD_SECONDS` sets the measured seconds per line (10 by default); `-- one` or `-- two` runs
//! one deployment only, `-- users=1000` (or `users=100,2000`) those lines only: to profile a
//! line, run it for longer and attach `perf` to it (`docs/perf/README.md`). The servers are this executable started again in their roles
//! (`TODO_BENCH_ROLE`), at the bench's optimisation level, in production mode.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use hdrhistogram::Histogram;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};
use todo_tests::{
    agent::{AgentServer, ApiUser, cpu_time, resident_kb},
    balancer::Nginx,
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
    mcp::{HttpServer, token_keys},
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The issue's four, then on until this machine saturates.
const LEVELS: [usize; 7] = [1, 10, 100, 1_000, 1_500, 2_000, 4_000];
/// The mean pause between two actions of one user.
const MEAN_PAUSE: Duration = Duration::from_secs(2);
const TOKEN_DELAY: Duration = Duration::from_millis(25);
const REPLY_WORDS: usize = 20;
/// Tasks each user has before the first line, so that completing has something to complete.
const SEEDED_TASKS: usize = 3;
/// p99 beyond this, or any error, is saturation.
const SATURATION_P99: Duration = Duration::from_secs(1);

fn main() {
    if todo_tests::agent::serve_if_bench_role() {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("build the runtime");
    runtime.block_on(run());
}

/// What one simulated user does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Action {
    List,
    Add,
    Complete,
    Chat,
}

impl Action {
    /// Draws an action with the mix's weights.
    fn draw() -> Self {
        match fastrand::u32(0..100) {
            0..50 => Action::List,
            50..70 => Action::Add,
            70..80 => Action::Complete,
            _ => Action::Chat,
        }
    }
}

/// One deployment under test: what clients reach, and every process to watch.
struct Deployment {
    name: &'static str,
    front: AgentServer,
    /// Named processes: (`host a`, pid), ...
    processes: Vec<(String, u32)>,
    _hosts: Vec<AgentServer>,
    _task_servers: Vec<HttpServer>,
    _nginx: Option<Nginx>,
}

/// A simulated user: an account, and the open tasks it knows of.
struct User {
    api: ApiUser,
    open_tasks: Mutex<Vec<String>>,
}

/// What the actions of one line measured.
#[derive(Default)]
struct Tally {
    /// List, add and complete: request to response.
    requests: Option<Histogram<u64>>,
    /// Chat turns: request to the first text chunk, and to the last event.
    first_chunk: Option<Histogram<u64>>,
    turns: Option<Histogram<u64>>,
    done: HashMap<Action, usize>,
    errors: Vec<String>,
}

impl Tally {
    fn record(&mut self, action: Action, outcome: Result<Measured, String>) {
        match outcome {
            Ok(measured) => {
                *self.done.entry(action).or_default() += 1;
                match measured.first_chunk {
                    Some(first) => {
                        record(&mut self.first_chunk, first);
                        record(&mut self.turns, measured.took);
                    }
                    None => record(&mut self.requests, measured.took),
                }
            }
            Err(error) => self.errors.push(format!("{action:?}: {error}")),
        }
    }
}

fn record(histogram: &mut Option<Histogram<u64>>, took: Duration) {
    histogram
        .get_or_insert_with(|| Histogram::new(3).expect("histogram"))
        .record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX))
        .expect("record");
}

/// One action's times.
struct Measured {
    took: Duration,
    first_chunk: Option<Duration>,
}

async fn run() {
    let args: Vec<String> = std::env::args().collect();
    let chosen = args.iter().any(|arg| arg == "one" || arg == "two");
    let only = |name: &str| !chosen || args.iter().any(|arg| arg == name);
    let seconds = std::env::var("LOAD_SECONDS")
        .ok()
        .and_then(|raw| raw.parse::<u64>().ok())
        .unwrap_or(10);
    let measured = Duration::from_secs(seconds);
    let levels: Vec<usize> = args
        .iter()
        .find_map(|arg| arg.strip_prefix("users="))
        .map(|list| {
            list.split(',')
                .map(|n| n.trim().parse().expect("users=<count>[,<count>...]"))
                .collect()
        })
        .unwrap_or_else(|| LEVELS.to_vec());
    let Some(db) = TestDb::create(Backend::Postgres, "bench load").await else {
        print_line("the load report needs PostgreSQL: set TEST_DATABASE_URL");
        return;
    };
    let fake = FakeOpenAi::start().await;
    fake.set_token_delay(TOKEN_DELAY);
    fake.always(Reply::CallsThenText {
        calls: vec![("add_task".to_owned(), json!({"title": "buy milk"}))],
        text: tokens(&"word ".repeat(REPLY_WORDS)),
    });
    let users = seed_users(&db, levels.iter().copied().max().unwrap_or(1)).await;
    let mut report = vec![format!(
        "load on PostgreSQL: users acting every {MEAN_PAUSE:?} on average (list 50 %, add 20 %, \
         complete 10 %, chat 20 %: add_task + {REPLY_WORDS} tokens at {TOKEN_DELAY:?} each), \
         {seconds} s per line; CPU in cores busy, memory resident"
    )];
    for (name, hosts) in [("one", 1), ("two", 2)] {
        if !only(name) {
            continue;
        }
        let Some(deployment) = deploy(&db, &fake, hosts).await else {
            report.push("two hosts: skipped, nginx is not installed".to_owned());
            continue;
        };
        seed_tasks(&deployment, &users).await;
        // Warm-up: connections, sessions, the database's caches.
        run_line(
            &deployment,
            &users[..100.min(users.len())],
            Duration::from_secs(2),
        )
        .await;
        report.push(String::new());
        report.push(format!("{}:", deployment.name));
        for &level in &levels {
            let line = run_line(&deployment, &users[..level], measured).await;
            report.push(line);
        }
    }
    for line in &report {
        print_line(line);
    }
}

/// Starts `hosts` pairs of `todo-mcp serve` and `todo-agent` on `db`, behind nginx when more
/// than one; `None` when nginx is needed and missing.
async fn deploy(db: &TestDb, fake: &FakeOpenAi, hosts: usize) -> Option<Deployment> {
    let mut task_servers = Vec::new();
    let mut agents = Vec::new();
    let mut processes = Vec::new();
    for n in 0..hosts {
        let tasks = HttpServer::start_bench(db).await;
        let env = [
            ("OPENAI_API_KEY", "sk-bench"),
            ("OPENAI_BASE_URL", fake.base_url.as_str()),
            ("MCP_TASKS_URL", tasks.url.as_str()),
            ("TRUSTED_PROXIES", "127.0.0.1"),
            ("RUST_LOG", todo_mcp::config::DEFAULT_LOG_FILTER),
        ];
        let host = AgentServer::start_bench(db, &env).await;
        let letter = char::from(b'a' + u8::try_from(n).unwrap_or(0));
        processes.push((format!("host {letter}"), host.pid().expect("a process")));
        processes.push((format!("mcp {letter}"), tasks.pid().expect("a process")));
        task_servers.push(tasks);
        agents.push(host);
    }
    let (front, nginx, name) = if hosts == 1 {
        let host = &agents[0];
        (AgentServer::elsewhere(host.base.clone()), None, "one host")
    } else {
        let bases: Vec<&str> = agents.iter().map(|host| host.base.as_str()).collect();
        let nginx = Nginx::start("bench load", &bases).await?;
        processes.push(("nginx".to_owned(), nginx.pid().expect("a process")));
        (
            AgentServer::elsewhere(nginx.url.clone()),
            Some(nginx),
            "two hosts behind nginx",
        )
    };
    Some(Deployment {
        name,
        front,
        processes,
        _hosts: agents,
        _task_servers: task_servers,
        _nginx: nginx,
    })
}

/// `count` accounts written straight into `users` (hashing 1,000 passwords would take longer
/// than the report), each with an API token signed with the test secret.
async fn seed_users(db: &TestDb, count: usize) -> Vec<Arc<User>> {
    let connection = db.connect().await;
    let rows = connection
        .query_all_raw(Statement::from_string(
            connection.get_database_backend(),
            format!(
                "INSERT INTO users (id, email, name, password_hash, created_at) \
                 SELECT gen_random_uuid(), 'load-' || n || '-' || gen_random_uuid() || '@example.com', \
                 'Load', 'not a password hash', now() FROM generate_series(1, {count}) AS n \
                 RETURNING id, email"
            ),
        ))
        .await
        .expect("insert the users");
    let keys = token_keys();
    rows.into_iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get("", "id").expect("id");
            let email: String = row.try_get("", "email").expect("email");
            let token = keys
                .issue(
                    todo_mcp::task::UserId::new(id),
                    todo_mcp::auth::Audience::Agent,
                    chrono::Duration::hours(2),
                )
                .expect("sign a token")
                .token;
            Arc::new(User {
                api: ApiUser {
                    id: id.to_string(),
                    email,
                    token,
                },
                open_tasks: Mutex::default(),
            })
        })
        .collect()
}

/// Gives every user [`SEEDED_TASKS`] open tasks through the API, 32 requests at a time.
async fn seed_tasks(deployment: &Deployment, users: &[Arc<User>]) {
    let front = &deployment.front_client();
    futures::stream::iter(
        users
            .iter()
            .flat_map(|user| (0..SEEDED_TASKS).map(move |_| user)),
    )
    .for_each_concurrent(32, |user| async move {
        if let Ok(id) = add(front, &user.api).await {
            lock(&user.open_tasks).push(id);
        }
    })
    .await;
}

/// `users` acting for `span`; the report line.
async fn run_line(deployment: &Deployment, users: &[Arc<User>], span: Duration) -> String {
    let front = Arc::new(deployment.front_client());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let cpu_before = cpu_of(&deployment.processes);
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + span;
    // Each user's schedule runs on its own and hands over each action as it falls due; the
    // action runs as a task of its own, so none waits for another.
    let (due, mut falling_due) = tokio::sync::mpsc::unbounded_channel::<(Arc<User>, Action)>();
    for user in users {
        let due = due.clone();
        let user = user.clone();
        tokio::spawn(async move {
            loop {
                let pause = Duration::from_secs_f64(
                    -MEAN_PAUSE.as_secs_f64() * (1.0 - fastrand::f64()).ln(),
                );
                let at = tokio::time::Instant::now() + pause;
                if at >= deadline {
                    return;
                }
                tokio::time::sleep_until(at).await;
                if due.send((user.clone(), Action::draw())).is_err() {
                    return;
                }
            }
        });
    }
    drop(due);
    let mut actions = tokio::task::JoinSet::new();
    while let Some((user, action)) = falling_due.recv().await {
        let front = front.clone();
        let tally = tally.clone();
        actions.spawn(async move {
            let outcome = act(&front, &user, action).await;
            lock(&tally).record(action, outcome);
        });
    }
    while actions.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let cpu_after = cpu_of(&deployment.processes);
    let tally = lock(&tally);
    let done: usize = tally.done.values().sum();
    let quantile = |histogram: &Option<Histogram<u64>>, q: f64| {
        histogram
            .as_ref()
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    };
    let millis = |histogram: &Option<Histogram<u64>>, q: f64| {
        quantile(histogram, q).map_or_else(|| "    n/a".to_owned(), |ms| format!("{ms:>7.1}"))
    };
    let limit = SATURATION_P99.as_secs_f64() * 1000.0;
    let saturated = quantile(&tally.requests, 0.99).is_some_and(|ms| ms > limit)
        || quantile(&tally.first_chunk, 0.99).is_some_and(|ms| ms > limit)
        || !tally.errors.is_empty();
    let mut line = format!(
        "  {:>5} users: {:>6.1} actions/s; requests p50 {} ms p99 {} ms; chat first chunk p50 {} ms p99 {} ms, whole turn p99 {} ms; {} errors{}",
        users.len(),
        (done + tally.errors.len()) as f64 / span.as_secs_f64(),
        millis(&tally.requests, 0.5),
        millis(&tally.requests, 0.99),
        millis(&tally.first_chunk, 0.5),
        millis(&tally.first_chunk, 0.99),
        millis(&tally.turns, 0.99),
        tally.errors.len(),
        if saturated { " SATURATED" } else { "" },
    );
    line.push_str("\n         ");
    for ((name, before), (_, after)) in cpu_before.iter().zip(&cpu_after) {
        let cores = (*after - *before).as_secs_f64() / elapsed.as_secs_f64();
        let memory = deployment
            .processes
            .iter()
            .find(|(process, _)| process == name)
            .map(|(_, pid)| resident_kb(*pid));
        match memory {
            Some(kb) => line.push_str(&format!(
                " {name} {cores:.2} CPU {:.0} MB;",
                kb as f64 / 1024.0
            )),
            None => line.push_str(&format!(" {name} {cores:.2} CPU;")),
        }
    }
    for error in tally.errors.iter().take(3) {
        line.push_str(&format!("\n         error: {}", truncate(error, 200)));
    }
    line
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Where the load goes: the deployment's front, with one connection pool for every user.
struct Front {
    base: String,
    http: reqwest::Client,
}

impl Deployment {
    fn front_client(&self) -> Front {
        Front {
            base: self.front.base.clone(),
            http: self.front.http.clone(),
        }
    }
}

/// Runs one action as `user`.
async fn act(front: &Front, user: &User, action: Action) -> Result<Measured, String> {
    let started = Instant::now();
    let mut first_chunk = None;
    match action {
        Action::List => {
            let response = front
                .http
                .get(format!("{}/api/{}/tasks?limit=50", front.base, user.api.id))
                .bearer_auth(&user.api.token)
                .send()
                .await
                .map_err(|err| err.to_string())?;
            expect_status(response, 200).await?;
        }
        Action::Add => {
            let id = add(front, &user.api).await?;
            lock(&user.open_tasks).push(id);
        }
        Action::Complete => {
            let task = lock(&user.open_tasks).pop();
            match task {
                Some(task) => {
                    let response = front
                        .http
                        .patch(format!("{}/api/{}/tasks/{task}", front.base, user.api.id))
                        .bearer_auth(&user.api.token)
                        .json(&json!({"completed": true}))
                        .send()
                        .await
                        .map_err(|err| err.to_string())?;
                    expect_status(response, 200).await?;
                }
                // Nothing open that this user knows of: adding is what a person would do.
                None => {
                    let id = add(front, &user.api).await?;
                    lock(&user.open_tasks).push(id);
                }
            }
        }
        Action::Chat => first_chunk = Some(chat(front, &user.api, started).await?),
    }
    Ok(Measured {
        took: started.elapsed(),
        first_chunk,
    })
}

async fn add(front: &Front, user: &ApiUser) -> Result<String, String> {
    let response = front
        .http
        .post(format!("{}/api/{}/tasks", front.base, user.id))
        .bearer_auth(&user.token)
        .json(&json!({"title": "water the plants", "priority": "low"}))
        .send()
        .await
        .map_err(|err| err.to_string())?;
    let body = expect_status(response, 201).await?;
    body["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no task id in {body}"))
}

/// A chat turn read to its end; the time to its first text chunk.
async fn chat(front: &Front, user: &ApiUser, started: Instant) -> Result<Duration, String> {
    let response = front
        .http
        .post(format!("{}/api/{}/chat", front.base, user.id))
        .bearer_auth(&user.token)
        .header("accept", "text/event-stream")
        .json(&json!({"message": "add buy milk"}))
        .send()
        .await
        .map_err(|err| err.to_string())?;
    if response.status() != 200 {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let mut first_chunk = None;
    while let Some(bytes) = body.next().await {
        let bytes = bytes.map_err(|err| format!("the stream broke: {err}"))?;
        text.push_str(&String::from_utf8_lossy(&bytes));
        if first_chunk.is_none() && text.contains(r#""type":"chunk""#) {
            first_chunk = Some(started.elapsed());
        }
    }
    if text.contains(r#""type":"error""#) {
        return Err(format!("an error event: {text}"));
    }
    if !text.contains(r#""type":"done""#) {
        return Err("the stream ended without done".to_owned());
    }
    first_chunk.ok_or_else(|| "no text chunk".to_owned())
}

async fn expect_status(response: reqwest::Response, status: u16) -> Result<Value, String> {
    let got = response.status();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    if got.as_u16() == status {
        Ok(body)
    } else {
        Err(format!("HTTP {got}: {body}"))
    }
}

/// CPU time of each named process and of every `postgres` process, and of this one.
fn cpu_of(processes: &[(String, u32)]) -> Vec<(String, Duration)> {
    let mut cpu: Vec<(String, Duration)> = processes
        .iter()
        .map(|(name, pid)| (name.clone(), cpu_with_children(*pid)))
        .collect();
    cpu.push(("postgres".to_owned(), postgres_cpu()));
    cpu.push(("bench".to_owned(), cpu_time(None)));
    cpu
}

/// A process and its direct children (nginx's worker).
fn cpu_with_children(pid: u32) -> Duration {
    cpu_time(Some(pid))
        + processes_where(|stat| parent_of(stat) == Some(pid))
            .into_iter()
            .map(|child| cpu_time(Some(child)))
            .sum::<Duration>()
}

fn postgres_cpu() -> Duration {
    processes_where(|stat| stat.contains("(postgres)"))
        .into_iter()
        .map(|pid| cpu_time(Some(pid)))
        .sum()
}

/// Every process whose `/proc/<pid>/stat` line passes `keep`.
fn processes_where(keep: impl Fn(&str) -> bool) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| keep(&stat))
        })
        .collect()
}

fn parent_of(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 2..];
    after.split(' ').nth(1)?.parse().ok()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[expect(clippy::print_stdout, reason = "the report is the benchmark's output")]
fn print_line(line: &str) {
    println!("{line}");
}
