//! A ChatKit client for `POST /chatkit` that keeps a transcript of everything it sent and got,
//! and checks the transcript against the official `openai-chatkit` package's own pydantic types
//! (`tests/python/chatkit_conformance.py`): every request it sent as ChatKit's request union,
//! every stream event as `ThreadStreamEvent`, every JSON answer as the type ChatKit reads for
//! its request. A field name or type that ChatKit would reject fails the test.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    agent::{AgentServer, ApiUser},
    chat::ChatStream,
    skip::tool_available,
};

/// What `/chatkit` answered.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A stream of events (`data:` lines).
    Stream(Vec<Value>),
    /// A JSON answer with status 200.
    Json(Value),
    /// A refusal: its status and body.
    Refused(StatusCode, Value),
}

impl Answer {
    /// The events of a stream, failing the test on anything else.
    pub fn events(&self) -> &[Value] {
        match self {
            Answer::Stream(events) => events,
            other => panic!("expected a stream, got {other:?}"),
        }
    }

    /// The JSON of a 200 answer, failing the test on anything else.
    pub fn json(&self) -> &Value {
        match self {
            Answer::Json(body) => body,
            other => panic!("expected a JSON answer, got {other:?}"),
        }
    }

    /// The status and ChatKit error of a refusal, failing the test on anything else.
    pub fn refusal(&self) -> (StatusCode, &Value) {
        match self {
            Answer::Refused(status, body) => (*status, body),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

/// A user's ChatKit client.
#[derive(Clone)]
pub struct ChatKitClient {
    http: reqwest::Client,
    url: String,
    token: String,
    transcript: Arc<Mutex<Vec<Value>>>,
}

impl ChatKitClient {
    pub fn new(server: &AgentServer, user: &ApiUser) -> Self {
        Self {
            http: server.http.clone(),
            url: format!("{}/chatkit", server.base),
            token: user.token.clone(),
            transcript: Arc::default(),
        }
    }

    /// Another user's client, sharing this transcript.
    pub fn for_user(&self, user: &ApiUser) -> Self {
        Self {
            token: user.token.clone(),
            ..self.clone()
        }
    }

    /// Sends a request ChatKit's client could send and reads the whole answer.
    pub async fn send(&self, request: Value) -> Answer {
        let answer = self.read(self.post(request.to_string()).await).await;
        self.record(request, true, &answer);
        answer
    }

    /// Sends a request ChatKit's client would not send (to see it refused); only the answer is
    /// checked against ChatKit's types.
    pub async fn send_invalid(&self, body: &str) -> Answer {
        let answer = self.read(self.post(body.to_owned()).await).await;
        self.record(Value::String(body.to_owned()), false, &answer);
        answer
    }

    /// Sends a streaming request and hands back the open stream; the request is recorded, the
    /// events are the caller's to read and check.
    pub async fn open(&self, request: Value) -> ChatStream {
        let response = self.post(request.to_string()).await;
        let stream = ChatStream::from_response(response).await;
        self.record(request, true, &Answer::Stream(Vec::new()));
        stream
    }

    /// POSTs `body` as JSON with the user's bearer token.
    async fn post(&self, body: String) -> reqwest::Response {
        self.http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("reach /chatkit")
    }

    async fn read(&self, response: reqwest::Response) -> Answer {
        let status = response.status();
        let is_stream = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if status.is_success() && is_stream {
            let mut stream = ChatStream::from_response(response).await;
            let events = stream
                .collect_all(Duration::from_secs(60))
                .await
                .into_iter()
                .map(|event| {
                    assert!(event.id.is_none(), "ChatKit events carry no id: {event:?}");
                    event.data
                })
                .collect();
            return Answer::Stream(events);
        }
        let bytes = response.bytes().await.expect("read the answer");
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            panic!(
                "/chatkit answered {status} with a body that is not JSON ({err}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        if status == StatusCode::OK {
            Answer::Json(body)
        } else {
            Answer::Refused(status, body)
        }
    }

    fn record(&self, request: Value, valid: bool, answer: &Answer) {
        let answer = match answer {
            Answer::Stream(events) => json!({"kind": "stream", "events": events}),
            Answer::Json(body) => json!({"kind": "json", "body": body}),
            Answer::Refused(status, body) => {
                json!({"kind": "refused", "status": status.as_u16(), "body": body})
            }
        };
        self.transcript
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(json!({"request": request, "valid_request": valid, "answer": answer}));
    }

    /// Checks the whole transcript with `openai-chatkit`'s types; skips (saying so) when the
    /// package is not installed.
    pub async fn conforms(&self, test: &str) {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/chatkit_conformance.py");
        if !tool_available(
            test,
            "python3",
            &["-c", "import chatkit.types"],
            "the ChatKit conformance check needs openai-chatkit: pip install -r tests/python/requirements.txt",
        )
        .await
        {
            return;
        }
        let transcript = serde_json::to_vec(
            &*self
                .transcript
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .expect("a transcript is JSON");
        let file = tempfile::NamedTempFile::new().expect("a file for the transcript");
        std::fs::write(file.path(), transcript).expect("write the transcript");
        let output = tokio::process::Command::new("python3")
            .arg(script)
            .arg(file.path())
            .output()
            .await
            .expect("run the ChatKit conformance check");
        assert!(
            output.status.success(),
            "ChatKit's types reject what was sent or answered:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
