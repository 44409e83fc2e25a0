//! The agent host of Todo Agent: configuration, accounts, authentication, the HTTP API and the
//! way to the task tools (MCP, embedded or remote).
//!
//! Main types: [`config::Config`] (every environment variable), [`app::App`] (the server),
//! [`accounts::AccountStore`] (users), [`tasks::TaskGateway`] (MCP sessions for a user) and
//! [`api::error::ApiError`] (every HTTP failure).

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod config;
pub mod tasks;
