//! The agent host of Todo Agent: configuration, accounts, authentication, the HTTP API, the
//! assistant and the way to the task tools (MCP, embedded or remote).
//!
//! The modules form layers, lowest first: `error_code`, `telemetry`, `metrics`, `retry`, `client`,
//! `config`, `limits`, `accounts`, `auth`, `tasks`, `chat`, `api`, `chatkit`, `middleware`, `web_pages`, `app`, `cli`. A
//! module imports only modules of lower layers (`docs/ARCHITECTURE.md`; checked by `tests/module_order.rs`).
//!
//! Main types: [`config::Config`] (every environment variable), [`app::App`] (the server),
//! [`accounts::AccountStore`] (users), [`tasks::TaskGateway`] (MCP sessions for a user),
//! [`chat::ChatService`] (the assistant) and [`api::error::ApiError`] (every HTTP failure).

pub mod accounts;
pub mod api;
pub mod app;
pub mod auth;
pub mod chat;
pub mod chatkit;
pub mod cli;
pub mod client;
pub mod config;
pub mod error_code;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod retry;
pub mod tasks;
pub mod telemetry;
pub mod web_pages;
