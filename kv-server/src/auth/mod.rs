//! Bearer-token authentication and prefix rights.
//!
//! Tokens come from `KVSTORE_AUTH_TOKEN` (every right on every key) and the
//! token file (see [`token_file`]). Each request's `Authorization: Bearer`
//! token is compared against every configured token in constant time; the
//! result is a [`Principal`] that handlers ask for the right they need on
//! the keys they touch.
//!
//! Whether authentication is on is decided in one place,
//! [`Authenticator::enabled`], from the tokens actually loaded: the request
//! path and the start-up check ([`Authenticator::protected_mode_error`])
//! both ask it. Without any token, every request is a
//! [`Principal::unrestricted`] and the server listens on loopback only,
//! unless the operator opted out. A setting that names tokens but yields
//! none (an empty token file) is an error at start, never "auth off".

pub mod token_file;

use std::sync::Arc;

use subtle::ConstantTimeEq;

use crate::error::ServerError;
use token_file::TokenEntry;

/// The configured tokens: `KVSTORE_AUTH_TOKEN` and the token file.
///
/// # Errors
///
/// The token file cannot be read or is invalid, or a token is too short;
/// the message names the file, never a token.
pub fn from_config(config: &crate::config::Config) -> Result<Authenticator, String> {
    let entries = match &config.auth_file {
        None => Vec::new(),
        Some(path) => token_file::load(path)?,
    };
    let root = config.auth_token.as_ref().map(|t| t.expose());
    Authenticator::new(root, entries)
}

/// What a token may do to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    /// Read values: get, list, backup, transactions' compares and gets.
    Read,
    /// Change values: set, rm, put, delete, transactions' puts and deletes.
    Write,
    /// Follow changes: `GET /v1/watch` (with `Read` on the same keys).
    Watch,
    /// Copy the whole store: `GET /v1/snapshot`. An operator's right, on
    /// every key at once (not by prefix).
    Backup,
}

impl Right {
    fn as_str(self) -> &'static str {
        match self {
            Right::Read => "read",
            Right::Write => "write",
            Right::Watch => "watch",
            Right::Backup => "backup",
        }
    }
}

/// The rights of one token: key prefixes per [`Right`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// The token's name, for messages.
    pub name: String,
    read: Vec<String>,
    write: Vec<String>,
    watch: Vec<String>,
    backup: bool,
}

impl Grants {
    /// Every right on every key.
    pub fn everything(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            read: vec![String::new()],
            write: vec![String::new()],
            watch: vec![String::new()],
            backup: true,
        }
    }

    fn prefixes(&self, right: Right) -> &[String] {
        match right {
            Right::Read => &self.read,
            Right::Write => &self.write,
            Right::Watch => &self.watch,
            Right::Backup => &[],
        }
    }

    /// Whether `right` is granted on every key that starts with `prefix`
    /// (a key is its own prefix). [`Right::Backup`] is granted on the whole
    /// store or not at all.
    pub fn allows(&self, right: Right, prefix: &str) -> bool {
        if right == Right::Backup {
            return self.backup;
        }
        self.prefixes(right)
            .iter()
            .any(|granted| prefix.starts_with(granted.as_str()))
    }
}

struct Token {
    secret: Box<[u8]>,
    grants: Arc<Grants>,
}

/// The configured tokens. Cheap to share; built once at startup.
pub struct Authenticator {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|t| t.grants.name.as_str()).collect();
        f.debug_struct("Authenticator")
            .field("tokens", &names)
            .finish()
    }
}

impl Authenticator {
    /// Builds the token table from the full-access token and the token
    /// file's entries.
    ///
    /// # Errors
    ///
    /// The full-access token is shorter than
    /// [`token_file::MIN_TOKEN_BYTES`] or equals a token of the file.
    pub fn new(root_token: Option<&str>, entries: Vec<TokenEntry>) -> Result<Self, String> {
        let mut tokens = Vec::with_capacity(entries.len() + 1);
        if let Some(root) = root_token {
            if root.len() < token_file::MIN_TOKEN_BYTES {
                return Err(format!(
                    "KVSTORE_AUTH_TOKEN is shorter than {} bytes",
                    token_file::MIN_TOKEN_BYTES
                ));
            }
            if entries.iter().any(|e| e.token == root) {
                return Err("KVSTORE_AUTH_TOKEN equals a token of the auth file".into());
            }
            tokens.push(Token {
                secret: root.as_bytes().into(),
                grants: Arc::new(Grants::everything("KVSTORE_AUTH_TOKEN")),
            });
        }
        tokens.extend(entries.into_iter().map(|e| Token {
            secret: e.token.into_bytes().into_boxed_slice(),
            grants: Arc::new(Grants {
                name: e.name,
                read: e.read,
                write: e.write,
                watch: e.watch,
                backup: e.backup,
            }),
        }));
        Ok(Self { tokens })
    }

    /// Whether requests must carry a token: the one place that decides it,
    /// from the tokens loaded.
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Protected mode: why the server must not serve `bound`, if it must
    /// not. Without any token loaded, only loopback addresses are served,
    /// unless the operator opted out with `--insecure-no-auth`.
    pub fn protected_mode_error(
        &self,
        bound: std::net::SocketAddr,
        insecure_no_auth: bool,
    ) -> Option<String> {
        if self.enabled() || insecure_no_auth || bound.ip().is_loopback() {
            return None;
        }
        Some(format!(
            "refusing to serve {bound} without authentication (protected mode): anyone who \
             can reach it could read and change every key. Set KVSTORE_AUTH_TOKEN (or \
             --auth-file) to require a bearer token, or listen on 127.0.0.1, or pass \
             --insecure-no-auth (KVSTORE_INSECURE_NO_AUTH=true) if the network is trusted"
        ))
    }

    /// How many tokens are configured.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The principal of a request with this `Authorization` header value.
    ///
    /// # Errors
    ///
    /// [`ServerError::Unauthorized`] when authentication is on and the header
    /// is missing, not a bearer token, or matches no token.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<Principal, ServerError> {
        if !self.enabled() {
            return Ok(Principal::unrestricted());
        }
        let presented = authorization.and_then(bearer_token).ok_or_else(|| {
            ServerError::Unauthorized("send Authorization: Bearer <token>".into())
        })?;
        // Compare against every token, without stopping at a match, so that
        // timing tells nothing about which or how much matched.
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.secret.as_ref().ct_eq(presented)) {
                found = Some(Arc::clone(&token.grants));
            }
        }
        found
            .map(|grants| Principal {
                grants: Some(grants),
            })
            .ok_or_else(|| ServerError::Unauthorized("the bearer token is not valid".into()))
    }
}

/// `Bearer <token>` (the scheme is case-insensitive) -> the token bytes.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Who is asking: the rights of the request's token, or everything when
/// authentication is off. Handlers take it as their first argument (the
/// extractor is in [`crate::http::extract`]), so that a request without a
/// valid token is refused before its body is read.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `None`: authentication is off.
    grants: Option<Arc<Grants>>,
}

impl Principal {
    /// Every right on every key (authentication off).
    pub fn unrestricted() -> Self {
        Self { grants: None }
    }

    /// Succeeds when `right` is granted on every key under `prefix` (pass a
    /// key to check that key).
    ///
    /// # Errors
    ///
    /// [`ServerError::Forbidden`], naming the right and the prefix.
    pub fn require(&self, right: Right, prefix: &str) -> Result<(), ServerError> {
        match &self.grants {
            None => Ok(()),
            Some(grants) if grants.allows(right, prefix) => Ok(()),
            Some(grants) if right == Right::Backup => Err(ServerError::Forbidden(format!(
                "token {:?} has no backup right (\"backup\": true in the token file)",
                grants.name
            ))),
            Some(grants) => Err(ServerError::Forbidden(format!(
                "token {:?} has no {} right on {}",
                grants.name,
                right.as_str(),
                if prefix.is_empty() {
                    "all keys".to_owned()
                } else {
                    format!("{prefix:?}")
                }
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, token: &str, read: &[&str], write: &[&str]) -> TokenEntry {
        token_file::parse(
            &serde_json::json!({"tokens": [{
                "name": name, "token": token, "read": read, "write": write, "watch": read
            }]})
            .to_string(),
        )
        .expect("valid")
        .remove(0)
    }

    #[test]
    fn tokens_resolve_to_their_grants() {
        let auth = Authenticator::new(
            Some("root-token-0123456789"),
            vec![entry("app", "app-token-0123456789", &["app/"], &[])],
        )
        .expect("valid");
        assert!(auth.enabled());
        let root = auth
            .authenticate(Some(b"Bearer root-token-0123456789"))
            .expect("root");
        root.require(Right::Write, "")
            .expect("root writes anything");
        root.require(Right::Backup, "").expect("root backs up");
        let app = auth
            .authenticate(Some(b"bearer  app-token-0123456789 "))
            .expect("app");
        app.require(Right::Read, "app/x").expect("in prefix");
        app.require(Right::Read, "app/").expect("the prefix itself");
        assert!(matches!(
            app.require(Right::Read, "other"),
            Err(ServerError::Forbidden(_))
        ));
        assert!(matches!(
            app.require(Right::Read, ""),
            Err(ServerError::Forbidden(_))
        ));
        assert!(matches!(
            app.require(Right::Write, "app/x"),
            Err(ServerError::Forbidden(_))
        ));
        assert!(matches!(
            app.require(Right::Backup, ""),
            Err(ServerError::Forbidden(_))
        ));
    }

    #[test]
    fn missing_malformed_and_wrong_tokens_are_unauthorized() {
        let auth = Authenticator::new(Some("root-token-0123456789"), Vec::new()).expect("valid");
        for header in [
            None,
            Some(&b"root-token-0123456789"[..]),
            Some(b"Basic cm9vdDpyb290"),
            Some(b"Bearer "),
            Some(b"Bearer root-token-012345678"),
            Some(b"Bearer root-token-0123456789x"),
        ] {
            assert!(
                matches!(auth.authenticate(header), Err(ServerError::Unauthorized(_))),
                "{header:?}"
            );
        }
    }

    #[test]
    fn without_tokens_everything_is_allowed() {
        let auth = Authenticator::new(None, Vec::new()).expect("no tokens");
        let anyone = auth.authenticate(None).expect("off");
        anyone.require(Right::Write, "").expect("unrestricted");
        assert!(Authenticator::new(Some("short"), Vec::new()).is_err());
        assert!(Authenticator::new(Some(""), Vec::new()).is_err());
    }

    #[test]
    fn protected_mode_follows_the_tokens_loaded() {
        let open: std::net::SocketAddr = "0.0.0.0:8000".parse().unwrap();
        let loopback: std::net::SocketAddr = "127.0.0.1:8000".parse().unwrap();
        let none = Authenticator::new(None, Vec::new()).expect("no tokens");
        let err = none.protected_mode_error(open, false).expect("refused");
        assert!(err.contains("KVSTORE_AUTH_TOKEN") && err.contains("--insecure-no-auth"));
        assert_eq!(none.protected_mode_error(loopback, false), None);
        assert_eq!(none.protected_mode_error(open, true), None);
        let some = Authenticator::new(Some("root-token-0123456789"), Vec::new()).unwrap();
        assert_eq!(some.protected_mode_error(open, false), None);
    }
}
