//! Group commit for new tasks.
//!
//! Concurrent `add_task` calls are queued and written by one task as a single multi-row
//! `INSERT`, so a burst of adds costs one statement (and on SQLite one write lock) instead of one
//! each. A lone add is written at once: the queue only batches what is already waiting.

use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use tokio::sync::{mpsc, oneshot};

use super::entity::task;

/// The most rows one `INSERT` carries; bounded to stay under SQLite's limit on bound values.
const MAX_BATCH: usize = 64;
/// Adds waiting beyond this make callers wait for room (back-pressure).
const QUEUE_CAPACITY: usize = 1024;

struct PendingAdd {
    row: task::ActiveModel,
    written: oneshot::Sender<Result<(), DbErr>>,
}

/// The sending side; the writer task ends when the last clone is dropped.
#[derive(Clone, Debug)]
pub(super) struct AddQueue {
    sender: mpsc::Sender<PendingAdd>,
}

/// Why a queued add was not written.
#[derive(Debug, thiserror::Error)]
pub(super) enum AddError {
    #[error(transparent)]
    Db(#[from] DbErr),
    #[error("the task writer has stopped")]
    WriterGone,
}

impl AddQueue {
    /// Starts the writer task on the current runtime.
    pub(super) fn start(db: DatabaseConnection) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_batches(db, receiver));
        Self { sender }
    }

    /// Waits until `row` is written (or failed to be).
    pub(super) async fn add(&self, row: task::ActiveModel) -> Result<(), AddError> {
        let (written, outcome) = oneshot::channel();
        self.sender
            .send(PendingAdd { row, written })
            .await
            .map_err(|_| AddError::WriterGone)?;
        outcome
            .await
            .map_err(|_| AddError::WriterGone)?
            .map_err(AddError::Db)
    }
}

async fn write_batches(db: DatabaseConnection, mut receiver: mpsc::Receiver<PendingAdd>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows = batch.iter().map(|pending| pending.row.clone());
        match task::Entity::insert_many(rows)
            .exec_without_returning(&db)
            .await
        {
            Ok(_) => {
                for pending in batch.drain(..) {
                    let _ = pending.written.send(Ok(()));
                }
            }
            // A failed batch wrote nothing: write its rows one by one so that each caller
            // gets its own outcome.
            Err(_) => {
                for pending in batch.drain(..) {
                    let outcome = task::Entity::insert(pending.row)
                        .exec_without_returning(&db)
                        .await
                        .map(|_| ());
                    let _ = pending.written.send(outcome);
                }
            }
        }
    }
}
