//! `Password`: a password field of a request body, held as a secret from the moment it is
//! parsed, so no `Debug` of a request (or of anything holding one) can print it.

use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::schema::string_format_type;

/// A password as a client sent it. Only parsed, never written back (`write_only`).
#[derive(Debug, Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

string_format_type!(Password, "password");

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
