//! What both engines send and how they judge the answers: which key and
//! operation request `n` of a run is ([`Plan`]), the request targets and
//! bodies, and what an answer means ([`Answer`], [`Fault`]).

use std::fmt;
use std::io::Write;

use kv_core::api::{key_path, ErrorBody};

use super::{value_into, Api, Op, Workload, KEY_PREFIX};

/// An odd 64-bit constant (the golden ratio): the starting point of the
/// stride that scatters the key order.
const SCATTER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Which key and which operation request `n` of a run is: the same for
/// every connection, so connections share one request counter.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) api: Api,
    pub(crate) workload: Workload,
    pub(crate) writes: u8,
    pub(crate) keys: u64,
    pub(crate) value_size: usize,
    /// Coprime with `keys`: request `n` touches key `n * stride % keys`, so
    /// every key is visited once per `keys` requests, in a scattered order.
    stride: u64,
    /// The target of a key without the key's number: `/get?key=bench:`
    /// (basic) or `/v1/kv/bench%3A` (v1; the number needs no encoding).
    key_target: String,
}

impl Plan {
    /// The plan of a run on `keys` keys.
    pub(crate) fn new(
        api: Api,
        workload: Workload,
        writes: u8,
        keys: u64,
        value_size: usize,
    ) -> Self {
        let key_target = match api {
            // The key is ASCII letters, digits and `:`, all fine in a query.
            Api::Basic => format!("/get?key={KEY_PREFIX}"),
            Api::V1 => key_path(KEY_PREFIX),
        };
        Plan {
            api,
            workload,
            writes,
            keys,
            value_size,
            stride: stride_for(keys),
            key_target,
        }
    }

    /// The key request `n` touches.
    pub(crate) fn key(&self, n: u64) -> u64 {
        ((u128::from(n % self.keys) * u128::from(self.stride)) % u128::from(self.keys)) as u64
    }

    /// What request `n` does: for `mixed`, a set for `writes` percent of
    /// the requests, spread evenly (by a hash of `n`), a get otherwise.
    pub(crate) fn op(&self, n: u64) -> Op {
        match self.workload {
            Workload::Get => Op::Get,
            Workload::Set => Op::Set,
            Workload::Mixed if splitmix64(n) % 100 < u64::from(self.writes) => Op::Set,
            Workload::Mixed => Op::Get,
        }
    }

    /// The path and query of `key`'s route: `/get?key=bench:00000042` or
    /// `/v1/kv/bench%3A00000042` (the `/v1` route also takes sets).
    pub(crate) fn key_target(&self, key: u64) -> KeyTarget<'_> {
        KeyTarget(&self.key_target, key)
    }

    /// The method and target of a set on `key`.
    pub(crate) fn set_route(&self, key: u64) -> (&'static str, SetTarget<'_>) {
        match self.api {
            Api::Basic => ("POST", SetTarget::Basic),
            Api::V1 => ("PUT", SetTarget::Key(self.key_target(key))),
        }
    }

    /// Replaces `out` with the body of a set on `key`: JSON
    /// `{"key","val"}` (basic) or the value's bytes (v1).
    pub(crate) fn set_body(&self, out: &mut Vec<u8>, key: u64) {
        out.clear();
        match self.api {
            Api::Basic => {
                out.extend_from_slice(b"{\"key\":\"");
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{}", KeyName(key));
                out.extend_from_slice(b"\",\"val\":\"");
                value_into(out, key, self.value_size);
                out.extend_from_slice(b"\"}");
            }
            Api::V1 => value_into(out, key, self.value_size),
        }
    }

    /// What the answer `status` with `body` to `op` means; `sent` is the
    /// size of the request body.
    pub(crate) fn judge(
        &self,
        op: Op,
        status: u16,
        sent: usize,
        body: &[u8],
    ) -> Result<Answer, Fault> {
        let bytes = (sent + body.len()) as u64;
        match status {
            200..=299 => Ok(Answer {
                // The original route answers a missing key with 200 and
                // `{"found":false,...}` (`found` is its first field).
                found: !(op == Op::Get
                    && self.api == Api::Basic
                    && body.starts_with(b"{\"found\":false")),
                bytes,
            }),
            404 if op == Op::Get && self.api == Api::V1 => Ok(Answer {
                found: false,
                bytes,
            }),
            _ => Err(Fault::status(status, body)),
        }
    }
}

/// Displays as `/get?key=bench:00000042` or `/v1/kv/bench%3A00000042`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyTarget<'a>(&'a str, u64);

impl fmt::Display for KeyTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:08}", self.0, self.1)
    }
}

/// Where a set goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SetTarget<'a> {
    /// `/set`.
    Basic,
    /// The key's own route.
    Key(KeyTarget<'a>),
}

impl fmt::Display for SetTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetTarget::Basic => f.write_str("/set"),
            SetTarget::Key(target) => target.fmt(f),
        }
    }
}

/// Displays as the key's name, without allocating.
struct KeyName(u64);

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_PREFIX}{:08}", self.0)
    }
}

/// A stride coprime with `keys`, near the golden ratio of the key space.
fn stride_for(keys: u64) -> u64 {
    let mut stride = (SCATTER % keys).max(1);
    while gcd(stride, keys) != 1 {
        stride += 1;
    }
    stride
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A well-mixed hash of `n` (SplitMix64's finalizer).
fn splitmix64(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What a request that got a success status found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    /// Whether a get found its key (always true for a set).
    pub(crate) found: bool,
    /// Bytes of request and response bodies.
    pub(crate) bytes: u64,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    /// What kind of failure, to count by: `503 storage_failed`, `timeout`,
    /// `io: connection reset`, ...
    pub(crate) kind: String,
    /// The whole story, for the first failure's diagnostic.
    pub(crate) detail: String,
}

impl Fault {
    /// An error status; the kind carries the JSON error code when the body
    /// has one.
    fn status(status: u16, body: &[u8]) -> Self {
        let (kind, detail) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(body) => (
                format!("{status} {}", body.error.code),
                format!("{status} {}: {}", body.error.code, body.error.message),
            ),
            Err(_) => (
                format!("{status}"),
                format!("{status}: {}", String::from_utf8_lossy(body)),
            ),
        };
        Fault { kind, detail }
    }

    /// A failure to read or write, counted as `io: {kind}`.
    pub(crate) fn io(error: &std::io::Error, doing: &str) -> Self {
        Fault {
            kind: format!("io: {}", error.kind()),
            detail: format!("{doing}: {error}"),
        }
    }

    /// A failure of kind `kind` (`timeout`, `protocol`, ...).
    pub(crate) fn new(kind: &str, detail: impl Into<String>) -> Self {
        Fault {
            kind: kind.to_owned(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::key_name;

    fn plan(api: Api, workload: Workload, writes: u8, keys: u64) -> Plan {
        Plan::new(api, workload, writes, keys, 10)
    }

    #[test]
    fn every_key_is_visited_once_per_round() {
        for keys in [1, 2, 7, 64, 1000, 1024, 10_000] {
            let plan = plan(Api::Basic, Workload::Get, 0, keys);
            let mut seen = vec![false; keys as usize];
            for n in keys..2 * keys {
                let key = plan.key(n) as usize;
                assert!(!seen[key], "key {key} twice with {keys} keys");
                seen[key] = true;
            }
        }
    }

    #[test]
    fn mixed_writes_the_requested_share() {
        for writes in [0, 10, 50, 100] {
            let plan = plan(Api::Basic, Workload::Mixed, writes, 100);
            let sets = (0..100_000).filter(|&n| plan.op(n) == Op::Set).count();
            let expected = usize::from(writes) * 1000;
            assert!(sets.abs_diff(expected) <= 1000, "{writes}%: {sets}");
        }
    }

    #[test]
    fn targets_are_the_routes_of_the_key() {
        let basic = plan(Api::Basic, Workload::Get, 0, 3);
        let v1 = plan(Api::V1, Workload::Get, 0, 3);
        for key in [0, 1, 42, 12_345_678, 123_456_789] {
            let name = key_name(key);
            assert_eq!(
                basic.key_target(key).to_string(),
                format!("/get?key={name}")
            );
            assert_eq!(v1.key_target(key).to_string(), key_path(&name));
            assert_eq!(KeyName(key).to_string(), name);
        }
        assert_eq!(basic.set_route(7).0, "POST");
        assert_eq!(basic.set_route(7).1.to_string(), "/set");
        assert_eq!(v1.set_route(7).0, "PUT");
        assert_eq!(v1.set_route(7).1.to_string(), "/v1/kv/bench%3A00000007");
    }

    #[test]
    fn set_bodies_carry_the_documented_value() {
        let mut body = b"stale".to_vec();
        plan(Api::Basic, Workload::Set, 0, 10).set_body(&mut body, 3);
        assert_eq!(body, br#"{"key":"bench:00000003","val":"00000003-a"}"#);
        plan(Api::V1, Workload::Set, 0, 10).set_body(&mut body, 3);
        assert_eq!(body, crate::bench::value_for(3, 10));
    }

    #[test]
    fn answers_are_judged_by_status_and_body() {
        let basic = plan(Api::Basic, Workload::Mixed, 50, 10);
        let found = basic.judge(Op::Get, 200, 0, br#"{"found":true}"#);
        assert_eq!(
            found,
            Ok(Answer {
                found: true,
                bytes: 14
            })
        );
        let missing = basic.judge(Op::Get, 200, 0, br#"{"found":false}"#);
        assert!(!missing.expect("an answer").found);
        let refused = basic.judge(
            Op::Set,
            401,
            40,
            br#"{"error":{"code":"unauthorized","message":"no token"}}"#,
        );
        let fault = refused.expect_err("a failure");
        assert_eq!(fault.kind, "401 unauthorized");
        assert_eq!(fault.detail, "401 unauthorized: no token");
        assert_eq!(
            basic
                .judge(Op::Get, 502, 0, b"bad gateway")
                .expect_err("x")
                .kind,
            "502"
        );
        let v1 = plan(Api::V1, Workload::Get, 0, 10);
        assert!(!v1.judge(Op::Get, 404, 0, b"{}").expect("an answer").found);
        assert!(v1.judge(Op::Set, 404, 0, b"{}").is_err());
    }
}
