//! Statements written out per database, for what the schema builder cannot say (triggers).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

/// Runs `postgres` on PostgreSQL and `sqlite` on SQLite, in order.
pub(crate) async fn execute_for_backend(
    manager: &SchemaManager<'_>,
    postgres: &[&str],
    sqlite: &[&str],
) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        DbBackend::Postgres => postgres,
        _ => sqlite,
    };
    for statement in statements {
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
    }
    Ok(())
}
