//! A tool's structured result, encoded once per form.
//!
//! MCP asks for a structured result twice: as `structuredContent` and, for clients that read
//! only text, as the same JSON in a text block. rmcp's `Json` builds the `serde_json::Value` and
//! then prints that `Value` through `fmt::Display` for the text; printing the result type
//! straight into a string instead took a tenth off the server's CPU for a `list_tasks` of 50,
//! and moving the result into the `Value` (its `Into<Value>`, written beside each result type)
//! rather than copying every string out of it takes a little more (`docs/perf/README.md`).
//!
//! The type is named `Json`, like rmcp's, because rmcp's `#[tool]` macro recognises a return
//! type by that name to publish `T`'s JSON Schema as the tool's output schema (the e2e tools
//! test checks every tool has one).

use rmcp::{
    ErrorData,
    handler::server::tool::IntoCallToolResult,
    model::{CallToolResponse, CallToolResult, ContentBlock},
};
use serde::Serialize;

/// A structured tool result.
pub struct Json<T>(pub T);

impl<T: Serialize + Into<serde_json::Value>> IntoCallToolResult for Json<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        let failed = |err: serde_json::Error| {
            ErrorData::internal_error(format!("encode the tool's result: {err}"), None)
        };
        let text = serde_json::to_string(&self.0).map_err(failed)?;
        let structured = self.0.into();
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(structured);
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_text_is_the_structured_content_printed() {
        let response = Json(json!({"tasks": [{"title": "a \"quoted\" title"}], "next": null}))
            .into_call_tool_result()
            .unwrap();
        let CallToolResponse::Complete(result) = response else {
            panic!("a result");
        };
        assert_eq!(result.is_error, Some(false));
        let structured = result.structured_content.unwrap();
        let text = result.content[0].as_text().unwrap().text.clone();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            structured
        );
        assert_eq!(structured["tasks"][0]["title"], "a \"quoted\" title");
    }
}
