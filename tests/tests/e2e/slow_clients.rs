//! Slow, idle and too many clients, tried against the real `todo-agent` process: connections
//! that never finish their headers, or send nothing, are closed within the configured timeout
//! while everyone else is served at once; at the connection cap, and out of file descriptors,
//! the host waits without spinning and serves again as soon as clients leave.

use std::time::{Duration, Instant};

use todo_tests::{
    agent::{AgentServer, cpu_time},
    db::{Backend, TestDb},
    mcp::workspace_binary,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    process::Command,
};

fn address(server: &AgentServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Waits until the server closes `stream` (EOF or reset); how long that took, or `None` when
/// it stayed open past `limit`.
async fn closed_within(mut stream: TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buffer),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            // hyper may answer a timed-out head with a 408 before closing.
            Ok(Ok(_)) => {}
        }
    }
}

/// `GET /healthz` on a new connection; how long it took, or `None` past `limit`.
async fn healthz(server: &AgentServer, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .ok()?;
    let response =
        tokio::time::timeout(limit, client.get(format!("{}/healthz", server.base)).send())
            .await
            .ok()?
            .ok()?;
    response.status().is_success().then(|| started.elapsed())
}

/// Half a header and no header at all are both cut off after `HEADER_READ_TIMEOUT_SECS`;
/// meanwhile a normal request answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_and_others_served_meanwhile() {
    let db = TestDb::create(Backend::Sqlite, "slow_clients::timeouts")
        .await
        .expect("SQLite");
    let server = AgentServer::start_process(&db, &[("HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let addr = address(&server);
    let mut slow = Vec::new();
    for n in 0..100 {
        let mut stream = TcpStream::connect(&addr).await.expect("connect");
        if n % 2 == 0 {
            stream
                .write_all(b"GET /api/openapi.json HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                .await
                .expect("write half a header");
        }
        slow.push(stream);
    }
    let answered = healthz(&server, Duration::from_secs(2)).await;
    assert!(
        answered.is_some_and(|took| took < Duration::from_millis(500)),
        "a normal request meanwhile took {answered:?}"
    );
    let closed = futures::future::join_all(
        slow.into_iter()
            .map(|stream| closed_within(stream, Duration::from_secs(4))),
    )
    .await;
    let open = closed.iter().filter(|it| it.is_none()).count();
    assert_eq!(
        open, 0,
        "{open} of 100 slow connections were still open after 4 s"
    );
    let slowest = closed.iter().flatten().max().copied().unwrap_or_default();
    assert!(
        slowest <= Duration::from_millis(2_500),
        "the last was closed after {slowest:?}"
    );
}

/// A connection on which nothing happens after a request is closed at the header timeout;
/// one whose client stopped reading a stream is closed after `IDLE_TIMEOUT_SECS`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_alive_connections_that_go_quiet_are_closed() {
    let db = TestDb::create(Backend::Sqlite, "slow_clients::keep_alive")
        .await
        .expect("SQLite");
    let server = AgentServer::start_process(
        &db,
        &[
            ("HEADER_READ_TIMEOUT_SECS", "1"),
            ("IDLE_TIMEOUT_SECS", "2"),
        ],
    )
    .await;
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("send a request");
    let mut buffer = [0u8; 512];
    let read = stream.read(&mut buffer).await.expect("an answer");
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
    let closed = closed_within(stream, Duration::from_secs(4)).await;
    assert!(
        closed.is_some_and(|took| took <= Duration::from_millis(2_500)),
        "{closed:?}"
    );
}

/// At `MAX_CONNECTIONS` new clients wait in the backlog; the host does not spin, and answers
/// as soon as the clients leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_the_host_waits_without_spinning() {
    let db = TestDb::create(Backend::Sqlite, "slow_clients::cap")
        .await
        .expect("SQLite");
    let server = AgentServer::start_process(
        &db,
        &[
            ("MAX_CONNECTIONS", "20"),
            ("HEADER_READ_TIMEOUT_SECS", "60"),
            ("IDLE_TIMEOUT_SECS", "60"),
        ],
    )
    .await;
    assert_waits_then_recovers(&server, 20).await;
}

/// Out of file descriptors (`prlimit --nofile=64`, with a cap set above it), `accept` fails:
/// the host backs off instead of spinning, and answers once clients leave. With the default
/// cap, derived from the descriptor limit, the cap is reached first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_host_backs_off_and_recovers() {
    for (name, cap) in [("explicit", Some("1000")), ("default", None)] {
        let db = TestDb::create(Backend::Sqlite, "slow_clients::descriptors")
            .await
            .expect("SQLite");
        let mut command = Command::new("prlimit");
        command
            .args(["--nofile=64:64", "--"])
            .arg(workspace_binary("todo-agent"))
            .arg("serve");
        let mut env = vec![
            ("HEADER_READ_TIMEOUT_SECS", "60"),
            ("IDLE_TIMEOUT_SECS", "60"),
        ];
        if let Some(cap) = cap {
            env.push(("MAX_CONNECTIONS", cap));
        }
        let server = AgentServer::start_command(command, &db, &env).await;
        eprintln!("descriptor limit 64, {name} cap");
        assert_waits_then_recovers(&server, 80).await;
    }
}

async fn assert_waits_then_recovers(server: &AgentServer, clients: usize) {
    let addr = address(server);
    let mut held = Vec::new();
    for _ in 0..clients {
        // Past the cap (or the descriptors) the kernel still completes connections into the
        // listen backlog, so every connect succeeds.
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&addr)).await
        {
            held.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.pid().expect("a process");
    let before = cpu_time(Some(pid));
    let waited = healthz(server, Duration::from_secs(2)).await;
    let spent = cpu_time(Some(pid)) - before;
    assert!(
        waited.is_none(),
        "full, the host still answered in {waited:?}"
    );
    assert!(
        spent < Duration::from_millis(600),
        "the host used {spent:?} of CPU in 2 s while full: it spins"
    );
    drop(held);
    let answered = healthz(server, Duration::from_secs(5)).await;
    assert!(
        answered.is_some(),
        "the host answers again once the clients left"
    );
}
