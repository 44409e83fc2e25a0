//! The assistant: a chat turn streams a model's reply, runs the task tools it calls through
//! MCP for the conversation's user, and keeps the whole conversation in the database.
//!
//! - [`ChatService::start_turn`] checks the request, stores the user's message and spawns the
//!   turn ([`agent::Turn`]), whose [`events::ChatEvent`]s arrive on a channel.
//! - [`model::ChatModel`] is the model: [`openai::OpenAiModel`] (any OpenAI-compatible server)
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
pub mod metered;
pub mod model;
pub mod offline;
pub mod openai;
pub mod summary;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use todo_mcp::task::UserId;
use tokio::sync::{mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument as _;
use uuid::Uuid;

use self::{
    agent::Turn,
    clock::UserClock,
    conversations::{
        Conversation, ConversationError, ConversationStore, NewMessage, Role, StoredMessage,
    },
    events::TurnEvent,
    model::ChatModel,
};
use crate::{
    limits::{Limits, TurnRefused},
    tasks::TaskGateway,
};

/// The longest message a user may send, in characters.
pub const MESSAGE_MAX_CHARS: usize = 8_000;
/// Events buffered between a turn and a slow client before the turn waits.
const EVENT_BUFFER: usize = 64;

/// What the chat routes share.
pub struct ChatService {
    conversations: ConversationStore,
    model: Arc<dyn ChatModel>,
    tasks: TaskGateway,
    /// Running turns, so that shutdown can stop them and wait for their last writes.
    turns: TaskTracker,
    /// Cancelled when the host stops: running turns end with a retryable `error` event.
    stopping: CancellationToken,
    /// How many turns are running, for whoever waits for them to settle.
    running: watch::Sender<usize>,
    /// Messages per user and turns running per user and in all.
    limits: Arc<Limits>,
    /// The conversations with turns running here, each with the token that tells its turns it
    /// was deleted, and how many turns hold it.
    running_conversations: Arc<Mutex<HashMap<Uuid, (CancellationToken, usize)>>>,
}

/// A running turn's hold on its conversation's deletion token; released when dropped.
struct ConversationWatch {
    conversations: Arc<Mutex<HashMap<Uuid, (CancellationToken, usize)>>>,
    id: Uuid,
}

impl ConversationWatch {
    fn start(
        conversations: &Arc<Mutex<HashMap<Uuid, (CancellationToken, usize)>>>,
        id: Uuid,
    ) -> (Self, CancellationToken) {
        let mut running = conversations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = running
            .entry(id)
            .or_insert_with(|| (CancellationToken::new(), 0));
        entry.1 += 1;
        let token = entry.0.clone();
        let watch = Self {
            conversations: conversations.clone(),
            id,
        };
        (watch, token)
    }
}

impl Drop for ConversationWatch {
    fn drop(&mut self) {
        let mut running = self
            .conversations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = running.get_mut(&self.id) {
            entry.1 -= 1;
            if entry.1 == 0 {
                running.remove(&self.id);
            }
        }
    }
}

/// Counts a running turn until it ends, however it ends.
struct RunningTurn(watch::Sender<usize>);

impl RunningTurn {
    fn start(count: &watch::Sender<usize>) -> Self {
        count.send_modify(|running| *running += 1);
        Self(count.clone())
    }
}

impl Drop for RunningTurn {
    fn drop(&mut self) {
        self.0
            .send_modify(|running| *running = running.saturating_sub(1));
    }
}

/// A request for a turn.
pub struct TurnRequest {
    pub user: UserId,
    pub conversation_id: Option<Uuid>,
    pub input: TurnInput,
    pub clock: UserClock,
    /// The HTTP request's id, carried into the turn's tool calls.
    pub request_id: Option<String>,
}

/// What the turn answers.
#[derive(Debug)]
pub enum TurnInput {
    /// A new message from the user, stored before the model is called.
    Message(String),
    /// A user message of the conversation again (after a retryable error, or because the
    /// user wants another answer): it is not stored twice, and every message after it is
    /// superseded (kept, but no longer listed or sent to the model). `of` names the message;
    /// the conversation's last user message when `None`.
    Retry { of: Option<Uuid> },
}

/// Why a turn could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("message must not be empty")]
    EmptyMessage,
    #[error("message is required (or retry: true with a conversation_id)")]
    NoMessage,
    #[error("a retry reruns the conversation's last message: give conversation_id and no message")]
    RetryWithMessage,
    #[error("a retry needs the conversation_id of the conversation to retry")]
    RetryWithoutConversation,
    #[error("this conversation has no message to retry")]
    NothingToRetry,
    #[error("no such message in this conversation")]
    NoSuchMessage,
    #[error("only a message of the user can be retried")]
    RetryOfReply,
    #[error("message must not contain control characters other than line breaks and tabs")]
    ControlCharacter,
    #[error("message must be at most {max} characters")]
    MessageTooLong { max: usize },
    #[error("no such conversation")]
    NoSuchConversation,
    #[error("the server is shutting down; send the message again")]
    Stopping,
    #[error(transparent)]
    Limited(#[from] TurnRefused),
    #[error("conversation store failed")]
    Store(#[from] conversations::ConversationError),
}

/// A started turn: its conversation, the user's message it answers and its events.
pub struct StartedTurn {
    pub conversation: Conversation,
    /// The conversation was started by this turn's message.
    pub created: bool,
    /// The user's message the turn answers: stored by this request, or the one retried.
    pub user_message: StoredMessage,
    pub events: mpsc::Receiver<TurnEvent>,
}

impl ChatService {
    pub fn new(
        conversations: ConversationStore,
        model: Arc<dyn ChatModel>,
        tasks: TaskGateway,
        limits: Arc<Limits>,
    ) -> Self {
        Self {
            conversations,
            model,
            tasks,
            limits,
            running_conversations: Arc::default(),
            turns: TaskTracker::new(),
            stopping: CancellationToken::new(),
            running: watch::Sender::new(0),
        }
    }

    /// The number of running turns, as it changes: a turn counts until its last write is done.
    pub fn running_turns(&self) -> watch::Receiver<usize> {
        self.running.subscribe()
    }

    /// The record of every conversation.
    pub fn conversations(&self) -> &ConversationStore {
        &self.conversations
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

    /// Checks the request, stores the user's message (before any model is called) or, for a
    /// retry, supersedes the replies to the last one, and starts the turn in its own task.
    pub async fn start_turn(
        self: &Arc<Self>,
        request: TurnRequest,
    ) -> Result<StartedTurn, ChatError> {
        if self.stopping.is_cancelled() {
            return Err(ChatError::Stopping);
        }
        // Before anything is stored: a refused message changes nothing.
        let slot = self.limits.start_turn(request.user)?;
        let (conversation, created, user_message) = match request.input {
            TurnInput::Message(message) => {
                self.store_user_message(request.user, request.conversation_id, &message)
                    .await?
            }
            TurnInput::Retry { of } => {
                let id = request
                    .conversation_id
                    .ok_or(ChatError::RetryWithoutConversation)?;
                let conversation = self.find(request.user, id).await?;
                let retried = self
                    .conversations
                    .supersede_after_user_message(conversation.id, of)
                    .await?;
                let retried = match (retried, of) {
                    (Some(retried), _) if retried.role == Role::User => retried,
                    (Some(_), _) => return Err(ChatError::RetryOfReply),
                    (None, None) => return Err(ChatError::NothingToRetry),
                    (None, Some(_)) => return Err(ChatError::NoSuchMessage),
                };
                // No message is stored, so no trigger marks the conversation as active.
                self.conversations
                    .touch(conversation.id)
                    .await
                    .map_err(ConversationError::from)?;
                (conversation, false, retried)
            }
        };
        let replying_to = user_message.seq;
        let (sender, events) = mpsc::channel(EVENT_BUFFER);
        // A child of the request's span: every line of the turn names the request, the user
        // and the conversation, though the turn outlives the handler.
        let span = tracing::info_span!(
            "chat_turn",
            user_id = %request.user,
            conversation_id = %conversation.id,
        );
        let (watch, deleted) =
            ConversationWatch::start(&self.running_conversations, conversation.id);
        let turn = Turn {
            conversations: self.conversations.clone(),
            model: self.model.clone(),
            tasks: self.tasks.clone(),
            user: request.user,
            conversation_id: conversation.id,
            replying_to,
            opening: created.then(|| user_message.clone()),
            clock: request.clock,
            request_id: request.request_id,
            stopping: self.stopping.clone(),
            deleted,
        };
        span.in_scope(|| tracing::info!("chat turn started"));
        let running = RunningTurn::start(&self.running);
        let on_panic = sender.clone();
        self.turns.spawn(
            async move {
                agent::report_panics(turn.run(sender), on_panic).await;
                drop(running);
                drop(slot);
                drop(watch);
            }
            .instrument(span),
        );
        Ok(StartedTurn {
            conversation,
            created,
            user_message,
            events,
        })
    }

    /// Checks a new message and stores it, in the given conversation or a new one titled
    /// after it (then `true`).
    async fn store_user_message(
        &self,
        user: UserId,
        conversation_id: Option<Uuid>,
        message: &str,
    ) -> Result<(Conversation, bool, StoredMessage), ChatError> {
        let message = todo_migrations::text::nfc(message.trim());
        let message = message.trim();
        if todo_migrations::text::is_blank(message) {
            return Err(ChatError::EmptyMessage);
        }
        if message
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(ChatError::ControlCharacter);
        }
        if message.chars().count() > MESSAGE_MAX_CHARS {
            return Err(ChatError::MessageTooLong {
                max: MESSAGE_MAX_CHARS,
            });
        }
        let (conversation, created) = match conversation_id {
            Some(id) => (self.find(user, id).await?, false),
            None => (
                self.conversations
                    .create(user, message)
                    .await
                    .map_err(ConversationError::from)?,
                true,
            ),
        };
        let stored = self
            .conversations
            .append(
                conversation.id,
                NewMessage::complete(Role::User, message.to_owned()),
            )
            .await?;
        Ok((conversation, created, stored))
    }

    /// Deletes the user's conversation `id` with its messages; replies to it running in this
    /// process stop at once (in another process, at their next write). False when the user
    /// has no such conversation.
    pub async fn delete_conversation(&self, user: UserId, id: Uuid) -> Result<bool, ChatError> {
        let deleted = self
            .conversations
            .delete(user, id)
            .await
            .map_err(ConversationError::from)?;
        if deleted {
            let running = self
                .running_conversations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((token, _)) = running.get(&id) {
                token.cancel();
            }
        }
        Ok(deleted)
    }

    /// The user's conversation `id`; another user's reads like a missing one.
    async fn find(&self, user: UserId, id: Uuid) -> Result<Conversation, ChatError> {
        self.conversations
            .find(user, id)
            .await
            .map_err(ConversationError::from)?
            .ok_or(ChatError::NoSuchConversation)
    }
}
