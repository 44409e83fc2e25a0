//! The assistant over real HTTP: the chat stream event by event, tool calls through MCP,
//! retries and failures of the model server, persistence, conversations, JSON mode and the
//! offline agent. The model is the fake server of the test kit, so async-openai's real client
//! code runs; no test calls a real model.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo_tests::{
    agent::{AgentServer, ApiUser},
    chat::SseEvent,
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
};

/// A host whose model is a fresh fake.
pub struct Ctx {
    server: AgentServer,
    fake: FakeOpenAi,
    /// Dropped last: the server stops before its database goes.
    _db: TestDb,
}

impl Ctx {
    async fn start(backend: Backend, name: &str) -> Option<Self> {
        let db = TestDb::create(backend, name).await?;
        let fake = FakeOpenAi::start().await;
        let server = AgentServer::start(
            &db,
            &[
                ("OPENAI_API_KEY", "sk-test"),
                ("OPENAI_BASE_URL", fake.base_url.as_str()),
                ("OPENAI_MODEL", "fake-model"),
            ],
        )
        .await;
        Some(Self {
            server,
            fake,
            _db: db,
        })
    }
}

/// Runs each listed `async fn(Ctx)` on SQLite and on PostgreSQL.
macro_rules! with_fake_model {
    ($($test:ident),* $(,)?) => {
        with_fake_model!(@variant sqlite, Sqlite; $($test),*);
        with_fake_model!(@variant postgres, Postgres; $($test),*);
    };
    (@variant $module:ident, $backend:ident; $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let name = concat!(module_path!(), "::", stringify!($test));
                    if let Some(ctx) = super::Ctx::start(todo_tests::db::Backend::$backend, name).await {
                        super::$test(ctx).await;
                    }
                }
            )*
        }
    };
}

with_fake_model!(
    events_arrive_in_order_with_ids_and_the_reply_is_stored,
    a_tool_call_creates_a_task_visible_through_the_api,
    two_tool_calls_in_one_step_both_run_and_are_reported,
    the_model_recovers_from_a_tool_error,
    the_step_limit_ends_the_turn_with_an_error,
    a_429_is_retried_after_its_retry_after,
    giving_up_is_reported_within_a_second,
    a_cut_mid_stream_is_stored_as_partial,
    a_client_that_leaves_stops_the_upstream_request,
    history_reaches_the_model_in_order_across_turns,
    another_users_conversation_is_not_found,
    json_mode_answers_once,
    ten_concurrent_streams_for_one_user_are_independent,
    conversations_are_listed_paged_and_deleted,
    bad_chat_requests_are_refused_and_change_nothing,
);

fn message(text: &str) -> Value {
    json!({ "message": text })
}

fn kinds(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(SseEvent::kind).collect()
}

fn text_of(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|event| event.kind() == "chunk")
        .map(|event| event.data["content"].as_str().unwrap_or_default())
        .collect()
}

fn last(events: &[SseEvent]) -> &SseEvent {
    events.last().expect("at least one event")
}

async fn stored_messages(ctx: &Ctx, user: &ApiUser, conversation: &str) -> Vec<Value> {
    let response = ctx
        .server
        .get(
            user,
            &format!("/api/{}/conversations/{conversation}/messages", user.id),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    response.body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `GET /api/{user}/conversations` as the user.
async fn conversations_of(ctx: &Ctx, user: &ApiUser) -> todo_tests::agent::ApiResponse {
    ctx.server
        .get(user, &format!("/api/{}/conversations", user.id))
        .await
}

async fn list_tasks(ctx: &Ctx, user: &ApiUser) -> Vec<Value> {
    let response = ctx
        .server
        .get(user, &format!("/api/{}/tasks", user.id))
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:?}", response.body);
    response.body["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The roles and contents of the messages a model request carried.
fn sent_messages(request: &Value) -> Vec<(String, String)> {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|message| {
            (
                message["role"].as_str().unwrap_or_default().to_owned(),
                message["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

async fn events_arrive_in_order_with_ids_and_the_reply_is_stored(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::text("Hello! Your list is empty."));
    let events = ctx.server.chat(&user, message("hello there")).await;

    assert_eq!(kinds(&events)[0], "start");
    assert_eq!(last(&events).kind(), "done", "{events:?}");
    assert!(
        kinds(&events)[1..events.len() - 1]
            .iter()
            .all(|kind| *kind == "chunk")
    );
    assert!(events.len() > 4, "one chunk per token: {events:?}");
    let ids: Vec<u64> = events
        .iter()
        .map(|event| {
            event
                .id
                .as_deref()
                .expect("every event has an id")
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(ids, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(text_of(&events), "Hello! Your list is empty.");
    let start = &events[0].data;
    let done = &last(&events).data;
    assert_eq!(done["message_id"], start["message_id"]);
    assert_eq!(done["finish_reason"], "stop");

    let conversation = start["conversation_id"].as_str().unwrap();
    let stored = stored_messages(&ctx, &user, conversation).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[0]["role"], "user");
    assert_eq!(stored[0]["content"], "hello there");
    assert_eq!(stored[1]["role"], "assistant");
    assert_eq!(stored[1]["id"], start["message_id"]);
    assert_eq!(stored[1]["content"], "Hello! Your list is empty.");
    assert_eq!(stored[1]["status"], "complete");

    // The model was offered the MCP server's own tools.
    let request = &ctx.fake.requests()[0].body;
    assert_eq!(request["model"], "fake-model");
    assert_eq!(request["stream"], true);
    let tools: Vec<&str> = request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["function"]["name"].as_str().unwrap())
        .collect();
    for tool in [
        "add_task",
        "list_tasks",
        "complete_task",
        "update_task",
        "delete_task",
    ] {
        assert!(tools.contains(&tool), "{tools:?}");
    }
    let add = request["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tool| tool["function"]["name"] == "add_task")
        .unwrap();
    assert_eq!(add["function"]["parameters"]["required"], json!(["title"]));
}

async fn a_tool_call_creates_a_task_visible_through_the_api(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::ToolCalls {
        text: tokens("Let me add that. "),
        calls: vec![(
            "add_task".to_owned(),
            json!({"title": "buy milk", "priority": "high", "tags": ["Home"]}),
        )],
    });
    ctx.fake.push(Reply::text("Added “buy milk”."));
    let events = ctx
        .server
        .chat(&user, message("add buy milk, high priority"))
        .await;

    let order: Vec<&str> = kinds(&events)
        .into_iter()
        .filter(|kind| *kind != "chunk")
        .collect();
    assert_eq!(
        order,
        ["start", "tool_call", "tool_result", "done"],
        "{events:?}"
    );
    let call = events
        .iter()
        .find(|event| event.kind() == "tool_call")
        .unwrap();
    assert_eq!(call.data["tool_name"], "add_task");
    assert_eq!(call.data["arguments"]["title"], "buy milk");
    let result = events
        .iter()
        .find(|event| event.kind() == "tool_result")
        .unwrap();
    assert_eq!(result.data["call_id"], call.data["call_id"]);
    assert_eq!(result.data["is_error"], false);
    assert_eq!(result.data["result"]["status"], "created");
    assert_eq!(text_of(&events), "Let me add that. Added “buy milk”.");

    let tasks = list_tasks(&ctx, &user).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "buy milk");
    assert_eq!(tasks[0]["priority"], "high");
    assert_eq!(tasks[0]["tags"], json!(["home"]));

    // The second request carried the call and its result back to the model.
    let second = &ctx.fake.requests()[1].body;
    let messages = second["messages"].as_array().unwrap();
    let assistant = &messages[messages.len() - 2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["tool_calls"][0]["function"]["name"], "add_task");
    let tool = &messages[messages.len() - 1];
    assert_eq!(tool["role"], "tool");
    assert_eq!(tool["tool_call_id"], assistant["tool_calls"][0]["id"]);
    assert!(tool["content"].as_str().unwrap().contains("buy milk"));
}

async fn two_tool_calls_in_one_step_both_run_and_are_reported(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::calls(&[
        ("add_task", json!({"title": "first"})),
        ("add_task", json!({"title": "second"})),
    ]));
    ctx.fake.push(Reply::text("Both added."));
    let events = ctx
        .server
        .chat(&user, message("add first and second"))
        .await;
    let calls: Vec<&SseEvent> = events
        .iter()
        .filter(|event| event.kind() == "tool_call")
        .collect();
    let results: Vec<&SseEvent> = events
        .iter()
        .filter(|event| event.kind() == "tool_result")
        .collect();
    assert_eq!(calls.len(), 2, "{events:?}");
    assert_eq!(results.len(), 2);
    assert_ne!(calls[0].data["call_id"], calls[1].data["call_id"]);
    assert_eq!(last(&events).kind(), "done");
    let mut titles: Vec<String> = list_tasks(&ctx, &user)
        .await
        .iter()
        .map(|task| task["title"].as_str().unwrap().to_owned())
        .collect();
    titles.sort();
    assert_eq!(titles, ["first", "second"]);
    let second = &ctx.fake.requests()[1].body;
    let tool_messages = second["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|message| message["role"] == "tool")
        .count();
    assert_eq!(tool_messages, 2);
}

async fn the_model_recovers_from_a_tool_error(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::calls(&[(
        "add_task",
        json!({"title": "x", "priority": "urgent"}),
    )]));
    ctx.fake.push(Reply::calls(&[(
        "add_task",
        json!({"title": "x", "priority": "high"}),
    )]));
    ctx.fake.push(Reply::text("Done, with high priority."));
    let events = ctx.server.chat(&user, message("add x, urgent")).await;
    let results: Vec<&SseEvent> = events
        .iter()
        .filter(|event| event.kind() == "tool_result")
        .collect();
    assert_eq!(results.len(), 2, "{events:?}");
    assert_eq!(results[0].data["is_error"], true);
    assert_eq!(results[0].data["result"]["code"], "invalid_argument");
    assert_eq!(results[1].data["is_error"], false);
    assert_eq!(last(&events).kind(), "done");

    // The model read the error sentence as the tool's result.
    let second = &ctx.fake.requests()[1].body;
    let tool = second["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(tool["role"], "tool");
    assert!(
        tool["content"]
            .as_str()
            .unwrap()
            .contains("\"urgent\" is not one of"),
        "{tool}"
    );
    let tasks = list_tasks(&ctx, &user).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["priority"], "high");
}

async fn the_step_limit_ends_the_turn_with_an_error(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.always(Reply::calls(&[("list_tasks", json!({}))]));
    let events = ctx.server.chat(&user, message("loop forever")).await;
    let end = last(&events);
    assert_eq!(end.kind(), "error", "{events:?}");
    assert_eq!(end.data["code"], "step_limit");
    assert_eq!(end.data["retryable"], false);
    assert_eq!(
        ctx.fake.requests().len(),
        todo_agent::chat::agent::MAX_STEPS
    );
    let conversation = events[0].data["conversation_id"].as_str().unwrap();
    let stored = stored_messages(&ctx, &user, conversation).await;
    assert_eq!(stored.last().unwrap()["status"], "failed");
}

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
    let conversation = start.data["conversation_id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stored = stored_messages(&ctx, &user, conversation).await;
        if let Some(reply) = stored.get(1) {
            assert_eq!(reply["status"], "cancelled");
            let content = reply["content"].as_str().unwrap();
            assert!(content.starts_with("word "), "{content:?}");
            assert!(content.len() < 400 * 5, "{}", content.len());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the partial reply was not stored"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn history_reaches_the_model_in_order_across_turns(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::text("Hello Ada."));
    let first = ctx.server.chat(&user, message("my name is Ada")).await;
    let conversation = first[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ctx.fake.push(Reply::calls(&[(
        "list_tasks",
        json!({"status": "pending"}),
    )]));
    ctx.fake.push(Reply::text("Nothing is open."));
    ctx.server
        .chat(
            &user,
            json!({"conversation_id": conversation, "message": "what is open?"}),
        )
        .await;
    ctx.fake.push(Reply::text("You are Ada."));
    let third = ctx
        .server
        .chat(
            &user,
            json!({"conversation_id": conversation, "message": "who am I?"}),
        )
        .await;
    assert_eq!(third[0].data["conversation_id"], conversation.as_str());

    let requests = ctx.fake.requests();
    let sent = sent_messages(&requests.last().unwrap().body);
    assert_eq!(sent[0].0, "system");
    let rest: Vec<(&str, &str)> = sent[1..]
        .iter()
        .map(|(role, content)| (role.as_str(), content.as_str()))
        .collect();
    assert_eq!(rest[0], ("user", "my name is Ada"));
    assert_eq!(rest[1], ("assistant", "Hello Ada."));
    assert_eq!(rest[2], ("user", "what is open?"));
    assert_eq!(rest[3].0, "assistant");
    assert_eq!(rest[4].0, "tool");
    assert_eq!(rest[5], ("assistant", "Nothing is open."));
    assert_eq!(rest[6], ("user", "who am I?"));
    assert_eq!(rest.len(), 7);
}

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

/// `POST /chat` asking for one JSON answer instead of a stream.
async fn chat_as_json(ctx: &Ctx, user: &ApiUser, text: &str) -> reqwest::Response {
    ctx.server
        .http
        .post(format!("{}/api/{}/chat", ctx.server.base, user.id))
        .bearer_auth(&user.token)
        .header("accept", "application/json")
        .json(&message(text))
        .send()
        .await
        .unwrap()
}

async fn json_mode_answers_once(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake
        .push(Reply::calls(&[("add_task", json!({"title": "json task"}))]));
    ctx.fake.push(Reply::text("Added."));
    let response = chat_as_json(&ctx, &user, "add json task").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["response"], "Added.");
    assert_eq!(body["finish_reason"], "stop");
    assert!(body["conversation_id"].is_string());
    assert_eq!(body["tool_calls"][0]["tool_name"], "add_task");
    assert_eq!(body["tool_calls"][0]["arguments"]["title"], "json task");
    assert_eq!(body["tool_calls"][0]["is_error"], false);
    assert_eq!(body["tool_calls"][0]["result"]["title"], "json task");

    // A failure is an error status with the usual body.
    ctx.fake.always(Reply::status(400));
    let response = chat_as_json(&ctx, &user, "again").await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_error");
}

async fn ten_concurrent_streams_for_one_user_are_independent(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.set_token_delay(Duration::from_millis(10));
    ctx.fake
        .always(Reply::text("one two three four five six seven eight"));
    let server = &ctx.server;
    let streams = (0..10).map(|i| {
        let user = user.clone();
        async move { server.chat(&user, message(&format!("stream {i}"))).await }
    });
    let results = futures::future::join_all(streams).await;
    let mut conversations = std::collections::HashSet::new();
    for events in &results {
        assert_eq!(last(events).kind(), "done", "{events:?}");
        assert_eq!(text_of(events), "one two three four five six seven eight");
        conversations.insert(
            events[0].data["conversation_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(conversations.len(), 10);
    let listed = conversations_of(&ctx, &user).await;
    assert_eq!(listed.body["conversations"].as_array().unwrap().len(), 10);
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
        (
            json!({"message": "hi", "conversation_id": uuid::Uuid::now_v7()}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"text": "hi"}), StatusCode::BAD_REQUEST),
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

/// The offline agent, with no model configured, handles every plain command of the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_agent_handles_plain_task_commands() {
    let Some(db) = TestDb::create(Backend::Sqlite, "chat::offline").await else {
        return;
    };
    let server = AgentServer::start(&db, &[]).await;
    let user = server.sign_up().await;
    let say = |text: &str| json!({"message": text, "time_zone": "Europe/Berlin"});
    let reply = |events: &[SseEvent]| {
        assert_eq!(last(events).kind(), "done", "{events:?}");
        text_of(events)
    };

    let events = server
        .chat(&user, say("add buy milk tomorrow high priority"))
        .await;
    let text = reply(&events);
    assert!(
        text.starts_with("Added “buy milk” (high priority, due "),
        "{text}"
    );
    let calls: Vec<&str> = events
        .iter()
        .filter(|event| event.kind() == "tool_call")
        .map(|event| event.data["tool_name"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["add_task"]);
    let tasks = server
        .get(&user, &format!("/api/{}/tasks", user.id))
        .await
        .body["tasks"]
        .clone();
    let milk = &tasks[0];
    assert_eq!(milk["priority"], "high");
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let tomorrow =
        chrono::Utc::now().with_timezone(&berlin).date_naive() + chrono::Duration::days(1);
    let due = chrono::DateTime::parse_from_rfc3339(milk["due_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&berlin);
    assert_eq!(due.date_naive(), tomorrow);
    assert_eq!(due.format("%H:%M").to_string(), "17:00");

    let text = reply(
        &server
            .chat(&user, say("add write the report next friday #work"))
            .await,
    );
    assert!(
        text.contains("“write the report”") && text.contains("#work"),
        "{text}"
    );
    let text = reply(&server.chat(&user, say("add call mum in 3 days")).await);
    assert!(text.contains("“call mum”"), "{text}");

    let text = reply(&server.chat(&user, say("what's still open?")).await);
    assert!(text.starts_with("You have 3 open tasks:"), "{text}");
    assert!(
        text.contains("buy milk") && text.contains("write the report"),
        "{text}"
    );
    let text = reply(&server.chat(&user, say("show tasks tagged work")).await);
    assert!(
        text.contains("write the report") && !text.contains("buy milk"),
        "{text}"
    );

    let text = reply(&server.chat(&user, say("complete buy milk")).await);
    assert_eq!(text, "Marked “buy milk” as done.");
    let text = reply(&server.chat(&user, say("I finished the report")).await);
    assert_eq!(text, "Marked “write the report” as done.");
    let text = reply(
        &server
            .chat(&user, say("rename call mum to call mum back"))
            .await,
    );
    assert_eq!(text, "Renamed “call mum” to “call mum back”.");
    let text = reply(&server.chat(&user, say("what's still open?")).await);
    assert!(
        text.starts_with("You have 1 open task:\n- “call mum back” (due "),
        "{text}"
    );
    let text = reply(&server.chat(&user, say("delete call mum back")).await);
    assert_eq!(text, "Deleted “call mum back”.");
    let text = reply(
        &server
            .chat(&user, say("complete something that does not exist"))
            .await,
    );
    assert_eq!(
        text,
        "I couldn't find an open task matching “something that does not exist”."
    );
    let text = reply(&server.chat(&user, say("hello")).await);
    assert!(text.starts_with("I can keep your to-do list."), "{text}");

    let tasks = server
        .get(&user, &format!("/api/{}/tasks", user.id))
        .await
        .body["tasks"]
        .clone();
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|task| task["completed"] == true));
}

/// A stalled model: the stream stays open with a comment every 15 s, and when the client
/// leaves, the host drops the upstream request. With nothing to write, the server notices a
/// closed connection only when writes fail: by the second heartbeat after the client left.
/// (The client here is a raw socket, closed at once like a browser's; reqwest would keep its
/// connection open until the next bytes arrive.)
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(17);
    let mut buffer = [0_u8; 4096];
    while !(seen.contains("\"type\":\"chunk\"") && seen.contains("\n:\n")) {
        let read = tokio::time::timeout_at(deadline, socket.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no chunk and heartbeat within 17 s: {seen}"))
            .unwrap();
        assert!(read > 0, "the stream ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
    assert!(!seen.contains("\"type\":\"done\""), "{seen}");
    drop(socket);
    assert!(
        ctx.fake.wait_cancelled(1, Duration::from_secs(35)).await,
        "the stalled upstream request was dropped with the client"
    );
}

/// SIGTERM during a reply: the reply streams on for most of the grace period, then ends with a
/// retryable `shutting_down` error, and what had streamed is stored before the process exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_cut_by_shutdown_is_stored_and_ends_with_a_retryable_error() {
    let Some(ctx) = Ctx::start(Backend::Sqlite, "chat::shutdown").await else {
        return;
    };
    let user = ctx.server.sign_up().await;
    ctx.fake.set_token_delay(Duration::from_millis(100));
    ctx.fake.push(Reply::Text(tokens(&"slowly ".repeat(500))));
    let mut stream = ctx
        .server
        .chat_stream(&user, message("take your time"))
        .await;
    let start = stream.next_event().await.expect("start");
    assert_eq!(stream.next_event().await.expect("a chunk").kind(), "chunk");

    let pid = ctx.server.pid().expect("the host runs").to_string();
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success());
    let rest = stream.collect_all(Duration::from_secs(15)).await;
    let end = last(&rest);
    assert_eq!(end.kind(), "error", "{end:?}");
    assert_eq!(end.data["code"], "shutting_down");
    assert_eq!(end.data["retryable"], true);
    let after = signalled.elapsed();
    assert!(
        after > Duration::from_secs(5) && after < Duration::from_secs(10),
        "the reply ended {after:?} after SIGTERM"
    );

    // The process exits; the partial reply is in the database.
    let conversation =
        uuid::Uuid::try_parse(start.data["conversation_id"].as_str().unwrap()).unwrap();
    let store = todo_agent::chat::conversations::ConversationStore::new(ctx._db.connect().await);
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let page = store.page(conversation, None, 10).await.unwrap();
        if let Some(reply) = page.messages.get(1) {
            break reply.clone();
        }
        assert!(Instant::now() < deadline, "the cut reply was not stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
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
