//! A trigger that keeps `conversations.updated_at` at the time of the conversation's newest
//! message, in the same statement that stores the message: a chat turn no longer follows each
//! stored message with an UPDATE of its own (one database round trip less per step).

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: [&str; 1] = [
    r#"CREATE TRIGGER "messages_touch_conversation" AFTER INSERT ON "messages" BEGIN
        UPDATE "conversations" SET "updated_at" = NEW."created_at" WHERE "id" = NEW."conversation_id";
    END"#,
];

const POSTGRES_UP: [&str; 2] = [
    r#"CREATE FUNCTION "messages_touch_conversation"() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE "conversations" SET "updated_at" = NEW."created_at" WHERE "id" = NEW."conversation_id";
        RETURN NULL;
    END
    $$"#,
    r#"CREATE TRIGGER "messages_touch_conversation" AFTER INSERT ON "messages"
        FOR EACH ROW EXECUTE FUNCTION "messages_touch_conversation"()"#,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::raw::execute_for_backend(manager, &POSTGRES_UP, &SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let connection = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            connection
                .execute_unprepared(
                    r#"DROP TRIGGER IF EXISTS "messages_touch_conversation" ON "messages""#,
                )
                .await?;
            connection
                .execute_unprepared(r#"DROP FUNCTION IF EXISTS "messages_touch_conversation"()"#)
                .await?;
        } else {
            connection
                .execute_unprepared(r#"DROP TRIGGER IF EXISTS "messages_touch_conversation""#)
                .await?;
        }
        Ok(())
    }
}
