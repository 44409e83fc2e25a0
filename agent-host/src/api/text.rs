//! `Text`: a request field that must be a JSON string.
//!
//! poem-openapi's `String` also accepts a number or a boolean and turns it into text, so
//! `{"title": 12}` would create a task called "12" although the schema says `string`. Request
//! bodies use `Text` instead, which refuses anything but a string (400, like any type error).

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A JSON string of a request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl Text {
    pub fn into_string(self) -> String {
        self.0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(text) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// The strings of an optional list of `Text`.
pub fn strings(texts: Option<Vec<Text>>) -> Option<Vec<String>> {
    texts.map(|texts| texts.into_iter().map(Text::into_string).collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn only_strings_are_text() {
        assert_eq!(
            Text::parse_from_json(Some(Value::String("milk".into()))).unwrap(),
            Text("milk".into())
        );
        for other in [
            serde_json::json!(12),
            serde_json::json!(true),
            serde_json::json!(null),
            serde_json::json!(["a"]),
            serde_json::json!({}),
        ] {
            assert!(
                Text::parse_from_json(Some(other.clone())).is_err(),
                "{other}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_string_is_kept_as_sent(raw in "\\PC{0,100}") {
            let parsed = Text::parse_from_json(Some(Value::String(raw.clone()))).unwrap();
            prop_assert_eq!(parsed.0, raw);
        }
    }
}
