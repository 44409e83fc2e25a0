//! The shared test kit of Todo Agent and its end-to-end tests.
//!
//! - [`db::TestDb`]: a fresh database per test, SQLite in a temporary directory or a new
//!   PostgreSQL database on `TEST_DATABASE_URL` (dropped afterwards), built by the real migrators.
//! - [`skip`]: how a test that needs something missing (PostgreSQL, Python's MCP SDK) skips, and
//!   how `TODO_TEST_REQUIRE_ALL=1` turns that skip into a failure.
//! - [`agent`]: `todo-agent` in the test's process (`TestApp`) or as the real binary, and a
//!   client for its HTTP API.
//! - [`browser`]: headless Chromium over WebDriver, for the web pages.
//! - [`fake_openai`]: a scripted OpenAI-compatible model server; [`chat`]: the chat stream
//!   read event by event.
//! - [`mcp`]: the real `todo-mcp` binary over stdio and streamable HTTP, driven by the rmcp
//!   client, and typed helpers to call the task tools.
//! - [`eval`]: the assistant's evaluation, plain-English instructions judged by the task list
//!   afterwards (`cargo run -p todo-tests --bin eval`).

pub mod agent;
pub mod balancer;
pub mod browser;
pub mod chat;
pub mod chatkit;
pub mod db;
pub mod eval;
pub mod fake_openai;
pub mod mcp;
pub mod pg_cluster;
mod process;
pub mod skip;

/// The JWT secret every test server and token uses.
pub const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
