//! `/chatkit` in the OpenAPI document.
//!
//! The endpoint is not a poem-openapi operation: its body is ChatKit's request union, read by
//! this module's own types so that a bad request is answered in ChatKit's error shape, and its
//! answer is a stream or JSON by request type. The API's document is served from `/api` (its
//! server), so `/chatkit` joins it as a path with a server of its own, the site's root.

use serde_json::{Value, json};
use url::Url;

use super::{protocol::TIME_ZONE_HEADER, request::HANDLED};

/// The API's document (`spec`, as poem-openapi writes it) with `/chatkit` added; the document
/// unchanged if it cannot be read (it always can: it is poem-openapi's own output).
pub fn document(spec: &str, public_base_url: &Url) -> String {
    let Ok(mut document) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    let security: Vec<Value> = document["components"]["securitySchemes"]
        .as_object()
        .map(|schemes| schemes.keys().map(|name| json!({ name: [] })).collect())
        .unwrap_or_default();
    if let Some(paths) = document["paths"].as_object_mut() {
        paths.insert("/chatkit".to_owned(), path_item(public_base_url, security));
    }
    if let Some(schemas) = document["components"]["schemas"].as_object_mut() {
        schemas.insert("ChatKitRequest".to_owned(), request_schema());
        schemas.insert("ChatKitError".to_owned(), error_schema());
    }
    if let Some(tags) = document["tags"].as_array_mut() {
        tags.push(json!({
            "name": "ChatKit",
            "description": "ChatKit's server protocol, for frontends built on OpenAI's ChatKit."
        }));
    }
    document.to_string()
}

fn path_item(public_base_url: &Url, security: Vec<Value>) -> Value {
    let error = |description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatKitError"}}}
        })
    };
    json!({
        "servers": [{"url": public_base_url.as_str()}],
        "post": {
            "tags": ["ChatKit"],
            "summary": "ChatKit's server protocol",
            "description": format!(
                "One endpoint for a ChatKit frontend (`useChatKit({{api: {{url: \"/chatkit\", ...}}}})`): \
                 the body is a ChatKit request `{{\"type\", \"params\"}}`. `threads.create`, \
                 `threads.add_user_message` and `threads.retry_after_item` answer with ChatKit's \
                 thread stream events as Server-Sent Events (`data: <event>` each); the others with \
                 JSON (a thread, a page of threads or items, or `{{}}`). Threads are the \
                 conversations of `/api/{{user_id}}/conversations` and keep their ids. The `{TIME_ZONE_HEADER}` \
                 header (an IANA name or a UTC offset) sets the time zone of relative dates. Failures \
                 before a stream starts answer with ChatKit's error event as JSON; a missing or bad \
                 token with the API's 401."
            ),
            "operationId": "chatkit",
            "security": security,
            "requestBody": {
                "required": true,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatKitRequest"}}}
            },
            "responses": {
                "200": {
                    "description": "A stream of ChatKit thread events, or the JSON answer of the request.",
                    "content": {
                        "text/event-stream": {"schema": {"type": "string"}},
                        "application/json": {"schema": {"type": "object"}}
                    }
                },
                "400": error("The body is not a ChatKit request this server handles."),
                "401": {
                    "description": "No valid token (bearer or session cookie).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                },
                "403": {
                    "description": "A cookie request from another site, or an origin not in CORS_ORIGINS.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                },
                "404": error("No such thread or item for this user."),
                "413": {
                    "description": "The body is larger than 1 MiB.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                },
                "422": error("A value is invalid (an empty message, a title too long, a bad time zone)."),
                "429": error("Too many messages or running replies; see Retry-After."),
                "503": error("The host is busy, stopping or cannot reach the database.")
            }
        }
    })
}

fn request_schema() -> Value {
    json!({
        "type": "object",
        "description": "A ChatKit request (openai-chatkit's `ChatKitReq`). `params` depends on `type`.",
        "required": ["type", "params"],
        "properties": {
            "type": {"type": "string", "enum": HANDLED},
            "params": {"type": "object"},
            "metadata": {"type": "object"}
        }
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "ChatKit's error event, as the body of a failed request.",
        "required": ["type", "code", "message", "allow_retry"],
        "properties": {
            "type": {"type": "string", "enum": ["error"]},
            "code": {"type": "string", "enum": ["custom"]},
            "message": {"type": "string"},
            "allow_retry": {"type": "boolean"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_gains_chatkit_at_the_sites_root() {
        let spec = r#"{"openapi":"3.0.0","paths":{"/x":{}},"tags":[],
            "components":{"schemas":{},"securitySchemes":{"BearerToken":{}}}}"#;
        let base = Url::parse("https://todo.example.com/").unwrap();
        let document: Value = serde_json::from_str(&document(spec, &base)).unwrap();
        let chatkit = &document["paths"]["/chatkit"];
        assert_eq!(chatkit["servers"][0]["url"], "https://todo.example.com/");
        assert_eq!(chatkit["post"]["security"][0], json!({"BearerToken": []}));
        assert!(document["components"]["schemas"]["ChatKitRequest"].is_object());
        assert!(document["paths"]["/x"].is_object());
    }
}
