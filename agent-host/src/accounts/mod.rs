//! Accounts: sign-up and sign-in with email and password.
//!
//! Emails are trimmed and lower-cased before they are stored or looked up, so they are unique
//! case-insensitively. Passwords are hashed with Argon2id off the async threads; signing in with
//! an unknown email costs the same hash as a wrong password, and both get the same answer.

mod entity;
mod password;
mod revocations;

use std::{net::IpAddr, sync::Arc};

use chrono::{DateTime, Utc};
use email_address::EmailAddress;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, Set, SqlErr,
};
use todo_mcp::{
    db::{SelectExt as _, SqliteThread},
    task::UserId,
};
use todo_migrations::text;
use uuid::Uuid;

use entity::user;
pub use password::PasswordError;

use crate::limits::{Limits, RetryAfter};

/// The shortest and longest passwords accepted.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
const NAME_MAX_CHARS: usize = 100;
const EMAIL_MAX_CHARS: usize = 254;

/// A user as the host knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What can go wrong with accounts.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("email is not a valid address such as ada@example.com")]
    InvalidEmail,
    #[error("password must be {} to {} characters long", PASSWORD_CHARS.start(), PASSWORD_CHARS.end())]
    PasswordLength,
    #[error("name must be at most {NAME_MAX_CHARS} characters on one line")]
    InvalidName,
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Unknown email or wrong password: deliberately one variant.
    #[error("wrong email or password")]
    BadCredentials,
    #[error("no such account")]
    NotFound,
    /// Too many attempts for this account from this address, or from this address.
    #[error(transparent)]
    RateLimited(#[from] RetryAfter),
    /// Too many password checks at once.
    #[error("the server is busy checking passwords; try again in a moment")]
    Busy,
    #[error("password hashing failed")]
    Hashing(PasswordError),
    #[error("account store failed")]
    Store(#[from] DbErr),
}

impl From<PasswordError> for AccountError {
    fn from(err: PasswordError) -> Self {
        match err {
            PasswordError::Busy(_) => AccountError::Busy,
            other => AccountError::Hashing(other),
        }
    }
}

/// The `users` and `revoked_tokens` tables, and the sign-in limits.
#[derive(Clone)]
pub struct AccountStore {
    db: DatabaseConnection,
    /// On a SQLite file, where the session check of every request runs instead of the pool
    /// (see `todo_mcp::db::SqliteThread`).
    sqlite: Option<SqliteThread>,
    limits: Arc<Limits>,
}

impl std::fmt::Debug for AccountStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountStore").finish_non_exhaustive()
    }
}

impl AccountStore {
    pub fn new(db: DatabaseConnection, limits: Arc<Limits>) -> Self {
        Self {
            db,
            sqlite: None,
            limits,
        }
    }

    /// The store, with its session checks sent to `thread`, a connection to the same SQLite
    /// file.
    pub fn with_sqlite_thread(mut self, thread: SqliteThread) -> Self {
        self.sqlite = Some(thread);
        self
    }

    /// Creates an account for a person at `client` (sign-ups count against the address's
    /// sign-in attempts: each costs a password hash).
    pub async fn sign_up(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        client: IpAddr,
    ) -> Result<Account, AccountError> {
        let email = normalize_email(email)?;
        check_password(password)?;
        let name = normalize_name(name)?;
        self.limits.sign_in.check_sign_up(client)?;
        let hash = password::hash(&self.limits.hashing, password.to_owned()).await?;
        let account = Account {
            id: UserId::new(Uuid::now_v7()),
            email,
            name,
            created_at: now(),
        };
        let row = user::ActiveModel {
            id: Set(account.id.as_uuid()),
            email: Set(account.email.clone()),
            name: Set(account.name.clone()),
            password_hash: Set(hash),
            created_at: Set(account.created_at),
        };
        match user::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
        {
            Ok(_) => Ok(account),
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(AccountError::EmailTaken)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Checks a password. Attempts are limited per account and address, and per address; an
    /// unknown account counts like a known one, so the answer tells nothing.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<Account, AccountError> {
        // A malformed email is just another unknown email here.
        let normalized = normalize_email(email).ok();
        let key = normalized
            .clone()
            .unwrap_or_else(|| text::fold(email.trim()));
        self.limits.sign_in.check_sign_in(&key, client)?;
        let found = match &normalized {
            Some(email) => self.find_by_email(email).await?,
            None => None,
        };
        let stored_hash = found.as_ref().map(|row| row.password_hash.clone());
        if password::verify(&self.limits.hashing, password.to_owned(), stored_hash).await? {
            found.map(from_model).ok_or(AccountError::BadCredentials)
        } else {
            Err(AccountError::BadCredentials)
        }
    }

    pub async fn get(&self, id: UserId) -> Result<Account, AccountError> {
        user::Entity::find_by_id(id.as_uuid())
            .first(&self.db)
            .await?
            .map(from_model)
            .ok_or(AccountError::NotFound)
    }

    /// Whether a session token of `user` with id `jti` may still be used: the account exists
    /// and the token was not signed out.
    pub async fn session_is_active(&self, user: UserId, jti: Option<Uuid>) -> Result<bool, DbErr> {
        use sea_orm::{
            ConnectionTrait as _, ExprTrait as _,
            sea_query::{Expr, Query},
        };
        // One statement, one round trip, on every authenticated request.
        let account = Query::select()
            .expr(Expr::val(1))
            .from(user::Entity)
            .and_where(Expr::col(user::Column::Id).eq(user.as_uuid()))
            .take();
        let mut active = Expr::exists(account);
        if let Some(jti) = jti {
            active = active.and(Expr::exists(revocations::revoked(jti)).not());
        }
        let check = Query::select().expr_as(active, "active").take();
        if let Some(thread) = &self.sqlite {
            let active = thread.query_value(DbBackend::Sqlite.build(&check)).await?;
            return Ok(active.unwrap_or(false));
        }
        match self.db.query_one(&check).await? {
            Some(row) => row.try_get::<bool>("", "active"),
            None => Ok(false),
        }
    }

    /// Ends a session token for good (sign-out): it is refused from now on, by every process.
    pub async fn revoke_session(
        &self,
        user: UserId,
        jti: Uuid,
        expires_at: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        revocations::revoke(&self.db, jti, user, expires_at).await
    }

    pub async fn get_by_email(&self, email: &str) -> Result<Account, AccountError> {
        let email = normalize_email(email)?;
        self.find_by_email(&email)
            .await?
            .map(from_model)
            .ok_or(AccountError::NotFound)
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<user::Model>, DbErr> {
        user::Entity::find()
            .filter(user::Column::Email.eq(email))
            .first(&self.db)
            .await
    }
}

/// Every problem of a new account's fields at once (a form shows them all together);
/// `sign_up` stops at the first.
pub fn sign_up_problems(email: &str, password: &str, name: Option<&str>) -> Vec<AccountError> {
    [
        normalize_email(email).err(),
        check_password(password).err(),
        normalize_name(name).err(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Emails are stored and compared case-folded (full Unicode rules) in NFC, so one address
/// written two ways is one account.
fn normalize_email(raw: &str) -> Result<String, AccountError> {
    let email = text::fold(raw.trim());
    if email.chars().count() > EMAIL_MAX_CHARS || !EmailAddress::is_valid(&email) {
        return Err(AccountError::InvalidEmail);
    }
    Ok(email)
}

fn check_password(password: &str) -> Result<(), AccountError> {
    if !PASSWORD_CHARS.contains(&password.chars().count()) {
        return Err(AccountError::PasswordLength);
    }
    Ok(())
}

fn normalize_name(raw: Option<&str>) -> Result<Option<String>, AccountError> {
    let Some(name) = raw.map(str::trim).filter(|it| !it.is_empty()) else {
        return Ok(None);
    };
    let name = text::nfc(name);
    if name.chars().count() > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(AccountError::InvalidName);
    }
    if text::is_blank(&name) {
        return Ok(None);
    }
    Ok(Some(name))
}

fn from_model(row: user::Model) -> Account {
    Account {
        id: UserId::new(row.id),
        email: row.email,
        name: row.name,
        created_at: row.created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_validated() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        assert!(normalize_email("not-an-email").is_err());
        assert!(normalize_email("").is_err());
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(128)).is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }
}
