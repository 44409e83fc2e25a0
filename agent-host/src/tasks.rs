//! The host's way to the task tools: always MCP, never the tasks table.
//!
//! By default the MCP server runs embedded, joined to each caller by in-memory channels
//! ([`todo_mcp::in_process`]). With `MCP_TASKS_URL` the host talks streamable HTTP to a
//! standalone `todo-mcp serve`, minting a short-lived `todo-mcp` token for the user of each
//! session.
//!
//! Opening a session costs an MCP handshake, so open sessions are kept per user and reused
//! (`SessionCache`): a session is bound to its user, so reuse can never mix users. The cache is
//! bounded, holds no user data (only connections, like a database pool), and remote sessions
//! are renewed before their token expires.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rmcp::{
    ServiceExt as _,
    model::{CallToolRequestParams, CallToolResult, JsonObject, RequestMetaObject, Tool},
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
    tools::{ERROR_CODE_META_KEY, ToolErrorKind, ToolName, trace::TraceContext},
};
use tokio::sync::OnceCell;
use tracing::Instrument as _;
use url::Url;

use crate::metrics::{Metrics, ToolCallOutcome};

/// How long a token minted for the remote MCP server lives: one session's worth.
const REMOTE_TOKEN_LIFETIME: chrono::Duration = chrono::Duration::minutes(5);
/// How long one tool call (or the handshake) may take before the host gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a remote session is reused: well within its token's lifetime.
const REMOTE_SESSION_REUSE: Duration = Duration::from_secs(4 * 60);
/// How long a connection to a remote task server may sit unused before it is closed.
const REMOTE_IDLE_CONNECTION: Duration = Duration::from_secs(60);
/// How many users' sessions are kept open.
const MAX_CACHED_SESSIONS: usize = 1024;

/// Where the task tools live.
#[derive(Clone)]
pub enum TaskTarget {
    Embedded(TaskStore),
    Remote {
        url: Url,
        keys: TokenKeys,
        /// One HTTP client for every user's session: one pool of kept-alive connections to
        /// the task server, instead of a client (TLS set-up, pool) per session and a new TCP
        /// connection per call, which rmcp's default client makes.
        http: reqwest::Client,
    },
}

impl TaskTarget {
    /// The task server at `url` (`todo-mcp serve`'s `/mcp`), with tokens signed by `keys`.
    pub fn remote(url: Url, keys: TokenKeys) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            // The task server never redirects; following one would send the user's token on.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(REMOTE_IDLE_CONNECTION)
            .build()?;
        Ok(Self::Remote { url, keys, http })
    }
}

/// MCP sessions to the task tools, one per user, reused across requests.
#[derive(Clone)]
pub struct TaskGateway {
    target: TaskTarget,
    sessions: Arc<Mutex<HashMap<UserId, CachedSession>>>,
    metrics: Arc<Metrics>,
}

/// A session's tools, listed once and shared by every use of the session.
type ToolList = Arc<OnceCell<Vec<Tool>>>;

struct CachedSession {
    client: Arc<TaskClient>,
    /// The server's tools, listed once per session: they do not change while it is open.
    tools: ToolList,
    reuse_until: Option<Instant>,
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
    /// The arguments did not serialize to a JSON object (a bug of the caller).
    #[error("the arguments of {tool} are not a JSON object")]
    NotAnObject { tool: ToolName },
    /// The tool answered without `structuredContent`.
    #[error("{tool} returned no structured content")]
    NoStructuredContent { tool: ToolName },
    /// The structured result is not what the tool's output schema promises.
    #[error("{tool} returned a result this host cannot read")]
    BadResult {
        tool: ToolName,
        #[source]
        source: serde_json::Error,
    },
}

/// A tool's answer to the model: the JSON shown to people and the text the model reads.
#[derive(Debug, Clone)]
pub struct ToolOutcome {
    pub is_error: bool,
    /// The structured result, or `{"code", "message"}` for an error.
    pub value: serde_json::Value,
    /// The result as JSON text, or the error sentence.
    pub for_model: String,
}

impl ToolOutcome {
    /// A failed call, with the error's kind and one sentence.
    pub fn failed(kind: ToolErrorKind, message: String) -> Self {
        Self {
            is_error: true,
            value: serde_json::json!({ "code": kind.code(), "message": message }),
            for_model: message,
        }
    }
}

/// An MCP session for one user.
pub struct TaskSession {
    client: Arc<TaskClient>,
    tools: ToolList,
    user: UserId,
    sessions: Arc<Mutex<HashMap<UserId, CachedSession>>>,
    /// Sent with every call (`_meta` baggage), so the server's log lines name the request.
    trace: TraceContext,
    metrics: Arc<Metrics>,
}

impl TaskGateway {
    /// Sessions to `target`, whose calls `metrics` counts by tool and outcome.
    pub fn new(target: TaskTarget, metrics: Arc<Metrics>) -> Self {
        Self {
            target,
            sessions: Arc::default(),
            metrics,
        }
    }

    /// An MCP session acting for `user`: a cached one when it is still usable, else a new one.
    pub async fn open(&self, user: UserId) -> Result<TaskSession, TaskCallError> {
        if let Some((client, tools)) = self.cached(user) {
            return Ok(self.session(user, client, tools));
        }
        let client = Arc::new(self.connect(user).await?);
        let tools = Arc::new(OnceCell::new());
        let reuse_until = match self.target {
            TaskTarget::Embedded(_) => None,
            TaskTarget::Remote { .. } => Some(Instant::now() + REMOTE_SESSION_REUSE),
        };
        if let Ok(mut sessions) = self.sessions.lock() {
            if sessions.len() >= MAX_CACHED_SESSIONS {
                // Any victim will do: an evicted session lives on until its callers finish.
                if let Some(victim) = sessions.keys().next().copied() {
                    sessions.remove(&victim);
                }
            }
            sessions.insert(
                user,
                CachedSession {
                    client: client.clone(),
                    tools: tools.clone(),
                    reuse_until,
                },
            );
        }
        Ok(self.session(user, client, tools))
    }

    fn session(&self, user: UserId, client: Arc<TaskClient>, tools: ToolList) -> TaskSession {
        TaskSession {
            client,
            tools,
            user,
            sessions: self.sessions.clone(),
            trace: TraceContext::default(),
            metrics: self.metrics.clone(),
        }
    }

    fn cached(&self, user: UserId) -> Option<(Arc<TaskClient>, ToolList)> {
        let mut sessions = self.sessions.lock().ok()?;
        let usable = sessions.get(&user).is_some_and(|session| {
            !session.client.is_closed()
                && session
                    .reuse_until
                    .is_none_or(|until| Instant::now() < until)
        });
        if usable {
            sessions
                .get(&user)
                .map(|session| (session.client.clone(), session.tools.clone()))
        } else {
            sessions.remove(&user);
            None
        }
    }

    async fn connect(&self, user: UserId) -> Result<TaskClient, TaskCallError> {
        let client = match &self.target {
            TaskTarget::Embedded(store) => in_process::connect(store.clone(), user)
                .await
                .map_err(|err| TaskCallError::Unreachable(Box::new(err)))?,
            TaskTarget::Remote { url, keys, http } => {
                let token = keys
                    .issue(user, Audience::Mcp, REMOTE_TOKEN_LIFETIME)
                    .map_err(|err| TaskCallError::Unreachable(Box::new(err)))?;
                let transport = StreamableHttpClientTransport::with_client(
                    http.clone(),
                    StreamableHttpClientTransportConfig::with_uri(url.as_str())
                        .auth_header(token.token),
                );
                tokio::time::timeout(CALL_TIMEOUT, ().serve(transport))
                    .await
                    .map_err(|elapsed| TaskCallError::Unreachable(Box::new(elapsed)))?
                    .map_err(|err| TaskCallError::Unreachable(Box::new(err)))?
            }
        };
        Ok(client)
    }
}

impl TaskSession {
    /// Names the request (and conversation) this session's calls serve, for the server's logs.
    pub fn with_trace(mut self, trace: TraceContext) -> Self {
        self.trace = trace;
        self
    }

    /// Calls `tool` with `arguments` and reads its structured result as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        tool: ToolName,
        arguments: &impl Serialize,
    ) -> Result<T, TaskCallError> {
        let Ok(serde_json::Value::Object(arguments)) = serde_json::to_value(arguments) else {
            return Err(TaskCallError::NotAnObject { tool });
        };
        let result = self.call_raw(tool.as_str(), arguments).await?;
        if result.is_error == Some(true) {
            return Err(tool_error(&result));
        }
        let value = result
            .structured_content
            .ok_or(TaskCallError::NoStructuredContent { tool })?;
        serde_json::from_value(value).map_err(|source| TaskCallError::BadResult { tool, source })
    }

    /// Calls a tool the model chose, with the model's arguments. A tool error is an outcome
    /// (the model reads it and can correct itself); only a transport failure is an `Err`.
    pub async fn call_for_model(
        &self,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<ToolOutcome, TaskCallError> {
        let result = self.call_raw(tool, arguments).await?;
        if result.is_error == Some(true) {
            let (kind, message) = tool_error_parts(&result);
            return Ok(ToolOutcome::failed(kind, message));
        }
        let text = text_of(&result, "\n");
        let value = match result.structured_content {
            Some(value) => value,
            None => serde_json::Value::String(text.clone()),
        };
        let for_model = if text.is_empty() {
            value.to_string()
        } else {
            text
        };
        Ok(ToolOutcome {
            is_error: false,
            value,
            for_model,
        })
    }

    /// The tools of the MCP server, as its `tools/list` gives them.
    /// The server's tools: listed on the session's first turn, then kept with the session.
    pub async fn tools(&self) -> Result<Vec<Tool>, TaskCallError> {
        let listed = self
            .tools
            .get_or_try_init(|| async {
                match tokio::time::timeout(CALL_TIMEOUT, self.client.list_all_tools()).await {
                    Ok(Ok(tools)) => Ok(tools),
                    Ok(Err(err)) => Err(TaskCallError::Unreachable(Box::new(err))),
                    Err(elapsed) => Err(TaskCallError::Unreachable(Box::new(elapsed))),
                }
            })
            .await;
        match listed {
            Ok(tools) => Ok(tools.clone()),
            Err(err) => {
                self.forget();
                Err(err)
            }
        }
    }

    /// What the MCP server tells a model about its tools (its `instructions`).
    pub fn instructions(&self) -> Option<String> {
        self.client
            .peer_info()
            .and_then(|info| info.instructions.clone())
    }

    /// Calls `tool` and returns its result as it came, errors included.
    async fn call_raw(
        &self,
        tool: &str,
        arguments: JsonObject,
    ) -> Result<CallToolResult, TaskCallError> {
        let mut request = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        if let Some(baggage) = self.trace.to_baggage() {
            let mut meta = RequestMetaObject::new();
            meta.set_baggage(baggage);
            request.meta = Some(meta);
        }
        let span = tracing::info_span!("tool_call", tool = %tool);
        let called = tokio::time::timeout(CALL_TIMEOUT, self.client.call_tool(request))
            .instrument(span.clone())
            .await;
        let outcome = match called {
            Ok(Ok(result)) => {
                if result.is_error == Some(true) {
                    span.in_scope(|| tracing::info!(tool, "the tool refused the call"));
                    self.metrics.tool_called(tool, ToolCallOutcome::Refused);
                } else {
                    self.metrics.tool_called(tool, ToolCallOutcome::Ok);
                }
                return Ok(result);
            }
            Ok(Err(err)) => TaskCallError::Unreachable(Box::new(err)),
            Err(elapsed) => TaskCallError::Unreachable(Box::new(elapsed)),
        };
        self.metrics.tool_called(tool, ToolCallOutcome::Unreachable);
        self.forget();
        Err(outcome)
    }

    /// Drops this session from the cache after a transport failure, so the next request
    /// connects afresh.
    fn forget(&self) {
        if let Ok(mut sessions) = self.sessions.lock() {
            let same = sessions
                .get(&self.user)
                .is_some_and(|cached| Arc::ptr_eq(&cached.client, &self.client));
            if same {
                sessions.remove(&self.user);
            }
        }
    }
}

fn tool_error(result: &CallToolResult) -> TaskCallError {
    let (kind, message) = tool_error_parts(result);
    TaskCallError::Tool { kind, message }
}

/// The kind (from `_meta`) and sentence of an `isError` result.
fn tool_error_parts(result: &CallToolResult) -> (ToolErrorKind, String) {
    let kind = result
        .meta
        .as_ref()
        .and_then(|meta| meta.0.get(ERROR_CODE_META_KEY))
        .and_then(|code| code.as_str())
        .and_then(ToolErrorKind::from_code)
        // An error without our code came from rmcp itself: bad argument types.
        .unwrap_or(ToolErrorKind::InvalidArgument);
    (kind, text_of(result, " "))
}

/// The text blocks of a result, joined by `separator`.
fn text_of(result: &CallToolResult, separator: &str) -> String {
    result
        .content
        .iter()
        .filter_map(|block| block.as_text())
        .map(|text| text.text.as_str())
        .collect::<Vec<_>>()
        .join(separator)
}
