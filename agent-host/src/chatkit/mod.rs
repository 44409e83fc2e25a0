//! `POST /chatkit`: ChatKit's server protocol, so that a frontend built on OpenAI's ChatKit
//! (`@openai/chatkit-react` with a self-hosted backend) talks to this host unchanged.
//!
//! A third frontend beside the web pages and the HTTP API, over the same parts: the caller is
//! authenticated as the API's routes are ([`Auth`]), a message starts a turn through
//! [`ChatService::start_turn`] (the same limits, validation, storage, retries and
//! cancellation), and threads are the host's conversations read through its
//! [`ConversationStore`]. Only the protocol is this module's own: the request envelope
//! ([`protocol`]), stored messages as items ([`items`]), a turn's events as ChatKit stream
//! events ([`stream`]), and its errors ([`error`]).
//!
//! [`ConversationStore`]: crate::chat::conversations::ConversationStore

pub mod error;
pub mod items;
pub mod openapi;
pub mod protocol;
pub mod request;
pub mod stream;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt as _;
use poem::{Endpoint, FromRequest as _, IntoResponse as _, Request, Response, middleware::ReqId};
use todo_mcp::{task::UserId, tools::dto::format_instant};
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

pub use self::protocol::TIME_ZONE_HEADER;
use self::{
    error::ChatKitError,
    items::{ItemId, ItemPage},
    protocol::{Page, StreamEvent, StreamOptions, Thread, ThreadStatus},
    request::{ChatKitRequest, PAGE_DEFAULT},
    stream::TurnRenderer,
};
use crate::{
    api::{error::render_poem_error, event_stream::event_stream},
    auth::Auth,
    chat::{
        ChatService, StartedTurn, TurnInput, TurnRequest,
        clock::{UserClock, Zone},
        conversations::{Conversation, ConversationError},
    },
    metrics::Metrics,
    telemetry::record_on_request,
};

/// The endpoint: one POST per request, answered with a stream or with JSON.
pub struct ChatKitEndpoint {
    pub chat: Arc<ChatService>,
    /// How often an idle stream sends a comment line.
    pub heartbeat: Duration,
    pub metrics: Arc<Metrics>,
}

impl Endpoint for ChatKitEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        // The API's rules and answers: bearer, else the session cookie from this site; 401.
        // Rendered here, as the API renders them: a CORS layer around this endpoint would
        // turn an error into a bare response.
        let user = match Auth::caller_of(&req).await {
            Ok(caller) => caller.user,
            Err(err) => return Ok(render_poem_error(err).await),
        };
        let body = match req.take_body().into_bytes().await {
            Ok(body) => body,
            Err(err) => return Ok(render_poem_error(err.into()).await),
        };
        let request_id = ReqId::from_request_without_body(&req)
            .await
            .ok()
            .map(|id| id.to_string());
        let zone = time_zone(&req);
        let call = Call {
            chat: &self.chat,
            user,
            heartbeat: self.heartbeat,
            metrics: &self.metrics,
        };
        Ok(match call.handle(&body, zone, request_id).await {
            Ok(response) => response,
            Err(err) => err.into_response(),
        })
    }
}

/// One request of one user.
struct Call<'a> {
    chat: &'a Arc<ChatService>,
    user: UserId,
    heartbeat: Duration,
    metrics: &'a Arc<Metrics>,
}

impl Call<'_> {
    async fn handle(
        &self,
        body: &Bytes,
        zone: Result<Zone, ChatKitError>,
        request_id: Option<String>,
    ) -> Result<Response, ChatKitError> {
        match ChatKitRequest::read(body)? {
            ChatKitRequest::Turn { thread, input } => {
                self.stream(thread, input, zone?, request_id).await
            }
            ChatKitRequest::GetThread { thread } => {
                let conversation = self.conversation(thread).await?;
                let page = items::page(
                    self.chat.conversations(),
                    conversation.id,
                    None,
                    PAGE_DEFAULT,
                    false,
                )
                .await?;
                json(&thread_of(conversation, item_page(page)))
            }
            ChatKitRequest::ListThreads { page, after } => {
                let (conversations, has_more) = self
                    .chat
                    .conversations()
                    .list_after(self.user, page.limit as u64, page.newest_first, after)
                    .await
                    .map_err(|err| match err {
                        ConversationError::BadCursor => request::bad_after(),
                        other => other.into(),
                    })?;
                let after = conversations.last().map(|last| last.id.to_string());
                json(&Page {
                    data: conversations
                        .into_iter()
                        .map(|conversation| thread_of(conversation, Page::empty()))
                        .collect(),
                    has_more,
                    after,
                })
            }
            ChatKitRequest::ListItems {
                thread,
                page,
                after,
            } => {
                let conversation = self.conversation(thread).await?;
                let after = match after {
                    Some(after) => Some(self.item_cursor(conversation.id, after).await?),
                    None => None,
                };
                let page = items::page(
                    self.chat.conversations(),
                    conversation.id,
                    after,
                    page.limit,
                    page.newest_first,
                )
                .await?;
                json(&item_page(page))
            }
            ChatKitRequest::Rename { thread, title } => {
                let renamed = self
                    .chat
                    .conversations()
                    .rename(self.user, thread, &title)
                    .await
                    .map_err(ConversationError::from)?
                    .ok_or_else(request::no_such_thread)?;
                json(&thread_of(renamed, Page::empty()))
            }
            ChatKitRequest::Delete { thread } => {
                if !self.chat.delete_conversation(self.user, thread).await? {
                    return Err(request::no_such_thread());
                }
                json(&serde_json::json!({}))
            }
            ChatKitRequest::Feedback {
                thread,
                messages,
                feedback,
            } => {
                let conversation = self.conversation(thread).await?;
                let stored = self
                    .chat
                    .conversations()
                    .set_feedback(conversation.id, &messages, feedback)
                    .await
                    .map_err(ConversationError::from)?;
                if !stored {
                    return Err(request::no_such_item());
                }
                json(&serde_json::json!({}))
            }
        }
    }

    /// Starts a turn and streams it: for a new thread `thread.created`; for a new message its
    /// item; `stream_options`; then the turn's events.
    async fn stream(
        &self,
        thread: Option<Uuid>,
        input: TurnInput,
        zone: Zone,
        request_id: Option<String>,
    ) -> Result<Response, ChatKitError> {
        let retry = matches!(input, TurnInput::Retry { .. });
        let started = self
            .chat
            .start_turn(TurnRequest {
                user: self.user,
                conversation_id: thread,
                input,
                clock: UserClock::new(zone, Utc::now()),
                request_id,
            })
            .await?;
        let StartedTurn {
            conversation,
            created,
            user_message,
            events,
        } = started;
        record_on_request("conversation_id", &conversation.id);
        let thread_id = conversation.id;
        let mut opening = Vec::new();
        if created {
            opening.push(StreamEvent::ThreadCreated {
                thread: thread_of(conversation, Page::empty()),
            });
        }
        if !retry {
            opening.push(StreamEvent::ItemDone {
                item: items::user_item(
                    &thread_id.to_string(),
                    user_message.id,
                    format_instant(user_message.created_at),
                    user_message.content,
                ),
            });
        }
        opening.push(StreamEvent::StreamOptions {
            stream_options: StreamOptions { allow_cancel: true },
        });
        let mut renderer = TurnRenderer::new(thread_id);
        let turn = ReceiverStream::new(events)
            .flat_map(move |event| futures::stream::iter(renderer.render(event)));
        let frames = futures::stream::iter(opening)
            .chain(turn)
            .filter_map(|event| std::future::ready(frame(&event)));
        Ok(event_stream(
            frames,
            self.heartbeat,
            self.metrics.stream_opened(),
        ))
    }

    /// The user's conversation of a thread; another user's reads like a missing one.
    async fn conversation(&self, thread: Uuid) -> Result<Conversation, ChatKitError> {
        self.chat
            .conversations()
            .find(self.user, thread)
            .await
            .map_err(ConversationError::from)?
            .ok_or_else(request::no_such_thread)
    }

    /// Where an `after` item stands in the thread.
    async fn item_cursor(
        &self,
        conversation: Uuid,
        after: ItemId,
    ) -> Result<(i64, ItemId), ChatKitError> {
        let message = self
            .chat
            .conversations()
            .find_message(conversation, after.message())
            .await?
            .ok_or_else(request::bad_after)?;
        Ok((message.seq, after))
    }
}

/// One `data:` line; an event that cannot be written is logged and left out.
fn frame(event: &StreamEvent) -> Option<String> {
    match serde_json::to_string(event) {
        Ok(json) => Some(format!("data: {json}\n\n")),
        Err(err) => {
            tracing::error!(error = %err, "could not write a ChatKit event");
            None
        }
    }
}

fn json(value: &impl serde::Serialize) -> Result<Response, ChatKitError> {
    let body = serde_json::to_vec(value).map_err(ChatKitError::internal)?;
    Ok(Response::builder()
        .content_type("application/json")
        .body(body))
}

/// The time zone of relative dates: the `X-Time-Zone` header, else UTC.
fn time_zone(req: &Request) -> Result<Zone, ChatKitError> {
    match req.header(TIME_ZONE_HEADER).map(str::trim) {
        Some(raw) if !raw.is_empty() => {
            Zone::parse(raw).map_err(|err| ChatKitError::invalid(err.to_string()))
        }
        _ => Ok(Zone::utc()),
    }
}

fn thread_of(conversation: Conversation, items: Page<protocol::Item>) -> Thread {
    Thread {
        id: conversation.id.to_string(),
        title: Some(conversation.title),
        created_at: format_instant(conversation.created_at),
        status: ThreadStatus::Active,
        metadata: Default::default(),
        items,
    }
}

fn item_page(page: ItemPage) -> Page<protocol::Item> {
    let after = page.items.last().map(|item| item.id.clone());
    Page {
        data: page.items,
        has_more: page.has_more,
        after,
    }
}
