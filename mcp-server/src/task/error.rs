//! Errors of the task domain.
//!
//! `ValidationError` is a client mistake (bad argument) and is shown to the caller as it is;
//! `TaskError::NotFound` reads the same for a missing task and another user's task;
//! `TaskError::Store` is an internal failure whose cause goes to the log only.

use sea_orm::DbErr;

use super::TaskId;

/// A value a client sent that the task domain does not accept.
///
/// The messages are written for the person or model that sent the value: they say what was
/// wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("title must not be empty")]
    TitleEmpty,
    #[error("title is {length} characters long; the limit is {max}", max = super::fields::TITLE_MAX_CHARS)]
    TitleTooLong { length: usize },
    #[error("title must not contain control characters such as line breaks")]
    TitleControlCharacter,
    #[error("description is {length} characters long; the limit is {max}", max = super::fields::DESCRIPTION_MAX_CHARS)]
    DescriptionTooLong { length: usize },
    #[error("description must not contain control characters other than line breaks and tabs")]
    DescriptionControlCharacter,
    #[error("priority {value:?} is not one of low, medium, high")]
    Priority { value: String },
    #[error("due_at {value:?} is not an RFC 3339 date-time such as 2026-05-01T17:00:00Z")]
    DueAt { value: String },
    #[error("{count} tags given; a task has at most {max}", max = super::fields::MAX_TAGS)]
    TooManyTags { count: usize },
    #[error("a tag must not be empty")]
    TagEmpty,
    #[error("tag {tag:?} is longer than {max} characters", max = super::fields::TAG_MAX_CHARS)]
    TagTooLong { tag: String },
    #[error("tag {tag:?} must not contain spaces, commas or control characters")]
    TagCharacter { tag: String },
    #[error(
        "task_id {value:?} is not a task id; task ids are UUIDs as returned by add_task and list_tasks"
    )]
    TaskId { value: String },
    #[error("status {value:?} is not one of all, pending, completed")]
    Status { value: String },
    #[error("limit {value} is out of range; use 1 to {max}", max = super::query::MAX_PAGE_SIZE)]
    Limit { value: i64 },
    #[error("cursor is not one this server issued; start again without a cursor")]
    Cursor,
    #[error("query is {length} characters long; the limit is {max}", max = super::query::QUERY_MAX_CHARS)]
    QueryTooLong { length: usize },
    #[error("query must not contain control characters")]
    QueryControlCharacter,
    #[error("nothing to update; give at least one of title, description, priority, due_at, tags")]
    EmptyUpdate,
}

/// Everything a task operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Also returned for another user's task, so ids of other users cannot be probed.
    #[error("no task with id {task_id} for this user")]
    NotFound { task_id: TaskId },
    /// Other writers kept changing the task while this update was applied.
    #[error("task {task_id} kept changing while it was being updated")]
    Contended { task_id: TaskId },
    #[error("task store failed")]
    Store(#[from] DbErr),
    /// The store is shutting down.
    #[error("task store is shutting down")]
    Unavailable,
}
