//! The HTTP side of the `openai` provider: one streaming request to the model server, its
//! refusal kept with the status and `Retry-After`, and its Server-Sent Events read as
//! [`Chunk`]s.
//!
//! async-openai's streaming call reads the response in a task of its own and hands each
//! chunk to the caller over an unbounded channel: a wake-up more for every token, and a model
//! server faster than the turn buffered without bound. Here the turn's own task reads the
//! body (hyper's connection task still does the socket), so a token costs one hand-off less,
//! the body is read only as fast as the turn forwards it, and dropping the stream closes the
//! request at once. async-openai's configuration still makes the URL and headers.

use std::time::Duration;

use async_openai::config::{Config as _, OpenAIConfig};
use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource as _};
use futures::{Stream, StreamExt as _, TryStreamExt as _, future};
use reqwest::{
    StatusCode,
    header::{ACCEPT, HeaderMap, HeaderValue, RETRY_AFTER},
};
use secrecy::ExposeSecret as _;

use super::wire::{ChatRequest, Chunk};
use crate::retry::parse_retry_after;

/// How long a connection to the model server may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a refusal's body is read for its message.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Where and how the model's Chat Completions requests go.
pub struct Upstream {
    http: reqwest::Client,
    url: String,
    /// The key and any organisation or project headers, made once.
    headers: HeaderMap,
}

/// What went wrong talking to the model server, before or during its reply.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(transparent)]
    Refused(#[from] UpstreamRefusal),
    #[error("the request to the model server failed")]
    Http(#[from] reqwest::Error),
    #[error("the model server's event stream broke off")]
    Stream(#[source] EventStreamError<reqwest::Error>),
    #[error("a streamed chunk is not Chat Completions JSON")]
    Chunk(#[source] serde_json::Error),
}

/// A non-2xx answer of the model server, with what is needed to retry it well.
#[derive(Debug, thiserror::Error)]
#[error("the model server answered {status}: {message}")]
pub struct UpstreamRefusal {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub message: String,
}

/// Why the model client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} holds a character an HTTP header cannot carry")]
    NotAHeader(&'static str),
    #[error("build the HTTP client")]
    Http(#[from] reqwest::Error),
}

impl Upstream {
    pub fn new(config: &OpenAIConfig) -> Result<Self, SetupError> {
        check_header_values(config)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        let mut headers = config.headers();
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        Ok(Self {
            http,
            url: config.url("/chat/completions"),
            headers,
        })
    }

    /// Sends one request; on a 2xx answer, its chunks as they arrive.
    pub async fn stream(
        &self,
        request: &ChatRequest<'_>,
    ) -> Result<impl Stream<Item = Result<Chunk, UpstreamError>> + Send + 'static, UpstreamError>
    {
        let response = self
            .http
            .post(&self.url)
            .headers(self.headers.clone())
            .json(request)
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(refusal(response).await.into());
        }
        Ok(chunks(response.bytes_stream()))
    }
}

/// async-openai's `headers()` unwraps each value into a header, so a value no header can carry
/// (a newline pasted into the key) would panic; it is refused here by the variable's name.
/// The organisation and project come from `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID`, as
/// async-openai reads them.
fn check_header_values(config: &OpenAIConfig) -> Result<(), SetupError> {
    let project = std::env::var("OPENAI_PROJECT_ID").unwrap_or_default();
    let values = [
        (
            "OPENAI_API_KEY",
            format!("Bearer {}", config.api_key().expose_secret()),
        ),
        ("OPENAI_ORG_ID", config.org_id().to_owned()),
        ("OPENAI_PROJECT_ID", project),
    ];
    for (name, value) in values {
        HeaderValue::from_str(&value).map_err(|_| SetupError::NotAHeader(name))?;
    }
    Ok(())
}

/// The chunks of a streamed reply's body: each event's data is one chunk, up to `[DONE]`; the
/// `keepalive` events some servers send between chunks are skipped.
fn chunks(
    body: impl Stream<Item = Result<Bytes, reqwest::Error>>,
) -> impl Stream<Item = Result<Chunk, UpstreamError>> {
    body.eventsource()
        .map_err(UpstreamError::Stream)
        .try_filter(|event| future::ready(event.event != "keepalive"))
        .try_take_while(|event| future::ready(Ok(event.data != "[DONE]")))
        .map(|event| {
            let event = event?;
            serde_json::from_str(&event.data).map_err(UpstreamError::Chunk)
        })
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

#[cfg(test)]
mod tests {
    use futures::{StreamExt as _, stream};
    use proptest::prelude::*;

    use super::*;

    /// The chunks read from a body that arrives in these pieces.
    fn read(pieces: Vec<Vec<u8>>) -> Vec<Result<Chunk, UpstreamError>> {
        let body = stream::iter(pieces.into_iter().map(|piece| Ok(Bytes::from(piece))));
        futures::executor::block_on(chunks(body).collect())
    }

    fn text_of(chunk: &Chunk) -> Option<&str> {
        chunk.choices.first()?.delta.as_ref()?.content.as_deref()
    }

    fn text_event(text: &str) -> String {
        let chunk = serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]});
        format!("data: {chunk}\n\n")
    }

    #[test]
    fn events_become_chunks_up_to_done() {
        let body = format!(
            "{}: a comment\n\nevent: keepalive\ndata: {{}}\n\n{}data: [DONE]\n\n{}",
            text_event("Hel"),
            text_event("lo"),
            text_event("after the end"),
        );
        let texts: Vec<_> = read(vec![body.into_bytes()])
            .iter()
            .map(|chunk| text_of(chunk.as_ref().unwrap()).map(str::to_owned))
            .collect();
        assert_eq!(texts, [Some("Hel".to_owned()), Some("lo".to_owned())]);
    }

    #[test]
    fn data_that_is_not_a_chunk_is_an_error_not_a_skip() {
        let read = read(vec![
            b"data: {\"error\": {\"message\": \"overloaded\"}}\n\n".to_vec(),
        ]);
        assert!(
            matches!(read.as_slice(), [Err(UpstreamError::Chunk(_))]),
            "{read:?}"
        );
    }

    #[test]
    fn a_body_that_is_not_utf8_is_a_stream_error() {
        let read = read(vec![b"data: \xff\xfe\n\n".to_vec()]);
        assert!(
            matches!(read.as_slice(), [Err(UpstreamError::Stream(_))]),
            "{read:?}"
        );
    }

    #[test]
    fn a_key_no_header_can_carry_is_refused_by_name() {
        let config = OpenAIConfig::new().with_api_key("sk-abc\ndef");
        let err = Upstream::new(&config).err().expect("refused");
        assert_eq!(
            err.to_string(),
            "OPENAI_API_KEY holds a character an HTTP header cannot carry"
        );
        assert!(Upstream::new(&OpenAIConfig::new().with_api_key("sk-abc")).is_ok());
    }

    proptest! {
        #[test]
        fn any_body_in_any_pieces_never_panics(
            pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8),
        ) {
            let _ = read(pieces);
        }

        #[test]
        fn where_the_body_is_split_does_not_matter(
            texts in proptest::collection::vec("\\PC{0,12}", 1..6),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        ) {
            let body: String = texts.iter().map(|text| text_event(text)).collect();
            let body = body.into_bytes();
            let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(body.len())).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for to in at.into_iter().chain([body.len()]) {
                pieces.push(body[from..to].to_vec());
                from = to;
            }
            let read: Vec<_> = read(pieces)
                .into_iter()
                .map(|chunk| text_of(&chunk.unwrap()).unwrap_or_default().to_owned())
                .collect();
            prop_assert_eq!(read, texts);
        }
    }
}
