//! The task tools for one user inside the caller's process: an MCP client and server joined by
//! an in-memory pipe. No socket, no token; the protocol is the same as over stdio or HTTP, so
//! a host that embeds the server exercises exactly the code external clients do.

use rmcp::{
    RoleClient, ServiceExt,
    service::{ClientInitializeError, RunningService},
};

use crate::{store::TaskStore, task::UserId, tools::TaskServer};

/// A connected MCP client; dropping it (or `cancel()`) ends its server too.
pub type TaskClient = RunningService<RoleClient, ()>;

/// Room for a few large tool results in flight before the writer waits.
const PIPE_CAPACITY: usize = 256 * 1024;

/// Starts a task server for `user` on a pipe and connects a client to it.
pub async fn connect(store: TaskStore, user: UserId) -> Result<TaskClient, ClientInitializeError> {
    let (server_io, client_io) = tokio::io::duplex(PIPE_CAPACITY);
    // The server task ends when the client side of the pipe closes, so it cannot outlive the
    // returned client.
    tokio::spawn(async move {
        match TaskServer::for_user(store, user).serve(server_io).await {
            Ok(running) => {
                if let Err(err) = running.waiting().await {
                    tracing::warn!(error = %err, "in-process task server ended abnormally");
                }
            }
            Err(err) => tracing::warn!(error = %err, "in-process task server failed to start"),
        }
    });
    ().serve(client_io).await
}
