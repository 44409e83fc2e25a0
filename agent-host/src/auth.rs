//! Who is calling: a `todo-agent` JWT from `Authorization: Bearer` or the `todo_session` cookie.
//!
//! A token is accepted when its signature, audience and times are valid, its account exists and
//! it was not signed out (`revoked_tokens`): a token of a deleted account or a signed-out session
//! is refused by every process. A request that sends a bearer token is judged by it alone: a
//! bad one is not rescued by a cookie.
//!
//! The scheme types here are poem-openapi security schemes, so the OpenAPI document lists both
//! ways. A cookie-authenticated request that changes state must come from this site (its
//! `Origin`, or `Referer`, must match `PUBLIC_BASE_URL`): with `SameSite=Lax` on the cookie this
//! protects the browser flows against CSRF. A bearer token is never sent by a browser on its
//! own, so bearer requests need no such check.

use chrono::{DateTime, Utc};
use poem::{
    Request, RequestBody,
    http::Method,
    web::{
        cookie::{Cookie, SameSite},
        headers::{self, HeaderMapExt},
    },
};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, SecurityScheme,
    auth::{ApiKey, Bearer, BearerAuthorization},
    error::AuthorizationError,
    registry::Registry,
};
use todo_mcp::{
    auth::{Audience, TokenError, TokenKeys},
    task::UserId,
};
use url::Url;

use crate::{accounts::AccountStore, config::Security, telemetry::record_on_request};

/// The cookie the browser keeps its session token in.
pub const SESSION_COOKIE: &str = "todo_session";
/// How long a sign-in lasts.
pub const SESSION_LIFETIME: chrono::Duration = chrono::Duration::days(7);

/// The token is valid but the path names another user.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("this token does not belong to that user")]
pub struct WrongUser;

/// A verified caller.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user: UserId,
    /// The token's id, by which sign-out revokes it.
    pub token_id: Option<uuid::Uuid>,
    pub expires_at: DateTime<Utc>,
}

/// `Authorization: Bearer <JWT>` with audience `todo-agent`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerToken(Caller);

/// The `todo_session` cookie set by sign-in.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "todo_session",
    key_in = "cookie",
    checker = "check_cookie"
)]
pub struct SessionCookie(Caller);

/// Either way of authenticating. A request with an `Authorization` header is judged by its
/// bearer token alone; without one, by the session cookie.
///
/// Written out rather than derived: poem-openapi's derived enum tries each scheme and reports
/// the last one's error, so a bearer token that could not be checked (503, the database is
/// down) read as a missing cookie (401).
pub enum Auth {
    Bearer(BearerToken),
    Cookie(SessionCookie),
}

impl<'a> ApiExtractor<'a> for Auth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        BearerToken::register(registry);
        SessionCookie::register(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        let mut schemes = BearerToken::security_schemes();
        schemes.extend(SessionCookie::security_schemes());
        schemes
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if req
            .headers()
            .contains_key(poem::http::header::AUTHORIZATION)
        {
            BearerToken::from_request(req, body, param_opts)
                .await
                .map(Auth::Bearer)
        } else {
            SessionCookie::from_request(req, body, param_opts)
                .await
                .map(Auth::Cookie)
        }
    }
}

impl Auth {
    /// The caller of a request served outside the OpenAPI routes (the ChatKit endpoint), by
    /// the same rules and with the same errors as the extractor: the bearer token alone when
    /// one is sent, else the session cookie from this site.
    pub async fn caller_of(req: &Request) -> poem::Result<Caller> {
        if req
            .headers()
            .contains_key(poem::http::header::AUTHORIZATION)
        {
            let bearer = <Bearer as BearerAuthorization>::from_request(req)?;
            check_bearer(req, bearer).await
        } else {
            let key = req
                .headers()
                .typed_get::<headers::Cookie>()
                .and_then(|cookies| cookies.get(SESSION_COOKIE).map(str::to_owned))
                .ok_or(AuthorizationError)?;
            check_cookie(req, ApiKey { key }).await
        }
    }

    pub fn caller(&self) -> Caller {
        match self {
            Auth::Bearer(BearerToken(caller)) | Auth::Cookie(SessionCookie(caller)) => *caller,
        }
    }

    /// The caller's id when it is the `{user_id}` of the path.
    pub fn require(&self, user_id: uuid::Uuid) -> Result<UserId, WrongUser> {
        let caller = self.caller().user;
        if caller.as_uuid() == user_id {
            Ok(caller)
        } else {
            Err(WrongUser)
        }
    }
}

/// A new session: the token for API clients and the cookie for browsers. Not `Debug`: both
/// hold the bearer token.
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    /// The `Set-Cookie` value.
    pub cookie: String,
}

/// Signs sessions for signed-in users, with the cookie flags of the configured mode.
#[derive(Clone)]
pub struct SessionIssuer {
    keys: TokenKeys,
    security: Security,
}

impl SessionIssuer {
    pub fn new(keys: TokenKeys, security: Security) -> Self {
        Self { keys, security }
    }

    pub fn issue(&self, user: UserId) -> Result<Session, TokenError> {
        let issued = self.keys.issue(user, Audience::Agent, SESSION_LIFETIME)?;
        let mut cookie = Cookie::new_with_str(SESSION_COOKIE, issued.token.clone());
        cookie.set_path("/");
        cookie.set_same_site(SameSite::Lax);
        cookie.set_http_only(self.security.cookie_http_only);
        cookie.set_secure(self.security.cookie_secure);
        cookie.set_max_age(
            SESSION_LIFETIME
                .to_std()
                .unwrap_or(std::time::Duration::from_secs(3600)),
        );
        Ok(Session {
            token: issued.token,
            expires_at: issued.expires_at,
            cookie: cookie.to_string(),
        })
    }

    /// The `Set-Cookie` value that ends a browser's session.
    pub fn sign_out_cookie(&self) -> String {
        let mut cookie = Cookie::new_with_str(SESSION_COOKIE, "");
        cookie.set_path("/");
        cookie.set_same_site(SameSite::Lax);
        cookie.set_http_only(self.security.cookie_http_only);
        cookie.set_secure(self.security.cookie_secure);
        cookie.set_max_age(std::time::Duration::ZERO);
        cookie.to_string()
    }
}

/// What the security checkers need; added to the route as data.
#[derive(Clone)]
pub struct AuthContext {
    pub keys: TokenKeys,
    pub accounts: AccountStore,
    pub public_base_url: Url,
}

impl AuthContext {
    /// The caller of a session token, if it is valid, its account exists and it was not signed
    /// out; `Err` when that cannot be checked now (the database is down).
    pub async fn caller(&self, token: &str) -> Result<Option<Caller>, sea_orm::DbErr> {
        let verified = match self.keys.verify(token, Audience::Agent) {
            Ok(verified) => verified,
            Err(err) => {
                tracing::debug!(reason = %err, "refused a token");
                return Ok(None);
            }
        };
        if !self
            .accounts
            .session_is_active(verified.user, verified.id)
            .await?
        {
            tracing::info!(user_id = %verified.user, "refused a signed-out token or one of no account");
            return Ok(None);
        }
        Ok(Some(Caller {
            user: verified.user,
            token_id: verified.id,
            expires_at: verified.expires_at,
        }))
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    verify(req, &bearer.token).await
}

async fn check_cookie(req: &Request, cookie: ApiKey) -> poem::Result<Caller> {
    let caller = verify(req, &cookie.key).await?;
    if changes_state(req.method()) && !same_site(req) {
        tracing::info!(method = %req.method(), "refused a cookie-authenticated request from another site");
        return Err(poem::Error::from_string(
            "cross-site requests may not change data",
            poem::http::StatusCode::FORBIDDEN,
        ));
    }
    Ok(caller)
}

async fn verify(req: &Request, token: &str) -> poem::Result<Caller> {
    let Some(context) = req.data::<AuthContext>() else {
        return Err(poem::Error::from_status(
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        ));
    };
    match context.caller(token).await {
        Ok(Some(caller)) => {
            record_on_request("user_id", &caller.user);
            Ok(caller)
        }
        Ok(None) => Err(poem::Error::from_status(
            poem::http::StatusCode::UNAUTHORIZED,
        )),
        Err(err) => {
            tracing::error!(error = %err, "could not check a session token");
            Err(poem::Error::from_status(
                poem::http::StatusCode::SERVICE_UNAVAILABLE,
            ))
        }
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True when the request's `Origin` (or, failing that, `Referer`) is this site, or when the
/// client sent neither (not a browser).
fn same_site(req: &Request) -> bool {
    let Some(context) = req.data::<AuthContext>() else {
        return false;
    };
    let claimed = req
        .header("origin")
        .or_else(|| req.header("referer"))
        .map(str::to_owned);
    let Some(claimed) = claimed else {
        return true;
    };
    Url::parse(&claimed).is_ok_and(|url| url.origin() == context.public_base_url.origin())
}
