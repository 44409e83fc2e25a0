//! What goes wrong: the model server refusing, failing, breaking off or stalling, the client
//! leaving, the host stopping. Each ends the stream with one `error` event (or quietly, for a
//! client gone) and stores the reply as far as it got.

use std::time::{Duration, Instant};

use todo_tests::{
    agent::test_timing,
    db::Backend,
    fake_openai::{Reply, tokens},
};

use super::{Ctx, last, message, stored_messages, text_of, with_fake_model};

with_fake_model!(
    a_retry_after_too_long_to_wait_for_ends_the_turn_at_once,
    a_refusal_reaches_the_user_in_our_words,
    a_429_is_retried_after_its_retry_after,
    giving_up_is_reported_within_a_second,
    a_cut_mid_stream_is_stored_as_partial,
    a_client_that_leaves_stops_the_upstream_request,
);

async fn a_429_is_retried_after_its_retry_after(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::rate_limited("1"));
    ctx.fake.push(Reply::text("Here I am."));
    let events = ctx.server.chat(&user, message("hello")).await;
    assert_eq!(last(&events).kind(), "done", "{events:?}");
    assert_eq!(text_of(&events), "Here I am.");
    let requests = ctx.fake.requests();
    assert_eq!(requests.len(), 2);
    let waited = requests[1].received_at - requests[0].received_at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(3), "retried after {waited:?}");
}

async fn giving_up_is_reported_within_a_second(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.always(Reply::status(500));
    let events = ctx.server.chat(&user, message("hello")).await;
    let end = last(&events);
    assert_eq!(end.kind(), "error", "{events:?}");
    assert_eq!(end.data["retryable"], true);
    assert_eq!(end.data["code"], "upstream_unavailable");
    let requests = ctx.fake.requests();
    assert!(requests.len() >= 3, "retried {} times", requests.len());
    let since_last = end.at - requests.last().unwrap().received_at;
    assert!(
        since_last < Duration::from_secs(1),
        "error {since_last:?} after giving up"
    );

    // A Retry-After longer than the budget: no point waiting, the client hears at once.
    let ctx2 = ctx;
    ctx2.fake.push(Reply::rate_limited("120"));
    let started = Instant::now();
    let events = ctx2.server.chat(&user, message("again")).await;
    assert_eq!(last(&events).kind(), "error");
    assert_eq!(last(&events).data["retryable"], true);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

async fn a_cut_mid_stream_is_stored_as_partial(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::CutAfter(tokens("The first part of ")));
    let events = ctx.server.chat(&user, message("tell me")).await;
    assert_eq!(text_of(&events), "The first part of ");
    let end = last(&events);
    assert_eq!(end.kind(), "error", "{events:?}");
    assert_eq!(end.data["retryable"], true);
    // Not retried: tokens had been streamed.
    assert_eq!(ctx.fake.requests().len(), 1);
    let conversation = events[0].data["conversation_id"].as_str().unwrap();
    let stored = stored_messages(&ctx, &user, conversation).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1]["content"], "The first part of ");
    assert_eq!(stored[1]["status"], "failed");
    assert_eq!(stored[1]["id"], events[0].data["message_id"]);
}

async fn a_client_that_leaves_stops_the_upstream_request(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.set_token_delay(Duration::from_millis(50));
    ctx.fake.push(Reply::Text(tokens(&"word ".repeat(400))));
    let mut stream = ctx.server.chat_stream(&user, message("talk a lot")).await;
    let start = stream.next_event().await.expect("start");
    let chunk = stream.next_event().await.expect("a chunk");
    assert_eq!(chunk.kind(), "chunk");
    drop(stream);
    assert!(
        ctx.fake.wait_cancelled(1, Duration::from_secs(5)).await,
        "the host kept reading the model's reply after the client left"
    );
    ctx.server.turns_settled().await;
    let conversation = start.data["conversation_id"].as_str().unwrap();
    let stored = stored_messages(&ctx, &user, conversation).await;
    let reply = &stored[1];
    assert_eq!(reply["status"], "cancelled");
    let content = reply["content"].as_str().unwrap();
    assert!(content.starts_with("word "), "{content:?}");
    assert!(content.len() < 400 * 5, "{}", content.len());
}

async fn a_retry_after_too_long_to_wait_for_ends_the_turn_at_once(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    // 1e20 seconds does not fit a duration: the host must neither panic nor wait.
    ctx.fake.push(Reply::rate_limited("1e20"));
    let started = Instant::now();
    let events = ctx.server.chat(&user, message("hello")).await;
    let end = last(&events);
    assert_eq!(end.kind(), "error", "{events:?}");
    assert_eq!(end.data["code"], "upstream_unavailable");
    assert_eq!(end.data["retryable"], true);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ctx.fake.requests().len(), 1, "no retry waits for 1e20 s");
    ctx.server.turns_settled().await;
    let conversation = events[0].data["conversation_id"].as_str().unwrap();
    let stored = stored_messages(&ctx, &user, conversation).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[1]["role"], "assistant");
    assert_eq!(stored[1]["status"], "failed");
    assert_eq!(stored[1]["id"], events[0].data["message_id"]);
}

async fn a_refusal_reaches_the_user_in_our_words(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    // OpenAI's 401 quotes part of the key: that text must stay out of the chat.
    ctx.fake.push(Reply::refused(
        401,
        "Incorrect API key provided: sk-test-fa*****0123. You can find your API key at ...",
    ));
    let events = ctx.server.chat(&user, message("hello")).await;
    let end = last(&events);
    assert_eq!(end.kind(), "error", "{events:?}");
    assert_eq!(end.data["code"], "upstream_error");
    assert_eq!(end.data["retryable"], false);
    assert_eq!(
        end.data["message"],
        "The model server refused the request (HTTP 401)."
    );
    let everything =
        serde_json::to_string(&events.iter().map(|e| &e.data).collect::<Vec<_>>()).unwrap();
    assert!(!everything.contains("sk-test"), "{everything}");
    assert!(!everything.contains("Incorrect API key"), "{everything}");
}

/// A stalled model: the stream stays open with a comment every heartbeat (15 s in production,
/// 100 ms here), and when the client leaves, the host drops the upstream request. With nothing
/// to write, the server notices a closed connection only when writes fail: by the second
/// heartbeat after the client left. (The client here is a raw socket, closed at once like a
/// browser's; reqwest would keep its connection open until the next bytes arrive.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_sends_heartbeats_and_a_stall_is_dropped_with_the_client() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let Some(ctx) = Ctx::start(Backend::Sqlite, "chat::heartbeat").await else {
        return;
    };
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::Stall(tokens("Thinking ")));
    let address = ctx.server.base.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let body = message("think hard").to_string();
    let request = format!(
        "POST /api/{}/chat HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Accept: text/event-stream\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        user.id,
        user.token,
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut buffer = [0_u8; 4096];
    while !(seen.contains("\"type\":\"chunk\"") && seen.contains("\n:\n")) {
        let read = tokio::time::timeout_at(deadline, socket.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no chunk and heartbeat within 5 s: {seen}"))
            .unwrap();
        assert!(read > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    assert!(!seen.contains("\"type\":\"done\""), "{seen}");
    drop(socket);
    assert!(
        ctx.fake.wait_cancelled(1, Duration::from_secs(5)).await,
        "the stalled upstream request was dropped with the client"
    );
}

/// The host stopping during a reply (what SIGTERM does to the binary): the reply streams on
/// for the turn grace, then ends with a retryable `shutting_down` error, and what had streamed
/// is stored before the server is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_by_shutdown_is_stored_and_ends_with_a_retryable_error() {
    let Some(mut ctx) = Ctx::start(Backend::Sqlite, "chat::shutdown").await else {
        return;
    };
    let user = ctx.server.sign_up().await;
    ctx.fake.set_token_delay(Duration::from_millis(20));
    ctx.fake.push(Reply::Text(tokens(&"slowly ".repeat(500))));
    let mut stream = ctx
        .server
        .chat_stream(&user, message("take your time"))
        .await;
    let start = stream.next_event().await.expect("start");
    assert_eq!(stream.next_event().await.expect("a chunk").kind(), "chunk");

    let stopping = Instant::now();
    let (rest, ()) = tokio::join!(
        stream.collect_all(Duration::from_secs(10)),
        ctx.server.stop()
    );
    let end = last(&rest);
    assert_eq!(end.kind(), "error", "{end:?}");
    assert_eq!(end.data["code"], "shutting_down");
    assert_eq!(end.data["retryable"], true);
    let timing = test_timing();
    assert!(
        rest.len() > 3,
        "the reply kept streaming during the turn grace: {} events",
        rest.len()
    );
    assert!(
        stopping.elapsed() < timing.shutdown_grace + Duration::from_secs(1),
        "the server stopped {:?} after the signal",
        stopping.elapsed()
    );

    // The server is done; the partial reply is in the database.
    let conversation =
        uuid::Uuid::try_parse(start.data["conversation_id"].as_str().unwrap()).unwrap();
    let store = todo_agent::chat::conversations::ConversationStore::new(ctx.db.connect().await);
    let page = store.page(conversation, None, 10).await.unwrap();
    let reply = &page.messages[1];
    assert_eq!(
        reply.status,
        todo_agent::chat::conversations::MessageStatus::Failed
    );
    assert!(
        reply.content.starts_with("slowly slowly"),
        "{:?}",
        reply.content
    );
}
