//! Failures of a ChatKit request before its stream starts: the status the API would answer,
//! with ChatKit's `ErrorEvent` JSON as the body (`{"type": "error", "code": "custom",
//! "message", "allow_retry"}`), so a ChatKit client shows our sentence. The status, and
//! whether a retry may work, come from the host's one [`ErrorCode`] table.

use std::{error::Error as StdError, time::Duration};

use poem::{IntoResponse, Response, http::StatusCode};

use super::protocol::{ErrorEvent, StreamEvent};
use crate::{
    api::error::ApiError,
    chat::{ChatError, conversations::ConversationError},
    error_code::ErrorCode,
    telemetry::cause_chain,
};

#[derive(Debug)]
pub struct ChatKitError {
    code: ErrorCode,
    message: String,
    retry_after: Option<Duration>,
}

impl ChatKitError {
    /// 400: the request is not one this endpoint can read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message.into())
    }

    /// 422: a value is invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Invalid, message.into())
    }

    /// 404: nothing of this user's here.
    pub fn not_found(message: &str) -> Self {
        Self::new(ErrorCode::NotFound, message.to_owned())
    }

    /// 500: a bug; the cause is logged, the client gets a generic sentence.
    pub fn internal(err: impl StdError + Send + Sync + 'static) -> Self {
        ApiError::internal(err).into()
    }

    fn new(code: ErrorCode, message: String) -> Self {
        Self {
            code,
            message: sentence(&message),
            retry_after: None,
        }
    }

    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// The sentence a ChatKit client shows.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ApiError> for ChatKitError {
    fn from(err: ApiError) -> Self {
        let retry_after = match &err {
            ApiError::Internal(cause) | ApiError::Unavailable(cause) => {
                tracing::error!(
                    error = %cause,
                    cause_chain = %cause_chain(cause.as_ref()),
                    "ChatKit request failed"
                );
                None
            }
            ApiError::Limited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        Self {
            code: err.code(),
            message: sentence(&err.to_string()),
            retry_after,
        }
    }
}

impl From<ChatError> for ChatKitError {
    fn from(err: ChatError) -> Self {
        ApiError::from(err).into()
    }
}

impl From<ConversationError> for ChatKitError {
    fn from(err: ConversationError) -> Self {
        ApiError::from(err).into()
    }
}

impl IntoResponse for ChatKitError {
    fn into_response(self) -> Response {
        let status = self.status();
        let event = StreamEvent::Error(ErrorEvent::new(self.message, self.code.retryable()));
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let mut response = Response::builder()
            .status(status)
            .content_type("application/json");
        if let Some(after) = self.retry_after {
            response = response.header(
                poem::http::header::RETRY_AFTER,
                after.as_secs().max(1).to_string(),
            );
        }
        response.body(body)
    }
}

/// The API's messages are lower-case clauses; ChatKit shows a sentence.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut sentence: String = first.to_uppercase().chain(chars).collect();
    if !sentence.ends_with(['.', '!', '?']) {
        sentence.push('.');
    }
    sentence
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_thread_is_a_404_in_chatkits_shape() {
        let response = ChatKitError::from(ChatError::NoSuchConversation).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(sentence("no such conversation"), "No such conversation.");
        assert_eq!(sentence("Try again."), "Try again.");
        assert_eq!(sentence(""), "");
    }
}
