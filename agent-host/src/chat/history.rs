//! The history sent to the model: the newest stored messages that fit a token budget, never a
//! tool result without the call it answers, never a call without its result.
//!
//! Tokens are estimated (four characters each, plus a little per message): the budget only
//! needs to keep requests well inside a model's context, not to count exactly.

use std::collections::HashSet;

use uuid::Uuid;

use super::{
    conversations::{ConversationError, ConversationStore, Role, StoredMessage},
    model::ChatMessage,
};

/// Stored messages are read newest first in pages of this many, until the budget is filled.
pub const HISTORY_PAGE_ROWS: u64 = 50;
/// The most stored messages a turn reads, however short they are.
pub const HISTORY_MAX_ROWS: usize = 250;
/// The estimated tokens of history sent with each request.
pub const HISTORY_TOKEN_BUDGET: usize = 6_000;

/// The newest stored messages up to `seq` `up_to`, in conversation order: enough to fill the
/// budget, never more than [`HISTORY_MAX_ROWS`]. Each page is one indexed query, so a conversation's length does
/// not change the cost.
pub async fn load(
    store: &ConversationStore,
    conversation_id: Uuid,
    up_to: i64,
) -> Result<Vec<StoredMessage>, ConversationError> {
    let mut rows: Vec<StoredMessage> = Vec::new();
    let mut tokens = 0;
    let mut before = Some(up_to.saturating_add(1));
    loop {
        let page = store
            .page(conversation_id, before, HISTORY_PAGE_ROWS)
            .await?;
        tokens += page.messages.iter().map(stored_cost).sum::<usize>();
        let mut older = page.messages;
        older.append(&mut rows);
        rows = older;
        match page.next_before {
            Some(next) if tokens < HISTORY_TOKEN_BUDGET && rows.len() < HISTORY_MAX_ROWS => {
                before = Some(next);
            }
            _ => return Ok(rows),
        }
    }
}

/// The estimated tokens of a stored message, as [`estimate`] counts them.
fn stored_cost(message: &StoredMessage) -> usize {
    let calls: usize = message
        .tool_calls
        .iter()
        .map(|call| call.name.len() + call.arguments.len() + call.id.len())
        .sum();
    let call_id = message.tool_call_id.as_deref().map_or(0, str::len);
    (message.content.len() + calls + call_id) / 4 + 4
}

/// Turns the newest stored messages (in conversation order) into the model's history.
pub fn to_history(stored: &[StoredMessage], budget: usize) -> Vec<ChatMessage> {
    let answered: HashSet<&str> = stored
        .iter()
        .filter_map(|message| message.tool_call_id.as_deref())
        .collect();
    let mut kept = Vec::new();
    let mut used = 0;
    let mut called: HashSet<String> = HashSet::new();
    // Newest first, so the budget drops the oldest; always keep the newest message (the
    // user's question).
    for message in stored.iter().rev() {
        let Some(converted) = convert(message, &answered) else {
            continue;
        };
        let cost = estimate(&converted);
        if !kept.is_empty() && used + cost > budget {
            break;
        }
        used += cost;
        if let ChatMessage::Assistant { tool_calls, .. } = &converted {
            called.extend(tool_calls.iter().map(|call| call.id.clone()));
        }
        kept.push(converted);
    }
    kept.reverse();
    // A result whose call fell outside the window would confuse the model (and be refused).
    kept.retain(|message| match message {
        ChatMessage::Tool { call_id, .. } => called.contains(call_id),
        _ => true,
    });
    kept
}

fn convert(message: &StoredMessage, answered: &HashSet<&str>) -> Option<ChatMessage> {
    match message.role {
        Role::User => Some(ChatMessage::User(message.content.clone())),
        Role::Assistant => {
            // Calls that never got a result (the reply was cut between them) are left out.
            let tool_calls: Vec<_> = message
                .tool_calls
                .iter()
                .filter(|call| answered.contains(call.id.as_str()))
                .cloned()
                .collect();
            (!message.content.is_empty() || !tool_calls.is_empty()).then(|| {
                ChatMessage::Assistant {
                    text: message.content.clone(),
                    tool_calls,
                }
            })
        }
        Role::Tool => Some(ChatMessage::Tool {
            call_id: message.tool_call_id.clone()?,
            tool_name: message.tool_name.clone().unwrap_or_default(),
            content: message.content.clone(),
            is_error: message.is_error.unwrap_or(false),
        }),
    }
}

/// Estimated tokens of one message.
pub fn estimate(message: &ChatMessage) -> usize {
    let chars = match message {
        ChatMessage::System(text) | ChatMessage::User(text) => text.len(),
        ChatMessage::Assistant { text, tool_calls } => {
            text.len()
                + tool_calls
                    .iter()
                    .map(|call| call.name.len() + call.arguments.len() + call.id.len())
                    .sum::<usize>()
        }
        ChatMessage::Tool {
            content, call_id, ..
        } => content.len() + call_id.len(),
    };
    chars / 4 + 4
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::chat::{conversations::MessageStatus, model::ToolCall};

    fn stored(seq: i64, role: Role, content: &str) -> StoredMessage {
        StoredMessage {
            id: Uuid::now_v7(),
            seq,
            role,
            content: content.to_owned(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: None,
            status: MessageStatus::Complete,
            created_at: Utc::now(),
            summary: None,
        }
    }

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.to_owned(),
            name: "list_tasks".to_owned(),
            arguments: "{}".to_owned(),
        }
    }

    fn result(seq: i64, call_id: &str) -> StoredMessage {
        StoredMessage {
            tool_call_id: Some(call_id.to_owned()),
            tool_name: Some("list_tasks".to_owned()),
            ..stored(seq, Role::Tool, "{\"tasks\":[]}")
        }
    }

    #[test]
    fn the_budget_keeps_the_newest_messages_in_order() {
        let messages: Vec<_> = (1..=100)
            .map(|seq| stored(seq, Role::User, &"x".repeat(400)))
            .collect();
        let history = to_history(&messages, 1_000);
        assert!(
            history.len() < 100 && history.len() > 5,
            "{}",
            history.len()
        );
        assert_eq!(history.last(), Some(&ChatMessage::User("x".repeat(400))));
    }

    #[test]
    fn the_newest_message_is_kept_even_over_budget() {
        let messages = vec![stored(1, Role::User, &"x".repeat(100_000))];
        assert_eq!(to_history(&messages, 10).len(), 1);
    }

    #[test]
    fn a_result_never_arrives_without_its_call() {
        let mut assistant = stored(2, Role::Assistant, "");
        assistant.tool_calls = vec![call("c1")];
        let messages = vec![
            stored(1, Role::User, "what is open?"),
            assistant,
            result(3, "c1"),
            stored(4, Role::Assistant, "nothing"),
            stored(5, Role::User, &"y".repeat(40)),
        ];
        // A budget that cuts between the call and its result drops the orphaned result.
        let cost_of_last_three: usize = to_history(&messages[2..], usize::MAX)
            .iter()
            .map(estimate)
            .sum();
        let history = to_history(&messages, cost_of_last_three);
        assert!(
            !history
                .iter()
                .any(|message| matches!(message, ChatMessage::Tool { .. })),
            "{history:?}"
        );
        // With room, the call and its result travel together.
        let history = to_history(&messages, usize::MAX);
        assert_eq!(history.len(), 5);
    }

    #[test]
    fn calls_without_results_are_dropped_from_a_cut_reply() {
        let mut assistant = stored(2, Role::Assistant, "Let me look.");
        assistant.tool_calls = vec![call("never-answered")];
        assistant.status = MessageStatus::Cancelled;
        let history = to_history(&[stored(1, Role::User, "hi"), assistant], usize::MAX);
        assert_eq!(
            history[1],
            ChatMessage::Assistant {
                text: "Let me look.".to_owned(),
                tool_calls: Vec::new()
            }
        );
    }
}
