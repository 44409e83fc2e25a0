//! Reading a bounded number of rows; on SQLite with the bound written into the SQL.
//!
//! SQLite lets the value bound to a `LIMIT ?` steer its query plan, so binding it marks the
//! prepared statement as expired: every execution parses and plans the query again. SeaORM binds
//! every limit, `one()` included (`LIMIT 1`), and on a small indexed read the re-preparing took
//! about a third of SQLite's time. A literal `LIMIT n` keeps one cached plan per `n`. Limits are
//! numbers, never user text, so writing them into the SQL is safe.
//!
//! PostgreSQL keeps the bound limit: it plans prepared statements once either way, and with a
//! literal limit and stale statistics (a table that grew since its last ANALYZE) its generic
//! plan sorted all of a user's rows instead of walking the list-order index.
//!
//! `clippy.toml` steers code here instead of SeaORM's `limit` and `one`.

use std::fmt::Write as _;

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, EntityTrait, QuerySelect as _, QueryTrait as _, Select,
    Statement,
};

/// SELECTs whose row limit SQLite can keep a plan for.
pub trait SelectExt<E: EntityTrait>: Sized {
    /// At most `limit` rows: `.limit(limit).all(db)`, with the limit literal on SQLite. The query
    /// must not have a limit or offset of its own.
    fn all_up_to<C: ConnectionTrait>(
        self,
        limit: u64,
        db: &C,
    ) -> impl Future<Output = Result<Vec<E::Model>, DbErr>> + Send;

    /// The first row, if any: `.one(db)`, with a literal `LIMIT 1` on SQLite.
    fn first<C: ConnectionTrait>(
        self,
        db: &C,
    ) -> impl Future<Output = Result<Option<E::Model>, DbErr>> + Send;
}

impl<E: EntityTrait> SelectExt<E> for Select<E>
where
    E::Model: Send + Sync,
{
    async fn all_up_to<C: ConnectionTrait>(
        self,
        limit: u64,
        db: &C,
    ) -> Result<Vec<E::Model>, DbErr> {
        let statement = build_up_to(self, limit, db.get_database_backend());
        E::find().from_raw_sql(statement).all(db).await
    }

    async fn first<C: ConnectionTrait>(self, db: &C) -> Result<Option<E::Model>, DbErr> {
        Ok(self.all_up_to(1, db).await?.into_iter().next())
    }
}

/// The statement of `select` limited to `limit` rows, the limit literal on SQLite. The query
/// must not have a limit or offset of its own.
pub fn build_up_to<E: EntityTrait>(select: Select<E>, limit: u64, backend: DbBackend) -> Statement {
    if backend != DbBackend::Sqlite {
        #[expect(
            clippy::disallowed_methods,
            reason = "only SQLite re-plans a bound LIMIT"
        )]
        return select.limit(limit).build(backend);
    }
    let mut statement = select.build(backend);
    // Writing to a String cannot fail.
    let _ = write!(statement.sql, " LIMIT {limit}");
    statement
}
