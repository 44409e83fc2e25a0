//! `Password`: a password field of a request body, held as a secret from the moment it is
//! parsed, so no `Debug` of a request (or of anything holding one) can print it.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseResult, Type},
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

/// A password as a client sent it. Only parsed, never written back (`write_only`).
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl Type for Password {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_password".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "password")))
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

impl ParseFromJSON for Password {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(raw) => Ok(Self(raw.into())),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let password =
            Password::parse_from_json(Some(Value::String("hunter2 hunter2".into()))).unwrap();
        assert_eq!(password.expose(), "hunter2 hunter2");
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
