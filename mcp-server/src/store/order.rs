//! The list order and the keyset condition that continues it after a cursor.
//!
//! The order is `completed, (due_at IS NULL), due_at, priority DESC, id`, written exactly as the
//! `idx_tasks_list_order` expression index of the migration so that both databases walk the
//! index instead of sorting.

use sea_orm::{
    ColumnTrait, Condition, ExprTrait as _, QueryOrder, Select,
    sea_query::{Expr, Order},
};

use super::entity::task;
use crate::task::Cursor;

pub(super) fn in_list_order(select: Select<task::Entity>) -> Select<task::Entity> {
    select
        .order_by_asc(task::Column::Completed)
        .order_by(Expr::col(task::Column::DueAt).is_null(), Order::Asc)
        .order_by_asc(task::Column::DueAt)
        .order_by_desc(task::Column::Priority)
        .order_by_asc(task::Column::Id)
}

/// Rows strictly after `cursor` in list order.
pub(super) fn after(cursor: &Cursor) -> Condition {
    let rank = cursor.priority.rank();
    let id = cursor.id.as_uuid();
    let same_due_after = Condition::any().add(task::Column::Priority.lt(rank)).add(
        Condition::all()
            .add(task::Column::Priority.eq(rank))
            .add(task::Column::Id.gt(id)),
    );
    let same_completion_after = match cursor.due_at {
        Some(due_at) => Condition::any()
            .add(task::Column::DueAt.is_null())
            .add(task::Column::DueAt.gt(due_at))
            .add(
                Condition::all()
                    .add(task::Column::DueAt.eq(due_at))
                    .add(same_due_after),
            ),
        None => Condition::all()
            .add(task::Column::DueAt.is_null())
            .add(same_due_after),
    };
    if cursor.completed {
        Condition::all()
            .add(task::Column::Completed.eq(true))
            .add(same_completion_after)
    } else {
        Condition::any().add(task::Column::Completed.eq(true)).add(
            Condition::all()
                .add(task::Column::Completed.eq(false))
                .add(same_completion_after),
        )
    }
}
