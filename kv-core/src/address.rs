//! Server addresses as users write them: `0.0.0.0:8000`, `localhost:8000`,
//! `http://127.0.0.1:8000`, `[::1]:8000`.
//!
//! Parsing is pure string work; resolving a host name is the caller's job.

use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;

/// The default server address (`KVSTORE_SERVER_HOST`).
pub const DEFAULT_SERVER_HOST: &str = "127.0.0.1:8000";
/// The port used when an address names none.
pub const DEFAULT_PORT: u16 = 8000;

/// A parsed server address: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// Host name or IP literal; IPv6 literals keep their brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl ServerAddr {
    /// `host:port`, suitable for binding or connecting.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The base URL, such as `http://127.0.0.1:8000`.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base_url())
    }
}

impl FromStr for ServerAddr {
    type Err = CoreError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| CoreError::InvalidAddress {
            input: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some(("http", rest)) => ("http", rest),
            Some(("https", rest)) => ("https", rest),
            Some(_) => return Err(invalid("scheme must be http or https")),
            None => ("http", trimmed),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) {
            return Err(invalid("expected host:port without a path"));
        }
        let (host, port) = if let Some(after_bracket) = rest.strip_prefix('[') {
            let (inner, tail) = after_bracket
                .split_once(']')
                .ok_or_else(|| invalid("unclosed '[' in IPv6 address"))?;
            let port = match tail {
                "" => None,
                _ => Some(
                    tail.strip_prefix(':')
                        .ok_or_else(|| invalid("expected ':' after ']'"))?,
                ),
            };
            (format!("[{inner}]"), port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (rest.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return Err(invalid("host is empty"));
        }
        if host.contains(':') && !host.starts_with('[') {
            return Err(invalid(
                "IPv6 addresses must be in brackets, like [::1]:8000",
            ));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| invalid("port must be a number from 0 to 65535"))?,
        };
        Ok(ServerAddr { scheme, host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ServerAddr, CoreError> {
        s.parse()
    }

    #[test]
    fn accepts_the_original_forms() {
        let a = parse("0.0.0.0:8000").expect("valid");
        assert_eq!((a.scheme, a.authority().as_str()), ("http", "0.0.0.0:8000"));
        let b = parse("http://127.0.0.1:8000").expect("valid");
        assert_eq!(b.authority(), "127.0.0.1:8000");
        assert_eq!(parse("http://127.0.0.1:8000/").expect("valid"), b);
        assert_eq!(
            parse("https://kv.example:443").expect("valid").scheme,
            "https"
        );
        assert_eq!(parse("localhost").expect("valid").port, DEFAULT_PORT);
        assert_eq!(
            parse("[::1]:9000").expect("valid").authority(),
            "[::1]:9000"
        );
        assert_eq!(parse("127.0.0.1:0").expect("valid").port, 0);
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "ftp://host:1",
            "host:99999",
            "host:abc",
            "http://host:1/path",
            "::1:80",
            "[::1",
            ":8000",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
