//! Which browser origins may call `/mcp`: the MCP transport rule that a request whose `Origin`
//! is present and not allowed gets 403, so that a web page cannot reach a local server through
//! DNS rebinding.

use http::Uri;

/// Allowed origins: exact `scheme://host[:port]` entries, or `scheme://host:*` for any port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<OriginPattern>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct OriginPattern {
    scheme: String,
    host: String,
    /// `None` for any port.
    port: Option<u16>,
}

/// An entry that is not an origin.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0:?} is not an origin such as https://app.example.com or http://localhost:*")]
pub struct BadOrigin(pub String);

impl AllowedOrigins {
    /// Pages served from this machine (`localhost`, `127.0.0.1`, `[::1]`), on any port and
    /// scheme: the default of the standalone server.
    pub fn loopback() -> Self {
        let mut patterns = Vec::new();
        for scheme in ["http", "https"] {
            for host in loopback_hosts() {
                patterns.push(OriginPattern {
                    scheme: scheme.to_owned(),
                    host: host.to_owned(),
                    port: None,
                });
            }
        }
        Self(patterns)
    }

    /// Parses a comma-separated list such as `https://app.example.com, http://localhost:*`.
    pub fn parse_list(raw: &str) -> Result<Self, BadOrigin> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_pattern)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Adds the origin of `url` (an exact match).
    pub fn with(mut self, url: &str) -> Result<Self, BadOrigin> {
        self.0.push(parse_pattern(url)?);
        Ok(self)
    }

    /// Whether a request with this `Origin` header may go on.
    pub fn allows(&self, origin: &str) -> bool {
        let Some(origin) = parse_origin(origin) else {
            return false;
        };
        self.0.iter().any(|pattern| {
            pattern.scheme == origin.scheme
                && pattern.host == origin.host
                && pattern.port.is_none_or(|port| Some(port) == origin.port)
        })
    }
}

/// The names of this machine.
pub fn loopback_hosts() -> [&'static str; 3] {
    ["localhost", "127.0.0.1", "[::1]"]
}

fn parse_pattern(raw: &str) -> Result<OriginPattern, BadOrigin> {
    let bad = || BadOrigin(raw.to_owned());
    if let Some(base) = raw.strip_suffix(":*") {
        let origin = parse_origin(base).ok_or_else(bad)?;
        return Ok(OriginPattern {
            port: None,
            ..origin
        });
    }
    parse_origin(raw).ok_or_else(bad)
}

/// `scheme://host[:port]` with the port made explicit (80 and 443 when left out); a path
/// other than `/` is not an origin.
fn parse_origin(raw: &str) -> Option<OriginPattern> {
    let uri: Uri = raw.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    if authority.as_str().contains('@') || !matches!(uri.path(), "" | "/") || uri.query().is_some()
    {
        return None;
    }
    let port = authority.port_u16().or(match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    });
    Some(OriginPattern {
        scheme,
        host: authority.host().to_ascii_lowercase(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn loopback_pages_are_allowed_and_others_refused() {
        let allowed = AllowedOrigins::loopback();
        assert!(allowed.allows("http://localhost:5173"));
        assert!(allowed.allows("http://127.0.0.1"));
        assert!(allowed.allows("http://[::1]:8080"));
        for foreign in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://127.0.0.1.nip.io",
            "null",
            "",
            "http://user@localhost",
        ] {
            assert!(!allowed.allows(foreign), "{foreign}");
        }
    }

    #[test]
    fn exact_entries_match_scheme_host_and_port() {
        let allowed = AllowedOrigins::default()
            .with("https://todo.example.com/")
            .unwrap();
        assert!(allowed.allows("https://todo.example.com"));
        assert!(allowed.allows("https://TODO.example.com:443"));
        assert!(!allowed.allows("http://todo.example.com"));
        assert!(!allowed.allows("https://todo.example.com:8443"));
        let list = AllowedOrigins::parse_list("https://a.example, http://b.example:*").unwrap();
        assert!(list.allows("http://b.example:9000"));
        assert!(AllowedOrigins::parse_list("not an origin").is_err());
    }

    proptest! {
        #[test]
        fn any_origin_header_is_judged_without_panic(raw in "\\PC{0,80}") {
            let _ = AllowedOrigins::loopback().allows(&raw);
            let _ = AllowedOrigins::parse_list(&raw);
        }
    }
}
