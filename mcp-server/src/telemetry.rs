//! Tracing set-up. Logs go to stderr: for `todo-mcp stdio`, stdout is the protocol.

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// Builds the subscriber that `init` installs; tests can build one with another writer.
pub fn subscriber<W>(filter: &str, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(writer)
        .with_ansi(false)
        .finish()
}

/// Installs the global subscriber, logging to stderr. `filter` was checked by the config.
pub fn init(filter: &str) {
    // Only fails when a subscriber is already installed, and then that one keeps working.
    let _ = tracing::subscriber::set_global_default(subscriber(filter, std::io::stderr));
}
