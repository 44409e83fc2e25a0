//! `Timestamp`: an instant in the API, written in the product's one RFC 3339 form
//! ([`todo_mcp::tools::dto::format_instant`]: UTC, `Z`, six fractional digits), the same as
//! in tool results and chat events.

use chrono::{DateTime, Utc};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON};
use serde_json::Value;
use todo_mcp::tools::dto::format_instant;

use super::schema::string_format_type;

/// An instant, as the API writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

string_format_type!(Timestamp, "date-time");

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(format_instant(self.0)))
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(raw) => DateTime::parse_from_rfc3339(&raw)
                .map(|at| Self(at.with_timezone(&Utc)))
                .map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_in_one_form() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T11:41:49.4293351+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Timestamp(at).to_json(),
            Some(Value::String("2026-12-04T10:41:49.429335Z".to_owned()))
        );
        let whole = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        assert_eq!(
            Timestamp(whole).to_json(),
            Some(Value::String("2025-11-24T16:00:00.000000Z".to_owned()))
        );
    }
}
