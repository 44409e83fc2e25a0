//! The task tools over MCP streamable HTTP, as a poem endpoint a host can mount anywhere.
//!
//! Every request must carry `Authorization: Bearer <JWT>` for audience `todo-mcp`; the verified
//! user goes into the request's extensions, where [`TaskServer::per_request`] reads it. The
//! service is stateless (no MCP session kept in memory), so any number of processes can serve
//! `/mcp` behind a load balancer.

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Request, Response,
    endpoint::TowerCompatExt,
    http::{StatusCode, header},
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

/// The largest JSON-RPC request body accepted.
const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// The MCP endpoint: bearer authentication in front of rmcp's streamable HTTP service.
///
/// `shutdown` ends open streams when the server stops.
pub fn mcp_endpoint(
    store: TaskStore,
    keys: TokenKeys,
    shutdown: CancellationToken,
) -> impl Endpoint<Output = Response> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_max_request_body_bytes(MAX_REQUEST_BODY_BYTES)
        // The Host check guards unauthenticated local servers against DNS rebinding. Every
        // request here must carry a bearer token a browser page cannot obtain, and the server
        // runs behind proxies with public host names, so the check is off.
        .disable_allowed_hosts()
        .with_cancellation_token(shutdown);
    let service = StreamableHttpService::new(
        move || Ok(TaskServer::per_request(store.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let keys = Arc::new(keys);
    service.compat().around(move |endpoint, mut req: Request| {
        let keys = keys.clone();
        async move {
            match authenticate(&keys, &req) {
                Ok(user) => {
                    req.extensions_mut().insert(user);
                    endpoint
                        .call(req)
                        .instrument(tracing::info_span!("mcp_request", %user))
                        .await
                        .map(IntoResponse::into_response)
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        }
    })
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
