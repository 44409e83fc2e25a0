//! The `tasks` and `task_tags` tables.
//!
//! A task's tags are stored on the task itself (`tags`, a JSON array of strings), so a task is
//! written and read with one statement. `task_tags` is an index of those tags, indexed by
//! `(user_id, tag)` so that filtering by tag is an index lookup on both databases; triggers keep
//! it in step with `tasks.tags` and the foreign key removes a deleted task's rows.
//! The list order is served by an expression index; its expression must stay exactly the one
//! `todo-mcp` orders by.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

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
    Tags,
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

/// Triggers that keep `task_tags` equal to the JSON array in `tasks.tags`.
const SQLITE_TAG_TRIGGERS: [&str; 2] = [
    r#"CREATE TRIGGER "task_tags_after_insert" AFTER INSERT ON "tasks" BEGIN
        INSERT INTO "task_tags" ("task_id", "tag", "user_id")
            SELECT NEW."id", "value", NEW."user_id" FROM json_each(NEW."tags");
    END"#,
    r#"CREATE TRIGGER "task_tags_after_update" AFTER UPDATE OF "tags" ON "tasks"
    WHEN OLD."tags" IS NOT NEW."tags" BEGIN
        DELETE FROM "task_tags" WHERE "task_id" = NEW."id";
        INSERT INTO "task_tags" ("task_id", "tag", "user_id")
            SELECT NEW."id", "value", NEW."user_id" FROM json_each(NEW."tags");
    END"#,
];

const POSTGRES_TAG_TRIGGERS: [&str; 3] = [
    r#"CREATE FUNCTION "task_tags_sync"() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            DELETE FROM "task_tags" WHERE "task_id" = NEW."id";
        END IF;
        INSERT INTO "task_tags" ("task_id", "tag", "user_id")
            SELECT NEW."id", "t"."tag", NEW."user_id" FROM json_array_elements_text(NEW."tags"::json) AS "t"("tag");
        RETURN NULL;
    END
    $$"#,
    r#"CREATE TRIGGER "task_tags_after_insert" AFTER INSERT ON "tasks"
        FOR EACH ROW EXECUTE FUNCTION "task_tags_sync"()"#,
    r#"CREATE TRIGGER "task_tags_after_update" AFTER UPDATE OF "tags" ON "tasks"
        FOR EACH ROW WHEN (OLD."tags" IS DISTINCT FROM NEW."tags") EXECUTE FUNCTION "task_tags_sync"()"#,
];

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
                    .col(ColumnDef::new(Tasks::Tags).text().not_null().default("[]"))
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
            .await?;
        crate::raw::execute_for_backend(manager, &POSTGRES_TAG_TRIGGERS, &SQLITE_TAG_TRIGGERS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TaskTags::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(r#"DROP FUNCTION IF EXISTS "task_tags_sync"()"#)
                .await?;
        }
        Ok(())
    }
}
