//! Checking a posted MCP message before rmcp reads it, so that a malformed one gets a JSON-RPC
//! error (400, `application/json`) instead of rmcp's plain-text 415, and `arguments` that are
//! not an object get "invalid params" instead of "method not found".

use poem::{Response, http::StatusCode};
use serde_json::{Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const INVALID_PARAMS: i64 = -32602;

/// A JSON-RPC error response with `status`; `id` is the request's when it could be read.
pub fn error_response(
    status: StatusCode,
    id: Option<&Value>,
    code: i64,
    message: impl Into<String>,
) -> Response {
    let body = json!({
        "jsonrpc": "2.0",
        "id": id.cloned().unwrap_or(Value::Null),
        "error": {"code": code, "message": message.into()},
    });
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_string())
}

/// 403 for a request from a browser page of a site not allowed to call.
pub fn forbidden_origin() -> Response {
    error_response(
        StatusCode::FORBIDDEN,
        None,
        INVALID_REQUEST,
        "requests from this Origin are not allowed",
    )
}

/// `Ok` when `body` is one JSON-RPC message rmcp can read; otherwise the error response.
#[expect(clippy::result_large_err, reason = "the error is the response to send")]
pub fn check_message(body: &[u8]) -> Result<(), Response> {
    let message: Value = serde_json::from_slice(body).map_err(|err| {
        error_response(
            StatusCode::BAD_REQUEST,
            None,
            PARSE_ERROR,
            format!("the body is not JSON: {err}"),
        )
    })?;
    let Value::Object(fields) = &message else {
        let problem = if message.is_array() {
            "batches are not supported; send one JSON-RPC message per request"
        } else {
            "the body must be one JSON-RPC message (an object)"
        };
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            None,
            INVALID_REQUEST,
            problem,
        ));
    };
    let id = fields.get("id");
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            id,
            INVALID_REQUEST,
            r#"the message must have "jsonrpc": "2.0""#,
        ));
    }
    if let Some(id) = id
        && !(id.is_string() || id.is_i64() || id.is_u64())
    {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            None,
            INVALID_REQUEST,
            "id must be a string or an integer",
        ));
    }
    match fields.get("method") {
        None if fields.contains_key("result") || fields.contains_key("error") => {}
        Some(Value::String(method)) => check_params(id, method, fields.get("params"))?,
        _ => {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                id,
                INVALID_REQUEST,
                "method must be a string",
            ));
        }
    }
    if <rmcp::model::ClientJsonRpcMessage as serde::Deserialize>::deserialize(&message).is_err() {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            id,
            INVALID_REQUEST,
            "the message is not a valid MCP request, notification or response",
        ));
    }
    Ok(())
}

/// `params` must be an object when present; a tool call's `name` a string and its
/// `arguments` an object.
#[expect(clippy::result_large_err, reason = "the error is the response to send")]
fn check_params(id: Option<&Value>, method: &str, params: Option<&Value>) -> Result<(), Response> {
    let invalid = |message: &str| {
        // A request with an id is answered like any other failed request (200); a
        // notification cannot be answered, so the HTTP status says it.
        let status = if id.is_some() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        error_response(status, id, INVALID_PARAMS, message)
    };
    let params = match params {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(params)) => params,
        Some(_) => return Err(invalid("params must be an object")),
    };
    if method == "tools/call" {
        if !params.get("name").is_some_and(Value::is_string) {
            return Err(invalid("a tool call needs the tool's name as a string"));
        }
        if !matches!(
            params.get("arguments"),
            None | Some(Value::Null | Value::Object(_))
        ) {
            return Err(invalid("a tool call's arguments must be an object"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn status(body: &str) -> Option<StatusCode> {
        check_message(body.as_bytes()).err().map(|it| it.status())
    }

    #[test]
    fn malformed_messages_get_json_rpc_errors() {
        assert_eq!(status("{not json"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            status(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(status("42"), Some(StatusCode::BAD_REQUEST));
        assert_eq!(
            status(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            status(r#"{"jsonrpc":"2.0","id":1,"method":7}"#),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            status(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_task","arguments":"x"}}"#
            ),
            Some(StatusCode::OK)
        );
        assert_eq!(status(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), None);
        assert_eq!(
            status(
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"add_task","arguments":{"title":"x"}}}"#
            ),
            None
        );
    }

    proptest! {
        /// No body, however broken, makes the check panic.
        #[test]
        fn any_body_is_checked_without_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = check_message(&body);
        }

        #[test]
        fn any_json_value_is_checked_without_panic(
            id in prop_oneof![Just(json!(1)), Just(json!("x")), Just(json!(null)), Just(json!([1]))],
            method in prop_oneof![Just(json!("tools/call")), Just(json!("ping")), Just(json!(5))],
            arguments in prop_oneof![Just(json!({})), Just(json!("s")), Just(json!(1.5)), Just(json!(null))],
        ) {
            let message = json!({"jsonrpc": "2.0", "id": id, "method": method,
                "params": {"name": "add_task", "arguments": arguments}});
            let _ = check_message(message.to_string().as_bytes());
        }
    }
}
