//! The rules a request head must meet before the HTTP layer sees it, and
//! where its body ends.
//!
//! [`inspect`] applies the same checks as actix-http's request decoder (so
//! that the HTTP layer never refuses a head the gate let through, which it
//! would do with a bare status and no body) plus our own limit on the
//! head's size, and tells the connection gate ([`crate::http::gate`]) how the
//! body is framed.

use std::mem::MaybeUninit;

use actix_web::http::{Method, Uri};

/// Most headers in a request: the HTTP layer's own ceiling.
pub const MAX_HEADERS: usize = 96;

/// How a request's body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// A protocol upgrade: the connection stops being HTTP/1.
    Upgrade,
}

/// Why a head is refused: the status and what to tell the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 400, 408 or 431.
    pub status: u16,
    /// The message of the JSON error (visible ASCII).
    pub detail: String,
}

impl Refusal {
    fn bad(detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            detail: detail.into(),
        }
    }

    /// A head over `max` bytes, or with too many headers.
    pub fn too_large(detail: String) -> Self {
        Self {
            status: 431,
            detail,
        }
    }

    /// A head that did not arrive in time.
    pub fn timed_out(detail: String) -> Self {
        Self {
            status: 408,
            detail,
        }
    }
}

/// What [`inspect`] found in the bytes gathered so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// More bytes are needed.
    Partial,
    /// A head of this many bytes, and how its body is framed.
    Complete(usize, Framing),
}

/// Inspects the start of `bytes` as a request head of at most `max_bytes`.
///
/// # Errors
///
/// The head breaks a rule: the [`Refusal`] to answer with.
pub fn inspect(bytes: &[u8], max_bytes: usize) -> Result<Head, Refusal> {
    // Uninitialized slots: zeroing 96 headers for every request costs more
    // than parsing a small one.
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(bytes, &mut headers) {
        Ok(httparse::Status::Partial) if bytes.len() > max_bytes => {
            return Err(too_large(max_bytes))
        }
        Ok(httparse::Status::Partial) => return Ok(Head::Partial),
        Ok(httparse::Status::Complete(len)) if len > max_bytes => return Err(too_large(max_bytes)),
        Ok(httparse::Status::Complete(len)) => len,
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::too_large(format!(
                "the request has more than {MAX_HEADERS} headers"
            )))
        }
        Err(e) => return Err(Refusal::bad(format!("malformed HTTP request: {e}"))),
    };
    let method = request.method.unwrap_or_default();
    if !STANDARD_METHODS.contains(&method) {
        Method::from_bytes(method.as_bytes())
            .map_err(|_| Refusal::bad(format!("invalid method {method:?}")))?;
    }
    let target = request.path.unwrap_or_default();
    if needs_uri_check(target) {
        Uri::try_from(target).map_err(|e| Refusal::bad(format!("invalid request target: {e}")))?;
    }
    let http11 = request.version == Some(1);
    let framing = framing(request.headers, http11, method == "POST")?;
    Ok(Head::Complete(len, framing))
}

/// Methods the HTTP layer always accepts.
const STANDARD_METHODS: [&str; 9] = [
    "GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// Whether the HTTP layer's URI parser could refuse `target`: it is long,
/// or holds a byte outside the characters a URI is made of (httparse lets
/// more through than the URI parser takes). Checking the common case this
/// way spares a second parse of every request's target.
fn needs_uri_check(target: &str) -> bool {
    const LONGEST: usize = u16::MAX as usize - 1;
    target.len() > LONGEST
        || !target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b))
}

fn too_large(max_bytes: usize) -> Refusal {
    Refusal::too_large(format!(
        "the request line and headers are over the limit of {max_bytes} bytes \
         (--max-header-bytes)"
    ))
}

/// The body's framing from the headers, refusing what the HTTP layer would
/// (ambiguous lengths are how requests are smuggled).
fn framing(headers: &[httparse::Header<'_>], http11: bool, post: bool) -> Result<Framing, Refusal> {
    let mut length: Option<u64> = None;
    let (mut chunked, mut transfer_encoding, mut host, mut websocket) =
        (false, false, false, false);
    for header in headers {
        let value = std::str::from_utf8(header.value).map(str::trim);
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = value
                .ok()
                .filter(|v| !v.starts_with('+'))
                .and_then(|v| v.parse::<u64>().ok());
            match (length, parsed) {
                (Some(_), _) => return Err(Refusal::bad("more than one Content-Length")),
                (None, Some(n)) => length = Some(n),
                (None, None) => return Err(Refusal::bad("invalid Content-Length")),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if transfer_encoding {
                return Err(Refusal::bad("more than one Transfer-Encoding"));
            }
            transfer_encoding = true;
            match value {
                Ok(v) if v.eq_ignore_ascii_case("chunked") => chunked = true,
                Ok(v) if v.eq_ignore_ascii_case("identity") => {}
                _ => return Err(Refusal::bad("Transfer-Encoding must be chunked")),
            }
        } else if name.eq_ignore_ascii_case("host") {
            if host {
                return Err(Refusal::bad("more than one Host"));
            }
            host = true;
        } else if name.eq_ignore_ascii_case("upgrade") {
            websocket |= value.is_ok_and(|v| v.eq_ignore_ascii_case("websocket"));
        }
    }
    if http11 && !host {
        return Err(Refusal::bad("an HTTP/1.1 request needs a Host header"));
    }
    if transfer_encoding {
        if !http11 {
            return Err(Refusal::bad("Transfer-Encoding is not allowed in HTTP/1.0"));
        }
        if !chunked {
            return Err(Refusal::bad("Transfer-Encoding must be chunked"));
        }
        if length.is_some() {
            return Err(Refusal::bad(
                "both Content-Length and Transfer-Encoding are set",
            ));
        }
    }
    if !http11 && post && length.is_none() {
        return Err(Refusal::bad("an HTTP/1.0 POST needs a Content-Length"));
    }
    Ok(if chunked {
        Framing::Chunked
    } else if websocket {
        Framing::Upgrade
    } else {
        match length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(head: &str) -> Result<Head, Refusal> {
        inspect(head.as_bytes(), 1024)
    }

    #[test]
    fn complete_heads_give_their_length_and_framing() {
        let get = "GET /get?key=a HTTP/1.1\r\nHost: x\r\n\r\nnext";
        assert_eq!(check(get), Ok(Head::Complete(get.len() - 4, Framing::None)));
        let put = "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(
            check(put),
            Ok(Head::Complete(put.len(), Framing::Length(5)))
        );
        let chunked = "POST /set HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            check(chunked),
            Ok(Head::Complete(_, Framing::Chunked))
        ));
        assert_eq!(check("GET / HTTP/1.1\r\nHost: x\r\n"), Ok(Head::Partial));
        let old = "GET / HTTP/1.0\r\n\r\n";
        assert!(matches!(check(old), Ok(Head::Complete(_, Framing::None))));
    }

    #[test]
    fn what_the_http_layer_would_refuse_is_refused_first() {
        for (head, status) in [
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.0\r\n\r\n", 400),
            ("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GET /é HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            ("GARBAGE\r\n\r\n", 400),
        ] {
            assert_eq!(check(head).map_err(|r| r.status), Err(status), "{head:?}");
        }
        let many: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(
            inspect(head.as_bytes(), 1 << 20).map_err(|r| r.status),
            Err(431)
        );
        let long = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(2000));
        assert_eq!(check(&long).map_err(|r| r.status), Err(431));
        let partial = format!("GET /{}", "a".repeat(2000));
        assert_eq!(check(&partial).map_err(|r| r.status), Err(431));
    }
}
