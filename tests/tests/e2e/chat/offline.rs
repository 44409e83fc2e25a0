//! The built-in offline agent, the model when none is configured.

use serde_json::json;
use todo_tests::{
    agent::AgentServer,
    chat::SseEvent,
    db::{Backend, TestDb},
};

use super::{last, text_of};

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
    let line = events
        .iter()
        .find(|event| event.kind() == "tool_result")
        .map(|event| {
            event.data["summary"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        });
    assert_eq!(
        line.as_deref(),
        Some("Added task 'buy milk', due tomorrow at 17:00")
    );
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
    let text = reply(
        &server
            .chat(
                &user,
                say("move call mum back to the 1st of january at 9am"),
            )
            .await,
    );
    assert!(
        text.starts_with("Moved “call mum back” to ") && text.ends_with(" 1 Jan 09:00."),
        "{text}"
    );
    let text = reply(
        &server
            .chat(&user, say("make call mum back high priority"))
            .await,
    );
    assert_eq!(text, "“call mum back” is now high priority.");
    let text = reply(&server.chat(&user, say("show overdue tasks")).await);
    assert_eq!(text, "Nothing is overdue.");
    let text = reply(&server.chat(&user, say("what can you do?")).await);
    assert!(text.starts_with("I can keep your to-do list."), "{text}");
    let text = reply(&server.chat(&user, say("what's still open?")).await);
    assert!(
        text.starts_with("You have 1 open task:\n- “call mum back” (high priority, due "),
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
