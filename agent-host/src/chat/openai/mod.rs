//! The `openai` provider: Chat Completions streaming with tools through async-openai, against
//! OpenAI or any compatible server (`OPENAI_BASE_URL`: Ollama, vLLM, LM Studio, llama.cpp).
//!
//! async-openai turns an HTTP error into a message and drops its headers, so the HTTP calls go
//! through [`UpstreamService`], which keeps the status and `Retry-After` of a refusal in an
//! [`UpstreamRefusal`]; `OpenAiModel` retries on it by [`crate::retry::RetryPolicy`].

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use async_openai::{
    Client, config::OpenAIConfig, error::OpenAIError, middleware::HttpRequestFactory,
};
use futures::{StreamExt as _, future::BoxFuture, stream};
use reqwest::{StatusCode, header::RETRY_AFTER};
use secrecy::ExposeSecret as _;
use tokio::time::Instant;

use self::wire::{ChatRequest, Chunk, StreamOptions};
use super::model::{
    ChatModel, ModelDelta, ModelError, ModelRequest, ModelStream, TokenUsage, ToolCallDelta,
};
use crate::{
    config::{ApiKey, ModelTiming, OpenAiConfig},
    retry::parse_retry_after,
    telemetry::cause_chain,
};

mod wire;

/// How long a connection to the model server may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusal's body is read for its message.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// An OpenAI-compatible model.
pub struct OpenAiModel {
    client: Client<OpenAIConfig>,
    model: String,
    max_tokens: u32,
    timing: ModelTiming,
}

/// A non-2xx answer of the model server, with what is needed to retry it well.
#[derive(Debug, thiserror::Error)]
#[error("the model server answered {status}: {message}")]
pub struct UpstreamRefusal {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub message: String,
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
    ) -> Result<Self, reqwest::Error> {
        let mut openai = OpenAIConfig::new().with_api_key(api_key.expose_secret());
        if let Some(base) = &config.base_url {
            openai = openai.with_api_base(base.as_str().trim_end_matches('/'));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        let client = Client::with_config(openai).with_http_service(UpstreamService { http });
        Ok(Self {
            client,
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
            let failure = match self.open(self.request(&request)).await {
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

    /// One attempt: the request, then its first chunk.
    async fn open(&self, body: ChatRequest<'_>) -> Result<ModelStream, Failure> {
        let mut upstream = self
            .client
            .chat()
            .create_stream_byot::<_, Chunk>(body)
            .await
            .map_err(Failure::from)?;
        let first = match tokio::time::timeout(self.timing.first_chunk, upstream.next()).await {
            Ok(Some(Ok(chunk))) => chunk,
            Ok(Some(Err(err))) => return Err(Failure::from(err)),
            Ok(None) => return Err(Failure::plain(ModelError::ClosedAtOnce)),
            Err(_) => return Err(Failure::plain(ModelError::NoFirstChunk)),
        };
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

impl From<OpenAIError> for Failure {
    fn from(err: OpenAIError) -> Self {
        let cause = cause_chain(&err);
        if let OpenAIError::Boxed(boxed) = &err
            && let Some(refusal) = boxed.downcast_ref::<UpstreamRefusal>()
        {
            let status = refusal.status;
            let error = if status == StatusCode::TOO_MANY_REQUESTS {
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
            };
            return Self {
                error,
                retry_after: refusal.retry_after,
                cause,
            };
        }
        let error = match &err {
            OpenAIError::Reqwest(err)
                if err.is_connect() || err.is_timeout() || err.is_body() || err.is_request() =>
            {
                ModelError::Unreachable
            }
            OpenAIError::StreamError(_) | OpenAIError::Boxed(_) => ModelError::Unreachable,
            _ => ModelError::Unreadable,
        };
        Self {
            error,
            retry_after: None,
            cause,
        }
    }
}

/// The HTTP client under async-openai: executes each request and turns a non-2xx answer into
/// an [`UpstreamRefusal`] that keeps the status and `Retry-After`.
#[derive(Clone)]
pub struct UpstreamService {
    http: reqwest::Client,
}

impl tower::Service<HttpRequestFactory> for UpstreamService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let request = factory.build().await?;
            let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            if response.status().is_success() {
                return Ok(response);
            }
            Err(OpenAIError::Boxed(Box::new(refusal(response).await)))
        })
    }
}

async fn refusal(mut response: reqwest::Response) -> UpstreamRefusal {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, chrono::Utc::now()));
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| json["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&body)
                .chars()
                .take(300)
                .collect::<String>()
        });
    UpstreamRefusal {
        status,
        retry_after,
        message,
    }
}
