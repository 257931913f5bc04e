//! Raw HTTP calls that return any status as a value, for tests that check
//! error answers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
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
