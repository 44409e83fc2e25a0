//! View models: what each template shows, built from the host's types. Askama escapes every
//! value written into the HTML, so text from users can never become markup.

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, Utc};

use crate::{
    assets::Assets,
    host::{
        ChatItem, ChatPage, ChatRole, ConversationItem, FormErrors, Priority, Task, TaskFilter,
        TaskInput, TaskPage, WebUser,
    },
    markdown,
};

#[derive(Template)]
#[template(path = "signin.html")]
pub struct SignInPage {
    pub assets: Arc<Assets>,
    pub email: String,
    pub errors: FormErrors,
}

#[derive(Template)]
#[template(path = "signup.html")]
pub struct SignUpPage {
    pub assets: Arc<Assets>,
    pub email: String,
    pub name: String,
    pub errors: FormErrors,
}

/// The tasks page, with the chat sidebar.
#[derive(Template)]
#[template(path = "tasks.html")]
pub struct TasksPage {
    pub assets: Arc<Assets>,
    pub user_id: String,
    pub user_label: String,
    pub conversations: Vec<ConversationItem>,
    pub filter: FilterView,
    pub add: AddForm,
    pub rows: Vec<TaskRow>,
    /// The query string of the next page, when there is one.
    pub more: Option<String>,
    pub list_error: Option<String>,
}

/// The rows of a list (an htmx swap, or the next page).
#[derive(Template)]
#[template(path = "tasks/_rows.html")]
pub struct RowsFragment {
    pub rows: Vec<TaskRow>,
    pub more: Option<String>,
}

/// One row.
#[derive(Template)]
#[template(path = "tasks/_row.html")]
pub struct RowFragment {
    pub row: TaskRow,
}

/// The add form, with what the user typed and why it was refused.
#[derive(Template)]
#[template(path = "tasks/_add.html")]
pub struct AddFragment {
    pub add: AddForm,
}

/// A row being edited.
#[derive(Template)]
#[template(path = "tasks/_edit.html")]
pub struct EditFragment {
    pub edit: EditForm,
}

/// The edit form as a page of its own, for browsers without JavaScript.
#[derive(Template)]
#[template(path = "task_edit.html")]
pub struct EditPage {
    pub assets: Arc<Assets>,
    pub edit: EditForm,
}

/// The filters as the form shows them.
#[derive(Debug, Clone, Default)]
pub struct FilterView {
    pub status: String,
    pub priority: String,
    pub tag: String,
    pub query: String,
}

impl FilterView {
    pub fn from_filter(filter: &TaskFilter) -> Self {
        Self {
            status: filter.status.clone().unwrap_or_else(|| "all".to_owned()),
            priority: filter.priority.clone().unwrap_or_default(),
            tag: filter.tag.clone().unwrap_or_default(),
            query: filter.query.clone().unwrap_or_default(),
        }
    }

    /// The query string that lists the same tasks from `cursor` on.
    pub fn next_page_query(&self, cursor: &str) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("status", self.status.as_str()),
            ("priority", self.priority.as_str()),
            ("tag", self.tag.as_str()),
            ("q", self.query.as_str()),
        ] {
            if !value.is_empty() {
                query.append_pair(key, value);
            }
        }
        query.append_pair("cursor", cursor);
        query.finish()
    }
}

/// The add form's values.
#[derive(Debug, Clone, Default)]
pub struct AddForm {
    pub title: String,
    pub priority: String,
    pub due_local: String,
    pub tags: String,
    pub errors: FormErrors,
}

impl AddForm {
    pub fn empty() -> Self {
        Self {
            priority: "medium".to_owned(),
            ..Self::default()
        }
    }
}

/// The edit form's values.
#[derive(Debug, Clone, Default)]
pub struct EditForm {
    pub id: String,
    pub title: String,
    pub description: String,
    pub priority: String,
    /// `YYYY-MM-DDTHH:MM` in UTC; the page's script moves it to the browser's zone.
    pub due_local: String,
    pub due_utc: String,
    pub tags: String,
    pub errors: FormErrors,
}

impl EditForm {
    pub fn of(task: &Task) -> Self {
        let due = task.due_at.map(datetime_local).unwrap_or_default();
        Self {
            id: task.id.to_string(),
            title: task.title.clone(),
            description: task.description.clone().unwrap_or_default(),
            priority: task.priority.as_str().to_owned(),
            due_local: due.clone(),
            due_utc: due,
            tags: task.tags.join(", "),
            errors: FormErrors::default(),
        }
    }

    /// The form again, as the user sent it, with the reasons it was refused.
    pub fn refused(id: String, input: &TaskInput, due_local: String, errors: FormErrors) -> Self {
        Self {
            id,
            title: input.title.clone(),
            description: input.description.clone(),
            priority: input.priority.clone(),
            due_local,
            due_utc: String::new(),
            tags: input.tags.join(", "),
            errors,
        }
    }
}

/// A task as a row shows it.
#[derive(Debug, Clone)]
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    pub priority: &'static str,
    pub due: Option<DueView>,
    pub tags: Vec<String>,
}

/// A due date: the instant for the page's script, and a UTC text for browsers without one.
#[derive(Debug, Clone)]
pub struct DueView {
    pub iso: String,
    pub utc_text: String,
    pub overdue: bool,
}

impl TaskRow {
    pub fn of(task: &Task, now: DateTime<Utc>) -> Self {
        Self {
            id: task.id.to_string(),
            title: task.title.clone(),
            description: task.description.clone(),
            completed: task.completed,
            priority: match task.priority {
                Priority::Low => "low",
                Priority::Medium => "medium",
                Priority::High => "high",
            },
            due: task.due_at.map(|due| DueView {
                iso: due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                utc_text: due.format("%a %-d %b %Y, %H:%M UTC").to_string(),
                overdue: !task.completed && due < now,
            }),
            tags: task.tags.clone(),
        }
    }
}

/// The rows of a page of tasks, and the next page's query.
pub fn rows_of(page: &TaskPage, filter: &FilterView, now: DateTime<Utc>) -> RowsFragment {
    RowsFragment {
        rows: page
            .tasks
            .iter()
            .map(|task| TaskRow::of(task, now))
            .collect(),
        more: page
            .next_cursor
            .as_deref()
            .map(|cursor| filter.next_page_query(cursor)),
    }
}

/// How a signed-in person is named at the top of the page.
pub fn user_label(user: &WebUser) -> String {
    match &user.name {
        Some(name) => format!("{name} ({})", user.email),
        None => user.email.clone(),
    }
}

/// `2026-12-05T17:00`, the value of a `datetime-local` input, in UTC.
fn datetime_local(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M").to_string()
}

/// A page of the sidebar's messages.
#[derive(Template)]
#[template(path = "chat/_messages.html")]
pub struct MessagesFragment {
    pub lines: Vec<ChatLine>,
    pub next_before: Option<i64>,
}

/// The conversation picker's options.
#[derive(Template)]
#[template(path = "chat/_options.html")]
pub struct OptionsFragment {
    pub conversations: Vec<ConversationItem>,
}

/// A message as the sidebar shows it.
#[derive(Debug, Clone)]
pub struct ChatLine {
    pub id: String,
    pub seq: i64,
    pub role: &'static str,
    /// A user's words, or a tool's sentence: escaped by the template.
    pub text: String,
    /// An assistant reply, as sanitized HTML.
    pub html: String,
    pub is_error: bool,
    pub partial: bool,
}

impl MessagesFragment {
    pub fn of(page: ChatPage) -> Self {
        Self {
            lines: page.items.into_iter().map(ChatLine::of).collect(),
            next_before: page.next_before,
        }
    }
}

impl ChatLine {
    fn of(item: ChatItem) -> Self {
        let (role, text, html) = match item.role {
            ChatRole::User => ("user", item.text, String::new()),
            ChatRole::Assistant => ("assistant", String::new(), markdown::render(&item.text)),
            ChatRole::Tool => (
                "tool",
                item.summary
                    .unwrap_or_else(|| "Used a task tool".to_owned()),
                String::new(),
            ),
        };
        Self {
            id: item.id.to_string(),
            seq: item.seq,
            role,
            text,
            html,
            is_error: item.is_error,
            partial: item.partial,
        }
    }
}
