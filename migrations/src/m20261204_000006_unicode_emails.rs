//! Brings existing accounts to the one Unicode rule of [`crate::text`]: emails case-folded in
//! NFC (before, they were lower-cased, so `é` typed two ways made two accounts), names in NFC.
//! An email whose folded form another account already has is left as it is, so no account is
//! lost; the log of the migration names neither.

use sea_orm_migration::{prelude::*, sea_orm::FromQueryResult};

use crate::text::{fold, nfc};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Name,
}

#[derive(FromQueryResult)]
struct Row {
    id: uuid::Uuid,
    email: String,
    name: Option<String>,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let select = Query::select()
            .columns([Users::Id, Users::Email, Users::Name])
            .from(Users::Table)
            .to_owned();
        let rows = Row::find_by_statement(backend.build(&select))
            .all(db)
            .await?;
        let mut emails: std::collections::HashSet<String> =
            rows.iter().map(|row| row.email.clone()).collect();
        for row in rows {
            let folded = fold(row.email.trim());
            let email = if folded != row.email && !emails.contains(&folded) {
                emails.insert(folded.clone());
                folded
            } else {
                row.email.clone()
            };
            let name = row.name.as_deref().map(nfc);
            if email == row.email && name == row.name {
                continue;
            }
            let update = Query::update()
                .table(Users::Table)
                .values([(Users::Email, email.into()), (Users::Name, name.into())])
                .and_where(Expr::col(Users::Id).eq(row.id))
                .to_owned();
            db.execute(&update).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
