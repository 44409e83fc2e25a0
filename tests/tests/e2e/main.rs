//! End-to-end tests: the real binaries, driven the way clients drive them.
//!
//! Tests in `tools` run on every combination of database (SQLite, PostgreSQL) and transport
//! (stdio, streamable HTTP); PostgreSQL ones skip, saying so, without `TEST_DATABASE_URL`.

mod api;
mod api_fuzz;
mod browser;
mod chat;
mod chatkit;
mod eval;
mod faults;
mod http_auth;
mod limits;
mod metrics;
mod migrations;
mod process;
mod python_sdk;
mod scale_out;
mod security;
mod slow_clients;
mod stdio;
mod tools;
mod web;

/// Runs each listed `async fn(Harness)` on SQLite and PostgreSQL, over stdio and HTTP.
macro_rules! on_every_server {
    ($($test:ident),* $(,)?) => {
        on_every_server!(@variant sqlite_stdio, Sqlite, Stdio; $($test),*);
        on_every_server!(@variant sqlite_http, Sqlite, Http; $($test),*);
        on_every_server!(@variant postgres_stdio, Postgres, Stdio; $($test),*);
        on_every_server!(@variant postgres_http, Postgres, Http; $($test),*);
    };
    (@variant $module:ident, $backend:ident, $transport:ident; $($test:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let name = concat!(module_path!(), "::", stringify!($test));
                    if let Some(harness) = todo_tests::mcp::Harness::start(
                        todo_tests::db::Backend::$backend,
                        todo_tests::mcp::Transport::$transport,
                        name,
                    )
                    .await
                    {
                        super::$test(harness).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use on_every_server;
