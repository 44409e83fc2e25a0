//! `WebHost`: all the pages need from the host, in the pages' own terms. `todo-agent`
//! implements it over its accounts, sessions and the MCP task tools; this crate knows neither.

use std::net::IpAddr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The address a request came from, as the host resolved it (the peer, or the address a
/// trusted proxy forwarded); the host puts it into every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The signed-in person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUser {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
}

/// A new session: the `Set-Cookie` value that signs the browser in. Not `Debug`: it holds the
/// token.
pub struct NewSession {
    pub user_id: Uuid,
    pub set_cookie: String,
}

/// Why a form was refused: a sentence per field, or one for the whole form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    pub title: Option<String>,
    pub due: Option<String>,
    pub priority: Option<String>,
    pub tags: Option<String>,
    pub description: Option<String>,
    /// Not about one field (wrong email or password, a taken email).
    pub form: Option<String>,
}

impl FormErrors {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The first sentence, whichever field it is about.
    pub fn first(&self) -> Option<String> {
        [
            &self.form,
            &self.email,
            &self.password,
            &self.name,
            &self.title,
            &self.description,
            &self.priority,
            &self.due,
            &self.tags,
        ]
        .into_iter()
        .find_map(Clone::clone)
    }

    /// A refusal with one sentence about the due date.
    pub fn due(message: impl Into<String>) -> Self {
        Self {
            due: Some(message.into()),
            ..Self::default()
        }
    }
}

/// What a host operation can fail with, as the pages show it.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The input was refused; the page shows each sentence next to its field.
    #[error("the form has errors")]
    Form(Box<FormErrors>),
    /// No such task for this user.
    #[error("that task no longer exists")]
    NotFound,
    /// The host could not do it now (database, task server); the cause is in its log.
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable,
    /// Too many attempts (or the server is at capacity); the sentence says when to try again.
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
}

/// How urgent a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Low,
    Medium,
    High,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

/// A task as the pages show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: Priority,
    pub due_at: Option<DateTime<Utc>>,
    pub tags: Vec<String>,
}

/// Which tasks to list. Text is passed on as the user typed it; the task server checks it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// `all`, `pending` or `completed`; all when `None`.
    pub status: Option<String>,
    pub priority: Option<String>,
    pub tag: Option<String>,
    pub query: Option<String>,
}

/// One page of tasks and the cursor of the next.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// A task as a form sent it: text as typed, checked by the task server. `due_at` is an RFC
/// 3339 instant the page made from the browser's local date and time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskInput {
    pub title: String,
    pub description: String,
    pub priority: String,
    pub due_at: String,
    pub tags: Vec<String>,
}

/// Everything the pages need from the host.
#[async_trait]
pub trait WebHost: Send + Sync + 'static {
    /// The user of a session cookie's token, when it is valid.
    async fn current_user(&self, session_token: &str) -> Option<WebUser>;
    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<NewSession, WebError>;
    async fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        client: IpAddr,
    ) -> Result<NewSession, WebError>;
    /// Ends the session of `session_token` (when there is one) for good, and returns the
    /// `Set-Cookie` value that removes it from the browser.
    async fn sign_out(&self, session_token: Option<&str>) -> String;

    async fn list_tasks(
        &self,
        user: Uuid,
        filter: &TaskFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TaskPage, WebError>;
    async fn get_task(&self, user: Uuid, task: Uuid) -> Result<Task, WebError>;
    async fn add_task(&self, user: Uuid, input: TaskInput) -> Result<Task, WebError>;
    async fn update_task(&self, user: Uuid, task: Uuid, input: TaskInput)
    -> Result<Task, WebError>;
    async fn set_completed(
        &self,
        user: Uuid,
        task: Uuid,
        completed: bool,
    ) -> Result<Task, WebError>;
    async fn delete_task(&self, user: Uuid, task: Uuid) -> Result<(), WebError>;

    /// The user's most recently active conversations (the chat stream itself is the API's
    /// `POST /api/{user_id}/chat`).
    async fn conversations(&self, user: Uuid) -> Result<Vec<ConversationItem>, WebError>;
    /// The messages before `before` (the newest when `None`) of the user's conversation.
    async fn messages(
        &self,
        user: Uuid,
        conversation: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> Result<ChatPage, WebError>;
}

/// A conversation in the sidebar's picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationItem {
    pub id: Uuid,
    pub title: String,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    User,
    Assistant,
    Tool,
}

/// A message as the sidebar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatItem {
    pub id: Uuid,
    pub seq: i64,
    pub role: ChatRole,
    pub text: String,
    /// For a tool message: the sentence for the call.
    pub summary: Option<String>,
    pub is_error: bool,
    /// A reply cut short (`cancelled` or `failed`).
    pub partial: bool,
}

/// A page of messages, oldest first, and the `before` of the older page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPage {
    pub items: Vec<ChatItem>,
    pub next_before: Option<i64>,
}
