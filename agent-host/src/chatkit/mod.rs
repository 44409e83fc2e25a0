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
pub mod stream;

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt as _;
use poem::{Endpoint, FromRequest as _, IntoResponse as _, Request, Response, middleware::ReqId};
use serde::de::DeserializeOwned;
use serde_json::Value;
use todo_mcp::{task::UserId, tools::dto::format_instant};
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

pub use self::protocol::TIME_ZONE_HEADER;
use self::{
    error::ChatKitError,
    items::{ItemId, ItemPage},
    protocol::{
        AddUserMessage, CreateThread, Envelope, FeedbackKind, ItemFeedback, ListItems, ListThreads,
        Order, Page, RetryAfterItem, StreamEvent, StreamOptions, Thread, ThreadRef, ThreadStatus,
        UpdateThread, UserMessageInput,
    },
    stream::TurnRenderer,
};
use crate::{
    api::{error::render_poem_error, event_stream::event_stream},
    auth::Auth,
    chat::{
        ChatError, ChatService, StartedTurn, TurnInput, TurnRequest,
        clock::{UserClock, Zone},
        conversations::{Conversation, ConversationError, Feedback},
    },
    metrics::Metrics,
    telemetry::record_on_request,
};

/// Threads or items per page when the client names no limit (the SDK's own default).
const PAGE_DEFAULT: usize = 20;
/// The largest page a client may ask for.
const PAGE_MAX: usize = 100;
/// The longest thread title, in characters.
const TITLE_MAX_CHARS: usize = 200;

/// Request types of ChatKit's protocol that this host does not serve: attachments,
/// transcription, widgets' actions and client-side tools are not part of the product.
const UNSUPPORTED: &[&str] = &[
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "threads.custom_action",
    "threads.sync_custom_action",
    "attachments.create",
    "attachments.delete",
    "input.transcribe",
];

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
        let envelope: Envelope = serde_json::from_slice(body).map_err(|err| {
            ChatKitError::bad_request(format!(
                "The body is not a ChatKit request ({{\"type\", \"params\"}}): {err}."
            ))
        })?;
        let kind = envelope.kind.as_str();
        match kind {
            "threads.create" => {
                let CreateThread { input } = params(kind, envelope.params)?;
                let turn = TurnInput::Message(message_text(input)?);
                self.stream(None, turn, zone?, request_id).await
            }
            "threads.add_user_message" => {
                let AddUserMessage { thread_id, input } = params(kind, envelope.params)?;
                let thread = thread_uuid(&thread_id)?;
                let turn = TurnInput::Message(message_text(input)?);
                self.stream(Some(thread), turn, zone?, request_id).await
            }
            "threads.retry_after_item" => {
                let RetryAfterItem { thread_id, item_id } = params(kind, envelope.params)?;
                let thread = thread_uuid(&thread_id)?;
                let Some(ItemId::Message(message)) = ItemId::parse(&item_id) else {
                    return Err(ChatKitError::not_found("No such message in this thread."));
                };
                let turn = TurnInput::Retry { of: Some(message) };
                self.stream(Some(thread), turn, zone?, request_id).await
            }
            "threads.get_by_id" => {
                let ThreadRef { thread_id } = params(kind, envelope.params)?;
                let conversation = self.conversation(&thread_id).await?;
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
            "threads.list" => {
                let ListThreads {
                    limit,
                    order,
                    after,
                } = params(kind, envelope.params)?;
                let limit = page_size(limit)?;
                let after = after
                    .map(|after| {
                        thread_uuid(&after).map_err(|_| ChatKitError::bad_request(BAD_AFTER))
                    })
                    .transpose()?;
                let (conversations, has_more) = self
                    .chat
                    .conversations()
                    .list_after(self.user, limit as u64, order == Order::Desc, after)
                    .await
                    .map_err(|err| match err {
                        ConversationError::BadCursor => ChatKitError::bad_request(BAD_AFTER),
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
            "items.list" => {
                let ListItems {
                    thread_id,
                    limit,
                    order,
                    after,
                } = params(kind, envelope.params)?;
                let limit = page_size(limit)?;
                let conversation = self.conversation(&thread_id).await?;
                let after = match after {
                    Some(after) => Some(self.item_cursor(conversation.id, &after).await?),
                    None => None,
                };
                let page = items::page(
                    self.chat.conversations(),
                    conversation.id,
                    after,
                    limit,
                    order == Order::Desc,
                )
                .await?;
                json(&item_page(page))
            }
            "threads.update" => {
                let UpdateThread { thread_id, title } = params(kind, envelope.params)?;
                let thread_id = thread_uuid(&thread_id)?;
                let title = thread_title(&title)?;
                let renamed = self
                    .chat
                    .conversations()
                    .rename(self.user, thread_id, &title)
                    .await
                    .map_err(ConversationError::from)?
                    .ok_or_else(no_such_thread)?;
                json(&thread_of(renamed, Page::empty()))
            }
            "threads.delete" => {
                let ThreadRef { thread_id } = params(kind, envelope.params)?;
                let deleted = self
                    .chat
                    .delete_conversation(self.user, thread_uuid(&thread_id)?)
                    .await?;
                if !deleted {
                    return Err(no_such_thread());
                }
                json(&serde_json::json!({}))
            }
            "items.feedback" => {
                let ItemFeedback {
                    thread_id,
                    item_ids,
                    kind,
                } = params(kind, envelope.params)?;
                let conversation = self.conversation(&thread_id).await?;
                let messages = item_ids
                    .iter()
                    .map(|id| ItemId::parse(id).map(ItemId::message))
                    .collect::<Option<Vec<Uuid>>>()
                    .ok_or_else(no_such_item)?;
                let feedback = match kind {
                    FeedbackKind::Positive => Feedback::Positive,
                    FeedbackKind::Negative => Feedback::Negative,
                };
                let stored = self
                    .chat
                    .conversations()
                    .set_feedback(conversation.id, &messages, feedback)
                    .await
                    .map_err(ConversationError::from)?;
                if !stored {
                    return Err(no_such_item());
                }
                json(&serde_json::json!({}))
            }
            other if UNSUPPORTED.contains(&other) => Err(ChatKitError::bad_request(format!(
                "This server does not handle ChatKit's {other} requests: it takes messages, \
                 retries, thread changes and feedback, no attachments, actions or client tools."
            ))),
            other => Err(ChatKitError::bad_request(format!(
                "{other:?} is not a ChatKit request type."
            ))),
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

    /// The user's conversation of a thread id; another user's reads like a missing one.
    async fn conversation(&self, thread_id: &str) -> Result<Conversation, ChatKitError> {
        self.chat
            .conversations()
            .find(self.user, thread_uuid(thread_id)?)
            .await
            .map_err(ConversationError::from)?
            .ok_or_else(no_such_thread)
    }

    /// Where an `after` item id stands in the thread.
    async fn item_cursor(
        &self,
        conversation: Uuid,
        after: &str,
    ) -> Result<(i64, ItemId), ChatKitError> {
        let bad = || ChatKitError::bad_request(BAD_AFTER);
        let id = ItemId::parse(after).ok_or_else(bad)?;
        let message = self
            .chat
            .conversations()
            .find_message(conversation, id.message())
            .await?
            .ok_or_else(bad)?;
        Ok((message.seq, id))
    }
}

const BAD_AFTER: &str = "after must be the id of an item of this thread, as a page gave it.";

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

/// The request's params as `T`; ChatKit requires them, even as `{}`.
fn params<T: DeserializeOwned>(kind: &str, params: Option<Value>) -> Result<T, ChatKitError> {
    let params = params
        .ok_or_else(|| ChatKitError::bad_request(format!("A {kind} request needs its params.")))?;
    serde_json::from_value(params).map_err(|err| {
        ChatKitError::bad_request(format!("The params of a {kind} request are wrong: {err}."))
    })
}

/// The text of a message: its text and tag parts as written, under the text it quotes.
fn message_text(input: UserMessageInput) -> Result<String, ChatKitError> {
    if !input.attachments.is_empty() {
        return Err(ChatKitError::bad_request(
            "This server takes no attachments; send the message as text.".to_owned(),
        ));
    }
    let mut text: String = input
        .content
        .into_iter()
        .map(|part| match part {
            protocol::InputContent::Text { text } | protocol::InputContent::Tag { text } => text,
        })
        .collect();
    if let Some(quoted) = input.quoted_text.filter(|quoted| !quoted.trim().is_empty()) {
        let quoted: String = quoted.lines().map(|line| format!("> {line}\n")).collect();
        text = format!("{quoted}\n{text}");
    }
    Ok(text)
}

fn thread_uuid(thread_id: &str) -> Result<Uuid, ChatKitError> {
    Uuid::try_parse(thread_id).map_err(|_| no_such_thread())
}

fn thread_title(raw: &str) -> Result<String, ChatKitError> {
    let title = todo_migrations::text::nfc(raw.trim());
    let title = title.trim();
    if todo_migrations::text::is_blank(title) {
        return Err(ChatKitError::invalid("title must not be empty".to_owned()));
    }
    if title.chars().any(char::is_control) {
        return Err(ChatKitError::invalid(
            "title must not contain control characters".to_owned(),
        ));
    }
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(ChatKitError::invalid(format!(
            "title must be at most {TITLE_MAX_CHARS} characters"
        )));
    }
    Ok(title.to_owned())
}

fn page_size(limit: Option<i64>) -> Result<usize, ChatKitError> {
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(limit) if (1..=PAGE_MAX as i64).contains(&limit) => Ok(limit as usize),
        Some(_) => Err(ChatKitError::bad_request(format!(
            "limit must be between 1 and {PAGE_MAX}."
        ))),
    }
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

fn no_such_thread() -> ChatKitError {
    ChatKitError::from(ChatError::NoSuchConversation)
}

fn no_such_item() -> ChatKitError {
    ChatKitError::not_found("No such item in this thread.")
}
