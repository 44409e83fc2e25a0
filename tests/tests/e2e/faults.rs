//! Faults survived, each under load against the real processes, each followed by counting the
//! acknowledged writes in the database: PostgreSQL stopped and started, the standalone task
//! server killed and restarted, the model server stalling, SIGTERM with open streams, and
//! kill -9 during a burst of writes.

use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};
use todo_tests::{
    agent::{AgentServer, ApiUser, FAKE_API_KEY, TestApp},
    chat::SseEvent,
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
    mcp::todo_mcp_command,
    pg_cluster::PrivatePostgres,
};
use tokio::task::JoinHandle;

/// The longest any request may take during a fault: bounded, never a hang (the host waits
/// 5 s for a database connection).
const REQUEST_BOUND: Duration = Duration::from_secs(8);

/// What a load of task creations (or chat messages) saw.
#[derive(Debug, Default)]
struct Outcomes {
    /// Titles (or messages) the server acknowledged: 201, or a chat stream's `start` event,
    /// which comes after the message is stored.
    acknowledged: Vec<String>,
    /// Every other answer: status and error code.
    refused: Vec<(StatusCode, String)>,
    /// Requests that got no HTTP answer (connection refused or cut).
    unanswered: usize,
    slowest: Duration,
}

/// Clients creating tasks as fast as they can until stopped, and one sending chat messages.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Outcomes>>,
    chat: Option<JoinHandle<Outcomes>>,
}

impl Load {
    /// `workers` clients creating tasks for `user`; with `chat_user`, one more sending that
    /// user chat messages.
    fn start(base: &str, user: &ApiUser, workers: usize, chat_user: Option<&ApiUser>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|worker| {
                let (base, user, stop) = (base.to_owned(), user.clone(), stop.clone());
                tokio::spawn(async move { create_tasks(&base, &user, worker, &stop).await })
            })
            .collect();
        let chat = chat_user.map(|user| {
            let (base, user, stop) = (base.to_owned(), user.clone(), stop.clone());
            tokio::spawn(async move { send_messages(&base, &user, &stop).await })
        });
        Self {
            stop,
            workers,
            chat,
        }
    }

    /// Stops the clients: what the task creations saw, and what the chat messages saw.
    async fn finish(self) -> (Outcomes, Outcomes) {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Outcomes::default();
        for worker in self.workers {
            let outcomes = worker.await.expect("a load worker");
            all.acknowledged.extend(outcomes.acknowledged);
            all.refused.extend(outcomes.refused);
            all.unanswered += outcomes.unanswered;
            all.slowest = all.slowest.max(outcomes.slowest);
        }
        let chat = match self.chat {
            Some(chat) => chat.await.expect("the chat worker"),
            None => Outcomes::default(),
        };
        (all, chat)
    }
}

/// A load client: every request bounded, a little past what the host may take.
fn load_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(REQUEST_BOUND + Duration::from_secs(5))
        .build()
        .expect("a client")
}

/// The status and error code of an answer that was not a success.
async fn refusal(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or("(no error JSON)");
    (status, code.to_owned())
}

/// Sends chat messages one after another; each counts as acknowledged when its stream's
/// `start` event arrives (the message is stored before it), and the client leaves then.
async fn send_messages(base: &str, user: &ApiUser, stop: &AtomicBool) -> Outcomes {
    use futures::StreamExt as _;
    let client = load_client();
    let mut outcomes = Outcomes::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let message = format!("note {n}");
        let started = Instant::now();
        let sent = client
            .post(format!("{base}/api/{}/chat", user.id))
            .bearer_auth(&user.token)
            .header("accept", "text/event-stream")
            .json(&json!({"message": message}))
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == StatusCode::OK => {
                let mut body = response.bytes_stream();
                let mut seen = String::new();
                while let Some(Ok(chunk)) = body.next().await {
                    seen.push_str(&String::from_utf8_lossy(&chunk));
                    if seen.contains(r#""type":"start""#) {
                        outcomes.acknowledged.push(message.clone());
                        break;
                    }
                }
            }
            Ok(response) => {
                outcomes.refused.push(refusal(response).await);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(_) => {
                outcomes.unanswered += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        outcomes.slowest = outcomes.slowest.max(started.elapsed());
    }
    outcomes
}

/// The user messages stored for `user` (all their conversations).
async fn stored_messages(url: &str, user: &ApiUser) -> HashSet<String> {
    let db = todo_mcp::db::connect(&url.parse().expect("a database URL"))
        .await
        .expect("connect to count");
    let backend = db.get_database_backend();
    let id = uuid::Uuid::try_parse(&user.id).expect("a user id");
    db.query_all_raw(Statement::from_sql_and_values(
        backend,
        "SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id \
         WHERE c.user_id = $1 AND m.role = 'user'",
        [id.into()],
    ))
    .await
    .expect("read the messages")
    .into_iter()
    .map(|row| row.try_get::<String>("", "content").expect("a message"))
    .collect()
}

/// The environment of a host under a fault test: chat messages are not rate-limited, so the
/// chat load runs into the fault, not into the limit.
const LOAD_ENV: [(&str, &str); 1] = [("CHAT_MESSAGES_PER_MINUTE", "100000")];

async fn create_tasks(base: &str, user: &ApiUser, worker: usize, stop: &AtomicBool) -> Outcomes {
    let client = load_client();
    let mut outcomes = Outcomes::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let title = format!("w{worker}-{n}");
        let started = Instant::now();
        let sent = client
            .post(format!("{base}/api/{}/tasks", user.id))
            .bearer_auth(&user.token)
            .json(&json!({"title": title}))
            .send()
            .await;
        outcomes.slowest = outcomes.slowest.max(started.elapsed());
        match sent {
            Ok(response) if response.status() == StatusCode::CREATED => {
                outcomes.acknowledged.push(title);
                continue;
            }
            Ok(response) => outcomes.refused.push(refusal(response).await),
            Err(_) => outcomes.unanswered += 1,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    outcomes
}

/// The titles of `user`'s tasks in the database at `url`.
async fn stored_titles(url: &str, user: &ApiUser) -> HashSet<String> {
    let db = todo_mcp::db::connect(&url.parse().expect("a database URL"))
        .await
        .expect("connect to count");
    let backend = db.get_database_backend();
    let id = uuid::Uuid::try_parse(&user.id).expect("a user id");
    db.query_all_raw(Statement::from_sql_and_values(
        backend,
        "SELECT title FROM tasks WHERE user_id = $1",
        [id.into()],
    ))
    .await
    .expect("read the tasks")
    .into_iter()
    .map(|row| row.try_get::<String>("", "title").expect("a title"))
    .collect()
}

fn assert_every_acknowledged_write_is_stored(outcomes: &Outcomes, stored: &HashSet<String>) {
    let lost: Vec<&String> = outcomes
        .acknowledged
        .iter()
        .filter(|title| !stored.contains(*title))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    eprintln!(
        "{} acknowledged, {} stored, {} refused, {} unanswered, slowest {:?}",
        outcomes.acknowledged.len(),
        stored.len(),
        outcomes.refused.len(),
        outcomes.unanswered,
        outcomes.slowest
    );
}

/// Waits until listing tasks answers 200 again after a fault (at most 20 s); how long it took.
async fn tasks_answer_again(server: &AgentServer, user: &ApiUser) -> Duration {
    let started = Instant::now();
    loop {
        let response = server
            .get(user, &format!("/api/{}/tasks?limit=1", user.id))
            .await;
        if response.status == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the API did not recover: {:?}",
            response.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get_status(base: &str, path: &str) -> Option<StatusCode> {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .timeout(REQUEST_BOUND)
        .send()
        .await
        .ok()
        .map(|response| response.status())
}

async fn wait_for_status(base: &str, path: &str, wanted: StatusCode, within: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < within {
        if get_status(base, path).await == Some(wanted) {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} did not answer {wanted} within {within:?}");
}

/// PostgreSQL stopped under load: `/readyz` answers 503, requests answer 503 JSON within a
/// bounded time, and when the database is back the host serves again by itself. Every
/// acknowledged task is in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_started_under_load() {
    let Some(postgres) = PrivatePostgres::start("faults::postgres_stopped_and_started_under_load")
    else {
        return;
    };
    let db = TestDb::external(postgres.url());
    let server = AgentServer::start_process(&db, &LOAD_ENV).await;
    let user = server.sign_up().await;
    let chatter = server.sign_up().await;
    let load = Load::start(&server.base, &user, 4, Some(&chatter));
    tokio::time::sleep(Duration::from_millis(700)).await;

    postgres.stop();
    let readyz_down = wait_for_status(
        &server.base,
        "/readyz",
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(3),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    postgres.start_server();
    let recovered = wait_for_status(
        &server.base,
        "/readyz",
        StatusCode::OK,
        Duration::from_secs(30),
    )
    .await;
    // Requests succeed again, without a restart.
    tasks_answer_again(&server, &user).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (outcomes, chat) = load.finish().await;
    eprintln!(
        "/readyz said 503 after {readyz_down:?}; ready again {recovered:?} after the restart"
    );

    assert!(!outcomes.acknowledged.is_empty());
    assert!(!outcomes.refused.is_empty(), "the outage was seen");
    for (status, code) in &outcomes.refused {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{code}");
        assert_eq!(code, "unavailable");
    }
    assert_eq!(outcomes.unanswered, 0, "every request got an answer");
    assert!(
        outcomes.slowest <= REQUEST_BOUND,
        "a request took {:?}",
        outcomes.slowest
    );
    let stored = stored_titles(&postgres.url(), &user).await;
    assert_every_acknowledged_write_is_stored(&outcomes, &stored);
    for (status, code) in &chat.refused {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "chat: {code}");
    }
    let messages = stored_messages(&postgres.url(), &chatter).await;
    assert_every_acknowledged_write_is_stored(&chat, &messages);
}

/// The standalone task server killed under load: task requests answer 503 `unavailable` and a
/// chat turn reports `tools_unavailable`; when it is back on its port the host uses it again
/// by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_task_server_killed_and_restarted() {
    let db = TestDb::create(Backend::Sqlite, "faults::mcp_restart")
        .await
        .expect("SQLite");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let bind = format!("127.0.0.1:{port}");
    let start_mcp = || {
        todo_mcp_command(&db, &["serve", "--bind", &bind], "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn todo-mcp serve")
    };
    let mut mcp = start_mcp();
    let mcp_url = format!("http://{bind}/mcp");
    wait_for_status(
        &format!("http://{bind}"),
        "/healthz",
        StatusCode::OK,
        Duration::from_secs(10),
    )
    .await;
    let server = AgentServer::start_process(
        &db,
        &[("MCP_TASKS_URL", &mcp_url), ("APP_MODE", "developer")],
    )
    .await;
    let user = server.sign_up().await;
    let load = Load::start(&server.base, &user, 3, None);
    tokio::time::sleep(Duration::from_millis(700)).await;

    mcp.kill().await.expect("kill todo-mcp");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let chat = server.chat(&user, json!({"message": "add buy milk"})).await;
    let end: &SseEvent = chat.last().expect("the turn ends with an event");
    assert_eq!(end.kind(), "error", "{chat:?}");
    assert_eq!(end.data["code"], "tools_unavailable");
    assert_eq!(end.data["retryable"], true);

    let _mcp = start_mcp();
    let took = tasks_answer_again(&server, &user).await;
    eprintln!("the host used the restarted task server after {took:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (outcomes, _) = load.finish().await;
    assert!(!outcomes.refused.is_empty(), "the outage was seen");
    for (status, code) in &outcomes.refused {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{code}");
        assert_eq!(code, "unavailable");
    }
    assert_eq!(outcomes.unanswered, 0);
    let stored = stored_titles(db.url(), &user).await;
    assert_every_acknowledged_write_is_stored(&outcomes, &stored);
}

/// The model stalls mid-reply: after the idle timeout the reply ends with a retryable `error`
/// event, and what came before the stall is stored, marked failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_stalling_mid_reply_ends_it_after_the_idle_timeout() {
    let db = TestDb::create(Backend::Sqlite, "faults::stall")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    fake.push(Reply::Stall(tokens("The first half of ")));
    let server = TestApp::new(&db)
        .model(&fake)
        .timing(|timing| timing.model.idle = Duration::from_secs(1))
        .start()
        .await;
    let user = server.sign_up().await;
    let started = Instant::now();
    let events = server.chat(&user, json!({"message": "tell me"})).await;
    let took = started.elapsed();
    let end = events.last().expect("an end");
    assert_eq!(end.kind(), "error", "{events:?}");
    assert_eq!(end.data["retryable"], true);
    assert!(took < Duration::from_secs(4), "ended after {took:?}");
    server.turns_settled().await;
    let conversation = events[0].data["conversation_id"].as_str().expect("an id");
    let messages = server
        .get(
            &user,
            &format!("/api/{}/conversations/{conversation}/messages", user.id),
        )
        .await;
    let last = messages.body["messages"]
        .as_array()
        .and_then(|it| it.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["role"], "assistant");
    assert_eq!(last["content"], "The first half of ");
    assert_eq!(last["status"], "failed");
}

/// SIGTERM with replies streaming: each stream ends (done, or a retryable `shutting_down`
/// error), the process exits 0 within its grace period, and every user message and every
/// reply, whole or cut, is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_open_streams_ends_them_and_keeps_every_message() {
    let db = TestDb::create(Backend::Sqlite, "faults::sigterm_streams")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    fake.set_token_delay(Duration::from_millis(40));
    fake.always(Reply::Text(tokens(&"word ".repeat(1_000))));
    let mut server = AgentServer::start_process(
        &db,
        &[
            ("OPENAI_API_KEY", FAKE_API_KEY),
            ("OPENAI_BASE_URL", fake.base_url.as_str()),
            ("OPENAI_MODEL", "fake-model"),
        ],
    )
    .await;
    let user = server.sign_up().await;
    let mut streams = Vec::new();
    for n in 0..3 {
        let mut stream = server
            .chat_stream(&user, json!({"message": format!("talk {n}")}))
            .await;
        assert_eq!(
            stream
                .next_event()
                .await
                .map(|event| event.kind().to_owned())
                .as_deref(),
            Some("start")
        );
        streams.push(stream);
    }
    server.signal("TERM");
    for mut stream in streams {
        let rest = stream.collect_all(Duration::from_secs(15)).await;
        let end = rest.last().expect("the stream ends with an event");
        assert!(
            end.kind() == "done"
                || (end.kind() == "error"
                    && end.data["code"] == "shutting_down"
                    && end.data["retryable"] == true),
            "{end:?}"
        );
    }
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .expect("the host exits within its grace period")
        .expect("a process");
    assert!(status.success(), "{status:?}");
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM messages WHERE role = 'user'")
            .await,
        3
    );
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM messages WHERE role = 'assistant' AND content <> ''")
            .await,
        3
    );
}

/// kill -9 in the middle of a burst of writes: every task the host acknowledged is in the
/// database afterwards, and the host starts again on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_of_writes_loses_no_acknowledged_task() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::create(backend, "faults::kill_9").await else {
            continue;
        };
        let server = AgentServer::start_process(&db, &LOAD_ENV).await;
        let user = server.sign_up().await;
        let chatter = server.sign_up().await;
        let load = Load::start(&server.base, &user, 6, Some(&chatter));
        tokio::time::sleep(Duration::from_millis(800)).await;
        server.signal("KILL");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (outcomes, chat) = load.finish().await;
        assert!(
            outcomes.acknowledged.len() > 10,
            "{backend:?}: only {} writes before the kill",
            outcomes.acknowledged.len()
        );
        let stored = stored_titles(db.url(), &user).await;
        assert_every_acknowledged_write_is_stored(&outcomes, &stored);
        assert!(
            !chat.acknowledged.is_empty(),
            "{backend:?}: no chat message before the kill"
        );
        let messages = stored_messages(db.url(), &chatter).await;
        assert_every_acknowledged_write_is_stored(&chat, &messages);
        drop(server);
        // The database is whole: a new host starts on it and lists every task.
        let again = AgentServer::start_process(&db, &[]).await;
        let listed = again
            .get(&user, &format!("/api/{}/tasks?limit=1", user.id))
            .await;
        assert_eq!(
            listed.status,
            StatusCode::OK,
            "{backend:?}: {:?}",
            listed.body
        );
    }
}
