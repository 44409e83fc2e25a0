//! `WebPages`: the host's side of the web crate's [`WebHost`] trait, a narrow type over the
//! accounts, the session issuer and the MCP task tools (the pages reach tasks exactly as the
//! API does, through MCP).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::net::IpAddr;

use todo_mcp::{
    task::UserId,
    tools::{
        ToolErrorKind, ToolName,
        dto::{
            AddTaskArgs, CompleteTaskArgs, DeleteTaskArgs, GetTaskArgs, ListTasksArgs,
            PriorityView, TaskChangeView, TaskListView, TaskView, UpdateTaskArgs,
        },
    },
};
use todo_web::host::{
    ChatItem, ChatPage, ChatRole, ConversationItem, FormErrors, NewSession, Priority, Task,
    TaskFilter, TaskInput, TaskPage, WebError, WebHost, WebUser,
};
use uuid::Uuid;

use crate::{
    accounts::{AccountError, AccountStore, sign_up_problems},
    auth::{AuthContext, SessionIssuer},
    chat::conversations::{ConversationStore, MessageStatus, Role},
    limits::retry_after_secs,
    tasks::{TaskCallError, TaskGateway, TaskSession},
    telemetry::cause_chain,
};

/// What the web pages get from the host.
pub struct WebPages {
    pub accounts: AccountStore,
    pub conversations: ConversationStore,
    pub sessions: SessionIssuer,
    pub auth: AuthContext,
    pub tasks: TaskGateway,
}

#[async_trait]
impl WebHost for WebPages {
    async fn current_user(&self, session_token: &str) -> Option<WebUser> {
        let caller = self.auth.caller(session_token).await.ok()??;
        let account = self.accounts.get(caller.user).await.ok()?;
        Some(WebUser {
            id: account.id.as_uuid(),
            email: account.email,
            name: account.name,
        })
    }

    async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<NewSession, WebError> {
        let account = self
            .accounts
            .sign_in(email, password, client)
            .await
            .map_err(account_error)?;
        self.new_session(account.id)
    }

    async fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        client: IpAddr,
    ) -> Result<NewSession, WebError> {
        let problems = sign_up_problems(email, password, name);
        if !problems.is_empty() {
            let mut errors = FormErrors::default();
            for problem in problems {
                if let WebError::Form(one) = account_error(problem) {
                    errors.email = errors.email.or(one.email);
                    errors.password = errors.password.or(one.password);
                    errors.name = errors.name.or(one.name);
                }
            }
            return Err(WebError::Form(Box::new(errors)));
        }
        let account = self
            .accounts
            .sign_up(email, password, name, client)
            .await
            .map_err(account_error)?;
        tracing::info!(user_id = %account.id, "account created");
        self.new_session(account.id)
    }

    async fn sign_out(&self, session_token: Option<&str>) -> String {
        if let Some(token) = session_token
            && let Ok(Some(caller)) = self.auth.caller(token).await
            && let Some(token_id) = caller.token_id
            && let Err(err) = self
                .accounts
                .revoke_session(caller.user, token_id, caller.expires_at)
                .await
        {
            // The cookie still goes; the token stays valid until it expires.
            tracing::error!(error = %err, "could not revoke a session token at sign-out");
        }
        self.sessions.sign_out_cookie()
    }

    async fn list_tasks(
        &self,
        user: Uuid,
        filter: &TaskFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<TaskPage, WebError> {
        let args = ListTasksArgs {
            status: filter.status.clone(),
            query: filter.query.clone(),
            priority: filter.priority.clone(),
            tag: filter.tag.clone(),
            limit: Some(i64::from(limit)),
            cursor: cursor.map(str::to_owned),
        };
        let page: TaskListView = self
            .tasks_of(user)
            .await?
            .call(ToolName::ListTasks, &args)
            .await
            .map_err(task_error)?;
        Ok(TaskPage {
            tasks: page.tasks.iter().map(task_of).collect(),
            next_cursor: page.next_cursor,
        })
    }

    async fn get_task(&self, user: Uuid, task: Uuid) -> Result<Task, WebError> {
        let args = GetTaskArgs {
            task_id: task.to_string(),
        };
        let view: TaskView = self
            .tasks_of(user)
            .await?
            .call(ToolName::GetTask, &args)
            .await
            .map_err(task_error)?;
        Ok(task_of(&view))
    }

    async fn add_task(&self, user: Uuid, input: TaskInput) -> Result<Task, WebError> {
        let set = |value: String| Some(value).filter(|value| !value.trim().is_empty());
        let args = AddTaskArgs {
            title: input.title,
            description: set(input.description),
            priority: set(input.priority),
            due_at: set(input.due_at),
            tags: Some(input.tags).filter(|tags| !tags.is_empty()),
        };
        self.change(user, ToolName::AddTask, &args).await
    }

    async fn update_task(
        &self,
        user: Uuid,
        task: Uuid,
        input: TaskInput,
    ) -> Result<Task, WebError> {
        // The edit form shows every field: what it sends is the task's new state ("" clears).
        let args = UpdateTaskArgs {
            task_id: task.to_string(),
            title: Some(input.title),
            description: Some(input.description),
            priority: Some(input.priority).filter(|priority| !priority.is_empty()),
            due_at: Some(input.due_at),
            tags: Some(input.tags),
        };
        self.change(user, ToolName::UpdateTask, &args).await
    }

    async fn set_completed(
        &self,
        user: Uuid,
        task: Uuid,
        completed: bool,
    ) -> Result<Task, WebError> {
        let args = CompleteTaskArgs {
            task_id: task.to_string(),
            completed: Some(completed),
        };
        self.change(user, ToolName::CompleteTask, &args).await
    }

    async fn delete_task(&self, user: Uuid, task: Uuid) -> Result<(), WebError> {
        let args = DeleteTaskArgs {
            task_id: task.to_string(),
        };
        self.change(user, ToolName::DeleteTask, &args)
            .await
            .map(drop)
    }

    async fn conversations(&self, user: Uuid) -> Result<Vec<ConversationItem>, WebError> {
        let page = self
            .conversations
            .list(UserId::new(user), CONVERSATIONS_IN_PICKER, None)
            .await
            .map_err(unavailable)?;
        Ok(page
            .conversations
            .into_iter()
            .map(|conversation| ConversationItem {
                id: conversation.id,
                title: conversation.title,
            })
            .collect())
    }

    async fn messages(
        &self,
        user: Uuid,
        conversation: Uuid,
        before: Option<i64>,
        limit: u32,
    ) -> Result<ChatPage, WebError> {
        self.conversations
            .find(UserId::new(user), conversation)
            .await
            .map_err(unavailable)?
            .ok_or(WebError::NotFound)?;
        let page = self
            .conversations
            .page(conversation, before, u64::from(limit))
            .await
            .map_err(unavailable)?;
        let items = page
            .messages
            .into_iter()
            // An assistant step that only called tools has no text to show: its tools' lines
            // follow it.
            .filter(|message| {
                !(message.role == Role::Assistant
                    && message.content.is_empty()
                    && !message.tool_calls.is_empty())
            })
            .map(|message| ChatItem {
                id: message.id,
                seq: message.seq,
                role: match message.role {
                    Role::User => ChatRole::User,
                    Role::Assistant => ChatRole::Assistant,
                    Role::Tool => ChatRole::Tool,
                },
                text: message.content,
                summary: message.summary,
                is_error: message.is_error == Some(true),
                partial: message.status != MessageStatus::Complete,
            })
            .collect();
        Ok(ChatPage {
            items,
            next_before: page.next_before,
        })
    }
}

/// Conversations the sidebar's picker offers.
const CONVERSATIONS_IN_PICKER: u64 = 50;

fn unavailable(err: impl std::error::Error + 'static) -> WebError {
    tracing::error!(error = %err, cause_chain = %cause_chain(&err), "a conversation read for a page failed");
    WebError::Unavailable
}

impl WebPages {
    fn new_session(&self, user: UserId) -> Result<NewSession, WebError> {
        let session = self.sessions.issue(user).map_err(|err| {
            tracing::error!(error = %err, "could not sign a session");
            WebError::Unavailable
        })?;
        Ok(NewSession {
            user_id: user.as_uuid(),
            set_cookie: session.cookie,
        })
    }

    /// An MCP session acting for the page's user.
    async fn tasks_of(&self, user: Uuid) -> Result<TaskSession, WebError> {
        self.tasks.open(UserId::new(user)).await.map_err(task_error)
    }

    async fn change(
        &self,
        user: Uuid,
        tool: ToolName,
        args: &impl serde::Serialize,
    ) -> Result<Task, WebError> {
        let change: TaskChangeView = self
            .tasks_of(user)
            .await?
            .call(tool, args)
            .await
            .map_err(task_error)?;
        Ok(task_of(&change.task))
    }
}

fn account_error(err: AccountError) -> WebError {
    let form = |message: String| FormErrors {
        form: Some(message),
        ..FormErrors::default()
    };
    WebError::Form(Box::new(match err {
        AccountError::InvalidEmail => FormErrors {
            email: Some(err.to_string()),
            ..FormErrors::default()
        },
        AccountError::EmailTaken => FormErrors {
            email: Some(err.to_string()),
            ..FormErrors::default()
        },
        AccountError::PasswordLength => FormErrors {
            password: Some(err.to_string()),
            ..FormErrors::default()
        },
        AccountError::InvalidName => FormErrors {
            name: Some(err.to_string()),
            ..FormErrors::default()
        },
        AccountError::BadCredentials | AccountError::NotFound => {
            form("Wrong email or password.".to_owned())
        }
        AccountError::RateLimited(retry) => {
            return WebError::TooMany {
                message: format!(
                    "Too many attempts; try again in {} seconds.",
                    retry_after_secs(retry.0)
                ),
                retry_after_secs: retry_after_secs(retry.0),
            };
        }
        AccountError::Busy => {
            return WebError::TooMany {
                message: "The server is busy; try again in a moment.".to_owned(),
                retry_after_secs: 1,
            };
        }
        AccountError::Hashing(_) | AccountError::Store(_) => {
            tracing::error!(error = %err, cause_chain = %cause_chain(&err), "an account operation failed");
            return WebError::Unavailable;
        }
    }))
}

/// A tool's refusal goes next to the field its sentence is about (the task server's
/// sentences start with the field's name); anything else is unavailable.
fn task_error(err: TaskCallError) -> WebError {
    match err {
        TaskCallError::Tool {
            kind: ToolErrorKind::InvalidArgument,
            message,
        } => WebError::Form(Box::new(field_error(message))),
        TaskCallError::Tool {
            kind: ToolErrorKind::NotFound,
            ..
        } => WebError::NotFound,
        other => {
            tracing::error!(error = %other, cause_chain = %cause_chain(&other), "a task call from a page failed");
            WebError::Unavailable
        }
    }
}

fn field_error(message: String) -> FormErrors {
    let mut errors = FormErrors::default();
    let slot = if message.starts_with("title") {
        &mut errors.title
    } else if message.starts_with("description") {
        &mut errors.description
    } else if message.starts_with("priority") {
        &mut errors.priority
    } else if message.starts_with("due_at") {
        &mut errors.due
    } else if message.contains("tag") {
        &mut errors.tags
    } else {
        &mut errors.form
    };
    *slot = Some(message);
    errors
}

fn task_of(view: &TaskView) -> Task {
    let time = |raw: &str| {
        DateTime::parse_from_rfc3339(raw)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    };
    Task {
        // Ids come from our own task server; a malformed one would be a bug there.
        id: Uuid::try_parse(&view.id).unwrap_or_default(),
        title: view.title.clone(),
        description: view.description.clone(),
        completed: view.completed,
        priority: match view.priority {
            PriorityView::Low => Priority::Low,
            PriorityView::Medium => Priority::Medium,
            PriorityView::High => Priority::High,
        },
        due_at: view.due_at.as_deref().and_then(time),
        tags: view.tags.clone(),
    }
}
