//! The `todo-mcp serve` HTTP server: `/mcp` (streamable HTTP) and `/healthz`.
//!
//! Building binds the listener, so callers (and tests, with port 0) learn the address before
//! serving.

use std::{io, net::SocketAddr, time::Duration};

use poem::{
    EndpointExt, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
};
use tokio_util::sync::CancellationToken;

use crate::{auth::TokenKeys, http::mcp_endpoint, net::NoDelayAcceptor, store::TaskStore};

/// How long open requests get to finish after a shutdown signal.
const GRACE_PERIOD: Duration = Duration::from_secs(10);

/// A bound, not yet running, `todo-mcp serve`.
pub struct McpHttpServer {
    acceptor: NoDelayAcceptor,
    store: TaskStore,
    keys: TokenKeys,
}

impl McpHttpServer {
    pub async fn bind(addr: SocketAddr, store: TaskStore, keys: TokenKeys) -> io::Result<Self> {
        let acceptor = NoDelayAcceptor(TcpListener::bind(addr).into_acceptor().await?);
        Ok(Self {
            acceptor,
            store,
            keys,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.acceptor
            .local_addr()
            .into_iter()
            .find_map(|addr| addr.as_socket_addr().copied())
    }

    /// Serves until `shutdown` is cancelled, then lets open requests finish.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> io::Result<()> {
        let app = Route::new()
            .at(
                "/mcp",
                mcp_endpoint(self.store, self.keys, shutdown.child_token()),
            )
            .at("/healthz", get(healthz))
            .with(poem::middleware::Tracing);
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown.cancelled_owned(), Some(GRACE_PERIOD))
            .await
    }
}

#[handler]
fn healthz() -> &'static str {
    "ok"
}
