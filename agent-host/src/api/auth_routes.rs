//! `/api/auth/*`: sign-up, sign-in, sign-out and the current session.

use poem::Request;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use uuid::Uuid;

use super::{
    error::{ApiError, ErrorResponse},
    password::Password,
    tags::ApiTags,
    text::Text,
    timestamp::Timestamp,
};
use crate::{
    accounts::{Account, AccountStore},
    auth::{Auth, SessionIssuer},
    client::client_ip,
};

/// Accounts and the sessions they sign in to.
pub struct AuthApi {
    pub accounts: AccountStore,
    pub sessions: SessionIssuer,
}

/// A new account.
#[derive(Debug, Object)]
pub struct SignupRequest {
    /// A valid email address; unique, compared case-insensitively.
    pub email: Text,
    /// 8 to 128 characters.
    #[oai(write_only)]
    pub password: Password,
    /// How to address the person (optional).
    pub name: Option<Text>,
}

/// Credentials of an existing account.
#[derive(Debug, Object)]
pub struct SigninRequest {
    pub email: Text,
    #[oai(write_only)]
    pub password: Password,
}

/// A signed-in session: use `token` as `Authorization: Bearer <token>`. (Not `Debug`: it
/// holds the token.)
#[derive(Object)]
pub struct SessionToken {
    pub user_id: Uuid,
    /// A JWT for this API (audience `todo-agent`).
    pub token: String,
    pub expires_at: Timestamp,
}

/// Who the token belongs to.
#[derive(Debug, Object)]
pub struct SessionInfo {
    pub user_id: Uuid,
    pub email: String,
    #[oai(nullable)]
    pub name: Option<String>,
    pub expires_at: Timestamp,
}

#[derive(ApiResponse)]
pub enum SignupResponse {
    /// The account exists and is signed in; the `todo_session` cookie is set too.
    #[oai(status = 201)]
    Created(Json<SessionToken>, #[oai(header = "Set-Cookie")] String),
}

#[derive(ApiResponse)]
pub enum SignoutResponse {
    /// The token is revoked (refused from now on, by every process) and the cookie cleared.
    #[oai(status = 204)]
    SignedOut(#[oai(header = "Set-Cookie")] String),
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
    async fn signup(
        &self,
        request: &Request,
        body: Json<SignupRequest>,
    ) -> Result<SignupResponse, ErrorResponse> {
        let account = self
            .accounts
            .sign_up(
                body.email.as_str(),
                body.password.expose(),
                body.name.as_ref().map(Text::as_str),
                client_ip(request),
            )
            .await
            .map_err(ApiError::from)?;
        tracing::info!(user_id = %account.id, "account created");
        let (token, cookie) = self.session_for(&account)?;
        Ok(SignupResponse::Created(Json(token), cookie))
    }

    /// Sign in with email and password. Attempts are limited per account and address, and
    /// per address (429 with `Retry-After`).
    #[oai(path = "/auth/signin", method = "post")]
    async fn signin(
        &self,
        request: &Request,
        body: Json<SigninRequest>,
    ) -> Result<SigninResponse, ErrorResponse> {
        let account = self
            .accounts
            .sign_in(
                body.email.as_str(),
                body.password.expose(),
                client_ip(request),
            )
            .await
            .map_err(ApiError::from)?;
        let (token, cookie) = self.session_for(&account)?;
        Ok(SigninResponse::Ok(Json(token), cookie))
    }

    /// Sign out: the token (bearer or cookie) is revoked for good and the cookie cleared.
    #[oai(path = "/auth/signout", method = "post")]
    async fn signout(&self, auth: Auth) -> Result<SignoutResponse, ErrorResponse> {
        let caller = auth.caller();
        if let Some(token_id) = caller.token_id {
            self.accounts
                .revoke_session(caller.user, token_id, caller.expires_at)
                .await
                .map_err(ApiError::from)?;
        }
        tracing::info!(user_id = %caller.user, "signed out");
        Ok(SignoutResponse::SignedOut(self.sessions.sign_out_cookie()))
    }

    /// The account and expiry of the current token.
    #[oai(path = "/auth/session", method = "get")]
    async fn session(&self, auth: Auth) -> Result<Json<SessionInfo>, ErrorResponse> {
        let caller = auth.caller();
        let account = self
            .accounts
            .get(caller.user)
            .await
            .map_err(ApiError::from)?;
        Ok(Json(SessionInfo {
            user_id: account.id.as_uuid(),
            email: account.email,
            name: account.name,
            expires_at: caller.expires_at.into(),
        }))
    }
}

impl AuthApi {
    fn session_for(&self, account: &Account) -> Result<(SessionToken, String), ApiError> {
        let session = self
            .sessions
            .issue(account.id)
            .map_err(ApiError::internal)?;
        let token = SessionToken {
            user_id: account.id.as_uuid(),
            token: session.token,
            expires_at: session.expires_at.into(),
        };
        Ok((token, session.cookie))
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ParseFromJSON as _;
    use serde_json::json;

    use super::*;

    #[test]
    fn requests_never_print_their_password() {
        let signup = SignupRequest::parse_from_json(Some(
            json!({"email": "ada@example.com", "password": "hunter2 hunter2", "name": "Ada"}),
        ))
        .unwrap();
        let signin = SigninRequest::parse_from_json(Some(
            json!({"email": "ada@example.com", "password": "hunter2 hunter2"}),
        ))
        .unwrap();
        for printed in [format!("{signup:?}"), format!("{signin:?}")] {
            assert!(printed.contains("ada@example.com"), "{printed}");
            assert!(!printed.contains("hunter2"), "{printed}");
        }
    }
}
