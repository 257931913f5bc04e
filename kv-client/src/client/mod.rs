//! [`KvClient`]: one blocking method per route. Here the agent, the
//! original routes and the shared decoding; the `/v1` key routes, listing,
//! transactions and watch in `v1.rs`; the bulk transfers (backup, export,
//! import) in `bulk.rs`.

mod bulk;
mod v1;

pub use bulk::Download;

use std::path::PathBuf;
use std::time::Duration;

use kv_core::address::ServerAddr;
use kv_core::api::{
    ErrorBody, ErrorDetail, GetResponse, HealthResponse, RmRequest, RmResponse, SetRequest,
    SetResponse,
};
use serde::de::DeserializeOwned;
use ureq::http::{header, HeaderValue, Response};
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use crate::error::{ClientError, Result};

/// Response header carrying the store revision of a backup.
pub const REVISION_HEADER: &str = "x-kv-revision";

/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A pooled connection idle longer than this is not reused: the server
/// closes idle connections after its keep-alive (5 s by default), and a
/// request sent on a connection just as the server closes it gets no
/// answer, which the client cannot safely retry for a write.
pub const MAX_IDLE_REUSE: Duration = Duration::from_secs(4);
/// How long each stage of a request (sending it, waiting for the answer,
/// reading the answer's body) may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The agent every request goes through: error statuses are answers, not
/// transport errors; timeouts; TLS roots; the token on every request.
///
/// Timeouts are per stage, not global: with a global (or resolve) timeout,
/// ureq looks the host name up on a new thread for every request, even on
/// a kept-alive connection, which made requests several times slower.
fn agent(token: Option<HeaderValue>, roots: RootCerts) -> Agent {
    let builder = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_send_request(Some(REQUEST_TIMEOUT))
        .timeout_send_body(Some(REQUEST_TIMEOUT))
        .timeout_recv_response(Some(REQUEST_TIMEOUT))
        .timeout_recv_body(Some(REQUEST_TIMEOUT))
        .max_idle_age(MAX_IDLE_REUSE)
        .tls_config(TlsConfig::builder().root_certs(roots).build());
    let builder = match token {
        None => builder,
        Some(value) => builder.middleware(
            move |mut request: ureq::http::Request<ureq::SendBody<'_>>,
                  next: ureq::middleware::MiddlewareNext<'_>| {
                request
                    .headers_mut()
                    .insert(header::AUTHORIZATION, value.clone());
                next.handle(request)
            },
        ),
    };
    builder.build().into()
}

/// A blocking client for one kv-store server. Cheap to clone; clones share
/// a connection pool.
#[derive(Debug, Clone)]
pub struct KvClient {
    pub(crate) agent: Agent,
    base_url: String,
    /// Reads ask for `consistent=true` (see [`KvClient::consistent`]).
    consistent: bool,
}

/// How to authenticate to the server and which certificates to trust.
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Sent as `Authorization: Bearer <token>` with every request.
    pub token: Option<String>,
    /// A PEM file of CA certificates to trust for `https` instead of the
    /// public web roots (for a private CA or a self-signed certificate).
    pub ca_cert: Option<PathBuf>,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

impl KvClient {
    /// A client for the server at `addr`, without a token, trusting the
    /// public web roots for `https`.
    pub fn new(addr: &ServerAddr) -> Self {
        Self {
            agent: agent(None, RootCerts::WebPki),
            base_url: addr.base_url(),
            consistent: false,
        }
    }

    /// A client for the server at `addr` with a token and trusted CAs.
    ///
    /// # Errors
    ///
    /// The CA file cannot be read or holds no PEM certificate, or the token
    /// cannot be sent in a header.
    pub fn with_options(addr: &ServerAddr, options: &ClientOptions) -> std::io::Result<Self> {
        let roots = match &options.ca_cert {
            None => RootCerts::WebPki,
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
                })?;
                let certs = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                        Ok(_) => None,
                        Err(e) => Some(Err(e)),
                    })
                    .collect::<std::result::Result<Vec<Certificate<'static>>, _>>()
                    .map_err(|e| {
                        std::io::Error::other(format!("invalid PEM in {}: {e}", path.display()))
                    })?;
                if certs.is_empty() {
                    return Err(std::io::Error::other(format!(
                        "no certificate in {}",
                        path.display()
                    )));
                }
                RootCerts::new_with_certs(&certs)
            }
        };
        let token = match &options.token {
            None => None,
            Some(token) => {
                let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    std::io::Error::other("the token has characters a header cannot carry")
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        Ok(Self {
            agent: agent(token, roots),
            base_url: addr.base_url(),
            consistent: false,
        })
    }

    /// The agent's settings (timeouts, TLS roots, the token), for tools
    /// that open their own connections with the same ones (`client bench`).
    pub fn agent_config(&self) -> &ureq::config::Config {
        self.agent.config()
    }

    /// The server's base URL, such as `http://127.0.0.1:8000`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /`: whether the server is up.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// let health = client.health()?;
    /// assert!(health.up && health.writable);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn health(&self) -> Result<HealthResponse> {
        let url = self.url("/");
        decode(&url, self.agent.get(&url).call())
    }

    /// `POST /set`: stores `val` under `key`; the answer carries the value it
    /// replaced.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// let first = client.set("greeting", "hello")?;
    /// assert!(first.inserted && first.ejected_val.is_none());
    /// let second = client.set("greeting", "hi")?;
    /// assert_eq!(second.ejected_val.as_deref(), Some("hello"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn set(&self, key: &str, val: &str) -> Result<SetResponse> {
        let url = self.url("/set");
        let body = SetRequest {
            key: key.to_owned(),
            val: val.to_owned(),
            ttl: None,
        };
        decode(&url, self.agent.post(&url).send_json(&body))
    }

    /// This client, with linearizable reads: against a replicated cluster
    /// every `get`, `entry` and `list` answers only once its server has
    /// applied everything committed before the read (`consistent=true`). A
    /// single node's reads always are.
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// let reader = client.clone().consistent();
    /// client.set("config/mode", "fast")?;
    /// assert_eq!(reader.get("config/mode")?.inserted_val.as_deref(), Some("fast"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    pub fn consistent(mut self) -> Self {
        self.consistent = true;
        self
    }

    /// A GET of `url`, with `consistent=true` when this client asks for it.
    fn read(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let request = self.agent.get(url);
        match self.consistent {
            true => request.query("consistent", "true"),
            false => request,
        }
    }

    /// `GET /get?key=`: the value of `key`; `found` is false when it is missing.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// assert!(!client.get("greeting")?.found);
    /// client.set("greeting", "hello")?;
    /// assert_eq!(client.get("greeting")?.inserted_val.as_deref(), Some("hello"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn get(&self, key: &str) -> Result<GetResponse> {
        let url = self.url("/get");
        decode(&url, self.read(&url).query("key", key).call())
    }

    /// `DELETE /rm`: removes `key`; `found` is false when it was missing.
    ///
    /// ```
    /// # let server = kv_server::ServerBuilder::new().start()?;
    /// # let client = kv_client::KvClient::new(&server.url().parse()?);
    /// client.set("greeting", "hello")?;
    /// let removed = client.rm("greeting")?;
    /// assert!(removed.found && removed.removed);
    /// assert_eq!(removed.ejected_val.as_deref(), Some("hello"));
    /// assert!(!client.rm("greeting")?.found);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// See [`ClientError`].
    pub fn rm(&self, key: &str) -> Result<RmResponse> {
        let url = self.url("/rm");
        let body = RmRequest {
            key: key.to_owned(),
        };
        decode(
            &url,
            self.agent.delete(&url).force_send_body().send_json(&body),
        )
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// A transport error as [`ClientError::Unreachable`], saying what to change
/// when the cause is a common mistake rather than the transport's words.
pub(crate) fn unreachable(url: &str, error: &ureq::Error) -> ClientError {
    let text = error.to_string();
    let detail = if text.contains("InvalidContentType") || text.contains("corrupt message") {
        "the server does not speak TLS there: use an http:// address in --host".to_owned()
    } else if url.starts_with("http://") && matches!(error, ureq::Error::Protocol(_)) {
        format!("{text} (if the server serves TLS, use an https:// address in --host)")
    } else {
        text
    };
    ClientError::Unreachable {
        url: url.to_owned(),
        detail,
    }
}

/// Turns a transport result into the typed answer or a [`ClientError`].
pub(crate) fn decode<T: DeserializeOwned>(
    url: &str,
    result: std::result::Result<Response<Body>, ureq::Error>,
) -> Result<T> {
    let mut response = result.map_err(|e| unreachable(url, &e))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| ClientError::Protocol {
            url: url.to_owned(),
            detail: format!("cannot read the body: {e}"),
        })?;
    if !response.status().is_success() {
        return Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(ErrorBody {
                error:
                    ErrorDetail {
                        message,
                        oldest_rev: Some(oldest_rev),
                        ..
                    },
            }) if status == 410 => ClientError::Gone {
                oldest_rev,
                message,
            },
            Ok(ErrorBody {
                error:
                    ErrorDetail {
                        message,
                        mod_rev,
                        rev,
                        ..
                    },
            }) if status == 412 => ClientError::ConditionFailed {
                mod_rev,
                rev,
                message,
            },
            Ok(body) => ClientError::Server {
                status,
                code: body.error.code,
                message: body.error.message,
            },
            Err(_) => ClientError::Server {
                status,
                code: "unknown".into(),
                message: text,
            },
        });
    }
    serde_json::from_str(&text).map_err(|e| ClientError::Protocol {
        url: url.to_owned(),
        detail: format!("{e} in {text:?}"),
    })
}
