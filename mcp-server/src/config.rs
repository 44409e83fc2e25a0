//! Configuration of the `todo-mcp` binary, read once from the environment at start.

use std::time::Duration;

use secrecy::SecretString;

use crate::{
    auth::JwtSecret,
    db::{
        DEFAULT_STATEMENT_TIMEOUT, DatabaseUrl, POSTGRES_MIN_POOL, PoolSettings, SqliteDurability,
    },
    http::AllowedOrigins,
    net::ConnectionLimits,
};

/// Everything `todo-mcp` reads from its environment.
#[derive(Debug)]
pub struct Config {
    /// `DATABASE_URL`; a SQLite file under `./data/` by default.
    pub database_url: DatabaseUrl,
    /// `JWT_SECRET`: verifies MCP access tokens. Needed by `stdio` and `serve`.
    pub jwt_secret: Option<JwtSecret>,
    /// `TODO_MCP_TOKEN`: the access token that binds a `stdio` session to its user.
    pub mcp_token: Option<McpToken>,
    /// `RUST_LOG`: the log filter; `info` by default.
    pub log_filter: String,
    /// Timeouts and the connection cap of `serve`.
    pub limits: ConnectionLimits,
    /// `MCP_ALLOWED_ORIGINS`: browser origins `serve` accepts; pages on this machine only by
    /// default.
    pub allowed_origins: AllowedOrigins,
    /// `MCP_ALLOWED_HOSTS`: extra `Host` values `serve` accepts besides this machine's names
    /// and its bind address (the public name, behind a proxy that passes it on).
    pub allowed_hosts: Vec<String>,
}

/// The `TODO_MCP_TOKEN` value: a bearer credential, so `Debug` never shows it.
pub type McpToken = SecretString;

/// A variable that is missing or has a bad value. Displays as one line naming it.
#[derive(Debug, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the configuration through `lookup`, so tests can pass a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
        let database_url = parse_database_url(&lookup)?;
        let jwt_secret = set("JWT_SECRET")
            .map(|raw| JwtSecret::new(raw.into_bytes()))
            .transpose()
            .map_err(|err| ConfigError {
                variable: "JWT_SECRET",
                problem: err.to_string(),
            })?;
        let allowed_origins = match set("MCP_ALLOWED_ORIGINS") {
            None => AllowedOrigins::loopback(),
            Some(raw) => AllowedOrigins::parse_list(&raw).map_err(|err| ConfigError {
                variable: "MCP_ALLOWED_ORIGINS",
                problem: format!("lists {err}"),
            })?,
        };
        let allowed_hosts = set("MCP_ALLOWED_HOSTS")
            .map(|raw| {
                raw.split(',')
                    .map(str::trim)
                    .filter(|host| !host.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            database_url,
            jwt_secret,
            mcp_token: set("TODO_MCP_TOKEN").map(McpToken::from),
            log_filter: parse_log_filter(set("RUST_LOG"))?,
            limits: ConnectionLimits::from_lookup(&lookup)?,
            allowed_origins,
            allowed_hosts,
        })
    }

    pub fn require_jwt_secret(&self) -> Result<&JwtSecret, ConfigError> {
        self.jwt_secret.as_ref().ok_or(ConfigError {
            variable: "JWT_SECRET",
            problem: "is not set; use the same secret as the todo-agent host".to_owned(),
        })
    }

    pub fn require_mcp_token(&self) -> Result<&McpToken, ConfigError> {
        self.mcp_token.as_ref().ok_or(ConfigError {
            variable: "TODO_MCP_TOKEN",
            problem: "is not set; create one with `todo-agent token --email <you>`".to_owned(),
        })
    }
}

/// The log filter when `RUST_LOG` is not set: our own lines at `info`; rmcp's session
/// bookkeeping (a line per session opened, per notification) only when something is wrong.
pub const DEFAULT_LOG_FILTER: &str = "info,rmcp=warn";

/// `DATABASE_URL` (a SQLite file under `./data/` by default) with `SQLITE_SYNCHRONOUS`,
/// `DATABASE_MAX_CONNECTIONS` and `DATABASE_STATEMENT_TIMEOUT_SECS`; both binaries read them
/// the same way.
pub fn parse_database_url(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<DatabaseUrl, ConfigError> {
    let set = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
    let url = match set("DATABASE_URL") {
        None => DatabaseUrl::default_sqlite(),
        Some(raw) => raw.parse().map_err(|err| ConfigError {
            variable: "DATABASE_URL",
            problem: format!("{err}"),
        })?,
    };
    let durability = set("SQLITE_SYNCHRONOUS")
        .map(|raw| raw.parse::<SqliteDurability>())
        .transpose()
        .map_err(|problem| ConfigError {
            variable: "SQLITE_SYNCHRONOUS",
            problem,
        })?
        .unwrap_or_default();
    let max_connections = set("DATABASE_MAX_CONNECTIONS")
        .map(|raw| match raw.trim().parse::<u32>() {
            Ok(n) if n >= 1 && (url.is_sqlite() || n >= POSTGRES_MIN_POOL) => Ok(n),
            _ => Err(ConfigError {
                variable: "DATABASE_MAX_CONNECTIONS",
                problem: format!(
                    "is {raw:?}; use a whole number of connections, at least {}",
                    if url.is_sqlite() {
                        1
                    } else {
                        POSTGRES_MIN_POOL
                    }
                ),
            }),
        })
        .transpose()?;
    let statement_timeout = match set("DATABASE_STATEMENT_TIMEOUT_SECS") {
        None => Some(DEFAULT_STATEMENT_TIMEOUT),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(secs) if secs <= MAX_STATEMENT_TIMEOUT_SECS => Some(Duration::from_secs(secs)),
            _ => {
                return Err(ConfigError {
                    variable: "DATABASE_STATEMENT_TIMEOUT_SECS",
                    problem: format!(
                        "is {raw:?}; use whole seconds up to {MAX_STATEMENT_TIMEOUT_SECS}, or 0 to send no limit"
                    ),
                });
            }
        },
    };
    Ok(url.with_durability(durability).with_pool(PoolSettings {
        max_connections,
        statement_timeout,
    }))
}

/// PostgreSQL takes `statement_timeout` in milliseconds as a 32-bit integer: about 24 days.
const MAX_STATEMENT_TIMEOUT_SECS: u64 = i32::MAX as u64 / 1000;

/// Checks a `RUST_LOG` value so that a typo stops start-up instead of silencing logs.
pub fn parse_log_filter(raw: Option<String>) -> Result<String, ConfigError> {
    let filter = raw.unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|err| ConfigError {
        variable: "RUST_LOG",
        problem: format!("is not a valid log filter: {err}"),
    })?;
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|key| vars.get(key).cloned())
    }

    #[test]
    fn nothing_set_means_sqlite_and_no_secrets() {
        let config = parse(&[]).unwrap();
        assert!(config.database_url.is_sqlite());
        assert!(config.require_jwt_secret().is_err());
        assert!(config.require_mcp_token().is_err());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let err = parse(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        let err = parse(&[("JWT_SECRET", "short")]).unwrap_err();
        assert!(err.to_string().starts_with("JWT_SECRET is 5 bytes long"));
        let err = parse(&[("RUST_LOG", "info,[[")]).unwrap_err();
        assert_eq!(err.variable, "RUST_LOG");
    }

    #[test]
    fn the_pool_is_sized_and_timed_by_two_variables() {
        let postgres = ("DATABASE_URL", "postgres://u@h/db");
        let config = parse(&[postgres]).unwrap();
        assert_eq!(config.database_url.pool(), PoolSettings::default());
        let config = parse(&[
            postgres,
            ("DATABASE_MAX_CONNECTIONS", "40"),
            ("DATABASE_STATEMENT_TIMEOUT_SECS", "0"),
        ])
        .unwrap();
        assert_eq!(
            config.database_url.pool(),
            PoolSettings {
                max_connections: Some(40),
                statement_timeout: None,
            }
        );
        // The migration guard needs two connections on PostgreSQL; SQLite can do with one.
        let err = parse(&[postgres, ("DATABASE_MAX_CONNECTIONS", "1")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_MAX_CONNECTIONS");
        assert!(parse(&[("DATABASE_MAX_CONNECTIONS", "1")]).is_ok());
        for bad in ["-3", "many", "0"] {
            let err = parse(&[postgres, ("DATABASE_MAX_CONNECTIONS", bad)]).unwrap_err();
            assert_eq!(err.variable, "DATABASE_MAX_CONNECTIONS");
        }
        for bad in ["-1", "1.5", "99999999999"] {
            let err = parse(&[postgres, ("DATABASE_STATEMENT_TIMEOUT_SECS", bad)]).unwrap_err();
            assert_eq!(err.variable, "DATABASE_STATEMENT_TIMEOUT_SECS", "{bad}");
        }
    }
}
