//! How task errors reach an MCP client: a tool result with `isError: true`, one sentence as text
//! content, and the error's kind in `_meta` (`todo/errorCode`) so that frontends can map it to
//! their own codes without reading the sentence.

use rmcp::{
    handler::server::tool::IntoCallToolResult,
    model::{CallToolResponse, CallToolResult, ContentBlock, MetaObject},
};

use crate::task::{TaskError, ValidationError};

/// The `_meta` key of a failed tool result that holds its [`ToolErrorKind`].
pub const ERROR_CODE_META_KEY: &str = "todo/errorCode";

/// What kind of failure a tool result reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolErrorKind {
    /// An argument was missing or had a bad value.
    InvalidArgument,
    /// No such task for this user.
    NotFound,
    /// The task changed while it was being updated.
    Conflict,
    /// The session has no user.
    Unauthenticated,
    /// The task store failed; trying again later may work.
    Unavailable,
}

impl ToolErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            ToolErrorKind::InvalidArgument => "invalid_argument",
            ToolErrorKind::NotFound => "not_found",
            ToolErrorKind::Conflict => "conflict",
            ToolErrorKind::Unauthenticated => "unauthenticated",
            ToolErrorKind::Unavailable => "unavailable",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::InvalidArgument,
            Self::NotFound,
            Self::Conflict,
            Self::Unauthenticated,
            Self::Unavailable,
        ]
        .into_iter()
        .find(|kind| kind.code() == code)
    }
}

/// A failed tool call.
///
/// Client mistakes say what was wrong; internal failures say only that the store is
/// unavailable, and their cause is logged here, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError {
    kind: ToolErrorKind,
    message: String,
}

impl ToolError {
    pub fn kind(&self) -> ToolErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    fn new(kind: ToolErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn store_unavailable() -> Self {
        Self::new(
            ToolErrorKind::Unavailable,
            "The task store is unavailable right now; try again shortly.",
        )
    }

    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            ToolErrorKind::Unauthenticated,
            "This MCP session has no authenticated user; reconnect with a valid token.",
        )
    }
}

impl From<TaskError> for ToolError {
    fn from(err: TaskError) -> Self {
        match err {
            TaskError::Invalid(invalid) => Self::new(
                ToolErrorKind::InvalidArgument,
                sentence(&invalid.to_string()),
            ),
            TaskError::NotFound { task_id } => Self::new(
                ToolErrorKind::NotFound,
                format!(
                    "No task with id {task_id} for this user; call list_tasks to see task ids."
                ),
            ),
            TaskError::Contended { task_id } => Self::new(
                ToolErrorKind::Conflict,
                format!(
                    "Task {task_id} changed while it was being updated; read it again and retry."
                ),
            ),
            TaskError::Store(cause) => {
                tracing::error!(error = %cause, error.cause_chain = ?cause, "task store failed");
                Self::store_unavailable()
            }
            TaskError::Unavailable => Self::store_unavailable(),
        }
    }
}

impl From<ValidationError> for ToolError {
    fn from(err: ValidationError) -> Self {
        TaskError::from(err).into()
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        let mut meta = serde_json::Map::new();
        meta.insert(ERROR_CODE_META_KEY.to_owned(), self.kind.code().into());
        Ok(
            CallToolResult::error(vec![ContentBlock::text(self.message)])
                .with_meta(Some(MetaObject(meta)))
                .into(),
        )
    }
}

/// Gives a failed result that rmcp made itself (arguments that do not fit the tool's schema,
/// such as a number where a string belongs) the `invalid_argument` code that our own failures
/// carry, so that clients read every bad argument the same way.
pub(crate) fn with_error_code(response: CallToolResponse) -> CallToolResponse {
    let CallToolResponse::Complete(mut result) = response else {
        return response;
    };
    if result.is_error == Some(true) {
        let meta = result.meta.get_or_insert_with(MetaObject::default);
        if !meta.0.contains_key(ERROR_CODE_META_KEY) {
            meta.0.insert(
                ERROR_CODE_META_KEY.to_owned(),
                ToolErrorKind::InvalidArgument.code().into(),
            );
        }
    }
    CallToolResponse::Complete(result)
}

/// Turns a validation message ("title must not be empty") into a sentence.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::TaskId;

    #[test]
    fn errors_read_as_sentences_and_carry_their_kind() {
        let err = ToolError::from(TaskError::Invalid(ValidationError::TitleEmpty));
        assert_eq!(err.message(), "Title must not be empty.");
        assert_eq!(err.kind(), ToolErrorKind::InvalidArgument);
        let task_id = TaskId::generate();
        let err = ToolError::from(TaskError::NotFound { task_id });
        assert!(
            err.message()
                .starts_with(&format!("No task with id {task_id}"))
        );
        assert_eq!(err.kind(), ToolErrorKind::NotFound);
    }

    #[test]
    fn kinds_round_trip_through_their_codes() {
        for kind in [
            ToolErrorKind::InvalidArgument,
            ToolErrorKind::NotFound,
            ToolErrorKind::Conflict,
            ToolErrorKind::Unauthenticated,
            ToolErrorKind::Unavailable,
        ] {
            assert_eq!(ToolErrorKind::from_code(kind.code()), Some(kind));
        }
    }
}
