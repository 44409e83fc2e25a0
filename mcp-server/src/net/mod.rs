//! Serving HTTP over TCP: [`HttpServer`] with its [`ConnectionLimits`], and
//! [`NoDelayAcceptor`] for servers that use poem's own loop (the test kit's fakes).
//!
//! Streamed responses (MCP events, the chat's SSE events) are small writes that must leave at
//! once; with Nagle's algorithm a write waits for the acknowledgement of the previous one, which
//! the peer may delay by tens of milliseconds, so every connection has `TCP_NODELAY` set.

mod activity;
mod limits;
mod serve;

pub use limits::{ConnectionLimits, positive, seconds};
pub use serve::HttpServer;

use std::io;

use poem::{
    http::uri::Scheme,
    listener::{Acceptor, TcpAcceptor},
    web::{LocalAddr, RemoteAddr},
};
use tokio::net::TcpStream;

/// A [`TcpAcceptor`] whose connections have `TCP_NODELAY` set.
pub struct NoDelayAcceptor(pub TcpAcceptor);

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        let (stream, local, remote, scheme) = self.0.accept().await?;
        if let Err(err) = stream.set_nodelay(true) {
            // The connection still works, only with delayed small writes.
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
        Ok((stream, local, remote, scheme))
    }
}
