//! A chat turn's events as ChatKit's thread stream events.
//!
//! The turn is the one every frontend runs ([`crate::chat::ChatService::start_turn`]); this
//! only renders its events. Text streams as an `assistant_message` item (added, a content part,
//! a `text_delta` per chunk, the part done, the item done); a step's tool calls as a `workflow`
//! item with a task per call, updated when each returns; after a call that changed tasks, a
//! `tasks_changed` client effect, so a frontend can refresh its list. Items are named by the
//! ids their messages are stored under ([`super::items`]).

use chrono::Utc;
use serde_json::{Map, Value};
use todo_mcp::tools::dto::format_instant;
use uuid::Uuid;

use super::{
    items::{assistant_item, finished_task, running_task, workflow_item},
    protocol::{ErrorEvent, ItemUpdate, OutputText, StatusIndicator, StreamEvent, Task},
};
use crate::chat::events::{ChatEvent, TurnEvent};

/// The client effect sent after a tool call changed the user's tasks.
pub const TASKS_CHANGED: &str = "tasks_changed";

/// The tools whose success changes the task list.
fn changes_tasks(tool_name: &str) -> bool {
    matches!(
        tool_name,
        "add_task" | "complete_task" | "update_task" | "delete_task"
    )
}

/// The assistant message being streamed.
struct OpenText {
    id: Uuid,
    created_at: String,
    text: String,
}

/// The workflow of the current step's tool calls.
struct OpenWorkflow {
    id: Uuid,
    created_at: String,
    /// The call id of each task, in order.
    calls: Vec<String>,
    tasks: Vec<Task>,
}

/// Renders one turn's events; holds what is open between them.
pub struct TurnRenderer {
    thread_id: String,
    /// The message the current step's text and calls are stored as.
    step: Uuid,
    text: Option<OpenText>,
    workflow: Option<OpenWorkflow>,
}

impl TurnRenderer {
    pub fn new(thread_id: Uuid) -> Self {
        Self {
            thread_id: thread_id.to_string(),
            step: Uuid::nil(),
            text: None,
            workflow: None,
        }
    }

    /// The ChatKit events for one event of the turn.
    pub fn render(&mut self, event: TurnEvent) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        match event {
            TurnEvent::NextStep { message_id } => {
                self.close(&mut out);
                self.step = message_id;
            }
            TurnEvent::Chat(ChatEvent::Start(start)) => self.step = start.message_id,
            TurnEvent::Chat(ChatEvent::Chunk(chunk)) => self.text(chunk.content, &mut out),
            TurnEvent::Chat(ChatEvent::ToolCall(call)) => {
                self.close_text(&mut out);
                self.call(call.call_id, &call.tool_name, &mut out);
            }
            TurnEvent::Chat(ChatEvent::ToolResult(result)) => {
                self.result(&result.call_id, &result.summary, result.is_error, &mut out);
                if !result.is_error && changes_tasks(&result.tool_name) {
                    let mut data = Map::new();
                    data.insert("tool_name".to_owned(), Value::String(result.tool_name));
                    out.push(StreamEvent::ClientEffect {
                        name: TASKS_CHANGED,
                        data,
                    });
                }
            }
            TurnEvent::Chat(ChatEvent::Done(_)) => self.close(&mut out),
            TurnEvent::Chat(ChatEvent::Error(error)) => {
                // What was streamed is stored; the client keeps it as a finished item.
                self.close(&mut out);
                out.push(StreamEvent::Error(ErrorEvent::new(
                    error.message,
                    error.retryable,
                )));
            }
        }
        out
    }

    fn text(&mut self, delta: String, out: &mut Vec<StreamEvent>) {
        self.close_workflow(out);
        if self.text.is_none() {
            let open = OpenText {
                id: self.step,
                created_at: now(),
                text: String::new(),
            };
            out.push(StreamEvent::ItemAdded {
                item: assistant_item(
                    &self.thread_id,
                    open.id,
                    open.created_at.clone(),
                    String::new(),
                ),
            });
            out.push(StreamEvent::ItemUpdated {
                item_id: open.id.to_string(),
                update: ItemUpdate::ContentPartAdded {
                    content_index: 0,
                    content: OutputText::new(String::new()),
                },
            });
            self.text = Some(open);
        }
        if let Some(open) = &mut self.text {
            open.text.push_str(&delta);
            out.push(StreamEvent::ItemUpdated {
                item_id: open.id.to_string(),
                update: ItemUpdate::TextDelta {
                    content_index: 0,
                    delta,
                },
            });
        }
    }

    fn call(&mut self, call_id: String, tool_name: &str, out: &mut Vec<StreamEvent>) {
        let running = running_task(tool_name);
        match &mut self.workflow {
            Some(open) => {
                open.calls.push(call_id);
                open.tasks.push(running.clone());
                out.push(StreamEvent::ItemUpdated {
                    item_id: workflow_id(open.id),
                    update: ItemUpdate::TaskAdded {
                        task_index: open.tasks.len() - 1,
                        task: running,
                    },
                });
            }
            None => {
                let open = OpenWorkflow {
                    id: self.step,
                    created_at: now(),
                    calls: vec![call_id],
                    tasks: vec![running],
                };
                out.push(StreamEvent::ItemAdded {
                    item: workflow_item(
                        &self.thread_id,
                        open.id,
                        open.created_at.clone(),
                        open.tasks.clone(),
                    ),
                });
                self.workflow = Some(open);
            }
        }
    }

    fn result(&mut self, call_id: &str, summary: &str, is_error: bool, out: &mut Vec<StreamEvent>) {
        let Some(open) = &mut self.workflow else {
            return;
        };
        let Some(index) = open.calls.iter().position(|call| call == call_id) else {
            return;
        };
        let Some(tool_task) = open.tasks.get_mut(index) else {
            return;
        };
        // The task's title while running said what it does; the result's summary replaces it.
        *tool_task = finished_task(summary, is_error);
        out.push(StreamEvent::ItemUpdated {
            item_id: workflow_id(open.id),
            update: ItemUpdate::TaskUpdated {
                task_index: index,
                task: tool_task.clone(),
            },
        });
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_text(out);
        self.close_workflow(out);
    }

    fn close_text(&mut self, out: &mut Vec<StreamEvent>) {
        let Some(open) = self.text.take() else {
            return;
        };
        out.push(StreamEvent::ItemUpdated {
            item_id: open.id.to_string(),
            update: ItemUpdate::ContentPartDone {
                content_index: 0,
                content: OutputText::new(open.text.clone()),
            },
        });
        out.push(StreamEvent::ItemDone {
            item: assistant_item(&self.thread_id, open.id, open.created_at, open.text),
        });
    }

    fn close_workflow(&mut self, out: &mut Vec<StreamEvent>) {
        let Some(mut open) = self.workflow.take() else {
            return;
        };
        // A call that never returned (the turn failed) stops spinning, as it reads back.
        for task in &mut open.tasks {
            if task.status_indicator == StatusIndicator::Loading {
                task.status_indicator = StatusIndicator::None;
            }
        }
        out.push(StreamEvent::ItemDone {
            item: workflow_item(&self.thread_id, open.id, open.created_at, open.tasks),
        });
    }
}

fn workflow_id(message: Uuid) -> String {
    super::items::ItemId::Workflow(message).to_string()
}

fn now() -> String {
    format_instant(Utc::now())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        chat::events::{ChunkEvent, DoneEvent, StartEvent, ToolCallEvent, ToolResultEvent},
        error_code::ErrorCode,
    };

    fn types(events: &[StreamEvent]) -> Vec<String> {
        events
            .iter()
            .map(|event| {
                let value = serde_json::to_value(event).unwrap();
                match value.get("update") {
                    Some(update) => update["type"].as_str().unwrap().to_owned(),
                    None => value["type"].as_str().unwrap().to_owned(),
                }
            })
            .collect()
    }

    #[test]
    fn a_turn_with_a_tool_call_renders_as_chatkit_items() {
        let thread = Uuid::now_v7();
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let mut renderer = TurnRenderer::new(thread);
        let turn = vec![
            ChatEvent::Start(StartEvent {
                conversation_id: thread,
                message_id: first,
            })
            .into(),
            ChatEvent::ToolCall(ToolCallEvent {
                tool_name: "add_task".to_owned(),
                call_id: "call_1".to_owned(),
                arguments: json!({"title": "milk"}),
            })
            .into(),
            ChatEvent::ToolResult(ToolResultEvent {
                tool_name: "add_task".to_owned(),
                call_id: "call_1".to_owned(),
                is_error: false,
                result: json!({}),
                summary: "Added task 'milk'".to_owned(),
            })
            .into(),
            TurnEvent::NextStep { message_id: second },
            ChatEvent::Chunk(ChunkEvent {
                content: "Done".to_owned(),
            })
            .into(),
            ChatEvent::Done(DoneEvent {
                message_id: second,
                finish_reason: "stop".to_owned(),
            })
            .into(),
        ];
        let events: Vec<StreamEvent> = turn
            .into_iter()
            .flat_map(|event| renderer.render(event))
            .collect();
        assert_eq!(
            types(&events),
            [
                "thread.item.added",
                "workflow.task.updated",
                "client_effect",
                "thread.item.done",
                "thread.item.added",
                "assistant_message.content_part.added",
                "assistant_message.content_part.text_delta",
                "assistant_message.content_part.done",
                "thread.item.done",
            ]
        );
        let workflow = serde_json::to_value(&events[3]).unwrap();
        assert_eq!(workflow["item"]["id"], format!("wf_{first}"));
        assert_eq!(
            workflow["item"]["workflow"]["tasks"][0]["title"],
            "Added task 'milk'"
        );
        let reply = serde_json::to_value(&events[8]).unwrap();
        assert_eq!(reply["item"]["id"], second.to_string());
        assert_eq!(reply["item"]["content"][0]["text"], "Done");
    }

    #[test]
    fn an_error_closes_the_open_text_and_says_whether_to_retry() {
        let thread = Uuid::now_v7();
        let mut renderer = TurnRenderer::new(thread);
        renderer.render(
            ChatEvent::Start(StartEvent {
                conversation_id: thread,
                message_id: Uuid::now_v7(),
            })
            .into(),
        );
        renderer.render(
            ChatEvent::Chunk(ChunkEvent {
                content: "Half".to_owned(),
            })
            .into(),
        );
        let end = renderer.render(
            ChatEvent::Error(crate::chat::events::ErrorEvent::new(
                ErrorCode::UpstreamUnavailable,
                "The model is unavailable.".to_owned(),
            ))
            .into(),
        );
        assert_eq!(
            types(&end),
            [
                "assistant_message.content_part.done",
                "thread.item.done",
                "error"
            ]
        );
        let error = serde_json::to_value(&end[2]).unwrap();
        assert_eq!(error["allow_retry"], true);
        assert_eq!(error["code"], "custom");
    }
}
