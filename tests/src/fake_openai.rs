//! A fake OpenAI-compatible server that speaks the real Chat Completions streaming protocol, so
//! the host's real async-openai client runs in every chat test.
//!
//! Each request takes the next scripted [`Reply`]: a text streamed token by token (a role
//! delta first, then content deltas, `finish_reason`, `[DONE]`), tool calls split across
//! chunks by index, id, name and argument fragments, the usage chunk when the request asks
//! for it (`stream_options.include_usage`), an HTTP error (429 with `Retry-After`,
//! 500), a connection cut mid-stream, or a stall. Every request body is recorded, and so is a
//! stream the client dropped before it ended, which is how tests see that the host stopped
//! paying for tokens.

use std::{
    collections::VecDeque,
    io,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{StreamExt as _, stream};
use poem::{
    Body, EndpointExt as _, Response, Route, Server, handler,
    http::{HeaderMap, StatusCode, header},
    listener::{Acceptor as _, Listener as _, TcpListener},
    post,
    web::{Data, Json},
};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// How often a stalled stream writes a comment, to find out whether the client is still there.
const STALL_PROBE: Duration = Duration::from_millis(200);

/// What the fake answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Streams the tokens as content deltas, then `finish_reason: stop`.
    Text(Vec<String>),
    /// Streams some text (may be empty), then these calls, `finish_reason: tool_calls`.
    ToolCalls {
        text: Vec<String>,
        calls: Vec<(String, Value)>,
    },
    /// Answers with this status, an OpenAI error body and, when set, `Retry-After`.
    Status {
        status: u16,
        retry_after: Option<String>,
        /// The error body's `message`; "scripted failure" when `None`.
        message: Option<String>,
    },
    /// Streams the tokens, then breaks the connection without finishing.
    CutAfter(Vec<String>),
    /// Streams the tokens, then sends no more events, ever (only SSE comments).
    Stall(Vec<String>),
    /// A whole tool-using turn, for many turns at once: the calls when the request's last
    /// message is not a tool result, the text when it is.
    CallsThenText {
        calls: Vec<(String, Value)>,
        text: Vec<String>,
    },
}

impl Reply {
    /// A text reply, one token per word (spaces kept).
    pub fn text(text: &str) -> Self {
        Reply::Text(tokens(text))
    }

    /// One step of tool calls.
    pub fn calls(calls: &[(&str, Value)]) -> Self {
        Reply::ToolCalls {
            text: Vec::new(),
            calls: calls
                .iter()
                .map(|(name, arguments)| ((*name).to_owned(), arguments.clone()))
                .collect(),
        }
    }

    pub fn status(status: u16) -> Self {
        Reply::Status {
            status,
            retry_after: None,
            message: None,
        }
    }

    pub fn rate_limited(retry_after: &str) -> Self {
        Reply::Status {
            status: 429,
            retry_after: Some(retry_after.to_owned()),
            message: None,
        }
    }

    /// A refusal whose body says `message`, as OpenAI's do.
    pub fn refused(status: u16, message: &str) -> Self {
        Reply::Status {
            status,
            retry_after: None,
            message: Some(message.to_owned()),
        }
    }
}

impl Reply {
    /// The reply to this request: `CallsThenText` becomes its calls or its text.
    fn for_request(self, request: &Value) -> Self {
        let Reply::CallsThenText { calls, text } = self else {
            return self;
        };
        let after_tool = request["messages"]
            .as_array()
            .and_then(|messages| messages.last())
            .is_some_and(|message| message["role"] == "tool");
        if after_tool {
            Reply::Text(text)
        } else {
            Reply::ToolCalls {
                text: Vec::new(),
                calls,
            }
        }
    }
}

/// Splits text into word tokens that join back into it.
pub fn tokens(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub body: Value,
    /// The `Authorization` header as sent, if any.
    pub authorization: Option<String>,
    pub received_at: Instant,
    /// When the first content token left the fake, for timing what the host adds.
    pub first_token_at: Arc<Mutex<Option<Instant>>>,
}

#[derive(Default)]
struct FakeState {
    script: Mutex<VecDeque<Reply>>,
    /// Used when the script is empty; without it, an empty script answers 500.
    fallback: Mutex<Option<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    token_delay: Mutex<Duration>,
    cancelled: AtomicUsize,
    changed: Notify,
}

/// A running fake model server.
pub struct FakeOpenAi {
    /// Use as `OPENAI_BASE_URL`: `http://127.0.0.1:<port>/v1`.
    pub base_url: String,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let state = Arc::new(FakeState::default());
        let acceptor = todo_mcp::net::NoDelayAcceptor(
            TcpListener::bind("127.0.0.1:0")
                .into_acceptor()
                .await
                .expect("bind the fake model server"),
        );
        let address = acceptor
            .local_addr()
            .into_iter()
            .find_map(|addr| addr.as_socket_addr().copied())
            .expect("the fake's address");
        let app = Route::new()
            .at("/v1/chat/completions", post(chat_completions))
            .data(state.clone());
        let server = tokio::spawn(async move {
            let _ = Server::new_with_acceptor(acceptor).run(app).await;
        });
        Self {
            base_url: format!("http://{address}/v1"),
            state,
            server,
        }
    }

    /// Queues the answer to the next request.
    pub fn push(&self, reply: Reply) {
        lock(&self.state.script).push_back(reply);
    }

    /// Answers every request past the script with `reply`.
    pub fn always(&self, reply: Reply) {
        *lock(&self.state.fallback) = Some(reply);
    }

    /// The pause before each streamed chunk.
    pub fn set_token_delay(&self, delay: Duration) {
        *lock(&self.state.token_delay) = delay;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.requests).clone()
    }

    /// Streams the client dropped before they ended.
    pub fn cancelled(&self) -> usize {
        self.state.cancelled.load(Ordering::SeqCst)
    }

    /// Waits until at least `count` streams were dropped by the client; false on timeout.
    pub async fn wait_cancelled(&self, count: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.state.changed.notified();
            if self.cancelled() >= count {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return self.cancelled() >= count;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[handler]
async fn chat_completions(
    state: Data<&Arc<FakeState>>,
    headers: &HeaderMap,
    body: Json<Value>,
) -> Response {
    let state = state.0.clone();
    let first_token_at = Arc::new(Mutex::new(None));
    lock(&state.requests).push(Recorded {
        body: body.0.clone(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        received_at: Instant::now(),
        first_token_at: first_token_at.clone(),
    });
    state.changed.notify_waiters();
    let reply = lock(&state.script)
        .pop_front()
        .or_else(|| lock(&state.fallback).clone())
        .map(|reply| reply.for_request(&body.0));
    let delay = *lock(&state.token_delay);
    let (chunks, ending) = match reply {
        None => {
            return error_response(500, None, "the fake model server has no scripted reply");
        }
        Some(Reply::Status {
            status,
            retry_after,
            message,
        }) => {
            let message = message.as_deref().unwrap_or("scripted failure");
            return error_response(status, retry_after, message);
        }
        Some(Reply::Text(text)) => (text_chunks(&text, Some("stop")), Ending::Done),
        Some(Reply::ToolCalls { text, calls }) => {
            let mut chunks = text_chunks(&text, None);
            chunks.extend(tool_call_chunks(&calls));
            (chunks, Ending::Done)
        }
        Some(Reply::CutAfter(text)) => (text_chunks(&text, None), Ending::Cut),
        Some(Reply::CallsThenText { .. }) => {
            unreachable!("resolved by Reply::for_request")
        }
        Some(Reply::Stall(text)) => (text_chunks(&text, None), Ending::Stall),
    };
    let mut chunks = chunks;
    if matches!(ending, Ending::Done) && body.0["stream_options"]["include_usage"] == json!(true) {
        chunks.push(usage_chunk(&body.0, chunks.len()));
    }
    let guard = StreamGuard {
        state: state.clone(),
        finished: false,
    };
    let body = stream::unfold(
        (chunks.into_iter(), guard, ending, first_token_at, true),
        move |(mut chunks, mut guard, ending, first_token_at, first)| async move {
            if let Some(chunk) = chunks.next() {
                // The role delta goes at once; every later chunk waits its token delay.
                if !first && !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                if chunk.contains("\"content\":\"") && !chunk.contains("\"content\":\"\"") {
                    lock(&first_token_at).get_or_insert_with(Instant::now);
                }
                let bytes = Ok::<_, io::Error>(format!("data: {chunk}\n\n"));
                return Some((bytes, (chunks, guard, ending, first_token_at, false)));
            }
            match ending {
                Ending::Done if !guard.finished => {
                    guard.finished = true;
                    let done = Ok("data: [DONE]\n\n".to_owned());
                    Some((done, (chunks, guard, ending, first_token_at, false)))
                }
                Ending::Done => None,
                Ending::Cut => {
                    guard.finished = true;
                    Some((
                        Err(io::Error::other("scripted cut")),
                        (chunks, guard, ending, first_token_at, false),
                    ))
                }
                // Silence for the client: only SSE comments, which carry no event. They are
                // written so that the fake notices (by a failed write) when the client leaves.
                Ending::Stall => {
                    tokio::time::sleep(STALL_PROBE).await;
                    let probe = Ok(":\n\n".to_owned());
                    Some((probe, (chunks, guard, ending, first_token_at, false)))
                }
            }
        },
    );
    Response::builder()
        .content_type("text/event-stream")
        .body(Body::from_bytes_stream(body.map(|item| item.map(bytes_of))))
}

fn bytes_of(text: String) -> Vec<u8> {
    text.into_bytes()
}

#[derive(Clone, Copy)]
enum Ending {
    Done,
    Cut,
    Stall,
}

/// Counts a stream that the client dropped before its end.
struct StreamGuard {
    state: Arc<FakeState>,
    finished: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.state.cancelled.fetch_add(1, Ordering::SeqCst);
            self.state.changed.notify_waiters();
        }
    }
}

fn error_response(status: u16, retry_after: Option<String>, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::builder()
        .status(status)
        .content_type("application/json");
    if let Some(retry_after) = retry_after {
        response = response.header("retry-after", retry_after);
    }
    response.body(
        json!({"error": {"message": message, "type": "fake_error", "param": null, "code": null}})
            .to_string(),
    )
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_764_000_000,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    })
    .to_string()
}

/// The last chunk of a stream that asked for `include_usage`: no choices, the usage. The counts
/// stand in for a tokenizer's: the messages' JSON in 4-byte tokens, a token per chunk sent.
fn usage_chunk(request: &Value, chunks: usize) -> String {
    let prompt = request["messages"].to_string().len().div_ceil(4);
    json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_764_000_000,
        "model": "fake-model",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": chunks, "total_tokens": prompt + chunks},
    })
    .to_string()
}

/// The role delta, one delta per token and, when given, the finishing chunk.
fn text_chunks(tokens: &[String], finish: Option<&str>) -> Vec<String> {
    let mut chunks = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    chunks.extend(
        tokens
            .iter()
            .map(|token| chunk(json!({"content": token}), None)),
    );
    if let Some(finish) = finish {
        chunks.push(chunk(json!({}), Some(finish)));
    }
    chunks
}

/// Each call in pieces: index, id and name first, then the arguments in three fragments.
fn tool_call_chunks(calls: &[(String, Value)]) -> Vec<String> {
    let mut chunks = Vec::new();
    for (index, (name, arguments)) in calls.iter().enumerate() {
        chunks.push(chunk(
            json!({"tool_calls": [{
                "index": index,
                "id": format!("call_fake_{index}"),
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }]}),
            None,
        ));
        let text = arguments.to_string();
        let cut = |n: usize| {
            text.char_indices()
                .nth(text.chars().count() * n / 3)
                .map_or(text.len(), |(at, _)| at)
        };
        let (a, b) = (cut(1), cut(2));
        for fragment in [&text[..a], &text[a..b], &text[b..]] {
            chunks.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}),
                None,
            ));
        }
    }
    chunks.push(chunk(json!({}), Some("tool_calls")));
    chunks
}
