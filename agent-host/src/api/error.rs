//! `ApiError`: every failure of the HTTP API, mapped once to a status, a code and the
//! `{"error": {"code", "message"}}` body.
//!
//! Handlers return `Result<_, ErrorResponse>` and use `?` on `ApiError`; poem's own rejections
//! (bad JSON, unknown route, wrong content type, oversized body) go through
//! [`render_poem_error`]. 5xx bodies never carry the cause: it is logged here, once.

use std::{error::Error as StdError, time::Duration};

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::{
    accounts::AccountError,
    auth::WrongUser,
    chat::{ChatError, conversations::ConversationError, events::ErrorEvent},
    error_code::ErrorCode,
    limits::TurnRefused,
    tasks::TaskCallError,
};
use todo_mcp::tools::ToolErrorKind;

/// The challenge sent with every 401.
pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="todo-agent""#;

type Cause = Box<dyn StdError + Send + Sync>;

/// A failed request. The status, the code and `retryable` come from [`ErrorCode`]'s table.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid token (bearer or `todo_session` cookie).
    #[error("a valid bearer token or session cookie is required")]
    Unauthorized,
    /// Sign-in failed: the same answer for an unknown email and a wrong password.
    #[error("wrong email or password")]
    BadCredentials,
    /// The client's request cannot be served as it is (403, 404, 409, 422); `cause` is one of
    /// our own typed errors, and its sentence is the message.
    #[error("{cause}")]
    Refused { code: ErrorCode, cause: Cause },
    /// Too many requests, or the host is at a cap of concurrent work: `code` is
    /// `rate_limited` (429) or `busy` (503), and `Retry-After` says when to try again.
    #[error("{cause}")]
    Limited {
        code: ErrorCode,
        retry_after: Duration,
        cause: Cause,
    },
    /// A chat turn failed after it started (the JSON mode); the event says how.
    #[error("{}", .0.message)]
    Turn(ErrorEvent),
    /// A dependency (the database, the MCP task server) is unavailable.
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable(#[source] Cause),
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] Cause),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Unauthorized | ApiError::BadCredentials => ErrorCode::Unauthorized,
            ApiError::Refused { code, .. } | ApiError::Limited { code, .. } => *code,
            ApiError::Turn(event) => event.code,
            ApiError::Unavailable(_) => ErrorCode::Unavailable,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    pub fn internal(err: impl StdError + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    pub fn unavailable(err: impl StdError + Send + Sync + 'static) -> Self {
        ApiError::Unavailable(Box::new(err))
    }

    /// 422: a value the client sent is invalid; `err` says which and why.
    pub fn invalid(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::refused(ErrorCode::Invalid, err)
    }

    /// 404: nothing of this user's here.
    pub fn not_found(err: impl StdError + Send + Sync + 'static) -> Self {
        Self::refused(ErrorCode::NotFound, err)
    }

    /// 429 (or 503 for `busy`) with `Retry-After`.
    pub fn limited(
        code: ErrorCode,
        retry_after: Duration,
        err: impl StdError + Send + Sync + 'static,
    ) -> Self {
        ApiError::Limited {
            code,
            retry_after,
            cause: Box::new(err),
        }
    }

    fn refused(code: ErrorCode, err: impl StdError + Send + Sync + 'static) -> Self {
        ApiError::Refused {
            code,
            cause: Box::new(err),
        }
    }
}

/// The JSON error body.
#[derive(Debug, Object)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and people (`message`).
#[derive(Debug, Object)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `not_found` or `invalid`.
    pub code: ErrorCode,
    /// One sentence for a person.
    pub message: String,
}

/// The error responses every operation can give, as listed in the OpenAPI document.
#[derive(Debug, ApiResponse)]
pub enum ErrorResponse {
    /// The request is malformed (bad JSON, a bad parameter).
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No valid token, or a wrong email or password.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>, #[oai(header = "WWW-Authenticate")] String),
    /// The token belongs to another user, or the request came from another site.
    #[oai(status = 403)]
    Forbidden(Json<ErrorBody>),
    /// No such resource for this user.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The body did not arrive in time.
    #[oai(status = 408)]
    RequestTimeout(Json<ErrorBody>),
    /// The request conflicts with existing data (an email already taken).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is larger than 1 MiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// The URL is longer than 8 KiB.
    #[oai(status = 414)]
    UriTooLong(Json<ErrorBody>),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ErrorBody>),
    /// A value is invalid; the message says which and why.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// Too many requests (sign-in attempts, chat messages, running replies); try again after
    /// `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ErrorBody>, #[oai(header = "Retry-After")] String),
    /// The request's headers are larger than 16 KiB, or more than 100.
    #[oai(status = 431)]
    HeadersTooLarge(Json<ErrorBody>),
    /// An unexpected failure; the cause is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The model failed and trying again will not help (the chat's JSON mode).
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// A dependency is unavailable, or the host is busy; try again shortly (after
    /// `Retry-After` seconds when it is given).
    #[oai(status = 503)]
    Unavailable(
        Json<ErrorBody>,
        #[oai(header = "Retry-After")] Option<String>,
    ),
}

fn body(code: ErrorCode, message: String) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail { code, message },
    })
}

impl From<ApiError> for ErrorResponse {
    fn from(err: ApiError) -> Self {
        if let ApiError::Internal(cause) | ApiError::Unavailable(cause) = &err {
            tracing::error!(
                error = %cause,
                cause_chain = %crate::telemetry::cause_chain(cause.as_ref()),
                status = %err.status(),
                "request failed"
            );
        }
        let status = err.status();
        let retry_after = match &err {
            ApiError::Limited { retry_after, .. } => {
                Some(crate::limits::retry_after_secs(*retry_after).to_string())
            }
            _ => None,
        };
        let json = body(err.code(), err.to_string());
        match status {
            StatusCode::BAD_REQUEST => ErrorResponse::BadRequest(json),
            StatusCode::UNAUTHORIZED => {
                ErrorResponse::Unauthorized(json, WWW_AUTHENTICATE.to_owned())
            }
            StatusCode::FORBIDDEN => ErrorResponse::Forbidden(json),
            StatusCode::NOT_FOUND => ErrorResponse::NotFound(json),
            StatusCode::REQUEST_TIMEOUT => ErrorResponse::RequestTimeout(json),
            StatusCode::CONFLICT => ErrorResponse::Conflict(json),
            StatusCode::PAYLOAD_TOO_LARGE => ErrorResponse::PayloadTooLarge(json),
            StatusCode::URI_TOO_LONG => ErrorResponse::UriTooLong(json),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorResponse::UnsupportedMediaType(json),
            StatusCode::UNPROCESSABLE_ENTITY => ErrorResponse::Unprocessable(json),
            StatusCode::TOO_MANY_REQUESTS => {
                ErrorResponse::TooManyRequests(json, retry_after.unwrap_or_else(|| "1".to_owned()))
            }
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ErrorResponse::HeadersTooLarge(json),
            StatusCode::BAD_GATEWAY => ErrorResponse::BadGateway(json),
            StatusCode::SERVICE_UNAVAILABLE => ErrorResponse::Unavailable(json, retry_after),
            _ => ErrorResponse::Internal(json),
        }
    }
}

impl From<WrongUser> for ErrorResponse {
    fn from(err: WrongUser) -> Self {
        ApiError::from(err).into()
    }
}

impl From<WrongUser> for ApiError {
    fn from(err: WrongUser) -> Self {
        ApiError::refused(ErrorCode::Forbidden, err)
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::InvalidEmail
            | AccountError::PasswordLength
            | AccountError::InvalidName => ApiError::invalid(err),
            AccountError::EmailTaken => ApiError::refused(ErrorCode::Conflict, err),
            AccountError::RateLimited(retry) => {
                ApiError::limited(ErrorCode::RateLimited, retry.0, retry)
            }
            AccountError::Busy => ApiError::limited(ErrorCode::Busy, Duration::from_secs(1), err),
            AccountError::BadCredentials => ApiError::BadCredentials,
            AccountError::NotFound => ApiError::Unauthorized,
            AccountError::Hashing(_) => ApiError::internal(err),
            AccountError::Store(_) => ApiError::unavailable(err),
        }
    }
}

/// A host table could not be read or written: the database is the unavailable dependency.
impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::unavailable(err)
    }
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::EmptyMessage
            | ChatError::NoMessage
            | ChatError::MessageTooLong { .. }
            | ChatError::ControlCharacter
            | ChatError::RetryWithMessage
            | ChatError::RetryWithoutConversation
            | ChatError::NothingToRetry
            | ChatError::RetryOfReply => ApiError::invalid(err),
            ChatError::NoSuchConversation | ChatError::NoSuchMessage => ApiError::not_found(err),
            ChatError::Stopping => ApiError::refused(ErrorCode::ShuttingDown, err),
            ChatError::Limited(refused) => match refused {
                TurnRefused::TooFast(retry) => {
                    ApiError::limited(ErrorCode::RateLimited, retry.0, refused)
                }
                TurnRefused::TooManyOfYours { .. } => {
                    ApiError::limited(ErrorCode::RateLimited, Duration::from_secs(1), refused)
                }
                TurnRefused::ServerFull => {
                    ApiError::limited(ErrorCode::Busy, Duration::from_secs(1), refused)
                }
            },
            ChatError::Store(err) => err.into(),
        }
    }
}

impl From<ConversationError> for ApiError {
    fn from(err: ConversationError) -> Self {
        match err {
            ConversationError::BadCursor => ApiError::invalid(err),
            ConversationError::Deleted => ApiError::not_found(err),
            ConversationError::Store(_) => ApiError::unavailable(err),
            ConversationError::Corrupt { .. } | ConversationError::Encode(_) => {
                ApiError::internal(err)
            }
        }
    }
}

impl From<TaskCallError> for ApiError {
    fn from(err: TaskCallError) -> Self {
        match &err {
            TaskCallError::Tool { kind, .. } => match kind {
                ToolErrorKind::InvalidArgument => ApiError::invalid(err),
                ToolErrorKind::NotFound => ApiError::not_found(err),
                ToolErrorKind::Conflict => ApiError::refused(ErrorCode::Conflict, err),
                ToolErrorKind::Unavailable => ApiError::unavailable(err),
                ToolErrorKind::Unauthenticated => ApiError::internal(err),
            },
            TaskCallError::Unreachable(_) => ApiError::unavailable(err),
            TaskCallError::NotAnObject { .. }
            | TaskCallError::NoStructuredContent { .. }
            | TaskCallError::BadResult { .. } => ApiError::internal(err),
        }
    }
}

/// Renders any error that reached the top of the router in the API's error shape, keeping its
/// status. Responses built by handlers pass through unchanged.
pub async fn render_poem_error(err: poem::Error) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let code = ErrorCode::for_status(status);
    let message = match code {
        ErrorCode::Unauthorized => ApiError::Unauthorized.to_string(),
        ErrorCode::NotFound => "no such route".to_owned(),
        ErrorCode::PayloadTooLarge => "the request body is larger than 1 MiB".to_owned(),
        ErrorCode::RequestTimeout => "the request body did not arrive in time".to_owned(),
        ErrorCode::UriTooLong => "the URL is longer than 8 KiB".to_owned(),
        ErrorCode::HeadersTooLarge => {
            "the request headers are larger than 16 KiB, or more than 100".to_owned()
        }
        ErrorCode::UnsupportedMediaType => {
            "the body must be JSON (Content-Type: application/json)".to_owned()
        }
        _ if status.is_client_error() => err.to_string(),
        _ => {
            tracing::error!(error = %err, %status, "request failed");
            "internal error".to_owned()
        }
    };
    let mut response = body(code, message).into_response();
    response.set_status(status);
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            poem::http::header::WWW_AUTHENTICATE,
            poem::http::HeaderValue::from_static(WWW_AUTHENTICATE),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each kind of failure gets its code (and through the table, its status).
    #[test]
    fn errors_map_to_their_codes() {
        let boxed = || -> Cause { "cause".into() };
        let table = [
            (ApiError::Unauthorized, ErrorCode::Unauthorized),
            (ApiError::BadCredentials, ErrorCode::Unauthorized),
            (ApiError::from(WrongUser), ErrorCode::Forbidden),
            (
                ApiError::from(ChatError::NoSuchConversation),
                ErrorCode::NotFound,
            ),
            (ApiError::from(ChatError::EmptyMessage), ErrorCode::Invalid),
            (ApiError::from(ChatError::Stopping), ErrorCode::ShuttingDown),
            (
                ApiError::from(AccountError::EmailTaken),
                ErrorCode::Conflict,
            ),
            (ApiError::Unavailable(boxed()), ErrorCode::Unavailable),
            (ApiError::Internal(boxed()), ErrorCode::Internal),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.status(), code.status());
        }
    }

    #[test]
    fn server_errors_do_not_reveal_their_cause() {
        let err = ApiError::Internal("SELECT secret FROM users".into());
        assert_eq!(err.to_string(), "internal error");
    }
}
