//! The `openai` provider: Chat Completions streaming with tools against OpenAI or any
//! compatible server (`OPENAI_BASE_URL`: Ollama, vLLM, LM Studio, llama.cpp).
//!
//! [`upstream`] sends each request and reads its reply's events; this module retries a reply
//! that fails before its first chunk by [`crate::retry::RetryPolicy`], watches the reply for
//! stalls, and turns its chunks into [`ModelDelta`]s.

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use futures::{StreamExt as _, future::BoxFuture, stream};
use reqwest::StatusCode;
use secrecy::ExposeSecret as _;
use tokio::time::Instant;

use self::{
    upstream::{Upstream, UpstreamError},
    wire::{ChatRequest, Chunk, StreamOptions},
};
use super::model::{
    ChatModel, ModelDelta, ModelError, ModelRequest, ModelStream, TokenUsage, ToolCallDelta,
};
use crate::{
    config::{ApiKey, ModelTiming, OpenAiConfig},
    telemetry::cause_chain,
};

mod upstream;
mod wire;

/// An OpenAI-compatible model.
pub struct OpenAiModel {
    upstream: Upstream,
    model: String,
    max_tokens: u32,
    timing: ModelTiming,
}

impl ChatModel for OpenAiModel {
    fn start<'a>(
        &'a self,
        request: ModelRequest<'a>,
    ) -> BoxFuture<'a, Result<ModelStream, ModelError>> {
        Box::pin(self.start_with_retries(request))
    }
}

impl OpenAiModel {
    pub fn new(
        config: &OpenAiConfig,
        api_key: &ApiKey,
        timing: ModelTiming,
    ) -> Result<Self, upstream::SetupError> {
        let mut openai = OpenAIConfig::new().with_api_key(api_key.expose_secret());
        if let Some(base) = &config.base_url {
            openai = openai.with_api_base(base.as_str().trim_end_matches('/'));
        }
        Ok(Self {
            upstream: Upstream::new(&openai)?,
            model: config.model.clone(),
            max_tokens: config.max_tokens,
            timing,
        })
    }

    /// Opens the reply stream, retrying failures that happen before its first chunk.
    async fn start_with_retries(
        &self,
        request: ModelRequest<'_>,
    ) -> Result<ModelStream, ModelError> {
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let failure = match self.open(&self.request(&request)).await {
                Ok(stream) => return Ok(stream),
                Err(failure) => failure,
            };
            let next = failure
                .error
                .retryable()
                .then(|| {
                    self.timing
                        .retry
                        .next_delay(attempt, started.elapsed(), failure.retry_after)
                })
                .flatten();
            let Some(delay) = next else {
                tracing::warn!(attempt, cause = %failure.cause, "the model server failed; giving up");
                return Err(failure.error);
            };
            tracing::info!(attempt, ?delay, cause = %failure.cause, "the model server failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// One attempt: the request, then its first chunk, within the first-chunk timeout (a
    /// server that takes the connection but never answers, or answers and then sends nothing,
    /// is given up on alike).
    async fn open(&self, body: &ChatRequest<'_>) -> Result<ModelStream, Failure> {
        let opening = async {
            let mut upstream = Box::pin(self.upstream.stream(body).await?);
            match upstream.next().await {
                Some(Ok(chunk)) => Ok((chunk, upstream)),
                Some(Err(err)) => Err(Failure::from(err)),
                None => Err(Failure::plain(ModelError::ClosedAtOnce)),
            }
        };
        let (first, upstream) = tokio::time::timeout(self.timing.first_chunk, opening)
            .await
            .map_err(|_| Failure::plain(ModelError::NoFirstChunk))??;
        let idle = self.timing.idle;
        let rest = stream::unfold(upstream, move |mut upstream| async move {
            let next = match tokio::time::timeout(idle, upstream.next()).await {
                Ok(Some(Ok(chunk))) => Ok(chunk),
                Ok(Some(Err(err))) => {
                    let failure = Failure::from(err);
                    tracing::warn!(cause = %failure.cause, "the model's reply failed mid-stream");
                    Err(failure.error)
                }
                Ok(None) => return None,
                Err(_) => Err(ModelError::Stalled),
            };
            Some((next, upstream))
        });
        let chunks = stream::once(async { Ok(first) }).chain(rest);
        Ok(chunks.flat_map(|chunk| stream::iter(deltas(chunk))).boxed())
    }

    /// The request's JSON borrows the turn's history and the session's tool schemas.
    fn request<'a>(&'a self, request: &ModelRequest<'a>) -> ChatRequest<'a> {
        ChatRequest {
            model: &self.model,
            messages: request.messages,
            tools: request.tools,
            stream: true,
            max_completion_tokens: self.max_tokens,
            stream_options: StreamOptions {
                include_usage: true,
            },
        }
    }
}

/// The deltas of one streamed chunk (only the first choice is asked for and read).
fn deltas(chunk: Result<Chunk, ModelError>) -> Vec<Result<ModelDelta, ModelError>> {
    let chunk = match chunk {
        Ok(chunk) => chunk,
        Err(err) => return vec![Err(err)],
    };
    let mut deltas = Vec::new();
    // With `include_usage` the last chunk carries the request's usage and no choices.
    if let Some(usage) = chunk.usage {
        deltas.push(Ok(ModelDelta::Usage(TokenUsage {
            prompt: usage.prompt_tokens,
            completion: usage.completion_tokens,
        })));
    }
    let Some(choice) = chunk.choices.into_iter().next() else {
        return deltas;
    };
    let delta = choice.delta.unwrap_or_default();
    if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
        deltas.push(Ok(ModelDelta::Text(text)));
    }
    for call in delta.tool_calls.unwrap_or_default() {
        let function = call.function.unwrap_or_default();
        deltas.push(Ok(ModelDelta::ToolCall(ToolCallDelta {
            index: call.index,
            id: call.id,
            name: function.name,
            arguments: function.arguments,
        })));
    }
    // Some servers send an empty reason on the chunks before the last.
    if let Some(reason) = choice.finish_reason.filter(|reason| !reason.is_empty()) {
        // `function_call` is the name of tool calls before tools had several.
        let reason = if reason == "function_call" {
            "tool_calls".to_owned()
        } else {
            reason
        };
        deltas.push(Ok(ModelDelta::Finish(reason)));
    }
    deltas
}

/// A failed attempt, classified: what the person reads, when to retry, and the cause for the
/// log (which may hold the model server's own words).
struct Failure {
    error: ModelError,
    retry_after: Option<Duration>,
    cause: String,
}

impl Failure {
    fn plain(error: ModelError) -> Self {
        Self {
            cause: error.to_string(),
            error,
            retry_after: None,
        }
    }
}

impl From<UpstreamError> for Failure {
    fn from(err: UpstreamError) -> Self {
        let cause = cause_chain(&err);
        let (error, retry_after) = match &err {
            UpstreamError::Refused(refusal) => (refused(refusal.status), refusal.retry_after),
            UpstreamError::Http(err)
                if err.is_connect() || err.is_timeout() || err.is_body() || err.is_request() =>
            {
                (ModelError::Unreachable, None)
            }
            UpstreamError::Stream(_) => (ModelError::Unreachable, None),
            UpstreamError::Http(_) | UpstreamError::Chunk(_) => (ModelError::Unreadable, None),
        };
        Self {
            error,
            retry_after,
            cause,
        }
    }
}

/// What a refusal means for the person and for a retry.
fn refused(status: StatusCode) -> ModelError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        ModelError::Busy
    } else if status.is_server_error()
        || matches!(status, StatusCode::REQUEST_TIMEOUT | StatusCode::CONFLICT)
    {
        ModelError::Unavailable {
            status: status.as_u16(),
        }
    } else {
        ModelError::Refused {
            status: status.as_u16(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{chat::clock::test_clock, retry::RetryPolicy};

    /// A model server that takes connections and never answers: the first-chunk timeout covers
    /// waiting for its response headers too, so the turn is not held until the client leaves.
    #[tokio::test]
    async fn a_server_that_never_answers_is_given_up_on_at_the_first_chunk_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((connection, _)) = listener.accept().await {
                connections.push(connection);
            }
        });
        let config = OpenAiConfig {
            api_key: None,
            base_url: Some(format!("http://{address}/v1").parse().unwrap()),
            model: "silent".to_owned(),
            max_tokens: 100,
        };
        let timing = ModelTiming {
            first_chunk: Duration::from_millis(300),
            idle: Duration::from_secs(60),
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
        };
        let model = OpenAiModel::new(&config, &ApiKey::from("sk-test"), timing).unwrap();
        let clock = test_clock("UTC");
        let request = ModelRequest {
            messages: &[],
            tools: &[],
            clock: &clock,
        };
        let opened = tokio::time::timeout(Duration::from_secs(10), model.start(request))
            .await
            .expect("given up on well before the test's own timeout");
        assert!(
            matches!(opened, Err(ModelError::NoFirstChunk)),
            "{:?}",
            opened.err()
        );
        held.abort();
    }
}
