//! The task domain and the MCP task server of Todo Agent.
//!
//! This crate owns the task data: nothing else reads or writes the task tables. It offers the
//! task tools (`add_task`, `list_tasks`, `get_task`, `complete_task`, `update_task`, `delete_task`)
//! over three transports:
//! - stdio, for Claude Desktop and other local clients (`todo-mcp stdio`);
//! - streamable HTTP at `/mcp` with bearer tokens ([`http::mcp_endpoint`], mountable in any
//!   poem router, served alone by `todo-mcp serve`);
//! - in-process, for a host that embeds the server ([`in_process::connect`]).
//!
//! Main types: [`store::TaskStore`] (all SQL), [`tools::TaskServer`] (the MCP handler),
//! [`auth::TokenKeys`] (JWTs), and the domain types in [`task`].

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod in_process;
pub mod net;
pub mod server;
pub mod store;
pub mod task;
pub mod telemetry;
pub mod tools;
