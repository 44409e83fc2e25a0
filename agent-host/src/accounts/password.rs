//! Argon2id password hashes, computed on the blocking pool through the [`HashGate`], which
//! bounds how many run and wait at once.

use std::sync::LazyLock;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

/// Hashing or verifying could not run.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("argon2 failed: {0}")]
    Argon2(argon2::password_hash::Error),
    #[error("the hashing task failed")]
    Task(#[from] tokio::task::JoinError),
    #[error("too many password checks are waiting")]
    Busy(#[from] crate::limits::Busy),
}

use crate::limits::HashGate;

/// Verified against when the email is unknown, so that answer takes as long as a wrong password.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"not a real password", &salt)
        .ok()
        .map(|hash| hash.to_string())
});

pub(super) async fn hash(gate: &HashGate, password: String) -> Result<String, PasswordError> {
    gate.run(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(PasswordError::Argon2)
    })
    .await??
}

/// True when `password` matches `stored`; with no stored hash, checks a dummy one and answers
/// false. The comparison inside argon2 is constant-time.
pub(super) async fn verify(
    gate: &HashGate,
    password: String,
    stored: Option<String>,
) -> Result<bool, PasswordError> {
    gate.run(move || {
        let known = stored.is_some();
        let Some(hash) = stored.or_else(|| DUMMY_HASH.clone()) else {
            return Ok(false);
        };
        let parsed = PasswordHash::new(&hash).map_err(PasswordError::Argon2)?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await??
}
