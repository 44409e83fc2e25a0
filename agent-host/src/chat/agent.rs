//! One turn of the assistant: the model's reply streamed out as [`ChatEvent`]s, its tool calls
//! run through MCP for the conversation's user, their results fed back, until a final answer
//! or the step limit.
//!
//! The turn runs in its own task and writes events into a channel; the HTTP response reads the
//! other end. When the client goes away, the channel closes: the turn drops the upstream
//! request at once (no more tokens are paid for) and stores what it had.

use std::{panic::AssertUnwindSafe, sync::Arc};

use futures::FutureExt as _;
use serde_json::Value;
use todo_mcp::{
    task::UserId,
    tools::{ToolErrorKind, trace::TraceContext},
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use super::{
    clock::UserClock,
    conversations::{
        ConversationError, ConversationStore, MessageStatus, NewMessage, Role, StoredMessage,
    },
    events::{
        ChatEvent, ChunkEvent, DoneEvent, ErrorEvent, StartEvent, ToolCallEvent, ToolResultEvent,
        TurnEvent,
    },
    history::{self, HISTORY_TOKEN_BUDGET, to_history},
    model::{
        ChatMessage, ChatModel, ModelDelta, ModelError, ModelRequest, ToolCall, ToolCallAssembler,
        ToolSpec,
    },
    summary::summarize,
};
use crate::{
    error_code::ErrorCode,
    tasks::{TaskCallError, TaskGateway, TaskSession, ToolOutcome},
    telemetry::{cause_chain, panic_message},
};

/// The most model requests one turn makes: a reply that keeps calling tools stops here.
pub const MAX_STEPS: usize = 8;

/// A turn ready to run.
pub struct Turn {
    pub conversations: ConversationStore,
    pub model: Arc<dyn ChatModel>,
    pub tasks: TaskGateway,
    pub user: UserId,
    pub conversation_id: Uuid,
    /// The `seq` of the user message this turn answers. Its history ends there: messages sent
    /// to the conversation while it runs (another tab, another host) are theirs to answer.
    pub replying_to: i64,
    /// When this turn started the conversation: its one message, which is then all of its
    /// history, so the turn need not read it back.
    pub opening: Option<StoredMessage>,
    pub clock: UserClock,
    /// The HTTP request that started the turn, for the task server's logs.
    pub request_id: Option<String>,
    /// Cancelled when the host shuts down.
    pub stopping: CancellationToken,
    /// Cancelled when the conversation is deleted through this process.
    pub deleted: CancellationToken,
}

/// How a turn ended, for the reply's stored status.
enum End {
    Done,
    /// The client went away.
    Cancelled,
    /// Reported to the client with an `error` event.
    Failed,
    /// The conversation was deleted: nothing more is stored, the client is told.
    Deleted,
}

/// The part of the reply not yet stored: the current step's text and the id it is stored as.
struct Reply {
    id: Uuid,
    text: String,
}

impl Turn {
    /// Runs the turn to its end, writing events into `events`.
    pub async fn run(self, events: mpsc::Sender<TurnEvent>) {
        let mut reply = Reply {
            id: Uuid::now_v7(),
            text: String::new(),
        };
        let start = ChatEvent::Start(StartEvent {
            conversation_id: self.conversation_id,
            message_id: reply.id,
        });
        let end = if events.send(start.into()).await.is_err() {
            End::Cancelled
        } else {
            self.steps(&events, &mut reply).await
        };
        let status = match end {
            End::Done => return,
            End::Deleted => {
                tracing::info!("chat turn ended: its conversation was deleted");
                return;
            }
            End::Cancelled => MessageStatus::Cancelled,
            End::Failed => MessageStatus::Failed,
        };
        // Stored as far as it got, and marked so.
        match self
            .store(reply.id, Role::Assistant, reply.text, Vec::new(), status)
            .await
        {
            Ok(()) => tracing::info!(
                ?status,
                "chat turn ended early; the reply is stored as far as it got"
            ),
            Err(ConversationError::Deleted) => {
                tracing::info!("chat turn ended early; its conversation was deleted");
            }
            Err(err) => tracing::error!(
                error = %err,
                cause_chain = %cause_chain(&err),
                "could not store a cut reply"
            ),
        }
    }

    async fn steps(&self, events: &mpsc::Sender<TurnEvent>, reply: &mut Reply) -> End {
        let prepared = tokio::select! {
            biased;
            why = self.interrupted(events) => return why.end(events).await,
            prepared = self.prepare() => prepared,
        };
        let (session, tools, mut history) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => return fail(events, error).await,
        };
        for number in 1..=MAX_STEPS {
            let step = self
                .step(events, &history, &tools, reply)
                .instrument(tracing::info_span!("model_step", step = number));
            let step = match step.await {
                Ok(step) => step,
                Err(end) => return end,
            };
            let Step::ToolCalls(calls) = step else {
                return End::Done;
            };
            let text = std::mem::take(&mut reply.text);
            if let Err(err) = self
                .store(
                    reply.id,
                    Role::Assistant,
                    text.clone(),
                    calls.clone(),
                    MessageStatus::Complete,
                )
                .await
            {
                return store_failed(events, err).await;
            }
            // The next step's text is another message: the one after the tool results. Its id
            // is taken now, so a reply cut while the tools run is not stored under this one's.
            reply.id = Uuid::now_v7();
            history.push(ChatMessage::Assistant {
                text,
                tool_calls: calls.clone(),
            });
            for call in calls {
                match self.run_tool(events, &session, &tools, &call).await {
                    Ok(message) => history.push(message),
                    Err(end) => return end,
                }
            }
            // Said after the tools' events, which belong to the step that called them.
            let _ = events
                .send(TurnEvent::NextStep {
                    message_id: reply.id,
                })
                .await;
            if events.is_closed() {
                return End::Cancelled;
            }
        }
        tracing::warn!(
            steps = MAX_STEPS,
            "the model did not finish within the step limit"
        );
        fail(
            events,
            ErrorEvent::new(
                ErrorCode::StepLimit,
                format!(
                    "The assistant stopped after {MAX_STEPS} steps without finishing its answer."
                ),
            ),
        )
        .await
    }

    /// Resolves when the turn must stop before its work is done: the client went away, the
    /// host is shutting down or the conversation was deleted (checked in that order).
    async fn interrupted(&self, events: &mpsc::Sender<TurnEvent>) -> Interruption {
        tokio::select! {
            biased;
            () = events.closed() => Interruption::ClientGone,
            () = self.stopping.cancelled() => Interruption::ShuttingDown,
            () = self.deleted.cancelled() => Interruption::Deleted,
        }
    }

    /// The MCP session, its tools and the history, read from the database.
    async fn prepare(&self) -> Result<(TaskSession, Vec<ToolSpec>, Vec<ChatMessage>), ErrorEvent> {
        let session = self
            .tasks
            .open(self.user)
            .await
            .map_err(tools_unavailable)?
            .with_trace(TraceContext {
                request_id: self.request_id.clone(),
                conversation_id: Some(self.conversation_id.to_string()),
            });
        let tools = session
            .tools()
            .await
            .map_err(tools_unavailable)?
            .into_iter()
            .map(|tool| ToolSpec {
                name: tool.name.into_owned(),
                description: tool
                    .description
                    .map(|text| text.into_owned())
                    .unwrap_or_default(),
                parameters: tool.input_schema,
            })
            .collect();
        let stored = match &self.opening {
            Some(opening) => vec![opening.clone()],
            None => history::load(&self.conversations, self.conversation_id, self.replying_to)
                .await
                .map_err(internal)?,
        };
        let mut history = vec![ChatMessage::System(system_prompt(
            session.instructions(),
            &self.clock,
        ))];
        history.extend(to_history(&stored, HISTORY_TOKEN_BUDGET));
        Ok((session, tools, history))
    }

    /// One model request, streamed out; the final reply is stored here.
    async fn step(
        &self,
        events: &mpsc::Sender<TurnEvent>,
        history: &[ChatMessage],
        tools: &[ToolSpec],
        reply: &mut Reply,
    ) -> Result<Step, End> {
        let request = ModelRequest {
            messages: history,
            tools,
            clock: &self.clock,
        };
        // Watched for the whole request, not made anew for each token: each new watch registers
        // with three wake-up lists and leaves them again.
        let mut interrupted = std::pin::pin!(self.interrupted(events));
        let mut stream = tokio::select! {
            biased;
            why = &mut interrupted => return Err(why.end(events).await),
            started = self.model.start(request) => match started {
                Ok(stream) => stream,
                Err(error) => return Err(fail(events, model_error(error)).await),
            },
        };
        let mut calls = ToolCallAssembler::default();
        let mut finish = None;
        loop {
            let delta = tokio::select! {
                biased;
                why = &mut interrupted => return Err(why.end(events).await),
                delta = futures::StreamExt::next(&mut stream) => delta,
            };
            match delta {
                Some(Ok(ModelDelta::Text(mut text))) => {
                    // PostgreSQL cannot store NUL in text; a model that sends one loses it.
                    if text.contains('\0') {
                        text.retain(|c| c != '\0');
                    }
                    reply.text.push_str(&text);
                    let chunk = ChatEvent::Chunk(ChunkEvent { content: text });
                    if events.send(chunk.into()).await.is_err() {
                        return Err(End::Cancelled);
                    }
                }
                Some(Ok(ModelDelta::ToolCall(delta))) => calls.push(delta),
                Some(Ok(ModelDelta::Finish(reason))) => finish = Some(reason),
                Some(Ok(ModelDelta::Usage(_))) => {}
                Some(Err(error)) => return Err(fail(events, model_error(error)).await),
                None => break,
            }
        }
        let Some(finish_reason) = finish else {
            return Err(fail(events, model_error(ModelError::BrokeOff)).await);
        };
        if !calls.is_empty() {
            return Ok(Step::ToolCalls(calls.finish()));
        }
        let text = std::mem::take(&mut reply.text);
        if let Err(err) = self
            .store(
                reply.id,
                Role::Assistant,
                text,
                Vec::new(),
                MessageStatus::Complete,
            )
            .await
        {
            return Err(store_failed(events, err).await);
        }
        tracing::info!(finish_reason = %finish_reason, "chat turn done");
        let done = ChatEvent::Done(DoneEvent {
            message_id: reply.id,
            finish_reason,
        });
        // The reply is stored: a client gone now has missed nothing that is lost.
        let _ = events.send(done.into()).await;
        Ok(Step::Final)
    }

    /// Runs one tool call, reports it and stores its result.
    async fn run_tool(
        &self,
        events: &mpsc::Sender<TurnEvent>,
        session: &TaskSession,
        tools: &[ToolSpec],
        call: &ToolCall,
    ) -> Result<ChatMessage, End> {
        let arguments = parse_arguments(&call.arguments);
        let _ = events
            .send(
                ChatEvent::ToolCall(ToolCallEvent {
                    tool_name: call.name.clone(),
                    call_id: call.id.clone(),
                    arguments: match &arguments {
                        Ok(value) => value.clone(),
                        Err(_) => Value::String(call.arguments.clone()),
                    },
                })
                .into(),
            )
            .await;
        let outcome = if !tools.iter().any(|tool| tool.name == call.name) {
            ToolOutcome::failed(
                ToolErrorKind::InvalidArgument,
                format!("There is no tool named {:?}.", call.name),
            )
        } else {
            match arguments {
                Ok(Value::Object(arguments)) => {
                    match session.call_for_model(&call.name, arguments).await {
                        Ok(outcome) => outcome,
                        Err(err) => return Err(fail(events, tools_unavailable(err)).await),
                    }
                }
                Ok(_) => ToolOutcome::failed(
                    ToolErrorKind::InvalidArgument,
                    "The arguments must be a JSON object.".to_owned(),
                ),
                Err(err) => ToolOutcome::failed(
                    ToolErrorKind::InvalidArgument,
                    format!("The arguments are not valid JSON: {err}."),
                ),
            }
        };
        let summary = summarize(&call.name, &outcome, &self.clock);
        let stored = self
            .conversations
            .append(
                self.conversation_id,
                NewMessage {
                    id: Uuid::now_v7(),
                    role: Role::Tool,
                    content: outcome.for_model.clone(),
                    tool_calls: Vec::new(),
                    tool_call_id: Some(call.id.clone()),
                    tool_name: Some(call.name.clone()),
                    is_error: Some(outcome.is_error),
                    status: MessageStatus::Complete,
                    summary: Some(summary.clone()),
                },
            )
            .await;
        if let Err(err) = stored {
            return Err(store_failed(events, err).await);
        }
        let _ = events
            .send(
                ChatEvent::ToolResult(ToolResultEvent {
                    tool_name: call.name.clone(),
                    call_id: call.id.clone(),
                    is_error: outcome.is_error,
                    result: outcome.value,
                    summary,
                })
                .into(),
            )
            .await;
        Ok(ChatMessage::Tool {
            call_id: call.id.clone(),
            tool_name: call.name.clone(),
            content: outcome.for_model,
            is_error: outcome.is_error,
        })
    }

    async fn store(
        &self,
        id: Uuid,
        role: Role,
        content: String,
        tool_calls: Vec<ToolCall>,
        status: MessageStatus,
    ) -> Result<(), ConversationError> {
        let conversations = &self.conversations;
        conversations
            .append(
                self.conversation_id,
                NewMessage {
                    id,
                    role,
                    content,
                    tool_calls,
                    tool_call_id: None,
                    tool_name: None,
                    is_error: None,
                    status,
                    summary: None,
                },
            )
            .await?;
        Ok(())
    }
}

/// Why a turn stops before its work is done.
enum Interruption {
    ClientGone,
    ShuttingDown,
    Deleted,
}

impl Interruption {
    /// Tells the client, if it is still there, and answers how the turn ended.
    async fn end(self, events: &mpsc::Sender<TurnEvent>) -> End {
        match self {
            Self::ClientGone => End::Cancelled,
            Self::ShuttingDown => fail(events, shutting_down()).await,
            Self::Deleted => deleted(events).await,
        }
    }
}

/// What a model request ended with.
enum Step {
    Final,
    ToolCalls(Vec<ToolCall>),
}

/// The model's arguments; an empty string means no arguments.
fn parse_arguments(raw: &str) -> Result<Value, serde_json::Error> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(raw)
}

/// Sends the `error` event that ends the stream.
async fn fail(events: &mpsc::Sender<TurnEvent>, error: ErrorEvent) -> End {
    match events.send(ChatEvent::Error(error).into()).await {
        Ok(()) => End::Failed,
        Err(_) => End::Cancelled,
    }
}

/// A write of the turn failed: the conversation is gone, or the store failed.
async fn store_failed(events: &mpsc::Sender<TurnEvent>, err: ConversationError) -> End {
    match err {
        ConversationError::Deleted => deleted(events).await,
        other => fail(events, internal(other)).await,
    }
}

/// Tells the client its conversation was deleted while the reply ran.
async fn deleted(events: &mpsc::Sender<TurnEvent>) -> End {
    let event = ErrorEvent::new(
        ErrorCode::NotFound,
        "This conversation was deleted.".to_owned(),
    );
    let _ = events.send(ChatEvent::Error(event).into()).await;
    End::Deleted
}

fn model_error(error: ModelError) -> ErrorEvent {
    tracing::warn!(error = %error, "the model failed");
    ErrorEvent::new(error.code(), error.to_string())
}

fn shutting_down() -> ErrorEvent {
    tracing::info!("chat turn stopped: the host is shutting down");
    ErrorEvent::new(
        ErrorCode::ShuttingDown,
        "The server is restarting; send your message again.".to_owned(),
    )
}

fn tools_unavailable(error: TaskCallError) -> ErrorEvent {
    tracing::error!(error = %error, cause_chain = %cause_chain(&error), "the task tools are unavailable");
    ErrorEvent::new(
        ErrorCode::ToolsUnavailable,
        "The task server is unavailable; try again shortly.".to_owned(),
    )
}

fn internal(error: impl std::error::Error + 'static) -> ErrorEvent {
    tracing::error!(error = %error, cause_chain = %cause_chain(&error), "a chat turn failed");
    something_went_wrong()
}

/// What the client is told of a failure that is ours, whatever it was.
fn something_went_wrong() -> ErrorEvent {
    ErrorEvent::new(
        ErrorCode::Internal,
        "Something went wrong on our side; try again.".to_owned(),
    )
}

/// Runs `turn`; should it panic (a bug), the panic is logged and the client gets an `internal`
/// error event as the stream's last, instead of a stream that just stops. What the turn stored
/// before the panic stays stored.
pub async fn report_panics(turn: impl Future<Output = ()>, events: mpsc::Sender<TurnEvent>) {
    if let Err(panic) = AssertUnwindSafe(turn).catch_unwind().await {
        tracing::error!(panic = panic_message(&*panic), "a chat turn panicked");
        let _ = events
            .send(ChatEvent::Error(something_went_wrong()).into())
            .await;
    }
}

/// What the model is told before the conversation.
fn system_prompt(instructions: Option<String>, clock: &UserClock) -> String {
    let now = clock.local_now();
    let mut prompt = String::from(
        "You are Todo Agent, an assistant that keeps the user's to-do list with the task tools. ",
    );
    if let Some(instructions) = instructions {
        prompt.push_str(instructions.trim());
        prompt.push(' ');
    }
    prompt.push_str(&format!(
        "The user's local time is {} ({}); write due dates in RFC 3339 with the offset {}. \
         To change, complete or delete a task, find its id with list_tasks first. \
         Answer briefly and plainly.",
        now.format("%A %-d %B %Y, %H:%M"),
        clock.zone.name(),
        now.format("%:z"),
    ));
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str) -> TurnEvent {
        ChatEvent::Chunk(ChunkEvent {
            content: text.to_owned(),
        })
        .into()
    }

    #[tokio::test]
    async fn a_turn_that_panics_ends_its_stream_with_an_internal_error() {
        let (sender, mut events) = mpsc::channel(8);
        let on_panic = sender.clone();
        let turn = async move {
            let _ = sender.send(chunk("Hel")).await;
            if true {
                panic!("a bug in the turn");
            }
        };
        report_panics(turn, on_panic).await;
        assert!(matches!(
            events.recv().await,
            Some(TurnEvent::Chat(ChatEvent::Chunk(_)))
        ));
        match events.recv().await {
            Some(TurnEvent::Chat(ChatEvent::Error(error))) => {
                assert_eq!(error.code, ErrorCode::Internal);
                assert!(!error.message.contains("bug"), "{}", error.message);
            }
            other => panic!("expected the internal error, got {other:?}"),
        }
        assert!(events.recv().await.is_none(), "the error is the last event");
    }

    #[tokio::test]
    async fn a_turn_that_ends_well_gets_nothing_added() {
        let (sender, mut events) = mpsc::channel(8);
        let on_panic = sender.clone();
        let turn = async move {
            let _ = sender.send(chunk("Hello")).await;
        };
        report_panics(turn, on_panic).await;
        assert!(matches!(
            events.recv().await,
            Some(TurnEvent::Chat(ChatEvent::Chunk(_)))
        ));
        assert!(events.recv().await.is_none());
    }
}
