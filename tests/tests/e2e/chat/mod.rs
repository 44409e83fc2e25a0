//! The assistant over real HTTP against an in-process host: the chat stream event by event,
//! tool calls through MCP, failures of the model server, conversations and the offline agent.
//! The model is the fake server of the test kit, so async-openai's real client code runs; no
//! test calls a real model. Tests that need the `todo-agent` process (signals, its log) are in
//! `process.rs`.

mod conversations;
mod failures;
mod offline;
mod stream;

use reqwest::StatusCode;
use serde_json::{Value, json};
use todo_tests::{
    agent::{AgentServer, ApiUser, TestApp},
    chat::SseEvent,
    db::{Backend, TestDb},
    fake_openai::FakeOpenAi,
};

/// A host whose model is a fresh fake.
pub struct Ctx {
    pub server: AgentServer,
    pub fake: FakeOpenAi,
    /// Dropped last: the server stops before its database goes.
    pub db: TestDb,
}

impl Ctx {
    pub async fn start(backend: Backend, name: &str) -> Option<Self> {
        let db = TestDb::create(backend, name).await?;
        let fake = FakeOpenAi::start().await;
        let server = TestApp::new(&db).model(&fake).start().await;
        Some(Self { server, fake, db })
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
                    if let Some(ctx) = crate::chat::Ctx::start(todo_tests::db::Backend::$backend, name).await {
                        super::$test(ctx).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use with_fake_model;

pub fn message(text: &str) -> Value {
    json!({ "message": text })
}

pub fn kinds(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(SseEvent::kind).collect()
}

pub fn text_of(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|event| event.kind() == "chunk")
        .map(|event| event.data["content"].as_str().unwrap_or_default())
        .collect()
}

pub fn last(events: &[SseEvent]) -> &SseEvent {
    events.last().expect("at least one event")
}

pub async fn stored_messages(ctx: &Ctx, user: &ApiUser, conversation: &str) -> Vec<Value> {
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
pub async fn conversations_of(ctx: &Ctx, user: &ApiUser) -> todo_tests::agent::ApiResponse {
    ctx.server
        .get(user, &format!("/api/{}/conversations", user.id))
        .await
}

pub async fn list_tasks(ctx: &Ctx, user: &ApiUser) -> Vec<Value> {
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
pub fn sent_messages(request: &Value) -> Vec<(String, String)> {
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
