//! Configuration of `todo-agent`: every environment variable it reads, parsed once at start.
//!
//! `APP_MODE` alone decides the security settings ([`Security`]); nothing else in the host
//! hard-codes a security flag.

use std::{net::SocketAddr, num::NonZeroU32, str::FromStr, time::Duration};

use secrecy::SecretString;
use todo_mcp::{
    auth::JwtSecret,
    config::{parse_database_url, parse_log_filter},
    db::DatabaseUrl,
    net::{ConnectionLimits, positive},
};
use url::Url;

use crate::{client::TrustedProxies, retry::RetryPolicy, telemetry::LogFormat};

pub use todo_mcp::config::ConfigError;

/// The default model of the OpenAI-compatible provider.
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o";
const DEFAULT_BIND: &str = "127.0.0.1:7860";

/// Everything `todo-agent` reads from its environment.
#[derive(Debug)]
pub struct Config {
    /// `APP_MODE`: `developer` or `production` (default).
    pub mode: AppMode,
    /// `BIND`: where to listen; `127.0.0.1:7860` by default.
    pub bind: SocketAddr,
    /// `DATABASE_URL`: a SQLite file under `./data/` by default; with `SQLITE_SYNCHRONOUS`.
    pub database_url: DatabaseUrl,
    /// `JWT_SECRET`: required in production and with PostgreSQL; in developer mode on SQLite a
    /// generated secret kept in `./data/jwt_secret` stands in when it is not set.
    pub jwt_secret: Option<JwtSecret>,
    /// `PUBLIC_BASE_URL`: the address people use; see [`Config::public_base_url`].
    pub public_base_url: Option<Url>,
    /// `OPENAI_API_KEY`, `OPENAI_BASE_URL`, `OPENAI_MODEL`, `OPENAI_MAX_TOKENS`.
    pub openai: OpenAiConfig,
    /// `MCP_TASKS_URL`: a standalone `todo-mcp serve` to use instead of the embedded server.
    pub mcp_tasks_url: Option<Url>,
    /// `RUST_LOG`: the log filter; `info` by default.
    pub log_filter: String,
    /// `HEADER_READ_TIMEOUT_SECS`, `REQUEST_BODY_TIMEOUT_SECS`, `IDLE_TIMEOUT_SECS`,
    /// `MAX_CONNECTIONS`: what each connection is held to.
    pub limits: ConnectionLimits,
    /// Sign-in, password hashing and chat limits.
    pub abuse: AbuseLimits,
    /// `TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` names the client; none by default.
    pub trusted_proxies: TrustedProxies,
    /// `METRICS_BIND`: where `/metrics` is served, on a listener of its own so that it stays
    /// off the public port; not served when unset.
    pub metrics_bind: Option<SocketAddr>,
    /// `CORS_ORIGINS`: the web origins (`https://app.example.com`, comma-separated) whose
    /// pages may call `/chatkit` with a bearer token; none by default.
    pub cors_origins: Vec<String>,
    /// Heartbeats, grace periods, model timeouts and retries: not read from the environment;
    /// tests set them in code.
    pub timing: Timing,
}

/// Every interval the host waits on, in one place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// How often an idle chat stream sends a comment line.
    pub heartbeat: Duration,
    /// How long open requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long of that a chat reply may keep streaming before it is stopped.
    pub turn_grace: Duration,
    /// The model provider's timeouts and retries.
    pub model: ModelTiming,
}

/// How long the model server may take, and how its failures are retried.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelTiming {
    /// How long the first chunk may take: local servers may load the model first.
    pub first_chunk: Duration,
    /// The longest silence between two chunks of a reply.
    pub idle: Duration,
    /// Failures before the first chunk.
    pub retry: RetryPolicy,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            turn_grace: Duration::from_secs(7),
            model: ModelTiming {
                first_chunk: Duration::from_secs(120),
                idle: Duration::from_secs(60),
                retry: RetryPolicy::default(),
            },
        }
    }
}

/// Limits against abuse, per process (N processes allow N times as much).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbuseLimits {
    /// `SIGNIN_ATTEMPTS_PER_MINUTE`: sign-in attempts for one account from one address.
    pub sign_in_per_account: NonZeroU32,
    /// `SIGNIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE`: sign-in and sign-up attempts from one address.
    pub sign_in_per_address: NonZeroU32,
    /// `PASSWORD_HASHES_AT_ONCE`: Argon2 hashes computed at once (the number of cores by
    /// default).
    pub hashes_at_once: usize,
    /// `PASSWORD_HASH_QUEUE`: sign-ins that may wait for a hash; more get 503.
    pub hash_queue: usize,
    /// `CHAT_MESSAGES_PER_MINUTE`: chat messages (and retries) of one user.
    pub chat_messages_per_minute: NonZeroU32,
    /// `CHAT_TURNS_PER_USER`: replies of one user running at once.
    pub turns_per_user: usize,
    /// `CHAT_TURNS_TOTAL`: replies running at once in this process.
    pub turns_total: usize,
}

impl Default for AbuseLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            sign_in_per_account: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            sign_in_per_address: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
            hashes_at_once: cores,
            hash_queue: 32,
            chat_messages_per_minute: NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN),
            turns_per_user: 10,
            turns_total: 256,
        }
    }
}

impl AbuseLimits {
    fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let per_minute = |variable, default: NonZeroU32| {
            positive(lookup, variable, default.get() as usize).map(|value| {
                NonZeroU32::new(u32::try_from(value).unwrap_or(u32::MAX)).unwrap_or(default)
            })
        };
        Ok(Self {
            sign_in_per_account: per_minute(
                "SIGNIN_ATTEMPTS_PER_MINUTE",
                defaults.sign_in_per_account,
            )?,
            sign_in_per_address: per_minute(
                "SIGNIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE",
                defaults.sign_in_per_address,
            )?,
            hashes_at_once: positive(lookup, "PASSWORD_HASHES_AT_ONCE", defaults.hashes_at_once)?,
            hash_queue: positive(lookup, "PASSWORD_HASH_QUEUE", defaults.hash_queue)?,
            chat_messages_per_minute: per_minute(
                "CHAT_MESSAGES_PER_MINUTE",
                defaults.chat_messages_per_minute,
            )?,
            turns_per_user: positive(lookup, "CHAT_TURNS_PER_USER", defaults.turns_per_user)?,
            turns_total: positive(lookup, "CHAT_TURNS_TOTAL", defaults.turns_total)?,
        })
    }
}

/// The model provider's settings.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    pub api_key: Option<ApiKey>,
    pub base_url: Option<Url>,
    pub model: String,
    /// `OPENAI_MAX_TOKENS`: the most tokens one model request may generate, so that a model
    /// that never stops (small local ones can) costs a bounded time and money.
    pub max_tokens: u32,
}

/// The default of `OPENAI_MAX_TOKENS`: far above any answer about a to-do list.
pub const DEFAULT_OPENAI_MAX_TOKENS: u32 = 1024;

/// `OPENAI_API_KEY`: `Debug` never shows it.
pub type ApiKey = SecretString;

/// How the host runs; see [`AppMode::security`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode {
    /// For a person trying the product on their own machine over plain HTTP.
    Developer,
    /// Behind HTTPS, with a configured secret.
    Production,
}

/// The security switches that follow from the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Security {
    /// `Secure` on the session cookie: it then only travels over HTTPS.
    pub cookie_secure: bool,
    /// `HttpOnly` on the session cookie: page scripts cannot read it.
    pub cookie_http_only: bool,
    /// `Cache-Control` for responses with user data.
    pub private_cache_control: &'static str,
    /// Whether a missing `JWT_SECRET` may be replaced by a generated one.
    pub generate_missing_secret: bool,
    /// `Strict-Transport-Security` of every response: browsers then use HTTPS only.
    pub strict_transport_security: Option<&'static str>,
}

impl AppMode {
    pub fn security(self) -> Security {
        match self {
            AppMode::Developer => Security {
                cookie_secure: false,
                cookie_http_only: false,
                private_cache_control: "no-store",
                generate_missing_secret: true,
                strict_transport_security: None,
            },
            AppMode::Production => Security {
                cookie_secure: true,
                cookie_http_only: true,
                private_cache_control: "no-store, private",
                generate_missing_secret: false,
                strict_transport_security: Some("max-age=31536000; includeSubDomains"),
            },
        }
    }
}

impl AppMode {
    /// JSON lines for log collectors in production, text for a person in developer mode.
    pub fn log_format(self) -> LogFormat {
        match self {
            AppMode::Developer => LogFormat::Text,
            AppMode::Production => LogFormat::Json,
        }
    }
}

impl FromStr for AppMode {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "developer" | "development" | "dev" => Ok(AppMode::Developer),
            "production" | "prod" => Ok(AppMode::Production),
            other => Err(format!("is {other:?}; use developer or production")),
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the configuration through `lookup`, so tests can pass a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());
        let bad = |variable: &'static str, problem: String| ConfigError { variable, problem };

        let mode = match set("APP_MODE") {
            None => AppMode::Production,
            Some(raw) => raw.parse().map_err(|problem| bad("APP_MODE", problem))?,
        };
        let bind = set("BIND")
            .unwrap_or_else(|| DEFAULT_BIND.to_owned())
            .trim()
            .parse::<SocketAddr>()
            .map_err(|_| {
                bad(
                    "BIND",
                    "is not an address such as 127.0.0.1:7860".to_owned(),
                )
            })?;
        let database_url = parse_database_url(&lookup)?;
        let jwt_secret = set("JWT_SECRET")
            .map(|raw| JwtSecret::new(raw.into_bytes()))
            .transpose()
            .map_err(|err| bad("JWT_SECRET", err.to_string()))?;
        if jwt_secret.is_none() && !mode.security().generate_missing_secret {
            return Err(bad(
                "JWT_SECRET",
                "is not set; production mode needs at least 32 random bytes (or run with APP_MODE=developer)"
                    .to_owned(),
            ));
        }
        // Hosts that share a PostgreSQL database must accept each other's tokens, and a
        // generated secret would differ per machine: it is for SQLite only.
        if jwt_secret.is_none() && !database_url.is_sqlite() {
            return Err(bad(
                "JWT_SECRET",
                "is not set; with a PostgreSQL DATABASE_URL every host sharing the database needs the same secret (a generated one is for SQLite only)"
                    .to_owned(),
            ));
        }
        let public_base_url = set("PUBLIC_BASE_URL")
            .map(|raw| http_url(&raw))
            .transpose()
            .map_err(|problem| bad("PUBLIC_BASE_URL", problem))?;
        let openai = OpenAiConfig {
            api_key: set("OPENAI_API_KEY").map(|raw| ApiKey::from(raw.trim())),
            base_url: set("OPENAI_BASE_URL")
                .map(|raw| http_url(&raw))
                .transpose()
                .map_err(|problem| bad("OPENAI_BASE_URL", problem))?,
            model: set("OPENAI_MODEL")
                .map(|raw| raw.trim().to_owned())
                .unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_owned()),
            max_tokens: u32::try_from(positive(
                &lookup,
                "OPENAI_MAX_TOKENS",
                DEFAULT_OPENAI_MAX_TOKENS as usize,
            )?)
            .map_err(|_| bad("OPENAI_MAX_TOKENS", "is too large".to_owned()))?,
        };
        let mcp_tasks_url = set("MCP_TASKS_URL")
            .map(|raw| http_url(&raw))
            .transpose()
            .map_err(|problem| bad("MCP_TASKS_URL", problem))?;
        let metrics_bind = set("METRICS_BIND")
            .map(|raw| raw.trim().parse::<SocketAddr>())
            .transpose()
            .map_err(|_| {
                bad(
                    "METRICS_BIND",
                    "is not an address such as 127.0.0.1:9464".to_owned(),
                )
            })?;
        if metrics_bind.is_some_and(|metrics| metrics == bind && bind.port() != 0) {
            return Err(bad(
                "METRICS_BIND",
                "is BIND's address; /metrics needs a port of its own".to_owned(),
            ));
        }
        let cors_origins = set("CORS_ORIGINS")
            .map(|raw| parse_origins(&raw))
            .transpose()
            .map_err(|problem| bad("CORS_ORIGINS", problem))?
            .unwrap_or_default();
        Ok(Self {
            mode,
            bind,
            database_url,
            jwt_secret,
            public_base_url,
            openai,
            mcp_tasks_url,
            log_filter: parse_log_filter(set("RUST_LOG"))?,
            limits: ConnectionLimits::from_lookup(&lookup)?,
            abuse: AbuseLimits::from_lookup(&lookup)?,
            trusted_proxies: set("TRUSTED_PROXIES")
                .map(|raw| TrustedProxies::parse_list(&raw))
                .transpose()
                .map_err(|err| bad("TRUSTED_PROXIES", err.to_string()))?
                .unwrap_or_default(),
            metrics_bind,
            cors_origins,
            timing: Timing::default(),
        })
    }

    pub fn security(&self) -> Security {
        self.mode.security()
    }

    /// `PUBLIC_BASE_URL`, or `http://` plus the address the server is bound to (`bound`, which
    /// differs from `BIND` when that asks for port 0).
    #[expect(clippy::expect_used, reason = "infallible, as the message says")]
    pub fn public_base_url(&self, bound: SocketAddr) -> Url {
        if let Some(url) = &self.public_base_url {
            return url.clone();
        }
        Url::parse(&format!("http://{}/", browsable(bound)))
            .expect("a socket address always forms a valid http URL")
    }
}

/// A comma-separated list of web origins, each written as a browser sends it in `Origin`.
fn parse_origins(raw: &str) -> Result<Vec<String>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let url = Url::parse(origin)
                .map_err(|_| format!("{origin:?} is not an origin such as https://app.example.com"))?;
            let serialized = url.origin().ascii_serialization();
            let bare = origin.trim_end_matches('/');
            if !matches!(url.scheme(), "http" | "https") || !serialized.eq_ignore_ascii_case(bare) {
                return Err(format!(
                    "{origin:?} is not an origin such as https://app.example.com (scheme, host and port only)"
                ));
            }
            Ok(serialized)
        })
        .collect()
}

/// An address a browser can open: a wildcard bind is reached through localhost.
fn browsable(bind: SocketAddr) -> String {
    if bind.ip().is_unspecified() {
        format!("localhost:{}", bind.port())
    } else {
        bind.to_string()
    }
}

fn http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|err| format!("is not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http:// or https:// URL".to_owned());
    }
    Ok(url)
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

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_generated_secret_is_for_sqlite_only() {
        let developer = ("APP_MODE", "developer");
        let config = parse(&[developer]).unwrap();
        assert!(config.jwt_secret.is_none() && config.security().generate_missing_secret);
        let postgres = ("DATABASE_URL", "postgres://todo@db.internal/todo");
        let err = parse(&[developer, postgres]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET");
        assert!(err.problem.contains("PostgreSQL"), "{}", err.problem);
        let config = parse(&[developer, postgres, ("JWT_SECRET", SECRET)]).unwrap();
        assert!(!config.database_url.is_sqlite());
    }

    #[test]
    fn production_is_the_default_and_needs_a_secret() {
        let err = parse(&[]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET");
        let config = parse(&[("JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(config.mode, AppMode::Production);
        assert!(config.security().cookie_secure && config.security().cookie_http_only);
        assert_eq!(config.bind.to_string(), "127.0.0.1:7860");
        assert_eq!(
            config.public_base_url(config.bind).as_str(),
            "http://127.0.0.1:7860/"
        );
        assert_eq!(config.openai.model, "gpt-4o");
        assert!(config.database_url.is_sqlite());
        assert_eq!(config.metrics_bind, None);
    }

    #[test]
    fn developer_mode_runs_without_any_secret() {
        let config = parse(&[("APP_MODE", "developer")]).unwrap();
        assert!(config.jwt_secret.is_none());
        assert!(!config.security().cookie_secure);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (variable, value) in [
            ("APP_MODE", "staging"),
            ("BIND", "localhost"),
            ("DATABASE_URL", "mysql://db"),
            ("JWT_SECRET", "short"),
            ("PUBLIC_BASE_URL", "ftp://x"),
            ("OPENAI_BASE_URL", "not a url"),
            ("OPENAI_MAX_TOKENS", "0"),
            ("OPENAI_MAX_TOKENS", "99999999999"),
            ("MCP_TASKS_URL", "nope"),
            ("RUST_LOG", "info,[["),
            ("SQLITE_SYNCHRONOUS", "sometimes"),
            ("TRUSTED_PROXIES", "proxy.local"),
            ("MAX_CONNECTIONS", "0"),
            ("CHAT_TURNS_PER_USER", "-3"),
            ("SIGNIN_ATTEMPTS_PER_MINUTE", "many"),
            ("METRICS_BIND", "metrics.local"),
            ("METRICS_BIND", "127.0.0.1:7860"),
            ("DATABASE_MAX_CONNECTIONS", "none"),
            ("DATABASE_STATEMENT_TIMEOUT_SECS", "soon"),
            ("CORS_ORIGINS", "app.example.com"),
            ("CORS_ORIGINS", "https://app.example.com/chat"),
            ("CORS_ORIGINS", "*"),
        ] {
            let mut vars = vec![("JWT_SECRET", SECRET)];
            vars.retain(|(key, _)| *key != variable);
            vars.push((variable, value));
            let err = parse(&vars).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
            assert!(err.to_string().starts_with(variable));
        }
    }

    #[test]
    fn cors_origins_are_kept_as_browsers_send_them() {
        let config = parse(&[
            ("JWT_SECRET", SECRET),
            (
                "CORS_ORIGINS",
                "https://App.example.com/, http://localhost:5173 ,",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert!(
            parse(&[("JWT_SECRET", SECRET)])
                .unwrap()
                .cors_origins
                .is_empty()
        );
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let config =
            parse(&[("JWT_SECRET", SECRET), ("OPENAI_API_KEY", "sk-very-secret")]).unwrap();
        let printed = format!("{config:?}");
        assert!(
            !printed.contains(SECRET) && !printed.contains("sk-very-secret"),
            "{printed}"
        );
    }

    #[test]
    fn a_wildcard_bind_is_opened_through_localhost() {
        let config = parse(&[("APP_MODE", "developer"), ("BIND", "0.0.0.0:8080")]).unwrap();
        assert_eq!(
            config.public_base_url(config.bind).as_str(),
            "http://localhost:8080/"
        );
    }
}
