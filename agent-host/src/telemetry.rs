//! Logging of `todo-agent`: JSON lines in production (one object per line, with the fields of
//! every enclosing span: the request id, the user, the conversation), plain text in developer
//! mode. Logs go to stderr.

use std::{error::Error, sync::Arc, time::Instant};

use poem::{Endpoint, IntoResponse as _, Request, Response};
use tracing::{Instrument as _, field::Empty};
use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Plain text, for a person at a terminal.
    Text,
}

/// Builds the subscriber that [`init`] installs; tests can build one with another writer.
pub fn subscriber<W>(
    filter: &str,
    format: LogFormat,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    match format {
        // The same lines as tracing-subscriber's own JSON format, written by json-subscriber:
        // it keeps each span's fields serialised instead of parsing them back for every line,
        // a few per cent of the host's CPU per chat turn.
        LogFormat::Json => Box::new(
            json_subscriber::fmt()
                .with_env_filter(EnvFilter::new(filter))
                .with_writer(writer)
                .with_current_span(true)
                .with_span_list(true)
                .flatten_event(true)
                .finish(),
        ),
        LogFormat::Text => Box::new(
            tracing_subscriber::fmt()
                .with_env_filter(EnvFilter::new(filter))
                .with_writer(writer)
                .with_ansi(false)
                .finish(),
        ),
    }
}

/// Installs the global subscriber, logging to stderr. `filter` was checked by the config.
pub fn init(filter: &str, format: LogFormat) {
    // Only fails when a subscriber is already installed, and then that one keeps working.
    let _ = tracing::subscriber::set_global_default(subscriber(filter, format, std::io::stderr));
}

/// Runs each request in a `request` span (inside the request id's span that poem's
/// `RequestId` opens) and logs its response. The span has room for the user and the
/// conversation, recorded by whoever learns them (authentication, the chat route), so every
/// line of the request names them; a chat turn's span is its child.
pub async fn trace_request<E: Endpoint>(next: Arc<E>, req: Request) -> poem::Result<Response> {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        user_id = Empty,
        conversation_id = Empty,
    );
    async move {
        let started = Instant::now();
        let response = next.call(req).await.map(|output| output.into_response());
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &response {
            Ok(response) => {
                tracing::info!(status = response.status().as_u16(), latency_ms, "response");
            }
            Err(err) => {
                tracing::info!(status = err.status().as_u16(), latency_ms, error = %err, "response");
            }
        }
        response
    }
    .instrument(span)
    .await
}

/// Records a field (`user_id`, `conversation_id`) on the current request's span.
pub fn record_on_request(field: &'static str, value: &dyn std::fmt::Display) {
    tracing::Span::current().record(field, tracing::field::display(value));
}

/// An error and its sources, outermost first: `a: b: c`.
pub fn cause_chain(err: &(dyn Error + 'static)) -> String {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

/// What a caught panic said: its message, when it had one.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_cause_chain_names_every_source() {
        let err = Outer(std::io::Error::other("inner"));
        assert_eq!(cause_chain(&err), "outer: inner");
    }
}
