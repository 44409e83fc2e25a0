//! `/api/{user_id}/tasks`: the task API, a frontend over the MCP task tools.
//!
//! Each request opens an MCP session for the caller, converts the request into tool arguments
//! and the tool result into the response; nothing else happens here.

use chrono::{DateTime, Utc};
use poem::middleware::ReqId;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use todo_mcp::tools::{
    ToolName,
    dto::{
        AddTaskArgs, CompleteTaskArgs, DeleteTaskArgs, GetTaskArgs, ListTasksArgs, PriorityView,
        TaskChangeView, TaskListView, TaskView, UpdateTaskArgs,
    },
    trace::TraceContext,
};
use uuid::Uuid;

use super::{
    error::{ApiError, ErrorResponse},
    tags::ApiTags,
    text::{Text, strings},
    timestamp::Timestamp,
};
use crate::{
    auth::Auth,
    tasks::{TaskGateway, TaskSession},
};

/// The task routes: a frontend over the MCP task tools.
pub struct TaskApi {
    pub tasks: TaskGateway,
}

/// `PATCH` named no field to change.
#[derive(Debug, thiserror::Error)]
#[error(
    "nothing to change; give at least one of title, description, priority, due_at, tags, completed"
)]
pub struct NothingToChange;

/// A task.
#[derive(Debug, Object)]
#[oai(rename = "Task")]
pub struct TaskBody {
    pub id: Uuid,
    pub title: String,
    #[oai(nullable)]
    pub description: Option<String>,
    pub completed: bool,
    #[oai(nullable)]
    pub completed_at: Option<Timestamp>,
    pub priority: Priority,
    #[oai(nullable)]
    pub due_at: Option<Timestamp>,
    /// Lower case, sorted.
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// How urgent a task is.
#[derive(Debug, Clone, Copy, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Medium,
    High,
}

/// One page of tasks.
#[derive(Debug, Object)]
pub struct TaskPage {
    pub tasks: Vec<TaskBody>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Option<String>,
}

/// A new task. Values are checked by the task server; a bad one gets 422 saying which.
#[derive(Debug, Object)]
pub struct NewTask {
    /// 1 to 200 characters.
    pub title: Text,
    /// Up to 4,000 characters.
    pub description: Option<Text>,
    /// `low`, `medium` (default) or `high`.
    pub priority: Option<Text>,
    /// RFC 3339 with an offset, e.g. `2026-05-01T17:00:00+02:00`.
    pub due_at: Option<Text>,
    /// Up to 10 tags of 1 to 32 characters, without spaces.
    pub tags: Option<Vec<Text>>,
}

/// Changes to a task; fields left out stay as they are.
#[derive(Debug, Object)]
pub struct TaskChanges {
    pub title: Option<Text>,
    /// `""` removes the description.
    pub description: Option<Text>,
    pub priority: Option<Text>,
    /// `""` removes the due date.
    pub due_at: Option<Text>,
    /// The complete new set of tags; `[]` removes them all.
    pub tags: Option<Vec<Text>>,
    /// `true` completes the task, `false` reopens it.
    pub completed: Option<bool>,
}

#[derive(ApiResponse)]
pub enum CreatedTask {
    /// The task was created.
    #[oai(status = 201)]
    Created(Json<TaskBody>),
}

#[derive(ApiResponse)]
pub enum DeletedTask {
    /// The task was deleted.
    #[oai(status = 204)]
    Deleted,
}

#[OpenApi(tag = "ApiTags::Tasks")]
impl TaskApi {
    /// List tasks: open first, then by due date (none last), priority (high first) and id.
    /// Filters combine.
    #[oai(path = "/:user_id/tasks", method = "get")]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per query parameter"
    )]
    async fn list(
        &self,
        request_id: ReqId,
        auth: Auth,
        user_id: Path<Uuid>,
        /// `all` (default), `pending` or `completed`.
        status: Query<Option<String>>,
        /// Case-insensitive text in the title or description.
        q: Query<Option<String>>,
        /// `low`, `medium` or `high`.
        priority: Query<Option<String>>,
        /// Only tasks with this tag.
        tag: Query<Option<String>>,
        /// 1 to 200; 50 by default.
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<TaskPage>, ErrorResponse> {
        let session = self.session(&auth, *user_id, &request_id).await?;
        let args = ListTasksArgs {
            status: status.0,
            query: q.0,
            priority: priority.0,
            tag: tag.0,
            limit: limit.0,
            cursor: cursor.0,
        };
        let page: TaskListView = session
            .call(ToolName::ListTasks, &args)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(TaskPage {
            tasks: page
                .tasks
                .into_iter()
                .map(TaskBody::try_from)
                .collect::<Result<_, _>>()?,
            next_cursor: page.next_cursor,
        }))
    }

    /// Create a task.
    #[oai(path = "/:user_id/tasks", method = "post")]
    async fn create(
        &self,
        request_id: ReqId,
        auth: Auth,
        user_id: Path<Uuid>,
        body: Json<NewTask>,
    ) -> Result<CreatedTask, ErrorResponse> {
        let session = self.session(&auth, *user_id, &request_id).await?;
        let NewTask {
            title,
            description,
            priority,
            due_at,
            tags,
        } = body.0;
        let args = AddTaskArgs {
            title: title.into_string(),
            description: description.map(Text::into_string),
            priority: priority.map(Text::into_string),
            due_at: due_at.map(Text::into_string),
            tags: strings(tags),
        };
        let change: TaskChangeView = session
            .call(ToolName::AddTask, &args)
            .await
            .map_err(ApiError::from)?;
        Ok(CreatedTask::Created(Json(change.task.try_into()?)))
    }

    /// Get one task.
    #[oai(path = "/:user_id/tasks/:task_id", method = "get")]
    async fn get(
        &self,
        request_id: ReqId,
        auth: Auth,
        user_id: Path<Uuid>,
        task_id: Path<Uuid>,
    ) -> Result<Json<TaskBody>, ErrorResponse> {
        let session = self.session(&auth, *user_id, &request_id).await?;
        let args = GetTaskArgs {
            task_id: task_id.0.to_string(),
        };
        let task: TaskView = session
            .call(ToolName::GetTask, &args)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(task.try_into()?))
    }

    /// Change a task; `completed` completes or reopens it.
    #[oai(path = "/:user_id/tasks/:task_id", method = "patch")]
    async fn update(
        &self,
        request_id: ReqId,
        auth: Auth,
        user_id: Path<Uuid>,
        task_id: Path<Uuid>,
        body: Json<TaskChanges>,
    ) -> Result<Json<TaskBody>, ErrorResponse> {
        let session = self.session(&auth, *user_id, &request_id).await?;
        let TaskChanges {
            title,
            description,
            priority,
            due_at,
            tags,
            completed,
        } = body.0;
        let task_id = task_id.0.to_string();
        let edits = UpdateTaskArgs {
            task_id: task_id.clone(),
            title: title.map(Text::into_string),
            description: description.map(Text::into_string),
            priority: priority.map(Text::into_string),
            due_at: due_at.map(Text::into_string),
            tags: strings(tags),
        };
        let has_edits = edits.title.is_some()
            || edits.description.is_some()
            || edits.priority.is_some()
            || edits.due_at.is_some()
            || edits.tags.is_some();
        if !has_edits && completed.is_none() {
            return Err(ApiError::invalid(NothingToChange).into());
        }
        // Edits first: when they are invalid, the completion is not applied either.
        let mut latest = None;
        if has_edits {
            let change: TaskChangeView = session
                .call(ToolName::UpdateTask, &edits)
                .await
                .map_err(ApiError::from)?;
            latest = Some(change.task);
        }
        if let Some(completed) = completed {
            let args = CompleteTaskArgs {
                task_id,
                completed: Some(completed),
            };
            let change: TaskChangeView = session
                .call(ToolName::CompleteTask, &args)
                .await
                .map_err(ApiError::from)?;
            latest = Some(change.task);
        }
        let task = latest.ok_or_else(|| ApiError::invalid(NothingToChange))?;
        Ok(Json(task.try_into()?))
    }

    /// Delete a task.
    #[oai(path = "/:user_id/tasks/:task_id", method = "delete")]
    async fn delete(
        &self,
        request_id: ReqId,
        auth: Auth,
        user_id: Path<Uuid>,
        task_id: Path<Uuid>,
    ) -> Result<DeletedTask, ErrorResponse> {
        let session = self.session(&auth, *user_id, &request_id).await?;
        let args = DeleteTaskArgs {
            task_id: task_id.0.to_string(),
        };
        let _: TaskChangeView = session
            .call(ToolName::DeleteTask, &args)
            .await
            .map_err(ApiError::from)?;
        Ok(DeletedTask::Deleted)
    }
}

impl TaskApi {
    /// Checks that the caller is `user_id` and opens an MCP session for them.
    async fn session(
        &self,
        auth: &Auth,
        user_id: Uuid,
        request_id: &ReqId,
    ) -> Result<TaskSession, ApiError> {
        let user = auth.require(user_id)?;
        let trace = TraceContext {
            request_id: Some(request_id.to_string()),
            conversation_id: None,
        };
        Ok(self.tasks.open(user).await?.with_trace(trace))
    }
}

impl TryFrom<TaskView> for TaskBody {
    type Error = ErrorResponse;

    fn try_from(task: TaskView) -> Result<Self, Self::Error> {
        fn time(raw: &str) -> Result<Timestamp, ApiError> {
            DateTime::parse_from_rfc3339(raw)
                .map(|it| Timestamp(it.with_timezone(&Utc)))
                .map_err(ApiError::internal)
        }
        Ok(TaskBody {
            id: Uuid::try_parse(&task.id).map_err(ApiError::internal)?,
            title: task.title,
            description: task.description,
            completed: task.completed,
            completed_at: task.completed_at.as_deref().map(time).transpose()?,
            priority: match task.priority {
                PriorityView::Low => Priority::Low,
                PriorityView::Medium => Priority::Medium,
                PriorityView::High => Priority::High,
            },
            due_at: task.due_at.as_deref().map(time).transpose()?,
            tags: task.tags,
            created_at: time(&task.created_at)?,
            updated_at: time(&task.updated_at)?,
        })
    }
}
