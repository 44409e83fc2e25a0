//! SeaORM entities of the `conversations` and `messages` tables. They never leave the `chat`
//! module.

pub(super) mod conversation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub user_id: Uuid,
        pub title: String,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub(super) mod message {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "messages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub conversation_id: Uuid,
        pub seq: i64,
        pub role: String,
        pub content: String,
        /// JSON array of `{id, name, arguments}` on assistant messages that called tools.
        pub tool_calls: Option<String>,
        pub tool_call_id: Option<String>,
        pub tool_name: Option<String>,
        pub is_error: Option<bool>,
        pub status: String,
        pub created_at: DateTimeUtc,
        /// On tool messages: the sentence frontends show for the call.
        pub summary: Option<String>,
        /// Replaced by a retry of the user message before it: kept, never listed or sent.
        pub superseded: bool,
        /// `positive` or `negative`, from a ChatKit frontend's `items.feedback`.
        pub feedback: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
