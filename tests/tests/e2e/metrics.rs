//! `/metrics` on `METRICS_BIND`: what a chat turn moves, and labels that clients cannot grow.

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::json;
use todo_tests::{
    agent::TestApp,
    db::{Backend, TestDb},
    fake_openai::{FakeOpenAi, Reply, tokens},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_turn_moves_the_counters_sqlite() {
    a_chat_turn_moves_the_counters(Backend::Sqlite, "metrics::sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_turn_moves_the_counters_postgres() {
    a_chat_turn_moves_the_counters(Backend::Postgres, "metrics::postgres").await;
}

async fn a_chat_turn_moves_the_counters(backend: Backend, name: &str) {
    let Some(db) = TestDb::create(backend, name).await else {
        return;
    };
    let fake = FakeOpenAi::start().await;
    let server = TestApp::new(&db)
        .model(&fake)
        .env("METRICS_BIND", "127.0.0.1:0")
        .start()
        .await;
    let user = server.sign_up().await;
    let before = server.metrics().await;

    fake.push(Reply::ToolCalls {
        text: tokens("Adding it. "),
        calls: vec![("add_task".to_owned(), json!({"title": "buy milk"}))],
    });
    fake.push(Reply::text("Added “buy milk”."));
    let events = server
        .chat(&user, json!({ "message": "add buy milk" }))
        .await;
    assert_eq!(events.last().map(|event| event.kind()), Some("done"));
    let chunks = events
        .iter()
        .filter(|event| event.kind() == "chunk")
        .count();
    server.turns_settled().await;
    // A path no route matches, and a method nobody defined.
    let missing = server
        .http
        .get(format!("{}/no/such/page-4f1c", server.base))
        .send()
        .await
        .expect("GET a missing page");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let made_up = server
        .http
        .request(
            reqwest::Method::from_bytes(b"BREW").expect("a method"),
            format!("{}/healthz", server.base),
        )
        .send()
        .await
        .expect("BREW /healthz");
    assert!(made_up.status().is_client_error(), "{}", made_up.status());

    let after = server.metrics().await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(
        moved(r#"todo_http_requests_total{method="POST",route="/api/:param0/chat",status="200"}"#),
        1.0,
        "{after:#?}"
    );
    assert_eq!(
        moved(
            r#"todo_http_request_duration_seconds_count{method="POST",route="/api/:param0/chat",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        moved(r#"todo_tool_calls_total{tool="add_task",outcome="ok"}"#),
        1.0
    );
    // Two model requests: the tool call, then the answer.
    assert_eq!(moved("todo_model_time_to_first_token_seconds_count"), 2.0);
    assert_eq!(moved("todo_model_tokens_streamed_total"), chunks as f64);
    // The usage the fake reported for both requests (it counts a token per chunk it sent).
    let requests = fake.requests();
    assert_eq!(
        requests
            .iter()
            .filter(|request| request.body["stream_options"]["include_usage"] == json!(true))
            .count(),
        2,
        "every model request asks for its usage"
    );
    assert!(
        requests
            .iter()
            .all(|request| request.body["max_completion_tokens"] == json!(1024)),
        "every model request is bounded by OPENAI_MAX_TOKENS"
    );
    assert!(moved(r#"todo_model_usage_tokens_total{kind="prompt"}"#) > 0.0);
    assert!(moved(r#"todo_model_usage_tokens_total{kind="completion"}"#) > chunks as f64);
    assert_eq!(value(&after, "todo_chat_streams_open"), 0.0);
    assert!(value(&after, "todo_db_pool_max_connections") >= 2.0);
    assert!(value(&after, r#"todo_db_pool_connections{state="idle"}"#) >= 1.0);
    // What clients send never becomes a label.
    assert_eq!(
        moved(r#"todo_http_requests_total{method="GET",route="unmatched",status="404"}"#),
        1.0
    );
    assert!(
        after
            .keys()
            .all(|series| !series.contains("page-4f1c") && !series.contains("BREW")),
        "{after:#?}"
    );
    assert!(
        after
            .keys()
            .any(|series| series.contains(r#"method="other""#)),
        "{after:#?}"
    );
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}
