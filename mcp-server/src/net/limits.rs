//! `ConnectionLimits`: how long a client may take and how many may be connected at once.

use std::time::Duration;

use crate::config::ConfigError;

/// The limits every connection is held to; the same variables configure both servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// `HEADER_READ_TIMEOUT_SECS`: how long a client may take to send a request's headers.
    /// It also closes a kept-alive connection on which no next request starts.
    pub header_read: Duration,
    /// `REQUEST_BODY_TIMEOUT_SECS`: how long a client may take to send a request's body.
    pub body_read: Duration,
    /// `IDLE_TIMEOUT_SECS`: a connection on which no request is being handled and no byte moves
    /// either way for this long is closed (a client that stopped reading a stream, say).
    pub idle: Duration,
    /// `MAX_CONNECTIONS`: connections served at once. Beyond it new ones wait in the listen
    /// backlog until one closes; the default stays below the process's file descriptor limit.
    pub max_connections: usize,
}

/// Descriptors kept free at the connection cap for the database, log files and the model.
const RESERVED_DESCRIPTORS: u64 = 128;
const MAX_CONNECTIONS_CEILING: u64 = 10_000;

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            body_read: Duration::from_secs(30),
            idle: Duration::from_secs(60),
            max_connections: default_max_connections(),
        }
    }
}

impl ConnectionLimits {
    /// Reads the limits through `lookup`; unset variables keep their defaults.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            header_read: seconds(&lookup, "HEADER_READ_TIMEOUT_SECS", defaults.header_read)?,
            body_read: seconds(&lookup, "REQUEST_BODY_TIMEOUT_SECS", defaults.body_read)?,
            idle: seconds(&lookup, "IDLE_TIMEOUT_SECS", defaults.idle)?,
            max_connections: positive(&lookup, "MAX_CONNECTIONS", defaults.max_connections)?,
        })
    }
}

/// A duration in whole seconds, 1 or more.
pub fn seconds(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let secs = positive(lookup, variable, default.as_secs() as usize)?;
    Ok(Duration::from_secs(secs as u64))
}

/// A whole number, 1 or more.
pub fn positive(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    let Some(raw) = lookup(variable).filter(|value| !value.trim().is_empty()) else {
        return Ok(default);
    };
    raw.trim()
        .parse::<usize>()
        .ok()
        .filter(|value| *value > 0)
        .ok_or_else(|| ConfigError {
            variable,
            problem: format!("is {raw:?}; use a whole number of 1 or more"),
        })
}

/// The soft file descriptor limit less a reserve, so that the cap is reached before the
/// process runs out of descriptors.
fn default_max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(MAX_CONNECTIONS_CEILING);
    soft.saturating_sub(RESERVED_DESCRIPTORS)
        .clamp(16, MAX_CONNECTIONS_CEILING) as usize
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<ConnectionLimits, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ConnectionLimits::from_lookup(|key| vars.get(key).cloned())
    }

    #[test]
    fn limits_default_and_parse() {
        let limits = parse(&[]).unwrap();
        assert_eq!(limits.header_read, Duration::from_secs(10));
        assert!(limits.max_connections >= 16);
        let limits = parse(&[("IDLE_TIMEOUT_SECS", "5"), ("MAX_CONNECTIONS", " 40 ")]).unwrap();
        assert_eq!(limits.idle, Duration::from_secs(5));
        assert_eq!(limits.max_connections, 40);
        for (variable, value) in [
            ("IDLE_TIMEOUT_SECS", "0"),
            ("HEADER_READ_TIMEOUT_SECS", "-1"),
            ("MAX_CONNECTIONS", "lots"),
        ] {
            assert_eq!(parse(&[(variable, value)]).unwrap_err().variable, variable);
        }
    }
}
