//! `POST /chatkit`: ChatKit's server protocol over the host's own chat, conversations and tools.
//! Every test ends by checking everything it sent and got with the official `openai-chatkit`
//! package's types ([`ChatKitClient::conforms`]).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_tests::{
    agent::{ApiUser, TestApp},
    chatkit::ChatKitClient,
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
};

use crate::chat::{Ctx, list_tasks, message, stored_messages, with_fake_model};

with_fake_model!(
    a_new_thread_streams_a_reply_with_a_tool_call,
    a_message_added_to_a_thread_continues_it,
    threads_and_items_come_in_pages,
    a_thread_is_renamed_and_deleted,
    a_retry_after_an_item_replaces_what_followed_it,
    feedback_is_stored,
    a_conversation_of_the_chat_route_is_a_thread,
    another_users_thread_reads_like_a_missing_one,
    requests_it_does_not_handle_get_chatkits_error,
    a_client_that_leaves_stops_the_model_and_keeps_the_partial_reply,
    a_failing_model_ends_the_stream_with_a_retryable_error,
);

fn input(text: &str) -> Value {
    json!({"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}})
}

fn create(text: &str) -> Value {
    json!({"type": "threads.create", "params": {"input": input(text)}})
}

fn add(thread: &str, text: &str) -> Value {
    json!({"type": "threads.add_user_message", "params": {"thread_id": thread, "input": input(text)}})
}

fn get(thread: &str) -> Value {
    json!({"type": "threads.get_by_id", "params": {"thread_id": thread}})
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|event| match event.get("update") {
            Some(update) => update["type"].as_str().unwrap_or_default().to_owned(),
            None => event["type"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The id of the thread a stream created.
fn created_thread(events: &[Value]) -> String {
    assert_eq!(events[0]["type"], "thread.created", "{events:?}");
    events[0]["thread"]["id"]
        .as_str()
        .expect("a thread id")
        .to_owned()
}

/// The text the stream's deltas add up to.
fn streamed_text(events: &[Value]) -> String {
    events
        .iter()
        .filter(|event| event["update"]["type"] == "assistant_message.content_part.text_delta")
        .map(|event| event["update"]["delta"].as_str().unwrap_or_default())
        .collect()
}

/// The ids of the items in `thread.item.done` events, in order.
fn done_ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|event| event["type"] == "thread.item.done")
        .map(|event| event["item"]["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn item_ids(items: &Value) -> Vec<String> {
    items["data"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|item| item["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn a_new_thread_streams_a_reply_with_a_tool_call(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    ctx.fake
        .push(Reply::calls(&[("add_task", json!({"title": "buy milk"}))]));
    ctx.fake.push(Reply::text("Added buy milk."));
    let events = client.send(create("add buy milk")).await;
    let events = events.events();
    assert_eq!(
        types(events),
        [
            "thread.created",
            "thread.item.done",
            "stream_options",
            "thread.item.added",
            "workflow.task.updated",
            "client_effect",
            "thread.item.done",
            "thread.item.added",
            "assistant_message.content_part.added",
            "assistant_message.content_part.text_delta",
            "assistant_message.content_part.text_delta",
            "assistant_message.content_part.text_delta",
            "assistant_message.content_part.done",
            "thread.item.done",
        ]
    );
    let thread = created_thread(events);
    assert_eq!(events[0]["thread"]["title"], "add buy milk");
    assert_eq!(events[1]["item"]["type"], "user_message");
    assert_eq!(events[1]["item"]["content"][0]["text"], "add buy milk");
    assert_eq!(
        events[3]["item"]["workflow"]["tasks"][0]["title"],
        "Adding a task"
    );
    assert_eq!(
        events[3]["item"]["workflow"]["tasks"][0]["status_indicator"],
        "loading"
    );
    let task = &events[4]["update"]["task"];
    assert_eq!(task["title"], "Added task 'buy milk'");
    assert_eq!(task["status_indicator"], "complete");
    assert_eq!(events[5]["name"], "tasks_changed");
    assert_eq!(streamed_text(events), "Added buy milk.");
    assert_eq!(
        events[13]["item"]["content"][0]["text"], "Added buy milk.",
        "the done item holds the whole text"
    );
    // The tool really ran, through MCP, for this user.
    let tasks = list_tasks(&ctx, &user).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "buy milk");

    // Read back, the thread holds the items the stream named, by the same ids.
    ctx.server.turns_settled().await;
    let read = client.send(get(&thread)).await;
    let read = read.json();
    assert_eq!(read["id"], thread.as_str());
    assert_eq!(item_ids(&read["items"]), done_ids(events));
    assert_eq!(
        read["items"]["data"][1]["workflow"],
        events[6]["item"]["workflow"]
    );
    client
        .conforms("chatkit::a_new_thread_streams_a_reply_with_a_tool_call")
        .await;
}

async fn a_message_added_to_a_thread_continues_it(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    ctx.fake.push(Reply::text("Hello."));
    let first = client.send(create("hello")).await;
    let thread = created_thread(first.events());
    ctx.fake.push(Reply::text("Still here."));
    let second = client.send(add(&thread, "are you there?")).await;
    let second = second.events();
    assert_eq!(second[0]["type"], "thread.item.done", "no thread.created");
    assert_eq!(second[0]["item"]["content"][0]["text"], "are you there?");
    assert_eq!(second[1]["type"], "stream_options");
    assert_eq!(streamed_text(second), "Still here.");
    // The model saw the whole conversation.
    let sent = &ctx.fake.requests()[1].body["messages"];
    let contents: Vec<&str> = sent
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|message| message["content"].as_str())
        .collect();
    assert!(
        contents.ends_with(&["hello", "Hello.", "are you there?"]),
        "{contents:?}"
    );
    ctx.server.turns_settled().await;
    let read = client.send(get(&thread)).await;
    assert_eq!(read.json()["items"]["data"].as_array().unwrap().len(), 4);
    client
        .conforms("chatkit::a_message_added_to_a_thread_continues_it")
        .await;
}

async fn threads_and_items_come_in_pages(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    let mut threads = Vec::new();
    for n in 1..=3 {
        ctx.fake.push(Reply::text(&format!("Reply {n}.")));
        let events = client.send(create(&format!("thread {n}"))).await;
        threads.push(created_thread(events.events()));
        ctx.server.turns_settled().await;
    }
    // Most recently active first, two at a time.
    let first = client
        .send(json!({"type": "threads.list", "params": {"limit": 2}}))
        .await;
    let first = first.json();
    assert_eq!(first["has_more"], true);
    assert_eq!(item_ids(first), [threads[2].clone(), threads[1].clone()]);
    assert_eq!(
        first["data"][0]["items"],
        json!({"data": [], "has_more": false})
    );
    let after = first["after"].as_str().expect("after").to_owned();
    let second = client
        .send(json!({"type": "threads.list", "params": {"limit": 2, "after": after}}))
        .await;
    assert_eq!(item_ids(second.json()), [threads[0].clone()]);
    assert_eq!(second.json()["has_more"], false);
    let oldest_first = client
        .send(json!({"type": "threads.list", "params": {"order": "asc"}}))
        .await;
    assert_eq!(item_ids(oldest_first.json()), threads);

    // A thread of five items (two turns, one with a tool call) read two at a time, both ways.
    let thread = &threads[0];
    ctx.fake.push(Reply::calls(&[("list_tasks", json!({}))]));
    ctx.fake.push(Reply::text("Nothing yet."));
    client.send(add(thread, "what is open?")).await;
    ctx.server.turns_settled().await;
    let whole = client.send(get(thread)).await;
    let all = item_ids(&whole.json()["items"]);
    assert_eq!(all.len(), 5, "{whole:?}");
    for order in ["asc", "desc"] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut params = json!({"thread_id": thread, "limit": 2, "order": order});
            if let Some(after) = &after {
                params["after"] = json!(after);
            }
            let page = client
                .send(json!({"type": "items.list", "params": params}))
                .await;
            let page = page.json();
            seen.extend(item_ids(page));
            if page["has_more"] != true {
                break;
            }
            after = page["after"].as_str().map(str::to_owned);
        }
        if order == "desc" {
            seen.reverse();
        }
        assert_eq!(seen, all, "{order}");
    }
    client
        .conforms("chatkit::threads_and_items_come_in_pages")
        .await;
}

async fn a_thread_is_renamed_and_deleted(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    ctx.fake.push(Reply::text("Hi."));
    let thread = created_thread(client.send(create("hi")).await.events());
    ctx.server.turns_settled().await;
    let renamed = client
        .send(json!({"type": "threads.update", "params": {"thread_id": thread, "title": "  Groceries  "}}))
        .await;
    assert_eq!(renamed.json()["title"], "Groceries");
    // The chat route's list shows the same title.
    let listed = ctx
        .server
        .get(&user, &format!("/api/{}/conversations", user.id))
        .await;
    assert_eq!(listed.body["conversations"][0]["title"], "Groceries");
    let blank = client
        .send(json!({"type": "threads.update", "params": {"thread_id": thread, "title": " "}}))
        .await;
    assert_eq!(blank.refusal().0, StatusCode::UNPROCESSABLE_ENTITY);

    let deleted = client
        .send(json!({"type": "threads.delete", "params": {"thread_id": thread}}))
        .await;
    assert_eq!(deleted.json(), &json!({}));
    let gone = client.send(get(&thread)).await;
    let (status, error) = gone.refusal();
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["message"], "No such conversation.");
    let again = client
        .send(json!({"type": "threads.delete", "params": {"thread_id": thread}}))
        .await;
    assert_eq!(again.refusal().0, StatusCode::NOT_FOUND);
    client
        .conforms("chatkit::a_thread_is_renamed_and_deleted")
        .await;
}

async fn a_retry_after_an_item_replaces_what_followed_it(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    ctx.fake.push(Reply::text("First answer."));
    let first = client.send(create("first question")).await;
    let thread = created_thread(first.events());
    let first_message = first.events()[1]["item"]["id"].as_str().unwrap().to_owned();
    ctx.server.turns_settled().await;
    ctx.fake.push(Reply::text("Second answer."));
    client.send(add(&thread, "second question")).await;
    ctx.server.turns_settled().await;

    ctx.fake.push(Reply::text("A better first answer."));
    let retried = client
        .send(json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": first_message}}))
        .await;
    let retried = retried.events();
    assert_eq!(
        retried[0]["type"], "stream_options",
        "the user's message is not sent again"
    );
    assert_eq!(streamed_text(retried), "A better first answer.");
    // The model answered the first question, without what followed it.
    let sent = &ctx.fake.requests()[2].body["messages"];
    let last = sent.as_array().unwrap().last().unwrap();
    assert_eq!(last["content"], "first question");
    assert!(!sent.to_string().contains("second question"));
    ctx.server.turns_settled().await;
    let read = client.send(get(&thread)).await;
    let items = &read.json()["items"]["data"];
    assert_eq!(items.as_array().unwrap().len(), 2, "{items}");
    assert_eq!(items[0]["id"], first_message.as_str());
    assert_eq!(items[1]["content"][0]["text"], "A better first answer.");
    // Stored once: the chat route's record has one user message.
    let stored = stored_messages(&ctx, &user, &thread).await;
    let users = stored
        .iter()
        .filter(|message| message["role"] == "user")
        .count();
    assert_eq!(users, 1, "{stored:?}");

    // Only a message of the user can be retried; a missing one reads as missing.
    let reply = items[1]["id"].as_str().unwrap();
    let refused = client
        .send(json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": reply}}))
        .await;
    assert_eq!(refused.refusal().0, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = client
        .send(json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": uuid::Uuid::now_v7().to_string()}}))
        .await;
    assert_eq!(missing.refusal().0, StatusCode::NOT_FOUND);
    client
        .conforms("chatkit::a_retry_after_an_item_replaces_what_followed_it")
        .await;
}

async fn feedback_is_stored(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    ctx.fake.push(Reply::text("Here you go."));
    let events = client.send(create("help")).await;
    let thread = created_thread(events.events());
    let reply = done_ids(events.events()).last().cloned().unwrap();
    ctx.server.turns_settled().await;
    let answer = client
        .send(json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [reply], "kind": "negative"}}))
        .await;
    assert_eq!(answer.json(), &json!({}));
    let stored = ctx
        .db
        .count(
            "SELECT COUNT(*) AS n FROM messages WHERE feedback = 'negative' AND role = 'assistant'",
        )
        .await;
    assert_eq!(stored, 1);
    // An id that is not an item of the thread changes nothing.
    let answer = client
        .send(json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [reply, uuid::Uuid::now_v7().to_string()], "kind": "positive"}}))
        .await;
    assert_eq!(answer.refusal().0, StatusCode::NOT_FOUND);
    let positive = ctx
        .db
        .count("SELECT COUNT(*) AS n FROM messages WHERE feedback = 'positive'")
        .await;
    assert_eq!(positive, 0);
    client.conforms("chatkit::feedback_is_stored").await;
}

async fn a_conversation_of_the_chat_route_is_a_thread(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    ctx.fake.push(Reply::text("Noted."));
    let native = ctx.server.chat(&user, message("remember the milk")).await;
    let conversation = native[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ctx.server.turns_settled().await;
    let listed = client
        .send(json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(item_ids(listed.json()), std::slice::from_ref(&conversation));
    let read = client.send(get(&conversation)).await;
    let stored = stored_messages(&ctx, &user, &conversation).await;
    let stored_ids: Vec<String> = stored
        .iter()
        .map(|message| message["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(item_ids(&read.json()["items"]), stored_ids);

    // Continued through ChatKit, then through the chat route again.
    ctx.fake.push(Reply::text("Still noted."));
    client.send(add(&conversation, "and the eggs")).await;
    ctx.server.turns_settled().await;
    ctx.fake.push(Reply::text("Both noted."));
    let body = json!({"conversation_id": conversation, "message": "anything else?"});
    ctx.server.chat(&user, body).await;
    ctx.server.turns_settled().await;
    let stored = stored_messages(&ctx, &user, &conversation).await;
    let contents: Vec<&str> = stored
        .iter()
        .map(|message| message["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        contents,
        [
            "remember the milk",
            "Noted.",
            "and the eggs",
            "Still noted.",
            "anything else?",
            "Both noted."
        ]
    );
    client
        .conforms("chatkit::a_conversation_of_the_chat_route_is_a_thread")
        .await;
}

async fn another_users_thread_reads_like_a_missing_one(ctx: Ctx) {
    let ada = ctx.server.sign_up().await;
    let bob = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &ada);
    ctx.fake.push(Reply::text("Hi Ada."));
    let events = client.send(create("hello")).await;
    let thread = created_thread(events.events());
    let item = done_ids(events.events()).last().cloned().unwrap();
    ctx.server.turns_settled().await;

    let intruder = client.for_user(&bob);
    let attempts = [
        get(&thread),
        add(&thread, "give me Ada's tasks"),
        json!({"type": "threads.update", "params": {"thread_id": thread, "title": "mine"}}),
        json!({"type": "threads.delete", "params": {"thread_id": thread}}),
        json!({"type": "items.list", "params": {"thread_id": thread}}),
        json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": [item], "kind": "negative"}}),
        json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": item}}),
    ];
    for attempt in attempts {
        let answer = intruder.send(attempt.clone()).await;
        let (status, error) = answer.refusal();
        assert_eq!(status, StatusCode::NOT_FOUND, "{attempt}");
        assert_eq!(error["type"], "error");
    }
    let listed = intruder
        .send(json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(listed.json()["data"], json!([]));
    // Nothing of Ada's changed, and the model was never asked for Bob.
    assert_eq!(ctx.fake.requests().len(), 1);
    let read = client.send(get(&thread)).await;
    assert_eq!(read.json()["title"], "hello");
    assert_eq!(read.json()["items"]["data"].as_array().unwrap().len(), 2);
    client
        .conforms("chatkit::another_users_thread_reads_like_a_missing_one")
        .await;
}

async fn requests_it_does_not_handle_get_chatkits_error(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    let unsupported = client
        .send(json!({"type": "attachments.create", "params": {"name": "a.png", "size": 10, "mime_type": "image/png"}}))
        .await;
    let (status, error) = unsupported.refusal();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "custom");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("attachments.create"),
        "{error}"
    );
    for body in [
        r#"{"type": "threads.shred", "params": {}}"#,
        r#"{"type": "threads.list"}"#,
        r#"{"type": "threads.get_by_id", "params": {"thread": "x"}}"#,
        r#"not json"#,
        r#"[]"#,
    ] {
        let answer = client.send_invalid(body).await;
        let (status, error) = answer.refusal();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error["type"], "error", "{body}");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    // Bad values of a message: refused before anything is stored.
    let empty = client.send(create("   ")).await;
    assert_eq!(empty.refusal().0, StatusCode::UNPROCESSABLE_ENTITY);
    let with_attachment = client
        .send(json!({"type": "threads.create", "params": {"input": {"content": [{"type": "input_text", "text": "see file"}], "attachments": ["atc_1"], "inference_options": {}}}}))
        .await;
    assert_eq!(with_attachment.refusal().0, StatusCode::BAD_REQUEST);
    let listed = client
        .send(json!({"type": "threads.list", "params": {}}))
        .await;
    assert_eq!(listed.json()["data"], json!([]));
    assert!(ctx.fake.requests().is_empty());

    // No token: the API's 401.
    let anonymous = ctx
        .server
        .request(Method::POST, "/chatkit", None, Some(create("hi")))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.error_code(), "unauthorized");
    assert!(anonymous.headers.contains_key("www-authenticate"));
    // The web pages' session cookie works too, but not from another site (a browser names
    // the site of a cross-site POST in `Origin`; it could be a forged request).
    let with_cookie = |origin: Option<&str>| {
        let mut request = ctx
            .server
            .http
            .post(format!("{}/chatkit", ctx.server.base))
            .header("cookie", format!("todo_session={}", user.token))
            .json(&json!({"type": "threads.list", "params": {}}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let same_site = with_cookie(Some(ctx.server.base.as_str()))
        .await
        .expect("POST /chatkit with the cookie");
    assert_eq!(same_site.status(), StatusCode::OK);
    let elsewhere = with_cookie(Some("https://elsewhere.example"))
        .await
        .expect("POST /chatkit from another site");
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    let forged = ctx
        .server
        .http
        .post(format!("{}/chatkit", ctx.server.base))
        .header("cookie", "todo_session=not-a-token")
        .header("origin", ctx.server.base.as_str())
        .json(&json!({"type": "threads.list", "params": {}}))
        .send()
        .await
        .expect("POST /chatkit with a bad cookie");
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    client
        .conforms("chatkit::requests_it_does_not_handle_get_chatkits_error")
        .await;
}

async fn a_client_that_leaves_stops_the_model_and_keeps_the_partial_reply(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    ctx.fake.set_token_delay(Duration::from_millis(50));
    ctx.fake.push(Reply::Text(tokens(&"word ".repeat(400))));
    let mut stream = client.open(create("talk a lot")).await;
    let mut thread = None;
    let mut reply = None;
    while let Some(event) = stream.next_event().await {
        if event.kind() == "thread.created" {
            thread = event.data["thread"]["id"].as_str().map(str::to_owned);
        }
        if event.data["update"]["type"] == "assistant_message.content_part.text_delta" {
            reply = event.data["item_id"].as_str().map(str::to_owned);
            break;
        }
    }
    drop(stream);
    assert!(
        ctx.fake.wait_cancelled(1, Duration::from_secs(5)).await,
        "the host kept reading the model's reply after the client left"
    );
    ctx.server.turns_settled().await;
    let thread = thread.expect("thread.created");
    let stored = stored_messages(&ctx, &user, &thread).await;
    assert_eq!(stored[1]["status"], "cancelled");
    assert_eq!(Some(stored[1]["id"].as_str().unwrap()), reply.as_deref());
    let read = client.send(get(&thread)).await;
    let text = read.json()["items"]["data"][1]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.starts_with("word ") && text.len() < 400 * 5,
        "{text:?}"
    );
    client
        .conforms("chatkit::a_client_that_leaves_stops_the_model_and_keeps_the_partial_reply")
        .await;
}

async fn a_failing_model_ends_the_stream_with_a_retryable_error(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    let client = ChatKitClient::new(&ctx.server, &user);
    // One failure before the first token is retried; the turn goes on.
    ctx.fake.push(Reply::status(503));
    ctx.fake.push(Reply::text("Made it."));
    let recovered = client.send(create("hello")).await;
    assert_eq!(streamed_text(recovered.events()), "Made it.");
    ctx.server.turns_settled().await;
    // A model that keeps failing: ChatKit's error, with our sentence and allow_retry.
    ctx.fake.always(Reply::status(503));
    let failed = client.send(create("hello again")).await;
    let last = failed.events().last().unwrap().clone();
    assert_eq!(last["type"], "error", "{failed:?}");
    assert_eq!(last["code"], "custom");
    assert_eq!(last["allow_retry"], true);
    assert!(!last["message"].as_str().unwrap().is_empty());
    client
        .conforms("chatkit::a_failing_model_ends_the_stream_with_a_retryable_error")
        .await;
}

/// `CORS_ORIGINS` lets another site's page call `/chatkit` with a bearer token; others are
/// refused, and without the setting no origin is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_origins_let_a_chatkit_app_elsewhere_call_the_endpoint() {
    let Some(db) = TestDb::create(Backend::Sqlite, "chatkit::cors").await else {
        return;
    };
    let fake = FakeOpenAi::start().await;
    let server = TestApp::new(&db)
        .model(&fake)
        .env("CORS_ORIGINS", "https://app.example.com")
        .start()
        .await;
    let preflight = |origin: &'static str| {
        server
            .http
            .request(Method::OPTIONS, format!("{}/chatkit", server.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, x-time-zone",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.net").await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let user: ApiUser = server.sign_up().await;
    let listed = server
        .http
        .post(format!("{}/chatkit", server.base))
        .header("origin", "https://app.example.com")
        .bearer_auth(&user.token)
        .json(&json!({"type": "threads.list", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // A 401 keeps the API's body behind the CORS layer.
    let anonymous = server
        .http
        .post(format!("{}/chatkit", server.base))
        .header("origin", "https://app.example.com")
        .json(&json!({"type": "threads.list", "params": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let Some(db) = TestDb::create(Backend::Sqlite, "chatkit::no_cors").await else {
        return;
    };
    let closed = TestApp::new(&db).model(&fake).start().await;
    let preflight = closed
        .http
        .request(Method::OPTIONS, format!("{}/chatkit", closed.base))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        !preflight
            .headers()
            .contains_key("access-control-allow-origin"),
        "{:?}",
        preflight.headers()
    );
}

/// The OpenAPI document lists `/chatkit`, at the site's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_endpoint() {
    let Some(db) = TestDb::create(Backend::Sqlite, "chatkit::openapi").await else {
        return;
    };
    let server = TestApp::new(&db).start().await;
    let document = server
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(document.status, StatusCode::OK);
    let chatkit = &document.body["paths"]["/chatkit"];
    assert!(chatkit["post"].is_object(), "{}", document.body["paths"]);
    let root = chatkit["servers"][0]["url"]
        .as_str()
        .expect("a server of its own");
    assert!(!root.trim_end_matches('/').ends_with("/api"), "{root}");
    assert!(document.body["paths"]["/auth/signup"].is_object());
}
