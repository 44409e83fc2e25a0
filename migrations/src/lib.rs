//! Database migrations of Todo Agent.
//!
//! Two migrators with separate migration tables, so that the MCP task server can run against a
//! database of its own:
//! - [`TaskMigrator`] owns the task tables (`tasks`, `task_tags`), used by `todo-mcp`;
//! - [`HostMigrator`] owns the host's tables (`users`, `conversations`, `messages`), used by
//!   `todo-agent`.
//!
//! Every migration is written once for SQLite and PostgreSQL and has a `down`.

mod guard;
mod m20261125_000001_create_tasks;
mod m20261125_000002_create_host_tables;
mod m20261204_000003_message_summaries_and_retries;
mod m20261204_000004_revoked_tokens;
mod m20261204_000005_unicode_task_text;
mod m20261204_000006_unicode_emails;
mod m20261204_000007_conversation_activity;
mod m20261205_000008_message_feedback;
mod raw;
pub mod text;

pub use guard::up;

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::{MigrationTrait, prelude::*, sea_orm::DynIden};

/// Migrations of the task tables, recorded in `seaql_migrations_tasks`.
pub struct TaskMigrator;

#[async_trait::async_trait]
impl MigratorTrait for TaskMigrator {
    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_tasks").into_iden()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_tasks::Migration),
            Box::new(m20261204_000005_unicode_task_text::Migration),
        ]
    }
}

/// Migrations of the host's tables, recorded in `seaql_migrations_host`.
pub struct HostMigrator;

#[async_trait::async_trait]
impl MigratorTrait for HostMigrator {
    fn migration_table_name() -> DynIden {
        Alias::new("seaql_migrations_host").into_iden()
    }

    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000002_create_host_tables::Migration),
            Box::new(m20261204_000003_message_summaries_and_retries::Migration),
            Box::new(m20261204_000004_revoked_tokens::Migration),
            Box::new(m20261204_000006_unicode_emails::Migration),
            Box::new(m20261204_000007_conversation_activity::Migration),
            Box::new(m20261205_000008_message_feedback::Migration),
        ]
    }
}
