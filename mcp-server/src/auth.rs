//! Access tokens: HS256 JWTs whose `sub` is the user id.
//!
//! The algorithm is pinned and `exp`, `iat`, `aud` and `sub` are required, so a token with
//! `alg: none`, another algorithm, no expiry or another audience is refused. The same keys serve
//! the agent host (audience `todo-agent`) and MCP clients (audience `todo-mcp`); a token for one
//! audience is never accepted by the other.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret as _, SecretSlice};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::task::UserId;

/// The shortest `JWT_SECRET` accepted: HS256 wants at least 256 bits of key.
pub const MIN_SECRET_BYTES: usize = 32;

/// Who a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The web pages and the HTTP API of `todo-agent`.
    Agent,
    /// MCP clients of `todo-mcp` and of the host's `/mcp`.
    Mcp,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Agent => "todo-agent",
            Audience::Mcp => "todo-mcp",
        }
    }
}

/// The shared signing secret. `Debug` never shows it (and there is no `Display`).
#[derive(Clone, Debug)]
pub struct JwtSecret(SecretSlice<u8>);

impl JwtSecret {
    pub fn new(secret: impl Into<Vec<u8>>) -> Result<Self, WeakSecret> {
        let secret = secret.into();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(WeakSecret {
                length: secret.len(),
            });
        }
        Ok(Self(secret.into()))
    }
}

/// A secret too short to sign tokens safely.
#[derive(Debug, Clone, thiserror::Error)]
#[error("is {length} bytes long; use at least {MIN_SECRET_BYTES} random bytes")]
pub struct WeakSecret {
    pub length: usize,
}

/// A signed token and when it stops being valid.
#[derive(Clone)]
pub struct IssuedToken {
    pub token: String,
    /// The token's `jti`, by which it can be revoked.
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// What a verified token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user: UserId,
    /// The `jti`; tokens signed before ids were given have none.
    pub id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

/// Why a token was refused. Clients only ever learn "invalid token"; the kind is for logs.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token has expired")]
    Expired,
    #[error("token is not valid")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("token subject is not a user id")]
    BadSubject,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token id is not a UUID")]
    BadId,
    #[error("could not sign token")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

/// How far a token's times may be off the server's clock.
const LEEWAY_SECS: i64 = 30;

/// Signs and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKeys {
    pub fn new(secret: &JwtSecret) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.0.expose_secret()),
            decoding: DecodingKey::from_secret(secret.0.expose_secret()),
        }
    }

    pub fn issue(
        &self,
        user: UserId,
        audience: Audience,
        lifetime: Duration,
    ) -> Result<IssuedToken, TokenError> {
        let now = Utc::now();
        // Whole seconds, as `exp` carries it: the `expires_at` a client reads is the token's.
        let exp = (now + lifetime).timestamp();
        let expires_at = DateTime::from_timestamp(exp, 0).unwrap_or(now + lifetime);
        let id = Uuid::new_v4();
        let claims = Claims {
            sub: user.to_string(),
            aud: audience.as_str().to_owned(),
            iat: now.timestamp(),
            exp,
            jti: Some(id.to_string()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(TokenError::Sign)?;
        Ok(IssuedToken {
            token,
            id,
            expires_at,
        })
    }

    pub fn verify(&self, token: &str, audience: Audience) -> Result<VerifiedToken, TokenError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS as u64;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &validation)
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(err),
            })?;
        if data.claims.iat > Utc::now().timestamp().saturating_add(LEEWAY_SECS) {
            return Err(TokenError::IssuedInFuture);
        }
        let user = Uuid::try_parse(&data.claims.sub)
            .map(UserId::new)
            .map_err(|_| TokenError::BadSubject)?;
        let id = data
            .claims
            .jti
            .as_deref()
            .map(Uuid::try_parse)
            .transpose()
            .map_err(|_| TokenError::BadId)?;
        let expires_at =
            DateTime::from_timestamp(data.claims.exp, 0).ok_or(TokenError::BadSubject)?;
        Ok(VerifiedToken {
            user,
            id,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&JwtSecret::new("0123456789abcdef0123456789abcdef").unwrap())
    }

    fn user() -> UserId {
        UserId::new(Uuid::now_v7())
    }

    #[test]
    fn a_token_verifies_for_its_own_audience_only() {
        let user = user();
        let token = keys()
            .issue(user, Audience::Mcp, Duration::hours(1))
            .unwrap();
        assert_eq!(
            keys().verify(&token.token, Audience::Mcp).unwrap().user,
            user
        );
        assert!(keys().verify(&token.token, Audience::Agent).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let token = keys()
            .issue(user(), Audience::Mcp, Duration::hours(-1))
            .unwrap();
        assert!(matches!(
            keys().verify(&token.token, Audience::Mcp),
            Err(TokenError::Expired)
        ));
    }

    #[test]
    fn other_secrets_and_unsigned_tokens_are_refused() {
        let token = keys()
            .issue(user(), Audience::Mcp, Duration::hours(1))
            .unwrap();
        let other = TokenKeys::new(&JwtSecret::new("x".repeat(40)).unwrap());
        assert!(other.verify(&token.token, Audience::Mcp).is_err());

        let payload = token.token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            keys()
                .verify(&format!("{header}.{payload}."), Audience::Mcp)
                .is_err()
        );
    }

    #[test]
    fn tokens_from_the_future_or_with_a_bad_id_are_refused() {
        let keys = keys();
        let now = Utc::now().timestamp();
        let sign = |claims: serde_json::Value| {
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap()
        };
        let claims = |extra: serde_json::Value| {
            let mut claims = serde_json::json!({
                "sub": user().to_string(), "aud": "todo-mcp", "iat": now, "exp": now + 3600,
            });
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            claims
        };
        let verified = keys
            .verify(&sign(claims(serde_json::json!({}))), Audience::Mcp)
            .unwrap();
        assert_eq!(verified.id, None);
        assert!(matches!(
            keys.verify(
                &sign(claims(serde_json::json!({"iat": now + 3600}))),
                Audience::Mcp
            ),
            Err(TokenError::IssuedInFuture)
        ));
        assert!(
            keys.verify(
                &sign(claims(serde_json::json!({"nbf": now + 3600}))),
                Audience::Mcp
            )
            .is_err()
        );
        assert!(matches!(
            keys.verify(
                &sign(claims(serde_json::json!({"jti": "not-a-uuid"}))),
                Audience::Mcp
            ),
            Err(TokenError::BadId)
        ));
        let issued = keys
            .issue(user(), Audience::Mcp, Duration::hours(1))
            .unwrap();
        assert_eq!(
            keys.verify(&issued.token, Audience::Mcp).unwrap().id,
            Some(issued.id)
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtSecret::new("short").is_err());
    }
}
