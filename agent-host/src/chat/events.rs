//! The events of the chat stream, as DESIGN.md fixes them: each is one SSE `data:` line with a
//! `type` field, numbered by the SSE `id:` line.
//!
//! poem-openapi's derives describe them in the OpenAPI document; serde's write them into the
//! stream, straight to text rather than through a `serde_json::Value` per event (a test holds
//! the two to the same JSON).

use poem_openapi::{Object, Union};
use serde_json::Value;
use uuid::Uuid;

use crate::error_code::ErrorCode;

/// One event of `POST /api/{user_id}/chat`.
#[derive(Debug, Clone, Union, serde::Serialize)]
#[oai(discriminator_name = "type", one_of)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    #[oai(mapping = "start")]
    Start(StartEvent),
    #[oai(mapping = "chunk")]
    Chunk(ChunkEvent),
    #[oai(mapping = "tool_call")]
    ToolCall(ToolCallEvent),
    #[oai(mapping = "tool_result")]
    ToolResult(ToolResultEvent),
    #[oai(mapping = "done")]
    Done(DoneEvent),
    #[oai(mapping = "error")]
    Error(ErrorEvent),
}

/// First: which conversation this is and the id the reply's first message is stored under
/// (a reply that calls tools is stored as one message per model step; `done` names the last).
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct StartEvent {
    pub conversation_id: Uuid,
    pub message_id: Uuid,
}

/// A piece of the reply's text, forwarded as the model produced it.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ChunkEvent {
    pub content: String,
}

/// The model called a task tool.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ToolCallEvent {
    pub tool_name: String,
    pub call_id: String,
    /// The arguments as the model gave them.
    pub arguments: Value,
}

/// What a tool call returned. With `is_error`, `result` is `{"code", "message"}`.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ToolResultEvent {
    pub tool_name: String,
    pub call_id: String,
    pub is_error: bool,
    pub result: Value,
    /// The one sentence every frontend shows for the call, e.g. "Added task 'buy milk', due
    /// tomorrow at 17:00", or "Could not add the task: ..." for an error.
    pub summary: String,
}

/// Last on success.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct DoneEvent {
    pub message_id: Uuid,
    /// `stop`, `length` or `content_filter`, as the model reported it.
    pub finish_reason: String,
}

/// Last on failure; what was streamed before it is kept.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorEvent {
    /// A turn ends with `upstream_unavailable`, `upstream_error`, `step_limit`,
    /// `tools_unavailable`, `shutting_down` or `internal`.
    pub code: ErrorCode,
    /// One sentence for the person in the chat.
    pub message: String,
    /// Whether sending the same message again may work (the code's, from its table).
    pub retryable: bool,
}

impl ErrorEvent {
    pub fn new(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message,
            retryable: code.retryable(),
        }
    }
}

/// What a running turn reports: the chat stream's events, and where the text that follows is
/// stored, for frontends that show stored messages as items of their own (ChatKit) and must
/// name what they stream by the ids it is stored under.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// An event of the chat stream.
    Chat(ChatEvent),
    /// The step before called tools and they have run (their events came first); the next
    /// model step's text is stored as message `message_id` (the first step's is `start`'s).
    /// Not an event of the chat stream.
    NextStep { message_id: Uuid },
}

impl From<ChatEvent> for TurnEvent {
    fn from(event: ChatEvent) -> Self {
        TurnEvent::Chat(event)
    }
}

impl TurnEvent {
    /// The chat stream's event, if this is one.
    pub fn into_chat(self) -> Option<ChatEvent> {
        match self {
            TurnEvent::Chat(event) => Some(event),
            TurnEvent::NextStep { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON as _;
    use serde_json::json;

    use super::*;

    /// The stream writes each event with serde; the OpenAPI document describes poem-openapi's
    /// JSON of it. They must be the same JSON.
    #[test]
    fn serde_writes_each_event_as_the_openapi_document_describes_it() {
        let id = Uuid::now_v7();
        let events = [
            ChatEvent::Start(StartEvent {
                conversation_id: id,
                message_id: Uuid::now_v7(),
            }),
            ChatEvent::Chunk(ChunkEvent {
                content: "a \"quoted\" line\n".into(),
            }),
            ChatEvent::ToolCall(ToolCallEvent {
                tool_name: "add_task".into(),
                call_id: "call_1".into(),
                arguments: json!({"title": "milk", "tags": ["home"]}),
            }),
            ChatEvent::ToolResult(ToolResultEvent {
                tool_name: "add_task".into(),
                call_id: "call_1".into(),
                is_error: true,
                result: json!({"code": "validation_failed", "message": "no title"}),
                summary: "Could not add the task: no title".into(),
            }),
            ChatEvent::Done(DoneEvent {
                message_id: id,
                finish_reason: "stop".into(),
            }),
            ChatEvent::Error(ErrorEvent::new(
                ErrorCode::UpstreamUnavailable,
                "The model server is busy.".into(),
            )),
        ];
        for event in events {
            let written = serde_json::to_value(&event).unwrap();
            assert_eq!(Some(written), event.to_json(), "{event:?}");
        }
    }
}
