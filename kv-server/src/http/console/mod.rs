//! The web console's serving side: the pages and scripts at `/ui`, built
//! into the binary from `kv-server/ui/` ([`assets`]), and the headers every
//! `/ui` answer carries ([`security_headers`]).
//!
//! The console is a plain page: it holds no right of its own and every API
//! call it makes carries the token the user signed in with (a bearer
//! header, never a cookie), so serving it needs no token and adds no
//! authority. Its handlers are in [`crate::http::routes::ui`].

pub mod assets;

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Whether `/ui` is served (`--no-ui` turns it off), as the handlers see it
/// in the app data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsoleSwitch {
    /// `false` under `--no-ui`: `/ui` answers as an unknown route does.
    pub enabled: bool,
}

/// The console's rows of the route table. They are left out of the OpenAPI
/// document: they serve a page for people, not an operation of the API
/// (no client calls them, and a generated client or Schemathesis has
/// nothing to learn from HTML and scripts).
pub const CONSOLE_ROUTES: &[&str] = &["/ui", "/ui/{asset}"];

/// The console's Content-Security-Policy: scripts, styles and images from
/// the server itself only (no inline script or style, no `eval`), requests
/// to the server itself only, no framing, no forms posted anywhere, and
/// Trusted Types required, so a string can never reach an HTML sink such as
/// `innerHTML` (every key and value is rendered as text).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
    trusted-types 'none'";

/// The headers every `/ui` answer carries, whatever its status.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
];

/// Sets [`SECURITY_HEADERS`] on an answer's headers.
pub fn security_headers(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    // Answers are revalidated (by their ETag) each time: a new server
    // binary's assets are picked up at once.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_no_inline_script_and_no_eval() {
        let script_src = CONTENT_SECURITY_POLICY
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .expect("a script-src directive");
        assert_eq!(script_src, "script-src 'self'");
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(CONTENT_SECURITY_POLICY.contains("default-src 'none'"));
    }

    #[test]
    fn every_security_header_is_a_valid_header() {
        let mut headers = HeaderMap::new();
        security_headers(&mut headers);
        assert_eq!(headers.len(), SECURITY_HEADERS.len() + 1);
        assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
    }
}
