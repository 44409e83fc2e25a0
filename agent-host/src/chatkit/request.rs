//! A ChatKit request body read and checked before anything is done: the envelope's type, then
//! its params, then the values in them (ids, page sizes, titles, the message's text). Kept
//! apart from serving them, so that everything a client can send is checked in one place and
//! property-tested without a database.

use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

use super::{
    error::ChatKitError,
    items::ItemId,
    protocol::{
        AddUserMessage, CreateThread, Envelope, FeedbackKind, InputContent, ItemFeedback,
        ListItems, ListThreads, Order, RetryAfterItem, ThreadRef, UpdateThread, UserMessageInput,
    },
};
use crate::chat::{ChatError, TurnInput, conversations::Feedback};

/// Threads or items per page when the client names no limit (the SDK's own default).
pub const PAGE_DEFAULT: usize = 20;
/// The largest page a client may ask for.
pub const PAGE_MAX: usize = 100;
/// The longest thread title, in characters.
pub const TITLE_MAX_CHARS: usize = 200;

/// The request types this host serves (the OpenAPI document lists them).
pub const HANDLED: &[&str] = &[
    "threads.create",
    "threads.add_user_message",
    "threads.retry_after_item",
    "threads.get_by_id",
    "threads.list",
    "items.list",
    "threads.update",
    "threads.delete",
    "items.feedback",
];

/// Request types of ChatKit's protocol that this host does not serve: attachments,
/// transcription, widgets' actions and client-side tools are not part of the product.
const UNSUPPORTED: &[&str] = &[
    "threads.add_client_tool_output",
    "threads.add_structured_input",
    "threads.custom_action",
    "threads.sync_custom_action",
    "attachments.create",
    "attachments.delete",
    "input.transcribe",
];

const BAD_AFTER: &str =
    "The after cursor must be the id of an item of this thread, as a page gave it.";

/// A request this host serves, its values checked.
#[derive(Debug)]
pub enum ChatKitRequest {
    /// `threads.create` (no thread yet), `threads.add_user_message` and
    /// `threads.retry_after_item`: a turn, answered with a stream.
    Turn {
        thread: Option<Uuid>,
        input: TurnInput,
    },
    GetThread {
        thread: Uuid,
    },
    ListThreads {
        page: PageRequest,
        /// The id of the last thread of the page before.
        after: Option<Uuid>,
    },
    ListItems {
        thread: Uuid,
        page: PageRequest,
        /// The last item of the page before; where it stands is looked up in the thread.
        after: Option<ItemId>,
    },
    Rename {
        thread: Uuid,
        title: String,
    },
    Delete {
        thread: Uuid,
    },
    Feedback {
        thread: Uuid,
        messages: Vec<Uuid>,
        feedback: Feedback,
    },
}

/// How much of a list, in which order.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: usize,
    pub newest_first: bool,
}

impl ChatKitRequest {
    /// Reads a request body; a 4xx with ChatKit's error shape when it is not one this host
    /// serves.
    pub fn read(body: &[u8]) -> Result<Self, ChatKitError> {
        let envelope: Envelope = serde_json::from_slice(body).map_err(|err| {
            ChatKitError::bad_request(format!(
                "The body is not a ChatKit request ({{\"type\", \"params\"}}): {err}."
            ))
        })?;
        let kind = envelope.kind.as_str();
        Ok(match kind {
            "threads.create" => {
                let CreateThread { input } = params(kind, envelope.params)?;
                ChatKitRequest::Turn {
                    thread: None,
                    input: TurnInput::Message(message_text(input)?),
                }
            }
            "threads.add_user_message" => {
                let AddUserMessage { thread_id, input } = params(kind, envelope.params)?;
                ChatKitRequest::Turn {
                    thread: Some(thread_uuid(&thread_id)?),
                    input: TurnInput::Message(message_text(input)?),
                }
            }
            "threads.retry_after_item" => {
                let RetryAfterItem { thread_id, item_id } = params(kind, envelope.params)?;
                let thread = thread_uuid(&thread_id)?;
                // Only a message can be retried after; a workflow item is not one.
                let Some(ItemId::Message(message)) = ItemId::parse(&item_id) else {
                    return Err(ChatKitError::not_found("No such message in this thread."));
                };
                ChatKitRequest::Turn {
                    thread: Some(thread),
                    input: TurnInput::Retry { of: Some(message) },
                }
            }
            "threads.get_by_id" => {
                let ThreadRef { thread_id } = params(kind, envelope.params)?;
                ChatKitRequest::GetThread {
                    thread: thread_uuid(&thread_id)?,
                }
            }
            "threads.list" => {
                let ListThreads {
                    limit,
                    order,
                    after,
                } = params(kind, envelope.params)?;
                let after = after
                    .map(|after| Uuid::try_parse(&after))
                    .transpose()
                    .map_err(|_| ChatKitError::bad_request(BAD_AFTER))?;
                ChatKitRequest::ListThreads {
                    page: page_request(limit, order)?,
                    after,
                }
            }
            "items.list" => {
                let ListItems {
                    thread_id,
                    limit,
                    order,
                    after,
                } = params(kind, envelope.params)?;
                let after = after
                    .map(|after| ItemId::parse(&after).ok_or_else(bad_after))
                    .transpose()?;
                ChatKitRequest::ListItems {
                    thread: thread_uuid(&thread_id)?,
                    page: page_request(limit, order)?,
                    after,
                }
            }
            "threads.update" => {
                let UpdateThread { thread_id, title } = params(kind, envelope.params)?;
                ChatKitRequest::Rename {
                    thread: thread_uuid(&thread_id)?,
                    title: thread_title(&title)?,
                }
            }
            "threads.delete" => {
                let ThreadRef { thread_id } = params(kind, envelope.params)?;
                ChatKitRequest::Delete {
                    thread: thread_uuid(&thread_id)?,
                }
            }
            "items.feedback" => {
                let ItemFeedback {
                    thread_id,
                    item_ids,
                    kind,
                } = params(kind, envelope.params)?;
                // One statement updates them all: a bounded number of ids.
                if item_ids.len() > PAGE_MAX {
                    return Err(ChatKitError::bad_request(format!(
                        "Feedback takes at most {PAGE_MAX} items at a time."
                    )));
                }
                let messages = item_ids
                    .iter()
                    .map(|id| ItemId::parse(id).map(ItemId::message))
                    .collect::<Option<Vec<Uuid>>>()
                    .ok_or_else(no_such_item)?;
                ChatKitRequest::Feedback {
                    thread: thread_uuid(&thread_id)?,
                    messages,
                    feedback: match kind {
                        FeedbackKind::Positive => Feedback::Positive,
                        FeedbackKind::Negative => Feedback::Negative,
                    },
                }
            }
            other if UNSUPPORTED.contains(&other) => {
                return Err(ChatKitError::bad_request(format!(
                    "This server does not handle ChatKit's {other} requests: it takes messages, \
                     retries, thread changes and feedback, no attachments, actions or client tools."
                )));
            }
            other => {
                return Err(ChatKitError::bad_request(format!(
                    "{other:?} is not a ChatKit request type."
                )));
            }
        })
    }
}

/// The request's params as `T`; ChatKit requires them, even as `{}`.
fn params<T: DeserializeOwned>(kind: &str, params: Option<Value>) -> Result<T, ChatKitError> {
    let params = params
        .ok_or_else(|| ChatKitError::bad_request(format!("A {kind} request needs its params.")))?;
    serde_json::from_value(params).map_err(|err| {
        ChatKitError::bad_request(format!("The params of a {kind} request are wrong: {err}."))
    })
}

/// The text of a message: its text and tag parts as written, under the text it quotes.
fn message_text(input: UserMessageInput) -> Result<String, ChatKitError> {
    if !input.attachments.is_empty() {
        return Err(ChatKitError::bad_request(
            "This server takes no attachments; send the message as text.",
        ));
    }
    let mut text: String = input
        .content
        .into_iter()
        .map(|part| match part {
            InputContent::Text { text } | InputContent::Tag { text } => text,
        })
        .collect();
    if let Some(quoted) = input.quoted_text.filter(|quoted| !quoted.trim().is_empty()) {
        let quoted: String = quoted.lines().map(|line| format!("> {line}\n")).collect();
        text = format!("{quoted}\n{text}");
    }
    Ok(text)
}

/// A thread id; one that cannot be an id reads like a missing thread.
pub fn thread_uuid(thread_id: &str) -> Result<Uuid, ChatKitError> {
    Uuid::try_parse(thread_id).map_err(|_| no_such_thread())
}

fn thread_title(raw: &str) -> Result<String, ChatKitError> {
    let title = todo_migrations::text::nfc(raw.trim());
    let title = title.trim();
    if todo_migrations::text::is_blank(title) {
        return Err(ChatKitError::invalid("The title must not be empty."));
    }
    if title.chars().any(char::is_control) {
        return Err(ChatKitError::invalid(
            "The title must not contain control characters.",
        ));
    }
    if title.chars().count() > TITLE_MAX_CHARS {
        return Err(ChatKitError::invalid(format!(
            "The title must be at most {TITLE_MAX_CHARS} characters."
        )));
    }
    Ok(title.to_owned())
}

fn page_request(limit: Option<i64>, order: Order) -> Result<PageRequest, ChatKitError> {
    let limit = match limit {
        None => PAGE_DEFAULT,
        Some(limit) if (1..=PAGE_MAX as i64).contains(&limit) => limit as usize,
        Some(_) => {
            return Err(ChatKitError::bad_request(format!(
                "The limit must be between 1 and {PAGE_MAX}."
            )));
        }
    };
    Ok(PageRequest {
        limit,
        newest_first: order == Order::Desc,
    })
}

pub fn bad_after() -> ChatKitError {
    ChatKitError::bad_request(BAD_AFTER)
}

pub fn no_such_thread() -> ChatKitError {
    ChatKitError::from(ChatError::NoSuchConversation)
}

pub fn no_such_item() -> ChatKitError {
    ChatKitError::not_found("No such item in this thread.")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Map, json};

    use super::*;

    fn read(value: Value) -> Result<ChatKitRequest, ChatKitError> {
        ChatKitRequest::read(value.to_string().as_bytes())
    }

    #[test]
    fn a_message_is_its_parts_under_the_text_it_quotes() {
        let request = read(json!({"type": "threads.add_user_message", "params": {
            "thread_id": uuid::Uuid::nil().to_string(),
            "input": {"content": [{"type": "input_text", "text": "move "},
                                  {"type": "input_tag", "text": "call mum"}],
                      "attachments": [], "quoted_text": "a\nb", "inference_options": {}},
        }}));
        let Ok(ChatKitRequest::Turn {
            thread: Some(_),
            input: TurnInput::Message(text),
        }) = request
        else {
            panic!("a message: {request:?}");
        };
        assert_eq!(text, "> a\n> b\n\nmove call mum");
    }

    #[test]
    fn bad_values_are_refused_with_a_sentence() {
        let thread = uuid::Uuid::nil().to_string();
        for (body, expected) in [
            (
                json!({"type": "threads.list", "params": {"limit": 0}}),
                "The limit must be between",
            ),
            (
                json!({"type": "threads.list", "params": {"after": "x"}}),
                "The after cursor must be",
            ),
            (
                json!({"type": "threads.update", "params": {"thread_id": thread, "title": " \u{200b} "}}),
                "The title must not be empty",
            ),
            (
                json!({"type": "threads.retry_after_item", "params": {"thread_id": thread, "item_id": format!("wf_{thread}")}}),
                "No such message",
            ),
            (json!({"type": "threads.get_by_id"}), "needs its params"),
            (
                json!({"type": "items.feedback", "params": {"thread_id": thread, "item_ids": vec![thread.clone(); 101], "kind": "positive"}}),
                "at most 100 items",
            ),
            (
                json!({"type": "attachments.create", "params": {}}),
                "does not handle",
            ),
            (
                json!({"type": "threads.explode", "params": {}}),
                "is not a ChatKit request type",
            ),
        ] {
            let err = read(body.clone()).expect_err(&body.to_string());
            assert!(err.message().contains(expected), "{body}: {err:?}");
        }
    }

    #[test]
    fn every_handled_type_is_read() {
        for kind in HANDLED {
            // Empty params: read (a list) or refused for a missing field, never as a type it
            // does not know or serve.
            if let Err(err) = read(json!({"type": kind, "params": {}})) {
                assert!(err.message().contains("params"), "{kind}: {err:?}");
            }
        }
    }

    /// JSON built from the names ChatKit's params use, so that generated requests get past the
    /// envelope into every field's own check.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,40}".prop_map(Value::from),
            Just(Value::from(uuid::Uuid::nil().to_string())),
            Just(Value::from(format!("wf_{}", uuid::Uuid::nil()))),
            prop_oneof![
                Just("asc"),
                Just("desc"),
                Just("positive"),
                Just("input_text")
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::vec((field_name(), inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    fn field_name() -> impl Strategy<Value = String> {
        proptest::sample::select(vec![
            "input",
            "content",
            "attachments",
            "quoted_text",
            "inference_options",
            "type",
            "text",
            "thread_id",
            "item_id",
            "item_ids",
            "limit",
            "order",
            "after",
            "title",
            "kind",
        ])
        .prop_map(str::to_owned)
    }

    fn request_type() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select([HANDLED, UNSUPPORTED].concat()).prop_map(str::to_owned),
            "\\PC{0,20}",
        ]
    }

    proptest! {
        /// No body, however broken, makes reading it panic.
        #[test]
        fn any_body_is_read_or_refused(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ChatKitRequest::read(&body);
        }

        /// Any params of any type are read or refused with a client error, never a panic.
        #[test]
        fn any_params_are_read_or_refused(kind in request_type(), params in json_value()) {
            if let Err(err) = read(json!({"type": kind, "params": params})) {
                prop_assert!(err.status().is_client_error(), "{err:?}");
            }
        }
    }
}
