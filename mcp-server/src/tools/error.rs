//! How task errors reach an MCP client: as a tool result with `isError: true` and one sentence.

use rmcp::model::{ContentBlock, IntoContents};

use crate::task::{TaskError, ValidationError};

/// A failed tool call, rendered as text content of an `isError` result.
///
/// Client mistakes say what was wrong; internal failures say only that the store is
/// unavailable, and their cause is logged here, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError(String);

impl ToolError {
    pub fn message(&self) -> &str {
        &self.0
    }

    fn store_unavailable() -> Self {
        Self("The task store is unavailable right now; try again shortly.".into())
    }

    pub(crate) fn unauthenticated() -> Self {
        Self("This MCP session has no authenticated user; reconnect with a valid token.".into())
    }
}

impl From<TaskError> for ToolError {
    fn from(err: TaskError) -> Self {
        match err {
            TaskError::Invalid(invalid) => Self(sentence(&invalid.to_string())),
            TaskError::NotFound { task_id } => Self(format!(
                "No task with id {task_id} for this user; call list_tasks to see task ids."
            )),
            TaskError::Contended { task_id } => Self(format!(
                "Task {task_id} changed while it was being updated; read it again and retry."
            )),
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

impl IntoContents for ToolError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.0)]
    }
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
    fn errors_read_as_sentences() {
        let err = ToolError::from(TaskError::Invalid(ValidationError::TitleEmpty));
        assert_eq!(err.message(), "Title must not be empty.");
        let task_id = TaskId::generate();
        let err = ToolError::from(TaskError::NotFound { task_id });
        assert!(
            err.message()
                .starts_with(&format!("No task with id {task_id}"))
        );
    }
}
