//! The stream of a turn: events in order, tool calls through MCP, JSON mode, concurrency.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use todo_tests::{
    agent::{ApiUser, FAKE_API_KEY},
    chat::SseEvent,
    fake_openai::{Reply, tokens},
};

use super::{
    Ctx, conversations_of, kinds, last, list_tasks, message, sent_messages, stored_messages,
    text_of, with_fake_model,
};

with_fake_model!(
    a_retry_reruns_the_last_message_and_supersedes_the_replies_to_it,
    events_arrive_in_order_with_ids_and_the_reply_is_stored,
    a_tool_call_creates_a_task_visible_through_the_api,
    two_tool_calls_in_one_step_both_run_and_are_reported,
    the_model_recovers_from_a_tool_error,
    the_step_limit_ends_the_turn_with_an_error,
    history_reaches_the_model_in_order_across_turns,
    json_mode_answers_once,
    ten_concurrent_streams_for_one_user_are_independent,
);

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
    let recorded = &ctx.fake.requests()[0];
    assert_eq!(
        recorded.authorization.as_deref(),
        Some(format!("Bearer {FAKE_API_KEY}").as_str())
    );
    let request = &recorded.body;
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
    assert_eq!(result.data["summary"], "Added task 'buy milk'");
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

async fn history_reaches_the_model_in_order_across_turns(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    ctx.fake.push(Reply::text("Hello Ada."));
    // Spaces around it are not the user's words: the first turn sends (and stores) it trimmed,
    // the same whether the history is read back or is the message just stored.
    let first = ctx.server.chat(&user, message("  my name is Ada \n")).await;
    let conversation = first[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let opening = sent_messages(&ctx.fake.requests()[0].body);
    assert_eq!(opening.len(), 2, "{opening:?}");
    assert_eq!(opening[0].0, "system");
    assert_eq!(opening[1], ("user".to_owned(), "my name is Ada".to_owned()));
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

async fn a_retry_reruns_the_last_message_and_supersedes_the_replies_to_it(ctx: Ctx) {
    let user = ctx.server.sign_up().await;
    // A first answer with a tool call, then a failed second turn.
    ctx.fake
        .push(Reply::calls(&[("add_task", json!({"title": "first try"}))]));
    ctx.fake.push(Reply::text("Added it."));
    let first = ctx.server.chat(&user, message("add first try")).await;
    assert_eq!(last(&first).kind(), "done");
    let conversation = first[0].data["conversation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ctx.fake.push(Reply::status(400));
    let failed = ctx
        .server
        .chat(
            &user,
            json!({"conversation_id": conversation, "message": "and now?"}),
        )
        .await;
    assert_eq!(last(&failed).kind(), "error");
    ctx.server.turns_settled().await;
    let before = stored_messages(&ctx, &user, &conversation).await;
    assert_eq!(before.len(), 6, "{before:?}");
    assert_eq!(before[5]["status"], "failed");

    ctx.fake.push(Reply::text("Now it works."));
    let retried = ctx
        .server
        .chat(
            &user,
            json!({"conversation_id": conversation, "retry": true}),
        )
        .await;
    assert_eq!(last(&retried).kind(), "done", "{retried:?}");
    assert_eq!(text_of(&retried), "Now it works.");
    assert_eq!(retried[0].data["conversation_id"], conversation.as_str());

    // The user's message is there once; the failed reply is no longer listed.
    let after = stored_messages(&ctx, &user, &conversation).await;
    let shown: Vec<(&str, &str)> = after
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(shown.len(), 6, "{shown:?}");
    assert_eq!(shown[4], ("user", "and now?"));
    assert_eq!(shown[5], ("assistant", "Now it works."));
    // The model was sent the message once, and not the superseded reply.
    let sent = sent_messages(&ctx.fake.requests().last().unwrap().body);
    let asked = sent.iter().filter(|(_, text)| text == "and now?").count();
    assert_eq!(asked, 1, "{sent:?}");
    assert_eq!(
        sent.last().unwrap(),
        &("user".to_owned(), "and now?".to_owned())
    );

    // Retrying a turn that worked supersedes its reply just the same; what earlier turns'
    // tools did stays done.
    ctx.fake.push(Reply::text("Third time."));
    ctx.server
        .chat(
            &user,
            json!({"conversation_id": conversation, "retry": true}),
        )
        .await;
    let latest = stored_messages(&ctx, &user, &conversation).await;
    assert_eq!(latest.len(), 6);
    assert_eq!(latest[5]["content"], "Third time.");
    assert_eq!(list_tasks(&ctx, &user).await.len(), 1);

    // Superseded replies are kept in the database, marked so.
    use sea_orm::ConnectionTrait as _;
    let db = ctx.db.connect().await;
    let superseded = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM messages WHERE superseded AND conversation_id = $1",
            [uuid::Uuid::try_parse(&conversation).unwrap().into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(superseded, 2);
}
