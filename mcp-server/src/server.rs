//! The `todo-mcp serve` HTTP server: `/mcp` (streamable HTTP) and `/healthz`.
//!
//! Building binds the listener, so callers (and tests, with port 0) learn the address before
//! serving.

use std::{io, net::SocketAddr, time::Duration};

use poem::{EndpointExt, Route, get, handler};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::TokenKeys,
    http::{AllowedOrigins, McpHttpOptions, loopback_hosts, mcp_endpoint},
    net::{ConnectionLimits, HttpServer},
    store::TaskStore,
};

/// How long open requests get to finish after a shutdown signal.
const GRACE_PERIOD: Duration = Duration::from_secs(10);

/// Who may call `serve`: see [`crate::config::Config`].
#[derive(Debug, Clone)]
pub struct Access {
    pub allowed_origins: AllowedOrigins,
    pub allowed_hosts: Vec<String>,
}

/// A bound, not yet running, `todo-mcp serve`.
pub struct McpHttpServer {
    server: HttpServer,
    store: TaskStore,
    keys: TokenKeys,
    options: McpHttpOptions,
}

impl McpHttpServer {
    pub async fn bind(
        addr: SocketAddr,
        store: TaskStore,
        keys: TokenKeys,
        limits: ConnectionLimits,
        access: Access,
    ) -> io::Result<Self> {
        let server = HttpServer::bind(addr, limits).await?;
        let bound = server.local_addr()?;
        let mut allowed_hosts: Vec<String> =
            loopback_hosts().into_iter().map(str::to_owned).collect();
        allowed_hosts.push(bound.ip().to_string());
        allowed_hosts.extend(access.allowed_hosts);
        Ok(Self {
            server,
            store,
            keys,
            options: McpHttpOptions {
                allowed_origins: access.allowed_origins,
                allowed_hosts,
                body_read: limits.body_read,
            },
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.local_addr().ok()
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> io::Result<()> {
        let app = Route::new()
            .at(
                "/mcp",
                mcp_endpoint(self.store, self.keys, self.options, shutdown.child_token()),
            )
            .at("/healthz", get(healthz))
            .with(poem::middleware::Tracing);
        self.server.serve(app, shutdown, GRACE_PERIOD).await
    }
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}
