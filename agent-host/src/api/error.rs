//! `ApiError`: every failure of the HTTP API, mapped once to a status, a code and the
//! `{"error": {"code", "message"}}` body.
//!
//! Handlers return `Result<_, ErrorResponse>` and use `?` on `ApiError`; poem's own rejections
//! (bad JSON, unknown route, wrong content type, oversized body) go through
//! [`render_poem_error`]. 5xx bodies never carry the cause: it is logged here, once.

use poem::{IntoResponse, Response, http::StatusCode};
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::{
    accounts::AccountError,
    chat::{ChatError, conversations::ConversationError},
    tasks::TaskCallError,
};
use todo_mcp::tools::ToolErrorKind;

/// The challenge sent with every 401.
pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="todo-agent""#;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid token (bearer or `todo_session` cookie).
    #[error("a valid bearer token or session cookie is required")]
    Unauthorized,
    /// 401 on sign-in: the same answer for an unknown email and a wrong password.
    #[error("wrong email or password")]
    BadCredentials,
    /// 403: the token is valid but not for this user, or a cross-site request.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: nothing here for this user.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 422: understood but invalid; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// 502 or 503: the model failed; 503 when trying again may work.
    #[error("{message}")]
    Upstream {
        code: String,
        message: String,
        retryable: bool,
    },
    /// 503: a dependency (the database, the MCP task server) is unavailable.
    #[error("the service is temporarily unavailable; try again shortly")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// 500: a bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadCredentials => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Upstream {
                retryable: true, ..
            } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized | ApiError::BadCredentials => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Invalid(_) => "invalid",
            ApiError::Upstream { code, .. } => code,
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
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
    pub code: String,
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
    /// The request conflicts with existing data (an email already taken).
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The body is larger than 1 MiB.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ErrorBody>),
    /// A value is invalid; the message says which and why.
    #[oai(status = 422)]
    Unprocessable(Json<ErrorBody>),
    /// An unexpected failure; the cause is in the server log.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// The model failed and trying again will not help (the chat's JSON mode).
    #[oai(status = 502)]
    BadGateway(Json<ErrorBody>),
    /// A dependency is unavailable; try again shortly.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(code: &str, message: String) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
        },
    })
}

impl From<ApiError> for ErrorResponse {
    fn from(err: ApiError) -> Self {
        if let ApiError::Internal(cause) | ApiError::Unavailable(cause) = &err {
            tracing::error!(error = %cause, error.cause_chain = ?cause, status = %err.status(), "request failed");
        }
        let json = body(err.code(), err.to_string());
        match err {
            ApiError::BadRequest(_) => ErrorResponse::BadRequest(json),
            ApiError::Unauthorized | ApiError::BadCredentials => {
                ErrorResponse::Unauthorized(json, WWW_AUTHENTICATE.to_owned())
            }
            ApiError::Forbidden(_) => ErrorResponse::Forbidden(json),
            ApiError::NotFound(_) => ErrorResponse::NotFound(json),
            ApiError::Conflict(_) => ErrorResponse::Conflict(json),
            ApiError::Invalid(_) => ErrorResponse::Unprocessable(json),
            ApiError::Upstream {
                retryable: true, ..
            } => ErrorResponse::Unavailable(json),
            ApiError::Upstream { .. } => ErrorResponse::BadGateway(json),
            ApiError::Unavailable(_) => ErrorResponse::Unavailable(json),
            ApiError::Internal(_) => ErrorResponse::Internal(json),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::Invalid(message) => ApiError::Invalid(message),
            AccountError::EmailTaken => ApiError::Conflict(err.to_string()),
            AccountError::BadCredentials => ApiError::BadCredentials,
            AccountError::NotFound => ApiError::Unauthorized,
            AccountError::Hashing(_) => ApiError::internal(err),
            AccountError::Store(_) => ApiError::Unavailable(Box::new(err)),
        }
    }
}

/// A host table could not be read or written: the database is the unavailable dependency.
impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::Unavailable(Box::new(err))
    }
}

impl From<ChatError> for ApiError {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::Invalid(message) => ApiError::Invalid(message),
            ChatError::NotFound => ApiError::NotFound("no such conversation".to_owned()),
            ChatError::Stopping => ApiError::Unavailable(Box::new(err)),
            ChatError::Store(_) => ApiError::Unavailable(Box::new(err)),
        }
    }
}

impl From<ConversationError> for ApiError {
    fn from(err: ConversationError) -> Self {
        match err {
            ConversationError::Invalid(message) => ApiError::Invalid(message),
            ConversationError::Store(_) => ApiError::Unavailable(Box::new(err)),
        }
    }
}

impl From<TaskCallError> for ApiError {
    fn from(err: TaskCallError) -> Self {
        match err {
            TaskCallError::Tool { kind, message } => match kind {
                ToolErrorKind::InvalidArgument => ApiError::Invalid(message),
                ToolErrorKind::NotFound => ApiError::NotFound(message),
                ToolErrorKind::Conflict => ApiError::Conflict(message),
                ToolErrorKind::Unavailable => {
                    ApiError::Unavailable(Box::new(TaskCallError::Tool { kind, message }))
                }
                ToolErrorKind::Unauthenticated => {
                    ApiError::internal(TaskCallError::Tool { kind, message })
                }
            },
            TaskCallError::Unreachable(_) => ApiError::Unavailable(Box::new(err)),
            TaskCallError::Protocol(_) => ApiError::internal(err),
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
    let (code, message) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", err.to_string()),
        StatusCode::UNAUTHORIZED => ("unauthorized", ApiError::Unauthorized.to_string()),
        StatusCode::FORBIDDEN => ("forbidden", err.to_string()),
        StatusCode::NOT_FOUND => ("not_found", "no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", err.to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than 1 MiB".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", err.to_string()),
        status if status.is_client_error() => ("bad_request", err.to_string()),
        _ => {
            tracing::error!(error = %err, %status, "request failed");
            ("internal", "internal error".to_owned())
        }
    };
    let mut response = Json(ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
        },
    })
    .into_response();
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

    /// Pins the status and code of every variant.
    #[test]
    fn every_error_has_its_status_and_code() {
        let boxed = || -> Box<dyn std::error::Error + Send + Sync> { "cause".into() };
        let table = [
            (ApiError::BadRequest("x".into()), 400, "bad_request"),
            (ApiError::Unauthorized, 401, "unauthorized"),
            (ApiError::BadCredentials, 401, "unauthorized"),
            (ApiError::Forbidden("x"), 403, "forbidden"),
            (ApiError::NotFound("x".into()), 404, "not_found"),
            (ApiError::Conflict("x".into()), 409, "conflict"),
            (ApiError::Invalid("x".into()), 422, "invalid"),
            (
                ApiError::Upstream {
                    code: "upstream_error".into(),
                    message: "x".into(),
                    retryable: false,
                },
                502,
                "upstream_error",
            ),
            (ApiError::Unavailable(boxed()), 503, "unavailable"),
            (ApiError::Internal(boxed()), 500, "internal"),
        ];
        for (err, status, code) in table {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn server_errors_do_not_reveal_their_cause() {
        let err = ApiError::Internal("SELECT secret FROM users".into());
        assert_eq!(err.to_string(), "internal error");
    }
}
