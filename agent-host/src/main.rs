//! `todo-agent`: the main job. See `todo_agent::cli`.

use std::process::ExitCode;

use clap::Parser as _;
use todo_agent::cli::{self, Cli};

// JSON and JSON-RPC handling allocate many small objects; mimalloc serves them much faster
// than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    match cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("todo-agent: {err:#}");
            ExitCode::FAILURE
        }
    }
}
