//! `todo-mcp`: the standalone task MCP server. See `todo_mcp::cli`.

use std::process::ExitCode;

use clap::Parser as _;
use todo_mcp::cli::{self, Cli};

// JSON-RPC handling allocates many small objects; mimalloc serves them much faster than the
// system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.runtime() {
        Ok(runtime) => runtime.block_on(cli::run(cli)),
        Err(err) => Err(anyhow::Error::new(err).context("start the async runtime")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line on stderr; stdout stays clean for the MCP protocol.
            eprintln!("todo-mcp: {err:#}");
            ExitCode::FAILURE
        }
    }
}
