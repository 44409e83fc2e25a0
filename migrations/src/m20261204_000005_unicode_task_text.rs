//! Brings existing tasks to the one Unicode rule of [`crate::text`]: titles and descriptions in
//! NFC, `search_text` and tags case-folded with full Unicode rules (before, they were
//! lower-cased, so `Straße` and `STRASSE` were two tags and a search for one missed the other).
//! Rows already in that form are left alone; the tag triggers rebuild `task_tags` for the rest.

use sea_orm_migration::{prelude::*, sea_orm::FromQueryResult};

use crate::text::{fold, nfc};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Title,
    Description,
    SearchText,
    Tags,
}

#[derive(FromQueryResult)]
struct Row {
    id: uuid::Uuid,
    title: String,
    description: Option<String>,
    search_text: String,
    tags: String,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let select = Query::select()
            .columns([
                Tasks::Id,
                Tasks::Title,
                Tasks::Description,
                Tasks::SearchText,
                Tasks::Tags,
            ])
            .from(Tasks::Table)
            .to_owned();
        let rows = Row::find_by_statement(backend.build(&select))
            .all(db)
            .await?;
        for row in rows {
            let title = nfc(&row.title);
            let description = row.description.as_deref().map(nfc);
            let search_text = fold(&format!(
                "{title}\u{1f}{}",
                description.as_deref().unwrap_or("")
            ));
            let tags = folded_tags(&row.tags);
            if title == row.title
                && description == row.description
                && search_text == row.search_text
                && tags == row.tags
            {
                continue;
            }
            let update = Query::update()
                .table(Tasks::Table)
                .values([
                    (Tasks::Title, title.into()),
                    (Tasks::Description, description.into()),
                    (Tasks::SearchText, search_text.into()),
                    (Tasks::Tags, tags.into()),
                ])
                .and_where(Expr::col(Tasks::Id).eq(row.id))
                .to_owned();
            db.execute(&update).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Folded text is still valid text: nothing to undo.
        Ok(())
    }
}

/// The tags JSON array with each tag folded, without duplicates, sorted; unreadable JSON is
/// left as it is (the server reads it as no tags and says so in its log).
fn folded_tags(json: &str) -> String {
    let Ok(tags) = serde_json::from_str::<Vec<String>>(json) else {
        return json.to_owned();
    };
    let mut tags: Vec<String> = tags.iter().map(|tag| fold(tag)).collect();
    tags.sort();
    tags.dedup();
    serde_json::Value::from(tags).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_folded_and_merged() {
        assert_eq!(
            folded_tags(r#"["straße","strasse","äpfel"]"#),
            r#"["strasse","äpfel"]"#
        );
        assert_eq!(folded_tags("not json"), "not json");
    }
}
