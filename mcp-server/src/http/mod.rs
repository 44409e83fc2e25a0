//! The task tools over MCP streamable HTTP, as a poem endpoint a host can mount anywhere.
//!
//! Every request must carry `Authorization: Bearer <JWT>` for audience `todo-mcp`; the verified
//! user goes into the request's extensions, where [`TaskServer::per_request`] reads it. The
//! service is stateless (no MCP session kept in memory), so any number of processes can serve
//! `/mcp` behind a load balancer.

use std::{sync::Arc, time::Duration};

use poem::{
    Body, Endpoint, EndpointExt, IntoResponse, Request, Response,
    endpoint::TowerCompatExt,
    http::{Method, StatusCode, header},
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{
    auth::{Audience, TokenError, TokenKeys},
    store::TaskStore,
    tools::TaskServer,
};

mod jsonrpc;
mod origin;

pub use origin::{AllowedOrigins, loopback_hosts};

/// The largest JSON-RPC request body accepted.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// Who may reach `/mcp`, and how long a client may take to send a message.
#[derive(Debug, Clone)]
pub struct McpHttpOptions {
    /// Browser origins allowed to call; a request with any other `Origin` gets 403.
    pub allowed_origins: AllowedOrigins,
    /// `Host` values accepted (a host without a port allows any port); others get 403.
    pub allowed_hosts: Vec<String>,
    /// How long a request body may take to arrive.
    pub body_read: Duration,
}

/// The MCP endpoint: origin, message and bearer checks in front of rmcp's streamable HTTP
/// service.
///
/// `shutdown` ends open streams when the server stops.
pub fn mcp_endpoint(
    store: TaskStore,
    keys: TokenKeys,
    options: McpHttpOptions,
    shutdown: CancellationToken,
) -> impl Endpoint<Output = Response> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(MAX_REQUEST_BODY_BYTES)
        // DNS rebinding: a page on another site that resolves its name to this server gets a
        // `Host` that is not ours. (Origins are checked before authentication, below.)
        .with_allowed_hosts(options.allowed_hosts.clone())
        .disable_allowed_origins()
        .with_cancellation_token(shutdown);
    let service = StreamableHttpService::new(
        move || Ok(TaskServer::per_request(store.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let keys = Arc::new(keys);
    let options = Arc::new(options);
    service.compat().around(move |endpoint, req: Request| {
        let keys = keys.clone();
        let options = options.clone();
        async move {
            match admit(&keys, &options, req).await {
                Ok((user, req)) => endpoint
                    .call(req)
                    .instrument(tracing::info_span!("mcp_request", %user))
                    .await
                    .map(IntoResponse::into_response),
                Err(rejection) => Ok(rejection),
            }
        }
    })
}

/// Checks a request: a foreign origin (403), then the token (401), then the message itself (a
/// malformed one gets a JSON-RPC error).
async fn admit(
    keys: &TokenKeys,
    options: &McpHttpOptions,
    mut req: Request,
) -> Result<(crate::task::UserId, Request), Response> {
    if let Some(origin) = req.header(header::ORIGIN)
        && !options.allowed_origins.allows(origin)
    {
        tracing::info!(origin, "refused an MCP request from a foreign origin");
        return Err(jsonrpc::forbidden_origin());
    }
    let user = authenticate(keys, &req).map_err(IntoResponse::into_response)?;
    if req.method() == Method::POST {
        let body = read_body(req.take_body(), options.body_read).await?;
        jsonrpc::check_message(&body)?;
        req.set_body(body);
    }
    req.extensions_mut().insert(user);
    Ok((user, req))
}

/// The whole body, within the size limit and the time limit.
async fn read_body(body: Body, limit: Duration) -> Result<Vec<u8>, Response> {
    match tokio::time::timeout(limit, body.into_bytes_limit(MAX_REQUEST_BODY_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(poem::error::ReadBodyError::PayloadTooLarge)) => Err(jsonrpc::error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            jsonrpc::INVALID_REQUEST,
            format!("the request body is larger than {MAX_REQUEST_BODY_BYTES} bytes"),
        )),
        Ok(Err(err)) => Err(jsonrpc::error_response(
            StatusCode::BAD_REQUEST,
            None,
            jsonrpc::PARSE_ERROR,
            format!("the request body could not be read: {err}"),
        )),
        Err(_) => Err(jsonrpc::error_response(
            StatusCode::REQUEST_TIMEOUT,
            None,
            jsonrpc::PARSE_ERROR,
            format!(
                "the request body did not arrive within {} s",
                limit.as_secs()
            ),
        )),
    }
}

/// Why a request to `/mcp` was refused.
#[derive(Debug)]
enum Rejection {
    MissingToken,
    BadToken(TokenError),
}

fn authenticate(keys: &TokenKeys, req: &Request) -> Result<crate::task::UserId, Rejection> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
        })
        .filter(|token| !token.is_empty())
        .ok_or(Rejection::MissingToken)?;
    keys.verify(token, Audience::Mcp)
        .map(|verified| verified.user)
        .map_err(Rejection::BadToken)
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (challenge, message) = match &self {
            Rejection::MissingToken => (
                r#"Bearer realm="todo-mcp""#,
                "an Authorization: Bearer token for todo-mcp is required",
            ),
            Rejection::BadToken(err) => {
                tracing::info!(reason = %err, "refused an MCP request with a bad token");
                (
                    r#"Bearer realm="todo-mcp", error="invalid_token""#,
                    "the bearer token is invalid or expired",
                )
            }
        };
        let body = serde_json::json!({"error": {"code": "unauthorized", "message": message}});
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, challenge)
            .content_type("application/json")
            .body(body.to_string())
    }
}
