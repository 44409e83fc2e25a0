//! Conversations and their messages: the host's record of every chat, read back on every turn.
//!
//! Every query is bounded and served by an index: a conversation is looked up by id and user,
//! listed by `(user_id, updated_at, id)`, and its messages are read newest first by
//! `(conversation_id, seq)`. That is what keeps a turn in a conversation of 10,000 messages as
//! cheap as one in a conversation of 50.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QueryTrait as _, Set, SqlErr, Statement, TransactionTrait,
    sea_query::InsertStatement,
};
use todo_mcp::{
    db::{SelectExt as _, SqliteThread, SqliteThreadError, rusqlite_conn::Violation},
    task::UserId,
};
use uuid::Uuid;

use super::{
    entity::{conversation, message},
    model::ToolCall,
};

/// The longest title, taken from the first message.
const TITLE_MAX_CHARS: usize = 80;
/// How often an append retries when another writer took the same `seq`.
const APPEND_ATTEMPTS: usize = 5;

/// A conversation as its owner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub id: Uuid,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    Tool,
}

/// Whether a message is whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Complete,
    /// The client went away before the reply was finished.
    Cancelled,
    /// The model failed or the step limit was reached before the reply was finished.
    Failed,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: Uuid,
    /// Its position in the conversation, from 1.
    pub seq: i64,
    pub role: Role,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub tool_name: Option<String>,
    pub is_error: Option<bool>,
    pub status: MessageStatus,
    pub created_at: DateTime<Utc>,
    /// On tool messages: the sentence frontends show for the call.
    pub summary: Option<String>,
}

/// What the user thought of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    Positive,
    Negative,
}

impl Feedback {
    pub fn name(self) -> &'static str {
        match self {
            Feedback::Positive => "positive",
            Feedback::Negative => "negative",
        }
    }
}

/// A message to store; the store gives it its `seq` and time.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub id: Uuid,
    pub role: Role,
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub tool_call_id: Option<String>,
    pub tool_name: Option<String>,
    pub is_error: Option<bool>,
    pub status: MessageStatus,
    pub summary: Option<String>,
}

impl NewMessage {
    /// A complete message of `role` with `content` and nothing else: no tool call, no summary.
    pub fn complete(role: Role, content: String) -> Self {
        Self {
            id: Uuid::now_v7(),
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            is_error: None,
            status: MessageStatus::Complete,
            summary: None,
        }
    }
}

/// One page of conversations, newest activity first.
#[derive(Debug)]
pub struct ConversationPage {
    pub conversations: Vec<Conversation>,
    pub next_cursor: Option<String>,
}

/// One page of messages in conversation order, and the `before` of the page older than it.
#[derive(Debug)]
pub struct MessagePage {
    pub messages: Vec<StoredMessage>,
    pub next_before: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("cursor is not one this server gave out")]
    BadCursor,
    #[error("conversation store failed")]
    Store(#[from] DbErr),
    /// The conversation was deleted (while a reply to it was running).
    #[error("the conversation was deleted")]
    Deleted,
    /// A stored row this code cannot read: a bug or a hand-edited database.
    #[error("message {message_id} is corrupt: {problem}")]
    Corrupt {
        message_id: Uuid,
        problem: Corruption,
    },
    #[error("could not encode tool calls")]
    Encode(#[source] serde_json::Error),
}

/// What is wrong with a stored message.
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    #[error("unknown role {0:?}")]
    Role(String),
    #[error("unknown status {0:?}")]
    Status(String),
    #[error("unreadable tool calls ({0})")]
    ToolCalls(#[source] serde_json::Error),
}

/// The `conversations` and `messages` tables.
#[derive(Clone, Debug)]
pub struct ConversationStore {
    db: DatabaseConnection,
    /// On a SQLite file, where a turn's inserts run instead of the pool: they are most of a
    /// turn's statements, and on sqlx's pool each costs several thread hand-offs (see
    /// `todo_mcp::db::SqliteThread`).
    sqlite: Option<SqliteThread>,
}

/// Why one attempt to append a message failed.
enum AppendFailure {
    /// Another writer took the `seq` first.
    SeqTaken,
    /// The conversation is gone.
    Deleted,
    Store(DbErr),
}

impl From<DbErr> for AppendFailure {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppendFailure::SeqTaken,
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => AppendFailure::Deleted,
            _ => AppendFailure::Store(err),
        }
    }
}

/// The same, for an insert run on the SQLite thread.
impl From<SqliteThreadError> for AppendFailure {
    fn from(err: SqliteThreadError) -> Self {
        match err.violation() {
            Some(Violation::Unique) => AppendFailure::SeqTaken,
            Some(Violation::ForeignKey) => AppendFailure::Deleted,
            None => AppendFailure::Store(err.into()),
        }
    }
}

impl ConversationStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db, sqlite: None }
    }

    /// The store, with its inserts sent to `thread`, a connection to the same SQLite file.
    pub fn with_sqlite_thread(mut self, thread: SqliteThread) -> Self {
        self.sqlite = Some(thread);
        self
    }

    /// Starts a conversation titled after its first message.
    pub async fn create(&self, user: UserId, first_message: &str) -> Result<Conversation, DbErr> {
        let now = now();
        let conversation = Conversation {
            id: Uuid::now_v7(),
            title: title_from(first_message),
            created_at: now,
            updated_at: now,
        };
        let insert = conversation::Entity::insert(conversation::ActiveModel {
            id: Set(conversation.id),
            user_id: Set(user.as_uuid()),
            title: Set(conversation.title.clone()),
            created_at: Set(now),
            updated_at: Set(now),
        });
        match &self.sqlite {
            Some(thread) => {
                thread.execute(insert.build(DbBackend::Sqlite)).await?;
            }
            None => {
                insert.exec_without_returning(&self.db).await?;
            }
        }
        Ok(conversation)
    }

    /// The user's conversation `id`; `None` when it does not exist or is someone else's.
    pub async fn find(&self, user: UserId, id: Uuid) -> Result<Option<Conversation>, DbErr> {
        Ok(conversation::Entity::find_by_id(id)
            .filter(conversation::Column::UserId.eq(user.as_uuid()))
            .first(&self.db)
            .await?
            .map(from_conversation))
    }

    /// The user's conversations, most recently active first.
    pub async fn list(
        &self,
        user: UserId,
        limit: u64,
        cursor: Option<&str>,
    ) -> Result<ConversationPage, ConversationError> {
        let after = cursor
            .map(|cursor| decode_cursor(cursor).ok_or(ConversationError::BadCursor))
            .transpose()?;
        let (conversations, more) = self.list_page(user, limit, true, after).await?;
        let next_cursor = more
            .then(|| {
                conversations
                    .last()
                    .map(|last| encode_cursor(last.updated_at, last.id))
            })
            .flatten();
        Ok(ConversationPage {
            conversations,
            next_cursor,
        })
    }

    /// The user's conversations by activity, newest or oldest first, after the conversation
    /// `after` (which must be the user's); and whether more follow.
    pub async fn list_after(
        &self,
        user: UserId,
        limit: u64,
        newest_first: bool,
        after: Option<Uuid>,
    ) -> Result<(Vec<Conversation>, bool), ConversationError> {
        let after = match after {
            Some(id) => {
                let found = self.find(user, id).await?;
                let found = found.ok_or(ConversationError::BadCursor)?;
                Some((found.updated_at, found.id))
            }
            None => None,
        };
        self.list_page(user, limit, newest_first, after).await
    }

    /// Up to `limit` of the user's conversations ordered by `(updated_at, id)`, past `after`.
    async fn list_page(
        &self,
        user: UserId,
        limit: u64,
        newest_first: bool,
        after: Option<(DateTime<Utc>, Uuid)>,
    ) -> Result<(Vec<Conversation>, bool), ConversationError> {
        let order = if newest_first {
            sea_orm::Order::Desc
        } else {
            sea_orm::Order::Asc
        };
        let mut query = conversation::Entity::find()
            .filter(conversation::Column::UserId.eq(user.as_uuid()))
            .order_by(conversation::Column::UpdatedAt, order.clone())
            .order_by(conversation::Column::Id, order);
        if let Some((updated_at, id)) = after {
            let (past_time, past_id) = if newest_first {
                (
                    conversation::Column::UpdatedAt.lt(updated_at),
                    conversation::Column::Id.lt(id),
                )
            } else {
                (
                    conversation::Column::UpdatedAt.gt(updated_at),
                    conversation::Column::Id.gt(id),
                )
            };
            query = query.filter(
                Condition::any().add(past_time).add(
                    Condition::all()
                        .add(conversation::Column::UpdatedAt.eq(updated_at))
                        .add(past_id),
                ),
            );
        }
        let mut rows = query.all_up_to(limit + 1, &self.db).await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        Ok((rows.into_iter().map(from_conversation).collect(), more))
    }

    /// Deletes the user's conversation and its messages; `false` when there was none.
    pub async fn delete(&self, user: UserId, id: Uuid) -> Result<bool, DbErr> {
        let txn = self.db.begin().await?;
        let owned = conversation::Entity::find_by_id(id)
            .filter(conversation::Column::UserId.eq(user.as_uuid()))
            .first(&txn)
            .await?
            .is_some();
        if owned {
            message::Entity::delete_many()
                .filter(message::Column::ConversationId.eq(id))
                .exec(&txn)
                .await?;
            conversation::Entity::delete_by_id(id).exec(&txn).await?;
        }
        txn.commit().await?;
        Ok(owned)
    }

    /// Appends a message at the end of the conversation.
    pub async fn append(
        &self,
        conversation_id: Uuid,
        new: NewMessage,
    ) -> Result<StoredMessage, ConversationError> {
        let tool_calls = (!new.tool_calls.is_empty())
            .then(|| serde_json::to_string(&new.tool_calls))
            .transpose()
            .map_err(ConversationError::Encode)?;
        let mut attempt = 0;
        let mut contended = false;
        loop {
            attempt += 1;
            let created_at = now();
            let insert = insert_next(conversation_id, &new, tool_calls.clone(), created_at)?;
            let inserted = match &self.sqlite {
                // SQLite's write lock already puts contended writers in line.
                Some(thread) => thread
                    .query_value::<i64>(DbBackend::Sqlite.build(&insert))
                    .await
                    .map_err(AppendFailure::from)
                    .and_then(|seq| seq.ok_or(AppendFailure::Store(DbErr::RecordNotInserted))),
                None if contended => self.insert_in_line(conversation_id, &insert).await,
                None => query_seq(&self.db, &insert).await,
            };
            match inserted {
                Ok(seq) => {
                    return Ok(StoredMessage {
                        id: new.id,
                        seq,
                        role: new.role,
                        content: new.content,
                        tool_calls: new.tool_calls,
                        tool_call_id: new.tool_call_id,
                        tool_name: new.tool_name,
                        is_error: new.is_error,
                        status: new.status,
                        created_at,
                        summary: new.summary,
                    });
                }
                // Another message of the same conversation took this seq first: take the next,
                // in line behind the others.
                Err(AppendFailure::SeqTaken) if attempt < APPEND_ATTEMPTS => contended = true,
                Err(AppendFailure::SeqTaken) => {
                    return Err(DbErr::Custom(format!(
                        "message seq of conversation {conversation_id} still taken after {APPEND_ATTEMPTS} attempts"
                    ))
                    .into());
                }
                Err(AppendFailure::Deleted) => return Err(ConversationError::Deleted),
                Err(AppendFailure::Store(err)) => return Err(err.into()),
            }
        }
    }

    /// An [`insert_next`] after a lost race for a `seq`, in line: on PostgreSQL a transaction
    /// holding an advisory lock of the conversation, so that messages arriving at once are
    /// numbered one after another instead of all retrying against each other (each statement
    /// there reads the rows committed before it started). Not the conversation's row lock: the
    /// trigger of a message inserted outside the line updates that row after taking its `seq`,
    /// and would deadlock with the line. SQLite's write lock already orders them.
    async fn insert_in_line(
        &self,
        conversation_id: Uuid,
        insert: &InsertStatement,
    ) -> Result<i64, AppendFailure> {
        let txn = self.db.begin().await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_advisory_xact_lock($1)",
                [advisory_key(conversation_id).into()],
            ))
            .await?;
        }
        let seq = query_seq(&txn, insert).await?;
        txn.commit().await?;
        Ok(seq)
    }

    /// Marks the conversation as active now, for the newest-first list.
    pub async fn touch(&self, conversation_id: Uuid) -> Result<(), DbErr> {
        conversation::Entity::update_many()
            .col_expr(
                conversation::Column::UpdatedAt,
                sea_orm::sea_query::Expr::value(now()),
            )
            .filter(conversation::Column::Id.eq(conversation_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Supersedes every message after a user message, for a retry of it: they stay stored but
    /// are no longer listed or sent to the model. `of` names the message (the conversation's
    /// last user message when `None`). Answers the message found, or `None`; when it is not a
    /// user message, nothing is superseded and the caller refuses the retry.
    pub async fn supersede_after_user_message(
        &self,
        conversation_id: Uuid,
        of: Option<Uuid>,
    ) -> Result<Option<StoredMessage>, ConversationError> {
        let txn = self.db.begin().await?;
        let mut target = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Superseded.eq(false));
        target = match of {
            Some(id) => target.filter(message::Column::Id.eq(id)),
            None => target
                .filter(message::Column::Role.eq(role_name(Role::User)))
                .order_by_desc(message::Column::Seq),
        };
        let Some(target) = target.first(&txn).await? else {
            txn.commit().await?;
            return Ok(None);
        };
        let target = from_message(target)?;
        if target.role == Role::User {
            message::Entity::update_many()
                .col_expr(
                    message::Column::Superseded,
                    sea_orm::sea_query::Expr::value(true),
                )
                .filter(message::Column::ConversationId.eq(conversation_id))
                .filter(message::Column::Seq.gt(target.seq))
                .filter(message::Column::Superseded.eq(false))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(Some(target))
    }

    /// The conversation's message `id`, unless it was superseded.
    pub async fn find_message(
        &self,
        conversation_id: Uuid,
        id: Uuid,
    ) -> Result<Option<StoredMessage>, ConversationError> {
        message::Entity::find_by_id(id)
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Superseded.eq(false))
            .first(&self.db)
            .await?
            .map(from_message)
            .transpose()
    }

    /// Renames the user's conversation; `None` when the user has no such conversation.
    pub async fn rename(
        &self,
        user: UserId,
        id: Uuid,
        title: &str,
    ) -> Result<Option<Conversation>, DbErr> {
        let renamed = conversation::Entity::update_many()
            .col_expr(
                conversation::Column::Title,
                sea_orm::sea_query::Expr::value(title),
            )
            .filter(conversation::Column::Id.eq(id))
            .filter(conversation::Column::UserId.eq(user.as_uuid()))
            .exec(&self.db)
            .await?;
        if renamed.rows_affected == 0 {
            return Ok(None);
        }
        self.find(user, id).await
    }

    /// Records the user's judgement of messages of a conversation, all or none: `false`, and
    /// nothing changed, when one of `ids` is not a current message of it.
    pub async fn set_feedback(
        &self,
        conversation_id: Uuid,
        ids: &[Uuid],
        feedback: Feedback,
    ) -> Result<bool, DbErr> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let txn = self.db.begin().await?;
        let updated = message::Entity::update_many()
            .col_expr(
                message::Column::Feedback,
                sea_orm::sea_query::Expr::value(feedback.name()),
            )
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Superseded.eq(false))
            .filter(message::Column::Id.is_in(ids.iter().copied()))
            .exec(&txn)
            .await?;
        if updated.rows_affected != ids.len() as u64 {
            txn.rollback().await?;
            return Ok(false);
        }
        txn.commit().await?;
        Ok(true)
    }

    /// The `limit` messages from `seq` `from` on, in conversation order; superseded replies
    /// are left out.
    pub async fn page_from(
        &self,
        conversation_id: Uuid,
        from: i64,
        limit: u64,
    ) -> Result<Vec<StoredMessage>, ConversationError> {
        message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Superseded.eq(false))
            .filter(message::Column::Seq.gte(from))
            .order_by_asc(message::Column::Seq)
            .all_up_to(limit, &self.db)
            .await?
            .into_iter()
            .map(from_message)
            .collect()
    }

    /// The `limit` messages before `before` (a `seq`; the newest when absent), in conversation
    /// order; superseded replies are left out.
    pub async fn page(
        &self,
        conversation_id: Uuid,
        before: Option<i64>,
        limit: u64,
    ) -> Result<MessagePage, ConversationError> {
        let mut query = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conversation_id))
            .filter(message::Column::Superseded.eq(false))
            .order_by_desc(message::Column::Seq);
        if let Some(before) = before {
            query = query.filter(message::Column::Seq.lt(before));
        }
        let mut rows = query.all_up_to(limit + 1, &self.db).await?;
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        rows.reverse();
        let next_before = more
            .then(|| rows.first().map(|oldest| oldest.seq))
            .flatten();
        let messages = rows
            .into_iter()
            .map(from_message)
            .collect::<Result<_, _>>()?;
        Ok(MessagePage {
            messages,
            next_before,
        })
    }
}

/// Now, to the microsecond: what both databases keep, so a cursor compares exactly.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// The first line of the first message, cut at a word boundary.
fn title_from(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("New conversation");
    if line.chars().count() <= TITLE_MAX_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(TITLE_MAX_CHARS - 1).collect();
    let cut = match cut.rfind(char::is_whitespace) {
        Some(space) if space > TITLE_MAX_CHARS / 2 => cut[..space].trim_end().to_owned(),
        _ => cut,
    };
    format!("{cut}…")
}

fn encode_cursor(updated_at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{id}", updated_at.timestamp_micros()))
}

fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).ok()?).ok()?;
    let (micros, id) = raw.split_once(':')?;
    Some((
        DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        Uuid::try_parse(id).ok()?,
    ))
}

fn from_conversation(row: conversation::Model) -> Conversation {
    Conversation {
        id: row.id,
        title: row.title,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn from_message(row: message::Model) -> Result<StoredMessage, ConversationError> {
    let corrupt = |problem| ConversationError::Corrupt {
        message_id: row.id,
        problem,
    };
    let role = match row.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => return Err(corrupt(Corruption::Role(other.to_owned()))),
    };
    let status = match row.status.as_str() {
        "complete" => MessageStatus::Complete,
        "cancelled" => MessageStatus::Cancelled,
        "failed" => MessageStatus::Failed,
        other => return Err(corrupt(Corruption::Status(other.to_owned()))),
    };
    let tool_calls = match &row.tool_calls {
        Some(json) => {
            serde_json::from_str(json).map_err(|err| corrupt(Corruption::ToolCalls(err)))?
        }
        None => Vec::new(),
    };
    Ok(StoredMessage {
        id: row.id,
        seq: row.seq,
        role,
        content: row.content,
        tool_calls,
        tool_call_id: row.tool_call_id,
        tool_name: row.tool_name,
        is_error: row.is_error,
        status,
        created_at: row.created_at,
        summary: row.summary,
    })
}

pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

pub fn status_name(status: MessageStatus) -> &'static str {
    match status {
        MessageStatus::Complete => "complete",
        MessageStatus::Cancelled => "cancelled",
        MessageStatus::Failed => "failed",
    }
}

/// The advisory lock key of a conversation's line of new messages: the random half of its
/// UUID (v7 ids begin with their time). Two conversations that share a key only wait for each
/// other.
fn advisory_key(conversation_id: Uuid) -> i64 {
    let bytes = conversation_id.as_bytes();
    let mut random = [0; 8];
    random.copy_from_slice(&bytes[8..]);
    i64::from_be_bytes(random)
}

/// The statement that stores `new` after the conversation's last message (`INSERT ... SELECT
/// MAX(seq) + 1 ... RETURNING seq`). The trigger `messages_touch_conversation` moves the
/// conversation's `updated_at` in the same statement.
fn insert_next(
    conversation_id: Uuid,
    new: &NewMessage,
    tool_calls: Option<String>,
    created_at: DateTime<Utc>,
) -> Result<InsertStatement, DbErr> {
    use message::Column;
    use sea_orm::{
        ExprTrait as _,
        sea_query::{Expr, Func, Query},
    };
    let next_seq = Expr::expr(Func::coalesce([
        Expr::col(Column::Seq).max(),
        Expr::val(0_i64),
    ]))
    .add(1_i64);
    let values = Query::select()
        .expr(Expr::val(new.id))
        .expr(Expr::val(conversation_id))
        .expr(next_seq)
        .expr(Expr::val(role_name(new.role)))
        .expr(Expr::val(new.content.clone()))
        .expr(Expr::val(tool_calls))
        .expr(Expr::val(new.tool_call_id.clone()))
        .expr(Expr::val(new.tool_name.clone()))
        .expr(Expr::val(new.is_error))
        .expr(Expr::val(status_name(new.status)))
        .expr(Expr::val(created_at))
        .expr(Expr::val(new.summary.clone()))
        .expr(Expr::val(false))
        .from(message::Entity)
        .and_where(Expr::col(Column::ConversationId).eq(conversation_id))
        // `take`, not `to_owned`: the builders answer `&mut Self`, and a clone of the whole
        // statement tree per message was a percent of the host's CPU per turn.
        .take();
    Ok(Query::insert()
        .into_table(message::Entity)
        .columns([
            Column::Id,
            Column::ConversationId,
            Column::Seq,
            Column::Role,
            Column::Content,
            Column::ToolCalls,
            Column::ToolCallId,
            Column::ToolName,
            Column::IsError,
            Column::Status,
            Column::CreatedAt,
            Column::Summary,
            Column::Superseded,
        ])
        .select_from(values)
        .map_err(|err| DbErr::Custom(err.to_string()))?
        .returning_col(Column::Seq)
        .take())
}

/// Runs an [`insert_next`] statement on `db` and answers the `seq` it took.
async fn query_seq(
    db: &impl ConnectionTrait,
    insert: &InsertStatement,
) -> Result<i64, AppendFailure> {
    let row = db
        .query_one(insert)
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    Ok(row.try_get::<i64>("", "seq")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_come_from_the_first_line_cut_at_a_word() {
        assert_eq!(title_from("  add milk  \nand eggs"), "add milk");
        assert_eq!(title_from("\n\n"), "New conversation");
        let long = "word ".repeat(40);
        let title = title_from(&long);
        assert!(title.ends_with("word…"), "{title}");
        assert!(title.chars().count() <= TITLE_MAX_CHARS);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let at = now();
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(at, id)), Some((at, id)));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }

    proptest::proptest! {
        /// A cursor from a client is read or refused, never a panic: as text, and as base64
        /// of any text (which gets past the first check).
        #[test]
        fn any_cursor_is_read_or_refused(raw in "\\PC{0,64}") {
            let _ = decode_cursor(&raw);
            let _ = decode_cursor(&URL_SAFE_NO_PAD.encode(&raw));
        }
    }
}
