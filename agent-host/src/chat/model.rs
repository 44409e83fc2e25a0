//! What the agent loop needs from a model, independent of the provider: the conversation as
//! [`ChatMessage`]s, the tools as [`ToolSpec`]s, and the reply as a stream of [`ModelDelta`]s.
//!
//! Both providers implement [`ChatModel`]: `openai::OpenAiModel` translates it to Chat
//! Completions, `offline::OfflineModel` answers it itself. This module knows neither.

use std::{collections::BTreeMap, sync::Arc};

use futures::{future::BoxFuture, stream::BoxStream};
use serde_json::Value;

use super::clock::UserClock;
use crate::error_code::ErrorCode;

/// One message of the history sent to a model.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    System(String),
    User(String),
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        call_id: String,
        tool_name: String,
        /// What the model reads: the tool's JSON result, or its error sentence.
        content: String,
        is_error: bool,
    },
}

/// A complete tool call from the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, exactly as the model wrote them.
    pub arguments: String,
}

/// A tool offered to the model, as the MCP server lists it.
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// The input JSON Schema, shared with the session's tool list rather than copied each turn.
    pub parameters: Arc<serde_json::Map<String, Value>>,
}

/// One model request.
pub struct ModelRequest<'a> {
    pub messages: &'a [ChatMessage],
    pub tools: &'a [ToolSpec],
    pub clock: &'a UserClock,
}

/// A piece of the model's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelDelta {
    Text(String),
    ToolCall(ToolCallDelta),
    /// The reply is complete; the reason as the model gave it (`stop`, `tool_calls`, ...).
    Finish(String),
    /// The tokens the request cost, as the model server reported them (after `Finish`, when it
    /// reports them at all). Counted for `/metrics`; no part of the reply.
    Usage(TokenUsage),
}

/// Tokens of one model request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt: u64,
    pub completion: u64,
}

/// A fragment of a tool call; fragments with the same `index` make one call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCallDelta {
    pub index: u32,
    pub id: Option<String>,
    pub name: Option<String>,
    pub arguments: Option<String>,
}

/// The model failed. Its `Display` is the one sentence the person in the chat reads; what the
/// model server said itself goes to the log only (it may quote part of the API key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("The model server is busy (HTTP 429); try again shortly.")]
    Busy,
    #[error("The model server is unavailable (HTTP {status}); try again shortly.")]
    Unavailable { status: u16 },
    #[error("The model server refused the request (HTTP {status}).")]
    Refused { status: u16 },
    #[error("The model server could not be reached or broke off; try again shortly.")]
    Unreachable,
    #[error("The model server did not start replying in time; try again shortly.")]
    NoFirstChunk,
    #[error("The model server closed the reply before it began; try again shortly.")]
    ClosedAtOnce,
    #[error("The model stopped sending its reply; try again.")]
    Stalled,
    #[error("The model's reply broke off before it was finished.")]
    BrokeOff,
    #[error("The model server sent something this host cannot read.")]
    Unreadable,
}

impl ModelError {
    /// Whether the same request may succeed later (overload, outage, a cut connection).
    pub fn retryable(&self) -> bool {
        !matches!(self, ModelError::Refused { .. } | ModelError::Unreadable)
    }

    /// The code the client sees.
    pub fn code(&self) -> ErrorCode {
        if self.retryable() {
            ErrorCode::UpstreamUnavailable
        } else {
            ErrorCode::UpstreamError
        }
    }
}

pub type ModelStream = BoxStream<'static, Result<ModelDelta, ModelError>>;

/// A model provider: what the agent loop calls for each step.
pub trait ChatModel: Send + Sync {
    /// Starts a reply. A provider that retries does so inside, before the first token; an
    /// error here means it gave up.
    fn start<'a>(
        &'a self,
        request: ModelRequest<'a>,
    ) -> BoxFuture<'a, Result<ModelStream, ModelError>>;
}

/// Assembles tool calls from their fragments: the id and name come once, the arguments in
/// pieces, all keyed by `index`.
#[derive(Debug, Default)]
pub struct ToolCallAssembler {
    calls: BTreeMap<u32, ToolCall>,
}

impl ToolCallAssembler {
    pub fn push(&mut self, delta: ToolCallDelta) {
        let call = self.calls.entry(delta.index).or_insert_with(|| ToolCall {
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
        if let Some(id) = delta.id.filter(|id| !id.is_empty())
            && call.id.is_empty()
        {
            call.id = id;
        }
        // Some servers repeat the name on every fragment; it is never split.
        if let Some(name) = delta.name.filter(|name| !name.is_empty())
            && call.name.is_empty()
        {
            call.name = name;
        }
        if let Some(arguments) = delta.arguments {
            call.arguments.push_str(&arguments);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// The calls in index order; a call without an id gets one, so its result can refer to it.
    pub fn finish(self) -> Vec<ToolCall> {
        self.calls
            .into_iter()
            .map(|(index, mut call)| {
                if call.id.is_empty() {
                    call.id = format!("call_{index}_{}", uuid::Uuid::now_v7().simple());
                }
                call
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(index: u32, id: Option<&str>, name: Option<&str>, args: &str) -> ToolCallDelta {
        ToolCallDelta {
            index,
            id: id.map(str::to_owned),
            name: name.map(str::to_owned),
            arguments: Some(args.to_owned()),
        }
    }

    #[test]
    fn fragments_of_interleaved_calls_are_assembled_by_index() {
        let mut calls = ToolCallAssembler::default();
        calls.push(fragment(0, Some("a"), Some("add_task"), "{\"ti"));
        calls.push(fragment(1, Some("b"), Some("list_tasks"), ""));
        calls.push(fragment(0, None, None, "tle\":\"milk\"}"));
        calls.push(fragment(1, None, Some("list_tasks"), "{}"));
        let calls = calls.finish();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].id, "a");
        assert_eq!(calls[0].name, "add_task");
        assert_eq!(calls[0].arguments, "{\"title\":\"milk\"}");
        assert_eq!(calls[1].name, "list_tasks");
        assert_eq!(calls[1].arguments, "{}");
    }

    #[test]
    fn a_call_without_an_id_gets_one() {
        let mut calls = ToolCallAssembler::default();
        calls.push(fragment(3, None, Some("list_tasks"), "{}"));
        let calls = calls.finish();
        assert!(calls[0].id.starts_with("call_3_"));
    }

    proptest::proptest! {
        /// Whatever fragments a model server streams (ids, names, indexes, pieces of
        /// arguments), assembling them never panics and every call comes out with an id.
        #[test]
        fn any_fragments_assemble(
            fragments in proptest::collection::vec(
                (0u32..4, proptest::option::of("\\PC{0,8}"), proptest::option::of("\\PC{0,8}"), proptest::option::of("\\PC{0,8}")),
                0..20,
            )
        ) {
            let mut calls = ToolCallAssembler::default();
            for (index, id, name, arguments) in fragments {
                calls.push(ToolCallDelta { index, id, name, arguments });
            }
            for call in calls.finish() {
                proptest::prop_assert!(!call.id.is_empty());
            }
        }
    }
}
