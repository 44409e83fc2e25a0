//! The host's stored messages as ChatKit thread items, and the pages of them.
//!
//! A thread is a conversation and keeps its id. A user message is a `user_message` item and an
//! assistant message with text an `assistant_message` item, each with the message's id. The
//! tool calls of an assistant message are one `workflow` item, `wf_<message id>`, with a task
//! per call titled by the call's stored summary; tool results are not items of their own. The
//! stream names what it sends by the same ids ([`super::stream`]), so what a client saw streamed
//! is what it reads back, and any frontend continues any conversation.

use todo_mcp::tools::dto::format_instant;
use uuid::Uuid;

use super::protocol::{Item, ItemBody, OutputText, StatusIndicator, Task, UserText, Workflow};
use crate::chat::{
    conversations::{ConversationError, ConversationStore, Role, StoredMessage},
    model::ToolCall,
};

/// The prefix of a workflow item's id.
const WORKFLOW_PREFIX: &str = "wf_";
/// Stored messages read per query while a page of items is gathered.
const READ_BATCH: u64 = 50;

/// An item's id, read back from a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemId {
    /// A user or assistant message's text.
    Message(Uuid),
    /// The tool calls of an assistant message.
    Workflow(Uuid),
}

impl ItemId {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.strip_prefix(WORKFLOW_PREFIX) {
            Some(id) => Uuid::try_parse(id).ok().map(ItemId::Workflow),
            None => Uuid::try_parse(raw).ok().map(ItemId::Message),
        }
    }

    /// The stored message the item shows.
    pub fn message(self) -> Uuid {
        match self {
            ItemId::Message(id) | ItemId::Workflow(id) => id,
        }
    }

    /// Where the item stands among the items of its message: text first, then the calls.
    fn slot(self) -> u8 {
        match self {
            ItemId::Message(_) => 0,
            ItemId::Workflow(_) => 1,
        }
    }
}

impl std::fmt::Display for ItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemId::Message(id) => write!(f, "{id}"),
            ItemId::Workflow(id) => write!(f, "{WORKFLOW_PREFIX}{id}"),
        }
    }
}

/// The task a ChatKit UI shows for a running tool call: what it does.
pub fn running_task(tool_name: &str) -> Task {
    Task {
        title: running_title(tool_name),
        icon: None,
        status_indicator: StatusIndicator::Loading,
    }
}

/// The task of a tool call that returned: the sentence every frontend shows for it.
pub fn finished_task(summary: &str, is_error: bool) -> Task {
    Task {
        title: summary.to_owned(),
        icon: (!is_error).then_some("check"),
        status_indicator: StatusIndicator::Complete,
    }
}

fn running_title(tool_name: &str) -> String {
    match tool_name {
        "add_task" => "Adding a task".to_owned(),
        "list_tasks" => "Looking at your tasks".to_owned(),
        "get_task" => "Reading a task".to_owned(),
        "complete_task" => "Completing a task".to_owned(),
        "update_task" => "Changing a task".to_owned(),
        "delete_task" => "Deleting a task".to_owned(),
        other => format!("Calling {other}"),
    }
}

pub fn user_item(thread_id: &str, id: Uuid, created_at: String, text: String) -> Item {
    Item {
        id: ItemId::Message(id).to_string(),
        thread_id: thread_id.to_owned(),
        created_at,
        body: ItemBody::User {
            content: vec![UserText { text }],
            attachments: Vec::new(),
            inference_options: Default::default(),
        },
    }
}

pub fn assistant_item(thread_id: &str, id: Uuid, created_at: String, text: String) -> Item {
    Item {
        id: ItemId::Message(id).to_string(),
        thread_id: thread_id.to_owned(),
        created_at,
        body: ItemBody::Assistant {
            content: if text.is_empty() {
                Vec::new()
            } else {
                vec![OutputText::new(text)]
            },
        },
    }
}

pub fn workflow_item(thread_id: &str, id: Uuid, created_at: String, tasks: Vec<Task>) -> Item {
    Item {
        id: ItemId::Workflow(id).to_string(),
        thread_id: thread_id.to_owned(),
        created_at,
        body: ItemBody::Workflow {
            workflow: Workflow {
                tasks,
                expanded: false,
            },
        },
    }
}

/// An item with where it stands in the thread: its message's `seq`, then its slot.
struct Placed {
    at: (i64, u8),
    item: Item,
}

/// The items of stored messages in conversation order. A tool result goes to the task of the
/// nearest earlier message that made its call; a call with no result yet shows as running.
fn items_of(thread_id: &str, messages: &[StoredMessage]) -> Vec<Placed> {
    let mut placed = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let created_at = format_instant(message.created_at);
        match message.role {
            Role::Tool => {}
            Role::User => placed.push(Placed {
                at: (message.seq, 0),
                item: user_item(thread_id, message.id, created_at, message.content.clone()),
            }),
            Role::Assistant => {
                if !message.content.is_empty() || message.tool_calls.is_empty() {
                    placed.push(Placed {
                        at: (message.seq, 0),
                        item: assistant_item(
                            thread_id,
                            message.id,
                            created_at.clone(),
                            message.content.clone(),
                        ),
                    });
                }
                if !message.tool_calls.is_empty() {
                    let results = &messages[index + 1..];
                    let tasks = message
                        .tool_calls
                        .iter()
                        .map(|call| task_of(call, results))
                        .collect();
                    placed.push(Placed {
                        at: (message.seq, 1),
                        item: workflow_item(thread_id, message.id, created_at, tasks),
                    });
                }
            }
        }
    }
    placed
}

/// The task of `call`, with the first result for it among the messages after its own.
fn task_of(call: &ToolCall, later: &[StoredMessage]) -> Task {
    let result = later
        .iter()
        .take_while(|message| message.role == Role::Tool)
        .find(|message| message.tool_call_id.as_deref() == Some(call.id.as_str()));
    match result {
        Some(message) => finished_task(
            message.summary.as_deref().unwrap_or(""),
            message.is_error.unwrap_or(false),
        ),
        // Never returned (the turn was cut): what it was doing, without a spinner.
        None => Task {
            status_indicator: StatusIndicator::None,
            ..running_task(&call.name)
        },
    }
}

/// A page of a thread's items.
pub struct ItemPage {
    pub items: Vec<Item>,
    pub has_more: bool,
}

/// Up to `limit` items of the conversation after the item `after` (exclusive), oldest or
/// newest first. Reads the stored messages in batches from the cursor on, so a long
/// conversation costs no more than a short one.
pub async fn page(
    store: &ConversationStore,
    conversation_id: Uuid,
    after: Option<(i64, ItemId)>,
    limit: usize,
    newest_first: bool,
) -> Result<ItemPage, ConversationError> {
    let thread_id = conversation_id.to_string();
    let cursor = after.map(|(seq, id)| (seq, id.slot()));
    let past_cursor = |at: (i64, u8)| match cursor {
        None => true,
        Some(cursor) if newest_first => at < cursor,
        Some(cursor) => at > cursor,
    };
    // Messages read so far, in conversation order.
    let mut messages: Vec<StoredMessage> = Vec::new();
    let mut exhausted = false;
    loop {
        let placed: Vec<Placed> = items_of(&thread_id, &messages)
            .into_iter()
            .filter(|placed| past_cursor(placed.at))
            .collect();
        // Newest first: a workflow's results lie after it, and everything after the cursor was
        // read first. Oldest first: the last item's results may follow in the next batch, so
        // one item more than the page is read before it is cut.
        if exhausted || placed.len() > limit {
            let mut items: Vec<Item> = placed.into_iter().map(|placed| placed.item).collect();
            if newest_first {
                items.reverse();
            }
            let has_more = items.len() > limit;
            items.truncate(limit);
            return Ok(ItemPage { items, has_more });
        }
        if newest_first {
            let before = match messages.first() {
                Some(oldest) => oldest.seq,
                None => cursor.map_or(i64::MAX, |(seq, _)| seq.saturating_add(1)),
            };
            let batch = store
                .page(conversation_id, Some(before), READ_BATCH)
                .await?;
            exhausted = batch.next_before.is_none();
            let mut older = batch.messages;
            older.append(&mut messages);
            messages = older;
        } else {
            let from = match messages.last() {
                Some(newest) => newest.seq + 1,
                None => cursor.map_or(0, |(seq, _)| seq),
            };
            let batch = store.page_from(conversation_id, from, READ_BATCH).await?;
            exhausted = (batch.len() as u64) < READ_BATCH;
            messages.extend(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_read_back_as_written() {
        let id = Uuid::now_v7();
        for item in [ItemId::Message(id), ItemId::Workflow(id)] {
            assert_eq!(ItemId::parse(&item.to_string()), Some(item));
        }
        assert_eq!(ItemId::parse("wf_nope"), None);
        assert_eq!(ItemId::parse("msg_1"), None);
        assert_eq!(ItemId::parse(""), None);
    }

    proptest::proptest! {
        /// Any id a client sends is read or refused, never a panic.
        #[test]
        fn any_item_id_is_read_or_refused(raw in "\\PC{0,80}") {
            let _ = ItemId::parse(&raw);
        }
    }
}
