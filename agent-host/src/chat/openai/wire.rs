//! The Chat Completions JSON this host sends and reads, as its own serde types.
//!
//! async-openai's own types describe every field the API has; building one per request
//! copied the whole history and the six tool schemas into it, and reading one per streamed
//! chunk allocated the chunk's id, model name and every other field this host never reads.
//! These types borrow the request from the turn and read only what a turn uses, so a chunk
//! costs what its text and tool fragments cost. The JSON is the same (a test holds them to
//! async-openai's serialisation); [`super::upstream`] sends and reads it.

use serde::{Deserialize, Serialize, Serializer};

use crate::chat::model::{ChatMessage, ToolCall, ToolSpec};

/// One streaming request.
#[derive(Serialize)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    #[serde(serialize_with = "serialize_messages")]
    pub messages: &'a [ChatMessage],
    #[serde(serialize_with = "serialize_tools", skip_serializing_if = "is_empty")]
    pub tools: &'a [ToolSpec],
    /// Always `true`: this host only streams.
    pub stream: bool,
    /// The field OpenAI, llama.cpp and vLLM read; a server that ignores it (Ollama's OpenAI
    /// layer so far) streams until the model stops or its context is full.
    pub max_completion_tokens: u32,
    pub stream_options: StreamOptions,
}

/// What each request cost, for `/metrics` (OpenAI, llama.cpp, Ollama and vLLM report it; a
/// server that does not simply sends none).
#[derive(Serialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}

/// A message as Chat Completions names its parts.
#[derive(Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum Message<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        /// Left out when the message is only tool calls.
        #[serde(skip_serializing_if = "Option::is_none")]
        content: Option<&'a str>,
        #[serde(
            serialize_with = "serialize_tool_calls",
            skip_serializing_if = "is_empty"
        )]
        tool_calls: &'a [ToolCall],
    },
    Tool {
        content: &'a str,
        tool_call_id: &'a str,
    },
}

impl<'a> From<&'a ChatMessage> for Message<'a> {
    fn from(message: &'a ChatMessage) -> Self {
        match message {
            ChatMessage::System(text) => Message::System { content: text },
            ChatMessage::User(text) => Message::User { content: text },
            ChatMessage::Assistant { text, tool_calls } => Message::Assistant {
                content: (!text.is_empty() || tool_calls.is_empty()).then_some(text.as_str()),
                tool_calls,
            },
            ChatMessage::Tool {
                call_id, content, ..
            } => Message::Tool {
                content,
                tool_call_id: call_id,
            },
        }
    }
}

fn serialize_messages<S: Serializer>(
    messages: &&[ChatMessage],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(messages.iter().map(Message::from))
}

fn is_empty<T>(items: &&[T]) -> bool {
    items.is_empty()
}

/// `{"type": "function", "function": {...}}`: the one kind of tool this host offers.
#[derive(Serialize)]
struct WireTool<'a> {
    r#type: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a serde_json::Map<String, serde_json::Value>,
}

fn serialize_tools<S: Serializer>(tools: &&[ToolSpec], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(tools.iter().map(|tool| WireTool {
        r#type: "function",
        function: WireFunction {
            name: &tool.name,
            description: &tool.description,
            parameters: &tool.parameters,
        },
    }))
}

/// A call the model made earlier in the conversation.
#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    r#type: &'static str,
    function: WireCall<'a>,
}

#[derive(Serialize)]
struct WireCall<'a> {
    name: &'a str,
    arguments: &'a str,
}

fn serialize_tool_calls<S: Serializer>(
    calls: &&[ToolCall],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(calls.iter().map(|call| WireToolCall {
        id: &call.id,
        r#type: "function",
        function: WireCall {
            name: &call.name,
            arguments: &call.arguments,
        },
    }))
}

/// One streamed chunk (`chat.completion.chunk`): only what a turn reads. Unknown fields are
/// skipped without being kept, a missing `Option` is `None`; `choices` must be there, so an error object sent in the stream
/// is not taken for an empty chunk.
#[derive(Debug, Deserialize)]
pub struct Chunk {
    pub choices: Vec<ChunkChoice>,
    pub usage: Option<ChunkUsage>,
}

#[derive(Debug, Deserialize)]
pub struct ChunkChoice {
    pub delta: Option<ChunkDelta>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChunkDelta {
    pub content: Option<String>,
    pub tool_calls: Option<Vec<ChunkToolCall>>,
}

/// A fragment of a tool call; fragments with the same `index` make one call.
#[derive(Debug, Deserialize)]
pub struct ChunkToolCall {
    pub index: u32,
    pub id: Option<String>,
    pub function: Option<ChunkFunction>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChunkFunction {
    pub name: Option<String>,
    pub arguments: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ChunkUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_openai::types::chat::{
        ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
        ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
        ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
        ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
        ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
        ChatCompletionRequestUserMessageContent, ChatCompletionStreamOptions, ChatCompletionTool,
        ChatCompletionTools, CreateChatCompletionRequest, FunctionCall, FunctionObject,
    };
    use serde_json::json;

    use super::*;

    fn conversation() -> Vec<ChatMessage> {
        vec![
            ChatMessage::System("You keep a to-do list.".into()),
            ChatMessage::User("add \"milk\" tomorrow".into()),
            ChatMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "add_task".into(),
                    arguments: r#"{"title":"milk"}"#.into(),
                }],
            },
            ChatMessage::Tool {
                call_id: "call_1".into(),
                tool_name: "add_task".into(),
                content: r#"{"id":"t1"}"#.into(),
                is_error: false,
            },
            ChatMessage::Assistant {
                text: "Added.".into(),
                tool_calls: Vec::new(),
            },
            ChatMessage::Assistant {
                text: String::new(),
                tool_calls: Vec::new(),
            },
        ]
    }

    fn tool() -> ToolSpec {
        let parameters = json!({
            "type": "object",
            "properties": {"title": {"type": "string", "maxLength": 200}},
            "required": ["title"],
        });
        let serde_json::Value::Object(parameters) = parameters else {
            unreachable!("an object literal")
        };
        ToolSpec {
            name: "add_task".into(),
            description: "Add a task.".into(),
            parameters: Arc::new(parameters),
        }
    }

    /// The same request in async-openai's own types, as the host built it before.
    fn as_async_openai(
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> CreateChatCompletionRequest {
        let messages = messages
            .iter()
            .map(|message| match message {
                ChatMessage::System(text) => {
                    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                        content: ChatCompletionRequestSystemMessageContent::Text(text.clone()),
                        name: None,
                    })
                }
                ChatMessage::User(text) => {
                    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                        content: ChatCompletionRequestUserMessageContent::Text(text.clone()),
                        name: None,
                    })
                }
                ChatMessage::Assistant { text, tool_calls } => {
                    let calls = tool_calls
                        .iter()
                        .map(|call| {
                            ChatCompletionMessageToolCalls::Function(
                                ChatCompletionMessageToolCall {
                                    id: call.id.clone(),
                                    function: FunctionCall {
                                        name: call.name.clone(),
                                        arguments: call.arguments.clone(),
                                    },
                                },
                            )
                        })
                        .collect::<Vec<_>>();
                    ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                        content: (!text.is_empty() || calls.is_empty()).then(|| {
                            ChatCompletionRequestAssistantMessageContent::Text(text.clone())
                        }),
                        tool_calls: (!calls.is_empty()).then_some(calls),
                        ..Default::default()
                    })
                }
                ChatMessage::Tool {
                    call_id, content, ..
                } => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                    content: ChatCompletionRequestToolMessageContent::Text(content.clone()),
                    tool_call_id: call_id.clone(),
                }),
            })
            .collect();
        let tools = tools
            .iter()
            .map(|tool| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: tool.name.clone(),
                        description: Some(tool.description.clone()),
                        parameters: Some(serde_json::Value::Object((*tool.parameters).clone())),
                        strict: None,
                    },
                })
            })
            .collect::<Vec<_>>();
        CreateChatCompletionRequest {
            model: "gpt-test".into(),
            messages,
            tools: (!tools.is_empty()).then_some(tools),
            stream: Some(true),
            max_completion_tokens: Some(512),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..Default::default()
        }
    }

    fn request<'a>(messages: &'a [ChatMessage], tools: &'a [ToolSpec]) -> ChatRequest<'a> {
        ChatRequest {
            model: "gpt-test",
            messages,
            tools,
            stream: true,
            max_completion_tokens: 512,
            stream_options: StreamOptions {
                include_usage: true,
            },
        }
    }

    #[test]
    fn the_request_is_the_json_async_openai_sends() {
        let messages = conversation();
        for tools in [vec![tool()], Vec::new()] {
            let ours = serde_json::to_value(request(&messages, &tools)).unwrap();
            let theirs = serde_json::to_value(as_async_openai(&messages, &tools)).unwrap();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn a_request_without_tools_leaves_the_field_out() {
        let messages = conversation();
        let json = serde_json::to_value(request(&messages, &[])).unwrap();
        assert!(json.get("tools").is_none());
    }

    #[test]
    fn a_chunk_reads_text_tool_fragments_finish_and_usage() {
        let chunk: Chunk = serde_json::from_str(
            r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",
                "system_fingerprint":null,
                "choices":[{"index":0,"delta":{"role":"assistant","content":"Hi",
                  "reasoning_content":"hmm",
                  "tool_calls":[{"index":1,"id":"call_9","type":"function",
                    "function":{"name":"add_task","arguments":"{\"ti"}}]},
                  "logprobs":null,"finish_reason":"tool_calls"}],
                "usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#,
        )
        .unwrap();
        let choice = &chunk.choices[0];
        let delta = choice.delta.as_ref().unwrap();
        assert_eq!(delta.content.as_deref(), Some("Hi"));
        let call = &delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.index, 1);
        assert_eq!(call.id.as_deref(), Some("call_9"));
        let function = call.function.as_ref().unwrap();
        assert_eq!(function.name.as_deref(), Some("add_task"));
        assert_eq!(function.arguments.as_deref(), Some("{\"ti"));
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        let usage = chunk.usage.as_ref().unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens), (12, 3));
    }

    #[test]
    fn nulls_where_servers_send_them_are_read_as_absent() {
        let chunk: Chunk = serde_json::from_str(
            r#"{"choices":[{"delta":{"content":null,"tool_calls":null},"finish_reason":null}],
                "usage":null}"#,
        )
        .unwrap();
        let delta = chunk.choices[0].delta.as_ref().unwrap();
        assert!(delta.content.is_none() && delta.tool_calls.is_none());
        assert!(chunk.usage.is_none() && chunk.choices[0].finish_reason.is_none());
    }

    #[test]
    fn an_error_object_in_the_stream_is_not_a_chunk() {
        let error =
            r#"{"error":{"message":"context length exceeded","type":"invalid_request_error"}}"#;
        assert!(serde_json::from_str::<Chunk>(error).is_err());
    }

    fn json_with_chunk_fields() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        const KEYS: &[&str] = &[
            "choices",
            "delta",
            "content",
            "tool_calls",
            "index",
            "id",
            "function",
            "name",
            "arguments",
            "finish_reason",
            "usage",
            "prompt_tokens",
            "completion_tokens",
        ];
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "\\PC{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(5, 48, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(proptest::sample::select(KEYS), inner, 0..5)
                    .prop_map(|fields| {
                        serde_json::Value::Object(
                            fields
                                .into_iter()
                                .map(|(key, value)| (key.to_owned(), value))
                                .collect(),
                        )
                    }),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a model server sends as a chunk, reading it never panics: any text, and
        /// JSON with the chunk's own field names holding values of any type.
        #[test]
        fn reading_any_chunk_never_panics(text in "\\PC{0,200}", json in json_with_chunk_fields()) {
            let _ = serde_json::from_str::<Chunk>(&text);
            let _ = serde_json::from_str::<Chunk>(&json.to_string());
        }

        /// Chunks of any text and tool fragments read back as they were written.
        #[test]
        fn written_chunks_read_back(
            content in proptest::option::of("\\PC{0,40}"),
            calls in proptest::collection::vec(
                (0u32..4, proptest::option::of("\\PC{0,8}"), proptest::option::of("\\PC{0,8}"), proptest::option::of("\\PC{0,16}")),
                0..3,
            ),
            finish in proptest::option::of("[a-z_]{1,14}"),
        ) {
            let json = json!({
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "choices": [{
                    "index": 0,
                    "delta": {
                        "content": content,
                        "tool_calls": calls.iter().map(|(index, id, name, arguments)| json!({
                            "index": index, "id": id,
                            "function": {"name": name, "arguments": arguments},
                        })).collect::<Vec<_>>(),
                    },
                    "finish_reason": finish,
                }],
            });
            let chunk: Chunk = serde_json::from_value(json).unwrap();
            let choice = &chunk.choices[0];
            let delta = choice.delta.as_ref().unwrap();
            proptest::prop_assert_eq!(&delta.content, &content);
            let read = delta.tool_calls.as_ref().unwrap();
            proptest::prop_assert_eq!(read.len(), calls.len());
            for (read, (index, id, name, arguments)) in read.iter().zip(&calls) {
                proptest::prop_assert_eq!(read.index, *index);
                proptest::prop_assert_eq!(&read.id, id);
                let function = read.function.as_ref().unwrap();
                proptest::prop_assert_eq!(&function.name, name);
                proptest::prop_assert_eq!(&function.arguments, arguments);
            }
            proptest::prop_assert_eq!(&choice.finish_reason, &finish);
        }
    }
}
