//! A client for the chat stream: `POST /api/{user}/chat` read as Server-Sent Events, event by
//! event, with the `id:` of each and the heartbeat comments counted.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::Value;

use todo_agent::chat::conversations::{ConversationStore, NewMessage, Role};

use crate::{
    agent::{AgentServer, ApiUser},
    db::TestDb,
};

/// One SSE event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub data: Value,
    /// When it arrived.
    pub at: Instant,
}

impl SseEvent {
    pub fn kind(&self) -> &str {
        self.data["type"].as_str().unwrap_or_default()
    }
}

/// An open chat stream.
pub struct ChatStream {
    pub status: reqwest::StatusCode,
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
    /// Comment lines (heartbeats) seen so far.
    pub comments: usize,
    /// The JSON body when the request was refused.
    pub error: Option<Value>,
}

impl AgentServer {
    /// Sends a chat message and returns the open stream.
    pub async fn chat_stream(&self, user: &ApiUser, body: Value) -> ChatStream {
        let response = self
            .http
            .post(format!("{}/api/{}/chat", self.base, user.id))
            .bearer_auth(&user.token)
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .await
            .expect("reach todo-agent");
        ChatStream::from_response(response).await
    }

    /// Sends a chat message and reads the whole stream.
    pub async fn chat(&self, user: &ApiUser, body: Value) -> Vec<SseEvent> {
        let mut stream = self.chat_stream(user, body).await;
        assert!(
            stream.status.is_success(),
            "chat refused: {} {:?}",
            stream.status,
            stream.error
        );
        stream.collect_all(Duration::from_secs(60)).await
    }
}

impl ChatStream {
    /// The stream of an answer: its events, or the JSON body of a refusal.
    pub async fn from_response(response: reqwest::Response) -> Self {
        let status = response.status();
        if !status.is_success() {
            let error = response.json().await.ok();
            return ChatStream {
                status,
                body: futures::stream::empty().boxed(),
                buffer: String::new(),
                comments: 0,
                error,
            };
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "chat answered {content_type}"
        );
        ChatStream {
            status,
            body: response
                .bytes_stream()
                .map(|chunk| chunk.map(|bytes| bytes.to_vec()))
                .boxed(),
            buffer: String::new(),
            comments: 0,
            error: None,
        }
    }

    /// The next event; `None` at the end of the stream.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                let mut comment = false;
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().to_owned());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    } else if line.starts_with(':') {
                        comment = true;
                    }
                }
                if data.is_empty() {
                    if comment {
                        self.comments += 1;
                    }
                    continue;
                }
                let data = serde_json::from_str(&data)
                    .unwrap_or_else(|err| panic!("event data is not JSON ({err}): {data}"));
                return Some(SseEvent {
                    id,
                    data,
                    at: Instant::now(),
                });
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Err(err)) => panic!("the chat stream broke: {err}"),
                None => return None,
            }
        }
    }

    /// Every remaining event, failing the test after `timeout`.
    pub async fn collect_all(&mut self, timeout: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        let read = async {
            while let Some(event) = self.next_event().await {
                events.push(event);
            }
        };
        tokio::time::timeout(timeout, read)
            .await
            .expect("the chat stream did not end in time");
        events
    }
}

/// A conversation of `count` messages for `user`, written by the host's own store: the user and
/// the assistant in turn, the user first; `content(n, role)` writes message `n` (from 1).
pub async fn seed_conversation(
    db: &TestDb,
    user: &ApiUser,
    count: usize,
    content: impl Fn(usize, Role) -> String,
) -> uuid::Uuid {
    let store = ConversationStore::new(db.connect().await);
    let owner = todo_mcp::task::UserId::new(uuid::Uuid::try_parse(&user.id).expect("a user id"));
    let conversation = store.create(owner, "seeded").await.expect("create");
    for n in 1..=count {
        let role = if n % 2 == 1 {
            Role::User
        } else {
            Role::Assistant
        };
        store
            .append(
                conversation.id,
                NewMessage::complete(role, content(n, role)),
            )
            .await
            .expect("append");
    }
    conversation.id
}
