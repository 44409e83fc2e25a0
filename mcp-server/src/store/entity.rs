//! SeaORM entities of the tables this crate owns. They never leave the `store` module.

pub(crate) mod task {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub title: String,
        pub description: Option<String>,
        /// Lower-cased title and description, so that search is the same on every database.
        pub search_text: String,
        pub completed: bool,
        pub completed_at: Option<DateTimeUtc>,
        pub priority: i16,
        pub due_at: Option<DateTimeUtc>,
        /// A JSON array of lower-case tags; triggers mirror it into `task_tags`.
        pub tags: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(crate) mod task_tag {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "task_tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub task_id: Uuid,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag: String,
        pub user_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
