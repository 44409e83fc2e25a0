//! ChatKit's wire types, as the official `openai-chatkit` server (1.6.5) reads and writes them
//! (`docs/reference/chatkit-protocol.md`): the request envelope and the params of the requests
//! this endpoint serves, and the threads, items, pages and stream events it answers with.
//!
//! Only what this endpoint uses is here. Fields whose value is absent are left out, as the
//! SDK's `exclude_none` does; defaults (`"attachments": []`, `"metadata": {}`) are written.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The header a ChatKit app's `fetch` sets to the user's time zone (an IANA name or a UTC
/// offset), for relative dates; UTC without it. ChatKit's requests carry no time zone.
pub const TIME_ZONE_HEADER: &str = "x-time-zone";

/// Every request: `{"type", "params", "metadata"?}`. The params are read once the type is
/// known, so that a bad one is named in the error.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub params: Option<Value>,
}

/// `threads.create`.
#[derive(Debug, Deserialize)]
pub struct CreateThread {
    pub input: UserMessageInput,
}

/// `threads.add_user_message`.
#[derive(Debug, Deserialize)]
pub struct AddUserMessage {
    pub thread_id: String,
    pub input: UserMessageInput,
}

/// `threads.retry_after_item`: answer the user message `item_id` again.
#[derive(Debug, Deserialize)]
pub struct RetryAfterItem {
    pub thread_id: String,
    pub item_id: String,
}

/// `threads.get_by_id` and `threads.delete`.
#[derive(Debug, Deserialize)]
pub struct ThreadRef {
    pub thread_id: String,
}

/// `threads.list`.
#[derive(Debug, Deserialize)]
pub struct ListThreads {
    pub limit: Option<i64>,
    #[serde(default)]
    pub order: Order,
    pub after: Option<String>,
}

/// `items.list`.
#[derive(Debug, Deserialize)]
pub struct ListItems {
    pub thread_id: String,
    pub limit: Option<i64>,
    #[serde(default)]
    pub order: Order,
    pub after: Option<String>,
}

/// `threads.update`.
#[derive(Debug, Deserialize)]
pub struct UpdateThread {
    pub thread_id: String,
    pub title: String,
}

/// `items.feedback`.
#[derive(Debug, Deserialize)]
pub struct ItemFeedback {
    pub thread_id: String,
    pub item_ids: Vec<String>,
    pub kind: FeedbackKind,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    #[default]
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackKind {
    Positive,
    Negative,
}

/// What the user typed: text parts and tags (an `@mention` is sent as its text).
#[derive(Debug, Deserialize)]
pub struct UserMessageInput {
    pub content: Vec<InputContent>,
    /// Ids of uploaded attachments; this server takes none.
    pub attachments: Vec<String>,
    pub quoted_text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
pub enum InputContent {
    #[serde(rename = "input_text")]
    Text { text: String },
    #[serde(rename = "input_tag")]
    Tag { text: String },
}

/// A thread: one of the host's conversations.
#[derive(Debug, Serialize)]
pub struct Thread {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub created_at: String,
    pub status: ThreadStatus,
    pub metadata: Map<String, Value>,
    pub items: Page<Item>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ThreadStatus {
    Active,
}

/// A page of threads or items; `after` is the id to pass for the next one.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self {
            data: Vec::new(),
            has_more: false,
            after: None,
        }
    }
}

/// A thread item: a stored message, or the tool calls of one.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: String,
    pub thread_id: String,
    pub created_at: String,
    #[serde(flatten)]
    pub body: ItemBody,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type")]
pub enum ItemBody {
    #[serde(rename = "user_message")]
    User {
        content: Vec<UserText>,
        attachments: Vec<Value>,
        inference_options: Map<String, Value>,
    },
    #[serde(rename = "assistant_message")]
    Assistant { content: Vec<OutputText> },
    #[serde(rename = "workflow")]
    Workflow { workflow: Workflow },
}

/// The text of a user message.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename = "input_text")]
pub struct UserText {
    pub text: String,
}

/// Text of the assistant.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename = "output_text")]
pub struct OutputText {
    pub text: String,
    pub annotations: Vec<Value>,
}

impl OutputText {
    pub fn new(text: String) -> Self {
        Self {
            text,
            annotations: Vec::new(),
        }
    }
}

/// The tool calls of one model step, one task each.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename = "custom")]
pub struct Workflow {
    pub tasks: Vec<Task>,
    pub expanded: bool,
}

/// One tool call, as a ChatKit UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "custom")]
pub struct Task {
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<&'static str>,
    pub status_indicator: StatusIndicator,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusIndicator {
    None,
    Loading,
    Complete,
}

/// One `data:` line of a stream (`ThreadStreamEvent`).
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum StreamEvent {
    #[serde(rename = "thread.created")]
    ThreadCreated { thread: Thread },
    #[serde(rename = "thread.item.added")]
    ItemAdded { item: Item },
    #[serde(rename = "thread.item.updated")]
    ItemUpdated { item_id: String, update: ItemUpdate },
    #[serde(rename = "thread.item.done")]
    ItemDone { item: Item },
    #[serde(rename = "stream_options")]
    StreamOptions { stream_options: StreamOptions },
    #[serde(rename = "client_effect")]
    ClientEffect {
        name: &'static str,
        data: Map<String, Value>,
    },
    #[serde(rename = "error")]
    Error(ErrorEvent),
}

#[derive(Debug, Serialize)]
pub struct StreamOptions {
    pub allow_cancel: bool,
}

/// ChatKit's error: in a stream, and as the body of this endpoint's 4xx answers.
#[derive(Debug, Serialize)]
pub struct ErrorEvent {
    /// Always `custom`: the message is ours.
    pub code: &'static str,
    pub message: String,
    pub allow_retry: bool,
}

impl ErrorEvent {
    pub fn new(message: String, allow_retry: bool) -> Self {
        Self {
            code: "custom",
            message,
            allow_retry,
        }
    }
}

/// The `update` of `thread.item.updated`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum ItemUpdate {
    #[serde(rename = "assistant_message.content_part.added")]
    ContentPartAdded {
        content_index: usize,
        content: OutputText,
    },
    #[serde(rename = "assistant_message.content_part.text_delta")]
    TextDelta { content_index: usize, delta: String },
    #[serde(rename = "assistant_message.content_part.done")]
    ContentPartDone {
        content_index: usize,
        content: OutputText,
    },
    #[serde(rename = "workflow.task.added")]
    TaskAdded { task_index: usize, task: Task },
    #[serde(rename = "workflow.task.updated")]
    TaskUpdated { task_index: usize, task: Task },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_event_is_chatkits_shape() {
        let event = StreamEvent::Error(ErrorEvent::new("Try again.".to_owned(), true));
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "type": "error", "code": "custom", "message": "Try again.", "allow_retry": true
            })
        );
    }

    #[test]
    fn items_carry_their_type_beside_their_fields() {
        let item = Item {
            id: "m1".to_owned(),
            thread_id: "t1".to_owned(),
            created_at: "2026-12-04T10:00:00.000000Z".to_owned(),
            body: ItemBody::Workflow {
                workflow: Workflow {
                    tasks: vec![Task {
                        title: "Added task 'milk'".to_owned(),
                        icon: Some("check"),
                        status_indicator: StatusIndicator::Complete,
                    }],
                    expanded: false,
                },
            },
        };
        assert_eq!(
            serde_json::to_value(&item).unwrap(),
            serde_json::json!({
                "id": "m1", "thread_id": "t1", "created_at": "2026-12-04T10:00:00.000000Z",
                "type": "workflow",
                "workflow": {"type": "custom", "expanded": false, "tasks": [{
                    "type": "custom", "title": "Added task 'milk'", "icon": "check",
                    "status_indicator": "complete"
                }]}
            })
        );
    }
}
