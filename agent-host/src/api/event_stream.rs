//! Server-Sent Events, written so that events ready together leave in one write.
//!
//! poem's event stream writes each event on its own, one system call and one pass through
//! hyper per event; a reply of 50 tokens is then some 55 writes. Here every event already
//! waiting in the turn's channel joins the batch (`ready_chunks`: none is held back for
//! another that is not yet ready), and a batch is one body chunk. The chat route's events and
//! the ChatKit endpoint's are written by the same loop, each in its own framing.

use std::{fmt::Write as _, task::Poll, time::Duration};

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use poem::{Body, Response};
use poem_openapi::types::ToJSON as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::{chat::events::TurnEvent, metrics::OpenStream};

/// The most events one write carries.
const MAX_BATCH: usize = 64;
/// A comment line: keeps proxies from closing an idle stream.
const HEARTBEAT: &[u8] = b":\n\n";

/// The chat route's stream of a turn's events: each an `id: <n>` line and a `data: <json>`
/// line. Events that are not part of the chat stream ([`TurnEvent::NextStep`]) are left out.
pub fn chat_event_stream(
    events: mpsc::Receiver<TurnEvent>,
    heartbeat: Duration,
    open: OpenStream,
) -> Response {
    let mut next_id = 0_u64;
    let frames = ReceiverStream::new(events)
        .filter_map(|event| std::future::ready(event.into_chat()))
        .map(move |event| {
            next_id += 1;
            let mut frame = String::with_capacity(96);
            let _ = write!(frame, "id: {next_id}\ndata: ");
            // serde writes the event straight to text; its JSON is the OpenAPI document's
            // (`chat::events`), and it cannot fail for these types, but if it did the event
            // would still go out as poem-openapi writes it.
            match serde_json::to_string(&event) {
                Ok(json) => frame.push_str(&json),
                Err(_) => frame.push_str(&event.to_json_string()),
            }
            frame.push_str("\n\n");
            frame
        });
    event_stream(frames, heartbeat, open)
}

/// The `text/event-stream` response of `frames`, each one whole event (its lines and the blank
/// line after them); a comment after every `heartbeat` without an event. `open` counts the
/// stream as open until its body is dropped (sent, or its client gone).
pub fn event_stream(
    frames: impl Stream<Item = String> + Send + 'static,
    heartbeat: Duration,
    open: OpenStream,
) -> Response {
    let mut batches = frames
        .ready_chunks(MAX_BATCH)
        .map(|batch| Bytes::from(batch.concat()))
        .boxed();
    let mut idle = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    let body = futures::stream::poll_fn(move |cx| {
        let _open = &open;
        if let Poll::Ready(batch) = batches.poll_next_unpin(cx) {
            idle.reset();
            return Poll::Ready(batch.map(Ok::<_, std::io::Error>));
        }
        idle.poll_tick(cx)
            .map(|_| Some(Ok(Bytes::from_static(HEARTBEAT))))
    });
    Response::builder()
        .content_type("text/event-stream")
        .header("X-Accel-Buffering", "no")
        .header("Cache-Control", "no-cache")
        .body(Body::from_bytes_stream(body))
}
