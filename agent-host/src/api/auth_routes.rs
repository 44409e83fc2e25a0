//! `/api/auth/*`: sign-up, sign-in and the current session.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::cookie::{Cookie, SameSite};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use todo_mcp::auth::Audience;
use uuid::Uuid;

use super::{
    ApiTags,
    error::{ApiError, ErrorResponse},
};
use crate::{
    accounts::Account,
    app::AppState,
    auth::{Auth, SESSION_COOKIE},
};

/// How long a sign-in lasts.
pub const SESSION_LIFETIME: chrono::Duration = chrono::Duration::days(7);

pub struct AuthApi {
    pub state: Arc<AppState>,
}

/// A new account.
#[derive(Debug, Object)]
pub struct SignupRequest {
    /// A valid email address; unique, compared case-insensitively.
    pub email: String,
    /// 8 to 128 characters.
    pub password: String,
    /// How to address the person (optional).
    pub name: Option<String>,
}

/// Credentials of an existing account.
#[derive(Debug, Object)]
pub struct SigninRequest {
    pub email: String,
    pub password: String,
}

/// A signed-in session: use `token` as `Authorization: Bearer <token>`.
#[derive(Debug, Object)]
pub struct SessionToken {
    pub user_id: Uuid,
    /// A JWT for this API (audience `todo-agent`).
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Who the token belongs to.
#[derive(Debug, Object)]
pub struct SessionInfo {
    pub user_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(ApiResponse)]
pub enum SignupResponse {
    /// The account exists and is signed in; the `todo_session` cookie is set too.
    #[oai(status = 201)]
    Created(Json<SessionToken>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum SigninResponse {
    /// Signed in; the `todo_session` cookie is set too.
    #[oai(status = 200)]
    Ok(Json<SessionToken>, #[oai(header = "Set-Cookie")] String),
}

#[OpenApi(tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account and sign in.
    #[oai(path = "/auth/signup", method = "post")]
    async fn signup(&self, body: Json<SignupRequest>) -> Result<SignupResponse, ErrorResponse> {
        let account = self
            .state
            .accounts
            .sign_up(&body.email, &body.password, body.name.as_deref())
            .await
            .map_err(ApiError::from)?;
        tracing::info!(user_id = %account.id, "account created");
        let (token, cookie) = self.session_for(&account)?;
        Ok(SignupResponse::Created(Json(token), cookie))
    }

    /// Sign in with email and password.
    #[oai(path = "/auth/signin", method = "post")]
    async fn signin(&self, body: Json<SigninRequest>) -> Result<SigninResponse, ErrorResponse> {
        let account = self
            .state
            .accounts
            .sign_in(&body.email, &body.password)
            .await
            .map_err(ApiError::from)?;
        let (token, cookie) = self.session_for(&account)?;
        Ok(SigninResponse::Ok(Json(token), cookie))
    }

    /// The account and expiry of the current token.
    #[oai(path = "/auth/session", method = "get")]
    async fn session(&self, auth: Auth) -> Result<Json<SessionInfo>, ErrorResponse> {
        let caller = auth.caller();
        let account = self
            .state
            .accounts
            .get(caller.user)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(SessionInfo {
            user_id: account.id.as_uuid(),
            email: account.email,
            name: account.name,
            expires_at: caller.expires_at,
        }))
    }
}

impl AuthApi {
    fn session_for(&self, account: &Account) -> Result<(SessionToken, String), ApiError> {
        let issued = self
            .state
            .keys
            .issue(account.id, Audience::Agent, SESSION_LIFETIME)
            .map_err(ApiError::internal)?;
        let security = self.state.security;
        let mut cookie = Cookie::new_with_str(SESSION_COOKIE, issued.token.clone());
        cookie.set_path("/");
        cookie.set_same_site(SameSite::Lax);
        cookie.set_http_only(security.cookie_http_only);
        cookie.set_secure(security.cookie_secure);
        cookie.set_max_age(
            SESSION_LIFETIME
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(3600)),
        );
        let token = SessionToken {
            user_id: account.id.as_uuid(),
            token: issued.token,
            expires_at: issued.expires_at,
        };
        Ok((token, cookie.to_string()))
    }
}
