//! `todo-mcp`: the standalone task MCP server. See `todo_mcp::cli`.

use std::process::ExitCode;

use clap::Parser as _;
use todo_mcp::cli::{self, Cli};

// JSON-RPC handling allocates many small objects; mimalloc serves them much faster than the
// system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line on stderr; stdout stays clean for the MCP protocol.
            eprintln!("todo-mcp: {err:#}");
            ExitCode::FAILURE
        }
    }
}
