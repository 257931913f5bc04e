//! Raw HTTP calls that return any status as a value, for tests that check
//! error answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

/// An answer: status, selected headers, body text.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The `Allow` header, if any.
    pub allow: Option<String>,
    /// The body as text.
    pub body: String,
}

impl Reply {
    /// The body parsed as JSON.
    ///
    /// # Panics
    ///
    /// When the body is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The `error.code` of a JSON error body.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error.code in {:?}", self.body))
            .to_owned()
    }
}

/// Sends `method url` with an optional content type and body.
///
/// # Panics
///
/// On a transport error (the server is not reachable).
pub fn request(method: &str, url: &str, content_type: Option<&str>, body: Option<&[u8]>) -> Reply {
    let request = ureq::http::Request::builder().method(method).uri(url);
    let request = match content_type {
        Some(ct) => request.header("content-type", ct),
        None => request,
    };
    let agent = agent();
    let response = match body {
        Some(body) => agent.run(request.body(body.to_vec()).expect("valid request")),
        None => agent.run(request.body(()).expect("valid request")),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, allow) = (header("content-type"), header("allow"));
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .expect("read body");
    Reply {
        status: response.status().as_u16(),
        content_type,
        allow,
        body,
    }
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, body: &serde_json::Value) -> Reply {
    request(
        "POST",
        url,
        Some("application/json"),
        Some(body.to_string().as_bytes()),
    )
}

/// `GET url`.
pub fn get(url: &str) -> Reply {
    request("GET", url, None, None)
}

/// Writes `raw` bytes (a hand-made request) to `addr` and returns the status
/// line of the answer, reading until the server closes or 30 s pass.
///
/// # Panics
///
/// On a connection error.
pub fn raw_exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set timeout");
    // The server may answer and close before the whole body is written.
    let _ = stream.write_all(raw);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// An answer with all of its headers and its body as bytes.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Every header.
    pub headers: ureq::http::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value, if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    ///
    /// When it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// A header holding a number, such as `X-Kv-Revision`.
    ///
    /// # Panics
    ///
    /// When it is missing or not a number.
    pub fn number(&self, name: &str) -> u64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers))
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not a number ({e}): {:?}", self.headers))
    }
}

/// An agent that returns any status as a value, with a 30 s time limit. It
/// does not reuse a connection idle for 4 s or more: the server closes idle
/// connections after 5 s, and a request racing that close gets no answer.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_age(Duration::from_secs(4))
        .build()
        .into()
}

/// Sends `method url` as the holder of `token` (`None`: no
/// `Authorization` header), with an optional `(content type, body)`.
///
/// # Panics
///
/// On a transport error.
pub fn send_as(
    url: &str,
    token: Option<&str>,
    method: &str,
    body: Option<(&str, &[u8])>,
) -> Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer.as_str()));
    }
    if let Some((content_type, _)) = body {
        headers.push(("content-type", content_type));
    }
    send_with(
        &agent(),
        method,
        url,
        &headers,
        body.map(|(_, bytes)| bytes),
    )
}

/// Sends `method url` with `headers` and an optional body, through `agent`.
///
/// # Panics
///
/// On a transport error.
pub fn send_with(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Answer {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let result = match body {
        Some(body) => agent.run(builder.body(body.to_vec()).expect("valid request")),
        None => agent.run(builder.body(()).expect("valid request")),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url} failed: {e}"));
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .expect("read the body");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body,
    }
}
