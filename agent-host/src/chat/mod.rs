//! The assistant: a chat turn streams a model's reply, runs the task tools it calls through
//! MCP for the conversation's user, and keeps the whole conversation in the database.
//!
//! - [`ChatService::start_turn`] checks the request, stores the user's message and spawns the
//!   turn ([`agent::Turn`]), whose [`events::ChatEvent`]s arrive on a channel.
//! - [`model::Provider`] is the model: [`openai::OpenAiModel`] (any OpenAI-compatible server)
//!   or [`offline::OfflineModel`] (the built-in deterministic agent).
//! - [`conversations::ConversationStore`] owns the `conversations` and `messages` tables;
//!   [`history`] cuts what the model sees to a budget.
//!
//! Nothing of a conversation is kept in memory between requests: each turn reads its history
//! from the database, so any host process can continue any conversation.

pub mod agent;
pub mod clock;
pub mod conversations;
mod entity;
pub mod events;
pub mod history;
pub mod model;
pub mod offline;
pub mod openai;
pub mod retry;

use std::{sync::Arc, time::Duration};

use todo_mcp::task::UserId;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use uuid::Uuid;

use self::{
    agent::Turn,
    clock::UserClock,
    conversations::{ConversationStore, MessageStatus, NewMessage, Role},
    events::ChatEvent,
    model::Provider,
};
use crate::tasks::TaskGateway;

/// The longest message a user may send, in characters.
pub const MESSAGE_MAX_CHARS: usize = 8_000;
/// Events buffered between a turn and a slow client before the turn waits.
const EVENT_BUFFER: usize = 64;

/// What the chat routes share.
pub struct ChatService {
    pub conversations: ConversationStore,
    pub provider: Provider,
    pub tasks: TaskGateway,
    /// Running turns, so that shutdown can stop them and wait for their last writes.
    turns: TaskTracker,
    /// Cancelled when the host stops: running turns end with a retryable `error` event.
    stopping: CancellationToken,
}

/// A request for a turn.
pub struct TurnRequest {
    pub user: UserId,
    pub conversation_id: Option<Uuid>,
    pub message: String,
    pub clock: UserClock,
}

/// Why a turn could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such conversation")]
    NotFound,
    #[error("the server is shutting down")]
    Stopping,
    #[error("conversation store failed")]
    Store(#[from] sea_orm::DbErr),
}

/// A started turn: its conversation and its events.
pub struct StartedTurn {
    pub conversation_id: Uuid,
    pub events: mpsc::Receiver<ChatEvent>,
}

impl ChatService {
    pub fn new(conversations: ConversationStore, provider: Provider, tasks: TaskGateway) -> Self {
        Self {
            conversations,
            provider,
            tasks,
            turns: TaskTracker::new(),
            stopping: CancellationToken::new(),
        }
    }

    /// Ends the running turns (each stores what it has and tells its client to send the
    /// message again, to another process) and waits up to `patience` for them.
    pub async fn stop_turns(&self, patience: Duration) {
        self.stopping.cancel();
        self.turns.close();
        if tokio::time::timeout(patience, self.turns.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                running = self.turns.len(),
                "chat turns still running at shutdown"
            );
        }
    }

    /// Checks the request, stores the user's message (before any model is called) and starts
    /// the turn in its own task.
    pub async fn start_turn(
        self: &Arc<Self>,
        request: TurnRequest,
    ) -> Result<StartedTurn, ChatError> {
        let message = request.message.trim();
        if self.stopping.is_cancelled() {
            return Err(ChatError::Stopping);
        }
        if message.is_empty() {
            return Err(ChatError::Invalid("message must not be empty".to_owned()));
        }
        if message.chars().count() > MESSAGE_MAX_CHARS {
            return Err(ChatError::Invalid(format!(
                "message must be at most {MESSAGE_MAX_CHARS} characters"
            )));
        }
        let conversation = match request.conversation_id {
            Some(id) => self
                .conversations
                .find(request.user, id)
                .await?
                .ok_or(ChatError::NotFound)?,
            None => self.conversations.create(request.user, message).await?,
        };
        self.conversations
            .append(
                conversation.id,
                NewMessage {
                    id: Uuid::now_v7(),
                    role: Role::User,
                    content: message.to_owned(),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                    tool_name: None,
                    is_error: None,
                    status: MessageStatus::Complete,
                },
            )
            .await?;
        self.conversations.touch(conversation.id).await?;
        let (sender, events) = mpsc::channel(EVENT_BUFFER);
        let turn = Turn {
            service: self.clone(),
            user: request.user,
            conversation_id: conversation.id,
            clock: request.clock,
            stopping: self.stopping.clone(),
        };
        self.turns.spawn(turn.run(sender));
        Ok(StartedTurn {
            conversation_id: conversation.id,
            events,
        })
    }
}
