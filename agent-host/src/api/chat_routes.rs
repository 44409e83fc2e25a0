//! `/api/{user_id}/chat` and `/api/{user_id}/conversations`: the assistant and the record of
//! its conversations.
//!
//! The chat route streams [`ChatEvent`]s as Server-Sent Events (`id: <n>` and `data: <json>`,
//! a comment every 15 s to keep proxies from closing the connection), or, with
//! `Accept: application/json`, waits for the turn and answers once.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use futures::stream::BoxStream;
use poem::{IntoResponse, Request, Response, middleware::ReqId};
use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::{EventStream, Json, Payload as _},
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::Type as _,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    error::{ApiError, ErrorResponse},
    event_stream::chat_event_stream,
    tags::ApiTags,
    text::Text,
    timestamp::Timestamp,
};
use crate::{
    auth::Auth,
    chat::{
        ChatError, ChatService, TurnInput, TurnRequest,
        clock::{UserClock, Zone},
        conversations::{Conversation, StoredMessage, role_name, status_name},
        events::{ChatEvent, TurnEvent},
    },
    metrics::Metrics,
    telemetry::record_on_request,
};

const CONVERSATIONS_DEFAULT: u64 = 20;
const CONVERSATIONS_MAX: u64 = 100;
const MESSAGES_DEFAULT: u64 = 50;
const MESSAGES_MAX: u64 = 200;

/// The assistant and the record of its conversations.
pub struct ChatApi {
    pub chat: Arc<ChatService>,
    /// How often an idle stream sends a comment line.
    pub heartbeat: Duration,
    /// Counts the open streams.
    pub metrics: Arc<Metrics>,
}

/// A `limit` outside its range.
#[derive(Debug, thiserror::Error)]
#[error("limit must be between 1 and {max}")]
pub struct BadLimit {
    max: u64,
}

/// A message to the assistant, or a retry of the last one.
#[derive(Debug, Object)]
pub struct ChatRequest {
    /// Continue this conversation; leave out to start a new one, titled from this message.
    pub conversation_id: Option<Uuid>,
    /// 1 to 8,000 characters; required unless `retry` is true.
    pub message: Option<Text>,
    /// `true` reruns the turn of the conversation's last message (after a retryable error, or
    /// for another answer): the message is not stored again, and the replies after it are
    /// superseded (kept, no longer listed or sent to the model). Needs `conversation_id`, and no
    /// `message`.
    #[oai(default)]
    pub retry: bool,
    /// The user's time zone for relative dates: an IANA name (`Europe/Berlin`) or a UTC
    /// offset (`+02:00`). UTC when absent.
    pub time_zone: Option<Text>,
}

/// The whole reply, for clients that ask for `application/json`.
#[derive(Debug, Object)]
pub struct ChatReply {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    /// The reply's text, all steps together.
    pub response: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub finish_reason: String,
}

/// A tool call of the reply and what it returned.
#[derive(Debug, Object)]
pub struct ToolCallRecord {
    pub call_id: String,
    pub tool_name: String,
    pub arguments: Value,
    pub is_error: bool,
    pub result: Value,
    /// The sentence frontends show for the call.
    pub summary: String,
}

/// A conversation in the list.
#[derive(Debug, Object)]
#[oai(rename = "Conversation")]
pub struct ConversationBody {
    pub id: Uuid,
    pub title: String,
    pub created_at: Timestamp,
    /// When its last message was stored.
    pub updated_at: Timestamp,
}

/// One page of conversations, most recently active first.
#[derive(Debug, Object)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A stored message.
#[derive(Debug, Object)]
#[oai(rename = "Message")]
pub struct MessageBody {
    pub id: Uuid,
    /// Its position in the conversation, from 1.
    pub seq: i64,
    /// `user`, `assistant` or `tool`.
    pub role: String,
    /// The text; for a tool message, the result the model read.
    pub content: String,
    /// The tools an assistant message called.
    pub tool_calls: Vec<StoredToolCall>,
    /// For a tool message: the call it answers.
    #[oai(nullable)]
    pub tool_call_id: Option<String>,
    #[oai(nullable)]
    pub tool_name: Option<String>,
    #[oai(nullable)]
    pub is_error: Option<bool>,
    /// `complete`; `cancelled` when the client left before the reply was finished;
    /// `failed` when the model failed or the step limit was reached.
    pub status: String,
    pub created_at: Timestamp,
    /// For a tool message: the sentence frontends show for the call.
    #[oai(nullable)]
    pub summary: Option<String>,
}

/// A tool call as stored.
#[derive(Debug, Object)]
pub struct StoredToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, as the model wrote them.
    pub arguments: String,
}

/// One page of messages, oldest first within the page.
#[derive(Debug, Object)]
pub struct MessagePage {
    pub messages: Vec<MessageBody>,
    /// Pass as `before` for the page of older messages; null when there are none.
    #[oai(nullable)]
    pub next_before: Option<i64>,
}

#[derive(ApiResponse)]
pub enum DeletedConversation {
    /// The conversation and its messages were deleted.
    #[oai(status = 204)]
    Deleted,
}

/// The chat answer: a stream of events ([`chat_event_stream`]), or one JSON reply.
pub enum ChatResponse {
    Stream(Response),
    Json(Json<ChatReply>),
}

impl IntoResponse for ChatResponse {
    fn into_response(self) -> Response {
        match self {
            ChatResponse::Stream(stream) => stream,
            ChatResponse::Json(json) => json.into_response(),
        }
    }
}

impl ApiResponse for ChatResponse {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "The reply: Server-Sent Events (`start`, then `chunk`, `tool_call` and \
                    `tool_result` events, then `done` or `error`), each with an `id:`; or, with \
                    `Accept: application/json`, one JSON answer.",
                status: Some(200),
                status_range: None,
                content: vec![
                    MetaMediaType {
                        content_type: EventStream::<BoxStream<'static, ChatEvent>>::CONTENT_TYPE,
                        schema: EventStream::<BoxStream<'static, ChatEvent>>::schema_ref(),
                    },
                    MetaMediaType {
                        content_type: Json::<ChatReply>::CONTENT_TYPE,
                        schema: ChatReply::schema_ref(),
                    },
                ],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        ChatEvent::register(registry);
        ChatReply::register(registry);
    }
}

#[OpenApi(tag = "ApiTags::Chat")]
impl ChatApi {
    /// Talk to the assistant. The reply streams as Server-Sent Events unless the request
    /// accepts only `application/json`.
    #[oai(path = "/:user_id/chat", method = "post")]
    async fn chat(
        &self,
        request: &Request,
        request_id: ReqId,
        auth: Auth,
        user_id: Path<Uuid>,
        body: Json<ChatRequest>,
    ) -> Result<ChatResponse, ErrorResponse> {
        let user = auth.require(*user_id)?;
        let ChatRequest {
            conversation_id,
            message,
            retry,
            time_zone,
        } = body.0;
        let input = match (message, retry) {
            (Some(message), false) => TurnInput::Message(message.into_string()),
            (None, false) => return Err(ApiError::invalid(ChatError::NoMessage).into()),
            (None, true) => TurnInput::Retry { of: None },
            (Some(_), true) => return Err(ApiError::invalid(ChatError::RetryWithMessage).into()),
        };
        let zone = match time_zone
            .as_ref()
            .map(Text::as_str)
            .filter(|zone| !zone.trim().is_empty())
        {
            Some(raw) => Zone::parse(raw).map_err(ApiError::invalid)?,
            None => Zone::utc(),
        };
        let started = self
            .chat
            .start_turn(TurnRequest {
                user,
                conversation_id,
                input,
                clock: UserClock::new(zone, Utc::now()),
                request_id: Some(request_id.to_string()),
            })
            .await
            .map_err(ApiError::from)?;
        record_on_request("conversation_id", &started.conversation.id);
        if wants_json(request) {
            return Ok(ChatResponse::Json(Json(
                collect(started.conversation.id, started.events).await?,
            )));
        }
        Ok(ChatResponse::Stream(chat_event_stream(
            started.events,
            self.heartbeat,
            self.metrics.stream_opened(),
        )))
    }

    /// The user's conversations, most recently active first.
    #[oai(path = "/:user_id/conversations", method = "get")]
    async fn conversations(
        &self,
        auth: Auth,
        user_id: Path<Uuid>,
        /// 1 to 100; 20 by default.
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ConversationPage>, ErrorResponse> {
        let user = auth.require(*user_id)?;
        let limit = page_size(limit.0, CONVERSATIONS_DEFAULT, CONVERSATIONS_MAX)?;
        let page = self
            .chat
            .conversations()
            .list(user, limit, cursor.0.as_deref())
            .await
            .map_err(ApiError::from)?;
        Ok(Json(ConversationPage {
            conversations: page
                .conversations
                .into_iter()
                .map(conversation_body)
                .collect(),
            next_cursor: page.next_cursor,
        }))
    }

    /// A conversation's messages, newest page first (pages are in conversation order);
    /// tool calls and results included.
    #[oai(
        path = "/:user_id/conversations/:conversation_id/messages",
        method = "get"
    )]
    async fn messages(
        &self,
        auth: Auth,
        user_id: Path<Uuid>,
        conversation_id: Path<Uuid>,
        /// `next_before` of the previous page: only messages older than this `seq`.
        before: Query<Option<i64>>,
        /// 1 to 200; 50 by default.
        limit: Query<Option<i64>>,
    ) -> Result<Json<MessagePage>, ErrorResponse> {
        let user = auth.require(*user_id)?;
        let limit = page_size(limit.0, MESSAGES_DEFAULT, MESSAGES_MAX)?;
        let conversations = self.chat.conversations();
        if conversations
            .find(user, *conversation_id)
            .await
            .map_err(ApiError::from)?
            .is_none()
        {
            return Err(ApiError::from(ChatError::NoSuchConversation).into());
        }
        let page = conversations
            .page(*conversation_id, before.0, limit)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(MessagePage {
            messages: page.messages.into_iter().map(message_body).collect(),
            next_before: page.next_before,
        }))
    }

    /// Delete a conversation and its messages.
    #[oai(path = "/:user_id/conversations/:conversation_id", method = "delete")]
    async fn delete(
        &self,
        auth: Auth,
        user_id: Path<Uuid>,
        conversation_id: Path<Uuid>,
    ) -> Result<DeletedConversation, ErrorResponse> {
        let user = auth.require(*user_id)?;
        let deleted = self
            .chat
            .delete_conversation(user, *conversation_id)
            .await
            .map_err(ApiError::from)?;
        if deleted {
            Ok(DeletedConversation::Deleted)
        } else {
            Err(ApiError::from(ChatError::NoSuchConversation).into())
        }
    }
}

/// The turn's events stopped before `done` or `error` (a bug: every turn ends with one).
#[derive(Debug, thiserror::Error)]
#[error("the chat turn ended without an answer")]
struct TurnEndedEarly;

/// JSON only when the client asks for it and not for an event stream.
fn wants_json(request: &Request) -> bool {
    let accept = request
        .headers()
        .get(poem::http::header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/event-stream")
}

/// Waits for the whole turn and folds its events into one reply.
async fn collect(
    conversation_id: Uuid,
    mut events: tokio::sync::mpsc::Receiver<TurnEvent>,
) -> Result<ChatReply, ApiError> {
    let mut reply = ChatReply {
        conversation_id,
        message_id: Uuid::nil(),
        response: String::new(),
        tool_calls: Vec::new(),
        finish_reason: String::new(),
    };
    while let Some(event) = events.recv().await {
        let Some(event) = event.into_chat() else {
            continue;
        };
        match event {
            ChatEvent::Start(start) => reply.message_id = start.message_id,
            ChatEvent::Chunk(chunk) => reply.response.push_str(&chunk.content),
            ChatEvent::ToolCall(call) => reply.tool_calls.push(ToolCallRecord {
                call_id: call.call_id,
                tool_name: call.tool_name,
                arguments: call.arguments,
                is_error: false,
                result: Value::Null,
                summary: String::new(),
            }),
            ChatEvent::ToolResult(result) => {
                if let Some(record) = reply
                    .tool_calls
                    .iter_mut()
                    .find(|record| record.call_id == result.call_id)
                {
                    record.is_error = result.is_error;
                    record.result = result.result;
                    record.summary = result.summary;
                }
            }
            ChatEvent::Done(done) => {
                reply.message_id = done.message_id;
                reply.finish_reason = done.finish_reason;
                return Ok(reply);
            }
            ChatEvent::Error(error) => return Err(ApiError::Turn(error)),
        }
    }
    Err(ApiError::internal(TurnEndedEarly))
}

fn page_size(requested: Option<i64>, default: u64, max: u64) -> Result<u64, ApiError> {
    match requested {
        None => Ok(default),
        Some(limit) if (1..=max as i64).contains(&limit) => Ok(limit as u64),
        Some(_) => Err(ApiError::invalid(BadLimit { max })),
    }
}

fn conversation_body(conversation: Conversation) -> ConversationBody {
    ConversationBody {
        id: conversation.id,
        title: conversation.title,
        created_at: conversation.created_at.into(),
        updated_at: conversation.updated_at.into(),
    }
}

fn message_body(message: StoredMessage) -> MessageBody {
    MessageBody {
        id: message.id,
        seq: message.seq,
        role: role_name(message.role).to_owned(),
        content: message.content,
        tool_calls: message
            .tool_calls
            .into_iter()
            .map(|call| StoredToolCall {
                id: call.id,
                name: call.name,
                arguments: call.arguments,
            })
            .collect(),
        tool_call_id: message.tool_call_id,
        tool_name: message.tool_name,
        is_error: message.is_error,
        status: status_name(message.status).to_owned(),
        created_at: message.created_at.into(),
        summary: message.summary,
    }
}
