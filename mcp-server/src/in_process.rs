//! The task tools for one user inside the caller's process: an MCP client and server joined by
//! two in-memory channels of JSON-RPC messages. No socket, no token and no JSON text: the
//! messages are the protocol's own types handed over as values, so a host that embeds the
//! server runs the same handshake, requests and tool code as external clients do, without
//! encoding and parsing every result twice.

use futures::channel::mpsc;
use rmcp::{
    RoleClient, RoleServer, ServiceExt,
    service::{ClientInitializeError, RunningService, TxJsonRpcMessage},
};

use crate::{store::TaskStore, task::UserId, tools::TaskServer};

/// A connected MCP client; dropping it (or `cancel()`) ends its server too.
pub type TaskClient = RunningService<RoleClient, ()>;

/// Messages in flight each way before the sender waits.
const CHANNEL_CAPACITY: usize = 32;

/// Starts a task server for `user` on a pair of channels and connects a client to it.
pub async fn connect(store: TaskStore, user: UserId) -> Result<TaskClient, ClientInitializeError> {
    let (to_server, server_inbox) = mpsc::channel::<TxJsonRpcMessage<RoleClient>>(CHANNEL_CAPACITY);
    let (to_client, client_inbox) = mpsc::channel::<TxJsonRpcMessage<RoleServer>>(CHANNEL_CAPACITY);
    // The server task ends when the client's channel closes, so it cannot outlive the returned
    // client.
    tokio::spawn(async move {
        match TaskServer::for_user(store, user)
            .serve((to_client, server_inbox))
            .await
        {
            Ok(running) => {
                if let Err(err) = running.waiting().await {
                    tracing::warn!(error = %err, "in-process task server ended abnormally");
                }
            }
            Err(err) => tracing::warn!(error = %err, "in-process task server failed to start"),
        }
    });
    ().serve((to_server, client_inbox)).await
}
