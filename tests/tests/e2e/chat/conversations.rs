//! Conversations: listed, paged, deleted, private to their user; bad requests change nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_tests::fake_openai::Reply;

use super::{Ctx, conversations_of, message, stored_messages, with_fake_model};

with_fake_model!(
    another_users_conversation_is_not_found,
    conversations_are_listed_paged_and_deleted,
    bad_chat_requests_are_refused_and_change_nothing,
    messages_arriving_at_once_are_all_stored_in_order,
    turns_running_at_once_each_answer_their_own_message,
);

async fn another_users_conversation_is_not_found(ctx: Ctx) {
    let ada = ctx.server.sign_up().await;
    let bob = ctx.server.sign_up().await;
    ctx.fake.push(Reply::text("Secret plans noted."));
    let events = ctx.server.chat(&ada, message("my secret plans")).await;
    let conversation = events[0].data["conversation_id"].as_str().unwrap();

    let mut stream = ctx
        .server
        .chat_stream(
            &bob,
            json!({"conversation_id": conversation, "message": "show me"}),
        )
        .await;
    assert_eq!(stream.status, StatusCode::NOT_FOUND);
    assert_eq!(stream.error.take().unwrap()["error"]["code"], "not_found");
    for (method, path) in [
        (
            Method::GET,
            format!("/api/{}/conversations/{conversation}/messages", bob.id),
        ),
        (
            Method::DELETE,
            format!("/api/{}/conversations/{conversation}", bob.id),
        ),
    ] {
        let response = ctx
            .server
            .request(method, &path, Some(&bob.token), None)
            .await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Bob's token on Ada's path is refused outright.
    let response = ctx
        .server
        .get(&bob, &format!("/api/{}/conversations", ada.id))
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let bobs = conversations_of(&ctx, &bob).await;
    assert_eq!(bobs.body["conversations"], json!([]));
    // Nothing of Ada's changed, and the model never heard Bob.
    assert_eq!(stored_messages(&ctx, &ada, conversation).await.len(), 2);
    assert_eq!(ctx.fake.requests().len(), 1);
}

async fn conversations_are_listed_paged_and_deleted(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.always(Reply::text("ok"));
    let mut ids = Vec::new();
    for title in ["first", "second", "third"] {
        let events = ctx.server.chat(&user, message(title)).await;
        ids.push(
            events[0].data["conversation_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // More messages in the first conversation make it the most recent.
    for i in 0..3 {
        ctx.server
            .chat(
                &user,
                json!({"conversation_id": ids[0], "message": format!("more {i}")}),
            )
            .await;
    }
    let path = format!("/api/{}/conversations?limit=2", user.id);
    let page = ctx.server.get(&user, &path).await;
    let titles: Vec<&str> = page.body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["first", "third"]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = ctx
        .server
        .get(&user, &format!("{path}&cursor={cursor}"))
        .await;
    assert_eq!(next.body["conversations"][0]["title"], "second");
    assert_eq!(next.body["next_cursor"], Value::Null);

    // Messages: newest page first, each page in order, `next_before` walks back.
    let messages = format!("/api/{}/conversations/{}/messages?limit=3", user.id, ids[0]);
    let newest = ctx.server.get(&user, &messages).await;
    let seqs: Vec<i64> = newest.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [6, 7, 8]);
    let before = newest.body["next_before"].as_i64().unwrap();
    let older = ctx
        .server
        .get(&user, &format!("{messages}&before={before}"))
        .await;
    let seqs: Vec<i64> = older.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4, 5]);

    for (query, code) in [
        ("limit=0", "invalid"),
        ("limit=500", "invalid"),
        ("cursor=forged", "invalid"),
    ] {
        let response = ctx
            .server
            .get(&user, &format!("/api/{}/conversations?{query}", user.id))
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(response.error_code(), code);
    }

    let delete = format!("/api/{}/conversations/{}", user.id, ids[0]);
    let deleted = ctx
        .server
        .request(Method::DELETE, &delete, Some(&user.token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = ctx
        .server
        .request(Method::DELETE, &delete, Some(&user.token), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let gone = ctx.server.get(&user, &messages).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let listed = conversations_of(&ctx, &user).await;
    assert_eq!(listed.body["conversations"].as_array().unwrap().len(), 2);
}

async fn bad_chat_requests_are_refused_and_change_nothing(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let path = format!("/api/{}/chat", user.id);
    let cases = [
        (json!({"message": "   "}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"message": "x".repeat(8_001)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"message": "hi", "time_zone": "Mars/Olympus"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        // A multi-byte character where an offset's digits go: a clear 422, not a panic.
        (
            json!({"message": "hi", "time_zone": "+€1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"message": "hi", "time_zone": "UTC+€1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"message": "hi", "conversation_id": uuid::Uuid::now_v7()}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"text": "hi"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"message": ["hi"]}), StatusCode::BAD_REQUEST),
        // A retry needs a conversation, and takes no message.
        (json!({"retry": true}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"retry": true, "message": "again", "conversation_id": uuid::Uuid::now_v7()}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"retry": true, "conversation_id": uuid::Uuid::now_v7()}),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (body, status) in cases {
        let response = ctx
            .server
            .request(Method::POST, &path, Some(&user.token), Some(body.clone()))
            .await;
        assert_eq!(response.status, status, "{body}: {:?}", response.body);
        assert!(response.body["error"]["message"].is_string());
    }
    let anonymous = ctx
        .server
        .request(Method::POST, &path, None, Some(message("hi")))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let other = ctx.server.sign_up().await;
    let forbidden = ctx
        .server
        .request(Method::POST, &path, Some(&other.token), Some(message("hi")))
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    // Nothing was stored and the model was never called.
    let listed = conversations_of(&ctx, &user).await;
    assert_eq!(listed.body["conversations"], json!([]));
    assert!(ctx.fake.requests().is_empty());
}

/// Many messages appended to one conversation at the same moment (several tabs, several hosts):
/// every one is stored, each with a place of its own. On PostgreSQL they used to race for the
/// same number and give up after a few tries (a 500 for the chat request). On a SQLite file
/// half of them come through a store whose inserts run on a `SqliteThread` (as the host's do)
/// and half through sqlx's pool (as another process's might).
async fn messages_arriving_at_once_are_all_stored_in_order(ctx: Ctx) {
    use todo_agent::chat::conversations::{ConversationStore, NewMessage, Role};
    use todo_mcp::db::SqliteThread;

    const AT_ONCE: usize = 32;
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::text("Noted."));
    let events = ctx.server.chat(&user, message("first")).await;
    let conversation: uuid::Uuid = events[0].data["conversation_id"]
        .as_str()
        .expect("a conversation id")
        .parse()
        .expect("a UUID");
    let pooled = ConversationStore::new(ctx.db.connect().await);
    let threaded = match SqliteThread::open(&ctx.db.database_url(), "sqlite-test") {
        Some(thread) => pooled
            .clone()
            .with_sqlite_thread(thread.expect("open the SQLite file")),
        None => pooled.clone(),
    };
    let appends = (0..AT_ONCE).map(|i| {
        let store = if i % 2 == 0 { &pooled } else { &threaded }.clone();
        tokio::spawn(async move {
            store
                .append(
                    conversation,
                    NewMessage::complete(Role::User, format!("at once {i}")),
                )
                .await
        })
    });
    let mut seqs = Vec::new();
    for appended in futures::future::join_all(appends).await {
        let stored = appended
            .expect("the append task ran")
            .unwrap_or_else(|err| panic!("a message was refused: {err}"));
        seqs.push(stored.seq);
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), AT_ONCE, "each message has a place of its own");

    let stored = stored_messages(&ctx, &user, &conversation.to_string()).await;
    let contents: Vec<&str> = stored
        .iter()
        .map(|message| message["content"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(contents.len(), AT_ONCE + 2, "{contents:?}");
    assert_eq!(contents[..2], ["first", "Noted."]);
    for i in 0..AT_ONCE {
        assert!(
            contents.contains(&format!("at once {i}").as_str()),
            "{contents:?}"
        );
    }
}

/// Messages sent to one conversation while earlier replies are still running: each turn's
/// model request ends with the turn's own message, so every message is answered once (a turn
/// used to read the newest message of the conversation, which could be another turn's).
async fn turns_running_at_once_each_answer_their_own_message(ctx: Ctx) {
    const AT_ONCE: usize = 6;
    let user = ctx.server.sign_up().await;
    ctx.fake.always(Reply::text("Done."));
    let events = ctx.server.chat(&user, message("first")).await;
    let conversation = events[0].data["conversation_id"]
        .as_str()
        .expect("a conversation id")
        .to_owned();
    // Tokens arrive slowly, so the turns overlap.
    ctx.fake
        .set_token_delay(std::time::Duration::from_millis(20));
    let turns = (0..AT_ONCE).map(|i| {
        let body = json!({"conversation_id": conversation, "message": format!("message {i}")});
        let (server, user) = (&ctx.server, &user);
        async move { server.chat(user, body).await }
    });
    futures::future::join_all(turns).await;

    let mut answered: Vec<String> = ctx
        .fake
        .requests()
        .iter()
        .skip(1)
        .filter_map(|request| {
            super::sent_messages(&request.body)
                .into_iter()
                .rev()
                .find(|(role, _)| role == "user")
                .map(|(_, content)| content)
        })
        .collect();
    answered.sort();
    let sent: Vec<String> = (0..AT_ONCE).map(|i| format!("message {i}")).collect();
    assert_eq!(
        answered, sent,
        "each message is the last one its own turn sends"
    );
}
