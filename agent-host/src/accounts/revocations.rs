//! The `revoked_tokens` table: session tokens signed out before they expired.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait as _, DatabaseConnection, DbErr, EntityTrait as _, ExprTrait as _,
    QueryFilter as _, Set,
    sea_query::{Expr, OnConflict, Query, SelectStatement},
};
use todo_mcp::task::UserId;
use uuid::Uuid;

mod revoked_token {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "revoked_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub jti: Uuid,
        pub user_id: Uuid,
        pub expires_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records `jti` as revoked until `expires_at`, and forgets revocations whose tokens expired.
pub(super) async fn revoke(
    db: &DatabaseConnection,
    jti: Uuid,
    user: UserId,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = revoked_token::ActiveModel {
        jti: Set(jti),
        user_id: Set(user.as_uuid()),
        expires_at: Set(expires_at),
    };
    revoked_token::Entity::insert(row)
        .on_conflict(
            OnConflict::column(revoked_token::Column::Jti)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    revoked_token::Entity::delete_many()
        .filter(revoked_token::Column::ExpiresAt.lt(Utc::now()))
        .exec(db)
        .await?;
    Ok(())
}

/// `SELECT 1 FROM revoked_tokens WHERE jti = ...`, for an `EXISTS` in the session check.
pub(super) fn revoked(jti: Uuid) -> SelectStatement {
    Query::select()
        .expr(Expr::val(1))
        .from(revoked_token::Entity)
        .and_where(Expr::col(revoked_token::Column::Jti).eq(jti))
        .take()
}
