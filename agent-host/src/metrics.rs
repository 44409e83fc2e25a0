//! What `/metrics` reports, in the Prometheus text format: requests by route and status with
//! their latency, open chat streams, the model's time to its first token, the tokens it
//! streamed and those its server billed, tool calls by tool and outcome, and the database pool.
//!
//! One [`Metrics`] per process (not a global registry), shared by the parts that count. Every
//! label takes its value from a closed set, whatever clients or models send: the route is the
//! pattern it matched (`/api/:user_id/tasks`), never the path; a tool name the model made up is
//! `other`. Otherwise a client could grow the registry without bound.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use poem::{Endpoint, IntoResponse, PathPattern, Request, Response, http::Method};
use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use sea_orm::DatabaseConnection;
use todo_mcp::tools::ToolName;

/// The `Content-Type` of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The route label of a request no route matched (a 404 of any path).
const UNMATCHED_ROUTE: &str = "unmatched";

/// The process's counters, gauges and histograms.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RequestLabels, Histogram>,
    open_streams: Gauge,
    first_token_seconds: Histogram,
    tokens: Counter,
    usage_tokens: Family<UsageLabels, Counter>,
    tool_calls: Family<ToolCallLabels, Counter>,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max_connections: Gauge,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: Arc<str>,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UsageLabels {
    /// `prompt` or `completion`.
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ToolCallLabels {
    tool: &'static str,
    outcome: &'static str,
}

/// How a tool call ended, as `/metrics` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallOutcome {
    /// The tool did what it was asked.
    Ok,
    /// The tool answered with an error (`isError`): a missing task, a bad argument.
    Refused,
    /// The task server did not answer.
    Unreachable,
}

impl ToolCallOutcome {
    const fn label(self) -> &'static str {
        match self {
            ToolCallOutcome::Ok => "ok",
            ToolCallOutcome::Refused => "refused",
            ToolCallOutcome::Unreachable => "unreachable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolLabels {
    /// `idle` or `in_use`.
    state: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("todo");
        // 1 ms to about 33 s: from a cached page to a long chat turn.
        let latency = || Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let requests = Family::default();
        let request_seconds =
            Family::<RequestLabels, Histogram>::new_with_constructor(latency as fn() -> Histogram);
        let open_streams = Gauge::default();
        let first_token_seconds = latency();
        let tokens = Counter::default();
        let usage_tokens = Family::default();
        let tool_calls = Family::default();
        let pool_connections = Family::default();
        let pool_max_connections = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response's head (a stream's body runs on)",
            request_seconds.clone(),
        );
        registry.register(
            "chat_streams_open",
            "Chat replies being streamed to clients (Server-Sent Events)",
            open_streams.clone(),
        );
        registry.register(
            "model_time_to_first_token_seconds",
            "Time from a model request to the model's first text or tool call",
            first_token_seconds.clone(),
        );
        registry.register(
            "model_tokens_streamed",
            "Text chunks the model streamed to users",
            tokens.clone(),
        );
        registry.register(
            "model_usage_tokens",
            "Tokens the model server reported for its requests, by kind (prompt, completion); \
             servers that do not report usage add nothing",
            usage_tokens.clone(),
        );
        registry.register(
            "tool_calls",
            "Task tool calls, by tool and outcome",
            tool_calls.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database connections open, idle or in use",
            pool_connections.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "The most connections the pool opens",
            pool_max_connections.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            open_streams,
            first_token_seconds,
            tokens,
            usage_tokens,
            tool_calls,
            pool_connections,
            pool_max_connections,
        }
    }

    /// Counts an answered request: `route` is the pattern it matched, or `None` for no route.
    pub fn request_answered(
        &self,
        method: &Method,
        route: Option<&PathPattern>,
        status: u16,
        took: Duration,
    ) {
        let labels = RequestLabels {
            method: method_label(method),
            // The pages are nested at the root: a path nothing matched leaves their empty prefix.
            route: match route {
                Some(pattern) if !pattern.0.is_empty() => pattern.0.clone(),
                _ => Arc::from(UNMATCHED_ROUTE),
            },
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.request_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A chat stream opened; it counts as open until the returned guard drops.
    pub fn stream_opened(&self) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.open_streams.clone())
    }

    /// The model's first text or tool call arrived `took` after its request started.
    pub fn model_first_token(&self, took: Duration) {
        self.first_token_seconds.observe(took.as_secs_f64());
    }

    /// The model streamed one text chunk.
    pub fn token_streamed(&self) {
        self.tokens.inc();
    }

    /// A model request cost these tokens, as its server reported.
    pub fn model_usage(&self, prompt: u64, completion: u64) {
        for (kind, tokens) in [("prompt", prompt), ("completion", completion)] {
            self.usage_tokens
                .get_or_create(&UsageLabels { kind })
                .inc_by(tokens);
        }
    }

    /// A call of `tool` (as the caller named it) ended with `outcome`.
    pub fn tool_called(&self, tool: &str, outcome: ToolCallOutcome) {
        let tool = ToolName::parse(tool).map_or("other", ToolName::as_str);
        self.tool_calls
            .get_or_create(&ToolCallLabels {
                tool,
                outcome: outcome.label(),
            })
            .inc();
    }

    /// Everything, in the Prometheus text format, with the pool of `db` as it is now.
    pub fn render(&self, db: &DatabaseConnection) -> String {
        let pool = todo_mcp::db::pool_usage(db);
        self.pool_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(i64::from(pool.idle));
        self.pool_connections
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(i64::from(pool.open.saturating_sub(pool.idle)));
        self.pool_max_connections.set(i64::from(pool.max));
        let mut text = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// The method's label: one of HTTP's own, or `other` for a made-up one.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// An open chat stream, counted until it drops.
#[must_use = "the stream counts as open until this drops"]
pub struct OpenStream(Gauge);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Counts every request by the route pattern it matched (poem's router leaves it on the
/// response), its method and its status.
pub async fn count_requests<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    metrics: Arc<Metrics>,
) -> poem::Result<Response> {
    let started = Instant::now();
    let method = req.method().clone();
    let response = next.call(req).await.map(IntoResponse::into_response);
    let (route, status) = match &response {
        Ok(response) => (response.data::<PathPattern>(), response.status()),
        Err(err) => (err.data::<PathPattern>(), err.status()),
    };
    metrics.request_answered(&method, route, status.as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_up_tool_name_is_counted_as_other() {
        let metrics = Metrics::new();
        metrics.tool_called("add_task", ToolCallOutcome::Ok);
        metrics.tool_called("rm -rf /", ToolCallOutcome::Refused);
        let mut text = String::new();
        prometheus_text::encode(&mut text, &metrics.registry).expect("encode");
        assert!(
            text.contains(r#"todo_tool_calls_total{tool="add_task",outcome="ok"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"todo_tool_calls_total{tool="other",outcome="refused"} 1"#),
            "{text}"
        );
        assert!(!text.contains("rm -rf"), "{text}");
    }
}
