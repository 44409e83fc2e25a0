//! The task domain: validated field types, the task itself, and the requests the store accepts.
//!
//! Everything here is constructed through `parse`/`TryFrom`, so the store and the tools can trust a
//! value once they hold it.

mod cursor;
mod error;
mod fields;
mod ids;
mod query;

use chrono::{DateTime, Utc};

pub use cursor::Cursor;
pub use error::{TaskError, ValidationError};
pub use fields::{Description, DueAt, Priority, Tag, Tags, Title};
pub use ids::{TaskId, UserId};
pub use query::{ListFilter, PageSize, SearchQuery, StatusFilter};

/// A task as stored, always read for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: TaskId,
    pub title: Title,
    pub description: Option<Description>,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub priority: Priority,
    pub due_at: Option<DateTime<Utc>>,
    pub tags: Tags,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What `add_task` asks the store to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    pub title: Title,
    pub description: Option<Description>,
    pub priority: Priority,
    pub due_at: Option<DateTime<Utc>>,
    pub tags: Tags,
}

/// A partial update: `None` leaves a field as it is.
///
/// `description` and `due_at` are doubly optional because they can be cleared:
/// `Some(None)` removes the value.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub title: Option<Title>,
    pub description: Option<Option<Description>>,
    pub priority: Option<Priority>,
    pub due_at: Option<Option<DateTime<Utc>>>,
    pub tags: Option<Tags>,
}

impl TaskPatch {
    /// True when the patch would change nothing, which callers report as a mistake.
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_none()
            && self.priority.is_none()
            && self.due_at.is_none()
            && self.tags.is_none()
    }
}

/// One page of tasks and the cursor of the next page, if there is one.
#[derive(Debug, Clone)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<Cursor>,
}
