//! The `todo-mcp` command line: `stdio`, `serve --bind ADDR` and `migrate`.

use std::net::SocketAddr;

use anyhow::Context as _;
use rmcp::ServiceExt as _;
use secrecy::ExposeSecret as _;
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{Audience, TokenKeys},
    config::Config,
    db,
    server::{Access, McpHttpServer},
    store::TaskStore,
    telemetry,
    tools::TaskServer,
};

/// The Todo Agent task server (MCP).
#[derive(Debug, clap::Parser)]
#[command(name = "todo-mcp", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve MCP over stdin/stdout for the user of TODO_MCP_TOKEN (Claude Desktop and other
    /// local clients).
    Stdio,
    /// Serve MCP over streamable HTTP at /mcp; every request needs a bearer token.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7861")]
        bind: SocketAddr,
    },
    /// Create or update the task tables, then exit.
    Migrate,
}

impl Cli {
    /// The runtime `command` runs best on.
    ///
    /// `stdio` serves one client whose requests arrive over one pipe: a single thread reads,
    /// handles and answers each message without waking another thread in between, which took
    /// up to a tenth of a millisecond off each call in the mcp bench. SQLite runs on that thread
    /// too (`TaskStore::serving_one_client`); a PostgreSQL connection shares it, plenty for one
    /// client. `serve` takes many clients at once and gets every core.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let mut builder = match self.command {
            Command::Stdio => tokio::runtime::Builder::new_current_thread(),
            Command::Serve { .. } | Command::Migrate => tokio::runtime::Builder::new_multi_thread(),
        };
        builder.enable_all().build()
    }
}

/// Runs one command to completion. Configuration and token problems are reported before
/// anything else is printed.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Stdio => {
            let keys = TokenKeys::new(config.require_jwt_secret()?);
            let token = config.require_mcp_token()?;
            let user = keys
                .verify(token.expose_secret(), Audience::Mcp)
                .map_err(|err| anyhow::anyhow!("TODO_MCP_TOKEN is refused: {err}"))?
                .user;
            telemetry::init(&config.log_filter);
            // Listening for signals starts here, before the client can see us running.
            let shutdown = shutdown_signal();
            let migrated = db::connect_and_migrate(&config.database_url).await?;
            let store = TaskStore::serving_one_client(&config.database_url, migrated)
                .with_context(|| format!("open {}", config.database_url))?;
            tracing::info!(
                %user,
                database = %config.database_url,
                sqlite_on_serving_thread = store.runs_on_serving_thread(),
                "serving MCP on stdio"
            );
            // Clients start us with pipes: reading and writing them on the IO reactor saves
            // two hand-offs to blocking threads per message (a terminal or file falls back).
            let running = TaskServer::for_user(store, user)
                .serve(rmcp::transport::stdio_pipes())
                .await
                .context("start the MCP session on stdio")?;
            tokio::select! {
                ended = running.waiting() => {
                    ended.context("MCP session on stdio")?;
                }
                () = shutdown.cancelled() => tracing::info!("stopping on signal"),
            }
            Ok(())
        }
        Command::Serve { bind } => {
            let keys = TokenKeys::new(config.require_jwt_secret()?);
            telemetry::init(&config.log_filter);
            let store = TaskStore::new(db::connect_and_migrate(&config.database_url).await?);
            let access = Access {
                allowed_origins: config.allowed_origins.clone(),
                allowed_hosts: config.allowed_hosts.clone(),
            };
            let server = McpHttpServer::bind(bind, store, keys, config.limits, access)
                .await
                .with_context(|| format!("listen on {bind}"))?;
            let addr = server.local_addr().unwrap_or(bind);
            tracing::info!(database = %config.database_url, "serving MCP at http://{addr}/mcp");
            server
                .run_until_stopped(shutdown_signal())
                .await
                .context("serve HTTP")
        }
        Command::Migrate => {
            telemetry::init(&config.log_filter);
            db::connect_and_migrate(&config.database_url).await?;
            tracing::info!(database = %config.database_url, "task tables are up to date");
            Ok(())
        }
    }
}

/// A token cancelled on Ctrl-C or SIGTERM; `todo-agent` uses it too. The signal handlers are
/// registered before this returns, so a signal that arrives at any later moment is a clean
/// shutdown, never the default kill.
pub fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let signals = Signals::register();
    tokio::spawn(async move {
        signals.recv().await;
        tracing::info!("shutting down; letting open requests finish");
        cancel.cancel();
    });
    token
}

/// The shutdown signals, registered with the OS.
struct Signals {
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    #[cfg(unix)]
    fn register() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            terminate: signal(SignalKind::terminate()).ok(),
            interrupt: signal(SignalKind::interrupt()).ok(),
        }
    }

    #[cfg(not(unix))]
    fn register() -> Self {
        Self {}
    }

    #[cfg(unix)]
    async fn recv(mut self) {
        async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            () = next(&mut self.terminate) => {}
            () = next(&mut self.interrupt) => {}
        }
    }

    #[cfg(not(unix))]
    async fn recv(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
