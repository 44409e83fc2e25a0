//! `TaskServer`: the task tools over MCP. **API boundary**: tool names, argument names and
//! result shapes are the contract of `../shared/DESIGN.md`. Beside DESIGN.md's five tools there
//! is a read-only `get_task`, which the HTTP API's `GET /api/{user_id}/tasks/{task_id}` needs.
//!
//! The user is bound to the session, never taken from arguments: a server built with
//! [`TaskServer::for_user`] serves one user (stdio, in-process); one built with
//! [`TaskServer::per_request`] reads the user that the HTTP auth middleware put into each
//! request's extensions.

pub mod dto;
mod error;
mod names;
mod structured;
pub mod trace;

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    handler::server::tool::ToolCallContext,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{
        CallToolRequestParams, CallToolResponse, Implementation, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_handler, tool_router,
};

use self::structured::Json;
use crate::{
    store::TaskStore,
    task::{
        Cursor, Description, DueAt, ListFilter, NewTask, PageSize, Priority, SearchQuery,
        StatusFilter, Tag, Tags, TaskId, TaskPatch, Title, UserId, ValidationError,
    },
};
use dto::{
    AddTaskArgs, ChangeStatus, CompleteTaskArgs, DeleteTaskArgs, GetTaskArgs, ListTasksArgs,
    TaskChangeView, TaskListView, TaskView, UpdateTaskArgs,
};
pub use error::{ERROR_CODE_META_KEY, ToolError, ToolErrorKind};
pub use names::ToolName;
use trace::TraceContext;
use tracing::Instrument as _;

/// What a model is told about this server when it connects.
pub const INSTRUCTIONS: &str = "These tools manage the signed-in user's to-do list: add_task creates a task, list_tasks finds tasks (filter by status, text, priority or tag), get_task reads one, and complete_task, update_task and delete_task change one task by its id. \
Call list_tasks to find a task's id before changing it, and give due dates as RFC 3339 date-times with an offset.";

/// The MCP task server for one session.
#[derive(Clone)]
pub struct TaskServer {
    store: TaskStore,
    user: UserBinding,
    tool_router: ToolRouter<Self>,
}

/// Where a tool call's user comes from.
#[derive(Debug, Clone, Copy)]
enum UserBinding {
    /// The session belongs to this user (stdio with `TODO_MCP_TOKEN`, in-process).
    Fixed(UserId),
    /// Each HTTP request carries its own verified user in its extensions.
    PerRequest,
}

impl TaskServer {
    /// A session that acts for `user` only.
    pub fn for_user(store: TaskStore, user: UserId) -> Self {
        Self::new(store, UserBinding::Fixed(user))
    }

    /// A session served over HTTP, where every request was authenticated on its own
    /// (see [`crate::http`]).
    pub fn per_request(store: TaskStore) -> Self {
        Self::new(store, UserBinding::PerRequest)
    }

    fn new(store: TaskStore, user: UserBinding) -> Self {
        Self {
            store,
            user,
            tool_router: Self::tool_router(),
        }
    }

    fn user(&self, ctx: &RequestContext<RoleServer>) -> Result<UserId, ToolError> {
        match self.user {
            UserBinding::Fixed(user) => Ok(user),
            UserBinding::PerRequest => ctx
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<UserId>())
                .copied()
                .ok_or_else(ToolError::unauthenticated),
        }
    }
}

#[tool_router]
impl TaskServer {
    /// Add a task to the user's to-do list. Returns the new task with its id.
    #[tool(annotations(
        title = "Add task",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn add_task(
        &self,
        Parameters(args): Parameters<AddTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskChangeView>, ToolError> {
        let user = self.user(&ctx)?;
        let new = parse_new_task(args)?;
        let task = self.store.add(user, new).await?;
        tracing::info!(%user, task_id = %task.id, "task added");
        Ok(Json(TaskChangeView::new(ChangeStatus::Created, &task)))
    }

    /// List the user's tasks: open tasks first, then by due date, priority and id. Filters combine; pages through long lists with `cursor`.
    #[tool(annotations(
        title = "List tasks",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn list_tasks(
        &self,
        Parameters(args): Parameters<ListTasksArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskListView>, ToolError> {
        let user = self.user(&ctx)?;
        let (filter, size, cursor) = parse_list_args(args)?;
        let page = self
            .store
            .list(user, &filter, size, cursor.as_ref())
            .await?;
        Ok(Json(TaskListView {
            tasks: page.tasks.iter().map(TaskView::from).collect(),
            next_cursor: page.next_cursor.as_ref().map(Cursor::encode),
        }))
    }

    /// Get one task by its id.
    #[tool(annotations(
        title = "Get task",
        read_only_hint = true,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn get_task(
        &self,
        Parameters(args): Parameters<GetTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskView>, ToolError> {
        let user = self.user(&ctx)?;
        let task_id = TaskId::parse(&args.task_id)?;
        let task = self.store.get(user, task_id).await?;
        Ok(Json(TaskView::from(&task)))
    }

    /// Mark a task as done, or reopen it with completed = false. Doing it twice changes nothing.
    #[tool(annotations(
        title = "Complete task",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn complete_task(
        &self,
        Parameters(args): Parameters<CompleteTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskChangeView>, ToolError> {
        let user = self.user(&ctx)?;
        let task_id = TaskId::parse(&args.task_id)?;
        let completed = args.completed.unwrap_or(true);
        let task = self.store.set_completed(user, task_id, completed).await?;
        let status = if completed {
            ChangeStatus::Completed
        } else {
            ChangeStatus::Reopened
        };
        tracing::info!(%user, %task_id, completed, "task completion set");
        Ok(Json(TaskChangeView::new(status, &task)))
    }

    /// Change a task's title, description, priority, due date or tags. Fields left out stay as they are.
    #[tool(annotations(
        title = "Update task",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn update_task(
        &self,
        Parameters(args): Parameters<UpdateTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskChangeView>, ToolError> {
        let user = self.user(&ctx)?;
        let task_id = TaskId::parse(&args.task_id)?;
        let patch = parse_patch(args)?;
        let task = self.store.update(user, task_id, patch).await?;
        tracing::info!(%user, %task_id, "task updated");
        Ok(Json(TaskChangeView::new(ChangeStatus::Updated, &task)))
    }

    /// Delete a task for good. Returns the task as it was.
    #[tool(annotations(
        title = "Delete task",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn delete_task(
        &self,
        Parameters(args): Parameters<DeleteTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<Json<TaskChangeView>, ToolError> {
        let user = self.user(&ctx)?;
        let task_id = TaskId::parse(&args.task_id)?;
        let task = self.store.delete(user, task_id).await?;
        tracing::info!(%user, %task_id, "task deleted");
        Ok(Json(TaskChangeView::new(ChangeStatus::Deleted, &task)))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for TaskServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("todo-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Todo Agent tasks"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    /// Each call runs in a `tool` span tagged with the caller's request and conversation, when
    /// the call's `_meta.baggage` names them (the host's calls do).
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let baggage = request
            .meta
            .as_ref()
            .and_then(|meta| meta.get_baggage())
            .or_else(|| context.meta.get_baggage())
            .map(TraceContext::from_baggage)
            .unwrap_or_default();
        let span = baggage.span(&request.name);
        let call = ToolCallContext::new(self, request, context);
        let response = self.tool_router.call(call).instrument(span).await?;
        Ok(error::with_error_code(response))
    }
}

fn parse_new_task(args: AddTaskArgs) -> Result<NewTask, ValidationError> {
    Ok(NewTask {
        title: Title::parse(&args.title)?,
        description: args
            .description
            .as_deref()
            .map(Description::parse)
            .transpose()?
            .flatten(),
        priority: args
            .priority
            .as_deref()
            .map(str::parse)
            .transpose()?
            .unwrap_or_default(),
        due_at: args
            .due_at
            .as_deref()
            .map(DueAt::parse)
            .transpose()?
            .flatten(),
        tags: args
            .tags
            .as_deref()
            .map(Tags::parse)
            .transpose()?
            .unwrap_or_default(),
    })
}

fn parse_list_args(
    args: ListTasksArgs,
) -> Result<(ListFilter, PageSize, Option<Cursor>), ValidationError> {
    let filter = ListFilter {
        status: args
            .status
            .as_deref()
            .map(str::parse::<StatusFilter>)
            .transpose()?
            .unwrap_or_default(),
        query: args
            .query
            .as_deref()
            .map(SearchQuery::parse)
            .transpose()?
            .flatten(),
        priority: args
            .priority
            .as_deref()
            .map(str::parse::<Priority>)
            .transpose()?,
        tag: args.tag.as_deref().map(Tag::parse).transpose()?,
    };
    let size = PageSize::parse(args.limit)?;
    let cursor = args.cursor.as_deref().map(Cursor::decode).transpose()?;
    Ok((filter, size, cursor))
}

fn parse_patch(args: UpdateTaskArgs) -> Result<TaskPatch, ValidationError> {
    let patch = TaskPatch {
        title: args.title.as_deref().map(Title::parse).transpose()?,
        description: args
            .description
            .as_deref()
            .map(Description::parse)
            .transpose()?,
        priority: args
            .priority
            .as_deref()
            .map(str::parse::<Priority>)
            .transpose()?,
        due_at: args.due_at.as_deref().map(DueAt::parse).transpose()?,
        tags: args.tags.as_deref().map(Tags::parse).transpose()?,
    };
    if patch.is_empty() {
        return Err(ValidationError::EmptyUpdate);
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// Any JSON value a client can send in one field: strings of any characters (control
    /// characters, combining marks, right-to-left overrides, very long), numbers, booleans,
    /// arrays and objects.
    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            "\\PC{0,300}".prop_map(Value::from),
            any::<String>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
            proptest::collection::vec("\\PC{0,40}", 0..15).prop_map(Value::from),
            Just(json!({"nested": [1, "two"]})),
        ]
    }

    proptest! {
        /// Whatever arguments arrive, reading them into a tool's typed arguments and parsing
        /// those into domain values never panics: each is accepted or refused with an error.
        #[test]
        fn any_tool_arguments_are_parsed_without_panic(
            title in any_value(),
            description in any_value(),
            priority in any_value(),
            due_at in any_value(),
            tags in any_value(),
            limit in any_value(),
            cursor in any_value(),
        ) {
            let add = json!({"title": title, "description": description, "priority": priority,
                "due_at": due_at, "tags": tags});
            if let Ok(args) = serde_json::from_value::<AddTaskArgs>(add) {
                let _ = parse_new_task(args);
            }
            let list = json!({"status": title, "query": description, "priority": priority,
                "tag": due_at, "limit": limit, "cursor": cursor});
            if let Ok(args) = serde_json::from_value::<ListTasksArgs>(list) {
                let _ = parse_list_args(args);
            }
            let update = json!({"task_id": cursor, "title": title, "description": description,
                "priority": priority, "due_at": due_at, "tags": tags});
            if let Ok(args) = serde_json::from_value::<UpdateTaskArgs>(update) {
                let _ = TaskId::parse(&args.task_id);
                let _ = parse_patch(args);
            }
        }
    }
}
