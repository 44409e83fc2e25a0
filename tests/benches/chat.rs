//! `cargo bench -p todo-tests --bench chat`: the chat stream against the fake model server.
//!
//! - the time to the first `chunk` that the host adds over the fake's own (the fake writes its
//!   first token; the client reads it as an SSE event), p50/p99 at 1, 50 and 500 concurrent
//!   streams, with a fixed token delay;
//! - the same through `POST /chatkit` (the first `text_delta`) beside the chat route, at 1 and
//!   50 streams: what ChatKit's framing adds;
//! - tokens per second through the host, with no token delay;
//! - resident memory of the host with 500 streams open;
//! - the time of a whole turn (JSON mode) in a conversation of 50 and of 10,000 messages;
//! - CPU per turn: turns of one `add_task` call then 50 tokens (two model requests, no token
//!   delay) at 10 and 50 at once, with turns/s, the time to the first text chunk, and the CPU
//!   time per turn of the host process and of this one (the fake model and the load
//!   generator), read from `/proc/<pid>/stat`.
//!
//! The host is this executable started again with `TODO_BENCH_ROLE=agent-server` (see
//! `benches/api.rs`), on SQLite, with `OPENAI_BASE_URL` pointing at the fake in this process.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use todo_tests::{
    agent::{AgentServer, ApiUser, cpu_time, resident_kb},
    chatkit::ChatKitClient,
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USERS: usize = 50;
const TOKEN_DELAY: Duration = Duration::from_millis(20);
const REPLY: &str = "Sure, I added buy milk for tomorrow with high priority and tagged it home.";
const TURNS: usize = 100;

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

struct Bench {
    server: AgentServer,
    fake: FakeOpenAi,
    users: Vec<ApiUser>,
    db: TestDb,
}

impl Bench {
    /// The host on a new database of `backend` with its users signed up; `None` when that
    /// database is not available.
    async fn start(backend: Backend) -> Option<Self> {
        let db = TestDb::create(backend, "bench chat").await?;
        let fake = FakeOpenAi::start().await;
        // Production mode with its default log level: JSON lines of every turn, as deployed.
        let env = [
            ("OPENAI_API_KEY", "sk-bench"),
            ("OPENAI_BASE_URL", fake.base_url.as_str()),
            ("RUST_LOG", todo_mcp::config::DEFAULT_LOG_FILTER),
        ];
        let server = AgentServer::start_bench(&db, &env).await;
        let mut users = Vec::new();
        for _ in 0..USERS {
            users.push(server.sign_up().await);
        }
        Some(Self {
            server,
            fake,
            users,
            db,
        })
    }
}

async fn run() {
    // `cargo bench -p todo-tests --bench chat -- cpu` runs the CPU-per-turn lines only, on
    // SQLite and (with TEST_DATABASE_URL) PostgreSQL.
    if std::env::args().any(|arg| arg == "cpu") {
        let mut report = Vec::new();
        for (backend, name) in [
            (Backend::Sqlite, "SQLite"),
            (Backend::Postgres, "PostgreSQL"),
        ] {
            let Some(bench) = Bench::start(backend).await else {
                continue;
            };
            for line in cpu_per_turn_lines(&bench).await {
                report.push(format!("{name:<10} {line}"));
            }
        }
        print_report(&report);
        return;
    }
    let bench = Bench::start(Backend::Sqlite)
        .await
        .expect("SQLite is always available");
    let mut report = Vec::new();
    // `... -- chatkit` runs the ChatKit line only.
    if std::env::args().any(|arg| arg == "chatkit") {
        report.extend(chatkit_first_delta_lines(&bench).await);
        print_report(&report);
        return;
    }

    // Memory first, so the idle figure is the host before any load.
    let (idle, open) = memory_with_open_streams(&bench, 500).await;
    report.push(format!(
        "resident memory: {:.1} MB idle, {:.1} MB with 500 streams open ({:.1} KB per stream)",
        idle as f64 / 1024.0,
        open as f64 / 1024.0,
        (open.saturating_sub(idle)) as f64 / 500.0,
    ));

    bench.fake.set_token_delay(TOKEN_DELAY);
    bench.fake.always(Reply::text(REPLY));
    for (streams, rounds) in [(1, 20), (50, 4), (500, 1)] {
        let mut histogram = Histogram::<u64>::new(3).expect("histogram");
        let mut elapsed = Duration::ZERO;
        for _ in 0..rounds {
            let (round, took) = first_chunk_overhead(&bench, streams, Frontend::Chat).await;
            histogram.add(round).expect("merge");
            elapsed += took;
        }
        report.push(format!(
            "first chunk added by the host, {streams:>3} streams: p50 {:.2} ms, p99 {:.2} ms \
             ({} streams, {:.2} s per round of {streams})",
            histogram.value_at_quantile(0.5) as f64 / 1000.0,
            histogram.value_at_quantile(0.99) as f64 / 1000.0,
            histogram.len(),
            elapsed.as_secs_f64() / rounds as f64,
        ));
    }

    report.extend(chatkit_first_delta_lines(&bench).await);

    bench.fake.set_token_delay(Duration::ZERO);
    for streams in [1, 50] {
        let long = "token ".repeat(2_000);
        bench.fake.always(Reply::text(&long));
        let (chunks, elapsed) = throughput(&bench, streams).await;
        report.push(format!(
            "tokens through the host, {streams:>3} streams: {:.0} tokens/s ({chunks} in {:.2} s)",
            chunks as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64()
        ));
    }

    bench.fake.set_token_delay(Duration::ZERO);
    bench.fake.always(Reply::text("Done."));
    let short = seed_conversation(&bench, &bench.users[0], 50).await;
    let long = seed_conversation(&bench, &bench.users[0], 10_000).await;
    // Interleaved, so drift on the machine affects both alike.
    let mut histograms = [
        Histogram::<u64>::new(3).expect("histogram"),
        Histogram::<u64>::new(3).expect("histogram"),
    ];
    for i in 0..TURNS {
        for (conversation, histogram) in [&short, &long].into_iter().zip(histograms.iter_mut()) {
            let took = turn_time(&bench, conversation, i).await;
            histogram.record(took.as_micros() as u64).expect("record");
        }
    }
    for (stored, histogram) in [50, 10_000].into_iter().zip(&histograms) {
        report.push(format!(
            "a whole turn with {stored:>5} stored messages: p50 {:.2} ms, p99 {:.2} ms",
            histogram.value_at_quantile(0.5) as f64 / 1000.0,
            histogram.value_at_quantile(0.99) as f64 / 1000.0,
        ));
    }
    report.extend(cpu_per_turn_lines(&bench).await);
    print_report(&report);
}

/// After a warm-up (connections, SQLite's pages), CPU per turn at 10 and 50 turns at once.
async fn cpu_per_turn_lines(bench: &Bench) -> Vec<String> {
    cpu_per_turn(bench, 10, 100).await;
    let mut lines = Vec::new();
    for concurrency in [10, 50] {
        lines.push(cpu_per_turn(bench, concurrency, 1_000).await);
    }
    lines
}

/// `turns` turns of one `add_task` call then 50 tokens, `concurrency` at a time, each starting
/// a conversation: one report line.
async fn cpu_per_turn(bench: &Bench, concurrency: usize, turns: usize) -> String {
    bench.fake.set_token_delay(Duration::ZERO);
    bench.fake.always(Reply::CallsThenText {
        calls: vec![("add_task".to_owned(), json!({"title": "buy milk"}))],
        text: tokens(&"word ".repeat(50)),
    });
    let host = bench.server.pid();
    let (host_before, own_before) = (cpu_time(host), cpu_time(None));
    let started = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = (0..concurrency).map(|_| {
        let next = &next;
        async move {
            let mut histogram = Histogram::<u64>::new(3).expect("histogram");
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= turns {
                    return histogram;
                }
                let user = &bench.users[i % bench.users.len()];
                let sent = Instant::now();
                let mut stream = bench
                    .server
                    .chat_stream(user, json!({"message": "add buy milk"}))
                    .await;
                let mut first = None;
                let mut end = String::new();
                while let Some(event) = stream.next_event().await {
                    if event.kind() == "chunk" && first.is_none() {
                        first = Some(event.at.duration_since(sent));
                    }
                    end = event.kind().to_owned();
                }
                assert_eq!(end, "done", "turn {i} ended with {end}");
                let first = first.expect("a text chunk");
                histogram.record(first.as_micros() as u64).expect("record");
            }
        }
    });
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    for worker in futures::future::join_all(workers).await {
        histogram.add(worker).expect("merge");
    }
    let elapsed = started.elapsed();
    let host_cpu = cpu_time(host) - host_before;
    let own_cpu = cpu_time(None) - own_before;
    format!(
        "{concurrency:>2} turns at once (add_task + 50 tokens): {:.0} turns/s, first chunk p50 \
         {:.2} ms p99 {:.2} ms, host CPU per turn {:.2} ms, fake + load generator {:.2} ms",
        turns as f64 / elapsed.as_secs_f64(),
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        host_cpu.as_secs_f64() * 1000.0 / turns as f64,
        own_cpu.as_secs_f64() * 1000.0 / turns as f64,
    )
}

/// The time to the first text through `/chatkit` beside the chat route's, rounds of each in
/// turn so that drift on the machine affects both alike: what ChatKit's framing adds.
async fn chatkit_first_delta_lines(bench: &Bench) -> Vec<String> {
    bench.fake.set_token_delay(TOKEN_DELAY);
    bench.fake.always(Reply::text(REPLY));
    let mut lines = Vec::new();
    for (streams, rounds) in [(1, 20), (50, 4)] {
        let mut native = Histogram::<u64>::new(3).expect("histogram");
        let mut chatkit = Histogram::<u64>::new(3).expect("histogram");
        for _ in 0..rounds {
            let (round, _) = first_chunk_overhead(bench, streams, Frontend::Chat).await;
            native.add(round).expect("merge");
            let (round, _) = first_chunk_overhead(bench, streams, Frontend::ChatKit).await;
            chatkit.add(round).expect("merge");
        }
        let ms = |histogram: &Histogram<u64>, quantile| {
            histogram.value_at_quantile(quantile) as f64 / 1000.0
        };
        lines.push(format!(
            "first text delta through /chatkit, {streams:>3} streams: p50 {:.2} ms, p99 {:.2} ms \
             (chat route p50 {:.2} ms, p99 {:.2} ms: ChatKit adds {:+.2} ms at p50, {:+.2} ms at p99)",
            ms(&chatkit, 0.5),
            ms(&chatkit, 0.99),
            ms(&native, 0.5),
            ms(&native, 0.99),
            ms(&chatkit, 0.5) - ms(&native, 0.5),
            ms(&chatkit, 0.99) - ms(&native, 0.99),
        ));
    }
    lines
}

/// The frontend a stream is read through.
#[derive(Clone, Copy, PartialEq)]
enum Frontend {
    /// `POST /api/{user_id}/chat`: the first `chunk` event.
    Chat,
    /// `POST /chatkit`: the first `text_delta` update.
    ChatKit,
}

/// Opens `streams` chats at once; for each, the delay between the fake writing its first
/// token and the client reading it as the first text event of `frontend`.
async fn first_chunk_overhead(
    bench: &Bench,
    streams: usize,
    frontend: Frontend,
) -> (Histogram<u64>, Duration) {
    let started = Instant::now();
    let before = bench.fake.requests().len();
    let clients = (0..streams).map(|i| {
        let user = &bench.users[i % bench.users.len()];
        let marker = format!("bench stream {i} {}", uuid::Uuid::now_v7());
        async move {
            let mut stream = match frontend {
                Frontend::Chat => {
                    bench
                        .server
                        .chat_stream(user, json!({"message": marker}))
                        .await
                }
                Frontend::ChatKit => {
                    ChatKitClient::new(&bench.server, user)
                        .open(json!({"type": "threads.create", "params": {"input": {
                            "content": [{"type": "input_text", "text": marker}],
                            "attachments": [], "inference_options": {}
                        }}}))
                        .await
                }
            };
            let mut first = None;
            while let Some(event) = stream.next_event().await {
                let text = match frontend {
                    Frontend::Chat => event.kind() == "chunk",
                    Frontend::ChatKit => {
                        event.data["update"]["type"] == "assistant_message.content_part.text_delta"
                    }
                };
                if text && first.is_none() {
                    first = Some(event.at);
                }
                assert_ne!(event.kind(), "error", "{:?}", event.data);
            }
            (marker, first.expect("a text event"))
        }
    });
    let results = futures::future::join_all(clients).await;
    let elapsed = started.elapsed();
    let requests = bench.fake.requests();
    let mut histogram = Histogram::<u64>::new(3).expect("histogram");
    for (marker, client_at) in results {
        let request = requests[before..]
            .iter()
            .find(|request| last_user_message(&request.body) == marker)
            .expect("the fake saw every stream");
        let fake_at = request
            .first_token_at
            .lock()
            .expect("lock")
            .expect("the fake wrote a token");
        let added = client_at.saturating_duration_since(fake_at);
        histogram.record(added.as_micros() as u64).expect("record");
    }
    (histogram, elapsed)
}

fn last_user_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Chunks per second through the host with `streams` long replies at once.
async fn throughput(bench: &Bench, streams: usize) -> (usize, Duration) {
    let started = Instant::now();
    let clients = (0..streams).map(|i| {
        let user = &bench.users[i % bench.users.len()];
        async move {
            let events = bench.server.chat(user, json!({"message": "talk"})).await;
            events
                .iter()
                .filter(|event| event.kind() == "chunk")
                .count()
        }
    });
    let chunks = futures::future::join_all(clients).await.into_iter().sum();
    (chunks, started.elapsed())
}

/// The host's resident memory (KB) idle, and with `streams` streams open: each reply trickles
/// a token every half second, so the streams stay open while memory is read, and a client that
/// leaves afterwards is noticed at the next token.
async fn memory_with_open_streams(bench: &Bench, streams: usize) -> (u64, u64) {
    let pid = bench.server.pid().expect("the server runs");
    let idle = resident_kb(pid);
    let cancelled_before = bench.fake.cancelled();
    bench.fake.set_token_delay(Duration::from_millis(500));
    bench.fake.always(Reply::Text(tokens(&"slow ".repeat(200))));
    let mut open = Vec::new();
    for i in 0..streams {
        let user = &bench.users[i % bench.users.len()];
        let mut stream = bench
            .server
            .chat_stream(user, json!({"message": "wait"}))
            .await;
        assert_eq!(stream.next_event().await.expect("start").kind(), "start");
        open.push(stream);
    }
    for stream in &mut open {
        assert_eq!(stream.next_event().await.expect("a chunk").kind(), "chunk");
    }
    let held = resident_kb(pid);
    drop(open);
    let all_closed = bench
        .fake
        .wait_cancelled(cancelled_before + streams, Duration::from_secs(20))
        .await;
    assert!(
        all_closed,
        "the host kept model requests of clients that left"
    );
    (idle, held)
}

/// The time of one whole turn (JSON mode) in `conversation`.
async fn turn_time(bench: &Bench, conversation: &str, turn: usize) -> Duration {
    let user = &bench.users[0];
    let url = format!("{}/api/{}/chat", bench.server.base, user.id);
    let started = Instant::now();
    let response = bench
        .server
        .http
        .post(&url)
        .bearer_auth(&user.token)
        .header("accept", "application/json")
        .json(&json!({"conversation_id": conversation, "message": format!("turn {turn}")}))
        .send()
        .await
        .expect("chat");
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.expect("read");
    started.elapsed()
}

/// A conversation of `count` messages of about 100 tokens each.
async fn seed_conversation(bench: &Bench, user: &ApiUser, count: usize) -> String {
    let sentence =
        "a message of about a hundred tokens, like a real question or answer. ".repeat(6);
    todo_tests::chat::seed_conversation(&bench.db, user, count, |n, _| format!("{n}: {sentence}"))
        .await
        .to_string()
}

#[expect(clippy::print_stdout, reason = "the report is the benchmark's output")]
fn print_report(lines: &[String]) {
    println!(
        "\nchat through todo-agent (SQLite unless named, fake model, token delay {TOKEN_DELAY:?} where timed)"
    );
    for line in lines {
        println!("  {line}");
    }
}
