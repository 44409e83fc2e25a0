//! `TaskStore`: every read and write of the task tables, always for one user.
//!
//! Writes that depend on the current row start by touching that row (`lock_task`), so the
//! transaction takes the write lock before it reads: on SQLite this avoids the deadlock of two
//! readers upgrading to writers, and on PostgreSQL it serialises concurrent updates of one task.

mod entity;
mod order;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    ExprTrait as _, QueryFilter, QuerySelect, Set, TransactionTrait,
    sea_query::{Expr, LikeExpr, Query},
};
use uuid::Uuid;

use crate::task::{
    Cursor, Description, ListFilter, NewTask, PageSize, Priority, StatusFilter, Tags, Task,
    TaskError, TaskId, TaskPage, TaskPatch, Title, UserId,
};
use entity::{task, task_tag};

/// The tasks of all users, in one database.
#[derive(Clone, Debug)]
pub struct TaskStore {
    db: DatabaseConnection,
}

impl TaskStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The connection, for health checks.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn add(&self, user: UserId, new: NewTask) -> Result<Task, TaskError> {
        let now = now();
        let task = Task {
            id: TaskId::generate(),
            title: new.title,
            description: new.description,
            completed: false,
            completed_at: None,
            priority: new.priority,
            due_at: new.due_at,
            tags: new.tags,
            created_at: now,
            updated_at: now,
        };
        let txn = self.db.begin().await?;
        task::Entity::insert(to_active_model(user, &task))
            .exec_without_returning(&txn)
            .await?;
        insert_tags(&txn, user, task.id, &task.tags).await?;
        txn.commit().await?;
        Ok(task)
    }

    pub async fn get(&self, user: UserId, task_id: TaskId) -> Result<Task, TaskError> {
        load_task(&self.db, user, task_id).await
    }

    /// One page of the user's tasks in list order: open before done, then by due date (none
    /// last), then priority high to low, then id.
    pub async fn list(
        &self,
        user: UserId,
        filter: &ListFilter,
        size: PageSize,
        after: Option<&Cursor>,
    ) -> Result<TaskPage, TaskError> {
        let mut select = task::Entity::find().filter(task::Column::UserId.eq(user.as_uuid()));
        select = match filter.status {
            StatusFilter::All => select,
            StatusFilter::Pending => select.filter(task::Column::Completed.eq(false)),
            StatusFilter::Completed => select.filter(task::Column::Completed.eq(true)),
        };
        if let Some(query) = &filter.query {
            let pattern = format!("%{}%", escape_like(query.needle()));
            select = select.filter(
                Expr::col(task::Column::SearchText).like(LikeExpr::new(pattern).escape('\\')),
            );
        }
        if let Some(priority) = filter.priority {
            select = select.filter(task::Column::Priority.eq(priority.rank()));
        }
        if let Some(tag) = &filter.tag {
            select = select.filter(
                task::Column::Id.in_subquery(
                    Query::select()
                        .column(task_tag::Column::TaskId)
                        .from(task_tag::Entity)
                        .and_where(task_tag::Column::UserId.eq(user.as_uuid()))
                        .and_where(task_tag::Column::Tag.eq(tag.as_str()))
                        .to_owned(),
                ),
            );
        }
        if let Some(cursor) = after {
            select = select.filter(order::after(cursor));
        }
        let size = usize::from(size.get());
        let mut rows = order::in_list_order(select)
            .limit(Some(size as u64 + 1))
            .all(&self.db)
            .await?;
        let has_more = rows.len() > size;
        rows.truncate(size);

        let mut tags = load_tags(&self.db, rows.iter().map(|it| it.id)).await?;
        let tasks: Vec<Task> = rows
            .into_iter()
            .map(|row| {
                let row_tags = tags.remove(&row.id).unwrap_or_default();
                from_model(row, row_tags)
            })
            .collect();
        let next_cursor = if has_more {
            tasks.last().map(|last| Cursor {
                completed: last.completed,
                due_at: last.due_at,
                priority: last.priority,
                id: last.id,
            })
        } else {
            None
        };
        Ok(TaskPage { tasks, next_cursor })
    }

    /// Completes or reopens a task. Doing it twice changes nothing the second time.
    pub async fn set_completed(
        &self,
        user: UserId,
        task_id: TaskId,
        completed: bool,
    ) -> Result<Task, TaskError> {
        let now = now();
        let txn = self.db.begin().await?;
        task::Entity::update_many()
            .col_expr(task::Column::Completed, Expr::value(completed))
            .col_expr(
                task::Column::CompletedAt,
                Expr::value(completed.then_some(now)),
            )
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(task_id.as_uuid()))
            .filter(task::Column::UserId.eq(user.as_uuid()))
            .filter(task::Column::Completed.ne(completed))
            .exec(&txn)
            .await?;
        let task = load_task(&txn, user, task_id).await?;
        txn.commit().await?;
        Ok(task)
    }

    pub async fn update(
        &self,
        user: UserId,
        task_id: TaskId,
        patch: TaskPatch,
    ) -> Result<Task, TaskError> {
        let txn = self.db.begin().await?;
        let now = lock_task(&txn, user, task_id).await?;
        let mut task = load_task(&txn, user, task_id).await?;
        if let Some(title) = patch.title {
            task.title = title;
        }
        if let Some(description) = patch.description {
            task.description = description;
        }
        if let Some(priority) = patch.priority {
            task.priority = priority;
        }
        if let Some(due_at) = patch.due_at {
            task.due_at = due_at;
        }
        task.updated_at = now;
        to_active_model(user, &task).update(&txn).await?;
        if let Some(tags) = patch.tags {
            delete_tags(&txn, task_id).await?;
            insert_tags(&txn, user, task_id, &tags).await?;
            task.tags = tags;
        }
        txn.commit().await?;
        Ok(task)
    }

    /// Deletes a task and answers what it was.
    pub async fn delete(&self, user: UserId, task_id: TaskId) -> Result<Task, TaskError> {
        let txn = self.db.begin().await?;
        lock_task(&txn, user, task_id).await?;
        let task = load_task(&txn, user, task_id).await?;
        delete_tags(&txn, task_id).await?;
        task::Entity::delete_many()
            .filter(task::Column::Id.eq(task_id.as_uuid()))
            .filter(task::Column::UserId.eq(user.as_uuid()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(task)
    }
}

/// The current time at the precision both databases keep (microseconds), so that what a write
/// returns equals what a later read returns.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Takes the row's write lock by bumping `updated_at`; answers the new time, or `NotFound`.
async fn lock_task(
    db: &impl ConnectionTrait,
    user: UserId,
    task_id: TaskId,
) -> Result<DateTime<Utc>, TaskError> {
    let now = now();
    let touched = task::Entity::update_many()
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .filter(task::Column::Id.eq(task_id.as_uuid()))
        .filter(task::Column::UserId.eq(user.as_uuid()))
        .exec(db)
        .await?;
    if touched.rows_affected == 0 {
        return Err(TaskError::NotFound { task_id });
    }
    Ok(now)
}

async fn load_task(
    db: &impl ConnectionTrait,
    user: UserId,
    task_id: TaskId,
) -> Result<Task, TaskError> {
    let row = task::Entity::find_by_id(task_id.as_uuid())
        .filter(task::Column::UserId.eq(user.as_uuid()))
        .one(db)
        .await?
        .ok_or(TaskError::NotFound { task_id })?;
    let tags = load_tags(db, [row.id])
        .await?
        .remove(&row.id)
        .unwrap_or_default();
    Ok(from_model(row, tags))
}

async fn load_tags(
    db: &impl ConnectionTrait,
    task_ids: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Vec<String>>, TaskError> {
    let task_ids: Vec<Uuid> = task_ids.into_iter().collect();
    if task_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = task_tag::Entity::find()
        .filter(task_tag::Column::TaskId.is_in(task_ids))
        .all(db)
        .await?;
    let mut by_task: HashMap<Uuid, Vec<String>> = HashMap::new();
    for row in rows {
        by_task.entry(row.task_id).or_default().push(row.tag);
    }
    Ok(by_task)
}

async fn insert_tags(
    db: &impl ConnectionTrait,
    user: UserId,
    task_id: TaskId,
    tags: &Tags,
) -> Result<(), TaskError> {
    if tags.is_empty() {
        return Ok(());
    }
    let rows = tags.iter().map(|tag| task_tag::ActiveModel {
        task_id: Set(task_id.as_uuid()),
        tag: Set(tag.as_str().to_owned()),
        user_id: Set(user.as_uuid()),
    });
    task_tag::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

async fn delete_tags(db: &impl ConnectionTrait, task_id: TaskId) -> Result<(), TaskError> {
    task_tag::Entity::delete_many()
        .filter(task_tag::Column::TaskId.eq(task_id.as_uuid()))
        .exec(db)
        .await?;
    Ok(())
}

/// Escapes `LIKE` wildcards so that `%` and `_` in a query match themselves.
fn escape_like(needle: &str) -> String {
    let mut escaped = String::with_capacity(needle.len());
    for c in needle.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn search_text(title: &Title, description: Option<&Description>) -> String {
    // U+001F cannot occur in a title or a query, so no match can span title and description.
    let description = description.map_or("", Description::as_str);
    format!("{}\u{1f}{}", title.as_str(), description).to_lowercase()
}

fn to_active_model(user: UserId, task: &Task) -> task::ActiveModel {
    task::ActiveModel {
        id: Set(task.id.as_uuid()),
        user_id: Set(user.as_uuid()),
        title: Set(task.title.as_str().to_owned()),
        description: Set(task.description.as_ref().map(|it| it.as_str().to_owned())),
        search_text: Set(search_text(&task.title, task.description.as_ref())),
        completed: Set(task.completed),
        completed_at: Set(task.completed_at),
        priority: Set(task.priority.rank()),
        due_at: Set(task.due_at),
        created_at: Set(task.created_at),
        updated_at: Set(task.updated_at),
    }
}

fn from_model(row: task::Model, tags: Vec<String>) -> Task {
    let priority = Priority::from_rank(row.priority).unwrap_or_else(|| {
        tracing::warn!(task_id = %row.id, rank = row.priority, "unknown priority rank in the tasks table; reading it as medium");
        Priority::Medium
    });
    Task {
        id: TaskId::from_uuid(row.id),
        title: Title::from_stored(row.title),
        description: row.description.map(Description::from_stored),
        completed: row.completed,
        completed_at: row.completed_at,
        priority,
        due_at: row.due_at,
        tags: Tags::from_stored(tags),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("milk"), "milk");
    }
}
