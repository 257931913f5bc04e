//! HTTP/1.1 as the event-driven engine speaks it: requests written from
//! parts built once ([`Requests`]), answers read with just enough parsing
//! to be correct ([`read_reply`]): the status line and headers (by
//! `httparse`), a `Content-Length`, chunked or until-close body,
//! `Connection: close`, and interim `1xx` answers skipped.

use std::io::{self, Write};

use httparse::Status;
use tokio::io::{AsyncRead, AsyncReadExt};
use ureq::http::HeaderValue;

use super::plan::{Fault, Plan};
use super::Op;

/// An answer's status line and headers may take this many bytes.
const MAX_HEAD: usize = 64 * 1024;
/// And this many headers.
const MAX_HEADERS: usize = 64;
/// Reads go into at least this much free room.
const READ_ROOM: usize = 4096;

/// Writes the requests of a run: the header lines every request carries
/// (`Host`, `Authorization`) are built once.
#[derive(Debug)]
pub(crate) struct Requests {
    /// `Host: ...\r\n`, then `Authorization: Bearer ...\r\n` with a token.
    common: Vec<u8>,
}

impl Requests {
    /// Requests to the server at `authority` (`host:port`), with `token`
    /// when there is one.
    ///
    /// # Errors
    ///
    /// The token has characters a header cannot carry.
    pub(crate) fn new(authority: &str, token: Option<&str>) -> Result<Self, String> {
        let mut common = format!("Host: {authority}\r\n").into_bytes();
        if let Some(token) = token {
            let value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| "the token has characters a header cannot carry".to_owned())?;
            common.extend_from_slice(b"Authorization: ");
            common.extend_from_slice(value.as_bytes());
            common.extend_from_slice(b"\r\n");
        }
        Ok(Requests { common })
    }

    /// Replaces `out` with the whole request of `op` on `key` (`body` is
    /// room for a set's body). Returns the size of the request body.
    pub(crate) fn write(
        &self,
        out: &mut Vec<u8>,
        plan: &Plan,
        op: Op,
        key: u64,
        body: &mut Vec<u8>,
    ) -> usize {
        out.clear();
        // Writing to a Vec cannot fail.
        match op {
            Op::Get => {
                let _ = write!(out, "GET {} HTTP/1.1\r\n", plan.key_target(key));
                out.extend_from_slice(&self.common);
                out.extend_from_slice(b"\r\n");
                0
            }
            Op::Set => {
                plan.set_body(body, key);
                let (method, target) = plan.set_route(key);
                let _ = write!(out, "{method} {target} HTTP/1.1\r\n");
                out.extend_from_slice(&self.common);
                if method == "POST" {
                    out.extend_from_slice(b"Content-Type: application/json\r\n");
                }
                let _ = write!(out, "Content-Length: {}\r\n\r\n", body.len());
                out.extend_from_slice(body);
                body.len()
            }
        }
    }
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (`1xx`, `204`, `304`).
    Empty,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body is everything until the server closes.
    UntilClose,
}

/// An answer's status line and headers, as far as they matter here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    status: u16,
    /// Bytes of the status line and headers, with the blank line.
    len: usize,
    framing: Framing,
    /// Whether the connection cannot carry another request.
    close: bool,
}

/// Parses the head at the start of `buf`: `None` until it is whole.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(Status::Complete(len)) => len,
        Ok(Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(format!("the answer's head is over {MAX_HEAD} bytes"))
        }
        Ok(Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not an HTTP/1.1 answer: {e}")),
    };
    let status = response.code.unwrap_or_default();
    let mut length = None;
    let mut chunked = false;
    let mut close = response.version == Some(0);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or_default();
        if header.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("invalid Content-Length {value:?}"))?;
            if length.is_some_and(|before| before != n) {
                return Err("two different Content-Length headers".into());
            }
            length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = value.rsplit(',').next().unwrap_or_default().trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(format!("unsupported Transfer-Encoding {value:?}"));
            }
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                if option.eq_ignore_ascii_case("close") {
                    close = true;
                } else if option.eq_ignore_ascii_case("keep-alive") {
                    close = false;
                }
            }
        }
    }
    let framing = match (status, chunked, length) {
        (100..=199 | 204 | 304, _, _) => Framing::Empty,
        (_, true, _) => Framing::Chunked,
        (_, false, Some(n)) => Framing::Length(n),
        (_, false, None) => Framing::UntilClose,
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        close: close || framing == Framing::UntilClose,
    }))
}

/// Decodes the chunked body at the start of `buf` into `out`. Returns the
/// bytes it takes, with the last chunk and trailers; `None` until it is
/// whole.
fn decode_chunked(buf: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, String> {
    out.clear();
    let mut at = 0;
    loop {
        let (line, size) = match httparse::parse_chunk_size(&buf[at..]) {
            Ok(Status::Complete(found)) => found,
            Ok(Status::Partial) => return Ok(None),
            Err(_) => return Err("invalid chunk size line".into()),
        };
        at += line;
        if size == 0 {
            // Trailer lines, if any, then a blank line.
            let rest = &buf[at..];
            if rest.starts_with(b"\r\n") {
                return Ok(Some(at + 2));
            }
            return Ok(rest
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|end| at + end + 4));
        }
        let end = usize::try_from(size)
            .ok()
            .and_then(|size| at.checked_add(size)?.checked_add(2))
            .ok_or("a chunk larger than memory")?;
        if buf.len() < end {
            return Ok(None);
        }
        if &buf[end - 2..end] != b"\r\n" {
            return Err("a chunk does not end with CRLF".into());
        }
        out.extend_from_slice(&buf[at..end - 2]);
        at = end;
    }
}

/// What an answer said, besides its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// The connection cannot carry another request.
    pub(crate) close: bool,
}

/// Reads one answer from `stream` (`buf` is room to read into) and puts
/// its body in `body`.
///
/// # Errors
///
/// The stream fails or ends before the answer does (`io: ...`), or the
/// answer is not valid HTTP/1.1 or has more bytes than it announces
/// (`protocol`); either way the connection is unusable.
pub(crate) async fn read_reply<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut Vec<u8>,
    body: &mut Vec<u8>,
) -> Result<Reply, Fault> {
    let protocol = |detail: String| Fault::new("protocol", detail);
    buf.clear();
    body.clear();
    let head = loop {
        match parse_head(buf).map_err(protocol)? {
            // An interim answer (`100 Continue`, `103 Early Hints`): the
            // real one follows.
            Some(head) if head.status < 200 && head.status != 101 => {
                buf.drain(..head.len);
            }
            Some(head) => break head,
            None => {
                if !fill(stream, buf).await? {
                    return Err(closed_early());
                }
            }
        }
    };
    let used = match head.framing {
        Framing::Empty => head.len,
        Framing::Length(n) => {
            let end = head
                .len
                .checked_add(n)
                .ok_or_else(|| protocol(format!("Content-Length {n} is too large")))?;
            while buf.len() < end {
                if !fill(stream, buf).await? {
                    return Err(closed_early());
                }
            }
            body.extend_from_slice(&buf[head.len..end]);
            end
        }
        Framing::Chunked => loop {
            if let Some(n) = decode_chunked(&buf[head.len..], body).map_err(protocol)? {
                break head.len + n;
            }
            if !fill(stream, buf).await? {
                return Err(closed_early());
            }
        },
        Framing::UntilClose => {
            while fill(stream, buf).await? {}
            body.extend_from_slice(&buf[head.len..]);
            buf.len()
        }
    };
    if buf.len() > used {
        // Requests are sent one at a time: nothing may follow the answer.
        return Err(protocol(format!(
            "{} bytes after the end of the answer",
            buf.len() - used
        )));
    }
    Ok(Reply {
        status: head.status,
        close: head.close,
    })
}

/// Reads more of the answer into `buf`; false at the end of the stream.
async fn fill<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut Vec<u8>) -> Result<bool, Fault> {
    buf.reserve(READ_ROOM);
    let n = stream
        .read_buf(buf)
        .await
        .map_err(|e| Fault::io(&e, "reading the answer"))?;
    Ok(n > 0)
}

fn closed_early() -> Fault {
    let eof = io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the server closed the connection before the answer ended",
    );
    Fault::io(&eof, "reading the answer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Api, Workload};

    /// Reads an answer from `chunks` (each a separate read).
    fn read(chunks: &[&[u8]]) -> (Result<Reply, Fault>, Vec<u8>) {
        let mut stream = pieces(chunks);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let (mut buf, mut body) = (Vec::new(), Vec::new());
        let reply = runtime.block_on(read_reply(&mut stream, &mut buf, &mut body));
        (reply, body)
    }

    /// A stream that yields `chunks` one read at a time, then ends.
    fn pieces(chunks: &[&[u8]]) -> impl AsyncRead + Unpin {
        let chunks: Vec<std::io::Cursor<Vec<u8>>> = chunks
            .iter()
            .map(|c| std::io::Cursor::new(c.to_vec()))
            .collect();
        chunks.into_iter().fold(
            Box::new(tokio::io::empty()) as Box<dyn AsyncRead + Unpin>,
            |all, c| Box::new(all.chain(c)),
        )
    }

    #[test]
    fn requests_carry_host_token_and_body() {
        let requests = Requests::new("127.0.0.1:9", Some("s3cret")).expect("a valid token");
        let basic = Plan::new(Api::Basic, Workload::Mixed, 50, 100, 4);
        let (mut out, mut body) = (Vec::new(), Vec::new());
        assert_eq!(requests.write(&mut out, &basic, Op::Get, 42, &mut body), 0);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "GET /get?key=bench:00000042 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\
             Authorization: Bearer s3cret\r\n\r\n"
        );
        let sent = requests.write(&mut out, &basic, Op::Set, 42, &mut body);
        let json = r#"{"key":"bench:00000042","val":"0000"}"#;
        assert_eq!(sent, json.len());
        assert_eq!(
            String::from_utf8_lossy(&out),
            format!(
                "POST /set HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAuthorization: Bearer s3cret\r\n\
                 Content-Type: application/json\r\nContent-Length: {sent}\r\n\r\n{json}"
            )
        );
        let v1 = Plan::new(Api::V1, Workload::Set, 0, 100, 4);
        let anonymous = Requests::new("[::1]:80", None).expect("no token");
        anonymous.write(&mut out, &v1, Op::Set, 7, &mut body);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "PUT /v1/kv/bench%3A00000007 HTTP/1.1\r\nHost: [::1]:80\r\n\
             Content-Length: 4\r\n\r\n0000"
        );
        assert!(Requests::new("h:1", Some("bad\r\ntoken")).is_err());
    }

    #[test]
    fn answers_with_a_length_may_arrive_in_pieces() {
        let (reply, body) = read(&[
            b"HTTP/1.1 201 Created\r\ncontent-le",
            b"ngth: 11\r\ncontent-type: application/json\r\n\r\n{\"ok\"",
            b":true}",
        ]);
        assert_eq!(
            reply,
            Ok(Reply {
                status: 201,
                close: false
            })
        );
        assert_eq!(body, b"{\"ok\":true}");
        let (reply, body) = read(&[b"HTTP/1.1 204 No Content\r\n\r\n"]);
        assert_eq!(reply.expect("an answer").status, 204);
        assert!(body.is_empty());
    }

    #[test]
    fn chunked_answers_are_decoded() {
        let (reply, body) = read(&[
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab",
            b"cd\r\n3;ext=1\r\nefg\r\n0\r\n",
            b"Trailer: x\r\n\r\n",
        ]);
        assert_eq!(reply.expect("an answer").status, 200);
        assert_eq!(body, b"abcdefg");
        let (reply, _) = read(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"]);
        assert_eq!(reply.expect_err("unsupported").kind, "protocol");
        let (reply, _) = read(&[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd"]);
        assert_eq!(reply.expect_err("a bad chunk").kind, "protocol");
    }

    #[test]
    fn close_interim_answers_and_bodies_until_close() {
        let (reply, body) = read(&[
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n",
            b"Content-Length: 2\r\n\r\nhi",
        ]);
        assert_eq!(
            reply,
            Ok(Reply {
                status: 200,
                close: true
            })
        );
        assert_eq!(body, b"hi");
        let (reply, body) = read(&[b"HTTP/1.0 200 OK\r\n\r\nuntil", b" the end"]);
        assert!(reply.expect("an answer").close);
        assert_eq!(body, b"until the end");
        let (reply, _) =
            read(&[b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"]);
        assert!(!reply.expect("an answer").close);
    }

    #[test]
    fn broken_answers_are_faults() {
        let (reply, _) = read(&[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"]);
        let fault = reply.expect_err("cut short");
        assert_eq!(fault.kind, "io: unexpected end of file");
        let (reply, _) = read(&[]);
        assert_eq!(
            reply.expect_err("no answer").kind,
            "io: unexpected end of file"
        );
        for broken in [
            &b"SMTP ready\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
        ] {
            let (reply, _) = read(&[broken]);
            assert_eq!(reply.expect_err("broken").kind, "protocol", "{broken:?}");
        }
        let huge = vec![b'x'; MAX_HEAD + 10];
        let (reply, _) = read(&[b"HTTP/1.1 200 OK\r\nX: ", &huge]);
        assert_eq!(reply.expect_err("too long").kind, "protocol");
    }
}
