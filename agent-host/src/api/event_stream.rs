//! The chat's Server-Sent Events, written so that events ready together leave in one write.
//!
//! poem's event stream writes each event on its own, one system call and one pass through
//! hyper per event; a reply of 50 tokens is then some 55 writes. Here every event already
//! waiting in the turn's channel joins the batch (`ready_chunks`: none is held back for
//! another that is not yet ready), and a batch is one body chunk.

use std::{fmt::Write as _, task::Poll, time::Duration};

use bytes::Bytes;
use futures::StreamExt as _;
use poem::{Body, Response};
use poem_openapi::types::ToJSON as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::{chat::events::ChatEvent, metrics::OpenStream};

/// The most events one write carries.
const MAX_BATCH: usize = 64;
/// A comment line: keeps proxies from closing an idle stream.
const HEARTBEAT: &[u8] = b":\n\n";

/// The `text/event-stream` response of a turn's events: each an `id: <n>` line and a
/// `data: <json>` line; a comment after every `heartbeat` without an event. `open` counts the
/// stream as open until its body is dropped (sent, or its client gone).
pub fn event_stream(
    events: mpsc::Receiver<ChatEvent>,
    heartbeat: Duration,
    open: OpenStream,
) -> Response {
    let mut next_id = 0_u64;
    let mut batches = ReceiverStream::new(events)
        .ready_chunks(MAX_BATCH)
        .map(move |batch| {
            let mut text = String::with_capacity(batch.len() * 96);
            for event in batch {
                next_id += 1;
                let data = event.to_json_string();
                let _ = write!(text, "id: {next_id}\ndata: {data}\n\n");
            }
            Bytes::from(text)
        })
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
