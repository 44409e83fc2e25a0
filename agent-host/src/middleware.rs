//! What every request of the host goes through before its route: limits on the request's head
//! and body, the security headers of every response, and an answer when a handler panics.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::FutureExt as _;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
};

use crate::{config::Security, telemetry::panic_message};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The longest URL (path and query) accepted.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The largest total of header names and values accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most headers one request may carry.
pub const MAX_HEADERS: usize = 100;

/// 414 for a URL over [`MAX_URI_BYTES`], 431 for headers over [`MAX_HEADER_BYTES`] or more than
/// [`MAX_HEADERS`], with the error JSON. (Far larger heads are refused by hyper itself, without
/// a body.)
pub async fn limit_head<E: Endpoint>(endpoint: Arc<E>, req: Request) -> poem::Result<Response> {
    // Requests name their target in origin form (path and query), which is what is counted.
    let uri_bytes = req
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Err(poem::Error::from_status(StatusCode::URI_TOO_LONG));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES || req.headers().len() > MAX_HEADERS {
        return Err(poem::Error::from_status(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        ));
    }
    Ok(endpoint.call(req).await?.into_response())
}

/// Reads the body before the route runs: over [`MAX_BODY_BYTES`] gets 413, whether or not it
/// declares its length, and a body that does not arrive within `body_read` gets 408. `/mcp`
/// reads its own, with the same limits.
pub async fn limit_body<E: Endpoint>(
    endpoint: Arc<E>,
    mut req: Request,
    body_read: Duration,
) -> poem::Result<Response> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(poem::Error::from_status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    if declared != Some(0) && !req.uri().path().starts_with("/mcp") {
        let read = req.take_body().into_bytes_limit(MAX_BODY_BYTES);
        let body = tokio::time::timeout(body_read, read)
            .await
            .map_err(|_| poem::Error::from_status(StatusCode::REQUEST_TIMEOUT))??;
        req.set_body(body);
    }
    Ok(endpoint.call(req).await?.into_response())
}

/// The policy of responses that are not pages (the pages set their own, which allows this
/// site's scripts and styles): nothing may load, nothing may frame it.
const API_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds the security headers every response carries; a header a route set itself is kept.
/// `Strict-Transport-Security` only in production, which runs behind HTTPS.
pub async fn security_headers<E: Endpoint>(
    endpoint: Arc<E>,
    req: Request,
    security: Security,
) -> poem::Result<Response> {
    // The interactive API docs run inline scripts of their own.
    let is_docs = req.uri().path().starts_with("/api/docs");
    let mut response = endpoint.call(req).await?.into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "same-origin");
    set("x-frame-options", "DENY");
    if !is_docs {
        set("content-security-policy", API_CONTENT_SECURITY_POLICY);
    }
    if let Some(hsts) = security.strict_transport_security {
        set("strict-transport-security", hsts);
    }
    Ok(response)
}

/// A handler that panics (a bug) answers 500 with the error JSON, as any internal error does,
/// and is logged; without this its connection would close with no answer at all. A stream's
/// body runs after its response and is not covered here (a chat turn reports its own panic,
/// see `chat::agent::report_panics`).
pub async fn catch_panic<E: Endpoint>(endpoint: Arc<E>, req: Request) -> poem::Result<Response> {
    match AssertUnwindSafe(endpoint.call(req)).catch_unwind().await {
        Ok(result) => result.map(IntoResponse::into_response),
        Err(panic) => {
            tracing::error!(panic = panic_message(&*panic), "a request handler panicked");
            Err(poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500() {
        let panics = poem::endpoint::make(|_| async {
            if true {
                panic!("a bug");
            }
            "unreachable"
        });
        let err = catch_panic(Arc::new(panics), Request::default())
            .await
            .expect_err("a 500");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);

        let fine = poem::endpoint::make(|_| async { "fine" });
        let response = catch_panic(Arc::new(fine), Request::default())
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
    }
}
