//! `TraceContext`: which request (and conversation) of a host a tool call serves, carried in
//! the call's `_meta` as W3C Baggage (MCP's SEP-414: `_meta.baggage`), so the server's log
//! lines for the call name the same request id as the host's.
//!
//! Only the two keys below are read, and only values of up to 64 characters of
//! `[A-Za-z0-9._-]`: whatever a remote client sends, nothing else reaches the log.

use tracing::Span;

const REQUEST_ID: &str = "request_id";
const CONVERSATION_ID: &str = "conversation_id";
const MAX_VALUE_CHARS: usize = 64;

/// What a tool call's log lines are tagged with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    pub request_id: Option<String>,
    pub conversation_id: Option<String>,
}

impl TraceContext {
    /// The Baggage header value, or `None` when there is nothing to carry.
    pub fn to_baggage(&self) -> Option<String> {
        let pairs: Vec<String> = [
            (REQUEST_ID, &self.request_id),
            (CONVERSATION_ID, &self.conversation_id),
        ]
        .into_iter()
        .filter_map(|(key, value)| {
            value
                .as_deref()
                .filter(|value| is_safe(value))
                .map(|value| format!("{key}={value}"))
        })
        .collect();
        (!pairs.is_empty()).then(|| pairs.join(","))
    }

    /// Reads the keys this server knows from a Baggage value; anything else is ignored.
    pub fn from_baggage(raw: &str) -> Self {
        let mut trace = Self::default();
        for member in raw.split(',') {
            // A member may carry properties after `;`: they are not ours.
            let pair = member.split(';').next().unwrap_or_default();
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let value = value.trim();
            if !is_safe(value) {
                continue;
            }
            match key.trim() {
                REQUEST_ID => trace.request_id = Some(value.to_owned()),
                CONVERSATION_ID => trace.conversation_id = Some(value.to_owned()),
                _ => {}
            }
        }
        trace
    }

    /// The span a tool call runs in.
    pub fn span(&self, tool: &str) -> Span {
        tracing::info_span!(
            "tool",
            name = %tool,
            request_id = self.request_id.as_deref(),
            conversation_id = self.conversation_id.as_deref(),
        )
    }
}

fn is_safe(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_VALUE_CHARS
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn baggage_round_trips_and_ignores_what_is_not_ours() {
        let trace = TraceContext {
            request_id: Some("6f1c0d1e-aaaa-4bbb-8ccc-0123456789ab".to_owned()),
            conversation_id: Some("019ae8c2-0000-7000-8000-000000000001".to_owned()),
        };
        let baggage = trace.to_baggage().unwrap();
        assert_eq!(TraceContext::from_baggage(&baggage), trace);
        let odd = TraceContext::from_baggage(
            "userId=alice, request_id = abc;prop=1,conversation_id=a b,\nrequest_id",
        );
        assert_eq!(odd.request_id.as_deref(), Some("abc"));
        assert_eq!(odd.conversation_id, None);
        assert_eq!(TraceContext::default().to_baggage(), None);
    }

    proptest! {
        /// Any `_meta.baggage` a client sends is read without panicking, and only safe values
        /// come out.
        #[test]
        fn any_baggage_is_read_safely(raw in "\\PC{0,200}") {
            let trace = TraceContext::from_baggage(&raw);
            for value in [trace.request_id, trace.conversation_id].into_iter().flatten() {
                prop_assert!(is_safe(&value));
            }
        }
    }
}
