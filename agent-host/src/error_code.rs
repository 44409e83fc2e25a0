//! `ErrorCode`: every machine-readable error code the host sends, in one table with its HTTP
//! status and whether sending the same request again may work.
//!
//! The HTTP API's error bodies (`{"error": {"code", "message"}}`), the chat stream's `error`
//! event and the chat's JSON mode all carry one of these; nothing else spells a code.

use poem::http::StatusCode;
use poem_openapi::Enum;

/// A stable, machine-readable error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request cannot be read (bad JSON, a bad parameter).
    BadRequest,
    /// No valid token, or a wrong email or password.
    Unauthorized,
    /// The token belongs to another user, or a cookie request came from another site.
    Forbidden,
    /// Nothing here for this user (or no such route).
    NotFound,
    /// The route exists, the method does not.
    MethodNotAllowed,
    /// The request's body did not arrive in time.
    RequestTimeout,
    /// The request conflicts with existing data.
    Conflict,
    /// The body is larger than the host accepts.
    PayloadTooLarge,
    /// The URL is longer than the host accepts.
    UriTooLong,
    /// The body is not JSON.
    UnsupportedMediaType,
    /// A value is invalid; the message says which and why.
    Invalid,
    /// Too many requests of this kind from this user or address; `Retry-After` says when to
    /// try again.
    RateLimited,
    /// The request's headers are larger than the host accepts.
    HeadersTooLarge,
    /// A bug or an unexpected failure; the cause is in the server log.
    Internal,
    /// A dependency (the database, the task server) is unavailable.
    Unavailable,
    /// The model server is unreachable, busy or broke off.
    UpstreamUnavailable,
    /// The model server refused the request or sent something unreadable.
    UpstreamError,
    /// The model kept calling tools without reaching an answer.
    StepLimit,
    /// The task server could not be reached during a chat turn.
    ToolsUnavailable,
    /// The host is stopping; another process will answer the same request.
    ShuttingDown,
    /// The host is at a limit of concurrent work (password checks, chat turns); try again
    /// shortly.
    Busy,
}

impl ErrorCode {
    /// Every code, in the order of the table.
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UriTooLong,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Invalid,
        ErrorCode::RateLimited,
        ErrorCode::HeadersTooLarge,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::UpstreamError,
        ErrorCode::StepLimit,
        ErrorCode::ToolsUnavailable,
        ErrorCode::ShuttingDown,
        ErrorCode::Busy,
    ];

    /// The table: code, HTTP status, retryable.
    const fn spec(self) -> (&'static str, StatusCode, bool) {
        match self {
            ErrorCode::BadRequest => ("bad_request", StatusCode::BAD_REQUEST, false),
            ErrorCode::Unauthorized => ("unauthorized", StatusCode::UNAUTHORIZED, false),
            ErrorCode::Forbidden => ("forbidden", StatusCode::FORBIDDEN, false),
            ErrorCode::NotFound => ("not_found", StatusCode::NOT_FOUND, false),
            ErrorCode::MethodNotAllowed => {
                ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED, false)
            }
            ErrorCode::RequestTimeout => ("request_timeout", StatusCode::REQUEST_TIMEOUT, true),
            ErrorCode::Conflict => ("conflict", StatusCode::CONFLICT, false),
            ErrorCode::PayloadTooLarge => {
                ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE, false)
            }
            ErrorCode::UriTooLong => ("uri_too_long", StatusCode::URI_TOO_LONG, false),
            ErrorCode::UnsupportedMediaType => (
                "unsupported_media_type",
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                false,
            ),
            ErrorCode::Invalid => ("invalid", StatusCode::UNPROCESSABLE_ENTITY, false),
            ErrorCode::RateLimited => ("rate_limited", StatusCode::TOO_MANY_REQUESTS, true),
            ErrorCode::HeadersTooLarge => (
                "headers_too_large",
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                false,
            ),
            ErrorCode::Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR, true),
            ErrorCode::Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE, true),
            ErrorCode::UpstreamUnavailable => (
                "upstream_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                true,
            ),
            ErrorCode::UpstreamError => ("upstream_error", StatusCode::BAD_GATEWAY, false),
            ErrorCode::StepLimit => ("step_limit", StatusCode::BAD_GATEWAY, false),
            ErrorCode::ToolsUnavailable => {
                ("tools_unavailable", StatusCode::SERVICE_UNAVAILABLE, true)
            }
            ErrorCode::ShuttingDown => ("shutting_down", StatusCode::SERVICE_UNAVAILABLE, true),
            ErrorCode::Busy => ("busy", StatusCode::SERVICE_UNAVAILABLE, true),
        }
    }

    /// The code as clients read it.
    pub const fn as_str(self) -> &'static str {
        self.spec().0
    }

    /// The HTTP status of a response with this code.
    pub const fn status(self) -> StatusCode {
        self.spec().1
    }

    /// Whether sending the same request again may work.
    pub const fn retryable(self) -> bool {
        self.spec().2
    }

    /// The code of an HTTP status that poem itself answered with.
    pub fn for_status(status: StatusCode) -> Self {
        Self::ALL
            .into_iter()
            // The first of each status is its generic code (503 -> unavailable).
            .find(|code| code.status() == status)
            .unwrap_or(if status.is_client_error() {
                ErrorCode::BadRequest
            } else {
                ErrorCode::Internal
            })
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As clients read it (the chat stream writes its events with serde).
impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON as _;

    use super::*;

    /// Pins the whole table: a change to a code, a status or `retryable` is a change to the
    /// public interface and must show up here.
    #[test]
    fn the_error_code_table() {
        let table: Vec<(&str, u16, bool)> = ErrorCode::ALL
            .into_iter()
            .map(|code| (code.as_str(), code.status().as_u16(), code.retryable()))
            .collect();
        assert_eq!(
            table,
            [
                ("bad_request", 400, false),
                ("unauthorized", 401, false),
                ("forbidden", 403, false),
                ("not_found", 404, false),
                ("method_not_allowed", 405, false),
                ("request_timeout", 408, true),
                ("conflict", 409, false),
                ("payload_too_large", 413, false),
                ("uri_too_long", 414, false),
                ("unsupported_media_type", 415, false),
                ("invalid", 422, false),
                ("rate_limited", 429, true),
                ("headers_too_large", 431, false),
                ("internal", 500, true),
                ("unavailable", 503, true),
                ("upstream_unavailable", 503, true),
                ("upstream_error", 502, false),
                ("step_limit", 502, false),
                ("tools_unavailable", 503, true),
                ("shutting_down", 503, true),
                ("busy", 503, true),
            ]
        );
        for code in ErrorCode::ALL {
            // The JSON spelling (what clients read) is the table's.
            assert_eq!(
                code.to_json(),
                Some(serde_json::Value::String(code.as_str().to_owned()))
            );
        }
        assert_eq!(
            ErrorCode::for_status(StatusCode::SERVICE_UNAVAILABLE),
            ErrorCode::Unavailable
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::IM_A_TEAPOT),
            ErrorCode::BadRequest
        );
    }
}
