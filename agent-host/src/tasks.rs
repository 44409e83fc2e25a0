//! The host's way to the task tools: always MCP, never the tasks table.
//!
//! By default the MCP server runs embedded, joined to each caller by an in-memory pipe
//! ([`todo_mcp::in_process`]). With `MCP_TASKS_URL` the host talks streamable HTTP to a
//! standalone `todo-mcp serve`, minting a short-lived `todo-mcp` token for the user of each
//! session.

use std::time::Duration;

use rmcp::{
    ServiceExt as _,
    model::{CallToolRequestParams, CallToolResult},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use todo_mcp::{
    auth::{Audience, TokenKeys},
    in_process::{self, TaskClient},
    store::TaskStore,
    task::UserId,
    tools::{ERROR_CODE_META_KEY, ToolErrorKind},
};
use url::Url;

/// How long a token minted for the remote MCP server lives: one session's worth.
const REMOTE_TOKEN_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);
/// How long one tool call (or the handshake) may take before the host gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the task tools live.
#[derive(Clone)]
pub enum TaskGateway {
    Embedded(TaskStore),
    Remote { url: Url, keys: TokenKeys },
}

/// A failed tool call, as the host sees it.
#[derive(Debug, thiserror::Error)]
pub enum TaskCallError {
    /// The tool answered `isError`; `message` is its sentence for the user.
    #[error("{message}")]
    Tool {
        kind: ToolErrorKind,
        message: String,
    },
    /// The MCP server could not be reached or did not answer in time.
    #[error("the task server is unreachable")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The MCP server answered something this host does not understand.
    #[error("the task server answered unexpectedly: {0}")]
    Protocol(String),
}

/// An MCP session for one user.
pub struct TaskSession {
    client: TaskClient,
}

impl TaskGateway {
    /// Opens an MCP session acting for `user`.
    pub async fn open(&self, user: UserId) -> Result<TaskSession, TaskCallError> {
        let client = match self {
            TaskGateway::Embedded(store) => in_process::connect(store.clone(), user)
                .await
                .map_err(|err| TaskCallError::Unreachable(Box::new(err)))?,
            TaskGateway::Remote { url, keys } => {
                let token = keys
                    .issue(user, Audience::Mcp, REMOTE_TOKEN_LIFETIME)
                    .map_err(|err| TaskCallError::Unreachable(Box::new(err)))?;
                let transport = StreamableHttpClientTransport::from_config(
                    StreamableHttpClientTransportConfig::with_uri(url.as_str())
                        .auth_header(token.token),
                );
                tokio::time::timeout(CALL_TIMEOUT, ().serve(transport))
                    .await
                    .map_err(|elapsed| TaskCallError::Unreachable(Box::new(elapsed)))?
                    .map_err(|err| TaskCallError::Unreachable(Box::new(err)))?
            }
        };
        Ok(TaskSession { client })
    }
}

impl TaskSession {
    /// Calls `tool` with `arguments` and reads its structured result as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        tool: &'static str,
        arguments: &impl Serialize,
    ) -> Result<T, TaskCallError> {
        let result = self.call_raw(tool, arguments).await?;
        if result.is_error == Some(true) {
            return Err(tool_error(&result));
        }
        let value = result.structured_content.ok_or_else(|| {
            TaskCallError::Protocol(format!("{tool} returned no structured content"))
        })?;
        serde_json::from_value(value)
            .map_err(|err| TaskCallError::Protocol(format!("{tool} result: {err}")))
    }

    /// Calls `tool` and returns its result as it came, errors included.
    pub async fn call_raw(
        &self,
        tool: &'static str,
        arguments: &impl Serialize,
    ) -> Result<CallToolResult, TaskCallError> {
        let arguments = match serde_json::to_value(arguments) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) | Err(_) => {
                return Err(TaskCallError::Protocol(format!(
                    "{tool} arguments are not a JSON object"
                )));
            }
        };
        let request = CallToolRequestParams::new(tool).with_arguments(arguments);
        tokio::time::timeout(CALL_TIMEOUT, self.client.call_tool(request))
            .await
            .map_err(|elapsed| TaskCallError::Unreachable(Box::new(elapsed)))?
            .map_err(|err| TaskCallError::Unreachable(Box::new(err)))
    }
}

fn tool_error(result: &CallToolResult) -> TaskCallError {
    let kind = result
        .meta
        .as_ref()
        .and_then(|meta| meta.0.get(ERROR_CODE_META_KEY))
        .and_then(|code| code.as_str())
        .and_then(ToolErrorKind::from_code)
        // An error without our code came from rmcp itself: bad argument types.
        .unwrap_or(ToolErrorKind::InvalidArgument);
    let message = result
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|text| text.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    TaskCallError::Tool { kind, message }
}
