//! The `tasks` and `task_tags` tables.
//!
//! Tags live in their own table, indexed by `(user_id, tag)`, so that filtering by tag is an
//! index lookup on both databases. The list order is served by an expression index; its
//! expression must stay exactly the one `todo-mcp` orders by.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    UserId,
    Title,
    Description,
    SearchText,
    Completed,
    CompletedAt,
    Priority,
    DueAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TaskTags {
    Table,
    TaskId,
    Tag,
    UserId,
}

/// Both databases accept this statement as written; a parenthesised expression is an index key.
const LIST_ORDER_INDEX: &str = r#"CREATE INDEX "idx_tasks_list_order" ON "tasks" ("user_id", "completed", ("due_at" IS NULL), "due_at", "priority" DESC, "id")"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(ColumnDef::new(Tasks::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tasks::UserId).uuid().not_null())
                    .col(ColumnDef::new(Tasks::Title).text().not_null())
                    .col(ColumnDef::new(Tasks::Description).text().null())
                    .col(ColumnDef::new(Tasks::SearchText).text().not_null())
                    .col(ColumnDef::new(Tasks::Completed).boolean().not_null())
                    .col(
                        ColumnDef::new(Tasks::CompletedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Tasks::Priority).small_integer().not_null())
                    .col(
                        ColumnDef::new(Tasks::DueAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(LIST_ORDER_INDEX)
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TaskTags::Table)
                    .col(ColumnDef::new(TaskTags::TaskId).uuid().not_null())
                    .col(ColumnDef::new(TaskTags::Tag).text().not_null())
                    .col(ColumnDef::new(TaskTags::UserId).uuid().not_null())
                    .primary_key(Index::create().col(TaskTags::TaskId).col(TaskTags::Tag))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TaskTags::Table, TaskTags::TaskId)
                            .to(Tasks::Table, Tasks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_task_tags_user_tag")
                    .table(TaskTags::Table)
                    .col(TaskTags::UserId)
                    .col(TaskTags::Tag)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskTags::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}
