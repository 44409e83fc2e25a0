//! Abuse limits, tried from outside: sign-in attempts per account and address and per
//! address, password hashes at once, chat messages per user and replies running at once; and
//! work that stops when nobody waits for it any more.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;
use todo_tests::{
    agent::{AgentServer, ApiResponse, TestApp, read},
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
};

async fn sign_in_from(
    server: &AgentServer,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> ApiResponse {
    let mut request = server
        .http
        .post(format!("{}/api/auth/signin", server.base))
        .json(&json!({"email": email, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    read(request.send().await.expect("reach todo-agent")).await
}

fn retry_after(response: &ApiResponse) -> u64 {
    response.headers["retry-after"]
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds")
}

/// Wrong passwords for one account from one address run out after the configured number
/// (429 with `Retry-After`, the right password too); the owner, elsewhere, still signs in.
/// `X-Forwarded-For` counts only from a trusted proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_account_and_address() {
    let db = TestDb::create(Backend::Sqlite, "limits::sign_in")
        .await
        .expect("SQLite");
    let server = AgentServer::start(
        &db,
        &[
            ("SIGNIN_ATTEMPTS_PER_MINUTE", "5"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let user = server.sign_up().await;
    let attacker = Some("198.51.100.7");
    for attempt in 1..=5 {
        let refused = sign_in_from(&server, &user.email, "wrong password!", attacker).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let limited = sign_in_from(&server, &user.email, "wrong password!", attacker).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        limited.body
    );
    assert_eq!(limited.error_code(), "rate_limited");
    let wait = retry_after(&limited);
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    let right_but_limited =
        sign_in_from(&server, &user.email, "correct horse battery", attacker).await;
    assert_eq!(right_but_limited.status, StatusCode::TOO_MANY_REQUESTS);
    // The owner, from home, is not locked out.
    let owner = sign_in_from(
        &server,
        &user.email,
        "correct horse battery",
        Some("192.0.2.1"),
    )
    .await;
    assert_eq!(owner.status, StatusCode::OK, "{:?}", owner.body);

    // Without a trusted proxy the header is the client's own claim, and changes nothing.
    let direct_db = TestDb::create(Backend::Sqlite, "limits::sign_in_direct")
        .await
        .expect("SQLite");
    let direct = AgentServer::start(&direct_db, &[("SIGNIN_ATTEMPTS_PER_MINUTE", "5")]).await;
    let user = direct.sign_up().await;
    let mut statuses = Vec::new();
    for attempt in 0..7 {
        let forged = format!("203.0.113.{attempt}");
        statuses.push(
            sign_in_from(&direct, &user.email, "wrong password!", Some(&forged))
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(&statuses[5..], &[StatusCode::TOO_MANY_REQUESTS; 2]);
}

/// One address trying many accounts runs out of attempts for all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_address() {
    let db = TestDb::create(Backend::Sqlite, "limits::per_address")
        .await
        .expect("SQLite");
    let server = AgentServer::start(
        &db,
        &[
            ("SIGNIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE", "8"),
            ("TRUSTED_PROXIES", "127.0.0.0/8"),
        ],
    )
    .await;
    let mut statuses = Vec::new();
    for n in 0..10 {
        let email = format!("nobody-{n}@example.com");
        statuses.push(
            sign_in_from(&server, &email, "any password", Some("198.51.100.9"))
                .await
                .status,
        );
    }
    assert_eq!(&statuses[..8], &[StatusCode::UNAUTHORIZED; 8]);
    assert_eq!(&statuses[8..], &[StatusCode::TOO_MANY_REQUESTS; 2]);
    let elsewhere = sign_in_from(
        &server,
        "nobody-0@example.com",
        "any password",
        Some("192.0.2.44"),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
}

/// Many sign-ins at once: one hash at a time, two may wait, the rest get 503 `busy` with
/// `Retry-After` at once; nothing else fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_hashing_is_bounded() {
    let db = TestDb::create(Backend::Sqlite, "limits::hashing")
        .await
        .expect("SQLite");
    let server = AgentServer::start(
        &db,
        &[
            ("PASSWORD_HASHES_AT_ONCE", "1"),
            ("PASSWORD_HASH_QUEUE", "2"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ],
    )
    .await;
    let attempts = (0..40).map(|n| {
        let server = &server;
        async move {
            let email = format!("flood-{n}@example.com");
            let address = format!("198.51.100.{n}");
            sign_in_from(server, &email, "some password", Some(&address)).await
        }
    });
    let responses = futures::future::join_all(attempts).await;
    let busy: Vec<&ApiResponse> = responses
        .iter()
        .filter(|response| response.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    let refused = responses
        .iter()
        .filter(|response| response.status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(
        busy.len() + refused,
        40,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        busy.len() >= 20,
        "only {} of 40 were turned away",
        busy.len()
    );
    assert!(refused >= 3, "the running and waiting ones are answered");
    for response in busy {
        assert_eq!(response.error_code(), "busy");
        assert_eq!(retry_after(response), 1);
    }
}

/// A user's messages beyond the rate get 429 with `Retry-After`, and are not stored; another
/// user is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_messages_are_rate_limited_per_user() {
    let db = TestDb::create(Backend::Sqlite, "limits::chat_rate")
        .await
        .expect("SQLite");
    let server = AgentServer::start(&db, &[("CHAT_MESSAGES_PER_MINUTE", "3")]).await;
    let user = server.sign_up().await;
    let chat = format!("/api/{}/chat", user.id);
    for n in 0..3 {
        let events = server
            .chat(&user, json!({"message": format!("show my tasks {n}")}))
            .await;
        assert_eq!(
            events
                .last()
                .map(|event| event.kind().to_owned())
                .as_deref(),
            Some("done")
        );
    }
    let limited = server
        .request(
            Method::POST,
            &chat,
            Some(&user.token),
            Some(json!({"message": "one more"})),
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        limited.body
    );
    assert_eq!(limited.error_code(), "rate_limited");
    assert!(retry_after(&limited) >= 1);
    server.turns_settled().await;
    assert_eq!(
        db.count("SELECT COUNT(*) AS n FROM messages WHERE role = 'user'")
            .await,
        3,
        "the refused message is not stored"
    );
    let other = server.sign_up().await;
    let events = server
        .chat(&other, json!({"message": "show my tasks"}))
        .await;
    assert_eq!(
        events
            .last()
            .map(|event| event.kind().to_owned())
            .as_deref(),
        Some("done")
    );
}

/// Replies running at once are capped per user (429) and in all (503 `busy`); a place frees
/// when a reply ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replies_are_capped_per_user_and_in_all() {
    let db = TestDb::create(Backend::Sqlite, "limits::turns")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    fake.always(Reply::Stall(tokens("thinking")));
    let server = TestApp::new(&db)
        .model(&fake)
        .env("CHAT_TURNS_PER_USER", "2")
        .env("CHAT_TURNS_TOTAL", "3")
        .start()
        .await;
    let ada = server.sign_up().await;
    let bob = server.sign_up().await;
    let mut first = server.chat_stream(&ada, json!({"message": "one"})).await;
    let _second = server.chat_stream(&ada, json!({"message": "two"})).await;
    let third = server.chat_stream(&ada, json!({"message": "three"})).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    let _bobs = server.chat_stream(&bob, json!({"message": "mine"})).await;
    let full = server
        .chat_stream(&bob, json!({"message": "and mine"}))
        .await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        full.error
            .as_ref()
            .map(|body| body["error"]["code"].clone()),
        Some(json!("busy"))
    );
    // Ada leaves one reply: its place frees once the turn has stored what it had.
    assert_eq!(
        first
            .next_event()
            .await
            .map(|event| event.kind().to_owned())
            .as_deref(),
        Some("start")
    );
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let stream = server.chat_stream(&ada, json!({"message": "again"})).await;
        if stream.status == StatusCode::OK {
            again = Some(stream);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a place frees when a reply ends");
}

/// In JSON mode, a client that leaves stops the model request too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_client_that_leaves_stops_the_model_request() {
    let db = TestDb::create(Backend::Sqlite, "limits::json_leaves")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    fake.set_token_delay(Duration::from_millis(50));
    fake.push(Reply::Text(tokens(&"word ".repeat(400))));
    let server = TestApp::new(&db).model(&fake).start().await;
    let user = server.sign_up().await;
    let leaving = server
        .http
        .post(format!("{}/api/{}/chat", server.base, user.id))
        .bearer_auth(&user.token)
        .header("accept", "application/json")
        .timeout(Duration::from_millis(600))
        .json(&json!({"message": "talk a lot"}))
        .send()
        .await;
    assert!(leaving.is_err(), "the client gave up before the reply");
    assert!(
        fake.wait_cancelled(1, Duration::from_secs(3)).await,
        "the model request was dropped with the client"
    );
    server.turns_settled().await;
}

/// Deleting a conversation while its reply streams ends the stream with a `not_found` error
/// and stores nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_conversation_stops_its_reply() {
    let db = TestDb::create(Backend::Sqlite, "limits::delete_streaming")
        .await
        .expect("SQLite");
    let fake = FakeOpenAi::start().await;
    fake.set_token_delay(Duration::from_millis(30));
    fake.push(Reply::Text(tokens(&"word ".repeat(300))));
    let server = TestApp::new(&db).model(&fake).start().await;
    let user = server.sign_up().await;
    let mut stream = server.chat_stream(&user, json!({"message": "talk"})).await;
    let start = stream.next_event().await.expect("start");
    let conversation = start.data["conversation_id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let chunk = stream.next_event().await.expect("a chunk");
    assert_eq!(chunk.kind(), "chunk");
    let deleted = server
        .request(
            Method::DELETE,
            &format!("/api/{}/conversations/{conversation}", user.id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let rest = stream.collect_all(Duration::from_secs(5)).await;
    let end = rest.last().expect("the stream ends with an event");
    assert_eq!(end.kind(), "error", "{rest:?}");
    assert_eq!(end.data["code"], "not_found");
    assert!(fake.wait_cancelled(1, Duration::from_secs(3)).await);
    server.turns_settled().await;
    let left = db.count("SELECT COUNT(*) AS n FROM messages").await;
    assert_eq!(left, 0);
}
