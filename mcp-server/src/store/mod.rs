//! `TaskStore`: every read and write of the task tables, always for one user.
//!
//! Each operation is one statement where it can be (add, get, list, complete, delete), so it is
//! atomic without an explicit transaction and costs one round trip; concurrent adds on a pool
//! share one multi-row `INSERT` (`add_queue`). The statements are built once, with SeaORM, and run
//! either on sqlx's pool or, for `todo-mcp stdio` on SQLite, on the serving thread (`local`).
//!
//! An update reads the task, then writes it only if it has not changed since (`updated_at`
//! unchanged), retrying on a concurrent change: no transaction ever upgrades a read lock to a
//! write lock, which on SQLite fails immediately instead of waiting.

mod add_queue;
mod entity;
mod local;
mod order;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    ExprTrait as _, Iterable as _, QueryFilter, QueryTrait as _, Select, Set, Statement,
    sea_query::{Expr, LikeExpr, Query, ReturningClause},
};

use crate::db::{DatabaseUrl, SqliteThread, build_up_to};
use crate::task::{
    Cursor, Description, ListFilter, NewTask, PageSize, Priority, StatusFilter, Tags, Task,
    TaskError, TaskId, TaskPage, TaskPatch, Title, UserId,
};
use add_queue::{AddError, AddQueue};
use entity::{task, task_tag};
use local::LocalSqlite;

/// How often an update is retried when the task keeps changing under it.
const UPDATE_ATTEMPTS: usize = 8;

/// The tasks of all users, in one database.
#[derive(Clone, Debug)]
pub struct TaskStore {
    tables: Tables,
}

/// Where the statements run.
#[derive(Clone, Debug)]
enum Tables {
    /// sqlx's pool: PostgreSQL, or SQLite in a process serving many clients.
    Pooled { db: DatabaseConnection, adds: Adds },
    /// SQLite on the caller's thread, for a process serving one client.
    Local(Arc<LocalSqlite>),
}

/// Where a pooled store's new tasks are written.
#[derive(Clone, Debug)]
enum Adds {
    /// Concurrent adds share one multi-row `INSERT` on the pool.
    Batched(AddQueue),
    /// Each add is one prepared `INSERT` on a connection of its own thread (SQLite), committed
    /// with whatever else is queued there.
    OnThread(SqliteThread),
}

impl TaskStore {
    /// A store on `db`'s pool. Must be called inside a tokio runtime: it starts the task that
    /// writes new tasks.
    pub fn new(db: DatabaseConnection) -> Self {
        let adds = Adds::Batched(AddQueue::start(db.clone()));
        Self {
            tables: Tables::Pooled { db, adds },
        }
    }

    /// A store on `db`'s pool whose new tasks are written on `thread`, a connection to the same
    /// SQLite file: for a server of many clients on SQLite, whose other writes share that thread
    /// (a host's chat turn), where a single-row insert on the thread costs less than sqlx's
    /// hand-offs and a batch would rarely hold more than one row.
    pub fn with_sqlite_thread(db: DatabaseConnection, thread: SqliteThread) -> Self {
        Self {
            tables: Tables::Pooled {
                db,
                adds: Adds::OnThread(thread),
            },
        }
    }

    /// The store for a process whose one thread serves one client (`todo-mcp stdio`): on a
    /// SQLite file its statements run on that thread (see `local`), otherwise on `db`'s pool.
    /// `db` is the pool the migrations ran on; a SQLite store keeps none of its connections.
    pub fn serving_one_client(url: &DatabaseUrl, db: DatabaseConnection) -> Result<Self, DbErr> {
        match LocalSqlite::open(url) {
            Some(local) => Ok(Self {
                tables: Tables::Local(Arc::new(local?)),
            }),
            None => Ok(Self::new(db)),
        }
    }

    /// Whether statements run on the caller's thread instead of a pool (for logs and tests).
    pub fn runs_on_serving_thread(&self) -> bool {
        matches!(self.tables, Tables::Local(_))
    }

    fn backend(&self) -> DbBackend {
        match &self.tables {
            Tables::Pooled { db, .. } => db.get_database_backend(),
            Tables::Local(_) => DbBackend::Sqlite,
        }
    }

    /// Runs a statement that answers task rows.
    async fn rows(&self, statement: Statement) -> Result<Vec<task::Model>, DbErr> {
        match &self.tables {
            Tables::Pooled { db, .. } => task::Entity::find().from_raw_sql(statement).all(db).await,
            Tables::Local(local) => local.query(statement),
        }
    }

    /// Runs a statement and answers how many rows it changed.
    async fn execute(&self, statement: Statement) -> Result<u64, DbErr> {
        match &self.tables {
            Tables::Pooled { db, .. } => Ok(db.execute_raw(statement).await?.rows_affected()),
            Tables::Local(local) => local.execute(statement),
        }
    }

    /// At most `limit` rows of `select`.
    async fn select_up_to(
        &self,
        select: Select<task::Entity>,
        limit: u64,
    ) -> Result<Vec<task::Model>, DbErr> {
        self.rows(build_up_to(select, limit, self.backend())).await
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
        let row = to_active_model(user, &task);
        match &self.tables {
            Tables::Pooled {
                adds: Adds::Batched(adds),
                ..
            } => match adds.add(row).await {
                Ok(()) => {}
                Err(AddError::Db(err)) => return Err(TaskError::Store(err)),
                Err(AddError::WriterGone) => return Err(TaskError::Unavailable),
            },
            Tables::Pooled {
                adds: Adds::OnThread(thread),
                ..
            } => {
                let insert = task::Entity::insert(row).build(DbBackend::Sqlite);
                thread.execute(insert).await.map_err(DbErr::from)?;
            }
            // One client, one call at a time: nothing to batch.
            Tables::Local(local) => {
                local.execute(task::Entity::insert(row).build(DbBackend::Sqlite))?;
            }
        }
        Ok(task)
    }

    pub async fn get(&self, user: UserId, task_id: TaskId) -> Result<Task, TaskError> {
        let select = task::Entity::find_by_id(task_id.as_uuid())
            .filter(task::Column::UserId.eq(user.as_uuid()));
        let row = self.select_up_to(select, 1).await?.into_iter().next();
        row.map(from_model).ok_or(TaskError::NotFound { task_id })
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
                        .take(),
                ),
            );
        }
        if let Some(cursor) = after {
            select = select.filter(order::after(cursor));
        }
        let size = usize::from(size.get());
        let mut rows = self
            .select_up_to(order::in_list_order(select), size as u64 + 1)
            .await?;
        let has_more = rows.len() > size;
        rows.truncate(size);

        let tasks: Vec<Task> = rows.into_iter().map(from_model).collect();
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
        let change = task::Entity::update_many()
            .col_expr(task::Column::Completed, Expr::value(completed))
            .col_expr(
                task::Column::CompletedAt,
                Expr::value(completed.then_some(now)),
            )
            .col_expr(task::Column::UpdatedAt, Expr::value(now))
            .filter(task::Column::Id.eq(task_id.as_uuid()))
            .filter(task::Column::UserId.eq(user.as_uuid()))
            .filter(task::Column::Completed.ne(completed))
            .into_query()
            .returning(every_column())
            .take();
        let changed = self.rows(self.backend().build(&change)).await?;
        match changed.into_iter().next() {
            Some(row) => Ok(from_model(row)),
            // Already in that state, or not this user's task.
            None => self.get(user, task_id).await,
        }
    }

    pub async fn update(
        &self,
        user: UserId,
        task_id: TaskId,
        patch: TaskPatch,
    ) -> Result<Task, TaskError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.get(user, task_id).await?;
            let seen = current.updated_at;
            let mut task = current;
            if let Some(title) = patch.title.clone() {
                task.title = title;
            }
            if let Some(description) = patch.description.clone() {
                task.description = description;
            }
            if let Some(priority) = patch.priority {
                task.priority = priority;
            }
            if let Some(due_at) = patch.due_at {
                task.due_at = due_at;
            }
            if let Some(tags) = patch.tags.clone() {
                task.tags = tags;
            }
            task.updated_at = Ord::max(now(), seen + chrono::Duration::microseconds(1));
            let write = task::Entity::update_many()
                .set(to_active_model(user, &task))
                .filter(task::Column::Id.eq(task_id.as_uuid()))
                .filter(task::Column::UserId.eq(user.as_uuid()))
                .filter(task::Column::UpdatedAt.eq(seen))
                .build(self.backend());
            if self.execute(write).await? == 1 {
                return Ok(task);
            }
        }
        Err(TaskError::Contended { task_id })
    }

    /// Deletes a task and answers what it was.
    pub async fn delete(&self, user: UserId, task_id: TaskId) -> Result<Task, TaskError> {
        let delete = task::Entity::delete_many()
            .filter(task::Column::Id.eq(task_id.as_uuid()))
            .filter(task::Column::UserId.eq(user.as_uuid()))
            .into_query()
            .returning(every_column())
            .take();
        let deleted = self.rows(self.backend().build(&delete)).await?;
        deleted
            .into_iter()
            .next()
            .map(from_model)
            .ok_or(TaskError::NotFound { task_id })
    }
}

/// The current time at the precision both databases keep (microseconds), so that what a write
/// returns equals what a later read returns.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// `RETURNING` every column of a task, in the entity's order.
fn every_column() -> ReturningClause {
    Query::returning().columns(task::Column::iter())
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

/// The case-folded text `list_tasks` searches; [`todo_migrations::text::fold`] is the one rule
/// for both databases, whose own case-insensitive matching differ.
fn search_text(title: &Title, description: Option<&Description>) -> String {
    // U+001F cannot occur in a title or a query, so no match can span title and description.
    let description = description.map_or("", Description::as_str);
    todo_migrations::text::fold(&format!("{}\u{1f}{}", title.as_str(), description))
}

fn to_active_model(user: UserId, task: &Task) -> task::ActiveModel {
    let tags: Vec<&str> = task.tags.iter().map(|tag| tag.as_str()).collect();
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
        tags: Set(serde_json::Value::from(tags).to_string()),
        created_at: Set(task.created_at),
        updated_at: Set(task.updated_at),
    }
}

fn from_model(row: task::Model) -> Task {
    let priority = Priority::from_rank(row.priority).unwrap_or_else(|| {
        tracing::warn!(task_id = %row.id, rank = row.priority, "unknown priority rank in the tasks table; reading it as medium");
        Priority::Medium
    });
    let tags = serde_json::from_str::<Vec<String>>(&row.tags).unwrap_or_else(|err| {
        tracing::warn!(task_id = %row.id, error = %err, "unreadable tags in the tasks table; reading them as none");
        Vec::new()
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
